//! A failed process as a value: which command (as shown, redacted), how it
//! ended, the tail of what it wrote, and where its full log is. Retries,
//! reports and `doctor` look at the fields; only `Display` makes the text.

use std::fmt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// How a process failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It could not be started (not installed, not executable).
    Spawn(Box<str>),
    /// It ran and ended unsuccessfully: a non-zero exit or a signal.
    Exit(ExitStatus),
    /// It did not finish in time and was stopped.
    Timeout(Duration),
    /// Talking to it failed (a pipe broke, its log could not be written).
    Io(Box<str>),
}

/// A process that did not succeed: the one error shape for every command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessError {
    /// The command line as shown everywhere: shell-quoted, secrets redacted.
    pub command: String,
    /// How it failed.
    pub failure: Failure,
    /// The last lines it wrote on stderr (or stdout when stderr was empty),
    /// redacted; empty when nothing was captured.
    pub stderr_tail: String,
    /// The log holding its whole output, when it has one.
    pub log: Option<Box<Path>>,
    /// What went wrong on our side as well, e.g. ` (Broken pipe (os error 32))`.
    pub detail: Option<Box<str>>,
}

impl ProcessError {
    /// A failure of `command` with nothing captured yet.
    pub fn new(command: impl Into<String>, failure: Failure) -> ProcessError {
        ProcessError {
            command: command.into(),
            failure,
            stderr_tail: String::new(),
            log: None,
            detail: None,
        }
    }

    /// The exit status, when the process ran to its end.
    pub fn status(&self) -> Option<ExitStatus> {
        match self.failure {
            Failure::Exit(s) => Some(s),
            _ => None,
        }
    }

    /// The exit code, when it exited (not killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status().and_then(|s| s.code())
    }

    /// The last non-empty line of its output: usually the cause.
    pub fn last_line(&self) -> Option<&str> {
        self.stderr_tail.lines().rfind(|l| !l.trim().is_empty())
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmd = &self.command;
        let detail = self.detail.as_deref().unwrap_or_default();
        match &self.failure {
            Failure::Spawn(e) => write!(f, "could not start `{cmd}`: {e}")?,
            Failure::Exit(status) => write!(
                f,
                "process didn't exit successfully: `{cmd}` ({status}){detail}"
            )?,
            Failure::Timeout(limit) => write!(
                f,
                "`{cmd}` did not finish within {}s and was stopped",
                limit.as_secs()
            )?,
            Failure::Io(e) => write!(f, "`{cmd}` failed: {e}{detail}")?,
        }
        if self.stderr_tail.is_empty() {
            return Ok(());
        }
        match &self.log {
            Some(log) => write!(
                f,
                "\n--- last lines of {}\n{}",
                log.display(),
                self.stderr_tail
            ),
            None => write!(f, "\n--- stderr\n{}", self.stderr_tail),
        }
    }
}

impl std::error::Error for ProcessError {}

/// How many lines of a failed command's output an error shows.
pub(crate) const TAIL_LINES: usize = 20;

/// The last `n` non-empty lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn fields_are_inspectable_and_display_has_cargo_s_shape() {
        let mut e = ProcessError::new(
            "ssh -- pi 'sh -c true'",
            Failure::Exit(ExitStatus::from_raw(4 << 8)),
        );
        e.stderr_tail = "import refused: disk full".into();
        assert_eq!(e.code(), Some(4));
        assert_eq!(e.last_line(), Some("import refused: disk full"));
        assert_eq!(
            e.to_string(),
            "process didn't exit successfully: `ssh -- pi 'sh -c true'` (exit status: 4)\n--- stderr\nimport refused: disk full"
        );
        e.log = Some(Path::new("/c/logs/joke-arm64.log").into());
        assert!(e
            .to_string()
            .ends_with("\n--- last lines of /c/logs/joke-arm64.log\nimport refused: disk full"));
        let t = ProcessError::new("sleep 5", Failure::Timeout(Duration::from_secs(2)));
        assert_eq!(t.status(), None);
        assert_eq!(
            t.to_string(),
            "`sleep 5` did not finish within 2s and was stopped"
        );
    }
}
