//! `RUN --mount=…` options read as the engines read them: `type` defaults to
//! `bind`, `source`/`src`, `target`/`dst`/`destination`, `from`.

use crate::containerfile::Instruction;

/// What a mount is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MountKind {
    /// A read-only (or `rw`, discarded) view of the context, a stage or an image.
    Bind,
    /// A persistent cache directory.
    Cache,
    /// A secret file (or variable).
    Secret,
    /// The ssh agent socket.
    Ssh,
    /// An empty tmpfs.
    Tmpfs,
    /// Anything else, as written.
    Other(String),
}

/// One `--mount` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Its kind (`bind` when `type=` is left out).
    pub kind: MountKind,
    /// Whether `type=` was written (buildah keys only explicit `type=bind`).
    pub typed: bool,
    /// `source=`/`src=`, as written.
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`.
    pub target: Option<String>,
    /// `from=`: a stage, an image, or (absent) the build context.
    pub from: Option<String>,
    /// `id=`: which secret (or ssh agent) it mounts. For a secret it
    /// defaults to the target's file name, as BuildKit and buildah read it.
    pub id: Option<String>,
}

impl Instruction {
    /// The `--mount` flags, typed.
    pub(crate) fn typed_mounts(&self) -> Vec<Mount> {
        self.mounts()
            .iter()
            .map(|kv| Mount::from_options(kv))
            .collect()
    }
}

/// The `key=value` options of one `--mount` value, keys lowercased.
pub(crate) fn options(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), v.trim().to_string()),
            None => (kv.trim().to_lowercase(), String::new()),
        })
        .collect()
}

impl Mount {
    /// Reads the `key=value` options of one `--mount`.
    pub(crate) fn from_options(kv: &[(String, String)]) -> Mount {
        let get = |keys: &[&str]| {
            kv.iter()
                .find(|(k, _)| keys.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        };
        let ty = get(&["type"]);
        let kind = match ty.as_deref().map(str::to_lowercase).as_deref() {
            None | Some("bind") => MountKind::Bind,
            Some("cache") => MountKind::Cache,
            Some("secret") => MountKind::Secret,
            Some("ssh") => MountKind::Ssh,
            Some("tmpfs") => MountKind::Tmpfs,
            Some(other) => MountKind::Other(other.to_string()),
        };
        let target = get(&["target", "dst", "destination"]);
        let id = get(&["id"]).filter(|i| !i.is_empty()).or_else(|| {
            let t = target.as_deref()?.trim_end_matches('/');
            (kind == MountKind::Secret).then(|| t.rsplit('/').next().unwrap_or(t).to_string())
        });
        Mount {
            kind,
            typed: ty.is_some(),
            source: get(&["source", "src"]),
            target,
            from: get(&["from"]).filter(|f| !f.is_empty()),
            id,
        }
    }

    /// For a bind from the build context: the mounted path relative to the
    /// context (`None`: all of it). A path the tool cannot pin down (a
    /// variable, `..`) counts as the whole context, which covers it.
    pub(crate) fn context_subpath(&self) -> Option<String> {
        let raw = self.source.as_deref()?.trim();
        if raw.contains('$') || raw.split('/').any(|s| s == "..") {
            return None;
        }
        let parts: Vec<&str> = raw
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }
}

/// What a Containerfile asks the build for: secrets by id, the ssh agent.
/// Only those are worth a warning when they are missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    /// The ids of `--mount=type=secret` (`goenv`, `netrc`, `certs`, …).
    pub secrets: Vec<String>,
    /// Whether any step mounts the ssh agent (`--mount=type=ssh`).
    pub ssh: bool,
}

impl Uses {
    /// What every `RUN --mount` of `file` asks for.
    pub(crate) fn of(file: &crate::containerfile::Containerfile) -> Uses {
        let mut u = Uses::default();
        for m in file.instructions.iter().flat_map(|i| i.typed_mounts()) {
            match (&m.kind, m.id) {
                (MountKind::Ssh, _) => u.ssh = true,
                (MountKind::Secret, Some(id)) if !u.secrets.contains(&id) => u.secrets.push(id),
                _ => {}
            }
        }
        u
    }

    /// Whether the secret `id` is mounted.
    pub(crate) fn secret(&self, id: &str) -> bool {
        self.secrets.iter().any(|s| s == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containerfile::Containerfile;

    #[test]
    fn kinds_sources_and_defaults() {
        let c = Containerfile::parse(
            "FROM x\nRUN --mount=target=/src --mount=type=bind,src=./cmd/app/,dst=/a --mount=type=cache,target=/c --mount=type=bind,from=build,source=/out,target=/o --mount=source=$D,target=/d true\n",
        )
        .unwrap();
        let m = c.instructions[1].typed_mounts();
        assert_eq!(m.len(), 5);
        assert_eq!((&m[0].kind, m[0].typed), (&MountKind::Bind, false));
        assert_eq!(m[0].context_subpath(), None);
        assert_eq!(m[1].context_subpath().as_deref(), Some("cmd/app"));
        assert_eq!(m[1].target.as_deref(), Some("/a"));
        assert_eq!(m[2].kind, MountKind::Cache);
        assert_eq!(m[3].from.as_deref(), Some("build"));
        assert_eq!(
            m[4].context_subpath(),
            None,
            "a variable: the whole context"
        );
        let dotdot = Mount::from_options(&[("source".into(), "../x".into())]);
        assert_eq!(dotdot.context_subpath(), None);
        let dot = Mount::from_options(&[("source".into(), ".".into())]);
        assert_eq!(dot.context_subpath(), None);
    }

    #[test]
    fn secrets_by_id_and_the_agent() {
        let c = Containerfile::parse(
            "FROM x\nRUN --mount=type=secret,id=goenv,target=/root/.config/go/env --mount=type=secret,target=/run/secrets/netrc true\nRUN --mount=type=cache,target=/c true\n",
        )
        .unwrap();
        let u = Uses::of(&c);
        assert_eq!(u.secrets, ["goenv", "netrc"]);
        assert!(!u.ssh && u.secret("goenv") && !u.secret("certs"));
        let c = Containerfile::parse("FROM x\nRUN --mount=type=ssh,id=default go mod download\n")
            .unwrap();
        assert_eq!(
            Uses::of(&c),
            Uses {
                secrets: vec![],
                ssh: true
            }
        );
        assert_eq!(
            Uses::of(&Containerfile::parse("FROM scratch\n").unwrap()),
            Uses::default()
        );
    }
}
