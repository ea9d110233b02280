//! `import: k3s-dir`: the archive is written into k3s's agent images
//! directory, which k3s watches and imports (and pins) itself. It lands
//! under a temporary name and is renamed into place, so k3s never reads
//! half a file; its name changes with the image's content, because k3s
//! re-imports a known file name only when its size changes; the previous
//! archive of the repository and architecture is removed.

use crate::config::hosts::K3S_IMAGES_DIR;
use crate::core::arch::Arch;
use crate::process::command::quote;
use crate::ship::import::Delivery;
use crate::ship::target::ShipTarget;

impl ShipTarget {
    /// k3s's agent images directory (`import: k3s-dir`).
    pub(in crate::ship) fn images_dir(&self) -> &str {
        self.host
            .images_dir
            .as_deref()
            .unwrap_or(K3S_IMAGES_DIR)
            .trim_end_matches('/')
    }
}

/// The k3s agent's directory, which holds the images directory: there when
/// k3s is installed.
pub(super) fn agent_dir(t: &ShipTarget) -> &str {
    parent_dir(t.images_dir())
}

/// The `k3s-dir` archive of an image: `goapp+<repo>+<arch>+<id12>.tar`. A
/// new name per image content, because k3s re-imports a file whose name it
/// has seen only when its size changes, and a new build can keep the size.
pub(in crate::ship) fn k3s_file(repository: &str, arch: Arch, id: &str) -> String {
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

/// Decompresses `$f` into `DIR/.goapp-….part`, then renames it to the
/// archive's name and removes the older archives of the repository and
/// architecture.
pub(super) fn write(t: &ShipTarget, decomp: &str, d: &Delivery) -> String {
    let dir = t.images_dir();
    let file = k3s_file(&d.repository, d.arch, &d.id);
    let part = format!(".goapp-{}.part", d.nonce);
    let old = k3s_file_prefix(&d.repository, d.arch);
    let write = format!(
        "mkdir -p \"$1\" && cat > \"$1/$2\" && mv -f \"$1/$2\" \"$1/$3\" && for o in \"$1\"/{old}*.tar; do [ \"$o\" = \"$1/$3\" ] || rm -f \"$o\"; done"
    );
    format!(
        "trap 'rm -f \"$f\"; {sudo}rm -f {dir}/{part}' EXIT; {decomp} < \"$f\" | {sudo}sh -c {write} goapp {dir} {part} {file}",
        sudo = t.sudo(),
        dir = quote(dir),
        write = quote(&write),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::compression::Compression;
    use crate::ship::import::tests::delivery;
    use crate::ship::target::target;

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
}
