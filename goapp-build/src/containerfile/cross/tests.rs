use super::*;
use crate::containerfile::steps::tests::Mem;
use crate::core::arch::Arch;
use crate::engine::caps::from_version;
use crate::engine::{BuildFront, EngineKind};
use std::collections::BTreeMap;
use std::path::Path;

fn cross(text: &str, arches: &[Arch]) -> CrossShim {
    cross_in(text, arches, &Mem(vec![]), &[])
}

/// With a build context and build args.
fn cross_in(text: &str, arches: &[Arch], files: &Mem, args: &[(&str, &str)]) -> CrossShim {
    let caps = from_version(
        EngineKind::Podman,
        BuildFront::Podman,
        "4.3.1",
        crate::engine::ImageStore::DockerClassic,
    );
    let args: BTreeMap<String, String> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cx = Context {
        path: Path::new("Containerfile"),
        caps: &caps,
        arches,
        host: Arch::Amd64,
        shims: true,
        cross_compile: true,
        no_cache: false,
        build_args: &args,
        files,
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
    why_in(text, &Mem(vec![]))
}

fn why_in(text: &str, files: &Mem) -> String {
    let s = cross_in(text, &BOTH, files, &[]);
    assert!(s.crossed.is_empty(), "{text}");
    s.not_crossed[0].1.clone()
}

/// Each variant of the published file is left alone, with a reason that
/// holds the expected text.
fn left_alone_because<const N: usize>(cases: [(String, &str); N]) {
    for (text, reason) in cases {
        let got = why(&text);
        assert!(got.contains(reason), "{reason} not in {got}\n{text}");
    }
}

#[test]
fn cgo_not_provably_off_is_left_alone() {
    let p = PUBLISHED;
    left_alone_because([
        (
            p.replace("ARG CGO_ENABLED=\"0\"\n", ""),
            "cgo is not provably off for the `go build` at line 4",
        ),
        (
            p.replace("ARG CGO_ENABLED=\"0\"", "ENV CGO_ENABLED=1"),
            "cgo is not provably off",
        ),
    ]);
}

/// What the final stage copies must be the `-o` of the stage's `go build`,
/// at a path the file pins down.
#[test]
fn a_copy_that_is_not_the_builds_output_is_left_alone() {
    let p = PUBLISHED;
    left_alone_because([
        (
            p.replace("go build -trimpath", "go install -trimpath"),
            "copies `/out/hello` from it, which is not the output of its `go build` (its builds write `/go/bin` (line 5))",
        ),
        (p.replace("-o /out/hello ", ""), "has no `-o`"),
        (
            p.replace(
                "COPY --from=build /out/hello /hello",
                "COPY --from=build /src/config.yaml /config.yaml",
            ),
            "copies `/src/config.yaml` from it",
        ),
        (
            p.replace("-o /out/hello", "-o $OUT/hello"),
            "names a path the file does not pin down",
        ),
    ]);
}

/// A stage used as a base, or given its platform by the file, is not moved.
#[test]
fn a_stage_built_on_or_with_its_own_platform_is_left_alone() {
    let p = PUBLISHED;
    left_alone_because([
        (p.replace("FROM scratch", "FROM build"), "builds FROM it"),
        (
            p.replace(
                "FROM docker.io",
                "FROM --platform=$TARGETPLATFORM docker.io",
            ),
            "`--platform` is set explicitly",
        ),
    ]);
}

#[test]
fn a_step_that_reads_the_machines_architecture_is_left_alone() {
    let p = PUBLISHED;
    left_alone_because([
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
            p.replace(
                "RUN --mount=type=bind,target=. go",
                "RUN --mount=type=bind,target=. [ \"$(dpkg --print-architecture)\" = arm64 ] && go",
            ),
            "line 5 depends on the machine's architecture",
        ),
        (
            p.replace(
                "RUN --mount=type=bind,source=go.mod,target=go.mod go mod download",
                "RUN echo $(go env GOARCH) > /arch",
            ),
            "line 4 depends on the machine's architecture",
        ),
    ]);
}

