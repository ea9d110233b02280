//! The context of a run, shared by every task: the environment snapshot,
//! the working directory, the loaded config, and the choices derived from
//! them (engine, architectures, Go resolver).

use crate::config::{self, App, Config, Pick};
use crate::core::arch::{self, Arch};
use crate::core::env::HostEnv;
use crate::core::ui::{self, Verbosity};
use crate::engine::{self, Engine, EngineKind};
use crate::go::resolve::{GoResolver, ResolvedGo};
use crate::go::tags::{self, TagCache};
use crate::go::version::GoVersion;
use crate::process::command::Cmd;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The options every task shares: which config, and how Go is chosen.
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// `--config` (else `GOAPP_CONFIG`, else found by walking up).
    pub config: Option<PathBuf>,
    /// `--go-version`, parsed.
    pub go_version: Option<crate::core::gover::Request>,
    /// `--go-repo` (else `GOAPP_GO_REPO`, else the config's, else the official one).
    pub go_repo: Option<String>,
    /// `--prerelease`.
    pub prerelease: bool,
    /// `-q` / `-v`.
    pub verbosity: Verbosity,
}

/// The context of a run: environment, working directory, loaded config,
/// and the shared options.
pub struct Session {
    /// The environment snapshot.
    pub env: HostEnv,
    /// The directory the command was run in.
    pub cwd: PathBuf,
    /// The config, if one was found.
    pub config: Option<Config>,
    common: Common,
    host: std::sync::OnceLock<Arch>,
    /// `GOAPP_GO_CACHE_TTL`, read once.
    go_cache_ttl: std::time::Duration,
}

/// The longest `GOAPP_GO_CACHE_TTL` taken: a year, in seconds.
const MAX_TTL: u64 = 365 * 24 * 3600;

/// `GOAPP_GO_CACHE_TTL`: whole seconds from 0 to a year, else an error
/// naming the value and the fix.
fn go_cache_ttl(env: &HostEnv) -> Result<std::time::Duration> {
    let Some(v) = env.var("GOAPP_GO_CACHE_TTL") else {
        return Ok(tags::DEFAULT_TTL);
    };
    match v.trim().parse::<u64>() {
        Ok(n) if n <= MAX_TTL => Ok(std::time::Duration::from_secs(n)),
        _ => bail!(
            "GOAPP_GO_CACHE_TTL={} is not a number of seconds from 0 to {MAX_TTL} (a year): set it to one (86400 is a day), or unset it for the default",
            crate::core::names::shorten(v, 40)
        ),
    }
}

impl Session {
    /// Loads the config named by `--config`, `GOAPP_CONFIG`, or found from `cwd`.
    pub fn open(env: HostEnv, cwd: PathBuf, common: Common) -> Result<Session> {
        ui::set_verbosity(common.verbosity);
        let from_env = env.var("GOAPP_CONFIG").map(PathBuf::from);
        let explicit = common.config.as_deref().or(from_env.as_deref());
        let config = Config::find(explicit, &cwd, &env)?;
        match (&config, explicit) {
            (Some(c), Some(_)) => ui::detail(&format!("config: {} (named)", c.path.display())),
            (Some(c), None) => ui::detail(&format!(
                "config: {} (the nearest to {})",
                c.path.display(),
                cwd.display()
            )),
            (None, _) => ui::detail(&format!(
                "config: none found from {} upwards",
                cwd.display()
            )),
        }
        if let Some(c) = &config {
            crate::config::check::go_versions(c)?;
        }
        let go_cache_ttl = go_cache_ttl(&env)?;
        Ok(Session {
            env,
            cwd,
            config,
            common,
            host: std::sync::OnceLock::new(),
            go_cache_ttl,
        })
    }

    /// The apps named (or with `all`, every configured one), else the
    /// current directory's, else the config's default apps.
    pub fn apps(&self, names: &[String], all: bool) -> Result<Vec<App>> {
        config::select(self.config.as_ref(), Pick::of(names, all, false), &self.cwd)
    }

    /// [`Session::apps`] when the image is named on the command line
    /// (`--tag`): a directory with its own Containerfile that is no app's
    /// is then built as it is.
    pub fn apps_tagged(&self, names: &[String], all: bool, tagged: bool) -> Result<Vec<App>> {
        config::select(
            self.config.as_ref(),
            Pick::of(names, all, tagged),
            &self.cwd,
        )
    }

