//! The command line's answers to bad input: a non-zero exit, one clear
//! sentence naming the thing and the fix, no panic, nothing left behind.
//! These run in a plain `cargo test`: no engine is started (a stand-in
//! `podman` that fails if run proves it), only real git for go-version.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_xtask");

/// A PATH with the tools the CLI may need (git, uname, ssh-add) and, if
/// `engine`, a `podman` that records nothing and fails if it is ever run.
fn path_dir(dir: &Path, engine: bool) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["git", "uname", "ssh-add", "sh"] {
        if let Ok(p) = which(tool) {
            let _ = std::os::unix::fs::symlink(p, bin.join(tool));
        }
    }
    if engine {
        let p = bin.join("podman");
        std::fs::write(
            &p,
            "#!/bin/sh\necho 'podman must not run in this test' >&2\nexit 99\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    bin
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    /// A workspace with a config, one app (`svc`) and its go.mod.
    fn new(config: &str) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("goapp.yaml"), config).unwrap();
        let app = dir.path().join("svc");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("go.mod"), "module svc\n\ngo 1.21\n").unwrap();
        std::fs::write(app.join("Containerfile"), "FROM scratch\n").unwrap();
        Ws { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, engine: bool, args: &[&str]) -> (i32, String, String) {
        self.run_with(engine, args, &[])
    }

    /// With the stand-in engine and `env` set.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        self.run_with(true, args, env)
    }

    fn run_with(&self, engine: bool, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let bin = path_dir(self.path(), engine);
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", &bin)
            .env("HOME", self.path())
            .env("GOAPP_CACHE_DIR", self.path().join("cache"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    }
}

const CONFIG: &str = "apps:\n  svc:\n    context: svc\n    tag: 1.0.0\n";

fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
}

#[test]
fn unknown_arch() {
    let ws = Ws::new(CONFIG);
    let (code, _, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--arch",
            "amd64,sparc",
            "--go-version",
            "1.21.5",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(error_line(&err), "error: --arch: unknown architecture 'sparc': use one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64");
}

/// Mistakes that need neither the network nor the engine are reported before
/// either is asked: here Go cannot be resolved (no `ver`, no reachable Go
/// repository, nothing cached) and the engine fails if run.
#[test]
fn checked_before_go_is_resolved_or_the_engine_asked() {
    let ws = Ws::new(CONFIG);
    let offline = ["--go-repo", "/nonexistent/go.git"];
    let (code, _, err) = ws.run(
        true,
        &["image", "svc", "--arch", "mips99", offline[0], offline[1]],
    );
    assert_eq!(code, 1);
    assert_eq!(error_line(&err), "error: --arch: unknown architecture 'mips99': use one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64");
    std::fs::write(
        ws.path().join("svc/Containerfile"),
        "FROM scratch\nRUN <<EOF\necho\n",
    )
    .unwrap();
    let (code, _, err) = ws.run(
        true,
        &["image", "svc", "--arch", "amd64", offline[0], offline[1]],
    );
    assert_eq!(code, 1);
    let cf = ws.path().join("svc/Containerfile");
    assert_eq!(error_line(&err), format!("error: the Containerfile cannot be parsed: {}:2: heredoc <<EOF is never closed: add a line `EOF`", cf.display()));
    let (code, _, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--tag",
            "Bad Name:1",
            offline[0],
            offline[1],
        ],
    );
    assert_eq!(code, 1);
    assert!(
        !err.contains("ls-remote") && !err.contains("podman must not run"),
        "{err}"
    );
}

#[test]
fn no_containerfile() {
    let ws = Ws::new(CONFIG);
    std::fs::remove_file(ws.path().join("svc/Containerfile")).unwrap();
    let (code, _, err) = ws.run(
        true,
        &["image", "svc", "--go-version", "1.21.5", "--arch", "amd64"],
    );
    assert_eq!(code, 1);
    let dir = ws.path().join("svc");
    assert_eq!(error_line(&err), format!("error: no Containerfile or Dockerfile in {}: create one, pass -f/--file PATH, or set `containerfile:` for app 'svc' in the config", dir.display()));
    // A lone Dockerfile is found, as the engines find it.
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY go.mod /\n").unwrap();
    let (code, out, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--go-version",
            "1.21.5",
            "--arch",
            "amd64",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("-f {}", dir.join("Dockerfile").display())),
        "{out}"
    );
    // -f names another file; one that is not there is said so.
    std::fs::write(
        dir.join("build.Dockerfile"),
        "FROM scratch\nCOPY go.mod /\n",
    )
    .unwrap();
    let (code, out, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--go-version",
            "1.21.5",
            "--arch",
            "amd64",
            "--dry-run",
            "-f",
            "svc/build.Dockerfile",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("build.Dockerfile"), "{out}");
    let (code, _, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--go-version",
            "1.21.5",
            "--dry-run",
            "-f",
            "svc/nope",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        error_line(&err).starts_with("error: -f/--file svc/nope: no such file"),
        "{err}"
    );
}

#[test]
fn malformed_go_mod() {
    let ws = Ws::new(CONFIG);
    std::fs::write(
        ws.path().join("svc/go.mod"),
        "module svc\n\ngo one.twenty\n",
    )
    .unwrap();
    let (code, _, err) = ws.run(true, &["go-version", "svc"]);
    assert_eq!(code, 1);
    let gomod = ws.path().join("svc/go.mod");
    assert_eq!(
        error_line(&err),
        format!(
            "error: {}:3: `go one.twenty` is not a valid go directive: write e.g. `go 1.21`",
            gomod.display()
        )
    );
}

