//! Options more than one task takes, defined once so that each flag reads
//! and parses the same everywhere. Flattened in place, so `--help` lists
//! them where each task's own options stand.

use anyhow::{Context, Result};
use clap::Args;
use goapp_build::{Arch, Common, EngineKind, ImageTemplate, Request, Verbosity};
use std::path::PathBuf;

/// Options every task takes: which config, and how Go is chosen.
#[derive(Args, Debug)]
pub(crate) struct CommonArgs {
    /// The config file (default: goapp.yaml or config/goapp.yaml found walking up).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Use this Go version (1.25.4), or the newest patch of a line (1.25).
    #[arg(long, value_name = "VERSION", global = true)]
    go_version: Option<String>,
    /// The Go repository to list release tags from.
    #[arg(long, value_name = "URL", global = true)]
    go_repo: Option<String>,
    /// Allow betas and release candidates.
    #[arg(long, global = true)]
    prerelease: bool,
    /// Print only errors and the summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print the config found and every command line run.
    #[arg(short, long, global = true)]
    verbose: bool,
}

impl CommonArgs {
    /// The options, parsed: a `--go-version` that is no Go version is
    /// refused here, whatever the task.
    pub(crate) fn common(self) -> anyhow::Result<Common> {
        let go_version = self
            .go_version
            .as_deref()
            .map(|v| goapp_build::GoRequest::parse(v, "--go-version"))
            .transpose()?;
        Ok(Common {
            config: self.config,
            go_version,
            go_repo: self.go_repo,
            prerelease: self.prerelease,
            verbosity: match (self.quiet, self.verbose) {
                (true, _) => Verbosity::Quiet,
                (_, true) => Verbosity::Verbose,
                _ => Verbosity::Normal,
            },
        })
    }
}

/// What to build, shared by `image`, `ship` and `push`.
#[derive(Args, Debug)]
pub(crate) struct ImageArgs {
    /// Apps from the config; default: the app of the current directory, else
    /// the config's `default_apps` (every app unless it says otherwise).
    apps: Vec<String>,
    /// Every app in the config.
    #[arg(long, conflicts_with = "apps")]
    all: bool,
    /// The image name, REPO:TAG; each architecture's image is REPO:TAG-<arch>.
    /// The tag may follow the code: {git} (commit, 12 digits, -dirty when the
    /// app's sources have changes), {git:N}, {inputs} (sources hash, 12
    /// digits), {inputs:N}; e.g. joke:0.1.0-{git}.
    #[arg(long, value_name = "REPO:TAG")]
    tag: Option<String>,
    /// podman (default) or docker.
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// The Containerfile to build the app with, like `podman build -f`
    /// (default: the app's `containerfile:`, else its Containerfile, else
    /// its Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,
    /// Call an image built even when it cannot start (no ENTRYPOINT/CMD,
    /// its program missing, for another machine, or without its C library):
    /// for images not meant to run.
    #[arg(long)]
    allow_unstartable: bool,
    /// A build argument, over the config's build_args (repeatable). Values
    /// end up in the engine's command line (visible in `ps` and logs): pass
    /// secrets as secret files or environment variables, never here.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
}

impl ImageArgs {
    /// The typed request; the build options are the defaults.
    pub(crate) fn request(self) -> Result<Request> {
        let tag = self
            .tag
            .as_deref()
            .map(str::parse::<ImageTemplate>)
            .transpose()?;
        let build_args = self
            .build_args
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => anyhow::bail!(
                    "--build-arg '{kv}' has no value: write K=V, e.g. --build-arg VERSION=1.2"
                ),
            })
            .collect::<Result<_>>()?;
        Ok(Request {
            apps: self.apps,
            all: self.all,
            tag,
            engine: self.engine,
            build_args,
            file: self.file,
            allow_unstartable: self.allow_unstartable,
            ..Request::default()
        })
    }
}

/// The architectures to build, as `image` and `push` take them.
#[derive(Args, Debug)]
pub(crate) struct BuildArches {
    /// Architectures, comma-separated (default: TARGET_ARCH, the app's, or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
}

impl BuildArches {
    /// `None` when not given: the library then picks them.
    pub(crate) fn arches(&self) -> Result<Option<Vec<Arch>>> {
        arch_list(self.arch.as_deref())
    }
}

/// `--arch LIST`, typed; `lint` says it in its own words, so it has its
/// own flag but the same parse.
pub(crate) fn arch_list(flag: Option<&str>) -> Result<Option<Vec<Arch>>> {
    flag.map(|l| goapp_build::parse_arches(l).context("--arch"))
        .transpose()
}

/// `--no-build`, for the tasks that publish what a build made (`ship`, `push`).
#[derive(Args, Debug)]
pub(crate) struct NoBuild {
    /// Refuse instead of building a missing or stale image.
    #[arg(long)]
    pub(crate) no_build: bool,
}