#[test]
fn a_build_that_sets_its_own_target_is_left_alone() {
    let p = PUBLISHED;
    left_alone_because([
        (
            p.replace("ARG CGO_ENABLED=\"0\"", "ENV CGO_ENABLED=0 GOARCH=arm64"),
            "sets GOARCH=arm64 itself",
        ),
        (
            p.replace("go build -trimpath", "GOARCH=amd64 go build -trimpath"),
            "line 5 sets GOARCH=amd64 itself",
        ),
        (
            p.replace("go build -trimpath", "GOOS=darwin go build -trimpath"),
            "sets GOOS=darwin, which is not the target's",
        ),
    ]);
}

/// Cross-compiled, the binary is the target's: a tool of the build machine
/// run on it afterwards would not handle it.
#[test]
fn a_binary_tool_run_on_the_output_is_left_alone() {
    left_alone_because([(
        PUBLISHED.replace("-o /out/hello .", "-o /out/hello . && strip /out/hello"),
        "runs `strip /out/hello` on the binary the `go build` at line 5 makes: cross-compiled, it is the target's, which the build machine's `strip` does not handle",
    )]);
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
        p.replace("go build -trimpath", "GOOS=linux go build -trimpath"),
        p.replace("ARG CGO_ENABLED=\"0\"", "ENV CGO_ENABLED=0 GOOS=linux"),
        p.replace("-o /out/hello", "-o=/out/hello"),
        p.replace(
            "COPY --from=build /out/hello /hello",
            "COPY --from=build /out/ /",
        ),
        p.replace("-o /out/hello", "-o /out/"),
        p.replace("-o /out/hello", "-o /out/ ./cmd/..."),
        p.replace("-o /out/hello", "-o hello")
            .replace("/out/hello /hello", "/src/hello /hello"),
        p.replace("--from=build", "--from=0"),
        p.replace(
            "RUN --mount=type=bind,target=. go",
            "RUN --mount=type=bind,target=. echo $(go env GOARCH) > /out/arch && go",
        ),
        // Steps after the build that do not run what it made.
        p.replace(
            "FROM scratch",
            "RUN mkdir -p /data && chmod 755 /out/hello\nFROM scratch",
        ),
    ] {
        let s = cross(&text, &BOTH);
        assert_eq!(s.crossed.len(), 1, "{text}: {:?}", s.not_crossed);
    }
}

/// The articles' file: `WORKDIR /app/src`, `go build -o ../bin`.
#[test]
fn output_relative_to_workdir_with_dotdot() {
    let text = "FROM golang:1.19 AS builder\nENV CGO_ENABLED=0 GOOS=linux\nWORKDIR /app/src\nCOPY . .\nARG MAIN_PKG_PATH\nRUN go build -o ../bin ${MAIN_PKG_PATH}\nFROM scratch\nCOPY --from=builder /app/bin /app/bin\nCMD [\"/app/bin\"]\n";
    let s = cross_in(text, &BOTH, &Mem(vec![]), &[("MAIN_PKG_PATH", "./")]);
    assert_eq!(s.crossed, vec![(0, 6)], "{:?}", s.not_crossed);
}

/// No `-o`: the package's name (the module's last element, not a
/// major-version suffix) in the working directory.
#[test]
fn no_output_flag_names_the_binary_by_its_package() {
    let files = Mem(vec![
        ("go.mod", "module github.com/acme/widget/v2\n\ngo 1.19\n"),
        ("cmd/server/main.go", "package main\n"),
    ]);
    let module = "FROM golang:1.19 AS b\nENV CGO_ENABLED=0\nWORKDIR /src\nCOPY . .\nRUN go build\nFROM scratch\nCOPY --from=b /src/widget /w\n";
    assert_eq!(cross_in(module, &BOTH, &files, &[]).crossed.len(), 1);
    let sub = module
        .replace("go build", "go build ./cmd/server")
        .replace("/src/widget", "/src/server");
    assert_eq!(cross_in(&sub, &BOTH, &files, &[]).crossed.len(), 1);
    let wrong = module.replace("/src/widget", "/src/v2");
    assert!(
        why_in(&wrong, &files).contains("copies `/src/v2`"),
        "{}",
        why_in(&wrong, &files)
    );
    let file = module
        .replace("go build", "go build main.go")
        .replace("/src/widget", "/src/main");
    assert_eq!(cross_in(&file, &BOTH, &files, &[]).crossed.len(), 1);
}