    /// The Go resolver for the session's options.
    pub fn go_resolver(&self) -> GoResolver {
        let c = &self.common;
        let repo = c
            .go_repo
            .clone()
            .or_else(|| self.env.var("GOAPP_GO_REPO").map(str::to_string))
            .or_else(|| {
                self.config
                    .as_ref()
                    .and_then(|c| c.file.defaults.go_repo.clone())
            })
            .unwrap_or_else(|| tags::OFFICIAL_REPO.to_string());
        let ttl = self.go_cache_ttl;
        GoResolver {
            explicit: c.go_version,
            repo,
            prerelease: c.prerelease,
            cache: TagCache::new(tags::cache_dir(&self.env.cache_dir()), ttl),
        }
    }

    /// Resolves one app's Go version, printing a stale-cache warning.
    pub fn resolve_go(&self, resolver: &GoResolver, app: &App) -> Result<ResolvedGo> {
        let r = resolver.resolve(app)?;
        if let Some(w) = &r.warning {
            ui::warn(w);
        }
        Ok(r)
    }

    /// The engine: `--engine`, else `GOAPP_ENGINE`, else the config's, else detected.
    pub fn engine(&self, requested: Option<EngineKind>) -> Result<Engine> {
        let from_env = match self.env.var("GOAPP_ENGINE") {
            Some(e) => Some(e.parse::<EngineKind>().context("GOAPP_ENGINE")?),
            None => None,
        };
        let configured = self.config.as_ref().and_then(|c| c.file.defaults.engine);
        engine::detect(requested.or(from_env).or(configured), &self.env.cache_dir())
    }

    /// Architectures: `--arch`, else `TARGET_ARCH` (as build.sh), else the
    /// app's configured list, else the host's.
    pub fn arches(&self, flag: Option<&[Arch]>, app: &App) -> Result<Vec<Arch>> {
        if let Some(list) = flag {
            return Ok(list.to_vec());
        }
        if let Some(list) = self.env.var("TARGET_ARCH") {
            return arch::parse_list(list).context("TARGET_ARCH");
        }
        if let Some(list) = app.arch.as_ref().filter(|l| !l.is_empty()) {
            return Ok(list.clone());
        }
        Ok(vec![self.host_arch()?])
    }

    /// The machine this process runs on, from `uname -m` (not the compile
    /// target: an x86-64 binary under emulation still reports the real host).
    pub fn host_arch(&self) -> Result<Arch> {
        if let Some(a) = self.host.get() {
            return Ok(*a);
        }
        let cache = self.env.cache_dir();
        let machine = match crate::engine::caps::cached_machine(&cache) {
            Some(m) => m,
            None => {
                let out = Cmd::new("uname")
                    .arg("-m")
                    .run()
                    .context("running `uname -m` to learn the host architecture")?;
                let m = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if Arch::from_uname(&m).is_some() {
                    crate::engine::caps::remember_machine(&cache, &m);
                }
                m
            }
        };
        match Arch::from_uname(&machine) {
            Some(a) => Ok(*self.host.get_or_init(|| a)),
            None => bail!(
                "arch unknown: {machine} (uname -m); pass --arch or set TARGET_ARCH to one of {}",
                arch::list_names()
            ),
        }
    }

    /// Where build logs go.
    pub fn log_dir(&self) -> PathBuf {
        self.env.cache_dir().join("logs")
    }

    /// The Go version each app builds with (`go-version`): the app named,
    /// else the current directory's, else the config's default apps.
    pub fn go_versions(&self, app: Option<&str>, all: bool) -> Result<Vec<(String, GoVersion)>> {
        let names: Vec<String> = app.into_iter().map(str::to_string).collect();
        let resolver = self.go_resolver();
        self.apps(&names, all)?
            .iter()
            .map(|a| Ok((a.name.clone(), self.resolve_go(&resolver, a)?.version)))
            .collect()
    }

    pub(crate) fn ssh_key_setting(&self) -> Option<String> {
        self.config
            .as_ref()
            .and_then(|c| c.file.defaults.ssh_key.clone())
    }
}
