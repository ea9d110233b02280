//! What runs on a node, planned as text: the ssh command line, and the small
//! POSIX-sh scripts that probe the node, receive an archive, check it and
//! import it. Every value is quoted; the remote shell re-parses everything.

use crate::config::hosts::{HostConfig, ImportKind, Store, K3S_IMAGES_DIR, KEEP_PINNED};
use crate::core::arch::Arch;
use crate::process::command::{quote, Cmd};
use crate::process::error::ProcessError;
use crate::process::interrupt::Stop;
use std::path::PathBuf;

/// A node to ship to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShipTarget {
    /// Its name in the config.
    pub name: String,
    /// Its settings.
    pub host: HostConfig,
    /// An ssh config file to use (`-F`), from the config's `ssh_config`.
    pub ssh_config: Option<PathBuf>,
    /// The socket of a master connection sessions share (see `ship::Master`).
    pub control: Option<PathBuf>,
}

/// How the archive is compressed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Compression {
    /// As it is: for archives whose layers are compressed already, or links
    /// faster than the compressor.
    None,
    /// gzip at a level: everywhere.
    Gzip(u8),
    /// zstd at a level: fast on both ends, when both ends have it.
    Zstd(u8),
}

impl Compression {
    /// The local compressor, reading stdin, writing stdout (`None`: no process).
    pub(crate) fn compress(self) -> Option<Cmd> {
        match self {
            Compression::None => None,
            Compression::Gzip(l) => {
                Some(Cmd::new("gzip").args(["-c".to_string(), format!("-{l}")]))
            }
            Compression::Zstd(l) => Some(Cmd::new("zstd").args([
                "-c".to_string(),
                "-q".into(),
                format!("-{l}"),
                "-T0".into(),
            ])),
        }
    }

    /// The remote decompressor's words.
    pub(crate) fn decompress(self) -> &'static str {
        match self {
            Compression::None => "cat",
            Compression::Gzip(_) => "gzip -dc",
            Compression::Zstd(_) => "zstd -dcq",
        }
    }

    /// The file suffix.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip(_) => "tar.gz",
            Compression::Zstd(_) => "tar.zst",
        }
    }

    /// For messages.
    pub(crate) fn describe(self) -> String {
        match self {
            Compression::None => "uncompressed".into(),
            Compression::Gzip(l) => format!("gzip -{l}"),
            Compression::Zstd(l) => format!("zstd -{l}"),
        }
    }
}

pub(crate) use crate::engine::store::ArchiveFormat;

/// Whether ssh refused the node because its host key is unknown (or changed).
pub(crate) fn host_key_refused(e: &ProcessError) -> bool {
    e.stderr_tail.contains("Host key verification failed")
}

/// The value of `key` in `ssh -G`'s output (`hostname`, `port`, …).
fn ssh_g_value<'a>(resolved: &'a str, key: &str) -> Option<&'a str> {
    resolved
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::trim))
}

/// The one sentence for a node whose host key ssh does not know: the exact
/// `ssh-keyscan` that adds it (port and file included), or the config key.
/// `resolved` is `ssh -G`'s output (`hostname`, `port`, `userknownhostsfile`).
pub(crate) fn host_key_fix(name: &str, resolved: &str, home: Option<&std::path::Path>) -> String {
    let get = |key: &str| ssh_g_value(resolved, key);
    let host = get("hostname").unwrap_or(name);
    let port = get("port").unwrap_or("22");
    let file = get("userknownhostsfile")
        .and_then(|f| f.split_whitespace().next())
        .unwrap_or("~/.ssh/known_hosts");
    let file = match home.and_then(|h| file.strip_prefix(&*h.to_string_lossy())) {
        Some(rest) if rest.starts_with('/') => format!("~{rest}"),
        _ => file.to_string(),
    };
    let file = if file.starts_with("~/") {
        file
    } else {
        quote(&file)
    };
    format!(
        "ssh does not know the host key of {host} port {port} (a first contact, or the key changed), so it refuses to connect: check the key's fingerprint with the node's owner, then run `ssh-keyscan -p {port} {} >> {file}` — or set `known_hosts:` for {name} in the config to a file that holds it",
        quote(host)
    )
}

/// Whether the probe failed in ssh itself (it exits 255, or never
/// answered), not in the script it ran.
pub(crate) fn ssh_failed(e: &ProcessError) -> bool {
    use crate::process::error::Failure;
    matches!(e.failure, Failure::Timeout(_) | Failure::Spawn(_)) || e.code() == Some(255)
}

/// The short reason for a node ssh could not reach: which destination
/// (user, host, port as ssh resolved them from `resolved`, `ssh -G`'s
/// output), what failed in ssh's own words, and the fix for that cause;
/// `by_hand` is the command that shows it all. The full command line is
/// for `-v` (the caller adds it).
pub(crate) fn unreachable_reason(
    name: &str,
    e: &ProcessError,
    resolved: &str,
    by_hand: &str,
) -> String {
    use crate::process::error::Failure;
    let get = |key: &str| ssh_g_value(resolved, key);
    let host = get("hostname").unwrap_or(name);
    let port = get("port").unwrap_or("22");
    let dest = match get("user") {
        Some(u) => format!("{u}@{host} port {port}"),
        None => format!("{host} port {port}"),
    };
    let said = match &e.failure {
        Failure::Timeout(limit) => format!("no answer within {}s", limit.as_secs()),
        Failure::Spawn(why) => format!("ssh could not start: {why}"),
        _ => e
            .stderr_tail
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("ssh exited with status 255 and said nothing")
            .to_string(),
    };
    let fix = if said.contains("Connection refused") {
        format!("start sshd on {host}, or set `port:` for {name} to the port it listens on")
    } else if said.contains("Permission denied") {
        format!(
            "let your key in (`ssh-copy-id -p {port} {}`), or set `user:`/`identity:` for {name}",
            quote(&format!("{}@{host}", get("user").unwrap_or("USER")))
        )
    } else if said.contains("Could not resolve hostname") {
        format!("check the name, or set `host:` for {name} to its address")
    } else if said.contains("timed out")
        || said.contains("No route")
        || said.starts_with("no answer")
    {
        format!("check that {host} is up and port {port} is open to you (a slow link: raise `connect_timeout:` for {name})")
    } else if said.starts_with("ssh could not start") {
        "install OpenSSH's client (`apt-get install openssh-client`)".to_string()
    } else {
        format!("run `{by_hand}` to see what ssh says")
    };
    format!("cannot reach {name} over ssh ({dest}): {said} — fix: {fix}")
}

/// What the import script says on stderr once the archive's checksum
/// matched and the import starts (the progress line's next phase).
pub(crate) const VERIFIED: &str = "goapp: verified; importing";

/// The variable a plan's import commands take the stream's digest from.
pub(crate) const SHA_VAR: &str = "sha";

/// The namespace Kubernetes' images live in.
pub(crate) const K8S_NAMESPACE: &str = "k8s.io";

/// The label containerd's CRI plugin reads: the kubelet never collects the image.
pub(crate) const PIN_CRI: &str = "io.cri-containerd.pinned=pinned";

/// Our mark on what we pinned, with the time (Unix seconds): only images
/// that carry it are ever unpinned, the oldest first.
pub(crate) const PIN_MARK: &str = "dev.goapp.pinned";

/// `ctr images ls` → `TIME DIGEST REF` for the names under the prefixes
/// `p` (space-separated `REPO:`) that carry
/// [`PIN_MARK`] (labels are the last column, comma-separated).
const AWK_MARKED: &str = r#"NR > 1 { m = 0; np = split(p, ps, " "); for (j = 1; j <= np; j++) if (index($1, ps[j]) == 1) m = 1; if (!m) next; n = split($NF, l, ","); for (i = 1; i <= n; i++) if (index(l[i], "dev.goapp.pinned=") == 1) print substr(l[i], 18), $3, $1 }"#;

