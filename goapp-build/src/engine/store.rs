//! What the local engine's image store holds: an image's id, recorded
//! architecture, manifest digest and one label, and the fully qualified name
//! the engine gives an image.

use crate::core::arch::Arch;
use crate::core::names::{Domain, ImageRef};
use crate::engine::{Engine, EngineKind, ImageStore};
use std::time::Duration;

/// An image in the local store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalImage {
    /// The image id, `sha256:…`: the config digest, on every store (on
    /// docker's containerd store, where `.Id` is the manifest's digest,
    /// from the manifest's `config.digest` annotation).
    pub id: String,
    /// The architecture recorded in the image's config.
    pub arch: Option<Arch>,
    /// The manifest digest, when the engine keeps one for local images
    /// (podman does; docker only for pushed or pulled images).
    pub digest: Option<String>,
    /// The value of the label asked for, if the image has it.
    pub label: Option<String>,
}

/// The archive format a node gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ArchiveFormat {
    /// `podman save --format oci-archive`: blobs by digest, so the ones a
    /// containerd node holds can be left out; layers already gzip-compressed.
    Oci,
    /// `docker-archive` (what `docker save` writes): every loader takes it.
    Docker,
}

impl ArchiveFormat {
    /// As the engines call it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Oci => "oci-archive",
            ArchiveFormat::Docker => "docker-archive",
        }
    }
}

impl Engine {
    /// The archive format to save for a node; `by_digest`: its importer
    /// takes an OCI archive whose blobs it holds left out (containerd).
    /// podman writes either; docker only its own (an OCI layout from 25).
    pub(crate) fn archive_format(&self, by_digest: bool) -> ArchiveFormat {
        if by_digest && self.kind == EngineKind::Podman {
            ArchiveFormat::Oci
        } else {
            ArchiveFormat::Docker
        }
    }

    /// `podman save`/`docker save` of `reference` in `format`, to stdout or
    /// to the file `to`. docker writes its own format (a docker-archive;
    /// from docker 25 an OCI layout with a `manifest.json`).
    pub(crate) fn save_cmd(
        &self,
        reference: &str,
        format: ArchiveFormat,
        to: Option<&std::path::Path>,
    ) -> crate::process::command::Cmd {
        let mut cmd = self.cmd().arg("save");
        if self.kind == EngineKind::Podman {
            cmd = cmd.args(["--format", format.name()]);
        }
        if let Some(file) = to {
            cmd = cmd.arg("-o").arg(file.display().to_string());
        }
        cmd.arg(reference)
    }

    /// The size of `reference` in the store, in bytes, on stdout (about
    /// what `save` writes: it makes a transfer's percentage).
    pub(crate) fn size_cmd(&self, reference: &str) -> crate::process::command::Cmd {
        self.cmd()
            .args(["image", "inspect", "--format", "{{.Size}}", reference])
    }

    /// Takes the name `reference` off its image (the image itself stays on
    /// podman, by id; on docker it goes when that was its last name).
    pub(crate) fn untag_cmd(&self, reference: &str) -> crate::process::command::Cmd {
        match self.kind {
            EngineKind::Podman => self.cmd().args(["untag", reference, reference]),
            EngineKind::Docker => self.cmd().args(["image", "rm", "--no-prune", reference]),
        }
    }

    /// Where the engine keeps names that give no registry.
    pub fn domain(&self) -> Domain {
        match self.kind {
            EngineKind::Podman => Domain::Localhost,
            EngineKind::Docker => Domain::DockerHub,
        }
    }

    /// The name the engine stores `image` under: `joke:1` built by podman
    /// is `localhost/joke:1`; by docker, `docker.io/library/joke:1`.
    pub fn stored(&self, image: &ImageRef) -> String {
        image.stored(self.domain())
    }

    /// Each image of `names` as the store holds it (`None` when absent).
    /// First all in one engine process (one start and one store lock: what a
    /// no-op rebuild of several architectures costs); when any is missing,
    /// each asked on its own, concurrently.
    pub fn inspect_all(&self, names: &[&str], label: &str) -> Vec<Option<LocalImage>> {
        if names.len() > 1 {
            if let Some(all) = self.inspect_together(names, label) {
                return all;
            }
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|name| scope.spawn(move || self.inspect(name, label)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        })
    }

