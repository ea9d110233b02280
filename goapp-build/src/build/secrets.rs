//! Build secrets and the ssh agent: where their sources are, and whether they
//! exist. A secret is wired only when its source exists.

use crate::core::env::HostEnv;
use std::path::{Path, PathBuf};

/// A file the build may mount as a secret (`--secret id=ID,src=PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretFile {
    /// The id the Containerfile mounts (`goenv`, `netrc`, `certs`).
    pub id: String,
    /// Where it comes from.
    pub path: PathBuf,
    /// Whether it is a regular file that can be mounted (read when the
    /// inputs are gathered).
    pub exists: bool,
    /// Whether something else is there (a directory, a device): the
    /// warning then says so instead of "does not exist".
    pub other: bool,
    /// Which setting named it, for the warning when it is missing.
    pub origin: String,
}

impl SecretFile {
    /// A secret whose existence is read from the file system now.
    pub(crate) fn probe(id: &str, path: PathBuf, origin: &str) -> SecretFile {
        let exists = path.is_file();
        SecretFile {
            id: id.to_string(),
            other: !exists && path.exists(),
            path,
            exists,
            origin: origin.to_string(),
        }
    }

    /// Why it is not wired, for the warning.
    pub(crate) fn why_missing(&self) -> String {
        let what = if self.other {
            "is not a regular file"
        } else {
            "does not exist"
        };
        format!("{} ({}) {what}", self.path.display(), self.origin)
    }
}

/// The values that say "no file" on purpose: Go's `GOENV=off`, and
/// `/dev/null` (what people set to turn a file off).
fn turned_off(value: &str) -> bool {
    value == "off" || value == "/dev/null"
}

/// `go env GOENV` without needing Go on the host: `$GOENV`, else
/// `$XDG_CONFIG_HOME/go/env`, else `~/.config/go/env`. `None` for
/// `GOENV=off` and `GOENV=/dev/null`: no file, on purpose.
pub(crate) fn goenv(env: &HostEnv) -> Option<SecretFile> {
    if let Some(p) = env.var("GOENV") {
        return (!turned_off(p)).then(|| SecretFile::probe("goenv", PathBuf::from(p), "GOENV"));
    }
    let base = match env.var("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => env.home()?.join(".config"),
    };
    Some(SecretFile::probe(
        "goenv",
        base.join("go/env"),
        "go env GOENV",
    ))
}

/// The netrc for private module hosts behind the proxy: `$NETRC` or `~/.netrc`.
pub(crate) fn netrc(env: &HostEnv) -> Option<SecretFile> {
    match env.var("NETRC") {
        Some(p) if turned_off(p) => None,
        Some(p) => Some(SecretFile::probe("netrc", PathBuf::from(p), "NETRC")),
        None => Some(SecretFile::probe(
            "netrc",
            env.home()?.join(".netrc"),
            "~/.netrc",
        )),
    }
}

/// The CA bundle (a proxy that intercepts TLS has its own CA in it):
/// `$SSL_CERT_FILE` or Debian's bundle.
pub(crate) fn certs(env: &HostEnv) -> SecretFile {
    match env.var("SSL_CERT_FILE") {
        Some(p) => SecretFile::probe("certs", PathBuf::from(p), "SSL_CERT_FILE"),
        None => SecretFile::probe(
            "certs",
            PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            "the system CA bundle",
        ),
    }
}

/// The ssh agent's socket, when `SSH_AUTH_SOCK` names one that exists.
pub(crate) fn agent_socket(env: &HostEnv) -> AgentSocket {
    match env.var("SSH_AUTH_SOCK") {
        None => AgentSocket::Unset,
        Some(p) if Path::new(p).exists() => AgentSocket::Present(PathBuf::from(p)),
        Some(p) => AgentSocket::Missing(PathBuf::from(p)),
    }
}

/// What `SSH_AUTH_SOCK` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AgentSocket {
    /// Not set.
    Unset,
    /// Set, and the socket exists.
    Present(PathBuf),
    /// Set to a path that does not exist (a stale shell).
    Missing(PathBuf),
}

/// The public key whose private half must be unlocked in the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SshKey {
    /// Configured explicitly (`ssh_key:`); it must exist.
    Configured {
        /// The `.pub` file.
        public: PathBuf,
        /// Whether it exists.
        exists: bool,
    },
    /// The first of the usual keys that exists.
    Found(PathBuf),
    /// None of the usual keys exists.
    NoneFound,
}

/// Keys tried when none is configured, in build.sh's order of preference.
pub(crate) const DEFAULT_KEYS: [&str; 3] = [
    "~/.ssh/id_ecdsa.pub",
    "~/.ssh/id_ed25519.pub",
    "~/.ssh/id_rsa.pub",
];

/// Chooses the key to check.
pub(crate) fn ssh_key(env: &HostEnv, configured: Option<&str>) -> SshKey {
    if let Some(c) = configured {
        let mut public = env.expand_tilde(c);
        if public.extension().is_none_or(|e| e != "pub") {
            public = PathBuf::from(format!("{}.pub", public.display()));
        }
        let exists = public.is_file();
        return SshKey::Configured { public, exists };
    }
    DEFAULT_KEYS
        .iter()
        .map(|k| env.expand_tilde(k))
        .find(|p| p.is_file())
        .map(SshKey::Found)
        .unwrap_or(SshKey::NoneFound)
}

/// The private key of a public key path (`id_ecdsa.pub` → `id_ecdsa`).
pub(crate) fn private_of(public: &Path) -> PathBuf {
    match public.to_str().and_then(|s| s.strip_suffix(".pub")) {
        Some(p) => PathBuf::from(p),
        None => public.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_and_off_mean_no_file_and_a_device_is_not_missing() {
        for v in ["off", "/dev/null"] {
            assert_eq!(goenv(&HostEnv::from_vars([("GOENV", v)])), None, "{v}");
            assert_eq!(
                netrc(&HostEnv::from_vars([("NETRC", v), ("HOME", "/h")])),
                None
            );
        }
        let s = goenv(&HostEnv::from_vars([("GOENV", "/dev/zero")])).unwrap();
        assert!(!s.exists && s.other);
        assert_eq!(s.why_missing(), "/dev/zero (GOENV) is not a regular file");
        let s = goenv(&HostEnv::from_vars([("HOME", "/nonexistent")])).unwrap();
        assert_eq!(
            s.why_missing(),
            "/nonexistent/.config/go/env (go env GOENV) does not exist"
        );
    }
}
