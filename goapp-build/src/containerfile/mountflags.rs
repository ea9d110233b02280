//! Mount-flag shims, line-preserving rewrites of `RUN --mount=…` values:
//!
//! - `type=` left out: podman keys such mounts by text alone on every release
//!   (fixed only by buildah PR #6957), and podman 4.3.1 (buildah 1.28) even
//!   mounts one written after a `type=cache` mount as a cache (measured here:
//!   an empty directory instead of the context). `type=bind`, the documented
//!   default, is written out.
//! - A relative `target=` (Docker's Go guide writes `target=.` and
//!   `target=go.mod`): podman before 4.4 takes only absolute targets ("invalid
//!   container path, must be an absolute path", buildah #4309, fixed after
//!   buildah 1.28); it is written out against the stage's WORKDIR.

use crate::containerfile::mounts::{options, Mount};
use crate::containerfile::preflight::Severity;
use crate::containerfile::{Containerfile, Stage};

/// What to rewrite.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rewrites {
    /// Write out `type=bind` where `type=` is left out.
    pub explicit_type: bool,
    /// Make relative targets absolute.
    pub absolute_target: bool,
}

/// A finding: the line, how bad, and what was done or why it could not be.
type Finding = (usize, Severity, String);

/// The file with its mount flags rewritten (when any were), and what was
/// done or why it could not be.
pub(crate) fn normalize(
    text: &str,
    file: &Containerfile,
    want: Rewrites,
    shims: bool,
    engine: &str,
) -> (Option<String>, Vec<Finding>) {
    let shim = Shim {
        file,
        stages: file.stages(),
        want,
        shims,
        engine,
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut findings = Vec::new();
    let mut changed = false;
    for (at, ins) in file.instructions.iter().enumerate() {
        if ins.keyword != "RUN" {
            continue;
        }
        for (name, value) in ins.flags.iter().filter(|(n, _)| n == "mount") {
            let (new, notes) = shim.mount(at, ins.line, value, &mut findings);
            if new == *value {
                continue;
            }
            let old = format!("--{name}={value}");
            if let Some(l) = lines[ins.line - 1..ins.end_line]
                .iter_mut()
                .find(|l| l.contains(&old))
            {
                *l = l.replacen(&old, &format!("--{name}={new}"), 1);
                changed = true;
                findings.extend(notes.into_iter().map(|n| (ins.line, Severity::Note, n)));
            }
        }
    }
    let out = changed.then(|| {
        let mut s = lines.join("\n");
        s.push('\n');
        s
    });
    (out, findings)
}

/// What one file's mount values are rewritten with.
struct Shim<'a> {
    file: &'a Containerfile,
    stages: Vec<Stage>,
    want: Rewrites,
    shims: bool,
    engine: &'a str,
}

impl Shim<'_> {
    /// One `--mount=` value of instruction `at` (on `line`), rewritten, and
    /// a note for each change; a relative target that cannot be written out
    /// is an error in `findings`.
    fn mount(
        &self,
        at: usize,
        line: usize,
        value: &str,
        findings: &mut Vec<Finding>,
    ) -> (String, Vec<String>) {
        let engine = self.engine;
        let mut new = value.to_string();
        let mut notes = Vec::new();
        let m = Mount::from_options(&options(value));
        if self.want.explicit_type && !m.typed && self.shims {
            new = format!("type=bind,{new}");
            notes.push(format!("shim: `type=bind` written out in `--mount={value}` ({engine} keys a mount without `type=` by the instruction text alone, and podman 4.3 mounts it as a cache after a cache mount)"));
        }
        let relative = m.target.filter(|t| !t.starts_with('/') && !t.contains('$'));
        if let (true, Some(target)) = (self.want.absolute_target, relative) {
            match self.absolute_target(at, &target) {
                Ok(abs) => {
                    new = replace_target(&new, &target, &abs);
                    notes.push(format!("shim: mount target `{target}` written as `{abs}` ({engine} takes only absolute mount targets: buildah #4309)"));
                }
                Err(e) => findings.push((line, Severity::Error, e)),
            }
        }
        (new, notes)
    }

    /// The relative mount `target` of instruction `at` written out against
    /// the stage's WORKDIR, or the error that says why it is not.
    fn absolute_target(&self, at: usize, target: &str) -> Result<String, String> {
        let dir = workdir(self.file, &self.stages, at);
        if let Some(dir) = dir.as_deref().filter(|_| self.shims) {
            return Ok(join(dir, target));
        }
        let why = if self.shims {
            " and this stage sets no WORKDIR to resolve it against"
        } else {
            ", and shims are off"
        };
        let example = join(dir.as_deref().unwrap_or("/src"), target);
        let engine = self.engine;
        Err(format!("the mount target `{target}` is relative, which {engine} does not take (buildah #4309, fixed in podman 4.4){why}: write it out, e.g. `target={example}`"))
    }
}

