//! Shimmed Containerfiles, kept by content under the cache
//! (`shims/<hash>.Containerfile`): reproducible, shown by `--dry-run`, never
//! in the user's tree. An entry is trusted only when its bytes are exactly
//! what its name promises; anything else (a truncated write, an edit) is
//! replaced, atomically.

use crate::build::inputs::{digest_context, hex, EngineView};
use crate::build::plan::{ShimArg, ShimValue};
use crate::containerfile::bindkey::{BindKey, BindSource};
use crate::containerfile::mounts::MountKind;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `text` under `dir` unless an intact copy is there; returns its
/// path. `ignore`: the text of the original's own ignore file
/// (`<Containerfile>.dockerignore`), which both engines read only beside the
/// file they build: the shim gets a copy beside it (both read
/// `<file>.dockerignore` first), and its name covers that text too.
pub(crate) fn materialize(dir: &Path, text: &str, ignore: Option<&str>) -> Result<PathBuf> {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    if let Some(ignore) = ignore {
        h.update(b"\0<file>.dockerignore\0");
        h.update(ignore.as_bytes());
    }
    let digest = hex(&h.finalize());
    let path = dir.join(format!("{}.Containerfile", &digest[..16]));
    let sibling = |ext: &str| {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The ignore file first: a shim is only found whole once both are right.
    match ignore {
        Some(ignore) => write_verified(dir, &sibling(".dockerignore"), ignore)?,
        None => {
            for ext in [".dockerignore", ".containerignore"] {
                remove_stray(&sibling(ext))?;
            }
        }
    }
    write_verified(dir, &path, text)?;
    Ok(path)
}

/// Writes `text` to `path` (atomically) unless it already holds exactly that.
fn write_verified(dir: &Path, path: &Path, text: &str) -> Result<()> {
    match crate::core::fs::read_bytes(path, "the cached shim") {
        Ok(bytes) if bytes == text.as_bytes() => return Ok(()),
        Ok(_) => eprintln!(
            "goapp: the cached shim {} does not hold what its name says (damaged or edited): writing it again",
            path.display()
        ),
        Err(_) => {}
    }
    crate::core::fs::write_atomic(path, text.as_bytes()).with_context(|| {
        format!(
            "writing the shimmed Containerfile {} in {}",
            path.display(),
            dir.display()
        )
    })
}

/// An ignore file beside a shim that should have none (a damaged cache)
/// would change what the engine sends: removed.
fn remove_stray(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            eprintln!(
                "goapp: removed {}, which the cached shim beside it does not call for",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// The Containerfile a build uses, after preflight.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
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
    /// How the engine shows the context to it.
    pub view: EngineView,
    /// The ignore file to name to the engine (podman's `--ignorefile`).
    pub ignore_file: Option<PathBuf>,
}

/// Hashes the context with the file to build (one walk, stat-cached) and
/// sets each bind-mount key from the content it stands for. Returns the
/// inputs digest (covering what the binds show), the build args, and the
/// files a docker build must touch first ([`crate::build::inputs::ContextDigests::kept_stat`]).
pub(crate) fn digest_with_keys(
    context: &Path,
    p: &Prepared,
    cache_dir: Option<&Path>,
) -> Result<(String, Vec<ShimArg>, Vec<PathBuf>)> {
    let mut parts: Vec<String> = p
        .bind_keys
        .iter()
        .flat_map(|k| &k.sources)
        .filter_map(|s| match s {
            BindSource::Context(sub) => Some(sub.clone().unwrap_or_default()),
            BindSource::Inputs => None,
        })
        .collect();
    // What a bind of the context shows is an input where it is not what
    // `COPY` sees (podman: ignored files too), keyed by the engine or not.
    let shown = if p.view.bind_host_dir {
        context_binds(&p.text)
    } else {
        Vec::new()
    };
    parts.extend(shown.iter().cloned());
    parts.sort();
    parts.dedup();
    let d = digest_context(context, p.text.as_bytes(), &parts, cache_dir, &p.view)?;
    let args = p
        .bind_keys
        .iter()
        .map(|k| ShimArg {
            name: k.arg.clone(),
            value: key_value(k, &d.parts),
        })
        .collect::<Vec<_>>();
    let mut h = Sha256::new();
    h.update(d.inputs.as_bytes());
    for b in &shown {
        h.update([0]);
        h.update(b.as_bytes());
        h.update(b"=");
        h.update(d.parts[b].as_bytes());
    }
    let inputs = if shown.is_empty() {
        d.inputs
    } else {
        hex(&h.finalize())
    };
    Ok((inputs, args, d.kept_stat))
}

/// Every bind mount of the build context in `text` (`""`: all of it), by
/// `source=` as the bind keys name it.
fn context_binds(text: &str) -> Vec<String> {
    let Ok(file) = crate::containerfile::Containerfile::parse(text) else {
        return Vec::new();
    };
    let mut out: Vec<String> = file
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .flat_map(|i| i.typed_mounts())
        .filter(|m| m.kind == MountKind::Bind && m.from.is_none())
        .map(|m| m.context_subpath().unwrap_or_default())
        .collect();
    out.sort();
    out.dedup();
    out
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
        let p = materialize(d.path(), text, None).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        std::fs::write(&p, "FROM scr").unwrap();
        assert_eq!(materialize(d.path(), text, None).unwrap(), p);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            text,
            "truncated: rewritten"
        );
        std::fs::write(&p, "FROM scratch\nCOPY b /a\n").unwrap();
        materialize(d.path(), text, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            text,
            "edited: rewritten"
        );
        let leftovers = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn the_originals_own_ignore_file_goes_beside_the_shim() {
        let d = tempfile::tempdir().unwrap();
        let text = "FROM scratch\nCOPY . /\n";
        let plain = materialize(d.path(), text, None).unwrap();
        let with = materialize(d.path(), text, Some("secret.env\n")).unwrap();
        assert_ne!(plain, with, "the ignore file is part of the shim's name");
        let beside = |p: &Path| std::fs::read_to_string(format!("{}.dockerignore", p.display()));
        assert_eq!(beside(&with).unwrap(), "secret.env\n");
        assert!(beside(&plain).is_err());
        std::fs::write(format!("{}.dockerignore", with.display()), "").unwrap();
        materialize(d.path(), text, Some("secret.env\n")).unwrap();
        assert_eq!(beside(&with).unwrap(), "secret.env\n", "emptied: rewritten");
        std::fs::write(format!("{}.containerignore", plain.display()), "x").unwrap();
        materialize(d.path(), text, None).unwrap();
        assert!(
            std::fs::metadata(format!("{}.containerignore", plain.display())).is_err(),
            "a stray ignore file beside a shim is removed"
        );
    }

    /// podman ≥ 5.4 keys an explicit `type=bind` itself (no shim arg), but
    /// the bind still shows ignored files: their change is a change.
    #[test]
    fn what_a_keyed_bind_shows_is_an_input() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("note.txt"), "1").unwrap();
        std::fs::write(d.path().join("main.go"), "package main").unwrap();
        let prepared = |host| Prepared {
            file: d.path().join("Containerfile"),
            text: "FROM g\nRUN --mount=type=bind,target=/m cat /m/note.txt\n".into(),
            bind_keys: Vec::new(),
            notes: Vec::new(),
            uses: Default::default(),
            view: EngineView {
                rules: crate::containerfile::ignore::IgnoreRules::parse("note.txt\n"),
                bind_host_dir: host,
            },
            ignore_file: None,
        };
        for host in [true, false] {
            let p = prepared(host);
            let (a, _, _) = digest_with_keys(d.path(), &p, None).unwrap();
            std::fs::write(d.path().join("note.txt"), format!("2 {host}")).unwrap();
            let (b, _, _) = digest_with_keys(d.path(), &p, None).unwrap();
            assert_eq!(a != b, host, "host={host}");
        }
    }
}
