//! A streaming filter over a tar archive that drops chosen entries (the
//! blobs of an OCI archive that a node already holds) and can give the
//! image a second name (`index.json` of an OCI archive, `manifest.json` of
//! a docker archive). Headers and data are copied as they come; nothing is
//! buffered beyond one header, the extended headers that belong to it, and
//! the small index being renamed.

use std::collections::BTreeSet;

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
    /// `(names, also)`: wherever the archive names the image one of
    /// `names`, name it `also` too.
    add: Option<(Vec<String>, String)>,
    added: bool,
}

/// The most of an index the filter holds to rename it.
const INDEX_LIMIT: u64 = 1 << 20;

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

    /// Also names the image `also` where the archive names it `name`.
    pub(super) fn adding_name(mut self, add: Option<(Vec<String>, String)>) -> TarFilter {
        self.add = add;
        self
    }

    /// The name that was to be added but was not (the archive had no index
    /// naming the image), once the archive has gone through.
    pub(super) fn name_missing(&self) -> Option<&str> {
        match &self.add {
            Some((_, also)) if !self.added => Some(also),
            _ => None,
        }
    }

    /// Feeds bytes; `out` receives what is kept.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
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
                State::Data {
                    left,
                    keep,
                    extended,
                } => {
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
                    input = &input[take..];
                    if *left == 0 {
                        let was_extended = *extended;
                        self.state = State::Header;
                        if was_extended {
                            self.pending_path =
                                pax_path(&self.pending).or(self.pending_path.take());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_header(
        &mut self,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let h = std::mem::take(&mut self.header);
        if h.iter().all(|&b| b == 0) {
            out(&std::mem::take(&mut self.pending))?;
            out(&h)?;
            self.state = State::Trailer;
            return Ok(());
        }
        let size = parse_size(&h[124..136]);
        let padded = size.div_ceil(512) * 512;
        let kind = h[156];
        if matches!(kind, b'x' | b'g' | b'L' | b'K') {
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
        let name = self.pending_path.take().unwrap_or_else(|| header_name(&h));
        if self.renames(&name, size) {
            self.state = State::Capture {
                header: h,
                size,
                left: padded,
                data: Vec::with_capacity(padded as usize),
            };
            return Ok(());
        }
        let keep = !self.is_dropped(&name);
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
    fn capture<'i>(
        &mut self,
        input: &'i [u8],
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<&'i [u8]> {
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
            self.emit_renamed(header, size, data, out)?;
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
        mut header: Vec<u8>,
        size: u64,
        data: Vec<u8>,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&data[..size as usize]).into_owned();
        let renamed = self
            .add
            .as_ref()
            .and_then(|(names, also)| add_name(&text, names, also));
        let Some(new) = renamed else {
            out(&header)?;
            return out(&data);
        };
        self.added = true;
        let body = new.into_bytes();
        set_size(&mut header, body.len() as u64);
        out(&header)?;
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

/// `json` with the image (one of `names`: the archive may use any) also
/// called `also`: in an OCI index, a copy of its descriptor with the other
/// ref name; in a docker archive's manifest, the tag added beside it.
/// `None` when it names none of them.
pub(super) fn add_name(json: &str, names: &[String], also: &str) -> Option<String> {
    let name = names.first()?;
    if let Some(tags) = json.find("\"RepoTags\":[") {
        for n in names {
            let quoted = format!("\"{n}\"");
            if let Some(at) = json[tags..].find(&quoted).map(|i| i + tags) {
                let end = at + quoted.len();
                return Some(format!("{},\"{also}\"{}", &json[..end], &json[end..]));
            }
        }
        return None;
    }
    let quoted = format!("\"org.opencontainers.image.ref.name\":\"{name}\"");
    let at = json.find(&quoted)?;
    let (start, end) = enclosing_object(json, at)?;
    let copy = json[start..end].replace(
        &quoted,
        &format!("\"org.opencontainers.image.ref.name\":\"{also}\""),
    );
    Some(format!("{},{copy}{}", &json[..end], &json[end..]))
}

/// The bounds of the descriptor (a `{…}` directly inside `"manifests":[…]`)
/// around byte `at`.
fn enclosing_object(json: &str, at: usize) -> Option<(usize, usize)> {
    let list = json.find("\"manifests\":[")? + 13;
    let bytes = json.as_bytes();
    let (mut depth, mut start, mut in_str, mut i) = (0usize, None, false, list);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'{' if !in_str => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            b'}' if !in_str => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let s = start?;
                    if (s..=i).contains(&at) {
                        return Some((s, i + 1));
                    }
                }
            }
            b']' if !in_str && depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Writes `size` into a ustar header and recomputes its checksum.
fn set_size(h: &mut [u8], size: u64) {
    let field = format!("{size:011o}\0");
    h[124..136].copy_from_slice(field.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn parse_size(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        // base-256 (GNU) for sizes over 8 GiB
        field[1..]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    } else {
        let s: String = field
            .iter()
            .take_while(|&&b| b != 0 && b != b' ')
            .map(|&b| b as char)
            .collect();
        u64::from_str_radix(s.trim(), 8).unwrap_or(0)
    }
}

fn cstr(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]).into_owned()
}

fn header_name(h: &[u8]) -> String {
    let name = cstr(&h[0..100]);
    let prefix = if &h[257..262] == b"ustar" {
        cstr(&h[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// The `path=` of pax records, or a GNU long name, in extended-header bytes.
fn pax_path(ext: &[u8]) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i + 512 <= ext.len() {
        let h = &ext[i..i + 512];
        let size = parse_size(&h[124..136]) as usize;
        let data = &ext[i + 512..(i + 512 + size).min(ext.len())];
        match h[156] {
            b'L' => found = Some(cstr(data)),
            b'x' => {
                let text = String::from_utf8_lossy(data);
                for rec in text.split('\n') {
                    if let Some(p) = rec
                        .split_once(' ')
                        .and_then(|(_, kv)| kv.strip_prefix("path="))
                    {
                        found = Some(p.to_string());
                    }
                }
            }
            _ => {}
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
        for (name, size) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, vec![b'x'; *size]).unwrap();
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let out = Command::new("tar")
            .args(["--format=pax", "-cf", "-", "-C"])
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

    #[test]
    fn a_second_name_is_added_to_either_kind_of_index() {
        let oci = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1-arm64"}}]}"#;
        assert_eq!(
            add_name(oci, &["localhost/joke:1-arm64".into()], "localhost/joke:1").unwrap(),
            r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1-arm64"}},{"mediaType":"m","digest":"sha256:fb9c","size":575,"annotations":{"org.opencontainers.image.ref.name":"localhost/joke:1"}}]}"#
        );
        let docker =
            r#"[{"Config":"c.json","RepoTags":["joke:1-arm64"],"Layers":["l/layer.tar"]}]"#;
        assert_eq!(
            add_name(
                docker,
                &[
                    "docker.io/library/joke:1-arm64".into(),
                    "joke:1-arm64".into()
                ],
                "docker.io/library/joke:1"
            )
            .unwrap(),
            r#"[{"Config":"c.json","RepoTags":["joke:1-arm64","docker.io/library/joke:1"],"Layers":["l/layer.tar"]}]"#
        );
        assert_eq!(add_name(oci, &["localhost/other:1".into()], "x"), None);
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
            let mut f = TarFilter::new(BTreeSet::new()).adding_name(Some((
                vec!["localhost/joke:1-arm64".into()],
                "localhost/joke:1".into(),
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
        let mut f = TarFilter::new(BTreeSet::new())
            .adding_name(Some((vec!["localhost/other:1".into()], "x".into())));
        f.feed(&bytes, &mut |_| Ok(())).unwrap();
        assert_eq!(f.name_missing(), Some("x"));
    }
}
