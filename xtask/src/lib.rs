//! The command line of goapp-build: parse into typed values, call the
//! library, print, exit. Kept in a library target so the integration tests
//! build the same entry point as `cargo xtask`.
//!
//! `task/` holds one module per task (its flags and `run()`), `args` the
//! options several tasks share, `json` the `--json` contract and how an
//! error ends the process, `program` the name usage lines say.

use anyhow::Result;
use clap::{Parser, Subcommand};
use goapp_build::{HostEnv, Session};
use std::process::ExitCode;

mod args;
mod help;
mod json;
mod program;
mod task;

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
    common: args::CommonArgs,
}

#[derive(Subcommand, Debug)]
enum Task {
    /// Build images for one or more apps and architectures.
    Image(task::image::Cmd),
    /// Print the Go version an app builds with (e.g. 1.25.4).
    GoVersion(task::go_version::Cmd),
    /// Put images on remote nodes over ssh, without a registry.
    Ship(task::ship::Cmd),
    /// Push every architecture's image, and the name they share, to a registry.
    Push(task::push::Cmd),
    /// Check Containerfiles against the engine and established practice.
    Lint(task::lint::Cmd),
    /// Check the whole set-up: engines, emulation, ssh, proxy, secrets, hosts.
    Doctor(task::doctor::Cmd),
    /// Write a commented goapp.yaml for this repository: each go.mod with a
    /// Containerfile or Dockerfile beside it becomes an app.
    Init(task::init::Cmd),
    /// Print shell completions for `goapp` (bash, zsh, fish, elvish, powershell).
    Completions(task::completions::Cmd),
}

impl Task {
    /// The task's words before the app names, for hints (`ship --host pis`).
    fn words(&self) -> Vec<String> {
        let words: &[&str] = match self {
            Task::Image(_) => &["image"],
            Task::GoVersion(_) => &["go-version"],
            Task::Ship(c) => return vec!["ship".into(), "--host".into(), c.host.to_string()],
            Task::Push(c) => &["push", "--registry", &c.registry],
            Task::Lint(_) => &["lint"],
            Task::Doctor(_) => &["doctor"],
            Task::Init(_) => &["init"],
            Task::Completions(_) => &["completions"],
        };
        words.iter().map(|w| w.to_string()).collect()
    }

    /// The task's name when it was asked for `--json`.
    fn json(&self) -> Option<&'static str> {
        match self {
            Task::Image(c) if c.json => Some("image"),
            Task::Ship(c) if c.json => Some("ship"),
            Task::Push(c) if c.json => Some("push"),
            Task::GoVersion(c) if c.json => Some("go-version"),
            _ => None,
        }
    }
}

/// Runs the command line; the exit code is 0 on success, 1 on error, 2 on
/// a usage error.
pub fn main() -> ExitCode {
    let name = program::program_name(&std::env::args_os().next().unwrap_or_default(), |k| {
        std::env::var_os(k)
    });
    let cli = match program::parse(&name) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let words = cli.task.words();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    goapp_build::set_invocation(&name, &words);
    let json_task = cli.task.json();
    let guard = match json::start_run(json_task) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let result = run(cli);
    // Dropped before the outcome is said: an interrupt's own line is the
    // last word.
    drop(guard);
    json::finish(json_task, result)
}

fn run(cli: Cli) -> Result<()> {
    let common = cli.common.common()?;
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
