//! A streaming filter over a tar archive that drops chosen entries (the
//! blobs of an OCI archive that a node already holds) and can give the
//! image a second name (`index.json` of an OCI archive, `manifest.json` of
//! a docker archive). Headers and data are copied as they come; nothing is
//! buffered beyond one header, the extended headers that belong to it, and
//! the small index being renamed, which is parsed and rewritten as JSON.
//!
//! The `tar` crate reads each header's fields (size, type, path, pax
//! records) and rewrites the renamed index's size and checksum. Its
//! `Archive` reader is not used for the stream: it pulls from a `Read`
//! while the executor pushes chunks as `save` writes them, and it consumes
//! pax and GNU extension headers into parsed values, so the archive could
//! not be copied byte for byte.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::io;
use tar::Header;

/// Drops `blobs/sha256/<hex>` entries whose digest is in the set.
#[derive(Debug)]
pub(super) struct TarFilter {
    drop: BTreeSet<String>,
    state: State,
    header: Vec<u8>,
    /// Extended headers (pax `x`/`g`, GNU `L`/`K`) waiting for their entry.
    pending: Vec<u8>,
    pending_path: Option<String>,
    /// Bytes dropped so far.
    pub dropped: u64,
    /// Entries dropped so far.
    pub dropped_entries: usize,
    /// Wherever the archive names the image, name it this too.
    add: Option<SecondName>,
    added: bool,
}

/// The image's second name, to be written into the archive's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SecondName {
    /// What the archive may call the image already: the stored name, and
    /// docker's short form of it.
    pub names: Vec<String>,
    /// The name to add: `localhost/joke:1`.
    pub also: String,
    /// Its tag alone (`1`), for an index whose OCI ref name is only the tag
    /// (docker ≥ 25, which gives the full name in `io.containerd.image.name`).
    pub also_tag: String,
}

/// The most of an index the filter holds to rename it.
const INDEX_LIMIT: u64 = 1 << 20;

/// The OCI annotation naming an image in an index: a full name, or a tag.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// containerd's (and docker ≥ 25's) annotation with the image's full name.
const IMAGE_NAME: &str = "io.containerd.image.name";

#[derive(Debug)]
enum State {
    Header,
    /// Copying (or skipping) data: remaining bytes incl. padding, keep?, and
    /// whether it is an extended header's data (kept in `pending`).
    Data {
        left: u64,
        keep: bool,
        extended: bool,
    },
    /// Holding an index to rename: its header, size, and data so far.
    Capture {
        header: Vec<u8>,
        size: u64,
        left: u64,
        data: Vec<u8>,
    },
    /// After the end-of-archive blocks: copy whatever follows.
    Trailer,
}

/// Where the kept bytes go.
type Out<'o> = dyn FnMut(&[u8]) -> io::Result<()> + 'o;

impl TarFilter {
    /// A filter dropping these digests (`sha256:<hex>`).
    pub(super) fn new(drop: BTreeSet<String>) -> TarFilter {
        TarFilter {
            drop,
            state: State::Header,
            header: Vec::with_capacity(512),
            pending: Vec::new(),
            pending_path: None,
            dropped: 0,
            dropped_entries: 0,
            add: None,
            added: false,
        }
    }

    /// Also names the image as `add` says, where the archive names it.
    pub(super) fn adding_name(mut self, add: Option<SecondName>) -> TarFilter {
        self.add = add;
        self
    }

    /// The name that was to be added but was not (the archive had no index
    /// naming the image), once the archive has gone through.
    pub(super) fn name_missing(&self) -> Option<&str> {
        match &self.add {
            Some(n) if !self.added => Some(&n.also),
            _ => None,
        }
    }

