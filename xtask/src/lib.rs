//! The command line of goapp-build: parse, call the library, print, exit.
//! Kept in a library target so the integration tests build the same entry
//! point as `cargo xtask`.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use goapp_build::build::{self as image, ImageOptions};
use goapp_build::core::env::HostEnv;
use goapp_build::engine::EngineKind;
use goapp_build::session::{Common, Session};
use std::path::PathBuf;
use std::process::ExitCode;

/// Build Go services into container images and ship them.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Build images for one or more apps and architectures.
    Image(ImageCmd),
    /// Print the Go version an app builds with (e.g. 1.25.4).
    GoVersion(GoVersionCmd),
    /// Put images on remote nodes over ssh, without a registry.
    Ship(ShipCmd),
    /// Check Containerfiles against the engine and established practice.
    Lint(LintCmd),
    /// Check the whole set-up: engines, emulation, ssh, proxy, secrets, hosts.
    Doctor(DoctorCmd),
}

#[derive(Args, Debug)]
struct LintCmd {
    /// Containerfiles; default: the one of the current app.
    files: Vec<PathBuf>,
    /// Architectures the build targets (default: the configured or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
    /// The engine whose abilities count (default: the configured or detected one).
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Warnings fail too.
    #[arg(long)]
    strict: bool,
    /// Report what a shim would fix as an error.
    #[arg(long)]
    no_shims: bool,
    #[command(flatten)]
    common: CommonArgs,
}

impl LintCmd {
    fn run(self, s: &Session) -> Result<()> {
        let o = goapp_build::containerfile::lint::LintOptions {
            files: self.files,
            arch: self.arch,
            engine: self.engine,
            strict: self.strict,
            no_shims: self.no_shims,
        };
        let blocking = goapp_build::containerfile::lint::run(s, &o, &mut std::io::stdout().lock())?;
        if blocking > 0 {
            anyhow::bail!(
                "{blocking} finding(s) would stop a build{}",
                if self.strict { " (--strict)" } else { "" }
            );
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
struct DoctorCmd {
    #[command(flatten)]
    common: CommonArgs,
}

impl DoctorCmd {
    fn run(self, s: &Session) -> Result<()> {
        let checks =
            goapp_build::doctor::run(s, &self.common.common(), &mut std::io::stdout().lock())?;
        let failed = checks
            .iter()
            .filter(|c| c.status == goapp_build::doctor::Status::Fail)
            .count();
        if failed > 0 {
            anyhow::bail!("{failed} check(s) failed; each line above says the fix");
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
struct ShipCmd {
    /// Hosts or groups from the config, comma-separated (pi, pis, pi1,pi2).
    #[arg(long, value_name = "HOSTS")]
    host: String,
    /// Apps from the config; default: the app of the current directory.
    apps: Vec<String>,
    /// Ship this architecture's image whatever the hosts say.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// The image name, REPO:TAG (each node gets REPO:TAG-<its arch>).
    #[arg(long, value_name = "REPO:TAG")]
    tag: Option<String>,
    /// podman (default) or docker, for the local side.
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Probe the nodes (read-only) and print the commands; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Refuse instead of building a missing or stale image.
    #[arg(long)]
    no_build: bool,
    /// Send even to nodes that already have the image.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    common: CommonArgs,
}

impl ShipCmd {
    fn run(self, s: &Session) -> Result<()> {
        let o = goapp_build::ship::ShipOptions {
            hosts: self.host,
            apps: self.apps,
            arch: self.arch,
            tag: self.tag,
            engine: self.engine,
            dry_run: self.dry_run,
            no_build: self.no_build,
            force: self.force,
            common: self.common.common(),
        };
        let report = goapp_build::ship::run(s, &o, &mut std::io::stdout().lock())?;
        if report.failed() {
            let n = report
                .hosts
                .iter()
                .filter(|(_, r)| matches!(r, goapp_build::ship::HostResult::Failed { .. }))
                .count();
            anyhow::bail!(
                "shipping failed on {n} of {} host(s); see the lines above",
                report.hosts.len()
            );
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// The config file (default: goapp.yaml or config/goapp.yaml found walking up).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Use this Go version (1.25.4), or the newest patch of a line (1.25).
    #[arg(long, value_name = "VERSION")]
    go_version: Option<String>,
    /// The Go repository to list release tags from.
    #[arg(long, value_name = "URL")]
    go_repo: Option<String>,
    /// Allow betas and release candidates.
    #[arg(long)]
    prerelease: bool,
}

impl CommonArgs {
    fn common(&self) -> Common {
        Common {
            config: self.config.clone(),
            go_version: self.go_version.clone(),
            go_repo: self.go_repo.clone(),
            prerelease: self.prerelease,
        }
    }
}

#[derive(Args, Debug)]
struct ImageCmd {
    /// Apps from the config; default: the app of the current directory.
    apps: Vec<String>,
    /// The image name, REPO:TAG; each image is REPO:TAG-<arch>.
    #[arg(long, value_name = "REPO:TAG")]
    tag: Option<String>,
    /// Architectures, comma-separated (default: TARGET_ARCH, the app's, or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
    /// podman (default) or docker.
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Build even when the image's inputs have not changed.
    #[arg(long)]
    force: bool,
    /// Lint warnings stop the build.
    #[arg(long)]
    strict: bool,
    /// Have the engine rebuild every step (implies --force).
    #[arg(long)]
    no_cache: bool,
    /// Never rewrite the Containerfile for the engine; stop instead.
    #[arg(long)]
    no_shims: bool,
    #[command(flatten)]
    common: CommonArgs,
}

impl ImageCmd {
    fn run(self, s: &Session) -> Result<()> {
        let o = ImageOptions {
            apps: self.apps,
            tag: self.tag,
            arch: self.arch,
            engine: self.engine,
            dry_run: self.dry_run,
            force: self.force,
            strict: self.strict,
            no_cache: self.no_cache,
            no_shims: self.no_shims,
            common: self.common.common(),
        };
        image::run(s, &o, &mut std::io::stdout().lock())?;
        Ok(())
    }
}

#[derive(Args, Debug)]
struct GoVersionCmd {
    /// The app (default: the app of the current directory).
    app: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

impl GoVersionCmd {
    fn run(self, s: &Session) -> Result<()> {
        let apps: Vec<String> = self.app.into_iter().collect();
        println!("{}", image::go_version(s, &apps, &self.common.common())?);
        Ok(())
    }
}

fn config_flag(task: &Task) -> Option<PathBuf> {
    match task {
        Task::Image(c) => c.common.config.clone(),
        Task::GoVersion(c) => c.common.config.clone(),
        Task::Ship(c) => c.common.config.clone(),
        Task::Lint(c) => c.common.config.clone(),
        Task::Doctor(c) => c.common.config.clone(),
    }
}

/// Runs the command line; the exit code is 0 on success, 1 on error, 2 on
/// a usage error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let session = Session::open(HostEnv::capture(), cwd, config_flag(&cli.task).as_deref())?;
    match cli.task {
        Task::Image(c) => c.run(&session),
        Task::GoVersion(c) => c.run(&session),
        Task::Ship(c) => c.run(&session),
        Task::Lint(c) => c.run(&session),
        Task::Doctor(c) => c.run(&session),
    }
}
