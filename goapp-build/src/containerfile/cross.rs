//! The cross-compilation shim. A builder stage without `--platform` runs
//! every step for a foreign architecture under QEMU (the Go toolchain, the
//! standard library's compilation: many times slower). When it provably
//! makes no difference to the image, the shimmed copy puts the stage on the
//! build platform and has `go build` cross-compile instead:
//!
//! ```text
//! FROM --platform=$BUILDPLATFORM <base> AS build      (was: FROM <base> AS build)
//! …                                                  (shared by every architecture)
//! ARG TARGETOS
//! ARG TARGETARCH
//! ENV GOOS=$TARGETOS GOARCH=$TARGETARCH              (GOARM=7 when building arm/v7)
//! RUN … go build -o /out/app …
//! ```
//!
//! Provably means: later stages only `COPY --from` it, and only the outputs
//! of its `go build -o` (or architecture-independent data such as CA
//! certificates and time zones); cgo is off for every `go build` (`ENV`,
//! `ARG` or the command itself, and no `--build-arg CGO_ENABLED` says
//! otherwise); no step asks which machine it runs on (the `go build` steps
//! included), none before the first `go build` picks files by the target,
//! and no step after the first `go build` does anything else;
//! nothing in it already picks GOOS/GOARCH. Otherwise the file is left alone
//! and the lint says why.

use crate::containerfile::cgo;
use crate::containerfile::mountflags::{join, workdir};
use crate::containerfile::preflight::{on_buildplatform, Context};
use crate::containerfile::{parse_json_array, Containerfile, Instruction, Stage};

/// Files a builder stage may hand on that do not depend on its architecture.
const ARCH_FREE: [&str; 6] = [
    "/etc/ssl/certs",
    "/etc/ssl/certs/ca-certificates.crt",
    "/usr/share/zoneinfo",
    "/usr/share/ca-certificates",
    "/etc/passwd",
    "/etc/group",
];

/// What the shim does to a file.
#[derive(Debug, Default)]
pub(crate) struct CrossShim {
    /// `(first line, last line, text)` replacements (the `FROM` lines).
    pub replace: Vec<(usize, usize, String)>,
    /// `(line, text)` inserted before a line.
    pub inserts: Vec<(usize, String)>,
    /// Stage indices moved to the build platform, with their first `go build` line.
    pub crossed: Vec<(usize, usize)>,
    /// Stage indices left alone, and why.
    pub not_crossed: Vec<(usize, String)>,
}

/// Decides, stage by stage. `enabled` is false with `--no-cross-compile`,
/// `cross_compile: false` or `--no-shims`. The decision and the text do not
/// depend on the architectures asked for (a native build through the shim
/// makes the same binary): each image's inputs stay the same when the list
/// changes, so adding arm64 does not rebuild amd64.
pub(crate) fn plan(file: &Containerfile, cx: &Context, enabled: bool) -> CrossShim {
    let mut out = CrossShim::default();
    let stages = file.stages();
    for k in 0..stages.len().saturating_sub(1) {
        let st = &stages[k];
        let body = &file.instructions[st.from + 1..st.end];
        if on_buildplatform(st) || !body.iter().any(|i| i.keyword == "RUN") {
            continue;
        }
        if !enabled {
            out.not_crossed.push((k, "cross-compiling is turned off (`cross_compile: false`, --no-cross-compile or --no-shims)".into()));
            continue;
        }
        match check_stage(file, &stages, k, cx.cgo_build_arg) {
            Ok(first_build) => {
                apply(file, st, first_build, &mut out);
                out.crossed.push((k, file.instructions[first_build].line));
            }
            Err(why) => out.not_crossed.push((k, why)),
        }
    }
    out
}

fn apply(file: &Containerfile, st: &Stage, first_build: usize, out: &mut CrossShim) {
    let from = &file.instructions[st.from];
    out.replace.push((
        from.line,
        from.end_line,
        format!("FROM --platform=$BUILDPLATFORM {}", from.args.trim()),
    ));
    // GOARM only counts for GOARCH=arm (arm/v7, the one arm we build); set
    // always, so the text is the same whatever the architectures.
    let goarm = " GOARM=7";
    let line = file.instructions[first_build].line;
    out.inserts.push((line, "ARG TARGETOS".into()));
    out.inserts.push((line, "ARG TARGETARCH".into()));
    out.inserts.push((
        line,
        format!("ENV GOOS=$TARGETOS GOARCH=$TARGETARCH{goarm}"),
    ));
}

