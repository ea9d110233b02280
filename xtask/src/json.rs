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

/// Where a task's lines for a person go, kept as well when they are the
/// plan of a `--dry-run --json` (the document carries it).
pub(crate) struct Output {
    person: Box<dyn Write>,
    plan: Option<Vec<u8>>,
}

impl Output {
    /// As [`human_output`]; keeps a copy when `json && dry_run`.
    pub(crate) fn new(json: bool, dry_run: bool) -> Output {
        Output {
            person: human_output(json),
            plan: (json && dry_run).then(Vec::new),
        }
    }

    /// `doc` with the plan kept, if one was.
    pub(crate) fn into_doc(self, doc: JsonDocument) -> JsonDocument {
        match self.plan {
            Some(p) => doc.with_plan(&String::from_utf8_lossy(&p)),
            None => doc,
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.person.write(buf)?;
        if let Some(p) = &mut self.plan {
            p.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.person.flush()
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
