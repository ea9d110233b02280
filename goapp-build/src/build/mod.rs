//! The build side, as an API: what to build (apps × architectures) and a
//! [`Policy`] go in, typed [`BuildResult`]s come out. `image` prints them;
//! `ship` (and later `push`) consumes them and nothing else of this module.
//!
//! Inside: select apps and name their images ([`Builder::new`]), gather each
//! app's inputs and check its Containerfile ([`gather`], [`preflight`]), plan
//! the commands ([`plan::plan_build`], pure), then compare with the local store
//! and run what is stale ([`run`]).

pub(crate) mod failure;
pub(crate) mod index;
pub(crate) mod inputs;
mod naming;
pub(crate) mod plan;
pub(crate) mod proxy;
mod result;
mod run;
pub(crate) mod secrets;
mod shimfile;
pub(crate) mod startable;

pub use result::{BuildResult, Builds, Status};

use crate::build::inputs::EngineView;
use crate::build::plan::{plan_build, BuildInputs, BuildPlan};
use crate::build::proxy::ProxyEnv;
use crate::build::shimfile::Prepared;
use crate::config::App;
use crate::containerfile::ignore::IgnoreRules;
use crate::core::arch::Arch;
use crate::core::names::{ImageRef, ImageTemplate};
use crate::engine::{Engine, EngineKind};
use crate::go::resolve::ResolvedGo;
use crate::session::Session;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to build, as the command line gives it (already typed).
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// App names; empty: the app of the current directory, else the
    /// config's default apps (every app unless it says otherwise).
    pub apps: Vec<String>,
    /// `--all`: every configured app.
    pub all: bool,
    /// `--tag REPO:TAG`: names one app's images; the tag may be a template
    /// (`joke:0.1.0-{git}`).
    pub tag: Option<ImageTemplate>,
    /// `--build-arg K=V`s, over the config's `build_args`.
    pub build_args: BTreeMap<String, String>,
    /// `--arch`: else `TARGET_ARCH`, the app's list, or the host's.
    pub arches: Option<Vec<Arch>>,
    /// `--engine`: else `GOAPP_ENGINE`, the config's, or detected.
    pub engine: Option<EngineKind>,
    /// `--strict`: lint warnings stop the build.
    pub strict: bool,
    /// `--no-cache`: the engine rebuilds every step.
    pub no_cache: bool,
    /// `--no-shims`: never rewrite the Containerfile; stop instead.
    pub no_shims: bool,
    /// `--no-cross-compile`: leave builder stages that run under emulation
    /// where they are.
    pub no_cross_compile: bool,
    /// `-f/--file`: the Containerfile to build the (one) app with, as
    /// `podman build -f` takes it (relative to the working directory).
    pub file: Option<PathBuf>,
    /// `--allow-unstartable`: call an image built even when it cannot start.
    pub allow_unstartable: bool,
}

/// What to do about images that are missing or stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Build those; leave up-to-date images alone.
    BuildIfStale,
    /// Build every image, whatever the store holds (`--force`, `--no-cache`).
    Rebuild,
    /// Build nothing: report each image as up to date or [`Status::Stale`].
    /// Reads the local store only.
    RefuseIfStale,
    /// Plan only: no engine is asked anything; every result is [`Status::Planned`].
    PlanOnly,
}

/// Every selected app's plan, and what the store held of each image when
/// it was made (by its store name).
#[derive(Debug, Default)]
pub(crate) struct Planned {
    pub plans: Vec<(App, BuildPlan)>,
    pub local: BTreeMap<String, Option<crate::engine::store::LocalImage>>,
}

/// One image a request names, before anything is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The app.
    pub app: String,
    /// The architecture.
    pub arch: Arch,
    /// As named: `joke:0.0.3-arm64`.
    pub image: ImageRef,
    /// As the engine stores it: `localhost/joke:0.0.3-arm64`.
    pub reference: String,
    /// The name every architecture's image shares, as the engine stores it
    /// (`localhost/joke:0.0.3`): a manifest list here, the node's own
    /// architecture's image on each node.
    pub index_reference: String,
}

/// Builds a request's images: the apps selected and named, the engine found.
pub struct Builder<'s> {
    session: &'s Session,
    request: Request,
    engine: Engine,
    apps: Vec<Named>,
    /// The proxy settings, read once for the run (their credentials parsed
    /// once, for the redactor).
    proxy: Option<ProxyEnv>,
}

