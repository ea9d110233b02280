//! The `image` task: select apps, resolve everything a build depends on,
//! plan, then print (`--dry-run`) or run the builds.

pub mod ignore;
pub mod inputs;
pub mod plan;
pub mod proxy;
pub mod secrets;
pub mod shimfile;

use crate::build::plan::{plan_build, unlock_hint, ArchBuild, BuildInputs, BuildPlan};
use crate::build::proxy::ProxyEnv;
use crate::build::shimfile::Prepared;
use crate::config::App;
use crate::core::arch::Arch;
use crate::engine::{Engine, EngineKind};
use crate::go::resolve::ResolvedGo;
use crate::process::runner::{self, Job};
use crate::session::{Common, Session};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Options of `cargo xtask image`.
#[derive(Clone, Debug, Default)]
pub struct ImageOptions {
    /// App names; empty: the app of the current directory.
    pub apps: Vec<String>,
    /// `--tag REPO:TAG`.
    pub tag: Option<String>,
    /// `--arch amd64,arm64`.
    pub arch: Option<String>,
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--force`: build even when the image's inputs are unchanged.
    pub force: bool,
    /// `--strict`: lint warnings stop the build.
    pub strict: bool,
    /// `--no-cache`: the engine rebuilds every step (implies `--force`).
    pub no_cache: bool,
    /// `--no-shims`: never rewrite the Containerfile; stop instead.
    pub no_shims: bool,
    /// Config and Go options.
    pub common: Common,
}

/// What a finished `image` run produced.
#[derive(Debug, Default)]
pub struct ImageReport {
    /// The images built, `repository:tag-<arch>`.
    pub images: Vec<String>,
    /// The images that were already up to date.
    pub up_to_date: Vec<String>,
}

/// Every check that needs neither the network nor the engine, for every
/// selected app, so that a typo is reported before anything slow (resolving
/// Go, asking the engine): image names, architectures, the context and the
/// Containerfile (present and parseable).
pub fn validate(s: &Session, o: &ImageOptions) -> Result<()> {
    let apps = s.apps(&o.apps)?;
    image_refs(o.tag.as_deref(), &apps)?;
    for app in &apps {
        s.arches(o.arch.as_deref(), app)?;
        let path = app_files(s, app)?;
        let text = crate::core::fs::read_text(&path, "the Containerfile")?;
        crate::containerfile::Containerfile::parse(&text).map_err(|e| {
            anyhow::anyhow!("{}:{e}", path.display()).context("the Containerfile cannot be parsed")
        })?;
    }
    Ok(())
}

/// The app's context (a directory) and the Containerfile it builds with
/// (the proxy one behind a proxy, when it has one), which must exist.
fn app_files(s: &Session, app: &App) -> Result<std::path::PathBuf> {
    if !app.context.is_dir() {
        bail!(
            "the build context {} of app '{}' is not a directory: fix `context:` in the config",
            app.context.display(),
            app.name
        );
    }
    let containerfile = match (ProxyEnv::from_env(&s.env), &app.proxy_containerfile) {
        (Some(_), Some(p)) => p.clone(),
        _ => app.containerfile.clone(),
    };
    // A FIFO or directory is not "missing": reading it says what it is.
    if std::fs::symlink_metadata(&containerfile).is_err() {
        bail!(
            "no Containerfile at {}: create it, or set `containerfile:` for app '{}' in the config",
            containerfile.display(),
            app.name
        );
    }
    Ok(containerfile)
}

/// Gathers the inputs of one app's build: checks files, reads the
/// environment. Errors here are the user's to fix, one sentence each.
pub fn gather(
    s: &Session,
    o: &ImageOptions,
    app: &App,
    image: (String, String),
    engine: &Engine,
    go: &ResolvedGo,
    host: Arch,
) -> Result<BuildInputs> {
    let (repository, tag) = image;
    let proxy = ProxyEnv::from_env(&s.env);
    let containerfile = app_files(s, app)?;
    let arches = s.arches(o.arch.as_deref(), app)?;
    let prepared = preflight(
        s,
        engine,
        &containerfile,
        &arches,
        host,
        o.strict,
        !o.no_shims,
    )?;
    let mut secret_files: Vec<_> = secrets::goenv(&s.env).into_iter().collect();
    if proxy.is_some() {
        secret_files.extend(secrets::netrc(&s.env));
        secret_files.push(secrets::certs(&s.env));
    }
    let goprivate = app
        .goprivate
        .clone()
        .or_else(|| s.env.var("GOPRIVATE").map(str::to_string))
        .unwrap_or_default();
    let main_package = s
        .env
        .var("MAIN_PKG_PATH")
        .map(str::to_string)
        .unwrap_or_else(|| app.main_package.clone());
    let (context_digest, shim_args) =
        shimfile::digest_with_keys(&app.context, &prepared, Some(&s.env.cache_dir()))?;
    Ok(BuildInputs {
        app: app.name.clone(),
        context: app.context.clone(),
        containerfile: prepared.file,
        repository,
        tag,
        main_package,
        goprivate,
        go_version: go.version,
        arches,
        host_arch: host,
        engine: engine.clone(),
        proxy,
        secrets: secret_files,
        agent: secrets::agent_socket(&s.env),
        ssh_key: secrets::ssh_key(&s.env, s.ssh_key_setting().as_deref()),
        build_args: app.build_args.clone(),
        context_digest,
        shim_args,
        no_cache: o.no_cache,
    })
}

/// Checks the Containerfile against the engine and established practice;
/// prints notes and warnings; stops on errors (and, if strict, warnings).
/// Returns the file to build: the original, or its shimmed rewrite.
pub fn preflight(
    s: &Session,
    engine: &Engine,
    path: &Path,
    arches: &[Arch],
    host: Arch,
    strict: bool,
    shims: bool,
) -> Result<Prepared> {
    let text = crate::core::fs::read_text(path, "the Containerfile")?;
    let file = crate::containerfile::Containerfile::parse(&text).map_err(|e| {
        anyhow::anyhow!("{}:{e}", path.display()).context("the Containerfile cannot be parsed")
    })?;
    let caps = crate::engine::caps::detect(engine, &s.env.cache_dir());
    let cx = crate::containerfile::preflight::Context {
        path,
        caps: &caps,
        arches,
        host,
        shims,
    };
    let outcome = crate::containerfile::preflight::check(&text, &file, &cx);
    let blocking = outcome.blocking(strict);
    if !blocking.is_empty() {
        let lines: Vec<String> = blocking.iter().map(|f| f.to_string()).collect();
        let what = if strict
            && blocking
                .iter()
                .all(|f| f.severity == crate::containerfile::preflight::Severity::Warning)
        {
            "--strict stops on lint warnings"
        } else {
            "the engine cannot build this file as it is"
        };
        bail!(
            "{} stopped before the engine started ({what}):\n{}",
            path.display(),
            lines.join("\n")
        );
    }
    for f in &outcome.findings {
        eprintln!("{f}");
    }
    let Some(shimmed) = outcome.shimmed else {
        return Ok(Prepared {
            file: path.to_path_buf(),
            text,
            bind_keys: outcome.bind_keys,
        });
    };
    let shim = shimfile::materialize(&s.env.cache_dir().join("shims"), &shimmed)?;
    eprintln!(
        "goapp: building {} through its shimmed copy {}",
        path.display(),
        shim.display()
    );
    Ok(Prepared {
        file: shim,
        text: shimmed,
        bind_keys: outcome.bind_keys,
    })
}

/// `(repository, tag)` of each app's images. `--tag` names one image, so
/// it goes with one app only.
pub fn image_refs(tag: Option<&str>, apps: &[App]) -> Result<Vec<(String, String)>> {
    if tag.is_some() && apps.len() > 1 {
        bail!(
            "--tag names one image but {} apps are selected: give one app with --tag",
            apps.len()
        );
    }
    apps.iter().map(|a| image_ref(tag, a)).collect()
}

/// `(repository, tag)` of an app's images: `--tag`, else the config's.
fn image_ref(tag: Option<&str>, app: &App) -> Result<(String, String)> {
    let (repository, tag) = match tag {
        Some(t) => {
            let r: crate::core::names::ImageRef = t.parse()?;
            (r.repository, r.tag)
        }
        None => match &app.tag {
            Some(tag) => (app.repository.clone(), tag.clone()),
            None => bail!("no tag for app '{}': pass --tag REPO:TAG (e.g. --tag {}:0.0.3) or set `tag:` for it in the config", app.name, app.repository),
        },
    };
    crate::core::names::check_repository(&repository)?;
    Ok((repository, tag))
}

/// Plans every selected app for `engine`. Nothing runs yet.
pub fn plan(s: &Session, o: &ImageOptions, engine: &Engine) -> Result<Vec<(App, BuildPlan)>> {
    validate(s, o)?;
    let apps = s.apps(&o.apps)?;
    let refs = image_refs(o.tag.as_deref(), &apps)?;
    let host = s.host_arch()?;
    let resolver = s.go_resolver(&o.common);
    let mut plans = Vec::new();
    for (app, image) in apps.into_iter().zip(refs) {
        let go = s.resolve_go(&resolver, &app)?;
        let inputs = gather(s, o, &app, image, engine, &go, host)?;
        let plan = plan_build(&inputs);
        if let Some(e) = plan.errors.first() {
            bail!("{e}");
        }
        plans.push((app, plan));
    }
    Ok(plans)
}

/// Runs `image`: finds the engine, plans, then prints or builds.
pub fn run(s: &Session, o: &ImageOptions, out: &mut dyn std::io::Write) -> Result<ImageReport> {
    validate(s, o)?;
    run_with(s, o, &s.engine(o.engine)?, out)
}

/// The builds among `builds` whose image is missing or was built from other
/// inputs (its label differs).
pub fn stale<'a>(engine: &Engine, builds: &[&'a ArchBuild]) -> Vec<&'a ArchBuild> {
    let current = labels(engine, builds.iter().map(|b| b.image.as_str()));
    builds
        .iter()
        .zip(current)
        .filter(|(b, l)| l.as_deref() != Some(b.inputs.as_str()))
        .map(|(b, _)| *b)
        .collect()
}

/// Runs `image` with an engine already found.
pub fn run_with(
    s: &Session,
    o: &ImageOptions,
    engine: &Engine,
    out: &mut dyn std::io::Write,
) -> Result<ImageReport> {
    let plans = plan(s, o, engine)?;
    for (_, p) in &plans {
        for w in &p.warnings {
            eprintln!("goapp: warning: {w}");
        }
    }
    if o.dry_run {
        for (_, p) in &plans {
            for line in p.dry_run_lines() {
                writeln!(out, "{line}")?;
            }
        }
        return Ok(ImageReport::default());
    }
    let mut todo: Vec<(&App, &ArchBuild)> = Vec::new();
    let mut report = ImageReport::default();
    let all: Vec<(&App, &ArchBuild)> = plans
        .iter()
        .flat_map(|(a, p)| p.builds.iter().map(move |b| (a, b)))
        .collect();
    let builds: Vec<&ArchBuild> = all.iter().map(|(_, b)| *b).collect();
    let outdated = if o.force || o.no_cache {
        builds.clone()
    } else {
        stale(engine, &builds)
    };
    for (app, b) in all {
        if outdated.iter().any(|x| std::ptr::eq(*x, b)) {
            todo.push((app, b));
        } else {
            writeln!(
                out,
                "{}  up to date (inputs unchanged; --force rebuilds)",
                b.image
            )?;
            report.up_to_date.push(b.image.clone());
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    // One unlock check is enough: every plan uses the same agent and key.
    if let Some(u) = plans.iter().find_map(|(_, p)| p.unlock.as_ref()) {
        ensure_unlocked(u, s.env.stdin_tty)?;
    }
    let log_dir = s.log_dir();
    let jobs: Vec<Job> = todo
        .iter()
        .map(|(app, b)| Job {
            label: format!("{}/{}", app.name, b.arch),
            cmd: b.cmd.clone(),
            log: runner::log_path(&log_dir, &app.name, b.arch.name()),
            retry_once_if: Some(engine_race),
        })
        .collect();
    let started = std::time::Instant::now();
    let outcomes = runner::run_all(jobs, s.env.stderr_tty);
    let mut failures = Vec::new();
    for (o, (_, b)) in outcomes.into_iter().zip(&todo) {
        match o.result {
            Ok(()) => {
                writeln!(out, "{}  built in {:.1}s", b.image, o.elapsed.as_secs_f64())?;
                report.images.push(b.image.clone());
            }
            Err(e) => {
                writeln!(
                    out,
                    "{}  FAILED after {:.1}s (log: {})",
                    b.image,
                    o.elapsed.as_secs_f64(),
                    o.log.display()
                )?;
                failures.push(format!("{e:#}"));
            }
        }
    }
    writeln!(
        out,
        "total {:.1}s for {} build(s)",
        started.elapsed().as_secs_f64(),
        todo.len()
    )?;
    if !failures.is_empty() {
        bail!(
            "{} of {} builds failed:\n{}",
            failures.len(),
            todo.len(),
            failures.join("\n\n")
        );
    }
    Ok(report)
}

/// buildah races with concurrent image removals (containers/buildah#5615):
/// its cache lookup fails on a layer another process just deleted. That
/// failure says nothing about the Containerfile; the runner retries it once.
fn engine_race(e: &crate::process::error::ProcessError) -> bool {
    let tail = &e.stderr_tail;
    tail.contains("checking if cached image exists from a previous build")
        || tail.contains("layer not known")
}

/// The inputs label of each image (`None` when the image is absent or has
/// none), asked concurrently: each `image inspect` is a process start.
pub fn labels<'a>(engine: &Engine, images: impl Iterator<Item = &'a str>) -> Vec<Option<String>> {
    let format = format!(
        "{{{{index .Config.Labels \"{}\"}}}}",
        crate::build::inputs::LABEL
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = images
            .map(|image| {
                let cmd = engine
                    .cmd()
                    .args(["image", "inspect", "--format", &format, image]);
                scope.spawn(move || {
                    let out = cmd
                        .run_timeout(Some(std::time::Duration::from_secs(60)))
                        .ok()?;
                    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
                    (!v.is_empty() && v != "<no value>").then_some(v)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    })
}

/// Makes sure the agent can use the key: `ssh-add -T`, and if it cannot,
/// `ssh-add` on a terminal; without one, stop and say what to run.
pub fn ensure_unlocked(u: &crate::build::plan::UnlockStep, tty: bool) -> Result<()> {
    let limit = Some(std::time::Duration::from_secs(20));
    if u.check.run_timeout(limit).is_ok() {
        return Ok(());
    }
    if !tty {
        bail!(
            "the ssh key {} is not unlocked in the ssh agent: run `{}` in a terminal, then retry (the build cannot ask for a passphrase)",
            u.private_key.display(),
            unlock_hint(u)
        );
    }
    eprintln!(
        "goapp: the ssh key {} is locked; unlocking it with ssh-add",
        u.private_key.display()
    );
    u.unlock
        .run_interactive()
        .context("unlocking the ssh key")?;
    u.check
        .run_timeout(limit)
        .context("the key is still not usable after ssh-add")?;
    Ok(())
}

/// `cargo xtask go-version`: the version the app would build with.
pub fn go_version(
    s: &Session,
    apps: &[String],
    c: &Common,
) -> Result<crate::go::version::GoVersion> {
    let apps = s.apps(apps)?;
    let [app] = apps.as_slice() else {
        bail!("go-version takes one app, {} given", apps.len());
    };
    let r = s.go_resolver(c);
    Ok(s.resolve_go(&r, app)?.version)
}