    /// Feeds bytes; `out` receives what is kept.
    pub(super) fn feed(&mut self, mut input: &[u8], out: &mut Out) -> io::Result<()> {
        while !input.is_empty() {
            match &mut self.state {
                State::Trailer => {
                    out(input)?;
                    return Ok(());
                }
                State::Capture { .. } => input = self.capture(input, out)?,
                State::Header => {
                    let need = 512 - self.header.len();
                    let take = need.min(input.len());
                    self.header.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.header.len() == 512 {
                        self.on_header(out)?;
                    }
                }
                State::Data { .. } => input = self.data(input, out)?,
            }
        }
        Ok(())
    }

    /// Copies, skips or holds (an extended header's) data.
    fn data<'i>(&mut self, input: &'i [u8], out: &mut Out) -> io::Result<&'i [u8]> {
        let State::Data {
            left,
            keep,
            extended,
        } = &mut self.state
        else {
            return Ok(input);
        };
        let take = (*left).min(input.len() as u64) as usize;
        let chunk = &input[..take];
        if *extended {
            self.pending.extend_from_slice(chunk);
        } else if *keep {
            out(chunk)?;
        } else {
            self.dropped += take as u64;
        }
        *left -= take as u64;
        if *left == 0 {
            let was_extended = *extended;
            self.state = State::Header;
            if was_extended {
                self.pending_path = pax_path(&self.pending).or(self.pending_path.take());
            }
        }
        Ok(&input[take..])
    }

    fn on_header(&mut self, out: &mut Out) -> io::Result<()> {
        let h = std::mem::take(&mut self.header);
        if h.iter().all(|&b| b == 0) {
            out(&std::mem::take(&mut self.pending))?;
            out(&h)?;
            self.state = State::Trailer;
            return Ok(());
        }
        let header = Header::from_byte_slice(&h);
        let size = header.entry_size()?;
        let padded = size.div_ceil(512) * 512;
        let kind = header.entry_type();
        if kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            self.pending.extend_from_slice(&h);
            self.state = State::Data {
                left: padded,
                keep: true,
                extended: true,
            };
            if padded == 0 {
                self.state = State::Header;
            }
            return Ok(());
        }
        let name = self
            .pending_path
            .take()
            .unwrap_or_else(|| String::from_utf8_lossy(&header.path_bytes()).into_owned());
        if self.renames(&name, size) {
            self.state = State::Capture {
                header: h,
                size,
                left: padded,
                data: Vec::with_capacity(padded as usize),
            };
            return Ok(());
        }
        self.entry(h, &name, padded, out)
    }

    /// Starts copying (or dropping) an entry, its extended headers first.
    fn entry(&mut self, h: Vec<u8>, name: &str, padded: u64, out: &mut Out) -> io::Result<()> {
        let keep = !self.is_dropped(name);
        let pending = std::mem::take(&mut self.pending);
        if keep {
            out(&pending)?;
            out(&h)?;
        } else {
            self.dropped += (pending.len() + 512) as u64;
            self.dropped_entries += 1;
        }
        self.state = if padded == 0 {
            State::Header
        } else {
            State::Data {
                left: padded,
                keep,
                extended: false,
            }
        };
        Ok(())
    }

    /// Holds the bytes of an index being renamed; writes it back when whole.
    fn capture<'i>(&mut self, input: &'i [u8], out: &mut Out) -> io::Result<&'i [u8]> {
        let State::Capture {
            header,
            size,
            left,
            data,
        } = &mut self.state
        else {
            return Ok(input);
        };
        let take = (*left).min(input.len() as u64) as usize;
        data.extend_from_slice(&input[..take]);
        *left -= take as u64;
        if *left == 0 {
            let (header, size, data) = (std::mem::take(header), *size, std::mem::take(data));
            self.state = State::Header;
            self.emit_renamed(&header, size, data, out)?;
        }
        Ok(&input[take..])
    }

    /// Whether the entry `name` is an index to hold and rename.
    fn renames(&self, name: &str, size: u64) -> bool {
        let index = matches!(
            name.trim_start_matches("./"),
            "index.json" | "manifest.json"
        );
        index && self.add.is_some() && self.pending.is_empty() && size <= INDEX_LIMIT && size > 0
    }

    /// Writes a held index back, with the second name added if it names
    /// the image; the header's size and checksum follow the new length.
    fn emit_renamed(
        &mut self,
        h: &[u8],
        size: u64,
        data: Vec<u8>,
        out: &mut Out,
    ) -> io::Result<()> {
        let renamed = self
            .add
            .as_ref()
            .and_then(|n| add_name(&data[..size as usize], n));
        let Some(body) = renamed else {
            out(h)?;
            return out(&data);
        };
        self.added = true;
        let mut header = Header::from_byte_slice(h).clone();
        header.set_size(body.len() as u64);
        header.set_cksum();
        out(header.as_bytes())?;
        out(&body)?;
        out(&vec![0u8; body.len().div_ceil(512) * 512 - body.len()])
    }

    fn is_dropped(&self, name: &str) -> bool {
        let name = name.trim_start_matches("./");
        match name.strip_prefix("blobs/sha256/") {
            Some(hex) => self.drop.contains(&format!("sha256:{hex}")),
            None => false,
        }
    }
}