/// What a publisher (`ship`, `push`) may ask of the build side: the names
/// of the images for some architectures, and the images themselves. The
/// command layer hands a publisher one ([`WithPolicy`]): publishers never
/// make a builder, select apps or choose how a stale image is treated.
pub(crate) trait Images: Sync {
    /// The engine that builds and holds the images.
    fn engine(&self) -> &Engine;
    /// Every architecture the selected apps are configured for.
    fn configured_arches(&self) -> Vec<Arch>;
    /// The images' names for `arches` (cheap: nothing is read or run).
    fn targets(&self, arches: &[Arch]) -> Vec<Target>;
    /// The images for `arches`, built or checked as the command chose.
    fn images(&self, arches: &[Arch]) -> Result<Builds>;
}

/// A [`Builder`] with the policy the command chose for it.
pub(crate) struct WithPolicy<'b, 's> {
    /// The build side.
    pub builder: &'b Builder<'s>,
    /// Build what is stale, refuse it, or only plan.
    pub policy: Policy,
}

impl Images for WithPolicy<'_, '_> {
    fn engine(&self) -> &Engine {
        self.builder.engine()
    }
    fn configured_arches(&self) -> Vec<Arch> {
        self.builder.configured_arches()
    }
    fn targets(&self, arches: &[Arch]) -> Vec<Target> {
        self.builder.targets(arches)
    }
    fn images(&self, arches: &[Arch]) -> Result<Builds> {
        self.builder.build(Some(arches), self.policy)
    }
}

/// A selected app, its image name rendered, its build args merged, and its
/// Go version when naming needed it already.
struct Named {
    app: App,
    image: ImageRef,
    build_args: BTreeMap<String, String>,
    go: Option<ResolvedGo>,
}

