//! Lints from established practice: warnings (`--strict` stops on them),
//! each saying what, why, and the fix. Every lint has tests for what it must
//! not flag as well as for what it must.

use crate::containerfile::preflight::{on_buildplatform, Context, Severity};
use crate::containerfile::{cgo, parse_json_array, Containerfile, Instruction, Stage};

const TARGET_ARGS: [&str; 4] = ["TARGETARCH", "TARGETOS", "TARGETPLATFORM", "TARGETVARIANT"];

/// Directories every non-scratch base image already fills: a `VOLUME` over
/// one of them (or over a parent of one) hides what the base put there.
const BASE_DIRS: [&str; 20] = [
    "/",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/cache",
    "/root",
];

/// Why a builder stage was not cross-compiled, by stage index (for the lint).
pub(crate) type NotCrossed<'a> = &'a [(usize, String)];

/// What the lints need besides the file.
pub(crate) struct Lint<'a> {
    pub(crate) file: &'a Containerfile,
    pub(crate) stages: &'a [Stage],
    pub(crate) cx: &'a Context<'a>,
    /// Stages the cross-compile shim moved to the build platform.
    pub(crate) crossed: &'a [usize],
    /// Why the others were left alone.
    pub(crate) not_crossed: NotCrossed<'a>,
}

/// Runs every lint, reporting through `find`.
pub(crate) fn lints(l: &Lint, find: &mut impl FnMut(usize, Severity, String)) {
    let final_base = l
        .stages
        .last()
        .map(|s| base_of(l.file, l.stages, s))
        .unwrap_or_default();
    let needed = crate::containerfile::cross::needed(l.file, l.stages);
    for (k, st) in l.stages.iter().enumerate() {
        qualified_names(l, st, find);
        if needed[k] {
            emulated_builder(l, k, find);
        }
        pinned_final(l, k, find);
        early_target_args(l, st, find);
        shell_form_entrypoint(l, k, &final_base, find);
        cgo_for_minimal(l, st, &final_base, find);
        volumes(l, st, find);
        apt_cache_sharing(l, st, find);
        copy_without_from(l, k, find);
    }
}

/// Lint 9: `COPY /app/bin /app/bin` in a later stage where the path is
/// not in the build context but an earlier stage's `go build` writes it:
/// the `--from=<stage>` was forgotten (the build then fails at that COPY).
fn copy_without_from(l: &Lint, k: usize, find: &mut impl FnMut(usize, Severity, String)) {
    if k == 0 {
        return;
    }
    let st = &l.stages[k];
    for ins in body(l, st) {
        if !matches!(ins.keyword.as_str(), "COPY" | "ADD") || ins.flag("from").is_some() {
            continue;
        }
        let words = parse_json_array(&ins.args)
            .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
        for src in &words[..words.len().saturating_sub(1)] {
            let rel = src.trim_start_matches('/');
            if !src.starts_with('/') || rel.is_empty() || l.cx.files.exists(rel) {
                continue;
            }
            let maker = (0..k).find(|&p| {
                crate::containerfile::cross::stage_outputs(l.file, l.stages, p, l.cx)
                    .iter()
                    .any(|o| o.covers(src))
            });
            if let Some(p) = maker {
                let name = l.stages[p].name.clone().unwrap_or_else(|| p.to_string());
                find(ins.line, Severity::Warning, format!("`{src}` is copied from the build context, which does not have it, but stage `{name}` builds it: write `{} --from={name} {}`", ins.keyword, ins.args.trim()));
            }
        }
    }
}

fn body<'a>(l: &Lint<'a>, st: &Stage) -> &'a [Instruction] {
    &l.file.instructions[st.from + 1..st.end]
}

fn is_minimal(base: &str) -> bool {
    base == "scratch" || base.contains("distroless")
}

/// Lint 1: Image names that resolve differently per engine.
fn qualified_names(l: &Lint, st: &Stage, find: &mut impl FnMut(usize, Severity, String)) {
    let base = l.file.resolved_base(st);
    let is_stage = l
        .stages
        .iter()
        .any(|s| s.name.as_deref() == Some(base.to_lowercase().as_str()));
    if base == "scratch" || is_stage || base.contains('$') || qualified(&base) {
        return;
    }
    let fix = crate::core::names::stored_foreign(&base, crate::core::names::Domain::DockerHub);
    find(l.file.instructions[st.from].line, Severity::Warning, format!("`{base}` is not a fully qualified image name: write `{fix}` (podman asks its search registries in turn, docker assumes Docker Hub: the same file can build from different images)"));
}

