//! Before the engine starts: what the Containerfile uses against what the
//! engine can do (stop with `file:line` and the fix, or apply a safe shim
//! and say so), and lints from established practice.

use crate::config::App;
use crate::containerfile::bindkey::{self, BindKey};
use crate::containerfile::cross;
use crate::containerfile::heredoc::{rewrite_heredoc_run, stage_shell};
use crate::containerfile::mountflags::{self, Rewrites};
use crate::containerfile::practice::{self, Lint};
use crate::containerfile::steps::Files;
use crate::containerfile::{Containerfile, Stage};
use crate::core::arch::Arch;
use crate::core::env::HostEnv;
use crate::engine::caps::{can_run, emulation_fix, Capabilities, Emulation};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    /// Stops the build.
    Error,
    /// Established practice not followed (`--strict` stops on these).
    Warning,
    /// Something the tool did or that the user should know.
    Note,
}

/// One finding, printed as `path:line: severity: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
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
pub(crate) struct Outcome {
    /// Everything found, in line order.
    pub findings: Vec<Finding>,
    /// A rewritten Containerfile, when a shim changed the file.
    pub shimmed: Option<String>,
    /// Build args the shimmed file declares for bind-mount keys, to be set
    /// from the content they stand for.
    pub bind_keys: Vec<BindKey>,
}

impl Outcome {
    /// The errors (with `strict`, warnings count as errors).
    pub(crate) fn blocking(&self, strict: bool) -> Vec<&Finding> {
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
pub(crate) struct Context<'a> {
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
    /// Whether the cross-compilation shim may move builder stages.
    pub cross_compile: bool,
    /// `--no-cache`: every step is rebuilt, so no stage comes from the cache.
    pub no_cache: bool,
    /// Every build arg the build passes (the config's, `--build-arg`s, the
    /// tool's own such as `MAIN_PKG_PATH`).
    pub build_args: &'a BTreeMap<String, String>,
    /// The build context, where Makefiles and scripts a `RUN` calls are read.
    pub files: &'a dyn Files,
}

impl Context<'_> {
    /// `CGO_ENABLED` as the build passes it (the config's, `--build-arg`
    /// over it): one source for `image` and `lint` alike.
    pub(crate) fn cgo_build_arg(&self) -> Option<&str> {
        self.build_args.get("CGO_ENABLED").map(String::as_str)
    }
}

/// The build args a build of `app` passes that the file's `ARG`s read:
/// `args` (the config's, with `--build-arg`s over them) and
/// `MAIN_PKG_PATH` (the environment's, else the app's `main_package:`).
/// `image` and `lint` both read a file with these.
pub(crate) fn app_build_args(
    app: &App,
    args: &BTreeMap<String, String>,
    env: &HostEnv,
) -> BTreeMap<String, String> {
    let mut out = args.clone();
    let main = env.var("MAIN_PKG_PATH").unwrap_or(&app.main_package);
    out.insert("MAIN_PKG_PATH".into(), main.to_string());
    out
}

/// Edits a shim makes to the file's lines (1-based).
#[derive(Debug, Default)]
struct Edits {
    /// `(first, last, text)`: the lines replaced by text (empty: dropped).
    replace: Vec<(usize, usize, String)>,
    /// `(line, text)`: text inserted before the line.
    insert: Vec<(usize, String)>,
}

/// Collects findings for one file.
struct Sink<'a> {
    path: &'a Path,
    findings: Vec<Finding>,
}

impl Sink<'_> {
    fn add(&mut self, line: usize, severity: Severity, message: String) {
        self.findings.push(Finding {
            path: self.path.to_path_buf(),
            line,
            severity,
            message,
        });
    }
}