/// Sorted newest first: the names of every image beyond the first `keep`
/// (by digest).
const AWK_BEYOND: &str = r#"{ if (!($2 in seen)) { seen[$2] = 1; k++ } if (k > keep) print $3 }"#;

/// Where a docker node remembers manifest digest → config digest pairs
/// ([`ShipTarget::remember_id`]).
const DOCKER_IDS: &str = "\"${XDG_CACHE_HOME:-$HOME/.cache}/goapp-build/docker-ids\"";

/// The label k3s sets next to it on images it imports itself.
pub(crate) const PIN_K3S: &str = "io.cattle.k3s.pinned=pinned";

/// An image's two names on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageNames {
    /// The architecture's image as the archive names it: `localhost/joke:1-arm64`.
    pub reference: String,
    /// The name every architecture shares: `localhost/joke:1`.
    pub name: String,
    /// The repository both are in: `localhost/joke`.
    pub repository: String,
}

/// What one import delivers: the image, its format and architecture, and
/// what names the `k3s-dir` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The image's names.
    pub image: ImageNames,
    /// Its repository (`joke`), for the `k3s-dir` file name.
    pub repository: String,
    /// Its id (`sha256:…`), for the `k3s-dir` file name.
    pub id: String,
    /// The archive format.
    pub format: ArchiveFormat,
    /// The node's architecture.
    pub arch: Arch,
    /// This run's unique part of temporary names.
    pub nonce: String,
}

/// The `k3s-dir` archive of an image: `goapp+<repo>+<arch>+<id12>.tar`. A
/// new name per image content, because k3s re-imports a file whose name it
/// has seen only when its size changes, and a new build can keep the size.
pub(crate) fn k3s_file(repository: &str, arch: Arch, id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!(
        "{}{}.tar",
        k3s_file_prefix(repository, arch),
        &hex[..hex.len().min(12)]
    )
}

/// What every `k3s-dir` archive of `repository` for `arch` starts with.
fn k3s_file_prefix(repository: &str, arch: Arch) -> String {
    let repo: String = repository
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("goapp+{repo}+{arch}+")
}

fn parent_dir(dir: &str) -> &str {
    match dir.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((parent, _)) => parent,
    }
}

impl ShipTarget {
    /// `ssh … DEST 'sh -c …'`: batch mode (never a password prompt), bounded
    /// connection time, keep-alives that notice a dead link.
    pub(crate) fn ssh(&self, script: &str) -> Cmd {
        self.session().arg(format!("sh -c {}", quote(script)))
    }

    /// `ssh … DEST`, the remote command still to add.
    fn session(&self) -> Cmd {
        let mut c = self.ssh_base();
        if let Some(sock) = &self.control {
            // Reuse the master's connection; without one (it died), ssh connects anew.
            c = c
                .args(["-o", "ControlMaster=no", "-o"])
                .arg(control_path(sock));
        }
        c.arg("--").arg(self.destination())
    }

    /// `ssh -M -N`: a master connection that later sessions share, so each
    /// node pays for one key exchange per run instead of one per step.
    pub(crate) fn master(&self, socket: &std::path::Path) -> Cmd {
        self.ssh_base()
            .args(["-M", "-N", "-o", "ControlPersist=no", "-o"])
            .arg(control_path(socket))
            .arg("--")
            .arg(self.destination())
            .on_interrupt(Stop::Master)
    }

    /// `ssh -O exit`: asks the master on `socket` to close its connection
    /// (the node's session ends with it).
    pub(crate) fn close_master(&self, socket: &std::path::Path) -> Cmd {
        self.ssh_base()
            .args(["-O", "exit", "-o"])
            .arg(control_path(socket))
            .arg("--")
            .arg(self.destination())
    }

    fn destination(&self) -> String {
        self.host
            .ssh
            .clone()
            .or_else(|| self.host.host.clone())
            .unwrap_or_default()
    }

    fn ssh_base(&self) -> Cmd {
        let h = &self.host;
        let mut c = Cmd::new("ssh");
        if let Some(f) = &self.ssh_config {
            c = c.arg("-F").arg(f.display().to_string());
        }
        let timeout = h.connect_timeout.unwrap_or(10);
        c = c.args([
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("ConnectTimeout={timeout}"),
        ]);
        c = c.args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
        if let Some(p) = h.port {
            c = c.args(["-p", &p.to_string()]);
        }
        if let Some(i) = &h.identity {
            c = c.args(["-i", i, "-o", "IdentitiesOnly=yes"]);
        }
        if let Some(u) = &h.user {
            c = c.args(["-l", u]);
        }
        if let Some(k) = &h.known_hosts {
            c = c.arg("-o").arg(format!("UserKnownHostsFile={k}"));
        }
        c
    }

    /// `ssh [-F …] [-p …] [-i …] [-l …] DEST true`: what a person runs to
    /// see for themselves why the node cannot be reached (no batch mode, so
    /// ssh may ask), with every setting the tool uses.
    pub(crate) fn by_hand(&self) -> Cmd {
        let h = &self.host;
        let mut c = Cmd::new("ssh");
        if let Some(f) = &self.ssh_config {
            c = c.arg("-F").arg(f.display().to_string());
        }
        if let Some(p) = h.port {
            c = c.args(["-p", &p.to_string()]);
        }
        if let Some(i) = &h.identity {
            c = c.args(["-i", i]);
        }
        if let Some(u) = &h.user {
            c = c.args(["-l", u]);
        }
        if let Some(k) = &h.known_hosts {
            c = c.arg("-o").arg(format!("UserKnownHostsFile={k}"));
        }
        c.arg(self.dest()).arg("true")
    }

    /// `ssh … -G DEST`: the settings ssh resolves for the node (host name,
    /// port, known_hosts files) from its config and ours.
    pub(crate) fn resolve(&self) -> Cmd {
        self.ssh_base().arg("-G").arg(self.dest())
    }

    fn dest(&self) -> String {
        self.host
            .ssh
            .clone()
            .or_else(|| self.host.host.clone())
            .unwrap_or_default()
    }

    /// The remote directory for temporary archives.
    pub(crate) fn tmp_dir(&self) -> &str {
        self.host.tmp_dir.as_deref().unwrap_or("/var/tmp")
    }

