//! The content hash of everything that decides an image: the build context
//! as the engine sees it (ignore file honoured), the Containerfile, the build
//! arguments (Go version included), platform and engine. Recorded as a label
//! on the image, so "is it up to date?" is one `image inspect`, and no
//! engine call at all is made to rebuild what has not changed.

use crate::build::ignore::IgnoreRules;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The image label holding the inputs hash.
pub const LABEL: &str = "dev.goapp.inputs";

/// Remembered file digests, keyed by path and stat facts, so that a warm run
/// reads no file contents: it walks the tree and compares `stat`s.
#[derive(Debug, Default)]
pub struct StatCache {
    file: Option<PathBuf>,
    /// When the loaded cache was written (ns since the epoch).
    written: u128,
    entries: HashMap<String, (String, String)>,
    fresh: HashMap<String, (String, String)>,
}

impl StatCache {
    /// A cache for `context`, kept under `dir` (no file: nothing is kept).
    pub fn load(dir: Option<&Path>, context: &Path) -> StatCache {
        let Some(dir) = dir else {
            return StatCache::default();
        };
        let key = hex(&Sha256::digest(context.as_os_str().as_encoded_bytes()));
        let file = dir.join("contexts").join(format!("{}.tsv", &key[..16]));
        let mut c = StatCache {
            file: Some(file.clone()),
            ..StatCache::default()
        };
        if let Ok(text) = crate::core::fs::read_text(&file, "the stat cache") {
            let mut lines = text.lines();
            c.written = lines
                .next()
                .and_then(|l| l.strip_prefix("written "))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            for l in lines {
                let mut f = l.rsplitn(3, '\t');
                if let (Some(digest), Some(stat), Some(path)) = (f.next(), f.next(), f.next()) {
                    c.entries
                        .insert(path.to_string(), (stat.to_string(), digest.to_string()));
                }
            }
        }
        c
    }

    fn lookup(&self, rel: &str, stat: &str, mtime_ns: u128) -> Option<String> {
        // A file changed within the same clock tick as the cache write could
        // keep its mtime: such entries are never trusted (git's "racy" rule).
        if mtime_ns + 2_000_000_000 >= self.written {
            return None;
        }
        self.entries
            .get(rel)
            .filter(|(s, _)| s == stat)
            .map(|(_, d)| d.clone())
    }

    /// Saves what this walk saw (atomically; a failure only costs speed).
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let Some(dir) = file.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut text = format!("written {now}\n");
        for (path, (stat, digest)) in &self.fresh {
            text.push_str(&format!("{path}\t{stat}\t{digest}\n"));
        }
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
            if tmp.write_all(text.as_bytes()).is_ok() {
                let _ = tmp.persist(file);
            }
        }
    }
}

fn hash_entry(h: &mut Sha256, rel: &str, record: &[u8]) {
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(record);
    h.update([0]);
}

/// One walk of a context, calling `sink(relative path, record)` for each
/// entry in sorted order; the record says its type, mode, length and digest.
struct Walker<'a> {
    rules: &'a IgnoreRules,
    buf: Vec<u8>,
    cache: &'a mut StatCache,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, rel: &str, sink: &mut dyn FnMut(&str, &[u8])) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let path_rel = if rel.is_empty() {
                name.to_string_lossy().to_string()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            let ty = e.file_type()?;
            let excluded = self.rules.excluded(&path_rel);
            if ty.is_dir() {
                // An excluded directory can only contribute if a `!` pattern re-includes inside it.
                if !excluded || self.rules.has_negations() {
                    self.walk(&e.path(), &path_rel, sink)?;
                }
                continue;
            }
            if excluded {
                continue;
            }
            let record = self.record(&e, ty, &path_rel)?;
            sink(&path_rel, &record);
        }
        Ok(())
    }

    fn record(
        &mut self,
        e: &std::fs::DirEntry,
        ty: std::fs::FileType,
        path_rel: &str,
    ) -> Result<Vec<u8>> {
        let mut r = Vec::new();
        if ty.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            r.push(b'L');
            r.extend_from_slice(target.to_string_lossy().as_bytes());
        } else if ty.is_file() {
            let meta = e.metadata()?;
            r.push(if meta.permissions().mode() & 0o111 != 0 {
                b'X'
            } else {
                b'F'
            });
            r.extend_from_slice(&meta.len().to_le_bytes());
            let mtime_ns =
                (meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128).max(0) as u128;
            let stat = format!("{} {} {} {}", meta.len(), mtime_ns, meta.ino(), meta.mode());
            let digest = match self.cache.lookup(path_rel, &stat, mtime_ns) {
                Some(d) => d,
                None => file_digest(&e.path(), &mut self.buf)?,
            };
            r.extend_from_slice(digest.as_bytes());
            self.cache
                .fresh
                .insert(path_rel.to_string(), (stat, digest));
        }
        Ok(r)
    }
}

