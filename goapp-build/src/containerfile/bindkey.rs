//! The bind-mount shim: on engines whose layer cache keys `RUN --mount=type=bind`
//! by the instruction text alone (podman < 5.4; mounts without `type=` get it
//! written out first, see `mountflags`), a generated `ARG` is declared right before each such
//! `RUN` and set (`--build-arg`) to the digest of what it mounts. buildah keys
//! a `RUN` by the build args declared before it, so the step — and only the
//! steps from it on — reruns exactly when the mounted content changes.

use crate::containerfile::mounts::{Mount, MountKind};
use crate::containerfile::preflight::Severity;
use crate::containerfile::{Containerfile, Stage};
use crate::engine::caps::BindKeying;

/// What a generated build arg must be set to for one `RUN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BindKey {
    /// The `ARG` name (`GOAPP_BIND_<line>`).
    pub arg: String,
    /// The `RUN`'s line.
    pub line: usize,
    /// What it mounts, in order.
    pub sources: Vec<BindSource>,
}

/// One mounted source whose content decides the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BindSource {
    /// The build context, or the path under it (ignore files honoured).
    Context(Option<String>),
    /// Another stage or an image: not known before the build, so the step is
    /// keyed by everything the image is built from (its inputs hash).
    Inputs,
}

/// What the shim decided for a file.
#[derive(Debug, Default)]
pub(crate) struct BindShim {
    /// `(line, text)`: text to insert before that line.
    pub inserts: Vec<(usize, String)>,
    /// The build args to set.
    pub keys: Vec<BindKey>,
    /// Notes (shim applied) and errors (cannot be made right).
    pub findings: Vec<(usize, Severity, String)>,
}

/// A bind mount the engine would not key by content, and what it mounts.
struct Unkeyed {
    source: BindSource,
    what: String,
}

/// Finds the `RUN`s whose bind mounts `keying` does not cover.
pub(crate) fn plan(
    file: &Containerfile,
    keying: BindKeying,
    shims: bool,
    engine: &str,
) -> BindShim {
    let mut out = BindShim::default();
    let stages = file.stages();
    for (k, st) in stages.iter().enumerate() {
        for ins in &file.instructions[st.from + 1..st.end] {
            if ins.keyword != "RUN" {
                continue;
            }
            let mut unkeyed = Vec::new();
            for m in ins.typed_mounts() {
                match classify(&m, &stages[..k], keying) {
                    Class::Keyed => {}
                    Class::Unkeyed(u) => unkeyed.push(u),
                    Class::StaleStage(stage) => out.findings.push((ins.line, Severity::Error, format!("`--mount=…,from={stage}` on {engine} mounts a stale copy of stage `{stage}` whenever that stage comes from the cache (buildah #4375, fixed in podman 4.4): copy what the step needs with `COPY --from={stage} …` before it, or pass --no-cache (every step is then rebuilt, so no stage comes from the cache)"))),
                }
            }
            if unkeyed.is_empty() {
                continue;
            }
            let what: Vec<String> = unkeyed.iter().map(|u| u.what.clone()).collect();
            let what = what.join(" and ");
            if !shims {
                out.findings.push((ins.line, Severity::Error, format!("this RUN bind-mounts {what}, which {engine} caches by the instruction text alone (buildah #5400; keyed by content for `type=bind` from podman 5.4): after a change it reuses the old result; drop --no-shims to have the tool key it by content, or COPY what the step needs instead of mounting it")));
                continue;
            }
            let arg = format!("GOAPP_BIND_{}", ins.line);
            out.findings.push((ins.line, Severity::Note, format!("shim: `ARG {arg}` declared before this RUN and set to the digest of {what}: {engine} caches bind mounts by the instruction text alone (buildah #5400), so a change would otherwise reuse the old result")));
            out.inserts.push((ins.line, format!("ARG {arg}")));
            out.keys.push(BindKey {
                arg,
                line: ins.line,
                sources: unkeyed.into_iter().map(|u| u.source).collect(),
            });
        }
    }
    out
}

enum Class {
    Keyed,
    Unkeyed(Unkeyed),
    StaleStage(String),
}

/// How the engine keys one mount; `earlier` are the stages before this one.
fn classify(m: &Mount, earlier: &[Stage], keying: BindKeying) -> Class {
    if m.kind != MountKind::Bind {
        return Class::Keyed;
    }
    let typed = m.typed || keying.typeless;
    let Some(from) = &m.from else {
        if typed && keying.context {
            return Class::Keyed;
        }
        let sub = m.context_subpath();
        let what = match &sub {
            Some(p) => format!("`{p}` from the build context"),
            None => "the build context".to_string(),
        };
        return Class::Unkeyed(Unkeyed {
            source: BindSource::Context(sub),
            what,
        });
    };
    let stage = is_stage(from, earlier);
    if stage && !keying.stage_fresh {
        return Class::StaleStage(from.clone());
    }
    let keyed = typed && if stage { keying.stage } else { keying.image };
    if keyed {
        return Class::Keyed;
    }
    Class::Unkeyed(Unkeyed {
        source: BindSource::Inputs,
        what: format!(
            "{} `{from}` (keyed by this image's inputs hash)",
            if stage { "stage" } else { "image" }
        ),
    })
}