    fn sudo(&self) -> &'static str {
        if self.host.sudo {
            "sudo -n "
        } else {
            ""
        }
    }

    /// The store the node's images end up in, when known.
    pub(crate) fn store(&self) -> Option<Store> {
        self.host.import.store()
    }

    /// `ctr` for a containerd store, in Kubernetes' namespace.
    fn ctr(&self, store: Store) -> String {
        match store {
            Store::K3s => format!("{}k3s ctr -n {K8S_NAMESPACE}", self.sudo()),
            _ => format!("{}ctr -n {K8S_NAMESPACE}", self.sudo()),
        }
    }

    /// The labels that keep the kubelet's image garbage collection away
    /// from an image: containerd's CRI plugin honours the first; k3s sets
    /// both on what it imports itself (k3s #8781).
    pub(crate) fn pin_labels(&self) -> &'static [&'static str] {
        match self.store() {
            Some(Store::K3s) => &[PIN_CRI, PIN_K3S],
            Some(Store::Containerd) => &[PIN_CRI],
            _ => &[],
        }
    }

    /// k3s's agent images directory (`import: k3s-dir`).
    pub(crate) fn images_dir(&self) -> &str {
        self.host
            .images_dir
            .as_deref()
            .unwrap_or(K3S_IMAGES_DIR)
            .trim_end_matches('/')
    }

    /// What must be on the node for it to import: a program, or for
    /// `k3s-dir` the k3s agent's directory.
    pub(crate) fn importer(&self) -> String {
        match &self.host.import {
            ImportKind::K3s => "k3s".into(),
            ImportKind::K3sDir => parent_dir(self.images_dir()).to_string(),
            ImportKind::Containerd => "ctr".into(),
            ImportKind::Docker => "docker".into(),
            ImportKind::Podman => "podman".into(),
            ImportKind::Command(c) => c.argv[0].clone(),
        }
    }

    /// Why a node without [`ShipTarget::importer`] cannot take images, and the fix.
    pub(crate) fn missing_importer(&self) -> String {
        let name = &self.name;
        match &self.host.import {
            ImportKind::K3sDir => format!("{} does not exist on {name}: is k3s installed there? (its agent makes it) — or set `images_dir:` to <k3s data-dir>/agent/images", self.importer()),
            _ => format!("`{}` is not installed on {name}: install it there or change `import:` for this host", self.importer()),
        }
    }

    fn importer_test(&self) -> String {
        match &self.host.import {
            ImportKind::K3sDir => format!("[ -d {} ]", quote(&self.importer())),
            _ => format!("command -v {} >/dev/null 2>&1", quote(&self.importer())),
        }
    }

    /// The import command, reading an uncompressed archive of `image` on
    /// stdin. The platform is stated: containerd otherwise drops a
    /// foreign-arch image. A custom command learns what it reads from its
    /// environment. (`k3s-dir` writes a file instead: see
    /// [`ShipTarget::import_script`].)
    pub(crate) fn import_words(
        &self,
        image: &ImageNames,
        format: ArchiveFormat,
        arch: Arch,
    ) -> String {
        let platform = quote(&arch.platform());
        match &self.host.import {
            ImportKind::K3s | ImportKind::K3sDir => format!(
                "{} images import --platform {platform} -",
                self.ctr(Store::K3s)
            ),
            ImportKind::Containerd => format!(
                "{} images import --platform {platform} -",
                self.ctr(Store::Containerd)
            ),
            ImportKind::Docker => format!("{}docker load", self.sudo()),
            ImportKind::Podman => format!("{}podman load", self.sudo()),
            ImportKind::Command(c) => {
                let vars = [
                    ("GOAPP_REF", image.reference.as_str()),
                    ("GOAPP_NAME", image.name.as_str()),
                    ("GOAPP_ARCH", arch.name()),
                    ("GOAPP_PLATFORM", &arch.platform()),
                    ("GOAPP_FORMAT", format.name()),
                ]
                .map(|(k, v)| format!("{k}={}", quote(v)))
                .join(" ");
                let argv: Vec<String> = c.argv.iter().map(|a| quote(a)).collect();
                format!("{}env {vars} {}", self.sudo(), argv.join(" "))
            }
        }
    }

    /// Gives the image `src` the names `dsts` too and pins all of them, in
    /// the node's store; `None` when the store is unknown (a custom
    /// importer without `store:`). `repos` are the names' repositories
    /// (whose older pins `keep_pinned` lifts).
    pub(crate) fn name_words(&self, src: &str, dsts: &[&str], repos: &[&str]) -> Option<String> {
        let store = self.store()?;
        let names = || dsts.iter().map(|d| quote(d)).collect::<Vec<_>>().join(" ");
        Some(match store {
            Store::K3s | Store::Containerd => {
                let ctr = self.ctr(store);
                let pins = self.pin_labels().join(" ");
                let mut steps = vec![format!(
                    "{ctr} images tag --force {} {} >/dev/null",
                    quote(src),
                    names()
                )];
                // Our mark, with the time: what `unpin_older` goes by.
                for n in std::iter::once(&src).chain(dsts) {
                    steps.push(format!(
                        "{ctr} images label {} {pins} {PIN_MARK}=\"$now\" >/dev/null",
                        quote(n)
                    ));
                }
                steps.push(self.unpin_older(store, repos));
                format!("now=$(date +%s) && {}", steps.join(" && "))
            }
            Store::Podman => format!("{}podman tag {} {}", self.sudo(), quote(src), names()),
            Store::Docker => dsts
                .iter()
                .map(|d| format!("{}docker tag {} {}", self.sudo(), quote(src), quote(d)))
                .collect::<Vec<_>>()
                .join(" && "),
        })
    }

    /// Unpins the images of the names' repositories that this tool pinned
    /// (they carry [`PIN_MARK`]) beyond the newest `keep_pinned`, counted
    /// by content (an image's two names are one); the rest is left to the
    /// kubelet's garbage collection. Images pinned by anyone else are not
    /// touched.
    fn unpin_older(&self, store: Store, repos: &[&str]) -> String {
        let ctr = self.ctr(store);
        let mut repos: Vec<String> = repos.iter().map(|r| format!("{r}:")).collect();
        repos.dedup();
        let repo = repos.join(" ");
        let keep = self.host.keep_pinned.unwrap_or(KEEP_PINNED);
        let clear: String = self
            .pin_labels()
            .iter()
            .chain([&PIN_MARK])
            .map(|l| format!(" {}=", l.split('=').next().unwrap_or(l)))
            .collect();
        format!(
            "{{ {ctr} images ls 2>/dev/null | awk -v p={} '{AWK_MARKED}' | sort -k1,1nr | awk -v keep={keep} '{AWK_BEYOND}' | while read -r ref; do {ctr} images label \"$ref\"{clear} >/dev/null || exit 1; done; }}",
            quote(&repo)
        )
    }

    /// Fails the script, naming the node and the image, unless the store
    /// holds `reference` after an import: an importer that "succeeds" and
    /// loads nothing (an archive of another platform, a partial index) is
    /// an error, never a success. Empty without a known store.
    fn loaded_check(&self, reference: &str, shown: &str) -> String {
        let Some(store) = self.store() else {
            return String::new();
        };
        let held = match store {
            Store::K3s | Store::Containerd => format!(
                "{} images ls -q \"name==$r\" 2>/dev/null | grep -q .",
                self.ctr(store)
            ),
            Store::Docker | Store::Podman => format!(
                "{}{} image inspect \"$r\" >/dev/null 2>&1",
                self.sudo(),
                store.name()
            ),
        };
        format!(
            " && {{ r={}; {held} || {{ printf '%s\\n' \"goapp: the import loaded nothing on $(uname -n): {} is not in its store (an archive of another platform, or an index without the blobs it names)\" >&2; exit 66; }}; }}",
            quote(reference),
            shown.replace(['"', '\\', '$', '`', '\''], "")
        )
    }

    /// docker's containerd image store calls an image by its manifest's
    /// digest, and keeps the config digest (what the tool compares) only
    /// for images loaded from an OCI layout that says it. After an import
    /// or pull, the pair is remembered on the node (a pure mapping:
    /// content-addressed, never stale), for [`ShipTarget::probe_script`].
    /// Empty for other stores.
    fn remember_id(&self, reference: &str, id: &str) -> String {
        if self.store() != Some(Store::Docker) {
            return String::new();
        }
        format!(
            " && {{ m=$({}docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null) && if [ \"$m\" != {id} ]; then mkdir -p \"${{XDG_CACHE_HOME:-$HOME/.cache}}/goapp-build\" && printf '%s %s\\n' \"$m\" {id} >> {DOCKER_IDS} && tail -n 500 {DOCKER_IDS} > {DOCKER_IDS}.$$ && mv -f {DOCKER_IDS}.$$ {DOCKER_IDS}; fi || true; }}",
            self.sudo(),
            quote(reference),
            id = quote(id),
        )
    }

    /// Pulls `remote` (`HOST/REPO:TAG-<arch>`) with the node's own runtime,
    /// then gives it the image's names and pins it; `None` without a store.
    pub(crate) fn pull_words(
        &self,
        remote: &ImageNames,
        image: &ImageNames,
        arch: Arch,
        insecure: bool,
        id: &str,
    ) -> Option<String> {
        let store = self.store()?;
        let pull = match store {
            Store::K3s | Store::Containerd => format!(
                "{} images pull{} --platform {} {} >/dev/null",
                self.ctr(store),
                if insecure { " --plain-http" } else { "" },
                quote(&arch.platform()),
                quote(&remote.reference)
            ),
            // A docker daemon reaches plain-HTTP registries by its own
            // insecure-registries setting.
            Store::Docker => format!(
                "{}docker pull -q {} >/dev/null",
                self.sudo(),
                quote(&remote.reference)
            ),
            Store::Podman => format!(
                "{}podman pull -q{} {} >/dev/null",
                self.sudo(),
                if insecure { " --tls-verify=false" } else { "" },
                quote(&remote.reference)
            ),
        };
        let named = self.name_words(
            &remote.reference,
            &[&image.reference, &image.name],
            &[&remote.repository, &image.repository],
        )?;
        let remember = self.remember_id(&image.reference, id);
        Some(format!("{pull} && {named}{remember}"))
    }

    /// Reports the node's machine, zstd, the importer, and for each of
    /// `refs` the image id it holds (containerd: the manifest, whose config
    /// digest is the id) with its labels. Read-only.
    pub(crate) fn probe_script(&self, refs: &[String]) -> String {
        // printf, never echo: dash's echo interprets backslashes.
        let mut s = String::from("printf 'arch=%s\\n' \"$(uname -m)\"; ");
        s += "if command -v zstd >/dev/null 2>&1; then printf 'zstd=yes\\n'; fi; ";
        // Emulators registered with the kernel: a configured arch the
        // machine cannot run natively still runs under one.
        s += "for f in /proc/sys/fs/binfmt_misc/qemu-*; do if grep -qx enabled \"$f\" 2>/dev/null; then printf 'emulates=%s\\n' \"${f##*/qemu-}\"; fi; done; ";
        s += &format!(
            "if {}; then printf 'importer=yes\\n'; fi; ",
            self.importer_test()
        );
        let list = refs.iter().map(|r| quote(r)).collect::<Vec<_>>().join(" ");
        let Some(store) = self.store().filter(|_| !refs.is_empty()) else {
            return s + "true";
        };
        match store {
            Store::K3s | Store::Containerd => {
                let ctr = self.ctr(store);
                let present = if store == Store::K3s {
                    "command -v k3s >/dev/null 2>&1 && "
                } else {
                    ""
                };
                s += &format!(
                    "if {present}true; then for ref in {list}; do set -- $({ctr} images ls \"name==$ref\" 2>/dev/null | awk 'NR==2 {{print $3, $NF}}'); \
                     if [ -n \"$1\" ]; then printf 'image %s %s %s\\n' \"$ref\" \"$({ctr} content get \"$1\" 2>/dev/null | tr -d '\\n ')\" \"$2\"; fi; done; \
                     {ctr} content ls -q 2>/dev/null | sed 's/^/blob /'; fi; true"
                );
            }
            Store::Docker | Store::Podman => {
                // docker's containerd store: the manifest's digest, mapped
                // to the config digest as the import remembered it.
                let config = if store == Store::Docker {
                    format!("c=$(awk -v m=\"$id\" '$1==m {{c=$2}} END {{print c}}' {DOCKER_IDS} 2>/dev/null); [ -z \"$c\" ] || id=$c; ")
                } else {
                    String::new()
                };
                s += &format!(
                    "for ref in {list}; do if id=$({}{} image inspect --format '{{{{.Id}}}}' \"$ref\" 2>/dev/null); then {config}printf 'image %s %s\\n' \"$ref\" \"$id\"; fi; done; true",
                    self.sudo(),
                    store.name()
                );
            }
        }
        s
    }

    /// Receives the compressed archive into `tmp`, private to the user,
    /// and keeps it only when it ends with `marker` (which the sender writes
    /// after the last byte, and which is then cut off): an upload whose
    /// sender died (Ctrl-C, a hard kill, a dropped link) removes its own
    /// partial file as soon as its input ends. Also sweeps `goapp-*.part`
    /// older than an hour.
    pub(crate) fn upload_script(&self, tmp: &str, marker: &str) -> String {
        // `cat` runs in the background with its pid in `$f.pid`, so that a
        // clean-up can stop it (an interrupt, over a connection of its own);
        // the shell gives a background job /dev/null unless told otherwise.
        format!(
            "umask 077; find {dir} -maxdepth 1 -name 'goapp-*.part*' -mmin +60 -exec rm -f {{}} + 2>/dev/null; \
             f={tmp}; m={marker}; exec 3<&0; cat <&3 > \"$f\" & w=$!; echo $w > \"$f.pid\"; wait $w; s=$?; rm -f \"$f.pid\"; \
             [ $s = 0 ] || {{ rm -f \"$f\"; exit 1; }}; n=$(wc -c < \"$f\" 2>/dev/null || echo 0); \
             if [ -e \"$f\" ] && [ \"$n\" -ge ${{#m}} ] && [ \"$(tail -c ${{#m}} \"$f\")\" = \"$m\" ]; then dd if=/dev/null of=\"$f\" bs=1 seek=$((n - ${{#m}})) 2>/dev/null; \
             else rm -f \"$f\"; printf '%s\\n' \"goapp: the archive did not arrive whole on $(uname -n): nothing was kept\" >&2; exit 1; fi",
            dir = quote(self.tmp_dir()),
            tmp = quote(tmp),
            marker = quote(marker),
        )
    }

    /// `ssh … sh -c SCRIPT` on a connection of its own (not the master's):
    /// on an interrupt, not queued behind upload bytes the master still
    /// has to send over a slow link.
    pub(crate) fn ssh_direct(&self, script: &str) -> Cmd {
        self.ssh_base()
            .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
            .arg("--")
            .arg(self.destination())
            .arg(format!("sh -c {}", quote(script)))
    }

    /// Checks the archive against the sha256 given as `$1`, then
    /// decompresses it into the importer and names and pins the image; the
    /// archive is removed whatever happens. The file is hashed from stdin:
    /// no name is parsed (`sha256sum -c` reads backslashes as escapes). For `k3s-dir` the archive is
    /// written under a temporary name into the images directory and renamed
    /// into place, so k3s never reads half a file; an older archive of the
    /// same repository and architecture is removed.
    pub(crate) fn import_script(
        &self,
        tmp: &str,
        compression: Compression,
        d: &Delivery,
    ) -> String {
        let check = format!(
            "f={tmp}; trap 'rm -f \"$f\"' EXIT; trap 'exit 129' HUP INT TERM; \
             if [ \"$(sha256sum < \"$f\" | cut -c1-64)\" != \"$1\" ]; then printf '%s\\n' \"goapp: checksum mismatch on $(uname -n): the archive was damaged in transit; nothing was imported\" >&2; exit 65; fi; printf '%s\\n' \"goapp: verified; importing\" >&2; ",
            tmp = quote(tmp)
        );
        let decomp = compression.decompress();
        if self.host.import == ImportKind::K3sDir {
            return check + &self.k3s_dir_words(decomp, d);
        }
        let import = self.import_words(&d.image, d.format, d.arch);
        // podman names what it loads from the archive's own tags, which
        // other engines write their way (docker 20.10: `goapp-it/x:1`,
        // podman then `localhost/goapp-it/x:1`): it is found, and named,
        // by its id, which every engine agrees on.
        let podman = self.store() == Some(Store::Podman);
        let src = if podman { &d.id } else { &d.image.reference };
        let loaded = self.loaded_check(src, &d.image.reference);
        let dsts: Vec<&str> = if podman {
            vec![&d.image.reference, &d.image.name]
        } else {
            vec![&d.image.name]
        };
        let named = self
            .name_words(src, &dsts, &[&d.image.repository])
            .map(|w| format!(" && {w}"))
            .unwrap_or_default();
        let remember = self.remember_id(&d.image.reference, &d.id);
        format!("{check}{decomp} < \"$f\" | {import}{loaded}{named}{remember}")
    }

    /// `k3s-dir`: into `DIR/.goapp-….part`, then renamed to the archive's name.
    fn k3s_dir_words(&self, decomp: &str, d: &Delivery) -> String {
        let dir = self.images_dir();
        let file = k3s_file(&d.repository, d.arch, &d.id);
        let part = format!(".goapp-{}.part", d.nonce);
        let old = k3s_file_prefix(&d.repository, d.arch);
        let write = format!(
            "mkdir -p \"$1\" && cat > \"$1/$2\" && mv -f \"$1/$2\" \"$1/$3\" && for o in \"$1\"/{old}*.tar; do [ \"$o\" = \"$1/$3\" ] || rm -f \"$o\"; done"
        );
        format!(
            "trap 'rm -f \"$f\"; {sudo}rm -f {dir}/{part}' EXIT; {decomp} < \"$f\" | {sudo}sh -c {write} goapp {dir} {part} {file}",
            sudo = self.sudo(),
            dir = quote(dir),
            write = quote(&write),
        )
    }

    /// The import over ssh. The stream's sha256 is its last argument, the
    /// variable `sha`: bound once the stream has been sent, shown as
    /// `"$sha"` in a printed plan.
    pub(crate) fn import(&self, tmp: &str, compression: Compression, d: &Delivery) -> Cmd {
        let script = self.import_script(tmp, compression, d);
        self.session()
            .arg(format!("sh -c {} goapp", quote(&script)))
            .var_arg(SHA_VAR)
    }

    /// Removes a partial upload after a failed or interrupted transfer;
    /// prints `removed` when there was one.
    pub(crate) fn cleanup_script(tmp: &str) -> String {
        let f = quote(tmp);
        let pid = quote(&format!("{tmp}.pid"));
        // Said before the writer is stopped: stopped, it removes the file itself.
        format!("if [ -e {f} ]; then printf 'removed\\n'; fi; if [ -e {pid} ]; then kill \"$(cat {pid})\" 2>/dev/null; fi; rm -f {f} {pid}")
    }
}

