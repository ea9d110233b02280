//! The content hash of everything that decides an image: the build context
//! as the engine sees it (ignore file honoured), the Containerfile, the build
//! arguments (Go version included), platform and engine. Recorded as a label
//! on the image, so "is it up to date?" is one `image inspect`, and no
//! engine call at all is made to rebuild what has not changed.

use crate::ignore::IgnoreRules;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The image label holding the inputs hash.
pub const LABEL: &str = "dev.goapp.inputs";

/// Streams a build context into `hasher`: sorted relative paths, each with
/// its type, executable bit, length and bytes. Returns the number of files.
pub fn hash_context(context: &Path, hasher: &mut Sha256) -> Result<u64> {
    let (rules, _) = IgnoreRules::for_context(context);
    let mut files = 0;
    let mut buf = vec![0u8; 256 * 1024];
    walk(context, "", &rules, hasher, &mut buf, &mut files)?;
    Ok(files)
}

fn walk(dir: &Path, rel: &str, rules: &IgnoreRules, h: &mut Sha256, buf: &mut [u8], files: &mut u64) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path_rel = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
        let ty = e.file_type()?;
        let excluded = rules.excluded(&path_rel);
        if ty.is_dir() {
            // An excluded directory can only contribute if a `!` pattern re-includes inside it.
            if !excluded || rules.has_negations() {
                walk(&e.path(), &path_rel, rules, h, buf, files)?;
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
            h.update(if meta.permissions().mode() & 0o111 != 0 { b"X" } else { b"F" });
            h.update(meta.len().to_le_bytes());
            let mut f = std::fs::File::open(e.path()).with_context(|| format!("reading {}", e.path().display()))?;
            loop {
                let n = f.read(buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        h.update([0]);
        *files += 1;
    }
    Ok(())
}

/// The hash of one architecture's build: context, Containerfile, and the
/// `facts` (build args, platform, engine) in order. Secrets are named by id
/// only; their contents never enter the hash, so never a label.
pub fn inputs_hash(context: &Path, containerfile: &Path, facts: &[String]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"goapp-inputs-v1\0");
    let cf = std::fs::read(containerfile).with_context(|| format!("reading {}", containerfile.display()))?;
    h.update((cf.len() as u64).to_le_bytes());
    h.update(&cf);
    for f in facts {
        h.update(f.as_bytes());
        h.update([0]);
    }
    hash_context(context, &mut h)?;
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of a digest (sha2 0.11 has no `{:x}`).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
        let a = inputs_hash(d.path(), &cf, &facts).unwrap();
        std::fs::write(d.path().join("x.log"), "noise").unwrap();
        assert_eq!(a, inputs_hash(d.path(), &cf, &facts).unwrap());
        std::fs::write(d.path().join("main.go"), "package main // changed\n").unwrap();
        let b = inputs_hash(d.path(), &cf, &facts).unwrap();
        assert_ne!(a, b);
        assert_ne!(b, inputs_hash(d.path(), &cf, &["TAG_GOVER=1.21.14".to_string()]).unwrap());
        assert_eq!(b.len(), 64);
    }
}