/// `Ok(index of the first go build)` when stage `k` can be cross-compiled.
fn check_stage(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    cgo_build_arg: Option<&str>,
) -> Result<usize, String> {
    let st = &stages[k];
    if st.platform.is_some() {
        return Err("its `--platform` is set explicitly".into());
    }
    let builds: Vec<usize> = (st.from + 1..st.end)
        .filter(|&i| {
            let ins = &file.instructions[i];
            ins.keyword == "RUN" && cgo::builds_go(&cgo::run_text(ins))
        })
        .collect();
    let Some(&first) = builds.first() else {
        return Err("it runs no `go build`".into());
    };
    picks_no_arch(file, st)?;
    steps_are_arch_free(file, st, first)?;
    let mut outputs = Vec::new();
    for &i in &builds {
        let ins = &file.instructions[i];
        let text = cgo::run_text(ins);
        if text.contains("go install") {
            return Err(format!("line {} runs `go install`, which puts a cross-compiled binary under $GOPATH/bin/<os>_<arch>/ instead", ins.line));
        }
        if !cgo::off_for(file, stages, i, cgo_build_arg) {
            let why = match cgo_build_arg {
                Some(v) if v != "0" => format!("--build-arg CGO_ENABLED={v}"),
                _ => "add `ENV CGO_ENABLED=0` or `ARG CGO_ENABLED=0`".into(),
            };
            return Err(format!(
                "cgo is not provably off for the `go build` at line {} ({why})",
                ins.line
            ));
        }
        let dir = workdir(file, stages, i);
        for o in build_outputs(&text) {
            match (o.starts_with('/'), &dir) {
                (true, _) => outputs.push(join("", &o)),
                (false, Some(d)) => outputs.push(join(d, &o)),
                (false, None) => return Err(format!("the `go build -o {o}` at line {} is relative to a WORKDIR the file does not set", ins.line)),
            }
        }
        if text.matches("go build").count() > build_outputs(&text).len() {
            return Err(format!(
                "a `go build` at line {} has no `-o <path>`: where its binary goes is not known",
                ins.line
            ));
        }
    }
    only_binaries_used(file, stages, k, &outputs)?;
    Ok(first)
}

/// Nothing in the stage already decides GOOS/GOARCH/GOARM, other than from
/// the target platform.
fn picks_no_arch(file: &Containerfile, st: &Stage) -> Result<(), String> {
    for ins in &file.instructions[st.from + 1..st.end] {
        let text = match ins.keyword.as_str() {
            "ENV" | "ARG" => ins.args.clone(),
            "RUN" => cgo::run_text(ins),
            _ => continue,
        };
        for var in ["GOARCH", "GOOS", "GOARM"] {
            let set = text.match_indices(&format!("{var}=")).any(|(i, _)| {
                let before = text[..i].chars().last();
                let ok_before = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                ok_before
                    && !text[i..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .contains("TARGET")
            });
            if set {
                return Err(format!("line {} sets {var} itself", ins.line));
            }
        }
    }
    Ok(())
}

/// What asks which machine a step runs on: moved to the build platform, it
/// would answer the build machine's architecture, not the target's.
const MACHINE_PROBES: [&str; 13] = [
    "uname",
    "dpkg --print-architecture",
    "dpkg-architecture",
    "arch)",
    "$(arch",
    "`arch",
    "lscpu",
    "/proc/cpuinfo",
    "getconf LONG_BIT",
    "HOSTTYPE",
    "MACHTYPE",
    "go env GOARCH",
    "go env GOHOSTARCH",
];

/// No step may ask which machine it runs on (every step now runs on the
/// build machine); steps before the first `go build` must not pick files by
/// the target either (a tool for the target would not run there); steps
/// after it must be `go build`s.
fn steps_are_arch_free(file: &Containerfile, st: &Stage, first: usize) -> Result<(), String> {
    for (i, ins) in file.instructions[st.from + 1..st.end].iter().enumerate() {
        let at = st.from + 1 + i;
        if ins.keyword != "RUN" {
            continue;
        }
        let text = cgo::run_text(ins);
        if at > first && !cgo::builds_go(&text) {
            return Err(format!("line {} runs after `go build` and is not a `go build`: it would run with the target's GOARCH on the build machine", ins.line));
        }
        let by_target = ["TARGETARCH", "TARGETPLATFORM"];
        let probes = MACHINE_PROBES.iter().any(|s| text.contains(s));
        if probes || (at < first && by_target.iter().any(|s| text.contains(s))) {
            return Err(format!(
                "line {} depends on the machine's architecture",
                ins.line
            ));
        }
    }
    Ok(())
}

/// The `-o` paths of the `go build` commands in a step.
pub(crate) fn build_outputs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("go build") {
        let cmd = &text[i..];
        let end = cmd.find(['\n', ';', '&', '|']).unwrap_or(cmd.len());
        let words: Vec<&str> = cmd[..end].split_whitespace().collect();
        for (n, w) in words.iter().enumerate() {
            let path = match (w.strip_prefix("-o="), *w) {
                (Some(p), _) => Some(p),
                (None, "-o") => words.get(n + 1).copied(),
                _ => None,
            };
            if let Some(p) = path {
                out.push(p.trim_matches(['"', '\'']).to_string());
                break;
            }
        }
    }
    out.retain(|p| !p.contains('$'));
    out
}

