//! Before the engine starts: what the Containerfile uses against what the
//! engine can do (stop with `file:line` and the fix, or apply a safe shim
//! and say so), and lints from established practice.

use crate::containerfile::{json_string, parse_json_array, Containerfile, Instruction, Stage};
use crate::core::arch::Arch;
use crate::engine::caps::{can_run, emulation_fix, Capabilities, Emulation};
use crate::engine::EngineKind;
use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Stops the build.
    Error,
    /// Established practice not followed (`--strict` stops on these).
    Warning,
    /// Something the tool did or that the user should know.
    Note,
}

/// One finding, printed as `path:line: severity: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The Containerfile.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Severity.
    pub severity: Severity,
    /// What, why, and the fix.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(
            f,
            "{}:{}: {s}: {}",
            self.path.display(),
            self.line,
            self.message
        )
    }
}

/// What preflight decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Everything found, in line order.
    pub findings: Vec<Finding>,
    /// A rewritten Containerfile, when a shim changed the file.
    pub shimmed: Option<String>,
}

impl Outcome {
    /// The errors (with `strict`, warnings count as errors).
    pub fn blocking(&self, strict: bool) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| {
                f.severity == Severity::Error || (strict && f.severity == Severity::Warning)
            })
            .collect()
    }
}

/// What the checks need to know.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The file, for messages.
    pub path: &'a Path,
    /// The engine's abilities.
    pub caps: &'a Capabilities,
    /// Architectures being built.
    pub arches: &'a [Arch],
    /// The machine building.
    pub host: Arch,
    /// Whether shims may rewrite the file.
    pub shims: bool,
}

/// Runs the capability checks, shims and lints.
pub fn check(text: &str, file: &Containerfile, cx: &Context) -> Outcome {
    let mut out = Outcome::default();
    let mut find = |line: usize, severity: Severity, message: String| {
        out.findings.push(Finding {
            path: cx.path.to_path_buf(),
            line,
            severity,
            message,
        })
    };
    let stages = file.stages();
    let engine = format!("{} {}", cx.caps.kind, cx.caps.version);

    // Heredocs.
    let mut rewrites: Vec<(usize, usize, String)> = Vec::new();
    for (n, ins) in file.instructions.iter().enumerate() {
        if ins.heredocs.is_empty() || cx.caps.heredoc {
            continue;
        }
        if ins.keyword != "RUN" {
            find(ins.line, Severity::Error, format!("{} with a heredoc needs heredoc support, which {engine} lacks: put the content in a file in the context and {} that, or use an engine with heredocs (podman ≥ 5, docker ≥ 23)", ins.keyword, ins.keyword));
            continue;
        }
        if !cx.shims {
            find(ins.line, Severity::Error, format!("RUN with a heredoc needs heredoc support, which {engine} lacks, and shims are off: drop --no-shims to have it rewritten, or write the script on one RUN line"));
            continue;
        }
        let shell = stage_shell(file, &stages, n);
        rewrites.push((ins.line, ins.end_line, rewrite_heredoc_run(ins, &shell)));
        find(ins.line, Severity::Note, format!("shim: heredoc RUN rewritten as `RUN [\"{}\", …]` with the same shell, mounts and exit status ({engine} has no heredocs)", shell.join("\", \"")));
    }

    // `# syntax=` makes BuildKit pull a frontend image before anything else.
    for d in file.directives.iter().filter(|d| d.name == "syntax") {
        let official = d.value.starts_with("docker/dockerfile:1")
            || d.value.starts_with("docker.io/docker/dockerfile:1");
        match cx.caps.kind {
            EngineKind::Docker if official && cx.shims && !uses_secret_env(file) => {
                rewrites.push((d.line, d.line, String::new()));
                find(d.line, Severity::Note, format!("shim: `# syntax={}` dropped: it makes BuildKit pull the frontend image, which fails offline; the built-in frontend of {engine} handles this file", d.value));
            }
            EngineKind::Docker => find(d.line, Severity::Note, format!("`# syntax={}` makes BuildKit pull that frontend image first: this build needs the network", d.value)),
            EngineKind::Podman => {}
        }
    }

    // Secrets as environment variables.
    if !cx.caps.secret_env {
        for ins in &file.instructions {
            for m in ins.mounts() {
                let ty = m.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str());
                if ty == Some("secret") && m.iter().any(|(k, _)| k == "env") {
                    find(ins.line, Severity::Error, format!("`--mount=type=secret,…,env=…` needs an engine that mounts secrets as environment variables, which {engine} cannot (podman ≥ 5.1, docker ≥ 27): read /run/secrets/<id> in the step instead"));
                }
            }
        }
    }

    // `FROM --platform=$BUILDPLATFORM` on engines that leave it empty.
    if !cx.caps.buildplatform_in_from {
        if let Some(st) = stages.iter().find(|s| {
            s.platform
                .as_deref()
                .is_some_and(|p| p.contains("BUILDPLATFORM"))
        }) {
            find(file.instructions[st.from].line, Severity::Note, format!("shim: --build-arg BUILDPLATFORM={} ({engine} leaves $BUILDPLATFORM empty in FROM)", cx.host.platform()));
        }
    }

    // Foreign architectures whose RUN steps need emulation.
    for &arch in cx.arches {
        if let Emulation::Missing(entry) = can_run(arch, cx.host) {
            for st in &stages {
                if on_buildplatform(st) {
                    continue;
                }
                if let Some(run) = file.instructions[st.from..st.end]
                    .iter()
                    .find(|i| i.keyword == "RUN")
                {
                    find(run.line, Severity::Error, format!("building for {arch} on {} runs this step under emulation, but {} is not registered: {}", cx.host, entry.display(), emulation_fix(arch)));
                    break;
                }
            }
        }
    }

    lints(file, &stages, cx, &mut find);
    out.findings.sort_by_key(|f| (f.line, f.severity));
    if !rewrites.is_empty() {
        out.shimmed = Some(apply(text, &rewrites));
    }
    out
}