impl ShipTarget {
    /// The archive format for this node, given the local engine.
    pub(crate) fn format(&self, local: &crate::engine::Engine) -> ArchiveFormat {
        local.archive_format(matches!(self.store(), Some(Store::K3s | Store::Containerd)))
    }

    /// The compression for this node: the host's `compression:` setting, or
    /// by default none for OCI archives (their layers are gzip already: a
    /// second pass costs CPU on both ends and saves nothing), zstd -3 when
    /// both ends have zstd (cheap to decompress, even on a Raspberry Pi),
    /// else gzip -6 (gzip -1 for ARM nodes, whose CPU is the bottleneck).
    pub(crate) fn compression(
        &self,
        format: ArchiveFormat,
        node_zstd: bool,
        local_zstd: bool,
        arch: Arch,
    ) -> Compression {
        match self.host.compression.as_deref() {
            Some("none") => Compression::None,
            Some(c) if c.starts_with("gzip") => Compression::Gzip(level(c, 6)),
            Some(c) if c.starts_with("zstd") && node_zstd && local_zstd => {
                Compression::Zstd(level(c, 3))
            }
            Some(c) if c.starts_with("zstd") => Compression::Gzip(6),
            _ if format == ArchiveFormat::Oci => Compression::None,
            _ if node_zstd && local_zstd => Compression::Zstd(3),
            _ if matches!(arch, Arch::Arm | Arch::Arm64) => Compression::Gzip(1),
            _ => Compression::Gzip(6),
        }
    }
}