/// Later stages may take from stage `k` only its Go binaries (and
/// architecture-free data), by `COPY --from`.
fn only_binaries_used(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    outputs: &[String],
) -> Result<(), String> {
    let st = &stages[k];
    let refers = |v: &str| {
        let v = v.to_lowercase();
        st.name.as_deref() == Some(v.as_str()) || v == k.to_string()
    };
    let mut copied = false;
    for later in &stages[k + 1..] {
        let from = &file.instructions[later.from];
        if refers(&file.resolved_base(later)) {
            return Err(format!(
                "line {} builds FROM it, so all of its files are used",
                from.line
            ));
        }
        for ins in &file.instructions[later.from + 1..later.end] {
            if ins
                .typed_mounts()
                .iter()
                .any(|m| m.from.as_deref().is_some_and(refers))
            {
                return Err(format!("line {} mounts it", ins.line));
            }
            if !matches!(ins.keyword.as_str(), "COPY" | "ADD")
                || !ins.flag("from").is_some_and(refers)
            {
                continue;
            }
            copied = true;
            for src in copy_sources(ins) {
                let src = join("", &src);
                let ok = outputs.iter().any(|o| *o == src || parent(o) == src)
                    || ARCH_FREE
                        .iter()
                        .any(|d| src == *d || src.starts_with(&format!("{d}/")));
                if !ok {
                    return Err(format!(
                        "line {} copies `{src}` from it, which is not the output of its `go build`",
                        ins.line
                    ));
                }
            }
        }
    }
    if !copied {
        return Err("no later stage copies from it".into());
    }
    Ok(())
}

fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// The source paths of a `COPY`/`ADD` (all words but the last).
fn copy_sources(ins: &Instruction) -> Vec<String> {
    let words = parse_json_array(&ins.args)
        .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
    words[..words.len().saturating_sub(1)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::arch::Arch;
    use crate::engine::caps::from_version;
    use crate::engine::{BuildFront, EngineKind};
    use std::path::Path;

    fn cross(text: &str, arches: &[Arch]) -> CrossShim {
        let caps = from_version(EngineKind::Podman, BuildFront::Podman, "4.3.1");
        let cx = Context {
            path: Path::new("Containerfile"),
            caps: &caps,
            arches,
            host: Arch::Amd64,
            shims: true,
            cross_compile: true,
            no_cache: false,
            cgo_build_arg: None,
        };
        plan(&Containerfile::parse(text).unwrap(), &cx, true)
    }

    const BOTH: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    const PUBLISHED: &str = "FROM docker.io/library/golang:1.19 AS build\n\
ARG CGO_ENABLED=\"0\"\n\
WORKDIR /src\n\
RUN --mount=type=bind,source=go.mod,target=go.mod go mod download\n\
RUN --mount=type=bind,target=. go build -trimpath -o /out/hello .\n\
FROM scratch\n\
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/\n\
COPY --from=build /out/hello /hello\n\
ENTRYPOINT [\"/hello\"]\n";

    #[test]
    fn the_published_style_is_cross_compiled() {
        let s = cross(PUBLISHED, &BOTH);
        assert_eq!(s.not_crossed, vec![]);
        assert_eq!(s.crossed, vec![(0, 5)]);
        assert_eq!(
            s.replace,
            vec![(
                1,
                1,
                "FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.19 AS build".to_string()
            )]
        );
        let inserted: Vec<&str> = s
            .inserts
            .iter()
            .map(|(l, t)| {
                assert_eq!(*l, 5);
                t.as_str()
            })
            .collect();
        assert_eq!(
            inserted,
            [
                "ARG TARGETOS",
                "ARG TARGETARCH",
                "ENV GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=7"
            ]
        );
    }

    /// The shim is the same whatever the architectures: a native image's
    /// key does not change when a foreign one is added.
    #[test]
    fn the_shim_does_not_depend_on_the_architectures() {
        let both = cross(PUBLISHED, &BOTH);
        for arches in [
            &[Arch::Amd64][..],
            &[Arch::Arm],
            &[Arch::Amd64, Arch::Arm64, Arch::Arm],
        ] {
            let s = cross(PUBLISHED, arches);
            assert_eq!(
                (&s.crossed, &s.replace, &s.inserts),
                (&both.crossed, &both.replace, &both.inserts),
                "{arches:?}"
            );
        }
    }

    fn why(text: &str) -> String {
        let s = cross(text, &BOTH);
        assert!(s.crossed.is_empty(), "{text}");
        s.not_crossed[0].1.clone()
    }

    #[test]
    fn not_provably_safe_is_left_alone_with_the_reason() {
        let p = PUBLISHED;
        let cases = [
            (
                p.replace("ARG CGO_ENABLED=\"0\"\n", ""),
                "cgo is not provably off for the `go build` at line 4",
            ),
            (
                p.replace("ARG CGO_ENABLED=\"0\"", "ENV CGO_ENABLED=1"),
                "cgo is not provably off",
            ),
            (
                p.replace("go build -trimpath", "go install -trimpath"),
                "`go install`",
            ),
            (p.replace("-o /out/hello ", ""), "has no `-o <path>`"),
            (
                p.replace(
                    "COPY --from=build /out/hello /hello",
                    "COPY --from=build /src/config.yaml /config.yaml",
                ),
                "copies `/src/config.yaml` from it",
            ),
            (p.replace("FROM scratch", "FROM build"), "builds FROM it"),
            (
                p.replace(
                    "AS build",
                    "AS build\nRUN apt-get install -y foo-$(uname -m)",
                ),
                "depends on the machine's architecture",
            ),
            (
                p.replace(
                    "go build -trimpath",
                    "go build -ldflags \"-X main.arch=$(uname -m)\" -trimpath",
                ),
                "line 5 depends on the machine's architecture",
            ),
            (
                p.replace("RUN --mount=type=bind,target=. go", "RUN --mount=type=bind,target=. [ \"$(dpkg --print-architecture)\" = arm64 ] && go"),
                "line 5 depends on the machine's architecture",
            ),
            (
                p.replace("RUN --mount=type=bind,target=. go", "RUN --mount=type=bind,target=. echo $(go env GOARCH) > /out/arch && go"),
                "line 5 depends on the machine's architecture",
            ),
            (
                p.replace("FROM scratch", "RUN /out/hello --self-test\nFROM scratch"),
                "is not a `go build`",
            ),
            (
                p.replace("ARG CGO_ENABLED=\"0\"", "ENV CGO_ENABLED=0 GOARCH=arm64"),
                "sets GOARCH itself",
            ),
            (
                p.replace(
                    "FROM docker.io",
                    "FROM --platform=$TARGETPLATFORM docker.io",
                ),
                "`--platform` is set explicitly",
            ),
            (
                p.replace("-o /out/hello", "-o hello")
                    .replace("WORKDIR /src\n", ""),
                "relative to a WORKDIR",
            ),
        ];
        for (text, reason) in cases {
            let got = why(&text);
            assert!(got.contains(reason), "{reason} not in {got}\n{text}");
        }
    }

    #[test]
    fn safe_variants() {
        let p = PUBLISHED;
        for text in [
            p.replace("ARG CGO_ENABLED=\"0\"\n", "").replace(
                "RUN --mount=type=bind,target=. go",
                "RUN --mount=type=bind,target=. CGO_ENABLED=0 go",
            ),
            p.replace(
                "go build -trimpath",
                "GOARCH=$TARGETARCH go build -trimpath",
            ),
            p.replace("-o /out/hello", "-o=/out/hello"),
            p.replace(
                "COPY --from=build /out/hello /hello",
                "COPY --from=build /out/ /",
            ),
            p.replace("-o /out/hello", "-o hello")
                .replace("/out/hello /hello", "/src/hello /hello"),
            p.replace("--from=build", "--from=0"),
        ] {
            assert_eq!(
                cross(&text, &BOTH).crossed.len(),
                1,
                "{text}: {:?}",
                cross(&text, &BOTH).not_crossed
            );
        }
        assert_eq!(
            build_outputs("set -e\ngo build -o /a ./a && go build -o \"/b\" ./b\n"),
            ["/a", "/b"]
        );
    }

    #[test]
    fn a_cgo_build_arg_keeps_the_stage_where_it_is() {
        let caps = from_version(EngineKind::Podman, BuildFront::Podman, "4.3.1");
        let file = Containerfile::parse(PUBLISHED).unwrap();
        let plan_with = |arg| {
            let cx = Context {
                path: Path::new("Containerfile"),
                caps: &caps,
                arches: &BOTH,
                host: Arch::Amd64,
                shims: true,
                cross_compile: true,
                no_cache: false,
                cgo_build_arg: arg,
            };
            plan(&file, &cx, true)
        };
        assert_eq!(plan_with(Some("0")).crossed, vec![(0, 5)]);
        let on = plan_with(Some("1"));
        assert!(on.crossed.is_empty() && on.replace.is_empty() && on.inserts.is_empty());
        assert!(
            on.not_crossed[0].1.contains("(--build-arg CGO_ENABLED=1)"),
            "{:?}",
            on.not_crossed
        );
    }
}