fn uses_secret_env(file: &Containerfile) -> bool {
    file.instructions
        .iter()
        .any(|i| i.mounts().iter().any(|m| m.iter().any(|(k, _)| k == "env")))
}

fn on_buildplatform(st: &Stage) -> bool {
    st.platform
        .as_deref()
        .is_some_and(|p| p.contains("BUILDPLATFORM"))
}

/// The shell a stage's shell-form RUN uses (`SHELL […]`, else `/bin/sh -c`).
fn stage_shell(file: &Containerfile, stages: &[Stage], at: usize) -> Vec<String> {
    let st = stages.iter().rev().find(|s| s.from <= at);
    let start = st.map(|s| s.from).unwrap_or(0);
    file.instructions[start..at]
        .iter()
        .rev()
        .find(|i| i.keyword == "SHELL")
        .and_then(|i| parse_json_array(&i.args))
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// `RUN [flags] <<EOF … EOF` as exec form with the same shell. A lone
/// heredoc is the script itself (a `#!` script is run by its interpreter);
/// a command with heredocs is handed to the shell, which does heredocs.
fn rewrite_heredoc_run(ins: &Instruction, shell: &[String]) -> String {
    let flags: String = ins
        .flags
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                format!("--{k} ")
            } else {
                format!("--{k}={v} ")
            }
        })
        .collect();
    let args = ins.args.trim();
    let lone = ins.heredocs.len() == 1 && {
        let h = &ins.heredocs[0];
        let marks = [
            format!("<<{}", h.delimiter),
            format!("<<-{}", h.delimiter),
            format!("<<\"{}\"", h.delimiter),
            format!("<<'{}'", h.delimiter),
            format!("<<-\"{}\"", h.delimiter),
            format!("<<-'{}'", h.delimiter),
        ];
        marks.iter().any(|m| m == args)
    };
    let mut argv: Vec<String> = shell.to_vec();
    if lone && ins.heredocs[0].body.starts_with("#!") {
        // Run the script by its own interpreter, from a file removed afterwards.
        argv = vec![
            "/bin/sh".into(),
            "-c".into(),
            "f=$(mktemp) && printf '%s' \"$1\" > \"$f\" && chmod +x \"$f\" && \"$f\"; rc=$?; rm -f \"$f\"; exit $rc".into(),
            "sh".into(),
            ins.heredocs[0].body.clone(),
        ];
    } else if lone {
        argv.push(ins.heredocs[0].body.clone());
    } else {
        let mut script = format!("{args}\n");
        for h in &ins.heredocs {
            script.push_str(&h.body);
            script.push_str(&h.delimiter);
            script.push('\n');
        }
        argv.push(script);
    }
    format!(
        "RUN {flags}[{}]",
        argv.iter()
            .map(|a| json_string(a))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Replaces line ranges (1-based, inclusive) with new text.
fn apply(text: &str, rewrites: &[(usize, usize, String)]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut n = 1;
    while n <= lines.len() {
        if let Some((_, end, repl)) = rewrites.iter().find(|(s, _, _)| *s == n) {
            if !repl.is_empty() {
                out.push_str(repl);
                out.push('\n');
            }
            n = end + 1;
        } else {
            out.push_str(lines[n - 1]);
            out.push('\n');
            n += 1;
        }
    }
    out
}

const TARGET_ARGS: [&str; 4] = ["TARGETARCH", "TARGETOS", "TARGETPLATFORM", "TARGETVARIANT"];

fn lints(
    file: &Containerfile,
    stages: &[Stage],
    cx: &Context,
    find: &mut impl FnMut(usize, Severity, String),
) {
    let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
    let last = stages.len().saturating_sub(1);
    let final_base = stages
        .last()
        .map(|s| base_of(file, stages, s))
        .unwrap_or_default();
    let minimal_final = final_base == "scratch" || final_base.contains("distroless");
    let foreign = cx.arches.iter().any(|a| *a != cx.host);

    for (k, st) in stages.iter().enumerate() {
        let from = &file.instructions[st.from];
        let base = file.resolved_base(st);
        // 1. Fully qualified image names.
        if base != "scratch"
            && !names.contains(&base.to_lowercase().as_str())
            && !base.contains('$')
            && !qualified(&base)
        {
            let fix = if base.contains('/') {
                format!("docker.io/{base}")
            } else {
                format!("docker.io/library/{base}")
            };
            find(from.line, Severity::Warning, format!("`{base}` is not a fully qualified image name: write `{fix}` (podman asks its search registries in turn, docker assumes Docker Hub: the same file can build from different images)"));
        }
        let body = &file.instructions[st.from + 1..st.end];
        // 3. Builder stages that run under emulation.
        if k != last && foreign && !on_buildplatform(st) && body.iter().any(|i| i.keyword == "RUN")
        {
            let arches: Vec<String> = cx
                .arches
                .iter()
                .filter(|a| **a != cx.host)
                .map(|a| a.to_string())
                .collect();
            find(from.line, Severity::Warning, format!("this builder stage is not on `--platform=$BUILDPLATFORM`: building for {} on {} runs all its steps under QEMU, many times slower; add `--platform=$BUILDPLATFORM` and cross-compile with `GOARCH=$TARGETARCH`", arches.join(", "), cx.host));
        }
        // 4. A final stage pinned by digest while building several architectures.
        if k == last && cx.arches.len() > 1 && base.contains("@sha256:") {
            find(from.line, Severity::Warning, format!("the final stage is pinned by a digest while building {}: a digest names one platform's image unless it is an index; pin a multi-platform index digest or one per architecture", cx.arches.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")));
        }
        // 2. ARG TARGETARCH before steps that do not use it.
        if on_buildplatform(st) {
            for (n, ins) in body.iter().enumerate() {
                if ins.keyword != "ARG" {
                    continue;
                }
                for var in ins
                    .args
                    .split_whitespace()
                    .map(|w| w.split('=').next().unwrap_or(w))
                    .filter(|w| TARGET_ARGS.contains(w))
                {
                    let rest = &body[n + 1..];
                    let first_use = rest
                        .iter()
                        .position(|i| i.uses_var(var))
                        .unwrap_or(rest.len());
                    let wasted: Vec<&Instruction> = rest[..first_use]
                        .iter()
                        .filter(|i| matches!(i.keyword.as_str(), "RUN" | "COPY" | "ADD"))
                        .collect();
                    if let Some(first) = wasted.first() {
                        find(ins.line, Severity::Warning, format!("`ARG {var}` is declared before {} step(s) that do not use it (from line {}): they then run once per architecture instead of being shared; declare it right before the step that uses it", wasted.len(), first.line));
                    }
                }
            }
        }
        // 5. Shell-form ENTRYPOINT/CMD in a minimal final image.
        if k == last && minimal_final {
            for ins in body
                .iter()
                .filter(|i| matches!(i.keyword.as_str(), "ENTRYPOINT" | "CMD"))
            {
                if !ins.is_exec_form() {
                    find(ins.line, Severity::Warning, format!("shell-form {} needs /bin/sh, which a {} image does not have: write the exec form, e.g. {} [\"/app\"]", ins.keyword, if final_base == "scratch" { "scratch" } else { "distroless" }, ins.keyword));
                }
            }
        }
        // 6. cgo binaries for a minimal final image.
        if minimal_final {
            let mut cgo_off = false;
            for ins in body {
                let text = format!(
                    "{} {}",
                    ins.args,
                    ins.heredocs
                        .iter()
                        .map(|h| h.body.as_str())
                        .collect::<String>()
                );
                if matches!(ins.keyword.as_str(), "ENV" | "ARG") && text.contains("CGO_ENABLED=0") {
                    cgo_off = true;
                }
                if ins.keyword == "RUN"
                    && (text.contains("go build") || text.contains("go install"))
                    && !cgo_off
                    && !text.contains("CGO_ENABLED=0")
                {
                    find(ins.line, Severity::Warning, format!("`go build` without CGO_ENABLED=0 while the final image is {final_base}: a cgo binary needs libc at run time and will not start there; add `ENV CGO_ENABLED=0`"));
                }
            }
        }
        // 7. VOLUME over what the image already holds.
        for (n, ins) in body
            .iter()
            .enumerate()
            .filter(|(_, i)| i.keyword == "VOLUME")
        {
            let paths = parse_json_array(&ins.args)
                .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
            for p in paths {
                let p = p.trim_end_matches('/');
                let writer = body[..n].iter().find(|i| writes_path(i, p));
                if let Some(w) = writer {
                    find(ins.line, Severity::Warning, format!("VOLUME {p} covers files the image puts there (line {}): an empty volume is mounted over them in Kubernetes, and later steps cannot change them; drop VOLUME and declare the volume where the container runs", w.line));
                }
            }
        }
        // 8. apt cache mounts shared between concurrent builds.
        for ins in body.iter().filter(|i| i.keyword == "RUN") {
            for m in ins.mounts() {
                let get = |k: &str| m.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
                let target = get("target")
                    .or(get("dst"))
                    .or(get("destination"))
                    .unwrap_or("");
                if get("type") == Some("cache")
                    && (target.starts_with("/var/cache/apt") || target.starts_with("/var/lib/apt"))
                    && get("sharing") != Some("locked")
                {
                    find(ins.line, Severity::Warning, format!("cache mount on {target} without sharing=locked: the architectures build concurrently and apt's lock is not safe to share; add `,sharing=locked`"));
                }
            }
        }
    }
}

fn qualified(image: &str) -> bool {
    let first = image.split('/').next().unwrap_or("");
    image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
}

/// The base image of a stage, following `FROM <earlier stage>`.
fn base_of(file: &Containerfile, stages: &[Stage], st: &Stage) -> String {
    let mut base = file.resolved_base(st).to_lowercase();
    for _ in 0..stages.len() {
        match stages
            .iter()
            .find(|s| s.name.as_deref() == Some(base.as_str()))
        {
            Some(parent) => base = file.resolved_base(parent).to_lowercase(),
            None => break,
        }
    }
    base
}

/// Whether an instruction puts files at `path` or below it.
fn writes_path(ins: &Instruction, path: &str) -> bool {
    let under = |dest: &str| {
        let d = dest.trim_end_matches('/');
        d == path || d.starts_with(&format!("{path}/"))
    };
    match ins.keyword.as_str() {
        "COPY" | "ADD" => {
            let words = parse_json_array(&ins.args)
                .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
            words.last().is_some_and(|d| under(d))
        }
        "WORKDIR" => under(ins.args.trim()),
        "RUN" => {
            ins.args.split_whitespace().any(under)
                && (ins.args.contains("mkdir")
                    || ins.args.contains('>')
                    || ins.args.contains("cp ")
                    || ins.args.contains("touch"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::caps::from_version;
    use crate::engine::BuildFront;

    fn run(text: &str, caps: &Capabilities, arches: &[Arch], shims: bool) -> Outcome {
        let file = Containerfile::parse(text).unwrap();
        check(
            text,
            &file,
            &Context {
                path: Path::new("Containerfile"),
                caps,
                arches,
                host: Arch::Amd64,
                shims,
            },
        )
    }

    fn podman43() -> Capabilities {
        from_version(EngineKind::Podman, BuildFront::Podman, "4.3.1")
    }

    fn modern() -> Capabilities {
        from_version(EngineKind::Docker, BuildFront::DockerBuildx, "27.3.1")
    }

    fn messages(o: &Outcome, severity: Severity) -> Vec<String> {
        o.findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.to_string())
            .collect()
    }

    /// The example app's Containerfile, which must be clean.
    const GOOD: &str = include_str!("../../../example/joke/Containerfile");

    #[test]
    fn the_example_containerfile_is_clean() {
        let o = run(GOOD, &modern(), &[Arch::Amd64, Arch::Arm64], true);
        assert_eq!(messages(&o, Severity::Warning), Vec::<String>::new());
        assert_eq!(messages(&o, Severity::Error), Vec::<String>::new());
    }

    #[test]
    fn heredoc_run_is_shimmed_with_the_same_shell_and_mounts() {
        let text = "FROM docker.io/library/debian:12\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN --mount=type=cache,target=/root/.cache <<EOF\nset -e\necho \"a b\" | tr a b\nEOF\nRUN python3 <<'PY' > /out\nprint(1)\nPY\nRUN <<EOF\n#!/usr/bin/env python3\nprint(2)\nEOF\n";
        let o = run(text, &podman43(), &[Arch::Amd64], true);
        assert_eq!(messages(&o, Severity::Error), Vec::<String>::new());
        let shimmed = o.shimmed.clone().unwrap();
        let lines: Vec<&str> = shimmed.lines().collect();
        assert_eq!(
            lines[2],
            r#"RUN --mount=type=cache,target=/root/.cache ["/bin/bash", "-o", "pipefail", "-c", "set -e\necho \"a b\" | tr a b\n"]"#
        );
        assert_eq!(
            lines[3],
            r#"RUN ["/bin/bash", "-o", "pipefail", "-c", "python3 <<'PY' > /out\nprint(1)\nPY\n"]"#
        );
        assert!(
            lines[4].starts_with(r#"RUN ["/bin/sh", "-c", "f=$(mktemp)"#),
            "{}",
            lines[4]
        );
        assert_eq!(lines.len(), 5);
        assert_eq!(messages(&o, Severity::Note).len(), 3);
        // Each rewritten line is valid exec form.
        for l in &lines[2..] {
            let json = &l[l.find('[').unwrap()..];
            assert!(parse_json_array(json).is_some(), "{l}");
        }
    }

    #[test]
    fn heredocs_without_shims_and_copy_heredocs_stop_with_file_and_line() {
        let text =
            "FROM docker.io/library/debian:12\nRUN <<EOF\necho\nEOF\nCOPY <<EOF /etc/x\nhi\nEOF\n";
        let o = run(text, &podman43(), &[Arch::Amd64], false);
        let errs = messages(&o, Severity::Error);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("Containerfile:2: error: RUN with a heredoc needs heredoc support, which podman 4.3.1 lacks, and shims are off"), "{errs:?}");
        assert!(
            errs[1]
                .starts_with("Containerfile:5: error: COPY with a heredoc needs heredoc support"),
            "{errs:?}"
        );
        let o = run(text, &modern(), &[Arch::Amd64], false);
        assert!(o.blocking(false).is_empty());
    }

    #[test]
    fn syntax_line_dropped_for_docker_and_noted() {
        let text = "# syntax=docker/dockerfile:1\nFROM docker.io/library/debian:12\nRUN true\n";
        let d20 = from_version(EngineKind::Docker, BuildFront::DockerBuildKit, "20.10.24");
        let o = run(text, &d20, &[Arch::Amd64], true);
        assert_eq!(
            o.shimmed.as_deref(),
            Some("FROM docker.io/library/debian:12\nRUN true\n")
        );
        assert!(messages(&o, Severity::Note)[0].contains("dropped"));
        let o = run(text, &d20, &[Arch::Amd64], false);
        assert!(messages(&o, Severity::Note)[0].contains("this build needs the network"));
    }

    #[test]
    fn secret_env_needs_a_capable_engine() {
        let text = "FROM docker.io/library/debian:12\nRUN --mount=type=secret,id=tok,env=TOKEN curl -H \"$TOKEN\" x\n";
        let o = run(text, &podman43(), &[Arch::Amd64], true);
        assert!(messages(&o, Severity::Error)[0]
            .starts_with("Containerfile:2: error: `--mount=type=secret,…,env=…` needs"));
        assert!(run(text, &modern(), &[Arch::Amd64], true)
            .blocking(false)
            .is_empty());
    }

    /// Each lint: a positive case and a negative one.
    #[test]
    fn lints_positive_and_negative() {
        let m = modern();
        let both = [Arch::Amd64, Arch::Arm64];
        let warns =
            |text: &str, arches: &[Arch]| messages(&run(text, &m, arches, true), Severity::Warning);

        let w = warns("FROM golang:1.25\nRUN true\n", &[Arch::Amd64]);
        assert_eq!(w, ["Containerfile:1: warning: `golang:1.25` is not a fully qualified image name: write `docker.io/library/golang:1.25` (podman asks its search registries in turn, docker assumes Docker Hub: the same file can build from different images)"]);
        assert!(warns(
            "FROM docker.io/library/golang:1.25\nRUN true\n",
            &[Arch::Amd64]
        )
        .is_empty());

        let early = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nARG TARGETARCH\nCOPY . .\nRUN go mod download\nRUN CGO_ENABLED=0 GOARCH=$TARGETARCH go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        let w = warns(early, &both);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("Containerfile:2: warning: `ARG TARGETARCH` is declared before 2 step(s) that do not use it (from line 3)"), "{w:?}");
        let late = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nCOPY . .\nRUN go mod download\nARG TARGETARCH\nRUN CGO_ENABLED=0 GOARCH=$TARGETARCH go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        assert!(warns(late, &both).is_empty(), "{:?}", warns(late, &both));

        let emulated = "FROM docker.io/library/golang:1.25 AS b\nRUN CGO_ENABLED=0 go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        let w = warns(emulated, &both);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("Containerfile:1: warning: this builder stage is not on `--platform=$BUILDPLATFORM`: building for arm64 on amd64 runs all its steps under QEMU"), "{w:?}");
        assert!(warns(emulated, &[Arch::Amd64]).is_empty());

        let pinned = "FROM docker.io/library/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        assert!(warns(pinned, &both)[0].contains("pinned by a digest while building amd64, arm64"));
        assert!(warns(pinned, &[Arch::Arm64]).is_empty());

        let shell_ep = "FROM scratch\nCOPY app /app\nENTRYPOINT /app --serve\n";
        assert!(warns(shell_ep, &[Arch::Amd64])[0].starts_with("Containerfile:3: warning: shell-form ENTRYPOINT needs /bin/sh, which a scratch image does not have"));
        assert!(warns(
            "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
            &[Arch::Amd64]
        )
        .is_empty());
        assert!(warns(
            "FROM docker.io/library/debian:12\nENTRYPOINT /app --serve\n",
            &[Arch::Amd64]
        )
        .is_empty());

        let cgo = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nRUN go build -o /app .\nFROM gcr.io/distroless/static-debian12\nCOPY --from=b /app /app\nENTRYPOINT [\"/app\"]\n";
        assert!(warns(cgo, &[Arch::Amd64])[0].starts_with("Containerfile:2: warning: `go build` without CGO_ENABLED=0 while the final image is gcr.io/distroless/static-debian12"));
        assert!(warns(
            &cgo.replace("RUN go build", "ENV CGO_ENABLED=0\nRUN go build"),
            &[Arch::Amd64]
        )
        .is_empty());

        let vol = "FROM docker.io/library/debian:12\nCOPY seed/ /data/seed/\nVOLUME /data\n";
        assert!(warns(vol, &[Arch::Amd64])[0].starts_with(
            "Containerfile:3: warning: VOLUME /data covers files the image puts there (line 2)"
        ));
        assert!(warns(
            "FROM docker.io/library/debian:12\nCOPY seed/ /srv/\nVOLUME /data\n",
            &[Arch::Amd64]
        )
        .is_empty());

        let apt = "FROM docker.io/library/debian:12\nRUN --mount=type=cache,target=/var/cache/apt apt-get update\n";
        assert!(warns(apt, &[Arch::Amd64])[0].starts_with(
            "Containerfile:2: warning: cache mount on /var/cache/apt without sharing=locked"
        ));
        assert!(warns(
            &apt.replace("/var/cache/apt", "/var/cache/apt,sharing=locked"),
            &[Arch::Amd64]
        )
        .is_empty());
    }
}