/// `go install` into GOPATH/bin or GOBIN: a step moves the binaries a
/// cross-compiling install puts in `bin/<os>_<arch>/`.
#[test]
fn go_install_is_crossed_with_a_move() {
    let text = "FROM golang:1.19 AS b\nENV CGO_ENABLED=0\nWORKDIR /src\nCOPY . .\nRUN go install ./cmd/app\nFROM scratch\nCOPY --from=b /go/bin/app /app\n";
    let s = cross(text, &BOTH);
    assert_eq!(s.crossed.len(), 1, "{:?}", s.not_crossed);
    let moved: Vec<&(usize, String)> = s
        .inserts
        .iter()
        .filter(|(_, t)| t.contains("mv "))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].0, 6, "after the install, before the next FROM");
    assert!(
        moved[0].1.contains("mv \"$d\"/* \"$(go env GOPATH)/bin/\""),
        "{}",
        moved[0].1
    );
    let gobin = text
        .replace("ENV CGO_ENABLED=0", "ENV CGO_ENABLED=0 GOBIN=/out")
        .replace("/go/bin/app", "/out/app");
    let s = cross(&gobin, &BOTH);
    let texts: Vec<&str> = s.inserts.iter().map(|(_, t)| t.as_str()).collect();
    assert!(texts.contains(&"ENV GOBIN=\"\""), "{texts:?}");
    assert!(texts.contains(&"ENV GOBIN=\"/out\""), "{texts:?}");
    let inline = text
        .replace("RUN go install", "RUN GOBIN=/out go install")
        .replace("/go/bin/app", "/out/app");
    assert!(
        why(&inline).contains("sets GOBIN for `go install`"),
        "{}",
        why(&inline)
    );
}

/// Programs the stage builds and runs (a tool installed then run, `go
/// run`, `go generate`'s commands, the binary itself) are the target's,
/// run under emulation as in the emulated build: the shim's ENV goes
/// before the first of them, and the stage is marked as needing it.
#[test]
fn programs_built_here_run_for_the_target() {
    let text = "FROM golang:1.19 AS b\nENV CGO_ENABLED=0\nWORKDIR /src\nCOPY . .\nRUN go install ./tools/gen && gen -out x.go\nRUN go generate ./... && go run ./tools/v > v.txt && go build -o /out/app . && /out/app -selftest\nFROM scratch\nCOPY --from=b /out/app /app\n";
    let s = cross(text, &BOTH);
    assert_eq!(s.crossed, vec![(0, 5)], "{:?}", s.not_crossed);
    assert_eq!(s.runs_target, vec![0]);
    let gen_first = "FROM golang:1.19 AS b\nENV CGO_ENABLED=0\nWORKDIR /src\nCOPY . .\nRUN go generate ./...\nRUN go build -o /out/app .\nFROM scratch\nCOPY --from=b /out/app /app\n";
    let s = cross(gen_first, &BOTH);
    assert_eq!(
        s.crossed,
        vec![(0, 5)],
        "the generator runs for the target: {:?}",
        s.not_crossed
    );
    assert_eq!(s.runs_target, vec![0]);
    let plain = cross(PUBLISHED, &BOTH);
    assert!(
        plain.runs_target.is_empty(),
        "a build alone needs no emulation"
    );
    // A build helper writes where it runs; cgo must be off for it.
    let helper = "FROM golang:1.19 AS b\nWORKDIR /src\nCOPY . .\nRUN go run build.go\nFROM scratch\nCOPY --from=b /src/app /app\n";
    assert!(
        why(helper).contains("cgo is not provably off for the `go run` at line 4"),
        "{}",
        why(helper)
    );
    let off = helper.replace("WORKDIR /src", "WORKDIR /src\nENV CGO_ENABLED=0");
    assert_eq!(cross(&off, &BOTH).crossed.len(), 1);
}

