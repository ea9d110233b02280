//! The command line of goapp-build: parse into typed values, call the
//! library, print, exit. Kept in a library target so the integration tests
//! build the same entry point as `cargo xtask`.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use goapp_build::{
    Arch, Common, EngineKind, HostEnv, ImageTemplate, JsonDocument, LintOptions, Policy,
    PushOptions, Request, Session, ShipOptions, Verbosity, Verdict,
};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

mod help;

/// Build Go services into container images and ship them.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    version,
    about = "Build Go services into container images for every architecture, and put them on the machines that run them.",
    propagate_version = true,
    after_help = help::SHORT,
    after_long_help = help::LONG
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Build images for one or more apps and architectures.
    Image(ImageCmd),
    /// Print the Go version an app builds with (e.g. 1.25.4).
    GoVersion(GoVersionCmd),
    /// Put images on remote nodes over ssh, without a registry.
    Ship(ShipCmd),
    /// Push every architecture's image, and the name they share, to a registry.
    Push(PushCmd),
    /// Check Containerfiles against the engine and established practice.
    Lint(LintCmd),
    /// Check the whole set-up: engines, emulation, ssh, proxy, secrets, hosts.
    Doctor(DoctorCmd),
    /// Write a commented goapp.yaml for this repository: each go.mod with a
    /// Containerfile or Dockerfile beside it becomes an app.
    Init(InitCmd),
    /// Print shell completions for `goapp` (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsCmd),
}

/// Options every task takes: which config, and how Go is chosen.
#[derive(Args, Debug)]
struct CommonArgs {
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
    fn common(self) -> Common {
        Common {
            config: self.config,
            go_version: self.go_version,
            go_repo: self.go_repo,
            prerelease: self.prerelease,
            verbosity: match (self.quiet, self.verbose) {
                (true, _) => Verbosity::Quiet,
                (_, true) => Verbosity::Verbose,
                _ => Verbosity::Normal,
            },
        }
    }
}

