//! The program's name as the user ran it, and the command line's definition
//! under that name, so that usage lines, `--version`, examples and hints
//! print commands that work as written.

use crate::{help, Cli};
use clap::{CommandFactory, FromArgMatches};
use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

/// How the user runs us, for usage lines, examples, `--version` and hints,
/// so that what we print works as written: `GOAPP_PROG` when a launcher
/// sets it (`scripts/goapp`); `cargo xtask` for the `xtask` binary, and for
/// any binary that cargo started (`cargo run` sets `CARGO`: the monorepo's
/// alias runs the binary `goapp` that way); else the binary's own name
/// (`goapp`, installed).
pub(crate) fn program_name(argv0: &OsStr, env: impl Fn(&str) -> Option<OsString>) -> String {
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

/// This process's command line, parsed; else the exit code once clap has
/// said why: 2 for a usage error, 0 for `--help` and `--version`.
pub(crate) fn parse(name: &str) -> Result<Cli, ExitCode> {
    command(name)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        })
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
        command = command.mut_subcommand(task.as_str(), |c| named_task(c, name, &task));
    }
    command
}

/// One task's definition under the program's `name`.
fn named_task(c: clap::Command, name: &str, task: &str) -> clap::Command {
    let text = c
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    let c = c
        .display_name(format!("{name} {task}"))
        .after_help(text.replace("cargo xtask", name));
    // clap's usage for a missing required option lists the apps
    // given as if they were required too: say it ourselves.
    match task {
        "ship" => c.override_usage(format!("{name} ship --host <HOSTS> [OPTIONS] [APPS]...")),
        "push" => c.override_usage(format!(
            "{name} push --registry <REGISTRY> [OPTIONS] [APPS]..."
        )),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks a definition only when it is used: this catches, without
    /// running a task, two flattened option structs that define one flag.
    #[test]
    fn the_definition_is_consistent() {
        command("goapp").debug_assert();
    }

    #[test]
    fn the_name_is_how_the_user_ran_us() {
        let env = |vars: &'static [(&str, &str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let name = |argv0: &str, vars| program_name(OsStr::new(argv0), env(vars));
        assert_eq!(name("/usr/bin/goapp", &[]), "goapp");
        assert_eq!(name("target/debug/xtask", &[]), "cargo xtask");
        assert_eq!(name("goapp", &[("CARGO", "/usr/bin/cargo")]), "cargo xtask");
        assert_eq!(
            name("goapp", &[("GOAPP_PROG", "scripts/goapp")]),
            "scripts/goapp"
        );
        assert_eq!(name("goapp", &[("GOAPP_PROG", "")]), "goapp");
    }
}