/// Runs the capability checks, shims and lints.
pub(crate) fn check(text: &str, file: &Containerfile, cx: &Context) -> Outcome {
    let mut sink = Sink {
        path: cx.path,
        findings: Vec::new(),
    };
    let engine = format!("{} {}", cx.caps.kind, cx.caps.version);
    for (line, message) in crate::containerfile::structure::problems(file, cx.build_args) {
        sink.add(line, Severity::Error, message);
    }
    let normalized = normalize_mounts(text, file, cx, &engine, &mut sink);
    let (file, text) = match &normalized {
        Some((f, t)) => (f, t.as_str()),
        None => (file, text),
    };
    let mut edits = Edits::default();
    let stages = file.stages();
    let crossed = cross_compile(file, &stages, cx, &mut edits, &mut sink);
    heredocs(file, &stages, cx, &engine, &mut edits, &mut sink);
    syntax_directive(file, cx, &engine, &mut edits, &mut sink);
    secret_env(file, cx, &engine, &mut sink);
    buildplatform(&stages, file, cx, &engine, &mut sink);
    let stages_crossed: Vec<usize> = crossed.crossed.iter().map(|(k, _)| *k).collect();
    pin_platforms(
        file,
        &stages,
        &stages_crossed,
        cx,
        &engine,
        &mut edits,
        &mut sink,
    );
    emulation(&stages, &crossed, file, cx, &mut sink);
    let mut keying = cx.caps.bind_keying;
    // Rebuilt from scratch, a stage's bind mount shows its current content.
    keying.stage_fresh |= cx.no_cache;
    let binds = bindkey::plan(file, keying, cx.shims, &engine);
    for (line, severity, message) in binds.findings {
        sink.add(line, severity, message);
    }
    edits.insert.extend(binds.inserts);
    let lint = Lint {
        file,
        stages: &stages,
        cx,
        crossed: &stages_crossed,
        not_crossed: &crossed.not_crossed,
    };
    practice::lints(&lint, &mut |l, s, m| sink.add(l, s, m));
    let mut findings = sink.findings;
    findings.sort_by_key(|f| (f.line, f.severity));
    let changed = normalized.is_some() || !edits.replace.is_empty() || !edits.insert.is_empty();
    Outcome {
        findings,
        shimmed: changed.then(|| apply(text, &edits)),
        bind_keys: binds.keys,
    }
}

/// Line-preserving rewrites of mount flags, first: the other shims then see
/// the mounts the engine will see (explicit types, absolute targets).
fn normalize_mounts(
    text: &str,
    file: &Containerfile,
    cx: &Context,
    engine: &str,
    sink: &mut Sink,
) -> Option<(Containerfile, String)> {
    let want = Rewrites {
        explicit_type: !cx.caps.bind_keying.typeless,
        absolute_target: !cx.caps.relative_mount_target,
    };
    let (rewritten, found) = mountflags::normalize(text, file, want, cx.shims, engine);
    for (line, severity, message) in found {
        sink.add(line, severity, message);
    }
    rewritten.and_then(|t| Some((Containerfile::parse(&t).ok()?, t)))
}

/// The cross-compilation shim (see [`cross`]).
fn cross_compile(
    file: &Containerfile,
    stages: &[Stage],
    cx: &Context,
    edits: &mut Edits,
    sink: &mut Sink,
) -> cross::CrossShim {
    let shim = cross::plan(file, cx, cx.shims && cx.cross_compile);
    let foreign: Vec<String> = cx
        .arches
        .iter()
        .filter(|a| **a != cx.host)
        .map(|a| a.to_string())
        .collect();
    // Applied for native builds too (the same file whatever the list, so
    // adding an architecture rebuilds no other): said where it saves QEMU.
    let what = match foreign.as_slice() {
        [] => "builds natively with GOOS/GOARCH".to_string(),
        f => format!("cross-compiles for {} with GOOS/GOARCH", f.join(", ")),
    };
    for (k, build_line) in &shim.crossed {
        let from = file.instructions[stages[*k].from].line;
        sink.add(from, Severity::Note, format!("shim: builder stage moved to the build platform (`FROM --platform=$BUILDPLATFORM`); the build at line {build_line} {what} from the target platform, declared right before it (cgo is off, later stages copy only what it builds): no emulation; `cross_compile: false` or --no-cross-compile turns this off"));
    }
    edits.replace.extend(shim.replace.iter().cloned());
    edits.insert.extend(shim.inserts.iter().cloned());
    shim
}

/// On engines where a stage's `--platform` leaks into the base-image
/// lookup of the stages after it, those stages' bases get
/// `--platform=$TARGETPLATFORM` written out (what they mean anyway).
fn pin_platforms(
    file: &Containerfile,
    stages: &[Stage],
    crossed: &[usize],
    cx: &Context,
    engine: &str,
    edits: &mut Edits,
    sink: &mut Sink,
) {
    if !cx.caps.platform_leaks || !cx.shims {
        return;
    }
    let pinned = |k: usize| stages[k].platform.is_some() || crossed.contains(&k);
    let Some(first) = (0..stages.len()).find(|&k| pinned(k)) else {
        return;
    };
    for (k, st) in stages.iter().enumerate().skip(first + 1) {
        let base = file.resolved_base(st).to_lowercase();
        let is_stage = stages[..k]
            .iter()
            .any(|s| s.name.as_deref() == Some(base.as_str()));
        if pinned(k) || is_stage || base == "scratch" {
            continue;
        }
        let from = &file.instructions[st.from];
        edits.replace.push((
            from.line,
            from.end_line,
            format!("FROM --platform=$TARGETPLATFORM {}", from.args.trim()),
        ));
        sink.add(from.line, Severity::Note, format!("shim: `--platform=$TARGETPLATFORM` written out: {engine} looks up this base for the platform of the earlier stage's `--platform`, not the build's (an arm64 image would get an amd64 base)"));
    }
}