/// What to build, shared by `image`, `ship` and `push`.
#[derive(Args, Debug)]
struct ImageArgs {
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
    fn request(self) -> Result<Request> {
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

/// `--arch LIST`, typed.
fn arch_list(flag: Option<&str>) -> Result<Option<Vec<Arch>>> {
    flag.map(|l| goapp_build::parse_arches(l).context("--arch"))
        .transpose()
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask image                       this directory's app; at a monorepo's root, every app
  cargo xtask image api worker --arch amd64,arm64
  cargo xtask image --all --json | jq '.images[] | {app, arch, id, status}'
  cargo xtask image api --tag registry.local/api:1.4.0 --dry-run")]
struct ImageCmd {
    #[command(flatten)]
    what: ImageArgs,
    /// Architectures, comma-separated (default: TARGET_ARCH, the app's, or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Build even when the image's inputs have not changed.
    #[arg(long)]
    force: bool,
    /// Lint warnings stop the build.
    #[arg(long)]
    strict: bool,
    /// One JSON document on stdout (images, ids, digests, status, logs);
    /// the rest goes to stderr. See docs/JSON.md.
    #[arg(long)]
    json: bool,
    /// Have the engine rebuild every step (implies --force).
    #[arg(long)]
    no_cache: bool,
    /// Never rewrite the Containerfile for the engine; stop instead.
    #[arg(long)]
    no_shims: bool,
    /// Leave builder stages that run under emulation as they are (no cross-compilation shim).
    #[arg(long)]
    no_cross_compile: bool,
}

impl ImageCmd {
    fn run(self, s: &Session) -> Result<()> {
        let request = Request {
            arches: arch_list(self.arch.as_deref())?,
            strict: self.strict,
            no_cache: self.no_cache,
            no_shims: self.no_shims,
            no_cross_compile: self.no_cross_compile,
            ..self.what.request()?
        };
        let policy = match (self.dry_run, self.force || self.no_cache) {
            (true, _) => Policy::PlanOnly,
            (false, true) => Policy::Rebuild,
            (false, false) => Policy::BuildIfStale,
        };
        if !self.json {
            goapp_build::image(s, request, policy, &mut std::io::stdout().lock())?;
            return Ok(());
        }
        let builds = goapp_build::image_results(s, request, policy, &mut std::io::stderr())?;
        let error = builds.check().err().map(|e| format!("{e:#}"));
        emit(JsonDocument::new("image", error).with_builds(&builds))
    }
}

/// Prints a `--json` document on stdout; an error (exit 1) when it says
/// the command failed. The error is marked as reported, so that [`main`]
/// does not print a second document.
fn emit(doc: JsonDocument) -> Result<()> {
    println!("{}", doc.render());
    if doc.ok {
        return Ok(());
    }
    let why = doc
        .error
        .clone()
        .unwrap_or_else(|| format!("{} failed: see the document on stdout", doc.command));
    Err(anyhow::Error::new(Reported(why)))
}

/// An error whose `--json` document is already on stdout.
#[derive(Debug)]
struct Reported(String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask go-version                  this directory's app (at a monorepo's root: `APP VERSION` per app)
  cargo xtask go-version api              one app: the bare version, e.g. 1.25.4
  cargo xtask go-version --all --json | jq -r '.go_versions[].go_version'
  cargo xtask go-version --go-version 1.24  the newest 1.24.x")]
struct GoVersionCmd {
    /// The app (default: the app of the current directory, else the
    /// config's default apps, one line each).
    app: Option<String>,
    /// Every app in the config, one line each: `APP VERSION`.
    #[arg(long, conflicts_with = "app")]
    all: bool,
    /// One JSON document on stdout: each app and its Go version.
    #[arg(long)]
    json: bool,
}

impl GoVersionCmd {
    fn run(self, s: &Session) -> Result<()> {
        let versions = s.go_versions(self.app.as_deref(), self.all)?;
        if self.json {
            return emit(JsonDocument::new("go-version", None).with_go(&versions));
        }
        match versions.as_slice() {
            [(_, v)] if !self.all => println!("{v}"),
            many => many.iter().for_each(|(app, v)| println!("{app} {v}")),
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask ship --host pi api          build if needed, send, verify, import
  cargo xtask ship --host pis             every app to every node of the group `pis`
  cargo xtask ship --host pi1,pi2 --dry-run
  cargo xtask ship --host pis --json | jq '.hosts[] | {host, status, bytes_sent}'")]
struct ShipCmd {
    /// Hosts or groups from the config, comma-separated (pi, pis, pi1,pi2).
    #[arg(long, value_name = "HOSTS")]
    host: String,
    #[command(flatten)]
    what: ImageArgs,
    /// Ship this architecture's image whatever the hosts say.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Probe the nodes (read-only) and print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Refuse instead of building a missing or stale image.
    #[arg(long)]
    no_build: bool,
    /// Send even to nodes that already have the image.
    #[arg(long)]
    force: bool,
    /// One JSON document on stdout (per node: status, bytes sent, duration,
    /// failure; per image: id, digest, status); the rest goes to stderr.
    #[arg(long)]
    json: bool,
}

impl ShipCmd {
    fn run(self, s: &Session) -> Result<()> {
        let o = ShipOptions {
            arch: self
                .arch
                .map(|a| a.parse::<Arch>().context("--arch"))
                .transpose()?,
            build: self.what.request()?,
            hosts: self.host,
            dry_run: self.dry_run,
            no_build: self.no_build,
            force: self.force,
        };
        if self.json {
            let report = goapp_build::ship(s, &o, &mut std::io::stderr())?;
            let error = report.failed().then(|| failed_hosts(&report));
            return emit(JsonDocument::new("ship", error).with_ship(&report));
        }
        let report = goapp_build::ship(s, &o, &mut std::io::stdout().lock())?;
        if report.failed() {
            anyhow::bail!("{}", failed_hosts(&report));
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask push --registry site        this directory's app (at a monorepo's root: every app) to `registries: site`
  cargo xtask push api --registry 127.0.0.1:5000 --insecure
  cargo xtask push --all --registry site --arch amd64,arm64 --dry-run
  cargo xtask push --registry site --json | jq -r '.pushed[] | .remote'")]
struct PushCmd {
    /// A registry under `registries:` in the config, or HOST[:PORT]. Each
    /// architecture's image goes as HOST[:PORT]/REPO:TAG-<arch>, the
    /// multi-architecture index as HOST[:PORT]/REPO:TAG; only blobs the
    /// registry lacks are sent. Credentials: `podman login` / `docker login`.
    #[arg(long, value_name = "REGISTRY")]
    registry: String,
    #[command(flatten)]
    what: ImageArgs,
    /// Architectures, comma-separated (default: TARGET_ARCH, the app's, or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
    /// Plain HTTP (no TLS) to a registry given as HOST[:PORT].
    #[arg(long)]
    insecure: bool,
    /// Print the commands; build and push nothing.
    #[arg(long)]
    dry_run: bool,
    /// Refuse instead of building a missing or stale image.
    #[arg(long)]
    no_build: bool,
    /// One JSON document on stdout (per image: where it went, status,
    /// duration, failure); the rest goes to stderr.
    #[arg(long)]
    json: bool,
}

impl PushCmd {
    fn run(self, s: &Session) -> Result<()> {
        let o = PushOptions {
            build: Request {
                arches: arch_list(self.arch.as_deref())?,
                ..self.what.request()?
            },
            registry: self.registry,
            insecure: self.insecure,
            dry_run: self.dry_run,
            no_build: self.no_build,
        };
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr();
        let out: &mut dyn std::io::Write = if self.json { &mut stderr } else { &mut stdout };
        let report = goapp_build::push(s, &o, out)?;
        let error = (report.failures() > 0).then(|| {
            format!(
                "{} of {} push(es) to {} failed; see the lines above",
                report.failures(),
                report.pushed.len(),
                report.registry.shown()
            )
        });
        if self.json {
            return emit(JsonDocument::new("push", error).with_push(&report));
        }
        match error {
            Some(e) => anyhow::bail!("{e}"),
            None => Ok(()),
        }
    }
}

fn failed_hosts(report: &goapp_build::ShipReport) -> String {
    format!(
        "shipping failed on {} of {} host(s): {}",
        report.failures(),
        report.hosts.len(),
        report.failure_summary()
    )
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask lint                        the Containerfiles of this directory's app (at a monorepo's root: every app)
  cargo xtask lint api worker --strict    two apps; warnings fail too
  cargo xtask lint --arch amd64,arm64 --engine docker path/to/Containerfile")]
struct LintCmd {
    /// Apps from the config, or Containerfiles (a path that exists as a
    /// file or holds a '/'; a directory means its Containerfile). Default:
    /// the apps a build here would build.
    #[arg(value_name = "APP|FILE")]
    targets: Vec<String>,
    /// Every app in the config.
    #[arg(long, conflicts_with = "targets")]
    all: bool,
    /// A Containerfile to check (repeatable), as `image -f` takes it.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Vec<PathBuf>,
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
    /// Check the file as built without the cross-compilation shim.
    #[arg(long)]
    no_cross_compile: bool,
}

/// Splits `lint`'s arguments into files and app names: a path that exists,
/// or holds a '/', is a file (a directory stands for its Containerfile or
/// Dockerfile, found as `image` finds it); anything else names an app.
fn files_and_apps(targets: Vec<String>) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut apps = Vec::new();
    for t in targets {
        let p = PathBuf::from(&t);
        if p.exists() || t.contains('/') {
            files.push(p);
        } else {
            apps.push(t);
        }
    }
    (files, apps)
}

impl LintCmd {
    fn run(self, s: &Session) -> Result<()> {
        let (mut files, apps) = files_and_apps(self.targets);
        files.extend(self.file);
        let o = LintOptions {
            arch: arch_list(self.arch.as_deref())?,
            apps,
            all: self.all,
            files,
            engine: self.engine,
            strict: self.strict,
            no_shims: self.no_shims,
            no_cross_compile: self.no_cross_compile,
        };
        let blocking = goapp_build::lint(s, &o, &mut std::io::stdout().lock())?;
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
#[command(after_help = "Examples:
  cargo xtask doctor                      every check, one line each; each failure ends with its fix
  cargo xtask doctor --config ci/goapp.yaml
  cargo xtask doctor -q || echo 'fix the FAIL lines first'")]
struct DoctorCmd {}

impl DoctorCmd {
    fn run(self, s: &Session) -> Result<()> {
        let checks = goapp_build::doctor(s, &mut std::io::stdout().lock())?;
        let failed = checks.iter().filter(|c| c.status == Verdict::Fail).count();
        if failed > 0 {
            anyhow::bail!("{failed} check(s) failed; each line above says the fix");
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask init                        at the repository's root: writes goapp.yaml
  cargo xtask init --print                shows what it would write")]
struct InitCmd {
    /// Print the file instead of writing it.
    #[arg(long)]
    print: bool,
}

impl InitCmd {
    fn run(self, env: &HostEnv) -> Result<()> {
        let w = goapp_build::init(&std::env::current_dir()?, env, self.print)?;
        if self.print {
            print!("{}", w.text);
            return Ok(());
        }
        let apps: Vec<String> = w
            .apps
            .iter()
            .map(|a| format!("{} ({})", a.name, a.context))
            .collect();
        println!(
            "wrote {} with {} app(s){}{}",
            w.path.display(),
            apps.len(),
            if apps.is_empty() { "" } else { ": " },
            apps.join(", ")
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Completions are for the command name `goapp`: the installed binary \
(cargo install --path goapp), or `alias goapp='cargo xtask'` (shells complete an alias by its name).
  bash: cargo xtask completions bash > ~/.local/share/bash-completion/completions/goapp
  zsh:  cargo xtask completions zsh > \"${fpath[1]}/_goapp\"
  fish: cargo xtask completions fish > ~/.config/fish/completions/goapp.fish"
)]
struct CompletionsCmd {
    /// The shell.
    shell: clap_complete::Shell,
}

impl CompletionsCmd {
    fn run(self) -> Result<()> {
        let mut cmd = Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "goapp", &mut std::io::stdout());
        Ok(())
    }
}

/// Runs the command line; the exit code is 0 on success, 1 on error, 2 on
/// a usage error.
pub fn main() -> ExitCode {
    let name = program_name(&std::env::args_os().next().unwrap_or_default(), |k| {
        std::env::var_os(k)
    });
    let cli = match command(&name)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
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
    goapp_build::set_invocation(&name, &cli.task.words());
    let json = match &cli.task {
        Task::Image(c) if c.json => Some("image"),
        Task::Ship(c) if c.json => Some("ship"),
        Task::Push(c) if c.json => Some("push"),
        Task::GoVersion(c) if c.json => Some("go-version"),
        _ => None,
    };
    // Ctrl-C and SIGTERM stop the children in order and clean up; dropping
    // the run first means an interrupt's own line is the last word.
    let mut guard = match goapp_build::Run::start() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: cannot set up interrupt handling: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(command) = json {
        guard = guard.on_interrupt_stdout(move |line| {
            JsonDocument::new(command, Some(line.to_string())).render()
        });
    }
    let result = run(cli);
    drop(guard);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // With --json, stdout always holds one document, failures included.
            if let (Some(command), None) = (json, e.downcast_ref::<Reported>()) {
                println!(
                    "{}",
                    JsonDocument::new(command, Some(format!("{e:#}"))).render()
                );
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How the user runs us, for usage lines, examples, `--version` and hints,
/// so that what we print works as written: `GOAPP_PROG` when a launcher
/// sets it (`scripts/goapp`); `cargo xtask` for the `xtask` binary, and for
/// any binary that cargo started (`cargo run` sets `CARGO`: the monorepo's
/// alias runs the binary `goapp` that way); else the binary's own name
/// (`goapp`, installed).
fn program_name(argv0: &std::ffi::OsStr, env: impl Fn(&str) -> Option<OsString>) -> String {
    if let Some(p) = env("GOAPP_PROG").filter(|p| !p.is_empty()) {
        return p.to_string_lossy().into_owned();
    }
    let file = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.is_empty() || file == "xtask" || env("CARGO").is_some() {
        return "cargo xtask".into();
    }
    file
}

/// The command line's definition, named `name`: usage lines, `--version`,
/// examples and completions all say it.
fn command(name: &str) -> clap::Command {
    let mut command = Cli::command()
        .display_name(name)
        .bin_name(name)
        .after_help(help::SHORT.replace("cargo xtask", name))
        .after_long_help(help::LONG.replace("cargo xtask", name));
    let tasks: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for task in tasks {
        command = command.mut_subcommand(task.as_str(), |c| {
            let text = c
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let c = c
                .display_name(format!("{name} {task}"))
                .after_help(text.replace("cargo xtask", name));
            // clap's usage for a missing required option lists the apps
            // given as if they were required too: say it ourselves.
            match task.as_str() {
                "ship" => {
                    c.override_usage(format!("{name} ship --host <HOSTS> [OPTIONS] [APPS]..."))
                }
                "push" => c.override_usage(format!(
                    "{name} push --registry <REGISTRY> [OPTIONS] [APPS]..."
                )),
                _ => c,
            }
        });
    }
    command
}

impl Task {
    /// The task's words before the app names, for hints (`ship --host pis`).
    fn words(&self) -> Vec<&str> {
        match self {
            Task::Image(_) => vec!["image"],
            Task::GoVersion(_) => vec!["go-version"],
            Task::Ship(c) => vec!["ship", "--host", &c.host],
            Task::Push(c) => vec!["push", "--registry", &c.registry],
            Task::Lint(_) => vec!["lint"],
            Task::Doctor(_) => vec!["doctor"],
            Task::Init(_) => vec!["init"],
            Task::Completions(_) => vec!["completions"],
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let common = cli.common.common();
    let session = || Session::open(HostEnv::capture(), std::env::current_dir()?, common);
    match cli.task {
        Task::Image(c) => c.run(&session()?),
        Task::GoVersion(c) => c.run(&session()?),
        Task::Ship(c) => c.run(&session()?),
        Task::Push(c) => c.run(&session()?),
        Task::Lint(c) => c.run(&session()?),
        Task::Doctor(c) => c.run(&session()?),
        // Neither needs a config (init makes one).
        Task::Init(c) => c.run(&HostEnv::capture()),
        Task::Completions(c) => c.run(),
    }
}
