//! What runs on a node, planned as text: the ssh command line, and the small
//! POSIX-sh scripts that probe the node, receive an archive, check it and
//! import it. Every value is quoted; the remote shell re-parses everything.

use crate::config::hosts::{HostConfig, ImportKind};
use crate::core::arch::Arch;
use crate::process::command::{quote, Cmd};
use crate::process::error::ProcessError;
use std::path::PathBuf;

/// A node to ship to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipTarget {
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
pub enum Compression {
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
    pub fn compress(self) -> Option<Cmd> {
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
    pub fn decompress(self) -> &'static str {
        match self {
            Compression::None => "cat",
            Compression::Gzip(_) => "gzip -dc",
            Compression::Zstd(_) => "zstd -dcq",
        }
    }

    /// The file suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip(_) => "tar.gz",
            Compression::Zstd(_) => "tar.zst",
        }
    }

    /// For messages.
    pub fn describe(self) -> String {
        match self {
            Compression::None => "uncompressed".into(),
            Compression::Gzip(l) => format!("gzip -{l}"),
            Compression::Zstd(l) => format!("zstd -{l}"),
        }
    }
}

/// The archive format a node gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArchiveFormat {
    /// `podman save --format oci-archive`: blobs by digest, so the ones a
    /// containerd node holds can be left out; layers already gzip-compressed.
    Oci,
    /// `docker-archive` (what `docker save` writes): every loader takes it.
    Docker,
}

impl ArchiveFormat {
    /// As the engines call it.
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Oci => "oci-archive",
            ArchiveFormat::Docker => "docker-archive",
        }
    }
}

/// The variable a plan's import commands take the stream's digest from.
pub const SHA_VAR: &str = "sha";

/// The namespace Kubernetes' images live in.
pub const K8S_NAMESPACE: &str = "k8s.io";

impl ShipTarget {
    /// `ssh … DEST 'sh -c …'`: batch mode (never a password prompt), bounded
    /// connection time, keep-alives that notice a dead link.
    pub fn ssh(&self, script: &str) -> Cmd {
        self.session().arg(format!("sh -c {}", quote(script)))
    }

    /// `ssh … DEST`, the remote command still to add.
    fn session(&self) -> Cmd {
        let mut c = self.ssh_base();
        if let Some(sock) = &self.control {
            // Reuse the master's connection; without one (it died), ssh connects anew.
            c = c
                .args(["-o", "ControlMaster=no", "-o"])
                .arg(format!("ControlPath={}", sock.display()));
        }
        let dest = self
            .host
            .ssh
            .clone()
            .or_else(|| self.host.host.clone())
            .unwrap_or_default();
        c.arg("--").arg(dest)
    }

    /// `ssh -M -N`: a master connection that later sessions share, so each
    /// node pays for one key exchange per run instead of one per step.
    pub fn master(&self, socket: &std::path::Path) -> Cmd {
        let dest = self
            .host
            .ssh
            .clone()
            .or_else(|| self.host.host.clone())
            .unwrap_or_default();
        self.ssh_base()
            .args(["-M", "-N", "-o", "ControlPersist=no", "-o"])
            .arg(format!("ControlPath={}", socket.display()))
            .arg("--")
            .arg(dest)
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
        c
    }

    /// The remote directory for temporary archives.
    pub fn tmp_dir(&self) -> &str {
        self.host.tmp_dir.as_deref().unwrap_or("/var/tmp")
    }