#[test]
fn broken_yaml_names_file_line_and_column() {
    let ws = Ws::new("apps:\n  svc:\n    context: svc\n   tag: [1\n");
    let (code, _, err) = ws.run(true, &["image", "svc", "--dry-run"]);
    assert_eq!(code, 1);
    let line = error_line(&err);
    let prefix = format!("error: {}:4:", ws.path().join("goapp.yaml").display());
    assert!(line.starts_with(&prefix), "{line}");
    let ws = Ws::new("apps:\n  svc:\n    contxt: svc\n");
    let (_, _, err) = ws.run(true, &["image", "svc", "--dry-run"]);
    assert!(error_line(&err).ends_with(":3:5: apps.svc: unknown field `contxt`, expected one of `context`, `containerfile`, `proxy_containerfile`, `repository`, `tag`, `main_package`, `arch`, `goprivate`, `go_version`, `build_args`, `cross_compile`, `allow_unstartable`"), "{err}");
}

#[test]
fn no_engine_installed() {
    let ws = Ws::new(CONFIG);
    let (code, _, err) = ws.run(
        false,
        &["image", "svc", "--go-version", "1.21.5", "--dry-run"],
    );
    assert_eq!(code, 1);
    assert_eq!(error_line(&err), "error: no container engine found on PATH: install podman (apt-get install podman) or docker");
    let (_, _, err) = ws.run(
        false,
        &[
            "image",
            "svc",
            "--engine",
            "docker",
            "--go-version",
            "1.21.5",
        ],
    );
    assert_eq!(
        error_line(&err),
        "error: docker is not installed: install it (apt-get install docker.io) or use podman"
    );
}

#[test]
fn unknown_app_and_bad_tag() {
    let ws = Ws::new(CONFIG);
    let (code, _, err) = ws.run(true, &["image", "svx"]);
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        format!(
            "error: no app named 'svx' in {}: known apps are svc",
            ws.path().join("goapp.yaml").display()
        )
    );
    let (code, _, err) = ws.run(
        true,
        &["image", "svc", "--tag", "svc", "--go-version", "1.21.5"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        "error: --tag 'svc' has no tag: write REPO:TAG, e.g. joke:0.0.3 or joke:0.1.0-{git}"
    );
    let (code, _, err) = ws.run(true, &["image", "svc", "--tag", "svc:1-{branch}"]);
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        "error: '1-{branch}': unknown placeholder '{branch}': use {git}, {git:N}, {inputs} or {inputs:N}"
    );
    let (code, _, err) = ws.run(true, &["image", "svc", "--build-arg", "VERSION"]);
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        "error: --build-arg 'VERSION' has no value: write K=V, e.g. --build-arg VERSION=1.2"
    );
    let (code, _, err) = ws.run(
        true,
        &[
            "image",
            "svc",
            "--tag",
            "svc:1",
            "--build-arg",
            "MAIN_PKG_PATH=./x",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        "error: --build-arg MAIN_PKG_PATH: build arg MAIN_PKG_PATH is set by goapp-build: set the environment variable instead (`MAIN_PKG_PATH=./cmd/api` before the command), or `main_package:` in the config"
    );
    let (code, _, err) = ws.run(true, &["image", "svc", "--engine", "buildah"]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(
        err.contains("unknown engine 'buildah': use podman or docker"),
        "{err}"
    );
}

#[test]
fn outside_any_app_the_current_directory_needs_a_tag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Containerfile"), "FROM scratch\n").unwrap();
    let ws = Ws { dir };
    let (code, _, err) = ws.run(
        true,
        &[
            "image",
            "--go-version",
            "1.21.5",
            "--arch",
            "amd64",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        error_line(&err).contains(": pass --tag REPO:TAG (e.g. --tag "),
        "{err}"
    );
    let (code, out, err) = ws.run(
        true,
        &[
            "image",
            "--go-version",
            "1.21.5",
            "--arch",
            "arm64",
            "--dry-run",
            "--tag",
            "joke:0.0.3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim_end().ends_with(&format!(
            "-t joke:0.0.3-arm64 -f {0}/Containerfile {0}",
            ws.path().display()
        )),
        "{out}"
    );
}

