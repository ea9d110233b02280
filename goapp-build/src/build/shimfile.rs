//! Shimmed Containerfiles, kept by content under the cache
//! (`shims/<hash>.Containerfile`): reproducible, shown by `--dry-run`, never
//! in the user's tree. An entry is trusted only when its bytes are exactly
//! what its name promises; anything else (a truncated write, an edit) is
//! replaced, atomically.

use crate::build::inputs::{digest_context, hex};
use crate::build::plan::{ShimArg, ShimValue};
use crate::containerfile::bindkey::{BindKey, BindSource};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `text` under `dir` unless an intact copy is there; returns its path.
pub fn materialize(dir: &Path, text: &str) -> Result<PathBuf> {
    let digest = hex(&Sha256::digest(text.as_bytes()));
    let path = dir.join(format!("{}.Containerfile", &digest[..16]));
    match crate::core::fs::read_bytes(&path, "the cached shim") {
        Ok(bytes) if bytes == text.as_bytes() => return Ok(path),
        Ok(_) => eprintln!(
            "goapp: the cached shim {} does not hold what its name says (damaged or edited): writing it again",
            path.display()
        ),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing a shimmed Containerfile in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path)
        .with_context(|| format!("saving the shimmed Containerfile {}", path.display()))?;
    Ok(path)
}

/// The Containerfile a build uses, after preflight.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The file given to the engine (the original, or the shimmed copy).
    pub file: PathBuf,
    /// Its text: what the inputs hash covers.
    pub text: String,
    /// The bind-mount keys its shim declared.
    pub bind_keys: Vec<BindKey>,
    /// What preflight has to say (lints, shims applied), for when it builds.
    pub notes: Vec<String>,
    /// The secrets and agent it mounts.
    pub uses: crate::containerfile::mounts::Uses,
}

/// Hashes the context with the file to build (one walk, stat-cached) and
/// sets each bind-mount key from the content it stands for. Returns the
/// inputs digest and the build args.
pub fn digest_with_keys(
    context: &Path,
    p: &Prepared,
    cache_dir: Option<&Path>,
) -> Result<(String, Vec<ShimArg>)> {
    let mut parts: Vec<String> = p
        .bind_keys
        .iter()
        .flat_map(|k| &k.sources)
        .filter_map(|s| match s {
            BindSource::Context(sub) => Some(sub.clone().unwrap_or_default()),
            BindSource::Inputs => None,
        })
        .collect();
    parts.sort();
    parts.dedup();
    let d = digest_context(context, p.text.as_bytes(), &parts, cache_dir)?;
    let args = p
        .bind_keys
        .iter()
        .map(|k| ShimArg {
            name: k.arg.clone(),
            value: key_value(k, &d.parts),
        })
        .collect();
    Ok((d.inputs, args))
}

/// One digest for everything a step mounts.
fn key_value(k: &BindKey, parts: &BTreeMap<String, String>) -> ShimValue {
    let mut digests = Vec::new();
    for s in &k.sources {
        match s {
            BindSource::Inputs => return ShimValue::Inputs,
            BindSource::Context(sub) => {
                digests.push(parts[sub.as_deref().unwrap_or("")].as_str());
            }
        }
    }
    match digests.as_slice() {
        [one] => ShimValue::Fixed(one.to_string()),
        many => ShimValue::Fixed(format!(
            "sha256:{}",
            hex(&Sha256::digest(many.join(",").as_bytes()))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_entry_is_written_again() {
        let d = tempfile::tempdir().unwrap();
        let text = "FROM scratch\nCOPY a /a\n";
        let p = materialize(d.path(), text).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        std::fs::write(&p, "FROM scr").unwrap();
        assert_eq!(materialize(d.path(), text).unwrap(), p);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            text,
            "truncated: rewritten"
        );
        std::fs::write(&p, "FROM scratch\nCOPY b /a\n").unwrap();
        materialize(d.path(), text).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            text,
            "edited: rewritten"
        );
        let leftovers = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