    fn sudo(&self) -> &'static str {
        if self.host.sudo {
            "sudo -n "
        } else {
            ""
        }
    }

    fn ctr(&self) -> String {
        match self.host.import {
            ImportKind::K3s => format!("{}k3s ctr -n {K8S_NAMESPACE}", self.sudo()),
            _ => format!("{}ctr -n {K8S_NAMESPACE}", self.sudo()),
        }
    }

    /// The program whose presence says the node can import.
    pub fn importer(&self) -> String {
        match &self.host.import {
            ImportKind::K3s => "k3s".into(),
            ImportKind::Containerd => "ctr".into(),
            ImportKind::Docker => "docker".into(),
            ImportKind::Podman => "podman".into(),
            ImportKind::Command(argv) => argv[0].clone(),
        }
    }

    /// The import command, reading an uncompressed archive on stdin. The
    /// platform is stated: containerd otherwise drops a foreign-arch image.
    pub fn import_words(&self, arch: Arch) -> String {
        match &self.host.import {
            ImportKind::K3s | ImportKind::Containerd => format!(
                "{} images import --platform {} -",
                self.ctr(),
                quote(&arch.platform())
            ),
            ImportKind::Docker => format!("{}docker load", self.sudo()),
            ImportKind::Podman => format!("{}podman load", self.sudo()),
            ImportKind::Command(argv) => format!(
                "{}{}",
                self.sudo(),
                argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
            ),
        }
    }

    /// Reports the node's machine, zstd, the importer, and for each of
    /// `refs` the image id it holds (containerd: the manifest, whose config
    /// digest is the id). Read-only.
    pub fn probe_script(&self, refs: &[String]) -> String {
        let mut s = String::from("echo arch=$(uname -m); ");
        s += "if command -v zstd >/dev/null 2>&1; then echo zstd=yes; fi; ";
        s += &format!(
            "if command -v {} >/dev/null 2>&1; then echo importer=yes; fi; ",
            quote(&self.importer())
        );
        let list = refs.iter().map(|r| quote(r)).collect::<Vec<_>>().join(" ");
        if refs.is_empty() {
            return s + "true";
        }
        match &self.host.import {
            ImportKind::K3s | ImportKind::Containerd => {
                let ctr = self.ctr();
                s += &format!(
                    "for ref in {list}; do m=$({ctr} images ls \"name==$ref\" 2>/dev/null | awk 'NR==2 {{print $3}}'); \
                     if [ -n \"$m\" ]; then echo \"image $ref $({ctr} content get \"$m\" 2>/dev/null | tr -d '\\n ')\"; fi; done; \
                     {ctr} content ls -q 2>/dev/null | sed 's/^/blob /'; true"
                );
            }
            ImportKind::Docker | ImportKind::Podman => {
                let engine = if self.host.import == ImportKind::Docker {
                    "docker"
                } else {
                    "podman"
                };
                s += &format!(
                    "for ref in {list}; do if id=$({}{engine} image inspect --format '{{{{.Id}}}}' \"$ref\" 2>/dev/null); then echo \"image $ref $id\"; fi; done; true",
                    self.sudo()
                );
            }
            ImportKind::Command(_) => s += "true",
        }
        s
    }

    /// Receives the compressed archive into `tmp`, private to the user.
    /// Also sweeps archives that earlier, interrupted runs left behind.
    pub fn upload_script(&self, tmp: &str) -> String {
        format!(
            "umask 077; find {dir} -maxdepth 1 -name 'goapp-*.part' -mmin +60 -exec rm -f {{}} + 2>/dev/null; cat > {tmp}",
            dir = quote(self.tmp_dir()),
            tmp = quote(tmp)
        )
    }

    /// Checks the archive against the sha256 given as `$1`, then
    /// decompresses it into the importer; the archive is removed whatever
    /// happens.
    pub fn import_script(&self, tmp: &str, compression: Compression, arch: Arch) -> String {
        format!(
            "f={tmp}; trap 'rm -f \"$f\"' EXIT; trap 'exit 129' HUP INT TERM; \
             if ! echo \"$1  $f\" | sha256sum -c --status -; then echo \"goapp: checksum mismatch on $(uname -n): the archive was damaged in transit; nothing was imported\" >&2; exit 65; fi; \
             {decomp} < \"$f\" | {import}",
            tmp = quote(tmp),
            decomp = compression.decompress(),
            import = self.import_words(arch)
        )
    }

    /// The import over ssh. The stream's sha256 is its last argument, the
    /// variable `sha`: bound once the stream has been sent, shown as
    /// `"$sha"` in a printed plan.
    pub fn import(&self, tmp: &str, compression: Compression, arch: Arch) -> Cmd {
        let script = self.import_script(tmp, compression, arch);
        self.session()
            .arg(format!("sh -c {} goapp", quote(&script)))
            .var_arg(SHA_VAR)
    }

    /// Removes a partial upload after a failed transfer.
    pub fn cleanup_script(tmp: &str) -> String {
        format!("rm -f {}", quote(tmp))
    }
}

impl ShipTarget {
    /// The archive format for this node, given the local engine.
    pub fn format(&self, local: crate::engine::EngineKind) -> ArchiveFormat {
        let containerd = matches!(self.host.import, ImportKind::K3s | ImportKind::Containerd);
        if containerd && local == crate::engine::EngineKind::Podman {
            ArchiveFormat::Oci
        } else {
            ArchiveFormat::Docker
        }
    }

