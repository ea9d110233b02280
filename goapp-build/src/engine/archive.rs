//! An image as `podman save` or `docker save` writes it (a docker-archive,
//! or docker 25+'s OCI layout with its `manifest.json`), read without the
//! engine: its config, and its files as its layers stack them (whiteouts
//! and opaque directories applied), so a file's final content can be read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What the image's config says about starting it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `KEY=value`.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub workdir: String,
    /// `architecture` (`amd64`, `arm64`).
    pub architecture: String,
}

/// What a path is in the stacked layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to the target, as written.
    Symlink(String),
    /// A hard link to another path of the image.
    Hardlink(String),
    /// A device, FIFO or socket.
    Other,
}

/// One path of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// Its kind.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// The layer (0 = the base's first) that wrote it last.
    pub layer: usize,
}

/// A saved image.
#[derive(Debug)]
pub(crate) struct SavedImage {
    archive: PathBuf,
    /// The config's run settings.
    pub config: RunConfig,
    /// Every path, absolute (`/usr/bin/app`).
    pub files: BTreeMap<String, Node>,
    /// Each layer's place in the archive: `(offset, size)`.
    layers: Vec<(u64, u64)>,
}

/// An archive's members: path → `(offset of the data, size)`.
type Members = BTreeMap<String, (u64, u64)>;

impl SavedImage {
    /// Reads the archive at `path`.
    pub(crate) fn read(path: &Path) -> Result<SavedImage, String> {
        let members = members(path)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&member(path, &members, "manifest.json")?)
                .map_err(|e| format!("manifest.json: {e}"))?;
        let entry = manifest.get(0).ok_or("manifest.json lists no image")?;
        let config_path = entry["Config"]
            .as_str()
            .ok_or("manifest.json names no config")?;
        let config = run_config(&member(path, &members, config_path)?)?;
        let layers: Vec<(u64, u64)> = entry["Layers"]
            .as_array()
            .ok_or("manifest.json lists no layers")?
            .iter()
            .map(|l| {
                let name = l.as_str().unwrap_or_default();
                members
                    .get(name)
                    .copied()
                    .ok_or(format!("the archive lacks layer {name}"))
            })
            .collect::<Result<_, _>>()?;
        let mut image = SavedImage {
            archive: path.to_path_buf(),
            config,
            files: BTreeMap::new(),
            layers,
        };
        for n in 0..image.layers.len() {
            image.stack(n)?;
        }
        Ok(image)
    }

    /// Applies layer `n` over what the earlier ones made.
    fn stack(&mut self, n: usize) -> Result<(), String> {
        let mut tar = tar::Archive::new(self.layer_reader(n)?);
        for e in tar.entries().map_err(|e| format!("layer {n}: {e}"))? {
            let e = e.map_err(|e| format!("layer {n}: {e}"))?;
            let path = absolute(&e.path_bytes());
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            let dir = parent(&path);
            if name == ".wh..wh..opq" {
                self.remove_under(&dir, Some(n));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let gone = join(&dir, gone);
                self.files.remove(&gone);
                self.remove_under(&gone, None);
                continue;
            }
            let h = e.header();
            let link = || {
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            };
            let kind = match h.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink(link()),
                tar::EntryType::Link => Kind::Hardlink(absolute(link().as_bytes())),
                _ => Kind::Other,
            };
            let mode = h.mode().unwrap_or(0);
            self.files.insert(
                path,
                Node {
                    kind,
                    mode,
                    layer: n,
                },
            );
        }
        Ok(())
    }

    /// Removes what is under `dir` (only what earlier layers wrote, when
    /// `before` is given: an opaque directory hides the lower layers).
    fn remove_under(&mut self, dir: &str, before: Option<usize>) {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.files
            .retain(|p, node| !(p.starts_with(&prefix) && before.is_none_or(|b| node.layer < b)));
    }

    /// Layer `n`'s tar stream (gunzipped when compressed, as docker's
    /// containerd store keeps them).
    fn layer_reader(&self, n: usize) -> Result<Box<dyn Read>, String> {
        let (offset, size) = self.layers[n];
        let mut f = File::open(&self.archive).map_err(|e| e.to_string())?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let mut magic = [0u8; 4];
        let mut head = f.try_clone().map_err(|e| e.to_string())?;
        head.read_exact(&mut magic).ok();
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let raw = f.take(size);
        match magic {
            [0x1f, 0x8b, ..] => Ok(Box::new(flate2::read::GzDecoder::new(raw))),
            [0x28, 0xb5, 0x2f, 0xfd] => {
                Err("a layer is zstd-compressed, which this check does not read".into())
            }
            _ => Ok(Box::new(raw)),
        }
    }

    /// Follows symbolic links (in every component) to the path they name;
    /// `None` when a link dangles or loops.
    pub(crate) fn resolve(&self, path: &str) -> Option<String> {
        let mut path = absolute(path.as_bytes());
        for _ in 0..40 {
            let mut done = String::new();
            let mut changed = false;
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            for (i, part) in parts.iter().enumerate() {
                let here = join(&done, part);
                match self.files.get(&here).map(|n| &n.kind) {
                    Some(Kind::Symlink(target)) => {
                        let base = if target.starts_with('/') {
                            "/".to_string()
                        } else {
                            done.clone()
                        };
                        let rest = parts[i + 1..].join("/");
                        path = join(&join(&base, target), &rest);
                        changed = true;
                        break;
                    }
                    Some(Kind::Hardlink(target)) if i + 1 == parts.len() => {
                        path = target.clone();
                        changed = true;
                        break;
                    }
                    Some(_) => done = here,
                    // A directory a layer holds files in without an entry of its own.
                    None if i + 1 < parts.len() && self.has_under(&here) => done = here,
                    None => return None,
                }
            }
            if !changed {
                return Some(if done.is_empty() { "/".into() } else { done });
            }
        }
        None
    }

    /// Whether any path lies under `dir`.
    fn has_under(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// The content of a regular file (resolved path), read from its layer.
    pub(crate) fn read_file(&self, path: &str) -> Result<Vec<u8>, String> {
        let node = self
            .files
            .get(path)
            .ok_or(format!("{path} is not in the image"))?;
        let mut tar = tar::Archive::new(self.layer_reader(node.layer)?);
        for e in tar.entries().map_err(|e| e.to_string())? {
            let mut e = e.map_err(|e| e.to_string())?;
            if absolute(&e.path_bytes()) == path {
                let mut out = Vec::new();
                e.read_to_end(&mut out).map_err(|e| e.to_string())?;
                return Ok(out);
            }
        }
        Err(format!("{path} is not in its layer"))
    }
}