/// Lint 3: Builder stages that run under emulation (and were not cross-compiled).
fn emulated_builder(l: &Lint, k: usize, find: &mut impl FnMut(usize, Severity, String)) {
    let st = &l.stages[k];
    let foreign: Vec<String> =
        l.cx.arches
            .iter()
            .filter(|a| **a != l.cx.host)
            .map(|a| a.to_string())
            .collect();
    let reason = l.not_crossed.iter().find(|(s, _)| *s == k).map(|(_, w)| w);
    if k + 1 == l.stages.len() {
        return emulated_final(l, k, &foreign, find);
    }
    if foreign.is_empty()
        || on_buildplatform(st)
        || l.crossed.contains(&k)
        || !body(l, st).iter().any(|i| i.keyword == "RUN")
        // A stage that runs no Go (C++, assets): GOARCH is no advice for it.
        || reason.is_some_and(|w| w == crate::containerfile::cross::NO_GO)
    {
        return;
    }
    let why = reason
        .map(|why| format!(" (not cross-compiled automatically: {why})"))
        .unwrap_or_default();
    find(l.file.instructions[st.from].line, Severity::Warning, format!("this builder stage is not on `--platform=$BUILDPLATFORM`: building for {} on {} runs all its steps under QEMU, many times slower; add `--platform=$BUILDPLATFORM` and cross-compile with `GOARCH=$TARGETARCH`{why}", foreign.join(", "), l.cx.host));
}

/// Lint 3b: a single-stage file (or a final stage) that builds Go: under
/// QEMU for a foreign architecture, and the toolchain ships in the image.
fn emulated_final(
    l: &Lint,
    k: usize,
    foreign: &[String],
    find: &mut impl FnMut(usize, Severity, String),
) {
    let st = &l.stages[k];
    if foreign.is_empty() || on_buildplatform(st) {
        return;
    }
    if let Some(ins) = body(l, st)
        .iter()
        .find(|i| i.keyword == "RUN" && cgo::builds_go(&cgo::run_text(i)))
    {
        find(ins.line, Severity::Warning, format!("the image's own stage builds Go: for {} on {} that runs under QEMU, many times slower, and the Go toolchain ships in the image; build in a stage of its own (`FROM --platform=$BUILDPLATFORM … AS build`, cgo off) and `COPY --from=build` the binary into a small final stage", foreign.join(", "), l.cx.host));
    }
}

/// Lint 4: A final stage pinned by digest while building several architectures.
fn pinned_final(l: &Lint, k: usize, find: &mut impl FnMut(usize, Severity, String)) {
    let st = &l.stages[k];
    let base = l.file.resolved_base(st);
    if k + 1 == l.stages.len() && l.cx.arches.len() > 1 && base.contains("@sha256:") {
        let arches: Vec<String> = l.cx.arches.iter().map(|a| a.to_string()).collect();
        find(l.file.instructions[st.from].line, Severity::Warning, format!("the final stage is pinned by a digest while building {}: a digest names one platform's image unless it is an index; pin a multi-platform index digest or one per architecture", arches.join(", ")));
    }
}

