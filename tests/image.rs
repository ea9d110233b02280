//! `cargo xtask image` against real podman and real docker: the example app
//! for amd64 and arm64, run afterwards (arm64 through qemu-user-static).

mod support;
use support::*;

fn build_and_run_example(engine_flag: &str, program: &'static str) {
    let (guard, _, _) =
        build_both_arches(engine_flag, program, &root().join("example/joke"), "joke");
    for (image, arch) in [(&guard.images[0], "amd64"), (&guard.images[1], "arm64")] {
        let recorded = engine(
            program,
            &["image", "inspect", "--format", "{{.Architecture}}", image],
        );
        assert_eq!(recorded.trim(), arch, "{image}");
        let printed = engine(program, &["run", "--rm", image]);
        assert_eq!(
            printed.trim(),
            format!("Why do Go programmers like containers? Because they ship statically. (linux/{arch})"),
            "{image}"
        );
    }
}

#[test]
fn podman_builds_and_runs_amd64_and_arm64() {
    build_and_run_example("podman", "podman");
}

#[test]
fn docker_builds_and_runs_amd64_and_arm64() {
    build_and_run_example("docker", DOCKER);
}

/// Proxy variables, secrets and the ssh agent reach the build, and the proxy
/// password appears nowhere: not in our output, the log, or the image.
#[test]
fn proxy_secrets_and_agent_are_wired_without_leaking() {
    require_engine("podman");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let gover = go_version();
    std::fs::write(dir.path().join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(
        dir.path().join("Containerfile"),
        format!(
            "FROM docker.io/library/golang:{gover}-bookworm\n\
             ARG TAG_GOVER\n\
             RUN --mount=type=secret,id=goenv,target=/goenv --mount=type=secret,id=netrc,target=/netrc --mount=type=ssh \\\n\
             \x20   echo \"gover=$TAG_GOVER https=${{HTTPS_PROXY:+set}} no=$no_proxy goenv=$(cat /goenv) netrc=$(wc -c < /netrc) agent=$(test -S \"$SSH_AUTH_SOCK\" && echo yes)\"\n"
        ),
    )
    .unwrap();
    let goenv = dir.path().join("goenv");
    std::fs::write(&goenv, "GOPRIVATE=corp.example\n").unwrap();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        "machine corp.example login bot password n3trcpass\n",
    )
    .unwrap();
    let agent = support::agent::Agent::start(dir.path());
    let tag = format!("goapp-it/{}:1", unique("wired-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64")],
    };
    let mut c = xtask(dir.path(), cache.path());
    c.args([
        "image", "--arch", "amd64", "--tag", &tag, "--engine", "podman",
    ])
    .env("HOME", dir.path())
    .env("HTTP_PROXY", "http://bob:Sup3rS3cret@proxy.invalid:3128")
    .env("no_proxy", "localhost,.corp")
    .env("GOENV", &goenv)
    .env("NETRC", &netrc)
    .env("SSH_AUTH_SOCK", &agent.sock);
    let (ok, stdout, stderr) = run(c);
    drop(agent);
    assert!(ok, "{stdout}\n{stderr}");
    // No key in the fake HOME: a warning, and the build still gets the agent.
    assert!(stderr.contains("no ssh key found"), "{stderr}");
    let log = std::fs::read_to_string(cache.path().join(format!(
            "logs/{}-amd64.log",
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_lowercase()
        )))
    .unwrap();
    let netrc_len = std::fs::metadata(&netrc).unwrap().len();
    let expected = format!("gover={gover} https=set no=localhost,.corp goenv=GOPRIVATE=corp.example netrc={netrc_len} agent=yes");
    assert!(log.contains(&expected), "{expected} not in the log:\n{log}");
    let history = engine("podman", &["image", "inspect", &format!("{tag}-amd64")]);
    for text in [&stdout, &stderr, &log, &history] {
        assert!(
            !text.contains("Sup3rS3cret"),
            "the proxy password leaked:\n{text}"
        );
        assert!(
            !text.contains("n3trcpass"),
            "the netrc password leaked:\n{text}"
        );
    }
    assert!(
        log.contains("http://***@proxy.invalid:3128"),
        "the command line in the log should show the redacted proxy:\n{log}"
    );
}

/// A failing build stops with its command line, exit status, the tail of its
/// output and the log's path; the other architecture still finishes.
#[test]
fn a_failed_build_shows_command_status_tail_and_log() {
    require_engine("podman");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(
        dir.path().join("Containerfile"),
        format!(
            "FROM --platform=$BUILDPLATFORM docker.io/library/golang:{}-bookworm\nARG TARGETARCH\nRUN echo building-$TARGETARCH && test \"$TARGETARCH\" != arm64 || (echo broken-on-arm64 >&2; exit 7)\n",
            go_version()
        ),
    )
    .unwrap();
    let tag = format!("goapp-it/{}:1", unique("fail-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64"), format!("{tag}-arm64")],
    };
    let mut c = xtask(dir.path(), cache.path());
    c.args(["image", "--arch", "amd64,arm64", "--tag", &tag]);
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{tag}-amd64  built in")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{tag}-arm64  FAILED after")),
        "{stdout}"
    );
    assert!(stderr.contains("error: 1 of 2 builds failed"), "{stderr}");
    assert!(
        stderr.contains("process didn't exit successfully: `podman build --platform linux/arm64"),
        "{stderr}"
    );
    assert!(stderr.contains("(exit status: "), "{stderr}");
    assert!(stderr.contains("broken-on-arm64"), "{stderr}");
    // The error names this run's own log, which holds the engine's output.
    let log = stderr
        .lines()
        .find_map(|l| l.strip_prefix("--- last lines of "))
        .unwrap_or_else(|| panic!("no log named in {stderr}"));
    let name = std::path::Path::new(log)
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(name.contains("-arm64-") && name.ends_with(".log"), "{log}");
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("broken-on-arm64"), "{text}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--dry-run` prints pasteable commands and builds nothing.
#[test]
fn dry_run_prints_and_changes_nothing() {
    require_engine("podman");
    let cache = tempfile::tempdir().unwrap();
    let tag = format!("goapp-it/{}:1", unique("dry-"));
    let mut c = xtask(&root(), cache.path());
    c.args([
        "image",
        "joke",
        "--dry-run",
        "--arch",
        "arm64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("podman build --platform linux/arm64 --build-arg TAG_GOVER="),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(&format!(
            "-t {tag}-arm64 -f {}/example/joke/Containerfile {}/example/joke",
            root().display(),
            root().display()
        )),
        "{stdout}"
    );
    let exists = std::process::Command::new("podman")
        .args(["image", "exists", &format!("{tag}-arm64")])
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .status()
        .unwrap();
    assert!(!exists.success(), "--dry-run built an image");
    assert!(!cache.path().join("logs").exists(), "--dry-run wrote logs");
}