/// `json` (an OCI `index.json` or a docker archive's `manifest.json`) with
/// the image, which it calls one of `n.names`, also called `n.also`;
/// `None` when it names none of them (or is neither kind of index).
fn add_name(json: &[u8], n: &SecondName) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(json).ok()?;
    let added = match &mut doc {
        Value::Array(images) => add_repo_tag(images, n),
        Value::Object(index) => add_descriptor(index, n),
        _ => false,
    };
    added.then(|| serde_json::to_vec(&doc).ok()).flatten()
}

/// A docker archive's manifest: `also` right after the image's name in
/// its `RepoTags`.
fn add_repo_tag(images: &mut [Value], n: &SecondName) -> bool {
    for name in &n.names {
        for image in images.iter_mut() {
            let Some(Value::Array(tags)) = image.get_mut("RepoTags") else {
                continue;
            };
            if let Some(at) = tags.iter().position(|t| t.as_str() == Some(name)) {
                if !tags.iter().any(|t| t.as_str() == Some(&n.also)) {
                    tags.insert(at + 1, Value::from(n.also.as_str()));
                }
                return true;
            }
        }
    }
    false
}

/// An OCI index: a copy of the descriptor that names the image (by its ref
/// name, or by containerd's image name), right after it, naming it `also`
/// in the same style: containerd's name in full, the ref name in full
/// where the original's is the full name, else the tag alone.
fn add_descriptor(index: &mut Map<String, Value>, n: &SecondName) -> bool {
    let Some(Value::Array(manifests)) = index.get_mut("manifests") else {
        return false;
    };
    let Some(at) = manifests.iter().position(|d| names_image(d, &n.names)) else {
        return false;
    };
    let mut copy = manifests[at].clone();
    let Some(Value::Object(notes)) = copy.get_mut("annotations") else {
        return false;
    };
    if let Some(full) = notes.get_mut(IMAGE_NAME) {
        *full = Value::from(n.also.as_str());
    }
    if let Some(Value::String(r)) = notes.get_mut(REF_NAME) {
        *r = if n.names.contains(r) {
            n.also.clone()
        } else {
            n.also_tag.clone()
        };
    }
    manifests.insert(at + 1, copy);
    true
}

/// Whether an index's descriptor names the image: its ref name or
/// containerd's image name is one of `names`.
fn names_image(descriptor: &Value, names: &[String]) -> bool {
    [REF_NAME, IMAGE_NAME].iter().any(|key| {
        descriptor
            .get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .is_some_and(|v| names.iter().any(|n| n == v))
    })
}