/// The stand-in podman is never run by `--dry-run`; the output is the exact
/// command line, with the proxy password redacted.
#[test]
fn dry_run_golden_with_proxy() {
    let ws = Ws::new(CONFIG);
    // The secrets it mounts are worth a warning when missing (it has
    // modules to fetch); others are not.
    std::fs::write(
        ws.path().join("svc/Containerfile"),
        "FROM scratch\nRUN --mount=type=secret,id=goenv,target=/g --mount=type=secret,id=netrc,target=/n true\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join("svc/go.mod"),
        "module svc\n\ngo 1.21\n\nrequire corp.example/lib v1.0.0\n",
    )
    .unwrap();
    let bin = path_dir(ws.path(), true);
    let out = Command::new(BIN)
        .args([
            "image",
            "svc",
            "--dry-run",
            "--arch",
            "amd64",
            "--go-version",
            "1.21.5",
        ])
        .current_dir(ws.path())
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", ws.path())
        .env("HTTPS_PROXY", "http://me:t0ps3cret@proxy:8080")
        .env("GOAPP_CACHE_DIR", ws.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let svc = ws.path().join("svc");
    // The inputs hash is tested in the library; here it must be 64 hex digits.
    let at = stdout
        .find("--label dev.goapp.inputs=")
        .expect("the inputs label")
        + 25;
    assert!(
        stdout[at..at + 64].chars().all(|c| c.is_ascii_hexdigit()),
        "{stdout}"
    );
    let stdout = format!("{}HASH{}", &stdout[..at], &stdout[at + 64..]);
    // The mark naming this run (its pid and a count) is part of the plan.
    let mark = stdout
        .find("--add-host goapp-run-")
        .expect("the run's mark")
        + 11;
    let end = at_char(&stdout, mark, ':');
    let stdout = format!("{}MARK{}", &stdout[..mark], &stdout[end..]);
    assert_eq!(
        stdout.trim_end(),
        format!(
            "HTTP_PROXY='' HTTPS_PROXY='http://***@proxy:8080' NO_PROXY='' http_proxy='' https_proxy='http://***@proxy:8080' no_proxy='' \
podman build --platform linux/amd64 --build-arg TAG_GOVER=1.21.5 --build-arg MAIN_PKG_PATH=./ --build-arg GOPRIVATE= --build-arg BUILDPLATFORM=linux/amd64 \
--build-arg HTTP_PROXY --build-arg HTTPS_PROXY --build-arg NO_PROXY --build-arg http_proxy --build-arg https_proxy --build-arg no_proxy \
--secret id=certs,src=/etc/ssl/certs/ca-certificates.crt --add-host MARK:127.0.0.1 --label dev.goapp.inputs=HASH -t svc:1.0.0-amd64 -f {0}/Containerfile {0}",
            svc.display()
        )
    );
    assert!(!stdout.contains("t0ps3cret") && !stderr.contains("t0ps3cret"));
    assert!(
        stderr.contains("warning: svc: secret 'goenv' not wired"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: svc: secret 'netrc' not wired"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("certs") && !stderr.contains("ssh agent"),
        "{stderr}"
    );
    assert!(!ws.path().join("cache/logs").exists());
}

/// Runs the CLI with extra environment variables, killing it (and failing)
/// if it has not ended within 20 s: a regression that blocks on a FIFO must
/// fail the suite, not hang it.
fn run_bounded(ws: &Ws, args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let bin = path_dir(ws.path(), true);
    let (out, err) = (ws.path().join("stdout.txt"), ws.path().join("stderr.txt"));
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ws.path())
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", ws.path())
        .env("GOAPP_CACHE_DIR", ws.path().join("cache"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`xtask {}` hung (killed after 20 s)", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out).unwrap(),
        stderr,
    )
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

fn fifo_refusal(what: &str, path: &Path) -> String {
    format!(
        "{what} {} is a named pipe (FIFO), not a regular file: point it at a regular file",
        path.display()
    )
}

#[test]
fn a_fifo_as_config_is_refused_at_once() {
    let ws = Ws::new(CONFIG);
    let fifo = ws.path().join("fifo.yaml");
    mkfifo(&fifo);
    let expected = format!("error: {}", fifo_refusal("the config", &fifo));
    let flag = fifo.to_str().unwrap();
    let (code, _, err) = run_bounded(&ws, &["go-version", "svc", "--config", flag], &[]);
    assert_eq!((code, error_line(&err)), (1, expected.as_str()));
    let (code, _, err) = run_bounded(&ws, &["go-version", "svc"], &[("GOAPP_CONFIG", &fifo)]);
    assert_eq!((code, error_line(&err)), (1, expected.as_str()));
    // Found by walking up: refused too, not skipped for another config.
    let goapp = ws.path().join("goapp.yaml");
    mkfifo(&goapp);
    let (code, _, err) = run_bounded(&ws, &["go-version", "svc"], &[]);
    let expected = format!("error: {}", fifo_refusal("the config", &goapp));
    assert_eq!((code, error_line(&err)), (1, expected.as_str()));
}

#[test]
fn fifos_in_an_app_are_refused_at_once() {
    let ws = Ws::new(CONFIG);
    let svc = ws.path().join("svc");
    let dry_run = [
        "image",
        "svc",
        "--dry-run",
        "--arch",
        "amd64",
        "--go-version",
        "1.21.5",
    ];
    for (name, what) in [
        (".containerignore", ".containerignore"),
        (".dockerignore", ".dockerignore"),
        ("Containerfile", "the Containerfile"),
    ] {
        let fifo = svc.join(name);
        mkfifo(&fifo);
        let (code, _, err) = run_bounded(&ws, &dry_run, &[]);
        let expected = format!("error: {}", fifo_refusal(what, &fifo));
        assert_eq!((code, error_line(&err)), (1, expected.as_str()), "{name}");
        std::fs::remove_file(&fifo).unwrap();
    }
    mkfifo(&svc.join("Containerfile"));
    let (code, _, err) = run_bounded(&ws, &["lint", "--arch", "amd64"], &[]);
    let expected = format!(
        "error: {}",
        fifo_refusal("the Containerfile", &svc.join("Containerfile"))
    );
    assert_eq!((code, error_line(&err)), (1, expected.as_str()), "lint");
    std::fs::remove_file(svc.join("Containerfile")).unwrap();
    std::fs::write(svc.join("Containerfile"), "FROM scratch\n").unwrap();
    for (name, what) in [("ver", "the `ver` file"), ("go.mod", "go.mod")] {
        let fifo = svc.join(name);
        mkfifo(&fifo);
        let (code, _, err) = run_bounded(&ws, &["go-version", "svc"], &[]);
        let expected = format!("error: {}", fifo_refusal(what, &fifo));
        assert_eq!((code, error_line(&err)), (1, expected.as_str()), "{name}");
        std::fs::remove_file(&fifo).unwrap();
    }
}

#[test]
fn config_errors_name_file_line_column_and_key_path() {
    let cases = [
        (
            "apps:\n  svc: {context: svc}\nhosts:\n  pi1: {ssh: pi1}\n  pi2:\n    host: 10.0.0.2\n    port: 70000\n",
            "7:11: hosts.pi2.port: 70000 is out of range: a TCP port is a whole number from 1 to 65535",
        ),
        (
            "apps:\n  svc: {context: svc}\n  svc: {context: svc2}\n",
            "3:3: apps.svc: duplicate key: `svc` is already set in `apps`; keep one",
        ),
        (
            "apps:\n  svc: {context: svc}\nhosts:\n  pi: {ssh: pi, host: 10.0.0.2}\n",
            "4:17: hosts.pi.host: host 'pi' sets both `ssh:` and `host:`: `ssh:` is the whole destination (an ~/.ssh/config alias or user@host); keep one",
        ),
        (
            "apps:\n  svc:\n    context: srv\n",
            "3:14: apps.svc.context: the context directory {DIR}/srv does not exist: create it, or fix `context:` (relative to the config's directory)",
        ),
        (
            "apps:\n  svc: {context: svc}\nhosts:\n  pi: {ssh: pi}\ngroups:\n  pis:\n    - pi\n    - pi2\n",
            "8:7: groups.pis[1]: group 'pis' names 'pi2', which is not a host under `hosts:`",
        ),
        (
            "apps:\n  svc: {context: svc}\nhosts:\n  pi: {ssh: pi, compression: gzip-10}\n",
            "4:30: hosts.pi.compression: 'gzip-10' is not a compression: use auto, none, gzip, gzip-1 … gzip-9, zstd or zstd-1 … zstd-19",
        ),
        (
            "apps:\n  svc: {context: svc, go_version: '1.x'}\n",
            "2:35: apps.svc.go_version: '1.x' is not a Go version: write e.g. 1.25.4, or 1.25 for its newest patch",
        ),
    ];
    for (config, expected) in cases {
        let ws = Ws::new(config);
        let (code, _, err) = ws.run(true, &["go-version", "svc", "--go-version", "1.21.5"]);
        let file = ws.path().join("goapp.yaml");
        let expected = expected.replace("{DIR}", &ws.path().display().to_string());
        assert_eq!(
            (code, error_line(&err).to_string()),
            (1, format!("error: {}:{expected}", file.display())),
            "{config}"
        );
    }
}

/// Two runs of the same app at once each write their own log, the
/// "log: PATH" line names the file holding that run's output, and a symlink
/// planted where logs go is never written through. The engine is a stand-in
/// (what is tested is our log handling, not a build); the real-engine test
/// in tests/image.rs reads a real build's log.
#[test]
fn concurrent_runs_keep_separate_logs_and_never_follow_a_link() {
    let ws = Ws::new(CONFIG);
    let bin = path_dir(ws.path(), false);
    let podman = bin.join("podman");
    let sleep = which("sleep").unwrap();
    std::fs::write(
        &podman,
        format!("#!/bin/sh\ncase \"$*\" in\n  *version*) echo 'podman version 4.3.1' ;;\n  image\\ inspect*) exit 1 ;;\n  build*) echo \"output of run $RUN_MARK\"; {} 1; echo \"end of run $RUN_MARK\" ;;\nesac\nexit 0\n", sleep.display()),
    )
    .unwrap();
    std::fs::set_permissions(&podman, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let logs = ws.path().join("cache/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let victim = ws.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, logs.join("svc-amd64.log")).unwrap();
    let spawn = |mark: &str| {
        Command::new(BIN)
            .args(["image", "svc", "--arch", "amd64", "--go-version", "1.21.5"])
            .current_dir(ws.path())
            .env_clear()
            .env("PATH", &bin)
            .env("HOME", ws.path())
            .env("GOAPP_CACHE_DIR", ws.path().join("cache"))
            .env("RUN_MARK", mark)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs = [("a", spawn("a")), ("b", spawn("b"))];
    for (mark, child) in runs {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let log = stderr
            .lines()
            .find_map(|l| l.split_once("started, log: ").map(|(_, p)| p))
            .unwrap_or_else(|| panic!("no log line in {stderr}"));
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            text.contains(&format!("output of run {mark}\nend of run {mark}\n")),
            "{text}"
        );
        let other = if mark == "a" { "b" } else { "a" };
        assert!(!text.contains(&format!("run {other}")), "{text}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let per_run = std::fs::read_dir(&logs)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.starts_with("svc-amd64-") && n.ends_with(".log")
        })
        .count();
    assert_eq!(per_run, 2);
    assert!(std::fs::symlink_metadata(logs.join("svc-amd64.log"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// `ship --dry-run` with a host that cannot be reached says why, on stdout
/// with the plan and in the error itself (stdout may be going to a file),
/// and exits 1. Port 1 on loopback refuses at once: no sshd is needed.
#[test]
fn ship_dry_run_says_why_a_host_failed() {
    let ws = Ws::new(&format!(
        "{CONFIG}hosts:\n  dead: {{host: 127.0.0.1, port: 1, arch: amd64, connect_timeout: 5}}\n"
    ));
    let bin = path_dir(ws.path(), true);
    let ssh = which("ssh").expect("ssh is installed by scripts/setup.sh");
    let _ = std::os::unix::fs::symlink(ssh, bin.join("ssh"));
    let args = [
        "ship",
        "svc",
        "--host",
        "dead",
        "--dry-run",
        "--go-version",
        "1.21.5",
    ];
    let (code, out, err) = run_bounded(&ws, &args, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    // Short: where, what failed, the fix; not ssh's 1000-character command.
    let failed = out
        .lines()
        .find(|l| l.starts_with("# dead: FAILED: "))
        .unwrap_or_else(|| panic!("{out}"));
    let user = failed
        .split("over ssh (")
        .nth(1)
        .and_then(|r| r.split('@').next())
        .unwrap_or_else(|| panic!("{failed}"));
    assert_eq!(
        failed,
        format!("# dead: FAILED: cannot reach dead over ssh ({user}@127.0.0.1 port 1): ssh: connect to host 127.0.0.1 port 1: Connection refused — fix: start sshd on 127.0.0.1, or set `port:` for dead to the port it listens on")
    );
    assert!(!out.contains("BatchMode"), "{out}");
    assert_eq!(
        error_line(&err),
        format!(
            "error: shipping failed on 1 of 1 host(s): dead: {}",
            &failed[16..]
        )
    );
    // -v: the whole command as well.
    let verbose: Vec<&str> = args.iter().copied().chain(["-v"]).collect();
    let (code, out, err) = run_bounded(&ws, &verbose, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains(failed), "{out}");
    assert!(
        out.contains("-o BatchMode=yes") && out.contains("(exit status: 255)"),
        "{out}"
    );
    // A named ssh config that is not there: one sentence, before any host.
    let ws = Ws::new(&format!(
        "defaults:\n  ssh_config: ./nope/ssh_config\n{CONFIG}hosts:\n  dead: {{host: 127.0.0.1, port: 1, arch: amd64}}\n"
    ));
    let (code, out, err) = run_bounded(&ws, &args, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        error_line(&err).starts_with("error: the ssh config file ")
            && err.contains("nope/ssh_config (`ssh_config:` in ")
            && err.contains("does not exist: create it, or remove `ssh_config:` to use ssh's own"),
        "{err}"
    );
}

/// A monorepo: two services under `services/`, the config at the root with
/// `arch: amd64` written as a scalar.
fn monorepo(extra: &str) -> Ws {
    let ws = Ws::new(&format!(
        "defaults:\n  arch: amd64\n{extra}apps:\n  api:\n    context: services/api\n    tag: '1'\n  worker:\n    context: services/worker\n    tag: '1'\n"
    ));
    for svc in ["api", "worker"] {
        let dir = ws.path().join("services").join(svc).join("internal");
        std::fs::create_dir_all(&dir).unwrap();
        let app = dir.parent().unwrap();
        std::fs::write(app.join("go.mod"), format!("module {svc}\n\ngo 1.21\n")).unwrap();
        std::fs::write(app.join("Containerfile"), "FROM scratch\n").unwrap();
    }
    ws
}

impl Ws {
    /// Runs in `sub` (relative to the workspace).
    fn run_in(&self, sub: &str, args: &[&str]) -> (i32, String, String) {
        let bin = path_dir(self.path(), true);
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.path().join(sub))
            .env_clear()
            .env("PATH", &bin)
            .env("HOME", self.path())
            .env("GOAPP_CACHE_DIR", self.path().join("cache"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        )
    }
}

/// The images a `--dry-run` would build, from its command lines.
fn planned_images(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split(" -t ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn at_a_monorepo_root_every_app_is_built_and_inside_one_only_it() {
    let ws = monorepo("");
    let dry = ["image", "--dry-run", "--go-version", "1.21.5"];
    let (code, out, err) = ws.run_in(".", &dry);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned_images(&out), ["api:1-amd64", "worker:1-amd64"]);
    // Nothing is mounted, so nothing is missing: not a word on stderr.
    assert_eq!(err, "");
    // Both mount a missing goenv and an ssh agent, but require no module
    // (stdlib only): nothing to fetch, nothing to say.
    for svc in ["api", "worker"] {
        std::fs::write(
            ws.path().join("services").join(svc).join("Containerfile"),
            "FROM scratch\nRUN --mount=type=secret,id=goenv,target=/g --mount=type=ssh true\n",
        )
        .unwrap();
    }
    let (code, _, err) = ws.run_in(".", &dry);
    assert_eq!((code, err.as_str()), (0, ""));
    // With modules to fetch: one line each, naming both.
    for svc in ["api", "worker"] {
        std::fs::write(
            ws.path().join("services").join(svc).join("go.mod"),
            format!("module {svc}\n\ngo 1.21\n\nrequire (\n\tcorp.example/lib v1.0.0\n)\n"),
        )
        .unwrap();
    }
    let (_, _, err) = ws.run_in(".", &dry);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings[0].starts_with("goapp: warning: api, worker: secret 'goenv' not wired: "),
        "{err}"
    );
    assert!(
        warnings[1].starts_with("goapp: warning: api, worker: no ssh agent"),
        "{err}"
    );
    // GOENV=/dev/null says "no file" on purpose: no warning for it.
    let bin = path_dir(ws.path(), true);
    let out = Command::new(BIN)
        .args(dry)
        .current_dir(ws.path())
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", ws.path())
        .env("GOENV", "/dev/null")
        .env("GOAPP_CACHE_DIR", ws.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("goenv"), "{err}");
    // Deep inside a service: that service only.
    let (code, out, err) = ws.run_in("services/api/internal", &dry);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned_images(&out), ["api:1-amd64"]);
    // --all from anywhere; an app name and --all do not go together.
    let (code, out, err) = ws.run_in("services/worker", &[&dry[..], &["--all"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned_images(&out), ["api:1-amd64", "worker:1-amd64"]);
    let (code, _, err) = ws.run_in(".", &[&dry[..], &["--all", "api"]].concat());
    assert_eq!(code, 2, "{err}");
    // go-version: one line per app at the root, the bare version in one.
    let (code, out, err) = ws.run_in(".", &["go-version", "--go-version", "1.21.5"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "api 1.21.5\nworker 1.21.5\n"),
        "{err}"
    );
    let (_, out, _) = ws.run_in("services/api", &["go-version", "--go-version", "1.21.5"]);
    assert_eq!(out, "1.21.5\n");
    // -v says which config is in force, and why.
    let (_, _, err) = ws.run_in("services/api", &[&dry[..], &["-v"]].concat());
    let config = ws.path().join("goapp.yaml");
    let cwd = ws.path().join("services/api");
    assert!(
        err.lines().any(|l| l
            == format!(
                "goapp: config: {} (the nearest to {})",
                config.display(),
                cwd.display()
            )),
        "{err}"
    );
}

#[test]
fn a_config_with_apps_never_invents_one_from_a_directory() {
    let ws = monorepo("  default_apps: none\n");
    let dry = ["image", "--dry-run", "--go-version", "1.21.5"];
    let (code, _, err) = ws.run_in(".", &dry);
    assert_eq!(code, 1);
    assert_eq!(
        error_line(&err),
        format!("error: no app named, and {} says `default_apps: none`: name one of api, worker (`cargo xtask image api`, `make image APP=api`), or all of them with --all", ws.path().join("goapp.yaml").display())
    );
    // Every task's hint names that task, as run.
    let (code, _, err) = ws.run_in(".", &["go-version", "--go-version", "1.21.5"]);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).contains(
            "name one of api, worker (`cargo xtask go-version api`, `make go-version APP=api`)"
        ),
        "{err}"
    );
    let cfg = ws.path().join("goapp.yaml");
    let yaml = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{yaml}hosts:\n  pi: {{host: 127.0.0.1, port: 1}}\ngroups:\n  pis: [pi]\n"),
    )
    .unwrap();
    let bin = path_dir(ws.path(), true);
    let _ = std::os::unix::fs::symlink(which("ssh").unwrap(), bin.join("ssh"));
    let (code, _, err) = ws.run_in(".", &["ship", "--host", "pis", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(
        error_line(&err)
            .contains("(`cargo xtask ship --host pis api`, `make ship HOST=pis APP=api`)"),
        "{err}"
    );
    let (code, out, err) = ws.run_in(".", &[&dry[..], &["--all"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned_images(&out), ["api:1-amd64", "worker:1-amd64"]);
    // A service that is not in the config yet: said, not guessed.
    let new = ws.path().join("services/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("Containerfile"), "FROM scratch\n").unwrap();
    let (code, _, err) = ws.run_in("services/new", &dry);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).starts_with(&format!(
            "error: {} has a Containerfile but is not an app in {}: add it under `apps:`",
            new.display(),
            ws.path().join("goapp.yaml").display()
        )),
        "{err}"
    );
    // Named on the command line, its image is built as it is (as build.sh did).
    let (code, out, err) = ws.run_in("services/new", &[&dry[..], &["--tag", "new:2"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned_images(&out), ["new:2-amd64"]);
    // default_apps names apps, checked at load.
    let ws = monorepo("  default_apps: [api, nope]\n");
    let (code, _, err) = ws.run_in(".", &dry);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).ends_with(":3:23: defaults.default_apps[1]: 'nope' is not an app under `apps:` (known: api, worker); or write `all` or `none`"),
        "{err}"
    );
    let ws = monorepo("  default_apps: worker\n");
    let (_, out, err) = ws.run_in(".", &dry);
    assert_eq!(planned_images(&out), ["worker:1-amd64"], "{err}");
}

/// Completions for the three shells people use; bash's is checked by bash.
#[test]
fn completions_for_bash_zsh_and_fish() {
    let ws = Ws::new(CONFIG);
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = ws.run(false, &["completions", shell]);
        assert_eq!(code, 0, "{err}");
        let (all, json) = if shell == "fish" {
            ("-l all", "-l json")
        } else {
            ("--all", "--json")
        };
        for word in ["image", "ship", "go-version", all, json] {
            assert!(out.contains(word), "{shell}: no {word}:\n{out}");
        }
        if shell == "bash" {
            let script = ws.path().join("goapp.bash");
            std::fs::write(&script, &out).unwrap();
            let st = Command::new("bash")
                .arg("-n")
                .arg(&script)
                .status()
                .unwrap();
            assert!(st.success(), "bash -n refused the script");
        }
    }
    let (code, _, err) = ws.run(false, &["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

/// `init` at a repository's root: each go.mod with a Containerfile or
/// Dockerfile beside it is an app, the file loads, and a second init refuses.
#[test]
fn init_writes_a_config_that_the_next_command_uses() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Ws { dir };
    std::fs::create_dir(ws.path().join(".git")).unwrap();
    for (svc, file) in [("api", "Containerfile"), ("worker", "Dockerfile")] {
        let d = ws.path().join("services").join(svc);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("go.mod"), format!("module {svc}\n\ngo 1.21\n")).unwrap();
        std::fs::write(d.join(file), "FROM scratch\n").unwrap();
    }
    let (code, out, err) = ws.run_in("services/api", &["init"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "wrote {} with 2 app(s): api (services/api), worker (services/worker)",
            ws.path().join("goapp.yaml").display()
        )
    );
    let (code, out, err) = ws.run_in(
        ".",
        &[
            "image",
            "--dry-run",
            "--arch",
            "amd64",
            "--go-version",
            "1.21.5",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        planned_images(&out),
        ["api:0.1.0-amd64", "worker:0.1.0-amd64"]
    );
    assert!(out.contains("/services/worker/Dockerfile "), "{out}");
    let (code, _, err) = ws.run_in(".", &["init"]);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).contains("init never overwrites a config"),
        "{err}"
    );
}

/// `--json`: one document on stdout, whatever happens; human lines on stderr.
#[test]
fn json_is_one_document_on_stdout_even_when_it_fails() {
    let ws = monorepo("");
    let (code, out, err) = ws.run_in(".", &["go-version", "--json", "--go-version", "1.21.5"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["command"], "go-version");
    assert_eq!(v["go_versions"][1]["app"], "worker");
    assert_eq!(v["go_versions"][1]["go_version"], "1.21.5");
    let (code, out, err) = ws.run_in(
        ".",
        &["image", "--json", "--dry-run", "--go-version", "1.21.5"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["version"].as_u64(), v["ok"].as_bool()),
        (Some(1), Some(true))
    );
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["app"], "api");
    assert_eq!(images[0]["arch"], "amd64");
    assert_eq!(images[0]["reference"], "localhost/api:1-amd64");
    assert_eq!(images[0]["status"], "planned");
    assert!(
        err.contains("podman build --platform linux/amd64"),
        "the plan goes to stderr: {err}"
    );
    // A mistake before anything ran: still a document, and exit 1.
    let (code, out, err) = ws.run_in(".", &["image", "nope", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("no app named 'nope'"),
        "{out}"
    );
    assert!(error_line(&err).starts_with("error: no app named 'nope'"));
}

/// `lint` takes app names like every other task; files stay accepted (a
/// path that exists as a file or holds a '/', a directory for its
/// Containerfile).
#[test]
fn lint_takes_app_names_and_files() {
    let ws = monorepo("");
    std::fs::write(
        ws.path().join("services/worker/Containerfile"),
        "FROM golang:1.21\n",
    )
    .unwrap();
    let api = ws.path().join("services/api/Containerfile");
    let worker = ws.path().join("services/worker/Containerfile");
    let ok_line = |out: &str, f: &Path| {
        out.lines()
            .any(|l| l.starts_with(&format!("{}: ok (", f.display())))
    };
    let (code, out, err) = ws.run_in(".", &["lint", "api"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(ok_line(&out, &api), "{out}");
    assert!(!out.contains("worker"), "only api: {out}");
    let (code, out, err) = ws.run_in(".", &["lint", "worker", "--strict"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("services/worker/Containerfile:1: warning:"),
        "{out}"
    );
    // Files: a relative path, a path with a '/', a directory.
    let (code, out, err) = ws.run_in("services/api", &["lint", "Containerfile"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Containerfile: ok ("), "{out}");
    let (code, out, err) = ws.run_in(
        ".",
        &["lint", "services/api", "./services/worker/Containerfile"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        ok_line(&out, Path::new("services/api/Containerfile")),
        "{out}"
    );
    assert!(
        out.contains("./services/worker/Containerfile:1: warning:"),
        "{out}"
    );
    let _ = worker;
    // The ignore file the engine would read is checked too.
    std::fs::write(ws.path().join("services/api/.containerignore"), "bin/\n[\n").unwrap();
    let (code, out, err) = ws.run_in(".", &["lint", "api"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("services/api/.containerignore:2: error: the pattern `[` is not valid"),
        "{out}"
    );
    assert!(!ok_line(&out, &api), "{out}");
    std::fs::remove_file(ws.path().join("services/api/.containerignore")).unwrap();
    // A name that is neither says which apps there are.
    let (code, _, err) = ws.run_in(".", &["lint", "nope"]);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).starts_with("error: no app named 'nope'"),
        "{err}"
    );
}

/// The program's name follows how it was started: `goapp` installed,
/// `cargo xtask` through cargo, a launcher's `GOAPP_PROG`; usage lines,
/// `--version`, examples and hints say it. A missing `--host` does not
/// make the apps look required.
#[test]
fn the_name_follows_how_it_was_started() {
    let ws = Ws::new(CONFIG);
    let installed = ws.path().join("inst");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::copy(BIN, installed.join("goapp")).unwrap();
    let run = |bin: &Path, args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(bin)
            .args(args)
            .current_dir(ws.path())
            .env_clear()
            .env("PATH", path_dir(ws.path(), true))
            .env("HOME", ws.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let goapp = installed.join("goapp");
    assert_eq!(run(&goapp, &["--version"], &[]).1, "goapp 0.1.0\n");
    assert_eq!(
        run(Path::new(BIN), &["--version"], &[]).1,
        "cargo xtask 0.1.0\n"
    );
    // The monorepo's alias runs the binary `goapp` through cargo.
    let (_, help) = run(&goapp, &["image", "--help"], &[("CARGO", "/usr/bin/cargo")]);
    assert!(help.contains("Usage: cargo xtask image "), "{help}");
    assert!(help.contains("\n  cargo xtask image api worker"), "{help}");
    let (_, help) = run(
        &goapp,
        &["lint", "--help"],
        &[("GOAPP_PROG", "tools/goapp-build/scripts/goapp")],
    );
    assert!(
        help.contains("Usage: tools/goapp-build/scripts/goapp lint "),
        "{help}"
    );
    // Every task has examples, naming the program as started.
    for task in [
        "image",
        "ship",
        "push",
        "go-version",
        "lint",
        "doctor",
        "init",
        "completions",
    ] {
        let (code, help) = run(&goapp, &[task, "--help"], &[]);
        assert_eq!(code, 0, "{help}");
        assert!(
            help.contains(&format!("\n  goapp {task}"))
                || task == "completions" && help.contains("goapp completions bash"),
            "{task}: no example:\n{help}"
        );
        assert!(!help.contains("cargo xtask"), "{task}:\n{help}");
    }
    let (code, err) = run(&goapp, &["ship", "svc"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Usage: goapp ship --host <HOSTS> [OPTIONS] [APPS]..."),
        "{err}"
    );
    let (code, help) = run(&goapp, &["push", "--help"], &[]);
    assert_eq!(code, 0, "{help}");
    assert!(
        help.contains("Usage: goapp push --registry <REGISTRY> [OPTIONS] [APPS]..."),
        "{help}"
    );
    // Hints too.
    std::fs::write(ws.path().join("goapp.yaml"), "apps: {}\n").unwrap();
    let (_, err) = run(&goapp, &["image", "--all"], &[]);
    assert!(err.contains("(`goapp init` writes a config"), "{err}");
}

/// Bad inputs of the second pass: each one sentence naming the input and
/// the fix, the input cut short when it is long, exit 1, no panic.
#[test]
fn bad_inputs_get_one_sentence_with_the_fix() {
    let ws = Ws::new(CONFIG);
    let image = |args: &[&str]| {
        let mut all = vec![
            "image",
            "svc",
            "--go-version",
            "1.21.5",
            "--arch",
            "amd64",
            "--dry-run",
        ];
        all.extend_from_slice(args);
        let (code, _, err) = ws.run(true, &all);
        assert_eq!(code, 1, "{err}");
        error_line(&err).to_string()
    };
    let digest = format!("joke@sha256:{}", "a".repeat(64));
    assert!(image(&["--tag", &digest]).starts_with(&format!(
        "error: --tag '{digest}' names an image by its digest"
    )));
    let long = format!("{}:1", "a".repeat(300));
    let e = image(&["--tag", &long]);
    assert!(
        e.contains("is 300 characters long: an image name has at most 245 (the engine stores it as localhost/…, which counts)"),
        "{e}"
    );
    // The engine's limit counts the `localhost/` it adds (podman refused 250).
    let e = image(&["--tag", &format!("{}:1", "a".repeat(250))]);
    assert!(e.contains("is 250 characters long"), "{e}");
    // A 10 MB `tag:` in the config is not echoed back whole.
    let huge = Ws::new(&format!(
        "apps:\n  svc:\n    context: svc\n    tag: '{}'\n",
        "x!".repeat(5_000_000)
    ));
    let (code, _, err) = huge.run(
        true,
        &["image", "svc", "--go-version", "1.21.5", "--dry-run"],
    );
    assert_eq!(code, 1);
    let e = error_line(&err);
    assert!(
        e.len() < 600 && e.contains("characters)"),
        "cut short: {}",
        &e[..e.len().min(600)]
    );
    // Duplicate architectures after aliases, at their line.
    let dup = Ws::new(
        "defaults:\n  arch: [amd64, x86_64]\napps:\n  svc:\n    context: svc\n    tag: 1.0.0\n",
    );
    let (code, _, err) = dup.run(
        true,
        &["image", "svc", "--go-version", "1.21.5", "--dry-run"],
    );
    assert_eq!(code, 1);
    assert!(
        error_line(&err).contains("goapp.yaml:2:9: defaults.arch: amd64 is listed more than once"),
        "{err}"
    );
    // Hosts in forms ssh does not take.
    let hosts = Ws::new("apps:\n  svc: {context: svc, tag: '1'}\nhosts:\n  a: {host: '[::1]'}\n  b: {ssh: 'root@127.0.0.1:22'}\n");
    let (code, _, err) = hosts.run(true, &["ship", "--host", "a", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("goapp.yaml:4:") && err.contains("write `host: '::1'`"),
        "{err}"
    );
    assert!(
        err.contains("write `host: 127.0.0.1`, `user: root`, `port: 22`"),
        "{err}"
    );
    // A config with nothing in it, or an empty `apps:`.
    for (text, says) in [
        (
            "# nothing yet\n\n",
            "the config is empty (only blank lines or comments)",
        ),
        ("apps:\n", "`apps:` lists no app"),
        (
            "apps:\n  svc:\n    context: svc\n    tag: [1\n",
            "`[` is never closed: close it with `]`",
        ),
    ] {
        let w = Ws::new(text);
        let (code, _, err) = w.run(true, &["image", "--dry-run"]);
        assert_eq!(code, 1, "{text}");
        assert!(error_line(&err).contains(says), "{text}: {err}");
    }
    // A numeric variable out of range.
    let (code, _, err) = ws.run_env(&["go-version", "svc"], &[("GOAPP_GO_CACHE_TTL", "-5")]);
    assert_eq!(code, 1);
    assert!(
        error_line(&err).starts_with(
            "error: GOAPP_GO_CACHE_TTL=-5 is not a number of seconds from 0 to 31536000"
        ),
        "{err}"
    );
    // A file that is not a Containerfile.
    let passwd = Ws::new(
        "apps:\n  svc: {context: svc, tag: '1', containerfile: ../../../../../../etc/passwd}\n",
    );
    let (code, _, err) = passwd.run(
        true,
        &["image", "svc", "--go-version", "1.21.5", "--dry-run"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("is not an instruction (is this file a Containerfile?)")
            && !err.contains("ROOT:X"),
        "{err}"
    );
}

/// The index of the first `c` at or after `from`.
fn at_char(s: &str, from: usize, c: char) -> usize {
    from + s[from..].find(c).expect("the character")
}
