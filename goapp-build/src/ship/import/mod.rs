//! Importing an image on a node: the script that checks the uploaded
//! archive against the stream's digest, decompresses it into the node's
//! importer, makes sure the store holds it, then names and pins it
//! ([`super::names`]); and the pull that `pull_from:` runs instead. What
//! differs per import kind lives in one module each: [`containerd`] (k3s's
//! and plain containerd, through `ctr`), [`k3s_dir`] (a file in k3s's
//! agent images directory), [`docker`], [`podman`] and [`command`] (the
//! user's own).

mod command;
mod containerd;
mod docker;
mod k3s_dir;
mod podman;

use crate::config::hosts::{ImportKind, Store};
use crate::core::arch::Arch;
use crate::engine::store::ArchiveFormat;
use crate::process::command::{quote, Cmd};
use crate::ship::compression::Compression;
use crate::ship::target::ShipTarget;
pub(super) use k3s_dir::k3s_file;

/// What the import script says on stderr once the archive's checksum
/// matched and the import starts (the progress line's next phase).
pub(super) const VERIFIED: &str = "goapp: verified; importing";

/// The variable a plan's import commands take the stream's digest from.
pub(super) const SHA_VAR: &str = "sha";

/// An image's two names on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ImageNames {
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
pub(super) struct Delivery {
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

impl ShipTarget {
    /// The archive format for this node, given the local engine.
    pub(super) fn format(&self, local: &crate::engine::Engine) -> ArchiveFormat {
        local.archive_format(matches!(self.store(), Some(Store::K3s | Store::Containerd)))
    }

    /// What must be on the node for it to import: a program, or for
    /// `k3s-dir` the k3s agent's directory.
    pub(crate) fn importer(&self) -> String {
        match &self.host.import {
            ImportKind::K3s => "k3s".into(),
            ImportKind::K3sDir => k3s_dir::agent_dir(self).to_string(),
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

    /// The import command, reading an uncompressed archive of `image` on
    /// stdin. The platform is stated: containerd otherwise drops a
    /// foreign-arch image. A custom command learns what it reads from its
    /// environment. (`k3s-dir` writes a file instead: see
    /// [`ShipTarget::import_script`].)
    fn import_words(&self, image: &ImageNames, format: ArchiveFormat, arch: Arch) -> String {
        match &self.host.import {
            ImportKind::K3s | ImportKind::K3sDir => containerd::import(self, Store::K3s, arch),
            ImportKind::Containerd => containerd::import(self, Store::Containerd, arch),
            ImportKind::Docker => docker::import(self),
            ImportKind::Podman => podman::import(self),
            ImportKind::Command(c) => command::import(self, c, image, format, arch),
        }
    }

    /// The import over ssh. The stream's sha256 is its last argument, the
    /// variable `sha`: bound once the stream has been sent, shown as
    /// `"$sha"` in a printed plan.
    pub(super) fn import(&self, tmp: &str, compression: Compression, d: &Delivery) -> Cmd {
        let script = self.import_script(tmp, compression, d);
        self.session()
            .arg(format!("sh -c {} goapp", quote(&script)))
            .var_arg(SHA_VAR)
    }

    /// Checks the archive against the sha256 given as `$1`, then
    /// decompresses it into the importer and names and pins the image; the
    /// archive is removed whatever happens. The file is hashed from stdin:
    /// no name is parsed (`sha256sum -c` reads backslashes as escapes). For `k3s-dir` the archive is
    /// written under a temporary name into the images directory and renamed
    /// into place, so k3s never reads half a file; an older archive of the
    /// same repository and architecture is removed.
    fn import_script(&self, tmp: &str, compression: Compression, d: &Delivery) -> String {
        let check = format!(
            "f={tmp}; trap 'rm -f \"$f\"' EXIT; trap 'exit 129' HUP INT TERM; \
             if [ \"$(sha256sum < \"$f\" | cut -c1-64)\" != \"$1\" ]; then printf '%s\\n' \"goapp: checksum mismatch on $(uname -n): the archive was damaged in transit; nothing was imported\" >&2; exit 65; fi; printf '%s\\n' \"{VERIFIED}\" >&2; ",
            tmp = quote(tmp)
        );
        let decomp = compression.decompress();
        if self.host.import == ImportKind::K3sDir {
            return check + &k3s_dir::write(self, decomp, d);
        }
        check + &self.load_and_name(decomp, d)
    }

    /// Decompresses `$f` into the importer, checks the store holds the
    /// image, names and pins it.
    fn load_and_name(&self, decomp: &str, d: &Delivery) -> String {
        let import = self.import_words(&d.image, d.format, d.arch);
        // podman names what it loads from the archive's own tags, which
        // other engines write their way (docker 20.10: `goapp-it/x:1`,
        // podman then `localhost/goapp-it/x:1`): it is found, and named,
        // by its id, which every engine agrees on.
        // A plan printed before the build knows no id: the pasted plan saves
        // the image it just built under its reference, which podman keeps.
        let podman = self.store() == Some(Store::Podman);
        let src = if podman && !d.id.is_empty() {
            &d.id
        } else {
            &d.image.reference
        };
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
        format!("{decomp} < \"$f\" | {import}{loaded}{named}{remember}")
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
            Store::K3s | Store::Containerd => containerd::holds(self, store),
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

    /// Pulls `remote` (`HOST/REPO:TAG-<arch>`) with the node's own runtime,
    /// then gives it the image's names and pins it; `None` without a store.
    pub(super) fn pull_words(
        &self,
        remote: &ImageNames,
        image: &ImageNames,
        arch: Arch,
        insecure: bool,
        id: &str,
    ) -> Option<String> {
        let store = self.store()?;
        let pull = match store {
            Store::K3s | Store::Containerd => {
                containerd::pull(self, store, &remote.reference, arch, insecure)
            }
            Store::Docker => docker::pull(self, &remote.reference),
            Store::Podman => podman::pull(self, &remote.reference, insecure),
        };
        let named = self.name_words(
            &remote.reference,
            &[&image.reference, &image.name],
            &[&remote.repository, &image.repository],
        )?;
        let remember = self.remember_id(&image.reference, id);
        Some(format!("{pull} && {named}{remember}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::names::unpin;
    use crate::ship::target::target;

    pub(super) fn names() -> ImageNames {
        ImageNames {
            reference: "localhost/joke:1-arm64".into(),
            name: "localhost/joke:1".into(),
            repository: "localhost/joke".into(),
        }
    }

    pub(super) fn delivery(arch: Arch) -> Delivery {
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
}