/// Lint 2: `ARG TARGETARCH` before steps that do not use it.
fn early_target_args(l: &Lint, st: &Stage, find: &mut impl FnMut(usize, Severity, String)) {
    if !on_buildplatform(st) {
        return;
    }
    let body = body(l, st);
    for (n, ins) in body.iter().enumerate().filter(|(_, i)| i.keyword == "ARG") {
        for (var, _) in cgo::assignments(ins) {
            if !TARGET_ARGS.contains(&var.as_str()) {
                continue;
            }
            let rest = &body[n + 1..];
            let first_use = rest
                .iter()
                .position(|i| i.uses_var(&var))
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

/// Lint 5: Shell-form ENTRYPOINT/CMD in a minimal final image.
fn shell_form_entrypoint(
    l: &Lint,
    k: usize,
    final_base: &str,
    find: &mut impl FnMut(usize, Severity, String),
) {
    if k + 1 != l.stages.len() || !is_minimal(final_base) {
        return;
    }
    let kind = if final_base == "scratch" {
        "scratch"
    } else {
        "distroless"
    };
    for ins in body(l, &l.stages[k])
        .iter()
        .filter(|i| matches!(i.keyword.as_str(), "ENTRYPOINT" | "CMD") && !i.is_exec_form())
    {
        find(ins.line, Severity::Warning, format!("shell-form {} needs /bin/sh, which a {kind} image does not have: write the exec form, e.g. {} [\"/app\"]", ins.keyword, ins.keyword));
    }
}

/// Lint 6: cgo binaries for a minimal final image.
fn cgo_for_minimal(
    l: &Lint,
    st: &Stage,
    final_base: &str,
    find: &mut impl FnMut(usize, Severity, String),
) {
    if !is_minimal(final_base) {
        return;
    }
    for at in st.from + 1..st.end {
        let ins = &l.file.instructions[at];
        if ins.keyword == "RUN"
            && cgo::builds_go(&cgo::run_text(ins))
            && !cgo::off_for(l.file, l.stages, at, l.cx.cgo_build_arg())
        {
            find(ins.line, Severity::Warning, format!("`go build` without CGO_ENABLED=0 while the final image is {final_base}: a cgo binary needs libc at run time and will not start there; add `ENV CGO_ENABLED=0`"));
        }
    }
}

/// Lint 7: VOLUME over what the image already holds: files an earlier step put
/// there, or a directory every non-scratch base has.
fn volumes(l: &Lint, st: &Stage, find: &mut impl FnMut(usize, Severity, String)) {
    let body = body(l, st);
    let scratch = base_of(l.file, l.stages, st) == "scratch";
    for (n, ins) in body
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "VOLUME")
    {
        let paths = parse_json_array(&ins.args)
            .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
        for p in paths {
            let p = match p.trim_end_matches('/') {
                "" => "/",
                p => p,
            };
            if let Some(w) = body[..n].iter().find(|i| writes_path(i, p)) {
                find(ins.line, Severity::Warning, format!("VOLUME {p} covers files the image puts there (line {}): an empty volume is mounted over them in Kubernetes, and later steps cannot change them; drop VOLUME and declare the volume where the container runs", w.line));
            } else if !scratch && covers_base_dir(p) {
                find(ins.line, Severity::Warning, format!("VOLUME {p} covers a directory the base image already fills: an empty volume is mounted over it in Kubernetes (the program then misses its system files), and later steps cannot change it; mount a directory of its own, such as /data"));
            }
        }
    }
}

/// Whether a volume at `p` would hide one of [`BASE_DIRS`].
fn covers_base_dir(p: &str) -> bool {
    BASE_DIRS
        .iter()
        .any(|d| *d == p || p == "/" || d.starts_with(&format!("{p}/")))
}

/// Lint 8: apt cache mounts shared between concurrent builds.
fn apt_cache_sharing(l: &Lint, st: &Stage, find: &mut impl FnMut(usize, Severity, String)) {
    for ins in body(l, st).iter().filter(|i| i.keyword == "RUN") {
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

fn qualified(image: &str) -> bool {
    crate::core::names::names_registry(image)
}

/// The base image of a stage, following `FROM <earlier stage>`.
pub(crate) fn base_of(file: &Containerfile, stages: &[Stage], st: &Stage) -> String {
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
    use crate::containerfile::preflight::tests::{messages, modern, run};
    use crate::containerfile::preflight::Severity;
    use crate::core::arch::Arch;

    fn warns(text: &str, arches: &[Arch]) -> Vec<String> {
        messages(&run(text, &modern(), arches, true), Severity::Warning)
    }

    const BOTH: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    #[test]
    fn qualified_names() {
        let w = warns("FROM golang:1.25\nRUN true\n", &[Arch::Amd64]);
        assert_eq!(w, ["Containerfile:1: warning: `golang:1.25` is not a fully qualified image name: write `docker.io/library/golang:1.25` (podman asks its search registries in turn, docker assumes Docker Hub: the same file can build from different images)"]);
        // False positives: qualified names, localhost, stages, variables, scratch.
        for ok in [
            "FROM docker.io/library/golang:1.25\nRUN true\n",
            "FROM localhost/golang:1\nRUN true\n",
            "FROM registry:5000/golang:1\nRUN true\n",
            "FROM docker.io/library/golang:1 AS b\nFROM b\nRUN true\n",
            "ARG BASE\nFROM $BASE\nRUN true\n",
            "FROM scratch\nCOPY a /a\n",
        ] {
            assert!(warns(ok, &[Arch::Amd64]).is_empty(), "{ok}");
        }
    }

    #[test]
    fn emulated_builder_advice_only_where_go_runs() {
        let cpp = "FROM docker.io/library/gcc:13 AS native\nRUN g++ -O2 -o /out/tool tool.cc\nFROM docker.io/library/debian:12\nCOPY --from=native /out/tool /tool\n";
        assert!(warns(cpp, &BOTH).is_empty(), "{:?}", warns(cpp, &BOTH));
        let go = cpp.replace("g++ -O2 -o /out/tool tool.cc", "go build -o /out/tool .");
        let w = warns(&go, &BOTH);
        assert!(w[0].contains("add `--platform=$BUILDPLATFORM` and cross-compile with `GOARCH=$TARGETARCH` (not cross-compiled automatically: cgo is not provably off"), "{w:?}");
    }

    #[test]
    fn copy_of_a_built_path_without_from() {
        let forgot = "FROM docker.io/library/golang:1.25 AS builder\nWORKDIR /app/src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o ../bin .\nFROM scratch\nCOPY /app/bin /app/bin\nCMD [\"/app/bin\"]\n";
        let w = warns(forgot, &[Arch::Amd64]);
        assert_eq!(w, ["Containerfile:6: warning: `/app/bin` is copied from the build context, which does not have it, but stage `builder` builds it: write `COPY --from=builder /app/bin /app/bin`"]);
        let ok = forgot.replace("COPY /app/bin", "COPY --from=builder /app/bin");
        assert!(warns(&ok, &[Arch::Amd64]).is_empty());
        let context = forgot.replace("COPY /app/bin /app/bin", "COPY /etc/app.yaml /etc/app.yaml");
        assert!(
            warns(&context, &[Arch::Amd64]).is_empty(),
            "not a build output"
        );
    }

    #[test]
    fn early_target_args() {
        let early = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nARG TARGETARCH\nCOPY . .\nRUN go mod download\nRUN CGO_ENABLED=0 GOARCH=$TARGETARCH go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        let w = warns(early, &BOTH);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("Containerfile:2: warning: `ARG TARGETARCH` is declared before 2 step(s) that do not use it (from line 3)"), "{w:?}");
        // False positives: declared right before its use; in a stage not on
        // the build platform (everything there is per-arch anyway); other args.
        let late = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nCOPY . .\nRUN go mod download\nARG TARGETARCH\nRUN CGO_ENABLED=0 GOARCH=$TARGETARCH go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        assert!(warns(late, &BOTH).is_empty(), "{:?}", warns(late, &BOTH));
        let other = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nARG VERSION\nCOPY . .\nRUN CGO_ENABLED=0 go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        assert!(warns(other, &BOTH).is_empty());
    }

    #[test]
    fn emulated_builder() {
        let emulated = "FROM docker.io/library/golang:1.25 AS b\nRUN CGO_ENABLED=0 go build .\nFROM scratch\nCOPY --from=b /x /x\n";
        let w = messages(&run(emulated, &modern(), &BOTH, false), Severity::Warning);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("Containerfile:1: warning: this builder stage is not on `--platform=$BUILDPLATFORM`: building for arm64 on amd64 runs all its steps under QEMU"), "{w:?}");
        // False positives: host arch only; the final stage; a stage with no RUN.
        assert!(warns(emulated, &[Arch::Amd64]).is_empty());
        let final_only = "FROM docker.io/library/debian:12\nRUN true\n";
        assert!(warns(final_only, &BOTH).is_empty());
        let no_run = "FROM docker.io/library/debian:12 AS certs\nFROM scratch\nCOPY --from=certs /etc/ssl /etc/ssl\n";
        assert!(warns(no_run, &BOTH).is_empty());
    }

    #[test]
    fn pinned_final() {
        let pinned = "FROM docker.io/library/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        assert!(warns(pinned, &BOTH)[0].contains("pinned by a digest while building amd64, arm64"));
        // False positives: one architecture; a digest on a builder stage.
        assert!(warns(pinned, &[Arch::Arm64]).is_empty());
        let builder = format!(
            "{}AS b\nFROM scratch\n",
            pinned.trim_end().to_string() + " "
        );
        assert!(warns(&builder, &BOTH).is_empty(), "{builder}");
    }

    #[test]
    fn shell_form_entrypoint() {
        let shell_ep = "FROM scratch\nCOPY app /app\nENTRYPOINT /app --serve\n";
        assert!(warns(shell_ep, &[Arch::Amd64])[0].starts_with("Containerfile:3: warning: shell-form ENTRYPOINT needs /bin/sh, which a scratch image does not have"));
        // False positives: exec form; a base with a shell.
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
    }

    #[test]
    fn cgo_for_minimal_images() {
        let cgo = "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.25 AS b\nRUN go build -o /app .\nFROM gcr.io/distroless/static-debian12\nCOPY --from=b /app /app\nENTRYPOINT [\"/app\"]\n";
        assert!(warns(cgo, &[Arch::Amd64])[0].starts_with("Containerfile:2: warning: `go build` without CGO_ENABLED=0 while the final image is gcr.io/distroless/static-debian12"));
        // False positives: every way the published files turn cgo off, and a
        // final image with libc.
        for off in [
            "ENV CGO_ENABLED=0\nRUN go build",
            "ARG CGO_ENABLED=\"0\"\nRUN go build",
            "ARG CGO_ENABLED=0\nRUN go build",
            "ENV CGO_ENABLED 0\nRUN go build",
            "RUN CGO_ENABLED=0 go build",
            "RUN export CGO_ENABLED=0 && go build",
        ] {
            let text = cgo.replace("RUN go build", off);
            assert!(warns(&text, &[Arch::Amd64]).is_empty(), "{text}");
        }
        let heredoc = cgo.replace(
            "RUN go build -o /app .\n",
            "ARG CGO_ENABLED=\"0\"\nRUN <<EOF\nset -e\ngo build -o /app .\nEOF\n",
        );
        assert!(warns(&heredoc, &[Arch::Amd64]).is_empty(), "{heredoc}");
        let libc = cgo.replace(
            "gcr.io/distroless/static-debian12",
            "docker.io/library/debian:12",
        );
        assert!(warns(&libc, &[Arch::Amd64]).is_empty());
    }

    #[test]
    fn volumes() {
        let vol = "FROM docker.io/library/debian:12\nCOPY seed/ /data/seed/\nVOLUME /data\n";
        assert!(warns(vol, &[Arch::Amd64])[0].starts_with(
            "Containerfile:3: warning: VOLUME /data covers files the image puts there (line 2)"
        ));
        for dir in [
            "/etc",
            "/usr",
            "/var/lib",
            "/var",
            "/usr/local",
            "/",
            "/var/lib/",
        ] {
            let text = format!("FROM docker.io/library/debian:12\nVOLUME {dir}\n");
            let w = warns(&text, &[Arch::Amd64]);
            assert_eq!(w.len(), 1, "{dir}: {w:?}");
            assert!(
                w[0].contains("covers a directory the base image already fills"),
                "{w:?}"
            );
        }
        let json = "FROM gcr.io/distroless/static-debian12\nVOLUME [\"/data\", \"/etc\"]\n";
        assert_eq!(warns(json, &[Arch::Amd64]).len(), 1);
        // False positives: a directory of its own (also under /var/lib), a
        // different path, and scratch (nothing there unless the file put it).
        for ok in [
            "FROM docker.io/library/debian:12\nCOPY seed/ /srv/\nVOLUME /data\n",
            "FROM docker.io/library/postgres:16\nVOLUME /var/lib/myapp\n",
            "FROM docker.io/library/debian:12\nVOLUME /etcetera\n",
            "FROM scratch\nCOPY app /app\nVOLUME /etc\n",
            "FROM scratch AS s\nFROM s\nVOLUME /var/lib\n",
        ] {
            assert!(
                warns(ok, &[Arch::Amd64]).is_empty(),
                "{ok}: {:?}",
                warns(ok, &[Arch::Amd64])
            );
        }
    }

    #[test]
    fn apt_cache_sharing() {
        let apt = "FROM docker.io/library/debian:12\nRUN --mount=type=cache,target=/var/cache/apt apt-get update\n";
        assert!(warns(apt, &[Arch::Amd64])[0].starts_with(
            "Containerfile:2: warning: cache mount on /var/cache/apt without sharing=locked"
        ));
        // False positives: locked; other cache targets.
        assert!(warns(
            &apt.replace("/var/cache/apt", "/var/cache/apt,sharing=locked"),
            &[Arch::Amd64]
        )
        .is_empty());
        assert!(warns(
            &apt.replace("/var/cache/apt", "/root/.cache"),
            &[Arch::Amd64]
        )
        .is_empty());
    }
}