/// The `target=`/`dst=`/`destination=` option of a mount value, replaced.
fn replace_target(value: &str, target: &str, abs: &str) -> String {
    value
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v))
                if v == target
                    && matches!(
                        k.trim().to_lowercase().as_str(),
                        "target" | "dst" | "destination"
                    ) =>
            {
                format!("{k}={abs}")
            }
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `dir` joined with a relative `path` (`.` and `./` dropped).
pub(crate) fn join(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    };
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        // `..` as the kernel reads it: the parent, and `/..` is `/`.
        if part == ".." {
            parts.pop();
        } else {
            parts.push(part);
        }
    }
    format!("/{}", parts.join("/"))
}

/// The WORKDIR in effect at instruction `at`, when the file decides it (a
/// stage without WORKDIR has its base image's, which only the engine knows,
/// unless the base is an earlier stage).
pub(crate) fn workdir(file: &Containerfile, stages: &[Stage], at: usize) -> Option<String> {
    let k = stages.iter().rposition(|s| s.from <= at)?;
    workdir_in(file, stages, k, at)
}

/// The WORKDIR of stage `k` before its instruction `upto`.
fn workdir_in(file: &Containerfile, stages: &[Stage], k: usize, upto: usize) -> Option<String> {
    let st = &stages[k];
    let base = file.resolved_base(st).to_lowercase();
    let mut dir = stages[..k]
        .iter()
        .rposition(|s| s.name.as_deref() == Some(base.as_str()))
        .and_then(|p| workdir_in(file, stages, p, stages[p].end));
    for ins in &file.instructions[st.from + 1..upto.min(st.end)] {
        if ins.keyword != "WORKDIR" {
            continue;
        }
        let w = ins.args.trim().trim_matches('"');
        dir = if w.contains('$') {
            None
        } else if w.starts_with('/') {
            Some(join("", w))
        } else {
            dir.map(|d| join(&d, w))
        };
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Rewrites = Rewrites {
        explicit_type: true,
        absolute_target: true,
    };
    const TARGETS: Rewrites = Rewrites {
        explicit_type: false,
        absolute_target: true,
    };

    fn norm(
        text: &str,
        want: Rewrites,
        shims: bool,
    ) -> (Option<String>, Vec<(usize, Severity, String)>) {
        normalize(
            text,
            &Containerfile::parse(text).unwrap(),
            want,
            shims,
            "podman 4.3.1",
        )
    }

    fn run(text: &str) -> (Option<String>, Vec<(usize, Severity, String)>) {
        norm(text, TARGETS, true)
    }

    #[test]
    fn type_left_out_is_written_as_bind() {
        let text = "FROM g\nWORKDIR /src\nRUN --mount=type=cache,target=/c --mount=target=. --mount=source=x,target=/x,from=b ls\n";
        let (out, findings) = norm(text, BOTH, true);
        assert_eq!(out.unwrap(), "FROM g\nWORKDIR /src\nRUN --mount=type=cache,target=/c --mount=type=bind,target=/src --mount=type=bind,source=x,target=/x,from=b ls\n");
        assert_eq!(findings.len(), 3, "{findings:?}");
        let (out, findings) = norm(text, BOTH, false);
        assert_eq!(out, None, "shims off: nothing rewritten");
        assert_eq!(findings.len(), 1, "the relative target stops: {findings:?}");
    }

    #[test]
    fn relative_targets_resolve_against_workdir() {
        let text = "FROM g AS b\nWORKDIR /src\nRUN --mount=type=cache,target=/go/pkg/mod \\\n    --mount=type=bind,source=go.mod,target=go.mod \\\n    go mod download\nWORKDIR app\nRUN --mount=type=bind,target=. go build -o /out/a .\nFROM b\nRUN --mount=target=./x,source=x ls\n";
        let (out, findings) = run(text);
        let out = out.unwrap();
        assert!(
            out.contains("    --mount=type=bind,source=go.mod,target=/src/go.mod \\\n"),
            "{out}"
        );
        assert!(
            out.contains("RUN --mount=type=bind,target=/src/app go build"),
            "{out}"
        );
        assert!(
            out.contains("RUN --mount=target=/src/app/x,source=x ls"),
            "{out}"
        );
        assert_eq!(out.lines().count(), text.lines().count());
        assert_eq!(findings.len(), 3);
        assert!(findings[0]
            .2
            .starts_with("shim: mount target `go.mod` written as `/src/go.mod`"));
    }

    #[test]
    fn absolute_targets_are_left_alone_and_unknown_workdirs_stop() {
        let text = "FROM g\nRUN --mount=type=bind,target=/src go build .\n";
        assert_eq!(run(text), (None, vec![]));
        let (out, findings) = run("FROM g\nRUN --mount=type=bind,target=src ls\n");
        assert_eq!(out, None);
        assert_eq!(findings[0].1, Severity::Error);
        assert!(
            findings[0].2.contains("this stage sets no WORKDIR"),
            "{findings:?}"
        );
        let (_, findings) = norm(
            "FROM g\nWORKDIR /s\nRUN --mount=target=x ls\n",
            TARGETS,
            false,
        );
        assert!(findings[0].2.contains("shims are off"), "{findings:?}");
    }
}
