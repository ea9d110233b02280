//! A snapshot of the environment the tool was started in: variables, home,
//! terminals. Planning reads this snapshot instead of the process globals so
//! that tests can hand it any environment.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The proxy variables, in the order builds pass them: the one list the
/// build's `--build-arg NAME`s and the config's refusal of them read.
pub(crate) const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// The environment as planning sees it.
#[derive(Clone, Debug, Default)]
pub struct HostEnv {
    vars: BTreeMap<String, String>,
    /// Whether standard input is a terminal (a passphrase can be asked for).
    pub stdin_tty: bool,
    /// Whether standard error is a terminal (progress bars can be drawn).
    pub stderr_tty: bool,
}

impl HostEnv {
    /// The real environment of this process.
    pub fn capture() -> HostEnv {
        HostEnv {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    /// An environment made of exactly these variables, with no terminal.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> HostEnv {
        HostEnv {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..HostEnv::default()
        }
    }

    /// A variable's value; empty counts as unset, as in build.sh's `${X:-…}`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$HOME`.
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// Expands a leading `~/` with `$HOME`.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), self.home()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(path),
        }
    }

    /// Where goapp-build keeps its caches and logs: `$GOAPP_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/goapp-build`, else `~/.cache/goapp-build`.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(d) = self.var("GOAPP_CACHE_DIR") {
            return PathBuf::from(d);
        }
        if let Some(d) = self.var("XDG_CACHE_HOME") {
            return PathBuf::from(d).join("goapp-build");
        }
        match self.home() {
            Some(h) => h.join(".cache/goapp-build"),
            None => std::env::temp_dir().join("goapp-build"),
        }
    }
}