/// What one walk of a build context gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextDigests {
    /// The hash of the Containerfile text and the whole context.
    pub inputs: String,
    /// `sha256:<hex>` of each requested path under the context (what a
    /// `RUN --mount=type=bind,source=<path>` shows), by path; `""` is all of it.
    pub parts: BTreeMap<String, String>,
}

/// Hashes the Containerfile `text` and the context (ignore file honoured,
/// stat cache in `cache_dir`) in one walk, with a digest of each path in
/// `parts` (`""`: the whole context) on the way. A path the ignore file
/// excludes is still mounted by the engine: it is digested in full.
pub fn digest_context(
    context: &Path,
    text: &[u8],
    parts: &[String],
    cache_dir: Option<&Path>,
) -> Result<ContextDigests> {
    let (rules, _) = IgnoreRules::for_context(context)?;
    let mut cache = StatCache::load(cache_dir, context);
    let mut whole = Sha256::new();
    whole.update(b"goapp-inputs-v1\0");
    whole.update((text.len() as u64).to_le_bytes());
    whole.update(text);
    let (raw, filtered): (Vec<&String>, Vec<&String>) = parts
        .iter()
        .partition(|p| !p.is_empty() && rules.excluded(p));
    let mut subs: Vec<(&String, Sha256)> = filtered.iter().map(|p| (*p, Sha256::new())).collect();
    let mut walker = Walker {
        rules: &rules,
        buf: vec![0u8; 256 * 1024],
        cache: &mut cache,
    };
    walker.walk(context, "", &mut |rel, record| {
        hash_entry(&mut whole, rel, record);
        for (p, h) in subs.iter_mut() {
            if let Some(inner) = under(rel, p) {
                hash_entry(h, inner, record);
            }
        }
    })?;
    let none = IgnoreRules::default();
    let mut out: BTreeMap<String, String> = subs
        .into_iter()
        .map(|(p, h)| (p.clone(), format!("sha256:{}", hex(&h.finalize()))))
        .collect();
    for p in raw {
        let mut h = Sha256::new();
        let mut w = Walker {
            rules: &none,
            buf: vec![0u8; 256 * 1024],
            cache: &mut cache,
        };
        let dir = context.join(p);
        if dir.is_dir() {
            w.walk(&dir, p, &mut |rel, record| {
                hash_entry(&mut h, under(rel, p).unwrap_or(rel), record)
            })?;
        } else if let Ok(bytes) = crate::core::fs::read_bytes(&dir, "the mounted file") {
            hash_entry(&mut h, "", &Sha256::digest(&bytes));
        }
        out.insert(p.clone(), format!("sha256:{}", hex(&h.finalize())));
    }
    cache.save();
    Ok(ContextDigests {
        inputs: hex(&whole.finalize()),
        parts: out,
    })
}

/// `rel` relative to `prefix` when it is at or under it (`""` is everything).
fn under<'a>(rel: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(rel);
    }
    match rel.strip_prefix(prefix) {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    }
}

