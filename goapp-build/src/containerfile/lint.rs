//! `cargo xtask lint`: the preflight checks and lints alone, printed as
//! `path:line: severity: message`.

use crate::config::App;
use crate::containerfile::ignore::{invalid_patterns, IgnoreRules};
use crate::containerfile::preflight::{self, Severity};
use crate::containerfile::steps::ContextDir;
use crate::containerfile::Containerfile;
use crate::core::arch::Arch;
use crate::engine::caps::{self, Capabilities};
use crate::engine::EngineKind;
use crate::session::Session;
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// One file to check, with the app whose build it is part of.
struct Target {
    path: PathBuf,
    app: App,
    arches: Vec<Arch>,
}

/// Runs the checks; returns how many findings block (errors, and warnings with `--strict`).
pub fn run(s: &Session, o: &LintOptions, out: &mut dyn Write) -> Result<usize> {
    let targets = targets(s, o)?;
    let host = s.host_arch()?;
    let caps = match s.engine(o.engine) {
        Ok(e) => caps::detect(&e, &s.env.cache_dir()),
        Err(e) => {
            // Lints do not need an engine; capability checks then assume the oldest we support.
            let assumed = caps::oldest(o.engine.unwrap_or_default());
            writeln!(
                out,
                "note: {e:#}; checking against {} {}'s abilities",
                assumed.kind, assumed.version
            )?;
            assumed
        }
    };
    let mut blocking = 0;
    for t in &targets {
        blocking += check_one(s, t, host, &caps, o, out)?;
    }
    Ok(blocking)
}

/// What to check, and for which architectures: the files named (each with
/// the app whose directory holds it, else the current directory's app),
/// and the apps named, else the apps a build here would build (at the top
/// of a monorepo: every configured app).
fn targets(s: &Session, o: &LintOptions) -> Result<Vec<Target>> {
    let arch_flag = o.arch.as_deref();
    let mut targets = Vec::new();
    for f in &o.files {
        // Shown as given; read from where it is.
        let path = match s.cwd.join(f).is_dir() {
            true => crate::config::default_containerfile(f),
            false => f.clone(),
        };
        let dir = crate::config::normalize(&s.cwd.join(&path));
        let dir = dir.parent().unwrap_or(&s.cwd).to_path_buf();
        let app = app_for(s, &dir)?;
        let arches = s.arches(arch_flag, &app)?;
        targets.push(Target { path, app, arches });
    }
    if !o.apps.is_empty() || o.all || o.files.is_empty() {
        for app in s.apps(&o.apps, o.all)? {
            let arches = s.arches(arch_flag, &app)?;
            targets.push(Target {
                path: app.containerfile.clone(),
                app,
                arches,
            });
        }
    }
    Ok(targets)
}

/// The configured app holding `dir` (else the one holding the working
/// directory), else `dir` as an app of its own.
fn app_for(s: &Session, dir: &Path) -> Result<App> {
    if let Some(c) = &s.config {
        for d in [dir, s.cwd.as_path()] {
            if let Some(app) = c.app_containing(d)? {
                return Ok(app);
            }
        }
    }
    let defaults = s.config.as_ref().map(|c| c.file.defaults.clone());
    Ok(crate::config::adhoc_app(dir, &defaults.unwrap_or_default()))
}

/// Checks one Containerfile, prints its findings (or that it is ok) and
/// returns how many block.
fn check_one(
    s: &Session,
    t: &Target,
    host: Arch,
    caps: &Capabilities,
    o: &LintOptions,
    out: &mut dyn Write,
) -> Result<usize> {
    let path = &t.path;
    let text = crate::core::fs::read_text(path, "the Containerfile")?;
    let file =
        Containerfile::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?;
    // What `image` would pass: the app's build args, its main package, its
    // cross_compile setting, its context for Makefiles and scripts.
    let args = preflight::app_build_args(&t.app, &t.app.build_args, &s.env);
    let cx = preflight::Context {
        path,
        caps,
        arches: &t.arches,
        host,
        shims: !o.no_shims,
        cross_compile: t.app.cross_compile && !o.no_cross_compile,
        no_cache: false,
        build_args: &args,
        files: &ContextDir(&t.app.context),
    };
    let outcome = preflight::check(&text, &file, &cx);
    for f in &outcome.findings {
        writeln!(out, "{f}")?;
    }
    // The ignore file `image` would give the engine: a pattern it refuses
    // stops the build at the first COPY.
    let bad_ignore = ignore_problems(&t.app.context, path, caps)?;
    for line in &bad_ignore {
        writeln!(out, "{line}")?;
    }
    let blocking = outcome.blocking(o.strict).len() + bad_ignore.len();
    if bad_ignore.is_empty()
        && outcome
            .findings
            .iter()
            .all(|f| f.severity == Severity::Note)
    {
        writeln!(
            out,
            "{}: ok ({} for {})",
            path.display(),
            describe(caps),
            t.arches
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
/// Each pattern of the ignore file the engine reads for a build of `path`
/// in `context` that its matcher refuses, as an error line.
fn ignore_problems(context: &Path, path: &Path, caps: &Capabilities) -> Result<Vec<String>> {
    let (_, file) = IgnoreRules::for_build(context, path, caps.ignore_files)?;
    Ok(file
        .map(|f| {
            invalid_patterns(&f.text)
                .into_iter()
                .map(|(line, pattern, why)| {
                    format!(
                        "{}:{line}: error: the pattern `{pattern}` is not valid ({why}): the engine would stop at the first COPY; write `\\[` for a bracket itself, or fix the pattern",
                        f.path.display()
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}