    /// The compression for this node: the host's `compression:` setting, or
    /// by default none for OCI archives (their layers are gzip already: a
    /// second pass costs CPU on both ends and saves nothing), zstd -3 when
    /// both ends have zstd (cheap to decompress, even on a Raspberry Pi),
    /// else gzip -6 (gzip -1 for ARM nodes, whose CPU is the bottleneck).
    pub fn compression(
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
    pub fn probe(&self, refs: &[String]) -> Result<Probe, ProcessError> {
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
pub struct Probe {
    /// `uname -m`.
    pub machine: String,
    /// zstd is installed.
    pub zstd: bool,
    /// The import tool is installed.
    pub importer: bool,
    /// Content digests the node's containerd holds (containerd and k3s nodes).
    pub blobs: std::collections::BTreeSet<String>,
    /// `(ref, image id as sha256:…)` of the images asked about that exist.
    pub images: Vec<(String, String)>,
}

/// Parses a probe's output.
pub fn parse_probe(out: &str) -> Probe {
    let mut p = Probe::default();
    for line in out.lines() {
        if let Some(m) = line.strip_prefix("arch=") {
            p.machine = m.trim().to_string();
        } else if line == "zstd=yes" {
            p.zstd = true;
        } else if line == "importer=yes" {
            p.importer = true;
        } else if let Some(d) = line.strip_prefix("blob ") {
            p.blobs.insert(d.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("image ") {
            if let Some((r, v)) = rest.split_once(' ') {
                if let Some(id) = image_id_of(v.trim()) {
                    p.images.push((r.to_string(), id));
                }
            }
        }
    }
    p
}

/// An image id from what a node printed: a podman id (hex), a docker id
/// (`sha256:hex`), or a manifest whose config digest is the id.
pub fn image_id_of(v: &str) -> Option<String> {
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

    #[test]
    fn import_commands_per_kind() {
        assert_eq!(
            target("{ssh: pi}").import_words(Arch::Arm64),
            "k3s ctr -n k8s.io images import --platform linux/arm64 -"
        );
        assert_eq!(
            target("{ssh: pi, import: containerd, sudo: true}").import_words(Arch::Arm),
            "sudo -n ctr -n k8s.io images import --platform linux/arm/v7 -"
        );
        assert_eq!(
            target("{ssh: pi, import: docker}").import_words(Arch::Amd64),
            "docker load"
        );
        assert_eq!(
            target("{ssh: pi, import: podman, sudo: true}").import_words(Arch::Amd64),
            "sudo -n podman load"
        );
        assert_eq!(
            target("{ssh: pi, import: {command: [my-load, --from, 'a b']}}")
                .import_words(Arch::Amd64),
            "my-load --from 'a b'"
        );
    }

    #[test]
    fn import_script_checks_before_importing_and_always_cleans_up() {
        let t = target("{ssh: pi, import: containerd}");
        let s = t.import_script("/var/tmp/goapp-x.part", Compression::Zstd(3), Arch::Arm64);
        assert_eq!(
            s,
            "f=/var/tmp/goapp-x.part; trap 'rm -f \"$f\"' EXIT; trap 'exit 129' HUP INT TERM; \
if ! echo \"$1  $f\" | sha256sum -c --status -; then echo \"goapp: checksum mismatch on $(uname -n): the archive was damaged in transit; nothing was imported\" >&2; exit 65; fi; \
zstd -dcq < \"$f\" | ctr -n k8s.io images import --platform linux/arm64 -"
        );
        // Over ssh the digest is the script's $1, bound when it is known.
        let import = t.import("/var/tmp/goapp-x.part", Compression::None, Arch::Arm64);
        assert!(import.to_string().ends_with(" goapp' \"$sha\""), "{import}");
        let args = import.bind(SHA_VAR, "ab12").get_args();
        let at = args.iter().position(|a| a == "--").unwrap() + 2;
        let remote = args[at..].join(" ");
        let words = shlex::split(&remote).unwrap();
        assert_eq!(words[0..2], ["sh", "-c"]);
        assert_eq!(words[3..], ["goapp", "ab12"]);
    }

    #[test]
    fn probe_output_and_ids() {
        let manifest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7","size":832},"layers":[]}"#;
        let out = format!("arch=aarch64\nzstd=yes\nimporter=yes\nimage localhost/joke:1-arm64 {manifest}\nimage x:1 a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7\nimage y:1 garbage\nblob sha256:ab\n");
        let p = parse_probe(&out);
        assert_eq!(p.machine, "aarch64");
        assert!(p.zstd && p.importer);
        assert!(p.blobs.contains("sha256:ab"));
        let id =
            "sha256:a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7".to_string();
        assert_eq!(
            p.images,
            vec![
                ("localhost/joke:1-arm64".to_string(), id.clone()),
                ("x:1".to_string(), id)
            ]
        );
    }
}