/// `ControlPath=…` for `-o`: double-quoted (a directory may hold spaces),
/// `%` doubled (ssh expands `%` tokens), `\\` and `"` escaped. The directory
/// is chosen free of `$` ([`crate::process::rundir::socket_dir`]): ssh
/// expands `${VAR}` and has no escape for it.
pub(crate) fn control_path(socket: &std::path::Path) -> String {
    let p = socket.to_string_lossy();
    let escaped = p
        .replace('%', "%%")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("ControlPath=\"{escaped}\"")
}

fn level(setting: &str, default: u8) -> u8 {
    setting
        .rsplit('-')
        .next()
        .and_then(|l| l.parse().ok())
        .filter(|l| (1..=19).contains(l))
        .unwrap_or(default)
}

impl ShipTarget {
    /// Runs the probe for `refs` over ssh, bounded by the connection timeout.
    pub(crate) fn probe(&self, refs: &[String]) -> Result<Probe, ProcessError> {
        let limit =
            std::time::Duration::from_secs(u64::from(self.host.connect_timeout.unwrap_or(10)) + 20);
        let out = self
            .ssh(&self.probe_script(refs))
            .run_timeout(Some(limit))?;
        Ok(parse_probe(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// What a probe found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    /// `uname -m`.
    pub machine: String,
    /// zstd is installed.
    pub zstd: bool,
    /// The import tool is installed.
    pub importer: bool,
    /// Content digests the node's containerd holds (containerd and k3s nodes).
    pub blobs: std::collections::BTreeSet<String>,
    /// The images asked about that exist.
    pub images: Vec<Held>,
    /// Emulators registered in binfmt_misc and enabled (`aarch64`, `arm`, …).
    pub emulates: std::collections::BTreeSet<String>,
}

/// An image a node holds under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The name.
    pub reference: String,
    /// Its id, `sha256:…`.
    pub id: String,
    /// Its labels (`key=value`; containerd only).
    pub labels: std::collections::BTreeSet<String>,
}

impl Probe {
    /// What the node holds under `reference`.
    pub(crate) fn held(&self, reference: &str) -> Option<&Held> {
        self.images.iter().find(|h| h.reference == reference)
    }
}

/// Parses a probe's output.
pub(crate) fn parse_probe(out: &str) -> Probe {
    let mut p = Probe::default();
    for line in out.lines() {
        if let Some(m) = line.strip_prefix("arch=") {
            p.machine = m.trim().to_string();
        } else if let Some(m) = line.strip_prefix("emulates=") {
            p.emulates.insert(m.trim().to_string());
        } else if line == "zstd=yes" {
            p.zstd = true;
        } else if line == "importer=yes" {
            p.importer = true;
        } else if let Some(d) = line.strip_prefix("blob ") {
            p.blobs.insert(d.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("image ") {
            let mut words = rest.split_whitespace();
            let (Some(r), Some(v)) = (words.next(), words.next()) else {
                continue;
            };
            let labels = words
                .next()
                .filter(|l| *l != "-")
                .map(|l| l.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            if let Some(id) = image_id_of(v) {
                p.images.push(Held {
                    reference: r.to_string(),
                    id,
                    labels,
                });
            }
        }
    }
    p
}

/// An image id from what a node printed: a podman id (hex), a docker id
/// (`sha256:hex`), or a manifest whose config digest is the id.
pub(crate) fn image_id_of(v: &str) -> Option<String> {
    let hex = |s: &str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
    if hex(v) {
        return Some(format!("sha256:{v}"));
    }
    if v.starts_with("sha256:") && hex(&v[7..]) {
        return Some(v.to_string());
    }
    let cfg = v.find("\"config\":")?;
    let rest = &v[cfg..];
    let d = rest.find("\"digest\":\"")? + 10;
    let digest: String = rest[d..].chars().take_while(|&c| c != '"').collect();
    (digest.starts_with("sha256:") && hex(&digest[7..])).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_node_is_one_short_sentence_with_the_fix() {
        use crate::process::error::Failure;
        let long = format!("sh -c '{}'", "x".repeat(900));
        let mut e = ProcessError::new(
            format!("ssh -p 1 -- 127.0.0.1 {long}"),
            Failure::Io("exit status: 255".into()),
        );
        e.stderr_tail = "ssh: connect to host 127.0.0.1 port 1: Connection refused\n".into();
        let resolved = "user ops\nhostname 127.0.0.1\nport 1\n";
        let r = unreachable_reason("dead", &e, resolved, "ssh -p 1 dead true");
        assert_eq!(r, "cannot reach dead over ssh (ops@127.0.0.1 port 1): ssh: connect to host 127.0.0.1 port 1: Connection refused — fix: start sshd on 127.0.0.1, or set `port:` for dead to the port it listens on");
        e.stderr_tail = "ops@pi.lan: Permission denied (publickey).".into();
        let r = unreachable_reason(
            "pi",
            &e,
            "user ops\nhostname pi.lan\nport 22\n",
            "ssh pi true",
        );
        assert!(r.ends_with("fix: let your key in (`ssh-copy-id -p 22 ops@pi.lan`), or set `user:`/`identity:` for pi"), "{r}");
        let t = ProcessError::new("ssh x", Failure::Timeout(std::time::Duration::from_secs(5)));
        let r = unreachable_reason("pi", &t, "", "ssh pi true");
        assert_eq!(r, "cannot reach pi over ssh (pi port 22): no answer within 5s — fix: check that pi is up and port 22 is open to you (a slow link: raise `connect_timeout:` for pi)");
        e.stderr_tail = "kex_exchange_identification: read: Connection reset by peer".into();
        let r = unreachable_reason("pi", &e, "", "ssh pi true");
        assert!(
            r.ends_with("fix: run `ssh pi true` to see what ssh says"),
            "{r}"
        );
        assert!(r.len() < 200, "{r}");
    }

    #[test]
    fn an_unknown_host_key_gets_the_exact_keyscan() {
        let resolved = "user root\nhostname 127.0.0.1\nport 2222\nuserknownhostsfile /home/u/.ssh/known_hosts /home/u/.ssh/known_hosts2\n";
        let fix = host_key_fix("pi", resolved, Some(std::path::Path::new("/home/u")));
        assert!(
            fix.contains("run `ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts`"),
            "{fix}"
        );
        assert!(
            fix.contains("set `known_hosts:` for pi in the config"),
            "{fix}"
        );
        let fix = host_key_fix(
            "pi",
            "hostname pi.lan\nport 22\nuserknownhostsfile /etc/kh\n",
            None,
        );
        assert!(
            fix.contains("`ssh-keyscan -p 22 pi.lan >> /etc/kh`"),
            "{fix}"
        );
    }

    /// The upload script, run by a real shell: the archive is kept (its
    /// marker cut off) only when it arrives whole; otherwise it removes
    /// itself; a clean-up stops a writer still at work.
    #[test]
    fn an_upload_keeps_only_a_whole_archive() {
        let d = tempfile::tempdir().unwrap();
        let t = target(&format!("{{host: n, tmp_dir: {}}}", d.path().display()));
        let f = d.path().join("goapp-1-x-0.tar.part");
        let script = t.upload_script(&f.display().to_string(), "goapp-end-of-archive-1-x");
        let run = |input: &[u8]| {
            use std::io::Write;
            let mut c = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input).unwrap();
            c.wait().unwrap().success()
        };
        assert!(run(b"archive bytes goapp-end-of-archive-1-x"));
        assert_eq!(std::fs::read(&f).unwrap(), b"archive bytes ");
        assert!(!run(b"archive by"), "cut short");
        assert!(!f.exists(), "a partial archive removes itself");
        assert!(!d.path().join("goapp-1-x-0.tar.part.pid").exists());
        // A writer still receiving is stopped by the clean-up, and its file goes.
        let mut c = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, b"some").unwrap();
        let pid = d.path().join("goapp-1-x-0.tar.part.pid");
        while !pid.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &ShipTarget::cleanup_script(&f.display().to_string())])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"removed\n");
        assert!(!c.wait().unwrap().success());
        assert!(!f.exists() && !pid.exists());
    }

