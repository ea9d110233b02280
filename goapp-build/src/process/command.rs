//! A command as a value: program, arguments, environment, directory. Its
//! `Display` is a POSIX-shell command line with secrets redacted, the same text
//! for `--dry-run`, logs and error messages; its `Debug` redacts the same way.
//! Running it is [`super::exec`]'s job.

use crate::core::redact::{redact_url, Redactor};
use crate::process::interrupt::Stop;
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// A program to run, inspectable before it runs. `Debug` shows environment
/// values and arguments redacted as `Display` does (a `dbg!` of a build
/// result must not print a proxy password).
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    pub(super) program: String,
    pub(super) args: Vec<Word>,
    pub(super) env: Vec<(String, String)>,
    pub(super) cwd: Option<PathBuf>,
    pub(super) redactor: RedactorEq,
    /// How an interrupt stops it.
    pub(super) stop: Stop,
}

/// One argument: a literal, or a shell variable bound only when the command
/// runs (a value computed by an earlier step, such as a stream's digest). A
/// plan can then be printed with `"$name"` where the value will go, and the
/// printed lines define that variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Word {
    Lit(String),
    Var(String),
}

#[derive(Clone, Debug, Default)]
pub(super) struct RedactorEq(pub(super) Redactor);
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
            stop: Stop::Normal,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(Word::Lit(a.into()));
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Cmd {
        self.args.extend(a.into_iter().map(|s| Word::Lit(s.into())));
        self
    }

    /// Appends an argument whose value is bound later with [`Cmd::bind`];
    /// shown as `"$name"`.
    pub fn var_arg(mut self, name: &str) -> Cmd {
        self.args.push(Word::Var(name.to_string()));
        self
    }

    /// Gives the variable `name` its value.
    pub fn bind(mut self, name: &str, value: &str) -> Cmd {
        for w in &mut self.args {
            if matches!(w, Word::Var(n) if n == name) {
                *w = Word::Lit(value.to_string());
            }
        }
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

    /// Sets variables whose credentials `known` already holds, parsed once
    /// where the values were read (the proxy settings): unlike [`Cmd::env`],
    /// the values are not parsed again. `known` joins this command's
    /// redactor, for the display and the output alike.
    pub(crate) fn envs_known<'a>(
        mut self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
        known: &Redactor,
    ) -> Cmd {
        self.env.extend(
            vars.into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        self.redactor.0.extend(known);
        self
    }

    /// Runs the child in this directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// How an interrupt stops it: engine builds first, ssh masters last.
    pub(crate) fn on_interrupt(mut self, stop: Stop) -> Cmd {
        self.stop = stop;
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

    /// The arguments; an unbound variable shows as `$name`.
    pub fn get_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|w| match w {
                Word::Lit(s) => s.clone(),
                Word::Var(n) => format!("${n}"),
            })
            .collect()
    }

    /// The extra environment.
    pub fn get_env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The redactor for this command's output.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor.0
    }

    /// An environment value as shown: URL userinfo and known secrets hidden.
    fn shown_env(&self, value: &str) -> String {
        self.redactor.0.apply(&redact_url(value)).into_owned()
    }

    /// An argument as shown: known secrets and URL userinfo hidden.
    fn shown_arg<'a>(&self, arg: &'a str) -> Cow<'a, str> {
        self.redactor.0.apply(arg)
    }
}

/// Quotes one word for a POSIX shell, leaving plain words alone.
pub(crate) fn quote(word: &str) -> String {
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
pub(crate) fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        if let Some(d) = &self.cwd {
            words.push(format!("cd {} &&", quote_path(d)));
        }
        for (k, v) in &self.env {
            words.push(format!("{k}={}", quote(&self.shown_env(v))));
        }
        words.push(quote(&self.program));
        words.extend(self.args.iter().map(|w| match w {
            Word::Lit(a) => quote(&self.shown_arg(a)),
            Word::Var(n) => format!("\"${n}\""),
        }));
        f.write_str(&words.join(" "))
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<Cow<'_, str>> = self
            .args
            .iter()
            .map(|w| match w {
                Word::Lit(a) => self.shown_arg(a),
                Word::Var(n) => Cow::Owned(format!("${n}")),
            })
            .collect();
        let env: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), self.shown_env(v)))
            .collect();
        f.debug_struct("Cmd")
            .field("program", &self.program)
            .field("args", &args)
            .field("env", &env)
            .field("cwd", &self.cwd)
            .field("redactor", &self.redactor.0)
            .field("stop", &self.stop)
            .finish()
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
    fn debug_redacts_env_and_args_as_display_does() {
        let mut known = Redactor::default();
        known.add("t0k3n-f0r-the-registry");
        let c = Cmd::new("podman")
            .env("HTTP_PROXY", "http://u:hunter22@proxy:3128")
            .env("GIT_TOKEN", "t0k3n-f0r-the-registry")
            .secrets(&known)
            .args([
                "build",
                "--build-arg",
                "P=http://u:hunter22@proxy:3128",
                "--build-arg",
                "PW=hunter22",
                "https://bot:s3cr3tpw@git.example/r",
                "--password=t0k3n-f0r-the-registry",
            ])
            .var_arg("sha");
        for shown in [format!("{c:?}"), format!("{c:#?}"), c.to_string()] {
            for secret in ["hunter22", "s3cr3tpw", "t0k3n-f0r-the-registry", "u:"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
        assert_eq!(
            format!("{c:?}"),
            "Cmd { program: \"podman\", args: [\"build\", \"--build-arg\", \"P=http://***@proxy:3128\", \"--build-arg\", \"PW=***\", \"https://***@git.example/r\", \"--password=***\", \"$sha\"], \
             env: [(\"HTTP_PROXY\", \"http://***@proxy:3128\"), (\"GIT_TOKEN\", \"***\")], cwd: None, redactor: Redactor { secrets: 4 }, stop: Normal }"
        );
    }

    #[test]
    fn variables_show_as_shell_expansions_until_bound() {
        let c = Cmd::new("ssh")
            .args(["--", "pi", "sh -c 'x' goapp"])
            .var_arg("sha");
        assert_eq!(
            c.to_string(),
            "ssh -- pi 'sh -c '\\''x'\\'' goapp' \"$sha\""
        );
        assert_eq!(c.bind("sha", "ab12").get_args().last().unwrap(), "ab12");
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
}