fn heredocs(
    file: &Containerfile,
    stages: &[Stage],
    cx: &Context,
    engine: &str,
    edits: &mut Edits,
    sink: &mut Sink,
) {
    for (n, ins) in file.instructions.iter().enumerate() {
        if ins.heredocs.is_empty() || cx.caps.heredoc {
            continue;
        }
        if ins.keyword != "RUN" {
            sink.add(ins.line, Severity::Error, format!("{} with a heredoc needs heredoc support, which {engine} lacks: put the content in a file in the context and {} that, or use an engine with heredocs (podman ≥ 5, docker ≥ 23)", ins.keyword, ins.keyword));
            continue;
        }
        if !cx.shims {
            sink.add(ins.line, Severity::Error, format!("RUN with a heredoc needs heredoc support, which {engine} lacks, and shims are off: drop --no-shims to have it rewritten, or write the script on one RUN line"));
            continue;
        }
        let shell = stage_shell(file, stages, n);
        edits
            .replace
            .push((ins.line, ins.end_line, rewrite_heredoc_run(ins, &shell)));
        sink.add(ins.line, Severity::Note, format!("shim: heredoc RUN rewritten as `RUN [\"{}\", …]` with the same shell, mounts and exit status ({engine} has no heredocs)", shell.join("\", \"")));
    }
}

/// `# syntax=` makes BuildKit pull a frontend image before anything else.
fn syntax_directive(
    file: &Containerfile,
    cx: &Context,
    engine: &str,
    edits: &mut Edits,
    sink: &mut Sink,
) {
    for d in file.directives.iter().filter(|d| d.name == "syntax") {
        let official = d.value.starts_with("docker/dockerfile:1")
            || d.value.starts_with("docker.io/docker/dockerfile:1");
        if !cx.caps.syntax_pulls {
            continue;
        }
        if official && cx.shims && !uses_secret_env(file) {
            edits.replace.push((d.line, d.line, String::new()));
            sink.add(d.line, Severity::Note, format!("shim: `# syntax={}` dropped: it makes BuildKit pull the frontend image, which fails offline; the built-in frontend of {engine} handles this file", d.value));
        } else {
            sink.add(d.line, Severity::Note, format!("`# syntax={}` makes BuildKit pull that frontend image first: this build needs the network", d.value));
        }
    }
}

/// Secrets as environment variables.
fn secret_env(file: &Containerfile, cx: &Context, engine: &str, sink: &mut Sink) {
    if cx.caps.secret_env {
        return;
    }
    for ins in &file.instructions {
        for m in ins.mounts() {
            let ty = m.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str());
            if ty == Some("secret") && m.iter().any(|(k, _)| k == "env") {
                sink.add(ins.line, Severity::Error, format!("`--mount=type=secret,…,env=…` needs an engine that mounts secrets as environment variables, which {engine} cannot (podman ≥ 5.1, docker ≥ 27): read /run/secrets/<id> in the step instead"));
            }
        }
    }
}

/// `FROM --platform=$BUILDPLATFORM` on engines that leave it empty.
fn buildplatform(
    stages: &[Stage],
    file: &Containerfile,
    cx: &Context,
    engine: &str,
    sink: &mut Sink,
) {
    if cx.caps.buildplatform_in_from {
        return;
    }
    if let Some(st) = stages.iter().find(|s| on_buildplatform(s)) {
        sink.add(
            file.instructions[st.from].line,
            Severity::Note,
            format!(
                "shim: --build-arg BUILDPLATFORM={} ({engine} leaves $BUILDPLATFORM empty in FROM)",
                cx.host.platform()
            ),
        );
    }
}

/// Foreign architectures whose RUN steps need emulation: the stages left
/// on the target platform, and crossed ones that run programs built for
/// the target.
fn emulation(
    stages: &[Stage],
    shim: &cross::CrossShim,
    file: &Containerfile,
    cx: &Context,
    sink: &mut Sink,
) {
    let crossed: Vec<usize> = shim
        .crossed
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !shim.runs_target.contains(k))
        .collect();
    for &arch in cx.arches {
        let Emulation::Missing(entry) = can_run(arch, cx.host) else {
            continue;
        };
        let emulated = stages
            .iter()
            .enumerate()
            .filter(|(k, st)| !on_buildplatform(st) && !crossed.contains(k))
            .find_map(|(_, st)| {
                file.instructions[st.from..st.end]
                    .iter()
                    .find(|i| i.keyword == "RUN")
            });
        if let Some(run) = emulated {
            sink.add(run.line, Severity::Error, format!("building for {arch} on {} runs this step under emulation, but {} is not registered: {}", cx.host, entry.display(), emulation_fix(arch)));
        }
    }
}

