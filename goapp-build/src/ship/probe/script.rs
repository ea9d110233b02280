//! The read-only probe a node runs, and what it reports ([`Probe`]): its
//! machine and emulators, zstd, the import tool, and for each name asked
//! about the image id it holds there (with its labels on containerd) and,
//! on containerd, the blobs it has.

use crate::config::hosts::{ImportKind, Store};
use crate::process::command::quote;
use crate::process::error::ProcessError;
use crate::ship::docker_ids;
use crate::ship::target::ShipTarget;
use std::collections::BTreeSet;
use std::time::Duration;

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
    pub blobs: BTreeSet<String>,
    /// The images asked about that exist.
    pub images: Vec<Held>,
    /// Emulators registered in binfmt_misc and enabled (`aarch64`, `arm`, …).
    pub emulates: BTreeSet<String>,
}

/// An image a node holds under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The name.
    pub reference: String,
    /// Its id, `sha256:…`.
    pub id: String,
    /// Its labels (`key=value`; containerd only).
    pub labels: BTreeSet<String>,
}

impl Probe {
    /// What the node holds under `reference`.
    pub(crate) fn held(&self, reference: &str) -> Option<&Held> {
        self.images.iter().find(|h| h.reference == reference)
    }
}

impl ShipTarget {
    /// Runs the probe for `refs` over ssh, bounded by the connection timeout.
    pub(crate) fn probe(&self, refs: &[String]) -> Result<Probe, ProcessError> {
        let limit = Duration::from_secs(u64::from(self.host.connect_timeout.unwrap_or(10)) + 20);
        let out = self
            .ssh(&self.probe_script(refs))
            .run_timeout(Some(limit))?;
        Ok(parse_probe(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Reports the node's machine, zstd, the importer, and for each of
    /// `refs` the image id it holds (containerd: the manifest, whose config
    /// digest is the id) with its labels. Read-only.
    fn probe_script(&self, refs: &[String]) -> String {
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
        s += &match store {
            Store::K3s | Store::Containerd => self.containerd_images(store, &list),
            Store::Docker | Store::Podman => self.engine_images(store, &list),
        };
        s
    }

    /// Whether the importer is there: a program, or `k3s-dir`'s directory.
    fn importer_test(&self) -> String {
        match &self.host.import {
            ImportKind::K3sDir => format!("[ -d {} ]", quote(&self.importer())),
            _ => format!("command -v {} >/dev/null 2>&1", quote(&self.importer())),
        }
    }

    /// containerd: each name's manifest (whose config digest is the id) and
    /// labels, then every blob's digest.
    fn containerd_images(&self, store: Store, list: &str) -> String {
        let ctr = self.ctr(store);
        let present = if store == Store::K3s {
            "command -v k3s >/dev/null 2>&1 && "
        } else {
            ""
        };
        format!(
            "if {present}true; then for ref in {list}; do set -- $({ctr} images ls \"name==$ref\" 2>/dev/null | awk 'NR==2 {{print $3, $NF}}'); \
             if [ -n \"$1\" ]; then printf 'image %s %s %s\\n' \"$ref\" \"$({ctr} content get \"$1\" 2>/dev/null | tr -d '\\n ')\" \"$2\"; fi; done; \
             {ctr} content ls -q 2>/dev/null | sed 's/^/blob /'; fi; true"
        )
    }

    /// docker or podman: each name's id; on docker's containerd store, the
    /// manifest's digest mapped to the config digest as the import
    /// remembered it ([`docker_ids`]).
    fn engine_images(&self, store: Store, list: &str) -> String {
        let config = if store == Store::Docker {
            docker_ids::lookup()
        } else {
            String::new()
        };
        format!(
            "for ref in {list}; do if id=$({}{} image inspect --format '{{{{.Id}}}}' \"$ref\" 2>/dev/null); then {config}printf 'image %s %s\\n' \"$ref\" \"$id\"; fi; done; true",
            self.sudo(),
            store.name()
        )
    }
}

/// Parses a probe's output.
fn parse_probe(out: &str) -> Probe {
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
            p.images.extend(parse_held(rest));
        }
    }
    p
}

/// `REF ID-OR-MANIFEST [LABELS]` of an `image` line.
fn parse_held(rest: &str) -> Option<Held> {
    let mut words = rest.split_whitespace();
    let (r, v) = (words.next()?, words.next()?);
    let labels = words
        .next()
        .filter(|l| *l != "-")
        .map(|l| l.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    Some(Held {
        reference: r.to_string(),
        id: image_id_of(v)?,
        labels,
    })
}

/// An image id from what a node printed: a podman id (hex), a docker id
/// (`sha256:hex`), or a manifest whose config digest is the id.
fn image_id_of(v: &str) -> Option<String> {
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
    use crate::ship::names::PIN_CRI;

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
