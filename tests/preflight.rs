//! Preflight, shims and lints against real podman 4.3.1 and docker 20.10: a
//! Containerfile in the common published style (a `# syntax=` line, heredoc
//! RUN blocks, a builder on $BUILDPLATFORM) fails on them as it is, and
//! builds through the tool for amd64 and arm64; what cannot be shimmed stops
//! before the engine starts, with `file:line`.

mod support;
use std::process::Command;
use support::*;

fn published() -> std::path::PathBuf {
    root().join("tests/fixtures/published")
}

#[test]
fn the_published_style_fails_on_podman_4_3_as_it_is() {
    require_engine("podman");
    let tag = format!("goapp-it/{}:raw", unique("pub-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![tag.clone()],
    };
    let out = Command::new("podman")
        .args(["build", "--platform", "linux/arm64", "-t", &tag, "-f"])
        .arg(published().join("Containerfile"))
        .arg(published())
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "podman 4.3.1 was expected to fail on heredocs"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unknown instruction")
            || stderr.contains("BUILDPLATFORM")
            || stderr.contains("pull"),
        "{stderr}"
    );
}

fn build_published(engine_flag: &str, program: &'static str) {
    let (guard, _, stderr) = build_both_arches(engine_flag, program, &published(), "pub");
    assert!(
        stderr.contains("Containerfile:10: note: shim: heredoc RUN rewritten"),
        "{stderr}"
    );
    assert!(stderr.contains("through its shimmed copy"), "{stderr}");
    if engine_flag == "docker" {
        assert!(
            stderr.contains("Containerfile:1: note: shim: `# syntax=docker/dockerfile:1` dropped"),
            "{stderr}"
        );
    } else {
        assert!(
            stderr.contains("note: shim: --build-arg BUILDPLATFORM=linux/amd64"),
            "{stderr}"
        );
    }
    for (image, arch) in [(&guard.images[0], "amd64"), (&guard.images[1], "arm64")] {
        let printed = engine(program, &["run", "--rm", image]);
        assert_eq!(printed.trim(), format!("hello from linux/{arch}"));
    }
}

#[test]
fn the_published_style_builds_through_the_shims_on_podman() {
    build_published("podman", "podman");
}

#[test]
fn the_published_style_builds_through_the_shims_on_docker() {
    build_published("docker", DOCKER);
}

/// Writes an app and returns its directory.
fn app(dir: &std::path::Path, containerfile: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(dir.join("Containerfile"), containerfile).unwrap();
    dir.to_path_buf()
}

#[test]
fn what_cannot_be_shimmed_stops_before_the_engine() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let gover = go_version();
    let dir = app(
        t.path(),
        &format!(
            "FROM docker.io/library/golang:{gover}-bookworm\nCOPY <<EOF /etc/motd\nhello\nEOF\n"
        ),
    );
    let cache = t.path().join("cache");
    let mut c = xtask(&dir, &cache);
    c.args(["image", "--arch", "amd64", "--tag", "x:1"]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    let cf = dir.join("Containerfile");
    assert!(stderr.contains(&format!("error: {} stopped before the engine started (the engine cannot build this file as it is):", cf.display())), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:2: error: COPY with a heredoc needs heredoc support, which podman 4.3.1 lacks",
            cf.display()
        )),
        "{stderr}"
    );
    assert!(
        !cache.join("logs").exists(),
        "the engine must not have started"
    );

    // A heredoc RUN with shims turned off.
    std::fs::write(
        &cf,
        format!("FROM docker.io/library/golang:{gover}-bookworm\nRUN <<EOF\necho hi\nEOF\n"),
    )
    .unwrap();
    let mut c = xtask(&dir, &cache);
    c.args(["image", "--arch", "amd64", "--tag", "x:1", "--no-shims"]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    assert!(stderr.contains(&format!("{}:2: error: RUN with a heredoc needs heredoc support, which podman 4.3.1 lacks, and shims are off", cf.display())), "{stderr}");
    assert!(!cache.join("logs").exists());

    // --strict with a lint warning.
    std::fs::write(&cf, format!("FROM golang:{gover}-bookworm\nRUN true\n")).unwrap();
    let mut c = xtask(&dir, &cache);
    c.args(["image", "--arch", "amd64", "--tag", "x:1", "--strict"]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    assert!(
        stderr.contains("stopped before the engine started (--strict stops on lint warnings)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:1: warning: `golang:{gover}-bookworm` is not a fully qualified image name",
            cf.display()
        )),
        "{stderr}"
    );
    assert!(!cache.join("logs").exists());
}

#[test]
fn lint_reports_every_lint_on_its_example_and_nothing_on_the_app() {
    let cache = tempfile::tempdir().unwrap();
    let mut c = xtask(&root(), cache.path());
    c.args([
        "lint",
        "--arch",
        "amd64,arm64",
        "tests/fixtures/lint/Containerfile",
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "warnings alone pass without --strict: {stderr}");
    let expect = [
        (2, "`golang:1.25` is not a fully qualified image name"),
        (
            2,
            "this builder stage is not on `--platform=$BUILDPLATFORM`",
        ),
        (
            6,
            "`ARG TARGETARCH` is declared before 2 step(s) that do not use it",
        ),
        (8, "cache mount on /var/cache/apt without sharing=locked"),
        (
            9,
            "`go build` without CGO_ENABLED=0 while the final image is gcr.io/distroless",
        ),
        (
            11,
            "the final stage is pinned by a digest while building amd64, arm64",
        ),
        (
            15,
            "VOLUME /data covers files the image puts there (line 14)",
        ),
        (
            16,
            "shell-form ENTRYPOINT needs /bin/sh, which a distroless image does not have",
        ),
    ];
    for (line, text) in expect {
        let needle = format!("tests/fixtures/lint/Containerfile:{line}: warning: {text}");
        assert!(stdout.contains(&needle), "missing `{needle}` in:\n{stdout}");
    }
    assert_eq!(
        stdout.matches(": warning: ").count(),
        expect.len(),
        "{stdout}"
    );

    let mut c = xtask(&root(), cache.path());
    c.args([
        "lint",
        "--strict",
        "--arch",
        "amd64,arm64",
        "tests/fixtures/lint/Containerfile",
    ]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    assert!(
        stderr.contains("error: 8 finding(s) would stop a build (--strict)"),
        "{stderr}"
    );

    let mut c = xtask(&root().join("example/joke"), cache.path());
    c.args(["lint", "--strict", "--arch", "amd64,arm64"]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("warning") && !stdout.contains("error"),
        "{stdout}"
    );
    assert!(
        stdout.contains("example/joke/Containerfile: ok"),
        "{stdout}"
    );

    // At the top of the workspace (no app there), every configured app is checked.
    let mut c = xtask(&root(), cache.path());
    c.args(["lint", "--strict"]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("example/joke/Containerfile: ok"),
        "{stdout}"
    );
}
