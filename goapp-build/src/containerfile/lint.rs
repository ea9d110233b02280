//! `cargo xtask lint`: the preflight checks and lints alone, printed as
//! `path:line: severity: message`.

use crate::containerfile::preflight::{self, Severity};
use crate::containerfile::Containerfile;
use crate::core::arch::Arch;
use crate::engine::caps::{self, Capabilities};
use crate::engine::{BuildFront, EngineKind};
use crate::session::Session;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

/// Options of `lint`.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Apps whose Containerfiles to check, as `image` takes them.
    pub apps: Vec<String>,
    /// `--all`: every configured app.
    pub all: bool,
    /// Files; with neither apps nor files: the apps a build here would build.
    pub files: Vec<PathBuf>,
    /// `--arch`.
    pub arch: Option<Vec<Arch>>,
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// `--strict`: warnings fail too.
    pub strict: bool,
    /// `--no-shims`: report what a shim would fix as an error.
    pub no_shims: bool,
    /// `--no-cross-compile`: check the file as built without the
    /// cross-compilation shim.
    pub no_cross_compile: bool,
}

/// Runs the checks; returns how many findings block (errors, and warnings with `--strict`).
pub fn run(s: &Session, o: &LintOptions, out: &mut dyn Write) -> Result<usize> {
    let targets = targets(s, o)?;
    let host = s.host_arch()?;
    let caps = match s.engine(o.engine) {
        Ok(e) => caps::detect(&e, &s.env.cache_dir()),
        Err(e) => {
            // Lints do not need an engine; capability checks then assume the oldest we support.
            writeln!(
                out,
                "note: {e:#}; checking against podman 4.3.1's abilities"
            )?;
            caps::from_version(
                o.engine.unwrap_or(EngineKind::Podman),
                BuildFront::Podman,
                "4.3.1",
            )
        }
    };
    let mut blocking = 0;
    for (path, arches) in &targets {
        blocking += check_one(path, arches, host, &caps, o, out)?;
    }
    Ok(blocking)
}

/// What to check, and for which architectures: the files named (for the
/// current directory's app's architectures), and the apps named, else the
/// apps a build here would build (at the top of a monorepo: every
/// configured app).
fn targets(s: &Session, o: &LintOptions) -> Result<Vec<(PathBuf, Vec<Arch>)>> {
    let arch_flag = o.arch.as_deref();
    let mut targets: Vec<(PathBuf, Vec<Arch>)> = Vec::new();
    if !o.files.is_empty() {
        let here = s
            .config
            .as_ref()
            .map(|c| c.app_containing(&s.cwd))
            .transpose()?
            .flatten();
        let app = match here {
            Some(app) => app,
            None => {
                let defaults = s.config.as_ref().map(|c| c.file.defaults.clone());
                crate::config::adhoc_app(&s.cwd, &defaults.unwrap_or_default())
            }
        };
        let arches = s.arches(arch_flag, &app)?;
        targets.extend(o.files.iter().map(|f| (f.clone(), arches.clone())));
    }
    if !o.apps.is_empty() || o.all || o.files.is_empty() {
        for a in s.apps(&o.apps, o.all)? {
            targets.push((a.containerfile.clone(), s.arches(arch_flag, &a)?));
        }
    }
    Ok(targets)
}

/// Checks one Containerfile, prints its findings (or that it is ok) and
/// returns how many block.
fn check_one(
    path: &PathBuf,
    arches: &[Arch],
    host: Arch,
    caps: &Capabilities,
    o: &LintOptions,
    out: &mut dyn Write,
) -> Result<usize> {
    let text = crate::core::fs::read_text(path, "the Containerfile")?;
    let file =
        Containerfile::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
    let cx = preflight::Context {
        path,
        caps,
        arches,
        host,
        shims: !o.no_shims,
        cross_compile: !o.no_cross_compile,
        no_cache: false,
        cgo_build_arg: None,
    };
    let outcome = preflight::check(&text, &file, &cx);
    for f in &outcome.findings {
        writeln!(out, "{f}")?;
    }
    let blocking = outcome.blocking(o.strict).len();
    if outcome
        .findings
        .iter()
        .all(|f| f.severity == Severity::Note)
    {
        writeln!(
            out,
            "{}: ok ({} for {})",
            path.display(),
            describe(caps),
            arches
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(",")
        )?;
    }
    Ok(blocking)
}

/// `podman 4.3.1`.
pub(crate) fn describe(c: &Capabilities) -> String {
    format!("{} {}", c.kind, c.version)
}