/// Whether `from=` names an earlier stage (by name or index). A variable
/// counts as a stage: the stricter reading.
fn is_stage(from: &str, earlier: &[Stage]) -> bool {
    let f = from.to_lowercase();
    f.contains('$')
        || f.parse::<usize>().is_ok_and(|i| i < earlier.len())
        || earlier
            .iter()
            .any(|s| s.name.as_deref() == Some(f.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::caps::from_version;
    use crate::engine::{BuildFront, EngineKind};

    fn keying(v: &str) -> BindKeying {
        from_version(
            EngineKind::Podman,
            BuildFront::Podman,
            v,
            crate::engine::ImageStore::DockerClassic,
        )
        .bind_keying
    }

    const FILE: &str = "FROM docker.io/library/golang:1.19 AS build\n\
WORKDIR /src\n\
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=bind,source=go.mod,target=go.mod go mod download\n\
RUN --mount=target=/src go build -o /out/app .\n\
RUN --mount=type=cache,target=/root/.cache go env\n\
FROM docker.io/library/debian:12\n\
RUN --mount=type=bind,from=build,source=/out,target=/o cp /o/app /app\n\
RUN --mount=type=bind,from=docker.io/library/busybox:1,target=/bb /bb/bin/true\n";

    #[test]
    fn podman_4_4_keys_every_bind_by_generated_args() {
        let s = plan(
            &Containerfile::parse(FILE).unwrap(),
            keying("4.4.0"),
            true,
            "podman 4.4.0",
        );
        let lines: Vec<usize> = s.keys.iter().map(|k| k.line).collect();
        assert_eq!(lines, [3, 4, 7, 8], "cache-only RUNs are left alone");
        assert_eq!(s.keys[0].arg, "GOAPP_BIND_3");
        assert_eq!(
            s.keys[0].sources,
            [BindSource::Context(Some("go.mod".into()))]
        );
        assert_eq!(s.keys[1].sources, [BindSource::Context(None)]);
        assert_eq!(s.keys[2].sources, [BindSource::Inputs]);
        assert_eq!(s.keys[3].sources, [BindSource::Inputs]);
        assert_eq!(s.inserts[0], (3, "ARG GOAPP_BIND_3".to_string()));
        assert!(s.findings.iter().all(|f| f.1 == Severity::Note));
        assert!(s.findings[0].2.starts_with("shim: `ARG GOAPP_BIND_3` declared before this RUN and set to the digest of `go.mod` from the build context: podman 4.4.0 caches bind mounts by the instruction text alone (buildah #5400)"), "{:?}", s.findings);
    }

    #[test]
    fn podman_5_3_keys_explicit_binds_itself_and_docker_all() {
        let s = plan(
            &Containerfile::parse(FILE).unwrap(),
            keying("5.4.1"),
            true,
            "podman 5.4.1",
        );
        let lines: Vec<usize> = s.keys.iter().map(|k| k.line).collect();
        assert_eq!(lines, [4, 7], "type-less and from=<stage> stay unkeyed");
        let s = plan(
            &Containerfile::parse(FILE).unwrap(),
            BindKeying::ALL,
            true,
            "docker 20.10",
        );
        assert!(s.keys.is_empty() && s.inserts.is_empty() && s.findings.is_empty());
    }

    #[test]
    fn podman_4_3_stops_on_stage_mounts_and_without_shims() {
        let s = plan(
            &Containerfile::parse(FILE).unwrap(),
            keying("4.3.1"),
            true,
            "podman 4.3.1",
        );
        let errors: Vec<&(usize, Severity, String)> = s
            .findings
            .iter()
            .filter(|f| f.1 == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 7);
        assert!(errors[0].2.contains("buildah #4375"), "{errors:?}");
        let s = plan(
            &Containerfile::parse(FILE).unwrap(),
            keying("4.4.0"),
            false,
            "podman 4.4.0",
        );
        assert!(s.keys.is_empty() && s.inserts.is_empty());
        assert_eq!(s.findings.len(), 4);
        assert!(s.findings.iter().all(|f| f.1 == Severity::Error));
        assert!(s.findings[1].2.starts_with("this RUN bind-mounts the build context, which podman 4.4.0 caches by the instruction text alone"), "{:?}", s.findings);
    }

    #[test]
    fn stage_references_by_name_index_and_variable() {
        let c = Containerfile::parse("FROM a AS one\nFROM b\nFROM c\n").unwrap();
        let st = c.stages();
        assert!(is_stage("ONE", &st[..2]));
        assert!(is_stage("1", &st[..2]));
        assert!(!is_stage("2", &st[..2]));
        assert!(is_stage("$B", &st[..2]));
        assert!(!is_stage("docker.io/library/busybox", &st[..2]));
    }
}