/// `make` and scripts of the context are followed, with the same rules.
#[test]
fn make_and_scripts() {
    let mk = "BIN := bin/app\nGOARCH ?= $(shell go env GOARCH)\nexport CGO_ENABLED=0\nbuild:\n\tGOOS=linux go build -o $(BIN) ./cmd/app\n";
    let files = Mem(vec![("Makefile", mk), ("go.mod", "module x\n")]);
    let text = "FROM golang:1.19 AS b\nWORKDIR /src\nCOPY . .\nRUN make build\nFROM scratch\nCOPY --from=b /src/bin/app /app\n";
    let s = cross_in(text, &BOTH, &files, &[]);
    assert_eq!(s.crossed, vec![(0, 4)], "{:?}", s.not_crossed);
    let probe = Mem(vec![("Makefile", "ARCH := $(shell uname -m)\nbuild:\n\tCGO_ENABLED=0 go build -o bin/app-$(ARCH) ./cmd/app\n")]);
    assert!(
        why_in(text, &probe).contains("line 4 (Makefile:3) depends on the machine's architecture"),
        "{}",
        why_in(text, &probe)
    );
    let cgo = Mem(vec![(
        "Makefile",
        "build:\n\tgo build -o bin/app ./cmd/app\n",
    )]);
    assert!(why_in(text, &cgo)
        .contains("cgo is not provably off for the `go build` at line 4 (Makefile:2)"));
    let missing = text.replace("COPY . .", "COPY go.mod .");
    assert!(why_in(&missing, &files).contains("its Makefile is not a file of the build context"));
    let script = Mem(vec![(
        "scripts/build.sh",
        "#!/bin/sh\nset -e\nexport CGO_ENABLED=0\ngo build -o /out/app ./cmd/app\n",
    )]);
    let text = "FROM golang:1.19 AS b\nWORKDIR /src\nCOPY . .\nRUN ./scripts/build.sh\nFROM scratch\nCOPY --from=b /out/app /app\n";
    assert_eq!(cross_in(text, &BOTH, &script, &[]).crossed.len(), 1);
    let gen = Mem(vec![(
        "Makefile",
        "export CGO_ENABLED=0\nbuild:\n\tgo generate ./...\n\tgo build -o /out/app .\n",
    )]);
    let text = text.replace("./scripts/build.sh", "make");
    let s = cross_in(&text, &BOTH, &gen, &[]);
    assert_eq!(
        (s.crossed.len(), s.runs_target.len()),
        (1, 1),
        "{:?}",
        s.not_crossed
    );
    // A script that finds its directory from $0.
    let up = Mem(vec![
        (
            "scripts/build.sh",
            "#!/bin/sh\ncd \"$(dirname \"$0\")/..\"\nCGO_ENABLED=0 go build -o app\n",
        ),
        ("go.mod", "module x\n"),
    ]);
    let text = "FROM golang:1.19 AS b\nWORKDIR /build\nCOPY . .\nRUN /build/scripts/build.sh\nFROM scratch\nCOPY --from=b /build/app /app\n";
    let s = cross_in(text, &BOTH, &up, &[]);
    assert_eq!(s.crossed.len(), 1, "{:?}", s.not_crossed);
}

#[test]
fn a_cgo_build_arg_keeps_the_stage_where_it_is() {
    let plan_with = |arg: Option<&str>| {
        let args: Vec<(&str, &str)> = arg.map(|a| ("CGO_ENABLED", a)).into_iter().collect();
        cross_in(PUBLISHED, &BOTH, &Mem(vec![]), &args)
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
