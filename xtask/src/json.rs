//! How a task's outcome reaches the user. With `--json`, stdout holds
//! exactly one document whatever happens (success, failure, error,
//! interrupt) and everything meant for a person goes to stderr; without it,
//! an error is one `error:` line on stderr.

use anyhow::Result;
use goapp_build::JsonDocument;
use std::io::Write;
use std::process::ExitCode;

/// Where a task's lines for a person go: stderr with `--json`, so that
/// stdout holds only the document.
pub(crate) fn human_output(json: bool) -> Box<dyn Write> {
    if json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout().lock())
    }
}

/// Prints a `--json` document on stdout; an error (exit 1) when it says
/// the command failed. The error is marked as reported, so that [`finish`]
/// does not print a second document.
pub(crate) fn emit(doc: &JsonDocument) -> Result<()> {
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

/// A task's end when its failure is one sentence (`error`): with `--json`
/// the document `doc` makes of it, else the sentence as the error.
pub(crate) fn conclude(
    json: bool,
    error: Option<String>,
    doc: impl FnOnce(Option<String>) -> JsonDocument,
) -> Result<()> {
    if json {
        return emit(&doc(error));
    }
    match error {
        Some(e) => anyhow::bail!("{e}"),
        None => Ok(()),
    }
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

/// Starts the run that handles Ctrl-C and SIGTERM (children stopped in
/// order, then cleaned up); with `--json` (`json` names the task), an
/// interrupt's line is written as the document.
pub(crate) fn start_run(json: Option<&'static str>) -> Result<goapp_build::Run, ExitCode> {
    let guard = match goapp_build::Run::start() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: cannot set up interrupt handling: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    Ok(match json {
        Some(command) => guard.on_interrupt_stdout(move |line| {
            JsonDocument::new(command, Some(line.to_string())).render()
        }),
        None => guard,
    })
}

/// The exit code for a task's outcome, after saying the error: on stderr,
/// and with `--json` also as the document unless the task printed one.
pub(crate) fn finish(json: Option<&'static str>, result: Result<()>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let (Some(command), None) = (json, e.downcast_ref::<Reported>()) {
        println!(
            "{}",
            JsonDocument::new(command, Some(format!("{e:#}"))).render()
        );
    }
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