    /// All of `names` by one `image inspect`, which prints one line per
    /// name in order; `None` unless every one was found.
    fn inspect_together(&self, names: &[&str], label: &str) -> Option<Vec<Option<LocalImage>>> {
        let out = self
            .cmd()
            .args(["image", "inspect", "--format", &self.inspect_format(label)])
            .args(names.iter().copied())
            .run_timeout(Some(Duration::from_secs(60)))
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != names.len() {
            return None;
        }
        lines.iter().map(|l| parse_inspect(l).map(Some)).collect()
    }

    /// One image as the store holds it; `None` when absent or unreadable.
    pub fn inspect(&self, name: &str, label: &str) -> Option<LocalImage> {
        let out = self
            .cmd()
            .args([
                "image",
                "inspect",
                "--format",
                &self.inspect_format(label),
                name,
            ])
            .run_timeout(Some(Duration::from_secs(60)))
            .ok()?;
        parse_inspect(&String::from_utf8_lossy(&out.stdout))
    }

    /// `ID ARCH DIGEST LABEL` on one line.
    fn inspect_format(&self, label: &str) -> String {
        let (id, digest) = match self.store {
            ImageStore::Podman => ("{{.Id}}", "{{.Digest}}"),
            ImageStore::DockerClassic => (
                "{{.Id}}",
                "{{if .RepoDigests}}{{index .RepoDigests 0}}{{else}}-{{end}}",
            ),
            // The id is the manifest's digest there; the config digest is
            // an annotation of images the engine built or loaded from an
            // OCI layout (else the id stays, and only equals itself). The
            // CLI formats the JSON as maps: `index`, as a missing key of
            // `.X.y` is an error.
            ImageStore::DockerContainerd => (
                "{{$id := .Id}}{{with index .Descriptor \"annotations\"}}{{with index . \"config.digest\"}}{{$id = .}}{{end}}{{end}}{{$id}}",
                "{{index .Descriptor \"digest\"}}",
            ),
        };
        // `with`: docker's `index` fails on an image without labels (a base).
        format!(
            "{id} {{{{.Architecture}}}} {digest} {{{{with .Config.Labels}}}}{{{{index . \"{label}\"}}}}{{{{end}}}}"
        )
    }
}

/// Reads `ID ARCH DIGEST [LABEL]` as printed by [`Engine::inspect`].
fn parse_inspect(line: &str) -> Option<LocalImage> {
    // The label may hold spaces (`<no value>`): it is the rest of the line.
    let mut words = line.trim().splitn(4, ' ');
    let id = words.next().filter(|w| !w.is_empty())?;
    let arch = words.next().and_then(Arch::from_image_arch);
    fn value(w: Option<&str>) -> Option<&str> {
        w.map(str::trim)
            .filter(|v| !v.is_empty() && *v != "-" && *v != "<no value>")
    }
    let digest = value(words.next()).map(|d| d.rsplit('@').next().unwrap_or(d).to_string());
    let label = value(words.next()).map(str::to_string);
    let id = if id.starts_with("sha256:") {
        id.to_string()
    } else {
        format!("sha256:{id}")
    };
    Some(LocalImage {
        id,
        arch,
        digest,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_lines() {
        let id = "a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7";
        let podman = parse_inspect(&format!("{id} arm64 sha256:ab12 f00d\n")).unwrap();
        assert_eq!(podman.id, format!("sha256:{id}"));
        assert_eq!(podman.arch, Some(Arch::Arm64));
        assert_eq!(podman.digest.as_deref(), Some("sha256:ab12"));
        assert_eq!(podman.label.as_deref(), Some("f00d"));
        let docker = parse_inspect(&format!("sha256:{id} amd64 - \n")).unwrap();
        assert_eq!((docker.digest, docker.label), (None, None));
        let pushed = parse_inspect(&format!("{id} amd64 reg/joke@sha256:cd <no value>")).unwrap();
        assert_eq!(pushed.digest.as_deref(), Some("sha256:cd"));
        assert_eq!(pushed.label, None);
        assert_eq!(parse_inspect(""), None);
    }
}