    fn target(yaml: &str) -> ShipTarget {
        ShipTarget {
            name: "pi".into(),
            host: serde_yaml_ng::from_str(yaml).unwrap(),
            ssh_config: None,
            control: None,
        }
    }

    #[test]
    fn ssh_command_is_batch_bounded_and_quoted() {
        let t =
            target("{host: 127.0.0.1, user: pi, port: 2222, identity: /k/id, connect_timeout: 3}");
        assert!(t
            .ssh("x")
            .to_string()
            .starts_with("ssh -o BatchMode=yes -o ConnectTimeout=3 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -p 2222 -i /k/id -o IdentitiesOnly=yes -l pi -- 127.0.0.1 "));
        // What the remote shell sees, re-parsed, is the script itself.
        let remote = t.ssh("echo 'hi there'").get_args().last().unwrap().clone();
        let words = shlex::split(&remote).unwrap();
        assert_eq!(words, ["sh", "-c", "echo 'hi there'"]);
    }

    fn names() -> ImageNames {
        ImageNames {
            reference: "localhost/joke:1-arm64".into(),
            name: "localhost/joke:1".into(),
            repository: "localhost/joke".into(),
        }
    }

    fn delivery(arch: Arch) -> Delivery {
        Delivery {
            image: names(),
            repository: "joke".into(),
            id: format!("sha256:3742d1c3cc61{}", "0".repeat(52)),
            format: ArchiveFormat::Oci,
            arch,
            nonce: "42-beef".into(),
        }
    }

    #[test]
    fn import_commands_per_kind() {
        let words =
            |yaml: &str, arch| target(yaml).import_words(&names(), ArchiveFormat::Oci, arch);
        assert_eq!(
            words("{ssh: pi}", Arch::Arm64),
            "k3s ctr -n k8s.io images import --platform linux/arm64 -"
        );
        assert_eq!(
            words("{ssh: pi, import: containerd, sudo: true}", Arch::Arm),
            "sudo -n ctr -n k8s.io images import --platform linux/arm/v7 -"
        );
        assert_eq!(
            words("{ssh: pi, import: docker}", Arch::Amd64),
            "docker load"
        );
        assert_eq!(
            words("{ssh: pi, import: podman, sudo: true}", Arch::Amd64),
            "sudo -n podman load"
        );
        // A custom command learns what it reads from its environment.
        assert_eq!(
            words("{ssh: pi, import: {command: [my-load, --from, 'a b']}}", Arch::Arm64),
            "env GOAPP_REF=localhost/joke:1-arm64 GOAPP_NAME=localhost/joke:1 GOAPP_ARCH=arm64 GOAPP_PLATFORM=linux/arm64 GOAPP_FORMAT=oci-archive my-load --from 'a b'"
        );
        assert_eq!(
            words("{ssh: pi, sudo: true, import: {command: [my-load], store: containerd}}", Arch::Arm64),
            "sudo -n env GOAPP_REF=localhost/joke:1-arm64 GOAPP_NAME=localhost/joke:1 GOAPP_ARCH=arm64 GOAPP_PLATFORM=linux/arm64 GOAPP_FORMAT=oci-archive my-load"
        );
    }

