//! An image's names and pins on a node: `REPO:TAG` beside `REPO:TAG-<arch>`
//! in the node's store, and on containerd stores the labels that keep the
//! kubelet's image garbage collection away, with our mark and the time so
//! that our older pins beyond the host's `keep_pinned` are lifted again.

use crate::config::hosts::{Store, KEEP_PINNED};
use crate::process::command::quote;
use crate::ship::target::ShipTarget;

/// The label containerd's CRI plugin reads: the kubelet never collects the image.
pub(super) const PIN_CRI: &str = "io.cri-containerd.pinned=pinned";

/// The label k3s sets next to it on images it imports itself.
pub(super) const PIN_K3S: &str = "io.cattle.k3s.pinned=pinned";

/// Our mark on what we pinned, with the time (Unix seconds): only images
/// that carry it are ever unpinned, the oldest first.
const PIN_MARK: &str = "dev.goapp.pinned";

/// `ctr images ls` → `TIME DIGEST REF` for the names under the prefixes
/// `p` (space-separated `REPO:`) that carry
/// [`PIN_MARK`] (labels are the last column, comma-separated).
const AWK_MARKED: &str = r#"NR > 1 { m = 0; np = split(p, ps, " "); for (j = 1; j <= np; j++) if (index($1, ps[j]) == 1) m = 1; if (!m) next; n = split($NF, l, ","); for (i = 1; i <= n; i++) if (index(l[i], "dev.goapp.pinned=") == 1) print substr(l[i], 18), $3, $1 }"#;

/// Sorted newest first: the names of every image beyond the first `keep`
/// (by digest).
const AWK_BEYOND: &str = r#"{ if (!($2 in seen)) { seen[$2] = 1; k++ } if (k > keep) print $3 }"#;

impl ShipTarget {
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

    /// Gives the image `src` the names `dsts` too and pins all of them, in
    /// the node's store; `None` when the store is unknown (a custom
    /// importer without `store:`). `repos` are the names' repositories
    /// (whose older pins `keep_pinned` lifts).
    pub(super) fn name_words(&self, src: &str, dsts: &[&str], repos: &[&str]) -> Option<String> {
        let store = self.store()?;
        let names = || dsts.iter().map(|d| quote(d)).collect::<Vec<_>>().join(" ");
        Some(match store {
            Store::K3s | Store::Containerd => self.tag_and_pin(store, src, dsts, repos),
            Store::Podman => format!("{}podman tag {} {}", self.sudo(), quote(src), names()),
            Store::Docker => dsts
                .iter()
                .map(|d| format!("{}docker tag {} {}", self.sudo(), quote(src), quote(d)))
                .collect::<Vec<_>>()
                .join(" && "),
        })
    }

    /// containerd: `ctr images tag`, then the pins with our mark on every
    /// name, then [`ShipTarget::unpin_older`].
    fn tag_and_pin(&self, store: Store, src: &str, dsts: &[&str], repos: &[&str]) -> String {
        let ctr = self.ctr(store);
        let pins = self.pin_labels().join(" ");
        let names = dsts.iter().map(|d| quote(d)).collect::<Vec<_>>().join(" ");
        let mut steps = vec![format!(
            "{ctr} images tag --force {} {names} >/dev/null",
            quote(src),
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
}

/// The unpin step as the node runs it, for the golden tests of every
/// script that names and pins.
#[cfg(test)]
pub(super) fn unpin(ctr: &str, prefixes: &str, keep: u32, clear: &str) -> String {
    format!("{{ {ctr} images ls 2>/dev/null | awk -v p={} '{AWK_MARKED}' | sort -k1,1nr | awk -v keep={keep} '{AWK_BEYOND}' | while read -r ref; do {ctr} images label \"$ref\"{clear} >/dev/null || exit 1; done; }}", quote(prefixes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::command::Cmd;
    use crate::ship::target::target;

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
}