/// The `path=` of pax records, or a GNU long name, in extended-header bytes.
fn pax_path(ext: &[u8]) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i + 512 <= ext.len() {
        let h = Header::from_byte_slice(&ext[i..i + 512]);
        let size = h.entry_size().unwrap_or(0) as usize;
        let data = &ext[i + 512..(i + 512 + size).min(ext.len())];
        let kind = h.entry_type();
        if kind.is_gnu_longname() {
            let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
            found = Some(String::from_utf8_lossy(&data[..end]).into_owned());
        } else if kind.is_pax_local_extensions() {
            let path = tar::PaxExtensions::new(data)
                .flatten()
                .filter(|e| e.key() == Ok("path"))
                .filter_map(|e| e.value().ok().map(str::to_string))
                .last();
            found = path.or(found);
        }
        i += 512 + size.div_ceil(512) * 512;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn archive(dir: &std::path::Path, files: &[(&str, usize)]) -> Vec<u8> {
        archive_as("pax", dir, files)
    }

    fn archive_as(format: &str, dir: &std::path::Path, files: &[(&str, usize)]) -> Vec<u8> {
        for (name, size) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, vec![b'x'; *size]).unwrap();
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let out = Command::new("tar")
            .arg(format!("--format={format}"))
            .args(["-cf", "-", "-C"])
            .arg(dir)
            .args(&names)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn list(bytes: &[u8]) -> Vec<String> {
        let mut child = Command::new("tar")
            .args(["-tf", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "tar rejected the filtered archive");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn drops_only_the_named_blobs_in_any_chunking() {
        let d = tempfile::tempdir().unwrap();
        let long = format!("blobs/sha256/{}", "c".repeat(64));
        let a = format!("blobs/sha256/{}", "a".repeat(64));
        let b = format!("blobs/sha256/{}", "b".repeat(64));
        let bytes = archive(
            d.path(),
            &[(&a, 70_000), (&b, 10), ("index.json", 5), (&long, 1)],
        );
        for chunk in [1usize, 7, 512, 4096, 1 << 20] {
            let mut f =
                TarFilter::new([format!("sha256:{}", "a".repeat(64))].into_iter().collect());
            let mut out = Vec::new();
            for c in bytes.chunks(chunk) {
                f.feed(c, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(
                list(&out),
                vec![b.clone(), "index.json".to_string(), long.clone()],
                "chunk {chunk}"
            );
            assert_eq!(f.dropped_entries, 1);
            assert!(f.dropped >= 70_000);
            assert_eq!(out.len() as u64 + f.dropped, bytes.len() as u64);
        }
    }

    /// Names as ustar splits them (a prefix), as GNU tar writes them (an
    /// `L` entry before the header), and as pax records: every entry is
    /// known by its full path, so what is dropped is what is named.
    #[test]
    fn long_names_in_every_header_format() {
        let d = tempfile::tempdir().unwrap();
        // Over 100 bytes: a long name in gnu and pax, a prefix in ustar.
        let long = format!("blobs/sha256/{}", "f".repeat(90));
        let deep = format!("blobs/{}/{}", "d".repeat(100), "e".repeat(40));
        for format in ["ustar", "gnu", "pax"] {
            let bytes = archive_as(format, d.path(), &[(&deep, 3), (&long, 600)]);
            let mut f =
                TarFilter::new([format!("sha256:{}", "f".repeat(90))].into_iter().collect());
            let mut out = Vec::new();
            for c in bytes.chunks(100) {
                f.feed(c, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(list(&out), vec![deep.clone()], "{format}");
            assert_eq!(f.dropped_entries, 1, "{format}");
        }
    }

    fn second(names: &[&str], also: &str, also_tag: &str) -> SecondName {
        SecondName {
            names: names.iter().map(|n| n.to_string()).collect(),
            also: also.into(),
            also_tag: also_tag.into(),
        }
    }

    /// `add_name`'s output as JSON, to compare with what it must mean.
    fn added(json: &str, n: &SecondName) -> Option<Value> {
        add_name(json.as_bytes(), n).map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_second_name_is_added_to_either_kind_of_index() {
        let oci = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1-arm64"}}]}"#;
        let n = second(&["localhost/joke:1-arm64"], "localhost/joke:1", "1");
        assert_eq!(
            added(oci, &n).unwrap(),
            json(
                r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1-arm64"}},{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1"}}]}"#
            )
        );
        let docker =
            r#"[{"Config":"c.json","RepoTags":["joke:1-arm64"],"Layers":["l/layer.tar"]}]"#;
        let n = second(
            &["docker.io/library/joke:1-arm64", "joke:1-arm64"],
            "docker.io/library/joke:1",
            "1",
        );
        assert_eq!(
            added(docker, &n).unwrap(),
            json(
                r#"[{"Config":"c.json","RepoTags":["joke:1-arm64","docker.io/library/joke:1"],"Layers":["l/layer.tar"]}]"#
            )
        );
        assert_eq!(added(oci, &second(&["localhost/other:1"], "x", "x")), None);
        assert_eq!(added("not json", &n), None);
    }

    /// docker ≥ 25 names the image in full in `io.containerd.image.name`
    /// and gives only the tag as the OCI ref name: the copy says both the
    /// same way, and everything else in the index is kept.
    #[test]
    fn a_second_name_follows_docker_25_s_style() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:fb9c","size":575,"annotations":{"io.containerd.image.name":"docker.io/library/joke:1-arm64","org.opencontainers.image.ref.name":"1-arm64"},"platform":{"architecture":"arm64","os":"linux"}}]}"#;
        let n = second(
            &["docker.io/library/joke:1-arm64", "joke:1-arm64"],
            "docker.io/library/joke:1",
            "1",
        );
        let copy = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:fb9c","size":575,"annotations":{"io.containerd.image.name":"docker.io/library/joke:1","org.opencontainers.image.ref.name":"1"},"platform":{"architecture":"arm64","os":"linux"}}"#;
        let mut expected = json(index);
        expected["manifests"]
            .as_array_mut()
            .unwrap()
            .push(json(copy));
        assert_eq!(added(index, &n).unwrap(), expected);
        // A tag alone names nothing: the image is found by its full name only.
        let tag_only = index.replace("io.containerd.image.name", "other");
        assert_eq!(added(&tag_only, &n), None);
    }

    #[test]
    fn the_renamed_index_is_a_valid_archive_in_any_chunking() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("index.json"),
            r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:ab","annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1-arm64"}}]}"#,
        )
        .unwrap();
        let a = format!("blobs/sha256/{}", "a".repeat(64));
        let bytes = archive(d.path(), &[(&a, 3000)]);
        let bytes = {
            // The archive with index.json after the blobs, as podman writes it.
            let out = Command::new("tar")
                .args(["--format=ustar", "-cf", "-", "-C"])
                .arg(d.path())
                .args([a.as_str(), "index.json"])
                .output()
                .unwrap();
            assert!(!bytes.is_empty());
            out.stdout
        };
        for chunk in [1usize, 100, 512, 1 << 20] {
            let mut f = TarFilter::new(BTreeSet::new()).adding_name(Some(second(
                &["localhost/joke:1-arm64"],
                "localhost/joke:1",
                "1",
            )));
            let mut out = Vec::new();
            for c in bytes.chunks(chunk) {
                f.feed(c, &mut |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(f.name_missing(), None, "chunk {chunk}");
            assert_eq!(list(&out), vec![a.clone(), "index.json".to_string()]);
            let x = tempfile::tempdir().unwrap();
            let mut child = Command::new("tar")
                .args(["-xf", "-", "-C"])
                .arg(x.path())
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&out).unwrap();
            assert!(child.wait().unwrap().success());
            let index = std::fs::read_to_string(x.path().join("index.json")).unwrap();
            assert!(
                index.contains(r#""org.opencontainers.image.ref.name":"localhost/joke:1"}"#),
                "{index}"
            );
            assert_eq!(std::fs::read(x.path().join(&a)).unwrap().len(), 3000);
        }
        let mut f = TarFilter::new(BTreeSet::new()).adding_name(Some(second(
            &["localhost/other:1"],
            "x",
            "x",
        )));
        f.feed(&bytes, &mut |_| Ok(())).unwrap();
        assert_eq!(f.name_missing(), Some("x"));
    }
}