    /// The unpin step as the node runs it, for the golden tests above it.
    fn unpin(ctr: &str, prefixes: &str, keep: u32, clear: &str) -> String {
        format!("{{ {ctr} images ls 2>/dev/null | awk -v p={} '{AWK_MARKED}' | sort -k1,1nr | awk -v keep={keep} '{AWK_BEYOND}' | while read -r ref; do {ctr} images label \"$ref\"{clear} >/dev/null || exit 1; done; }}", quote(prefixes))
    }

    /// The awk programs on `ctr images ls` output: what is ours, newest
    /// first, the names beyond `keep` images.
    #[test]
    fn unpinning_picks_our_older_images_beyond_keep() {
        let ls = "REF TYPE DIGEST SIZE PLATFORMS LABELS\n\
localhost/joke:1 application/vnd.oci.image.manifest.v1+json sha256:a1 1.7 MiB linux/arm64 dev.goapp.pinned=100,io.cri-containerd.pinned=pinned\n\
localhost/joke:1-arm64 application/vnd.oci.image.manifest.v1+json sha256:a1 1.7 MiB linux/arm64 dev.goapp.pinned=100,io.cri-containerd.pinned=pinned\n\
localhost/joke:2-arm64 application/vnd.oci.image.manifest.v1+json sha256:a2 1.7 MiB linux/arm64 dev.goapp.pinned=200,io.cri-containerd.pinned=pinned\n\
localhost/joke:3-arm64 application/vnd.oci.image.manifest.v1+json sha256:a3 1.7 MiB linux/arm64 io.cri-containerd.pinned=pinned,dev.goapp.pinned=300\n\
localhost/joke:mine application/vnd.oci.image.manifest.v1+json sha256:a0 1.7 MiB linux/arm64 io.cri-containerd.pinned=pinned\n\
localhost/jokes:9 application/vnd.oci.image.manifest.v1+json sha256:b9 1.7 MiB linux/arm64 dev.goapp.pinned=50\n\
localhost/other:1 application/vnd.oci.image.manifest.v1+json sha256:c1 1.7 MiB linux/arm64 dev.goapp.pinned=10\n";
        let script = format!("awk -v p='localhost/joke:' '{AWK_MARKED}' | sort -k1,1nr | awk -v keep=2 '{AWK_BEYOND}'");
        let out = Cmd::new("sh")
            .args(["-c", &format!("printf '%s' \"$1\" | {script}"), "sh", ls])
            .run()
            .unwrap();
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        // joke:1 (both names: one image) is the oldest of three of ours;
        // the user's own pin, other apps and `jokes` are not ours to touch.
        assert_eq!(names, ["localhost/joke:1", "localhost/joke:1-arm64"]);
    }