fn uses_secret_env(file: &Containerfile) -> bool {
    file.instructions
        .iter()
        .any(|i| i.mounts().iter().any(|m| m.iter().any(|(k, _)| k == "env")))
}

/// Whether a stage runs on the build machine's platform.
pub(crate) fn on_buildplatform(st: &Stage) -> bool {
    st.platform
        .as_deref()
        .is_some_and(|p| p.contains("BUILDPLATFORM"))
}

/// Applies the edits to the text.
fn apply(text: &str, edits: &Edits) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut n = 1;
    while n <= lines.len() {
        for (_, t) in edits.insert.iter().filter(|(at, _)| *at == n) {
            out.push_str(t);
            out.push('\n');
        }
        if let Some((_, end, repl)) = edits.replace.iter().find(|(s, _, _)| *s == n) {
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
    for (_, t) in edits.insert.iter().filter(|(at, _)| *at > lines.len()) {
        out.push_str(t);
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::containerfile::parse_json_array;
    use crate::engine::caps::from_version;
    use crate::engine::{BuildFront, EngineKind};

    pub(crate) fn run(text: &str, caps: &Capabilities, arches: &[Arch], shims: bool) -> Outcome {
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
                cross_compile: true,
                no_cache: false,
                build_args: &BTreeMap::new(),
                files: &crate::containerfile::steps::NoFiles,
            },
        )
    }

    pub(crate) fn podman43() -> Capabilities {
        from_version(
            EngineKind::Podman,
            BuildFront::Podman,
            "4.3.1",
            crate::engine::ImageStore::DockerClassic,
        )
    }

    pub(crate) fn modern() -> Capabilities {
        from_version(
            EngineKind::Docker,
            BuildFront::DockerBuildx,
            "27.3.1",
            crate::engine::ImageStore::DockerClassic,
        )
    }

    pub(crate) fn messages(o: &Outcome, severity: Severity) -> Vec<String> {
        o.findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.to_string())
            .collect()
    }

    /// The example app's Containerfile, which must be clean.
    const GOOD: &str = include_str!("../../../example/joke/Containerfile");

    /// podman < 4.4 mounts a stale `from=<stage>`: the error's fix works.
    #[test]
    fn a_stage_bind_builds_with_no_cache() {
        let text = "FROM busybox AS gen\nRUN date > /t\nFROM busybox\nRUN --mount=type=bind,from=gen,target=/g cp /g/t /t\n";
        let file = Containerfile::parse(text).unwrap();
        let caps = podman43();
        let errors = |no_cache| {
            let cx = Context {
                path: Path::new("Containerfile"),
                caps: &caps,
                arches: &[Arch::Amd64],
                host: Arch::Amd64,
                shims: true,
                cross_compile: true,
                no_cache,
                build_args: &BTreeMap::new(),
                files: &crate::containerfile::steps::NoFiles,
            };
            messages(&check(text, &file, &cx), Severity::Error)
        };
        let stopped = errors(false);
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert!(stopped[0].contains("or pass --no-cache"), "{stopped:?}");
        assert_eq!(errors(true), Vec::<String>::new());
    }

    /// podman 4.3.1 looks up a later stage's base for an earlier stage's
    /// `--platform`: the later bases get `--platform=$TARGETPLATFORM`.
    #[test]
    fn later_bases_are_pinned_to_the_target_where_the_platform_leaks() {
        let text = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.19 AS b\nRUN CGO_ENABLED=0 go build -o /a .\nFROM docker.io/library/alpine:3.19\nCOPY --from=b /a /a\nFROM scratch\nCOPY --from=b /a /a\n";
        let o = run(text, &podman43(), &[Arch::Amd64, Arch::Arm64], true);
        let shimmed = o.shimmed.unwrap();
        assert!(
            shimmed.contains("\nFROM --platform=$TARGETPLATFORM docker.io/library/alpine:3.19\n"),
            "{shimmed}"
        );
        assert!(
            shimmed.contains("\nFROM scratch\n"),
            "scratch has no platform: {shimmed}"
        );
        assert_eq!(
            run(text, &modern(), &[Arch::Amd64, Arch::Arm64], true).shimmed,
            None
        );
        let none = "FROM docker.io/library/alpine:3.19\nRUN true\n";
        assert_eq!(
            run(none, &podman43(), &[Arch::Arm64], true).shimmed,
            None,
            "no --platform anywhere"
        );
    }

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
        let d20 = from_version(
            EngineKind::Docker,
            BuildFront::DockerBuildKit,
            "20.10.24",
            crate::engine::ImageStore::DockerClassic,
        );
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
}