fn file_digest(path: &Path, buf: &mut [u8]) -> Result<String> {
    let mut f = crate::core::fs::open_regular(path, "the context file")?;
    let mut h = Sha256::new();
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// The hash of one architecture's build: context, Containerfile, and the
/// `facts` (build args, platform, engine) in order. Secrets are named by id
/// only; their contents never enter the hash, so never a label. (Builds
/// hash through `shimfile::digest_with_keys`; the tests pin this one.)
#[cfg(test)]
pub fn inputs_hash(
    context: &Path,
    containerfile: &Path,
    facts: &[String],
    cache_dir: Option<&Path>,
) -> Result<String> {
    let cf = crate::core::fs::read_bytes(containerfile, "the Containerfile")?;
    let d = digest_context(context, &cf, &[], cache_dir)?;
    if facts.is_empty() {
        return Ok(d.inputs);
    }
    let mut h = Sha256::new();
    h.update(d.inputs.as_bytes());
    for f in facts {
        h.update([0]);
        h.update(f.as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of a digest (sha2 0.11 has no `{:x}`).
pub use crate::core::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_files_do_not_change_the_hash_and_others_do() {
        let d = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        std::fs::write(d.path().join(".containerignore"), "*.log\n").unwrap();
        std::fs::write(d.path().join("main.go"), "package main\n").unwrap();
        let facts = vec!["TAG_GOVER=1.21.13".to_string()];
        let a = inputs_hash(d.path(), &cf, &facts, None).unwrap();
        std::fs::write(d.path().join("x.log"), "noise").unwrap();
        assert_eq!(a, inputs_hash(d.path(), &cf, &facts, None).unwrap());
        std::fs::write(d.path().join("main.go"), "package main // changed\n").unwrap();
        let b = inputs_hash(d.path(), &cf, &facts, None).unwrap();
        assert_ne!(a, b);
        assert_ne!(
            b,
            inputs_hash(d.path(), &cf, &["TAG_GOVER=1.21.14".to_string()], None).unwrap()
        );
        assert_eq!(b.len(), 64);
    }

    #[test]
    fn the_stat_cache_gives_the_same_answer_and_notices_changes() {
        let d = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        let src = d.path().join("main.go");
        std::fs::write(&src, "package main\n").unwrap();
        // Old enough to be trusted from the cache.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let cold = inputs_hash(d.path(), &cf, &[], None).unwrap();
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold,
            "warm, from the cache"
        );
        // Same size, same mtime, different bytes: caught because the inode changes with a rename.
        let tmp = d.path().join("x");
        std::fs::write(&tmp, "package xxxx\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::rename(&tmp, &src).unwrap();
        assert_ne!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
        // A fresh edit (racy mtime) is always read.
        std::fs::write(&src, "package main\n").unwrap();
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
    }

    #[test]
    fn part_digests_change_exactly_with_their_content() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w(".containerignore", "*.log\nvendor\n");
        w("go.mod", "module x\n");
        w("cmd/app/main.go", "package main\n");
        w("docs/a.md", "a\n");
        w("vendor/v.go", "package v\n");
        let parts = vec![
            String::new(),
            "go.mod".to_string(),
            "cmd/app".to_string(),
            "vendor".to_string(),
        ];
        let digest = || digest_context(d.path(), b"FROM scratch\n", &parts, None).unwrap();
        let a = digest();
        assert_eq!(a.parts.len(), 4);
        assert!(a
            .parts
            .values()
            .all(|v| v.starts_with("sha256:") && v.len() == 71));
        w("x.log", "noise");
        assert_eq!(digest(), a, "ignored files change nothing");
        w("docs/a.md", "b\n");
        let b = digest();
        assert_ne!(b.parts[""], a.parts[""]);
        assert_ne!(b.inputs, a.inputs);
        assert_eq!(
            b.parts["cmd/app"], a.parts["cmd/app"],
            "another path changed"
        );
        assert_eq!(b.parts["go.mod"], a.parts["go.mod"]);
        w("cmd/app/main.go", "package main // 2\n");
        let c = digest();
        assert_ne!(c.parts["cmd/app"], b.parts["cmd/app"]);
        assert_eq!(c.parts["go.mod"], b.parts["go.mod"]);
        // Mounted by name although the ignore file excludes it: digested in full.
        w("vendor/v.go", "package v // 2\n");
        let v = digest();
        assert_ne!(v.parts["vendor"], c.parts["vendor"]);
        assert_eq!(
            v.parts[""], c.parts[""],
            "the context as the engine sees it is unchanged"
        );
        let other = digest_context(d.path(), b"FROM scratch # 2\n", &parts, None).unwrap();
        assert_ne!(other.inputs, v.inputs, "the Containerfile text is an input");
        assert_eq!(other.parts, v.parts);
    }
}
