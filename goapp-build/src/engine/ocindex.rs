//! A multi-platform index for docker's containerd image store, made
//! locally: an OCI layout holding one small index blob that lists the
//! per-architecture manifests the store already holds, named `REPO:TAG`.
//! `docker load` of it (a few hundred bytes; the manifests and layers are
//! not in it) makes the name an index, as `podman manifest create` does on
//! podman. Measured on docker 28.5.2: 0.14 s, and `docker run` of the name
//! then picks each platform's image. Pure: the caller loads it.

use crate::core::arch::Arch;
use sha2::{Digest, Sha256};

/// An image's descriptor as docker's containerd store reports it
/// (`docker image inspect --format '{{json .Descriptor}}'`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct Descriptor {
    /// A manifest's media type (docker v2s2 or OCI), or an index's.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// In bytes.
    pub size: u64,
}

impl Descriptor {
    /// Reads one line of `{{json .Descriptor}}`.
    pub(crate) fn parse(line: &str) -> Option<Descriptor> {
        serde_json::from_str(line.trim()).ok()
    }

    /// It is a single image's manifest (not an index of several).
    pub(crate) fn is_manifest(&self) -> bool {
        self.media_type.ends_with("manifest.v1+json")
            || self.media_type.ends_with("manifest.v2+json")
    }
}

/// The index blob listing `members` with their platforms, and its digest.
/// The same members give the same bytes, so an index already made is
/// recognised by its digest.
pub(crate) fn index_blob(members: &[(Arch, Descriptor)]) -> (Vec<u8>, String) {
    let manifests: Vec<serde_json::Value> = members
        .iter()
        .map(|(arch, d)| {
            let mut platform = serde_json::json!({ "architecture": arch.name(), "os": "linux" });
            if let Some(v) = arch.variant() {
                platform["variant"] = v.into();
            }
            serde_json::json!({
                "mediaType": d.media_type,
                "digest": d.digest,
                "size": d.size,
                "platform": platform,
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": manifests,
    });
    let bytes = index.to_string().into_bytes();
    let digest = format!("sha256:{}", crate::core::hex(&Sha256::digest(&bytes)));
    (bytes, digest)
}

const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The OCI layout (as a tar) naming `blob` `reference` (the full name as
/// the store keeps it, `docker.io/library/joke:1`, whose tag is `tag`).
pub(crate) fn layout_tar(
    reference: &str,
    tag: &str,
    blob: &[u8],
    digest: &str,
) -> std::io::Result<Vec<u8>> {
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": INDEX_TYPE,
            "digest": digest,
            "size": blob.len(),
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    let hex = digest.trim_start_matches("sha256:");
    let top = top.to_string();
    let mut b = tar::Builder::new(Vec::new());
    let files: [(String, &[u8]); 3] = [
        ("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json".into(), top.as_bytes()),
        (format!("blobs/sha256/{hex}"), blob),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data)?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(hex: char) -> Descriptor {
        Descriptor::parse(&format!(
            r#"{{"annotations":{{"config.digest":"sha256:{c}"}},"digest":"sha256:{d}","mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1087}}"#,
            c = "c".repeat(64),
            d = hex.to_string().repeat(64)
        ))
        .unwrap()
    }

    #[test]
    fn an_index_of_each_architecture_with_its_platform() {
        let members = [(Arch::Amd64, descriptor('a')), (Arch::Arm, descriptor('b'))];
        let (blob, digest) = index_blob(&members);
        let v: serde_json::Value = serde_json::from_slice(&blob).unwrap();
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(v["manifests"][1]["platform"]["variant"], "v7");
        assert_eq!(v["manifests"][1]["size"], 1087);
        assert_eq!(
            index_blob(&members).1,
            digest,
            "the same members, the same index"
        );
        assert!(members[0].1.is_manifest());

        let tar = layout_tar("docker.io/library/joke:1", "1", &blob, &digest).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            if path == "index.json" {
                assert!(
                    text.contains(r#""org.opencontainers.image.ref.name":"1""#),
                    "{text}"
                );
                assert!(text.contains("docker.io/library/joke:1"), "{text}");
            }
            seen.push(path);
        }
        assert_eq!(seen[2], format!("blobs/sha256/{}", &digest[7..]));
    }
}