    #[test]
    fn names_and_pins_per_store() {
        let words = |yaml: &str| {
            target(yaml).name_words(
                "localhost/joke:1-arm64",
                &["localhost/joke:1"],
                &["localhost/joke"],
            )
        };
        assert_eq!(
            words("{ssh: pi, import: containerd}").unwrap(),
            format!("now=$(date +%s) && ctr -n k8s.io images tag --force localhost/joke:1-arm64 localhost/joke:1 >/dev/null && \
ctr -n k8s.io images label localhost/joke:1-arm64 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
ctr -n k8s.io images label localhost/joke:1 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
{}", unpin("ctr -n k8s.io", "localhost/joke:", 3, " io.cri-containerd.pinned= dev.goapp.pinned="))
        );
        let k3s = words("{ssh: pi, sudo: true}").unwrap();
        assert!(
            k3s.starts_with("now=$(date +%s) && sudo -n k3s ctr -n k8s.io images tag --force "),
            "{k3s}"
        );
        assert!(k3s.contains("images label localhost/joke:1 io.cri-containerd.pinned=pinned io.cattle.k3s.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && "), "{k3s}");
        assert!(
            k3s.ends_with(&unpin(
                "sudo -n k3s ctr -n k8s.io",
                "localhost/joke:",
                3,
                " io.cri-containerd.pinned= io.cattle.k3s.pinned= dev.goapp.pinned="
            )),
            "{k3s}"
        );
        let kept = words("{ssh: pi, import: containerd, keep_pinned: 1}").unwrap();
        assert!(kept.contains("awk -v keep=1 "), "{kept}");
        assert_eq!(
            words("{ssh: pi, import: docker}").unwrap(),
            "docker tag localhost/joke:1-arm64 localhost/joke:1"
        );
        assert_eq!(
            words("{ssh: pi, import: podman}").unwrap(),
            "podman tag localhost/joke:1-arm64 localhost/joke:1"
        );
        assert_eq!(words("{ssh: pi, import: {command: [x]}}"), None);
        assert!(words("{ssh: pi, import: {command: [x], store: k3s}}")
            .unwrap()
            .contains("k3s ctr"));
        assert!(target("{ssh: pi, import: docker}").pin_labels().is_empty());
    }

    #[test]
    fn import_script_checks_before_importing_and_always_cleans_up() {
        let t = target("{ssh: pi, import: containerd}");
        let s = t.import_script(
            "/var/tmp/goapp-x.part",
            Compression::Zstd(3),
            &delivery(Arch::Arm64),
        );
        assert_eq!(
            s,
            "f=/var/tmp/goapp-x.part; trap 'rm -f \"$f\"' EXIT; trap 'exit 129' HUP INT TERM; \
if [ \"$(sha256sum < \"$f\" | cut -c1-64)\" != \"$1\" ]; then printf '%s\\n' \"goapp: checksum mismatch on $(uname -n): the archive was damaged in transit; nothing was imported\" >&2; exit 65; fi; printf '%s\\n' \"goapp: verified; importing\" >&2; \
zstd -dcq < \"$f\" | ctr -n k8s.io images import --platform linux/arm64 - && \
{ r=localhost/joke:1-arm64; ctr -n k8s.io images ls -q \"name==$r\" 2>/dev/null | grep -q . || { printf '%s\\n' \"goapp: the import loaded nothing on $(uname -n): localhost/joke:1-arm64 is not in its store (an archive of another platform, or an index without the blobs it names)\" >&2; exit 66; }; } && now=$(date +%s) && \
ctr -n k8s.io images tag --force localhost/joke:1-arm64 localhost/joke:1 >/dev/null && \
ctr -n k8s.io images label localhost/joke:1-arm64 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
ctr -n k8s.io images label localhost/joke:1 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
".to_string() + &unpin("ctr -n k8s.io", "localhost/joke:", 3, " io.cri-containerd.pinned= dev.goapp.pinned=")
        );
        // Over ssh the digest is the script's $1, bound when it is known.
        let import = t.import(
            "/var/tmp/goapp-x.part",
            Compression::None,
            &delivery(Arch::Arm64),
        );
        assert!(import.to_string().ends_with(" goapp' \"$sha\""), "{import}");
        let args = import.bind(SHA_VAR, "ab12").get_args();
        let at = args.iter().position(|a| a == "--").unwrap() + 2;
        let remote = args[at..].join(" ");
        let words = shlex::split(&remote).unwrap();
        assert_eq!(words[0..2], ["sh", "-c"]);
        assert_eq!(words[3..], ["goapp", "ab12"]);
    }

    #[test]
    fn pulls_per_store_then_names_and_pins() {
        let pull = |yaml: &str, insecure| {
            let remote = ImageNames {
                reference: "reg:5000/joke:1-arm64".into(),
                name: String::new(),
                repository: "reg:5000/joke".into(),
            };
            target(yaml).pull_words(&remote, &names(), Arch::Arm64, insecure, "sha256:1")
        };
        assert_eq!(
            pull("{ssh: pi, import: containerd}", true).unwrap(),
            "ctr -n k8s.io images pull --plain-http --platform linux/arm64 reg:5000/joke:1-arm64 >/dev/null && now=$(date +%s) && \
ctr -n k8s.io images tag --force reg:5000/joke:1-arm64 localhost/joke:1-arm64 localhost/joke:1 >/dev/null && \
ctr -n k8s.io images label reg:5000/joke:1-arm64 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
ctr -n k8s.io images label localhost/joke:1-arm64 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
ctr -n k8s.io images label localhost/joke:1 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && \
".to_string() + &unpin("ctr -n k8s.io", "reg:5000/joke: localhost/joke:", 3, " io.cri-containerd.pinned= dev.goapp.pinned=")
        );
        assert!(pull("{ssh: pi, sudo: true}", false)
            .unwrap()
            .starts_with("sudo -n k3s ctr -n k8s.io images pull --platform linux/arm64 "));
        assert!(pull("{ssh: pi, import: k3s-dir}", false)
            .unwrap()
            .starts_with("k3s ctr -n k8s.io images pull "));
        assert_eq!(
            pull("{ssh: pi, import: podman}", true).unwrap(),
            "podman pull -q --tls-verify=false reg:5000/joke:1-arm64 >/dev/null && podman tag reg:5000/joke:1-arm64 localhost/joke:1-arm64 localhost/joke:1"
        );
        assert!(pull("{ssh: pi, import: docker}", true)
            .unwrap()
            .starts_with("docker pull -q reg:5000/joke:1-arm64 >/dev/null && docker tag "));
        assert_eq!(pull("{ssh: pi, import: {command: [x]}}", true), None);
    }

    /// What ssh's own parser makes of our `ControlPath` (`ssh -G` prints
    /// the resolved setting): spaces, `%`, quotes and backslashes survive.
    #[test]
    fn control_paths_survive_ssh_s_parser() {
        for dir in ["/tmp/a b", "/tmp/100%z", "/tmp/q\"uote", "/tmp/back\\slash"] {
            let sock = std::path::Path::new(dir).join("0.sock");
            let out = Cmd::new("ssh")
                .args(["-G", "-o", &control_path(&sock), "x"])
                .run()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().find(|l| l.starts_with("controlpath "));
            assert_eq!(
                line,
                Some(format!("controlpath {}", sock.display()).as_str())
            );
        }
    }

    /// The import script run by a real `sh` (dash on Debian) on an archive
    /// whose directory holds backslashes (`\t`, `\\`: dash's `echo` turned
    /// them into a false "damaged in transit"): the checksum passes when it
    /// matches, stops when it does not, and the archive goes either way.
    #[test]
    fn the_import_script_takes_any_path() {
        use sha2::{Digest, Sha256};
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("tab\\t and two\\\\");
        std::fs::create_dir(&dir).unwrap();
        let t = target("{ssh: pi, import: {command: [sh, -c, 'cat > /dev/null']}}");
        for (sha_ok, code) in [(true, 0), (false, 65)] {
            let f = dir.join("goapp-x.tar.part");
            std::fs::write(&f, b"archive bytes").unwrap();
            let sha = if sha_ok {
                crate::core::hex(&Sha256::digest(b"archive bytes"))
            } else {
                "0".repeat(64)
            };
            let script = t.import_script(
                &f.to_string_lossy(),
                Compression::None,
                &delivery(Arch::Amd64),
            );
            let out = Cmd::new("sh")
                .args(["-c", &script, "goapp", &sha])
                .output(None)
                .unwrap();
            assert_eq!(out.status.code(), Some(code), "{out:?}");
            assert!(!f.exists(), "the archive stays after exit {code}");
        }
    }

    #[test]
    fn k3s_dir_writes_a_temporary_name_then_renames_it() {
        let t = target("{ssh: pi, import: k3s-dir, sudo: true}");
        assert_eq!(t.importer(), "/var/lib/rancher/k3s/agent");
        let s = t.import_script(
            "/var/tmp/goapp-x.part",
            Compression::None,
            &delivery(Arch::Arm64),
        );
        let tail = s.split("exit 65; fi; ").nth(1).unwrap();
        let tail = tail
            .strip_prefix("printf '%s\\n' \"goapp: verified; importing\" >&2; ")
            .unwrap();
        assert_eq!(
            tail,
            "trap 'rm -f \"$f\"; sudo -n rm -f /var/lib/rancher/k3s/agent/images/.goapp-42-beef.part' EXIT; \
cat < \"$f\" | sudo -n sh -c 'mkdir -p \"$1\" && cat > \"$1/$2\" && mv -f \"$1/$2\" \"$1/$3\" && for o in \"$1\"/goapp+joke+arm64+*.tar; do [ \"$o\" = \"$1/$3\" ] || rm -f \"$o\"; done' \
goapp /var/lib/rancher/k3s/agent/images .goapp-42-beef.part goapp+joke+arm64+3742d1c3cc61.tar"
        );
        // The words survive the remote shell's parsing.
        let words = shlex::split(tail.split(" | ").nth(1).unwrap()).unwrap();
        assert_eq!(words[..3], ["sudo", "-n", "sh"]);
        assert_eq!(words.last().unwrap(), "goapp+joke+arm64+3742d1c3cc61.tar");
        let custom = target("{ssh: pi, import: k3s-dir, images_dir: /opt/k3s/agent/images/}");
        assert_eq!(custom.images_dir(), "/opt/k3s/agent/images");
        assert_eq!(
            k3s_file("reg:5000/team/joke", Arch::Amd64, "sha256:0123456789abcdef"),
            "goapp+reg.5000.team.joke+amd64+0123456789ab.tar"
        );
    }

    #[test]
    fn probe_output_and_ids() {
        let manifest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7","size":832},"layers":[]}"#;
        let out = format!("arch=aarch64\nemulates=x86_64\nzstd=yes\nimporter=yes\nimage localhost/joke:1-arm64 {manifest} io.cri-containerd.pinned=pinned,other=x\nimage x:1 a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7\nimage y:1 garbage\nimage z:1 {manifest} -\nblob sha256:ab\n");
        let p = parse_probe(&out);
        assert_eq!(p.machine, "aarch64");
        assert_eq!(p.emulates.iter().collect::<Vec<_>>(), ["x86_64"]);
        assert!(p.zstd && p.importer);
        assert!(p.blobs.contains("sha256:ab"));
        let id =
            "sha256:a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7".to_string();
        let held: Vec<(&str, &str, usize)> = p
            .images
            .iter()
            .map(|h| (h.reference.as_str(), h.id.as_str(), h.labels.len()))
            .collect();
        assert_eq!(
            held,
            [
                ("localhost/joke:1-arm64", id.as_str(), 2),
                ("x:1", id.as_str(), 0),
                ("z:1", id.as_str(), 0)
            ]
        );
        assert!(p
            .held("localhost/joke:1-arm64")
            .unwrap()
            .labels
            .contains(PIN_CRI));
    }
}
