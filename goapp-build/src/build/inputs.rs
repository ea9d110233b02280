//! The content hash of everything that decides an image: the build context
//! as the engine sees it (ignore file honoured), the Containerfile, the build
//! arguments (Go version included), platform and engine. Recorded as a label
//! on the image, so "is it up to date?" is one `image inspect`, and no
//! engine call at all is made to rebuild what has not changed.

use crate::build::ignore::IgnoreRules;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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
        if let Ok(text) = std::fs::read_to_string(&file) {
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

/// Streams a build context into `hasher`: sorted relative paths, each with
/// its type, executable bit, length and content digest (from `cache` when the
/// file's stat is unchanged). Returns the number of files.
pub fn hash_context(context: &Path, hasher: &mut Sha256, cache: &mut StatCache) -> Result<u64> {
    let (rules, _) = IgnoreRules::for_context(context);
    let mut files = 0;
    let mut buf = vec![0u8; 256 * 1024];
    walk(context, "", &rules, hasher, &mut buf, &mut files, cache)?;
    Ok(files)
}

fn walk(
    dir: &Path,
    rel: &str,
    rules: &IgnoreRules,
    h: &mut Sha256,
    buf: &mut [u8],
    files: &mut u64,
    cache: &mut StatCache,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let ty = e.file_type()?;
        let excluded = rules.excluded(&path_rel);
        if ty.is_dir() {
            // An excluded directory can only contribute if a `!` pattern re-includes inside it.
            if !excluded || rules.has_negations() {
                walk(&e.path(), &path_rel, rules, h, buf, files, cache)?;
            }
            continue;
        }
        if excluded {
            continue;
        }
        h.update(path_rel.as_bytes());
        h.update([0]);
        if ty.is_symlink() {
            let target = std::fs::read_link(e.path())?;
            h.update(b"L");
            h.update(target.to_string_lossy().as_bytes());
        } else if ty.is_file() {
            let meta = e.metadata()?;
            h.update(if meta.permissions().mode() & 0o111 != 0 {
                b"X"
            } else {
                b"F"
            });
            h.update(meta.len().to_le_bytes());
            let mtime_ns =
                (meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128).max(0) as u128;
            let stat = format!("{} {} {} {}", meta.len(), mtime_ns, meta.ino(), meta.mode());
            let digest = match cache.lookup(&path_rel, &stat, mtime_ns) {
                Some(d) => d,
                None => file_digest(&e.path(), buf)?,
            };
            h.update(digest.as_bytes());
            cache.fresh.insert(path_rel.clone(), (stat, digest));
        }
        h.update([0]);
        *files += 1;
    }
    Ok(())
}

fn file_digest(path: &Path, buf: &mut [u8]) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
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
/// only; their contents never enter the hash, so never a label.
pub fn inputs_hash(
    context: &Path,
    containerfile: &Path,
    facts: &[String],
    cache_dir: Option<&Path>,
) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"goapp-inputs-v1\0");
    let cf = std::fs::read(containerfile)
        .with_context(|| format!("reading {}", containerfile.display()))?;
    h.update((cf.len() as u64).to_le_bytes());
    h.update(&cf);
    for f in facts {
        h.update(f.as_bytes());
        h.update([0]);
    }
    let mut cache = StatCache::load(cache_dir, context);
    hash_context(context, &mut h, &mut cache)?;
    cache.save();
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
}
