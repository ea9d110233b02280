//! `cargo xtask lint`: the preflight checks and lints alone, printed as
//! `path:line: severity: message`.

use crate::arch::{self, Arch};
use crate::caps::{self, Capabilities};
use crate::containerfile::Containerfile;
use crate::engine::{BuildFront, EngineKind};
use crate::image::Session;
use crate::preflight::{self, Severity};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

/// Options of `lint`.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Files; empty: the Containerfile of the current app.
    pub files: Vec<PathBuf>,
    /// `--arch`.
    pub arch: Option<String>,
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// `--strict`: warnings fail too.
    pub strict: bool,
    /// `--no-shims`: report what a shim would fix as an error.
    pub no_shims: bool,
}

/// Runs the checks; returns how many findings block (errors, and warnings with `--strict`).
pub fn run(s: &Session, o: &LintOptions, out: &mut dyn Write) -> Result<usize> {
    let files = if o.files.is_empty() { s.apps(&[])?.into_iter().map(|a| a.containerfile).collect() } else { o.files.clone() };
    let apps = s.apps(&[]).unwrap_or_default();
    let arches: Vec<Arch> = match &o.arch {
        Some(list) => arch::parse_list(list).context("--arch")?,
        None => match apps.first() {
            Some(app) => s.arches(None, app)?,
            None => vec![Arch::host()?],
        },
    };
    let host = Arch::host()?;
    let caps = match s.engine(o.engine) {
        Ok(e) => caps::detect(&e, &s.env.cache_dir()),
        Err(e) => {
            // Lints do not need an engine; capability checks then assume the oldest we support.
            writeln!(out, "note: {e:#}; checking against podman 4.3.1's abilities")?;
            caps::from_version(o.engine.unwrap_or(EngineKind::Podman), BuildFront::Podman, "4.3.1")
        }
    };
    let mut blocking = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}: check the path", path.display()))?;
        let file = Containerfile::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
        let cx = preflight::Context { path, caps: &caps, arches: &arches, host, shims: !o.no_shims };
        let outcome = preflight::check(&text, &file, &cx);
        for f in &outcome.findings {
            writeln!(out, "{f}")?;
        }
        blocking += outcome.blocking(o.strict).len();
        if outcome.findings.iter().all(|f| f.severity == Severity::Note) {
            writeln!(out, "{}: ok ({} for {})", path.display(), describe(&caps), arches.iter().map(|a| a.name()).collect::<Vec<_>>().join(","))?;
        }
    }
    Ok(blocking)
}

/// `podman 4.3.1`.
pub fn describe(c: &Capabilities) -> String {
    format!("{} {}", c.kind, c.version)
}