/// The members of a tar file, by name, with their data's place.
fn members(path: &Path) -> Result<Members, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tar = tar::Archive::new(f);
    let mut out = Members::new();
    for e in tar.entries().map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let name = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_string();
        out.insert(name, (e.raw_file_position(), e.size()));
    }
    Ok(out)
}

/// One member's content (small ones: the manifest, the config).
fn member(path: &Path, members: &Members, name: &str) -> Result<Vec<u8>, String> {
    let &(offset, size) = members
        .get(name)
        .ok_or(format!("the archive lacks {name}"))?;
    if size > 16 << 20 {
        return Err(format!("{name} is too large"));
    }
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    let mut out = vec![0; size as usize];
    f.read_exact(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn run_config(bytes: &[u8]) -> Result<RunConfig, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the image config: {e}"))?;
    let c = &v["config"];
    let list = |k: &str| -> Vec<String> {
        c[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(RunConfig {
        entrypoint: list("Entrypoint"),
        cmd: list("Cmd"),
        env: list("Env"),
        workdir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
        architecture: v["architecture"].as_str().unwrap_or_default().to_string(),
    })
}

/// `./usr/bin/x`, `usr/bin/x/` → `/usr/bin/x`.
fn absolute(raw: &[u8]) -> String {
    join("/", &String::from_utf8_lossy(raw))
}

/// `dir` + `rel` with `.` and `..` resolved (never above `/`).
pub(crate) fn join(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    };
    for p in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if p == ".." {
            parts.pop();
        } else {
            parts.push(p);
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a docker-archive of `layers` (each a list of
    /// `(path, kind, content)`) with the given config.
    pub(crate) fn archive(
        dir: &Path,
        config: &str,
        layers: &[Vec<(&str, Kind, &[u8])>],
    ) -> PathBuf {
        let path = dir.join("image.tar");
        let mut outer = tar::Builder::new(File::create(&path).unwrap());
        let mut names = Vec::new();
        for (n, layer) in layers.iter().enumerate() {
            let mut inner = tar::Builder::new(Vec::new());
            for (p, kind, content) in layer {
                let mut h = tar::Header::new_gnu();
                // Files named `*.txt` are not executable.
                h.set_mode(if p.ends_with(".txt") { 0o644 } else { 0o755 });
                match kind {
                    Kind::Dir => h.set_entry_type(tar::EntryType::Directory),
                    Kind::Symlink(t) => {
                        h.set_entry_type(tar::EntryType::Symlink);
                        h.set_link_name(t).unwrap();
                    }
                    _ => h.set_entry_type(tar::EntryType::Regular),
                }
                h.set_size(content.len() as u64);
                inner.append_data(&mut h, p, *content).unwrap();
            }
            let bytes = inner.into_inner().unwrap();
            let name = format!("layer{n}.tar");
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            outer.append_data(&mut h, &name, bytes.as_slice()).unwrap();
            names.push(name);
        }
        let manifest = format!(
            "[{{\"Config\":\"config.json\",\"Layers\":{}}}]",
            serde_json::to_string(&names).unwrap()
        );
        for (name, body) in [
            ("config.json", config.as_bytes()),
            ("manifest.json", manifest.as_bytes()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            outer.append_data(&mut h, name, body).unwrap();
        }
        outer.finish().unwrap();
        path
    }

    #[test]
    fn layers_stack_with_whiteouts_and_links() {
        let d = tempfile::tempdir().unwrap();
        let cfg = r#"{"architecture":"arm64","config":{"Entrypoint":["/app"],"Cmd":null,"Env":["PATH=/bin"],"WorkingDir":"/w"}}"#;
        let path = archive(
            d.path(),
            cfg,
            &[
                vec![
                    ("bin/", Kind::Dir, b""),
                    ("bin/sh", Kind::File, b"sh1"),
                    ("etc/old", Kind::File, b"x"),
                    ("lib/", Kind::Dir, b""),
                    ("lib/a.so", Kind::File, b"a"),
                ],
                vec![
                    ("etc/.wh.old", Kind::File, b""),
                    ("lib/.wh..wh..opq", Kind::File, b""),
                    ("lib/b.so", Kind::File, b"b"),
                    ("app", Kind::Symlink("bin/sh".into()), b""),
                    ("bin/sh", Kind::File, b"sh2"),
                ],
            ],
        );
        let img = SavedImage::read(&path).unwrap();
        assert_eq!(img.config.entrypoint, ["/app"]);
        assert_eq!(img.config.architecture, "arm64");
        assert!(!img.files.contains_key("/etc/old"));
        assert!(!img.files.contains_key("/lib/a.so") && img.files.contains_key("/lib/b.so"));
        assert_eq!(img.resolve("/app").as_deref(), Some("/bin/sh"));
        assert_eq!(img.read_file("/bin/sh").unwrap(), b"sh2");
        assert_eq!(img.resolve("/nope"), None);
    }
}