impl<'s> Builder<'s> {
    /// Selects the apps, names their images, finds the engine. Nothing is
    /// read from the sources yet.
    pub fn new(s: &'s Session, request: Request) -> Result<Builder<'s>> {
        let mut apps = s.apps_tagged(&request.apps, request.all, request.tag.is_some())?;
        if request.tag.is_some() && apps.len() > 1 {
            bail!(
                "--tag names one image but {} apps are selected: give one app with --tag",
                apps.len()
            );
        }
        if let Some(f) = &request.file {
            with_file(s, &mut apps, f)?;
        }
        let written = apps
            .iter()
            .map(|a| naming::template(request.tag.as_ref(), a))
            .collect::<Result<Vec<_>>>()?;
        validate(s, &request, &apps)?;
        let engine = s.engine(request.engine)?;
        let named = apps
            .into_iter()
            .zip(written)
            .map(|(app, t)| name(s, &request, &engine, app, &t))
            .collect::<Result<Vec<_>>>()?;
        Ok(Builder {
            session: s,
            request,
            engine,
            apps: named,
            proxy: ProxyEnv::from_env(&s.env),
        })
    }

    /// The image name (rendered, without an architecture) of a selected app.
    pub fn image_of(&self, app: &str) -> Option<ImageRef> {
        self.apps
            .iter()
            .find(|n| n.app.name == app)
            .map(|n| n.image.clone())
    }

    /// The engine that builds and holds the images.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Every architecture the selected apps are configured for.
    pub fn configured_arches(&self) -> Vec<Arch> {
        let mut v: Vec<Arch> = self
            .apps
            .iter()
            .flat_map(|n| n.app.arch.clone().unwrap_or_default())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The images of every selected app for `arches`, named. Cheap: no file
    /// is read and no process started.
    pub fn targets(&self, arches: &[Arch]) -> Vec<Target> {
        self.apps
            .iter()
            .flat_map(|n| {
                arches.iter().map(move |&arch| {
                    let name = n.image.for_arch(arch);
                    Target {
                        app: n.app.name.clone(),
                        arch,
                        reference: self.engine.stored(&name),
                        image: name,
                        index_reference: self.engine.stored(&n.image),
                    }
                })
            })
            .collect()
    }

    /// Plans every selected app's images for `arches` (else each app's
    /// default architectures), then applies `policy`. A failed build is a
    /// result, not an error; see [`Builds::check`].
    pub fn build(&self, arches: Option<&[Arch]>, policy: Policy) -> Result<Builds> {
        if arches.is_some_and(|a| a.is_empty()) {
            // Nothing asked for (no node answered): nothing to read or hash.
            return run::execute(self.session, &self.engine, &Planned::default(), policy);
        }
        let planned = self.plan(arches)?;
        run::execute(self.session, &self.engine, &planned, policy)
    }

    /// Plans every selected app. Nothing runs yet (the engine is only asked
    /// what its store holds).
    fn plan(&self, arches: Option<&[Arch]>) -> Result<Planned> {
        let s = self.session;
        let resolver = s.go_resolver();
        let mut gathered = Vec::new();
        for n in &self.apps {
            let go = match &n.go {
                Some(go) => go.clone(),
                None => s.resolve_go(&resolver, &n.app)?,
            };
            let arches = s.arches(arches.or(self.request.arches.as_deref()), &n.app)?;
            gathered.push((
                n,
                gather(
                    s,
                    &self.request,
                    n,
                    arches,
                    &self.engine,
                    &go,
                    self.proxy.clone(),
                )?,
            ));
        }
        // What the store holds of the images and their bases, in one engine
        // query: the bases' ids are inputs, so the plans are final (what
        // `--dry-run` prints is what runs).
        let store = run::read_store_and_bases(&self.engine, &gathered);
        let mut plans = Vec::new();
        for (n, mut inputs) in gathered {
            inputs.base_ids = store.base_ids.clone();
            let plan = plan_build(&inputs);
            if let Some(e) = plan.errors.first() {
                bail!("{e}");
            }
            plans.push((n.app.clone(), plan));
        }
        Ok(Planned {
            plans,
            local: store.images,
        })
    }
}

/// The cache and log directories take files, said before any build starts
/// (a build's log could not be written otherwise, and would fail saying
/// nothing). Only when something is built: the probe writes and syncs a
/// file, a no-op's largest cost after the engine's answer.
pub(super) fn usable_dirs(s: &Session) -> Result<()> {
    let cache = s.env.cache_dir();
    // The log directory is made by the first build (its existence says a
    // build started): checked when it is there.
    let logs = Some(s.log_dir()).filter(|d| d.exists());
    for (dir, what) in std::iter::once((cache.clone(), "cache")).chain(logs.map(|d| (d, "log"))) {
        if let Err(e) = crate::core::fs::check_writable(&dir) {
            // A file where the directory (or one above it) should be is
            // not a matter of permissions or space.
            let blocked = dir.ancestors().find(|a| a.exists()).filter(|a| !a.is_dir());
            let fix = match blocked {
                Some(f) => format!("{} is a file, not a directory: move it away", f.display()),
                None => "make it writable or free space there".to_string(),
            };
            bail!(
                "the {what} directory {} is not usable ({e}): {fix}, or set GOAPP_CACHE_DIR to a directory that is (now {})",
                dir.display(),
                cache.display()
            );
        }
    }
    Ok(())
}

/// `-f/--file`: the one selected app builds with that file (behind a
/// proxy too: the file given wins over `proxy_containerfile:`).
fn with_file(s: &Session, apps: &mut [App], file: &Path) -> Result<()> {
    let [app] = apps else {
        bail!(
            "-f/--file names one Containerfile but {} apps are selected: give one app with -f",
            apps.len()
        );
    };
    let path = s.cwd.join(file);
    if !path.is_file() {
        bail!(
            "-f/--file {}: no such file (a path relative to {})",
            file.display(),
            s.cwd.display()
        );
    }
    app.containerfile = crate::config::normalize(&path);
    app.proxy_containerfile = None;
    Ok(())
}

/// Names an app's images: renders its tag (the commit, the sources hash)
/// and merges its build args. The Go version is resolved here only when
/// the tag needs the sources hash; the plan reuses it.
fn name(
    s: &Session,
    request: &Request,
    engine: &Engine,
    app: App,
    t: &ImageTemplate,
) -> Result<Named> {
    let build_args = naming::build_args(&app, &request.build_args)?;
    let mut go = None;
    let image = naming::render(t, &app, || {
        let resolved = s.resolve_go(&s.go_resolver(), &app)?;
        let containerfile = app_files(s, &app)?;
        let cache = s.env.cache_dir();
        let hash = naming::sources_hash(
            &app,
            &containerfile,
            &resolved.version,
            &build_args,
            Some(&cache),
            crate::engine::caps::detect(engine, &cache).ignore_files,
        );
        go = Some(resolved);
        hash
    })?;
    Ok(Named {
        app,
        image,
        build_args,
        go,
    })
}

/// `cargo xtask image`: builds (or with [`Policy::PlanOnly`] prints) the
/// request's images and prints one line per image; an error when any failed.
pub fn image(
    s: &Session,
    request: Request,
    policy: Policy,
    out: &mut dyn std::io::Write,
) -> Result<Builds> {
    let builds = image_results(s, request, policy, out)?;
    builds.check()?;
    Ok(builds)
}

/// [`image`] without the final check: failed builds are results here (see
/// [`Builds::check`]), so a caller can report them all (`--json`).
pub fn image_results(
    s: &Session,
    request: Request,
    policy: Policy,
    out: &mut dyn std::io::Write,
) -> Result<Builds> {
    let mut builds = Builder::new(s, request)?.build(None, policy)?;
    builds.make_indexes(policy != Policy::PlanOnly);
    if policy == Policy::PlanOnly {
        for line in builds.plan_lines() {
            writeln!(out, "{line}")?;
        }
        return Ok(builds);
    }
    builds.print(out)?;
    Ok(builds)
}

/// Every check that needs neither the network nor the engine, for every
/// selected app, so that a typo is reported before anything slow (resolving
/// Go, asking the engine): image names, architectures, the context and the
/// Containerfile (present and parseable).
fn validate(s: &Session, o: &Request, apps: &[App]) -> Result<()> {
    for app in apps {
        s.arches(o.arches.as_deref(), app)?;
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
fn app_files(s: &Session, app: &App) -> Result<PathBuf> {
    if !app.context.is_dir() {
        bail!(
            "the build context {} of app '{}' is not a directory: fix `context:` in the config",
            app.context.display(),
            app.name
        );
    }
    let containerfile = match (ProxyEnv::is_set(&s.env), &app.proxy_containerfile) {
        (true, Some(p)) => p.clone(),
        _ => app.containerfile.clone(),
    };
    // A FIFO or directory is not "missing": reading it says what it is.
    if std::fs::symlink_metadata(&containerfile).is_err() {
        if containerfile == crate::config::default_containerfile(&app.context) {
            bail!(
                "no Containerfile or Dockerfile in {}: create one, pass -f/--file PATH, or set `containerfile:` for app '{}' in the config",
                app.context.display(),
                app.name
            );
        }
        bail!(
            "no Containerfile at {}: create it, pass -f/--file PATH, or fix `containerfile:` for app '{}' in the config",
            containerfile.display(),
            app.name
        );
    }
    Ok(containerfile)
}

/// Gathers the inputs of one app's build: checks files, reads the
/// environment. Errors here are the user's to fix, one sentence each.
fn gather(
    s: &Session,
    o: &Request,
    named: &Named,
    arches: Vec<Arch>,
    engine: &Engine,
    go: &ResolvedGo,
    proxy: Option<ProxyEnv>,
) -> Result<BuildInputs> {
    let (app, image) = (&named.app, &named.image);
    let host = s.host_arch()?;
    let containerfile = app_files(s, app)?;
    let arg_values = arg_values(s, named, go);
    let main_package = arg_values["MAIN_PKG_PATH"].clone();
    let checks = Checks::of(o, app, &arg_values);
    let prepared = preflight(
        s,
        engine,
        &app.context,
        &containerfile,
        &arches,
        host,
        checks,
    )?;
    let secret_files = secret_files(s, proxy.is_some());
    let (context_digest, shim_args, kept_stat) =
        shimfile::digest_with_keys(&app.context, &prepared, Some(&s.env.cache_dir()))?;
    let gomod = crate::core::fs::read_text_if_exists(&app.context.join("go.mod"), "go.mod")?;
    let bases = bases(&prepared.text, go, &named.build_args);
    Ok(BuildInputs {
        requires_modules: gomod.is_none_or(|t| crate::go::version::go_mod_requires(&t)),
        context: app.context.clone(),
        ignore_file: prepared.ignore_file,
        uses: prepared.uses,
        notes: prepared.notes,
        containerfile: prepared.file,
        image: image.clone(),
        main_package,
        goprivate: goprivate(s, app),
        go_version: go.version,
        arches,
        host_arch: host,
        caps: crate::engine::caps::detect(engine, &s.env.cache_dir()),
        mark: engine.build_mark(),
        engine: engine.clone(),
        proxy,
        secrets: secret_files,
        agent: secrets::agent_socket(&s.env),
        ssh_key: secrets::ssh_key(&s.env, s.ssh_key_setting().as_deref()),
        build_args: named.build_args.clone(),
        context_digest,
        kept_stat,
        shim_args,
        bases,
        base_ids: BTreeMap::new(),
        no_cache: o.no_cache,
        check_start: !(o.allow_unstartable || app.allow_unstartable),
    })
}

/// The build args the plan passes (the config's, `--build-arg`s,
/// `MAIN_PKG_PATH`, `TAG_GOVER`): what the file's `ARG`s will hold.
fn arg_values(s: &Session, named: &Named, go: &ResolvedGo) -> BTreeMap<String, String> {
    let mut values =
        crate::containerfile::preflight::app_build_args(&named.app, &named.build_args, &s.env);
    values.insert("TAG_GOVER".into(), go.version.to_string());
    values
}

/// The app's `goprivate:`, else the environment's `$GOPRIVATE`, else empty.
fn goprivate(s: &Session, app: &App) -> String {
    app.goprivate
        .clone()
        .or_else(|| s.env.var("GOPRIVATE").map(str::to_string))
        .unwrap_or_default()
}

/// The secret files a build mounts: goenv, and behind a proxy the netrc and
/// the CA certificates.
fn secret_files(s: &Session, behind_proxy: bool) -> Vec<secrets::SecretFile> {
    let mut files: Vec<_> = secrets::goenv(&s.env).into_iter().collect();
    if behind_proxy {
        files.extend(secrets::netrc(&s.env));
        files.push(secrets::certs(&s.env));
    }
    files
}

/// The images the file to build builds on, with the build args the plan
/// passes that can name them (`TAG_GOVER`, the config's and `--build-arg`s).
fn bases(text: &str, go: &ResolvedGo, build_args: &BTreeMap<String, String>) -> Vec<String> {
    let Ok(file) = crate::containerfile::Containerfile::parse(text) else {
        return Vec::new();
    };
    let mut args = build_args.clone();
    args.insert("TAG_GOVER".into(), go.version.to_string());
    crate::containerfile::images::external(&file, &args)
}

/// How strictly preflight checks, and which shims it may apply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checks<'a> {
    /// Lint warnings stop the build.
    pub strict: bool,
    /// Shims may rewrite the file.
    pub shims: bool,
    /// The cross-compilation shim may move builder stages.
    pub cross_compile: bool,
    /// The engine rebuilds every step (`--no-cache`).
    pub no_cache: bool,
    /// The build args the build passes (the config's, `--build-arg`s,
    /// `MAIN_PKG_PATH`, `TAG_GOVER`): what the file's `ARG`s will hold.
    pub build_args: &'a BTreeMap<String, String>,
}

impl<'a> Checks<'a> {
    /// What the request's flags and the app's settings ask of preflight,
    /// for a build passing `build_args`.
    fn of(o: &Request, app: &App, build_args: &'a BTreeMap<String, String>) -> Checks<'a> {
        Checks {
            strict: o.strict,
            shims: !o.no_shims,
            cross_compile: app.cross_compile && !o.no_cross_compile,
            no_cache: o.no_cache,
            build_args,
        }
    }
}

/// Checks the Containerfile against the engine and established practice;
/// prints notes and warnings; stops on errors (and, if strict, warnings).
/// Returns the file to build: the original, or its shimmed rewrite.
pub(crate) fn preflight(
    s: &Session,
    engine: &Engine,
    context: &Path,
    path: &Path,
    arches: &[Arch],
    host: Arch,
    checks: Checks,
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
        shims: checks.shims,
        cross_compile: checks.cross_compile,
        no_cache: checks.no_cache,
        build_args: checks.build_args,
        files: &crate::containerfile::steps::ContextDir(context),
    };
    let outcome = crate::containerfile::preflight::check(&text, &file, &cx);
    stop_on_blocking(&outcome, checks.strict, path)?;
    // Said only when a build runs: an up-to-date image needs no reminder.
    let mut notes: Vec<String> = outcome.findings.iter().map(|f| f.to_string()).collect();
    let uses = crate::containerfile::mounts::Uses::of(&file);
    let (view, ignore) = engine_view(context, path, &caps, &mut notes)?;
    let ignore_file = ignore
        .as_ref()
        .filter(|_| caps.ignore_files.explicit())
        .map(|i| i.path.clone());
    let (file, text) = match outcome.shimmed {
        None => (path.to_path_buf(), text),
        Some(shimmed) => {
            let shim = write_shim(s, path, &shimmed, ignore, &caps, &mut notes)?;
            (shim, shimmed)
        }
    };
    Ok(Prepared {
        file,
        text,
        bind_keys: outcome.bind_keys,
        notes,
        uses,
        view,
        ignore_file,
    })
}

/// Writes the shimmed copy of `path` (with the original's own ignore file
/// beside it where the engine reads it only there) and notes that it is
/// what gets built.
fn write_shim(
    s: &Session,
    path: &Path,
    shimmed: &str,
    ignore: Option<crate::containerfile::ignore::IgnoreFile>,
    caps: &crate::engine::caps::Capabilities,
    notes: &mut Vec<String>,
) -> Result<std::path::PathBuf> {
    // BuildKit reads a Containerfile's own ignore file only beside it.
    // (podman is told the file by name instead.)
    let own_ignore = ignore
        .filter(|i| i.per_file && !caps.ignore_files.explicit())
        .map(|i| i.text);
    let shim = shimfile::materialize(
        &s.env.cache_dir().join("shims"),
        shimmed,
        own_ignore.as_deref(),
    )?;
    notes.push(format!(
        "goapp: building {} through its shimmed copy {}",
        path.display(),
        shim.display()
    ));
    Ok(shim)
}

/// Stops with every blocking finding, and why they block.
fn stop_on_blocking(
    outcome: &crate::containerfile::preflight::Outcome,
    strict: bool,
    path: &Path,
) -> Result<()> {
    let blocking = outcome.blocking(strict);
    if blocking.is_empty() {
        return Ok(());
    }
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

/// How the engine will show `context` to a build of `path`: the ignore file
/// it reads (see [`crate::engine::caps::IgnoreFiles`]) and what its bind
/// mounts show. Warns of a `.containerignore` that docker will not read.
fn engine_view(
    context: &Path,
    path: &Path,
    caps: &crate::engine::caps::Capabilities,
    notes: &mut Vec<String>,
) -> Result<(EngineView, Option<crate::containerfile::ignore::IgnoreFile>)> {
    let (rules, ignore) = IgnoreRules::for_build(context, path, caps.ignore_files)?;
    if let Some(f) = &ignore {
        if let Some((line, pattern, why)) =
            crate::containerfile::ignore::invalid_patterns(&f.text).first()
        {
            bail!(
                "{}:{line}: the pattern `{pattern}` is not valid ({why}): the engine would stop at the first COPY; write `\\[` for a bracket itself, or fix the pattern",
                f.path.display()
            );
        }
    }
    let unread = context.join(".containerignore");
    if !caps.ignore_files.explicit() && ignore.is_none() && unread.exists() {
        notes.push(format!(
            "goapp: warning: docker reads no .containerignore, so {} does not keep what it lists out of the image: copy it to .dockerignore",
            unread.display()
        ));
    }
    let view = EngineView {
        rules,
        bind_host_dir: caps.bind_host_dir,
    };
    Ok((view, ignore))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::caps::from_version;
    use crate::engine::BuildFront;

    #[test]
    fn a_containerignore_docker_will_not_read_is_warned_of() {
        let d = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(d.path().join(".containerignore"), "secret.env\n").unwrap();
        let docker = from_version(
            EngineKind::Docker,
            BuildFront::DockerBuildKit,
            "20.10.24",
            crate::engine::ImageStore::DockerClassic,
        );
        let podman = from_version(
            EngineKind::Podman,
            BuildFront::Podman,
            "4.3.1",
            crate::engine::ImageStore::DockerClassic,
        );
        let warned = |caps| {
            let mut notes = Vec::new();
            let (view, _) = engine_view(d.path(), &cf, caps, &mut notes).unwrap();
            (view.rules.excluded("secret.env"), notes.len())
        };
        assert_eq!(warned(&podman), (true, 0));
        assert_eq!(warned(&docker), (false, 1));
        std::fs::write(d.path().join(".dockerignore"), "secret.env\n").unwrap();
        assert_eq!(warned(&docker), (true, 0));
    }
}
