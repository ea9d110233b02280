//! What a person sees on stderr besides results: how much (`-q`, default,
//! `-v`), warnings said once per run, notes, and with `-v` every command
//! line. One place decides, so a layer that has something to say never has
//! to know the flags.
//!
//! Why process-wide: `-v` must show every command, and every command starts
//! at one door (the process layer), far from the session that knows the
//! flag. A run is one process with one verbosity; state that is set once at
//! start-up and read everywhere is what this is.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// How much is printed besides results and errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: errors and the summary only.
    Quiet,
    /// Warnings that apply, notes for work that runs, progress.
    #[default]
    Normal,
    /// `-v`: also the config found and every command line run.
    Verbose,
}

static LEVEL: AtomicU8 = AtomicU8::new(1);
static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static INVOKED: std::sync::OnceLock<Invocation> = std::sync::OnceLock::new();

/// How the user started this run, so that a hint names a command that
/// works as written: the program (`cargo xtask`, `goapp`, a launcher's path)
/// and the task's words before the app names (`ship --host pis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// `cargo xtask`, `goapp`, …
    pub program: String,
    /// `image`, `go-version`, `ship --host pis`, …
    pub task: Vec<String>,
}

/// Records how this run was started (once, at start-up; later calls are ignored).
pub fn set_invocation(program: &str, task: &[&str]) {
    let _ = INVOKED.set(Invocation {
        program: program.to_string(),
        task: task.iter().map(|w| w.to_string()).collect(),
    });
}

/// The program as the user runs it: `cargo xtask` unless told otherwise.
pub(crate) fn program() -> &'static str {
    INVOKED.get().map_or("cargo xtask", |i| i.program.as_str())
}

/// The command that runs this run's task for `app`, as hints show it:
/// `` `cargo xtask go-version api` `` and, for the tasks the Makefile
/// wrapper has, `` `make go-version APP=api` ``. Without a recorded
/// invocation (a team's own xtask): `image`.
pub(crate) fn example(app: &str) -> String {
    let default = Invocation {
        program: "cargo xtask".into(),
        task: vec!["image".into()],
    };
    let inv = INVOKED.get().unwrap_or(&default);
    example_of(inv, app)
}

fn example_of(inv: &Invocation, app: &str) -> String {
    let words: Vec<&str> = inv.task.iter().map(String::as_str).collect();
    let own = format!("`{} {} {app}`", inv.program, words.join(" "));
    let make = match words.as_slice() {
        [t @ ("image" | "go-version" | "lint")] => format!("`make {t} APP={app}`"),
        ["ship", "--host", hosts] => format!("`make ship HOST={hosts} APP={app}`"),
        _ => return own,
    };
    format!("{own}, {make}")
}

/// Sets the verbosity for the rest of the run.
pub(crate) fn set_verbosity(v: Verbosity) {
    LEVEL.store(v as u8, Ordering::Relaxed);
}

/// The verbosity of this run.
pub(crate) fn verbosity() -> Verbosity {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// Whether `-v` was given.
pub(crate) fn verbose() -> bool {
    verbosity() == Verbosity::Verbose
}

/// Whether `-q` was given.
pub(crate) fn quiet() -> bool {
    verbosity() == Verbosity::Quiet
}

/// `goapp: warning: …`, once per run whatever the number of callers (a
/// warning that applies to three apps is one line naming them).
pub(crate) fn warn(message: &str) {
    if !quiet() && first_time(&format!("w{message}")) {
        eprintln!("goapp: warning: {message}");
    }
}

/// A line worth knowing when work runs (a shim applied, a lint); once per run.
pub(crate) fn note(line: &str) {
    if !quiet() && first_time(&format!("n{line}")) {
        eprintln!("{line}");
    }
}

/// Progress said in plain lines (no terminal), hidden by `-q`.
pub(crate) fn progress(line: &str) {
    if !quiet() {
        eprintln!("{line}");
    }
}

/// With `-v`: what is found or decided (`goapp: config: …`).
pub(crate) fn detail(line: &str) {
    if verbose() {
        eprintln!("goapp: {line}");
    }
}

/// With `-v`: a command line, as it is about to run.
pub(crate) fn command(shown: &str) {
    if verbose() {
        eprintln!("+ {shown}");
    }
}

fn first_time(key: &str) -> bool {
    SAID.lock()
        .map(|mut s| s.insert(key.to_string()))
        .unwrap_or(true)
}

/// Groups messages that several apps share: `(app, message)` pairs become one
/// message per distinct text, prefixed with the apps it applies to
/// (`api, worker: secret 'goenv' not wired: …`), in first-seen order.
pub(crate) fn per_app(pairs: &[(String, String)]) -> Vec<String> {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for (app, message) in pairs {
        match grouped.iter_mut().find(|(m, _)| m == message) {
            Some((_, apps)) if apps.contains(&app.as_str()) => {}
            Some((_, apps)) => apps.push(app),
            None => grouped.push((message.clone(), vec![app])),
        }
    }
    grouped
        .into_iter()
        .map(|(m, apps)| format!("{}: {m}", apps.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_messages_name_every_app_once() {
        let pairs: Vec<(String, String)> = [
            ("api", "no ssh agent"),
            ("worker", "secret 'goenv' not wired"),
            ("worker", "no ssh agent"),
            ("api", "no ssh agent"),
        ]
        .iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect();
        assert_eq!(
            per_app(&pairs),
            [
                "api, worker: no ssh agent",
                "worker: secret 'goenv' not wired"
            ]
        );
    }

    #[test]
    fn examples_name_the_task_being_run() {
        let inv = |p: &str, t: &[&str]| Invocation {
            program: p.into(),
            task: t.iter().map(|w| w.to_string()).collect(),
        };
        assert_eq!(
            example_of(&inv("cargo xtask", &["go-version"]), "api"),
            "`cargo xtask go-version api`, `make go-version APP=api`"
        );
        assert_eq!(
            example_of(&inv("goapp", &["ship", "--host", "pis"]), "api"),
            "`goapp ship --host pis api`, `make ship HOST=pis APP=api`"
        );
        assert_eq!(
            example_of(&inv("goapp", &["push", "--registry", "site"]), "api"),
            "`goapp push --registry site api`"
        );
    }

    #[test]
    fn said_once() {
        assert!(first_time("test-once"));
        assert!(!first_time("test-once"));
    }
}
