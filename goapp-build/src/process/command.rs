//! A command as a value: program, arguments, environment, directory. Its
//! `Display` is a POSIX-shell command line with secrets redacted, the same text
//! for `--dry-run`, logs and error messages. Running it turns a failure into an
//! error that shows that line, the exit status and the tail of stderr.

use crate::core::redact::{redact_url, Redactor};
use anyhow::{anyhow, Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// How many lines of a failed command's stderr an error shows.
pub const TAIL_LINES: usize = 20;

/// A program to run, inspectable before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    redactor: RedactorEq,
}

#[derive(Clone, Debug, Default)]
struct RedactorEq(Redactor);
impl PartialEq for RedactorEq {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for RedactorEq {}

impl Cmd {
    /// A command running `program` (a name looked up on PATH, or a path).
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            redactor: RedactorEq::default(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Cmd {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child. Values are shown with URL
    /// credentials redacted; use [`Cmd::secrets`] for anything else sensitive.
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        let v = v.into();
        self.redactor.0.add_url_credentials(&v);
        self.env.push((k.into(), v));
        self
    }

    /// Runs the child in this directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// Registers a secret string to scrub from the display and from output.
    pub fn secrets(mut self, r: &Redactor) -> Cmd {
        self.redactor.0.extend(r);
        self
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments.
    pub fn get_args(&self) -> &[String] {
        &self.args
    }

    /// The extra environment.
    pub fn get_env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The redactor for this command's output.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor.0
    }

    /// A duct expression for this command.
    pub fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args);
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        if let Some(d) = &self.cwd {
            e = e.dir(d);
        }
        e
    }

    /// Runs to completion, capturing stdout and stderr; a non-zero exit is an
    /// error showing the command, its status and its stderr's tail.
    pub fn run(&self) -> Result<Output> {
        self.run_timeout(None)
    }

    /// Like [`Cmd::run`], killing the child after `limit`.
    pub fn run_timeout(&self, limit: Option<Duration>) -> Result<Output> {
        let out = self.output(limit)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failure(&out))
        }
    }

    /// Runs to completion, capturing output, whatever the exit status. An
    /// error only when the program cannot be started or times out.
    pub fn output(&self, limit: Option<Duration>) -> Result<Output> {
        let handle = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .stdin_null()
            .unchecked()
            .start()
            .with_context(|| format!("could not start `{self}`"))?;
        let Some(limit) = limit else {
            return Ok(handle.into_output()?);
        };
        let started = Instant::now();
        loop {
            if handle.try_wait()?.is_some() {
                return Ok(handle.into_output()?);
            }
            if started.elapsed() >= limit {
                // duct does not kill on drop: do it, and reap, before reporting.
                let _ = handle.kill();
                return Err(anyhow!(
                    "`{self}` did not finish within {}s and was stopped",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs with the terminal attached (for passphrase prompts).
    pub fn run_interactive(&self) -> Result<()> {
        let out = self
            .expression()
            .unchecked()
            .run()
            .with_context(|| format!("could not start `{self}`"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(anyhow!(
                "process didn't exit successfully: `{self}` ({})",
                out.status
            ))
        }
    }

    /// The error for a finished, failed run.
    pub fn failure(&self, out: &Output) -> anyhow::Error {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout)
        } else {
            stderr
        };
        let tail = tail_lines(&self.redactor.0.apply(&stderr), TAIL_LINES);
        if tail.is_empty() {
            anyhow!(
                "process didn't exit successfully: `{self}` ({})",
                out.status
            )
        } else {
            anyhow!(
                "process didn't exit successfully: `{self}` ({})\n--- stderr\n{tail}",
                out.status
            )
        }
    }
}

/// The last `n` non-empty lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Quotes one word for a POSIX shell, leaving plain words alone.
pub fn quote(word: &str) -> String {
    // shlex also quotes `=` and `,`, which are safe in any but the first word;
    // leaving them bare keeps `--build-arg K=V` lines readable.
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) && !word.starts_with('=') {
        return word.to_string();
    }
    // POSIX single quotes, `'` written as `'\''`: unlike shlex's mix of
    // double quotes and escapes, this stays readable when a quoted script is
    // quoted again (ssh's remote command). Round-trips through shlex::split.
    format!("'{}'", word.replace('\0', "").replace('\'', "'\\''"))
}

/// Quotes a path for a POSIX shell.
pub fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.redactor.0;
        let mut words: Vec<String> = Vec::new();
        if let Some(d) = &self.cwd {
            words.push(format!("cd {} &&", quote_path(d)));
        }
        for (k, v) in &self.env {
            words.push(format!("{k}={}", quote(&r.apply(&redact_url(v)))));
        }
        words.push(quote(&self.program));
        words.extend(self.args.iter().map(|a| quote(&r.apply(a))));
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_quoted_and_redacted() {
        let c = Cmd::new("podman")
            .env("HTTP_PROXY", "http://u:pw@proxy:3128")
            .env("NO_PROXY", "")
            .args([
                "build",
                "--build-arg",
                "MAIN_PKG_PATH=./cmd/my app",
                "-t",
                "joke:1-amd64",
            ]);
        assert_eq!(
            c.to_string(),
            "HTTP_PROXY='http://***@proxy:3128' NO_PROXY='' podman build --build-arg 'MAIN_PKG_PATH=./cmd/my app' -t joke:1-amd64"
        );
    }

    #[test]
    fn quoting_round_trips_through_a_shell_parser() {
        for w in [
            "",
            "plain",
            "it's",
            "a b",
            "$(rm -rf /)",
            "'\"\\",
            "line\nbreak",
            "x=y",
        ] {
            let q = quote(w);
            assert_eq!(shlex::split(&q).unwrap(), vec![w.to_string()], "{q}");
            let nested = quote(&format!("sh -c {q}"));
            assert_eq!(
                shlex::split(&shlex::split(&nested).unwrap()[0]).unwrap()[2],
                w
            );
        }
    }

    #[test]
    fn failure_shows_command_status_and_stderr_tail() {
        let c = Cmd::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 3"]);
        let err = c.run().unwrap_err().to_string();
        assert_eq!(err, "process didn't exit successfully: `sh -c 'echo one >&2; echo two >&2; exit 3'` (exit status: 3)\n--- stderr\none\ntwo");
    }

    #[test]
    fn output_of_secret_env_is_scrubbed_in_errors() {
        let c = Cmd::new("sh")
            .env("P", "http://u:hunter22@p")
            .args(["-c", "echo \"bad $P\" >&2; exit 1"]);
        let err = c.run().unwrap_err().to_string();
        assert!(!err.contains("hunter22"), "{err}");
        assert!(err.contains("bad http://***@p"), "{err}");
    }

    #[test]
    fn timeout_kills_the_child() {
        let started = Instant::now();
        let err = Cmd::new("sleep")
            .arg("5")
            .run_timeout(Some(Duration::from_millis(200)))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.to_string().contains("did not finish within"), "{err}");
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        let err = Cmd::new("no-such-program-goapp").run().unwrap_err();
        assert!(
            format!("{err:#}").contains("could not start `no-such-program-goapp`"),
            "{err:#}"
        );
    }
}
