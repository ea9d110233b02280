//! Interrupting the tool for real: a two-architecture podman build and a
//! throttled ship to a real sshd + containerd node, stopped at several
//! moments — SIGINT to the process group (a terminal's Ctrl-C), SIGTERM to
//! the tool alone, a double Ctrl-C — and then checked: no working container
//! of this run, no process of ours, nothing in the run's private `TMPDIR`,
//! no `.part` on the node, no file anywhere we or the engine write holding
//! the proxy password. Then a rerun succeeds.
//!
//! The engine is shared with other test runs: everything is found by this
//! test's own password and paths, never by counting.

mod support;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use support::node::Node;
use support::*;

/// A build whose first `RUN` takes `PAUSE` seconds, for two architectures.
const SLOW_CONTAINERFILE: &str = "ARG TAG_GOVER=1.19.8
FROM --platform=$BUILDPLATFORM docker.io/library/golang:${TAG_GOVER}-bookworm AS build
WORKDIR /src/@UNIQUE@
COPY . .
ARG PAUSE=0
RUN sleep $PAUSE && mkdir -p /out && cp hello.txt /out/
ARG TARGETARCH
RUN echo $TARGETARCH > /out/arch
FROM scratch
COPY --from=build /out /
";

/// One test's world: its own directory, `TMPDIR`, cache, proxy password.
struct Case {
    base: tempfile::TempDir,
    password: String,
    repo: String,
}

impl Case {
    fn new(prefix: &str) -> Case {
        require_engine("podman");
        let base = tempfile::tempdir().unwrap();
        let tmp = base.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // buildah keeps cache mounts under TMPDIR: share the machine's warm one.
        std::os::unix::fs::symlink("/var/tmp/buildah-cache", tmp.join("buildah-cache")).unwrap();
        Case {
            base,
            password: unique("Pw"),
            repo: format!("goapp-it/{}", unique(prefix)),
        }
    }

    fn path(&self) -> &Path {
        self.base.path()
    }

    fn tmp(&self) -> PathBuf {
        self.path().join("tmp")
    }

    /// The tool in a process group of its own, as a shell starts a job.
    fn spawn(&self, args: &[&str]) -> Child {
        let mut c = xtask(self.path(), &self.path().join("cache"));
        c.args(args)
            .env("TMPDIR", self.tmp())
            .env(
                "HTTP_PROXY",
                format!("http://bob:{}@proxy.invalid:3128", self.password),
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(self.path().join("stderr")).unwrap())
            .process_group(0);
        c.spawn().unwrap()
    }

    fn output(&self) -> (String, String) {
        let read = |f| std::fs::read_to_string(self.path().join(f)).unwrap_or_default();
        (read("stdout"), read("stderr"))
    }

    /// Runs the tool to its end.
    fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let status = wait(&mut self.spawn(args), Duration::from_secs(600));
        let (out, err) = self.output();
        (status, out, err)
    }

    /// Every file under the dirs we and the engine write that holds the password.
    fn files_with_password(&self) -> Vec<String> {
        let mut dirs = vec![self.path().to_path_buf(), graphroot_containers()];
        dirs.extend(
            [
                "/var/tmp",
                "/run/containers",
                "/run/libpod",
                "/run/runc",
                "/run/crun",
                "/run/docker",
                "/var/lib/docker/buildkit/executor",
                "/var/lib/docker/tmp",
            ]
            .iter()
            .map(PathBuf::from)
            .filter(|d| d.exists()),
        );
        let out = Command::new("grep")
            .args([
                "-rlsF",
                "--exclude-dir=buildah-cache*",
                "--exclude=stdout",
                "--exclude=stderr",
            ])
            .arg(&self.password)
            .args(&dirs)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Asserts the clean state: no process, no working container, nothing
    /// in TMPDIR but the engine's cache directories, no password at rest.
    fn assert_clean(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut procs = processes_with(&[&self.password]);
        while !procs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            procs = processes_with(&[&self.password]);
        }
        assert!(
            procs.is_empty(),
            "processes of ours left:\n{}",
            procs.join("\n")
        );
        let left: Vec<String> = std::fs::read_dir(self.tmp())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("buildah-cache"))
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
        // docker's daemon removes a cancelled step's files a little later.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut files = self.files_with_password();
        while !files.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            files = self.files_with_password();
        }
        assert!(
            files.is_empty(),
            "the proxy password is at rest in:\n{}",
            files.join("\n")
        );
    }

    fn images(&self, program: &'static str) -> ImageGuard {
        ImageGuard {
            program,
            images: vec![
                format!("{}:1-amd64", self.repo),
                format!("{}:1-arm64", self.repo),
            ],
        }
    }
}

/// `<graphroot>/overlay-containers`: each working container's records.
fn graphroot_containers() -> PathBuf {
    let out = engine(
        "podman",
        &[
            "info",
            "--format",
            "{{.Store.GraphRoot}}/{{.Store.GraphDriverName}}-containers",
        ],
    );
    PathBuf::from(out.trim())
}

/// Processes whose command line or environment holds any of `needles`.
fn processes_with(needles: &[&str]) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let read = |f: &str| std::fs::read(e.path().join(f)).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
        // The node's own daemons are the test's, not the tool's.
        let daemon = [
            "containerd --config",
            "/usr/sbin/sshd -D",
            "sshd: /usr/sbin/sshd -D",
        ];
        if daemon.iter().any(|d| cmdline.starts_with(d)) {
            continue;
        }
        let environ = String::from_utf8_lossy(&read("environ")).into_owned();
        if needles
            .iter()
            .any(|n| cmdline.contains(n) || environ.contains(n))
        {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the tool did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `kill -SIG -- -PGID` (the terminal's way) or `kill -SIG PID`.
fn signal(sig: &str, target: String) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), "--", &target])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {target}");
}

fn group(child: &Child) -> String {
    format!("-{}", child.id())
}

/// The one line an interrupt ends with.
fn interrupt_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("goapp: interrupted") || l.starts_with("goapp: stopped at once"))
        .collect()
}

/// The slow app, for amd64 and arm64, pausing `pause` seconds in its RUN.
fn slow_app(c: &Case, pause: u32) {
    let app = c.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    // Each test's layers are its own from the first step: removing one
    // test's images never takes a layer another test's build stands on.
    let unique = c.repo.replace('/', "-");
    std::fs::write(
        app.join("Containerfile"),
        SLOW_CONTAINERFILE.replace("@UNIQUE@", &unique),
    )
    .unwrap();
    std::fs::write(app.join("hello.txt"), format!("hello {}\n", c.repo)).unwrap();
    std::fs::write(app.join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(
        c.path().join("goapp.yaml"),
        format!(
            "apps:\n  slow:\n    context: app\n    repository: {}\n    tag: '1'\n    arch: [amd64, arm64]\n    build_args: {{PAUSE: '{pause}'}}\n",
            c.repo
        ),
    )
    .unwrap();
}

/// Both architectures' builds are in their slow RUN step.
fn both_in_run(c: &Case) -> bool {
    let Ok(logs) = std::fs::read_dir(c.path().join("cache/logs")) else {
        return false;
    };
    let running = logs
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .map(|t| t.contains("RUN sleep"))
                .unwrap_or(false)
        })
        .count();
    running >= 2
}

/// Interrupts a two-architecture build in the way `how` says, checks it
/// ended at once with the right code and one line, that nothing is left,
/// and that a rerun builds.
fn interrupt_build(prefix: &str, how: &str, engine: &str) {
    let c = Case::new(prefix);
    let program = if engine == "docker" { DOCKER } else { "podman" };
    require_engine(program);
    let _images = c.images(program);
    slow_app(&c, 120);
    let gover = go_version();
    // The image holds a file only: not meant to start.
    let args = [
        "image",
        "slow",
        "--go-version",
        &gover,
        "--engine",
        engine,
        "--allow-unstartable",
    ];
    let mut tool = c.spawn(&args);
    let started = Instant::now();
    match how {
        "early-term" => wait_until("the builds start", Duration::from_secs(120), || {
            std::fs::read_dir(c.path().join("cache/logs")).is_ok_and(|d| d.count() >= 2)
        }),
        _ => wait_until("both builds reach RUN", Duration::from_secs(180), || {
            both_in_run(&c)
        }),
    }
    let signalled = Instant::now();
    match how {
        "ctrl-c" => signal("INT", group(&tool)),
        "early-term" => signal("TERM", tool.id().to_string()),
        "double" => {
            signal("INT", group(&tool));
            std::thread::sleep(Duration::from_millis(100));
            signal("INT", group(&tool));
        }
        _ => unreachable!(),
    }
    let status = wait(&mut tool, Duration::from_secs(60));
    let took = signalled.elapsed();
    let (_, stderr) = c.output();
    eprintln!(
        "{how}: ended {took:?} after the signal ({:?} after start)",
        started.elapsed()
    );
    let expected = if how == "early-term" { 143 } else { 130 };
    assert_eq!(status.code(), Some(expected), "{stderr}");
    let lines = interrupt_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(lines[0]),
        "nothing after the line"
    );
    if how == "ctrl-c" {
        assert!(lines[0].contains("while building"), "{stderr}");
    }
    if how == "ctrl-c" && engine == "podman" {
        assert!(
            lines[0].contains("working container(s) the engine left"),
            "{stderr}"
        );
    }
    if how == "double" {
        assert!(took < Duration::from_secs(2), "took {took:?}: {stderr}");
    } else {
        c.assert_clean();
    }
    slow_app(&c, 0);
    let (status, stdout, stderr) = c.run(&args);
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("built in"), "{stdout}");
    if how == "double" {
        // The run stopped at once left its things; this one removed them.
        assert!(
            stderr.contains("goapp: cleaned up after 1 interrupted run(s)"),
            "{stderr}"
        );
    }
    c.assert_clean();
}

#[test]
fn ctrl_c_to_the_group_during_a_two_arch_build_leaves_nothing() {
    interrupt_build("int-", "ctrl-c", "podman");
}

#[test]
fn sigterm_to_the_tool_alone_as_the_builds_start_leaves_nothing() {
    interrupt_build("term-", "early-term", "podman");
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_the_next_run_cleans_up() {
    interrupt_build("dbl-", "double", "podman");
}

/// docker: BuildKit cancels the build of a client that is gone and removes
/// its containers itself; the check is that nothing of ours, and no
/// password, stays behind there either.
#[test]
fn ctrl_c_during_a_two_arch_docker_build_leaves_nothing() {
    interrupt_build("dock-", "ctrl-c", "docker");
}

/// A node behind a throttled link, the app built, then `ship` interrupted
/// while the archive streams; `how` is "ctrl-c" or "term".
fn interrupt_ship(how: &str, host: &str) {
    let c = Case::new("ship-");
    let node = Node::start(c.path(), host);
    let import = if host == "ctd" {
        "containerd"
    } else {
        "podman"
    };
    std::fs::write(
        c.path().join("goapp.yaml"),
        format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  joke:\n    context: {ex}\n    repository: {repo}\n    tag: '1'\n\
             hosts:\n  {host}: {{ssh: {host}, arch: amd64, import: {import}, tmp_dir: {b}/{host}/tmp, connect_timeout: 5, compression: gzip-1}}\n",
            ex = root().join("example/joke").display(),
            repo = c.repo,
            b = c.path().display(),
        ),
    )
    .unwrap();
    let _images = c.images("podman");
    let gover = go_version();
    let (status, out, err) = c.run(&["image", "joke", "--arch", "amd64", "--go-version", &gover]);
    assert!(status.success(), "{out}\n{err}");
    node.fault("slow");
    let args = ["ship", "--host", host, "joke", "--go-version", &gover];
    // With --json, stdout still gets its one document, saying why.
    let json = how == "term";
    let extra: &[&str] = if json { &["--json"] } else { &[] };
    let mut tool = c.spawn(&[&args[..], extra].concat());
    let tmp = node.dir.join("tmp");
    wait_until("the upload is under way", Duration::from_secs(120), || {
        std::fs::read_dir(&tmp).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.metadata().map(|m| m.len() > 64 * 1024).unwrap_or(false))
        })
    });
    let signalled = Instant::now();
    match how {
        "ctrl-c" => signal("INT", group(&tool)),
        _ => signal("TERM", tool.id().to_string()),
    }
    let status = wait(&mut tool, Duration::from_secs(60));
    let took = signalled.elapsed();
    let (stdout, stderr) = c.output();
    eprintln!("ship {how}: cleaned up in {took:?}");
    assert_eq!(
        status.code(),
        Some(if how == "term" { 143 } else { 130 }),
        "{stderr}"
    );
    let lines = interrupt_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(lines[0]),
        "nothing after the line"
    );
    assert!(
        lines[0].contains(&format!("while shipping to {host}")),
        "{stderr}"
    );
    // Removed by us (said), or by the node's upload itself once its input
    // ended (the link here is fast; only the node reads slowly): never left.
    assert!(!lines[0].contains("could not reach"), "{stderr}");
    assert!(
        lines[0].contains(&format!("closed the ssh connection to {host}")),
        "{stderr}"
    );
    assert!(
        !stdout.contains("FAILED"),
        "no half-truths after the interrupt:\n{stdout}"
    );
    if json {
        assert!(stdout.trim_start().starts_with('{'), "{stdout}");
        assert!(stdout.contains("\"ok\": false"), "{stdout}");
        assert!(stdout.contains("goapp: interrupted (SIGTERM)"), "{stdout}");
    }
    assert_eq!(node.leftovers(), Vec::<String>::new(), "left on the node");
    // The node's sshd ends its sessions for us: no child of the listener stays.
    wait_until(
        "the node's ssh sessions end",
        Duration::from_secs(10),
        || {
            let out = Command::new("pgrep")
                .args(["-P", &node.sshd_pid().to_string()])
                .output()
                .unwrap();
            out.stdout.is_empty()
        },
    );
    c.assert_clean();
    let base = c.path().display().to_string();
    let procs = processes_with(&[&base]);
    assert!(
        procs.is_empty(),
        "processes of ours left:\n{}",
        procs.join("\n")
    );
    node.fault("");
    let (status, stdout, stderr) = c.run(&args);
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{host}: sent")), "{stdout}");
    assert_eq!(node.leftovers(), Vec::<String>::new());
    c.assert_clean();
}

#[test]
fn ctrl_c_during_a_throttled_ship_to_containerd_leaves_nothing() {
    interrupt_ship("ctrl-c", "ctd");
}

#[test]
fn sigterm_during_a_throttled_ship_to_podman_leaves_nothing() {
    interrupt_ship("term", "pod");
}

/// A node behind a real slow link (a 40 kB/s relay in front of its sshd):
/// the master connection has upload bytes queued ahead of anything sent
/// through it. `how`: "ctrl-c" (the partial archive is removed over a
/// connection of its own, at once) or "kill" (SIGKILL to the tool: the
/// node's upload removes its own partial archive when its input ends, and
/// the next run stops the ssh processes the killed one left).
fn interrupt_slow_link(how: &str) {
    let c = Case::new("link-");
    let node = Node::start(c.path(), "node");
    let relay = support::relay::Relay::start(node.port, 40_000);
    node.alias_via(c.path(), "slow", relay.port);
    std::fs::write(
        c.path().join("goapp.yaml"),
        format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  joke:\n    context: {ex}\n    repository: {repo}\n    tag: '1'\n\
             hosts:\n  slow: {{ssh: slow, arch: amd64, import: containerd, tmp_dir: {b}/node/tmp, connect_timeout: 5, compression: gzip-1}}\n\
             \x20 fast: {{ssh: node, arch: amd64, import: containerd, tmp_dir: {b}/node/tmp, connect_timeout: 5, compression: gzip-1}}\n",
            ex = root().join("example/joke").display(),
            repo = c.repo,
            b = c.path().display(),
        ),
    )
    .unwrap();
    let _images = c.images("podman");
    let gover = go_version();
    let (status, out, err) = c.run(&["image", "joke", "--arch", "amd64", "--go-version", &gover]);
    assert!(status.success(), "{out}\n{err}");
    let mut tool = c.spawn(&["ship", "--host", "slow", "joke", "--go-version", &gover]);
    let tmp = node.dir.join("tmp");
    wait_until("the upload is under way", Duration::from_secs(120), || {
        std::fs::read_dir(&tmp).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.metadata().map(|m| m.len() > 64 * 1024).unwrap_or(false))
        })
    });
    let signalled = Instant::now();
    if how == "kill" {
        signal("KILL", tool.id().to_string());
        let _ = wait(&mut tool, Duration::from_secs(10));
        // No one removes it for us: the node's upload does, once its input ends.
        // What the killed run had already handed its ssh processes still
        // arrives: a whole archive is kept for an import that never comes
        // (a part cut short removes itself). The next ship there removes it.
        wait_until(
            "the ssh processes have sent what they held",
            Duration::from_secs(180),
            || {
                !std::fs::read_dir(&tmp)
                    .unwrap()
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".pid"))
            },
        );
        let left = processes_with(&[&c.tmp().display().to_string()]);
        assert!(
            !left.is_empty(),
            "a killed run leaves its ssh master (the next run stops it)"
        );
        relay.set_rate(10_000_000);
        let (status, out, err) = c.run(&[
            "ship",
            "--host",
            "slow",
            "joke",
            "--go-version",
            &gover,
            "-v",
        ]);
        assert!(status.success(), "{out}\n{err}");
        assert!(
            err.contains("goapp: cleaned up after an ended run: stopped"),
            "{err}"
        );
        assert!(err.contains("removed 1 ssh socket directory"), "{err}");
        assert!(
            err.contains("removed partial archives an ended run left on slow"),
            "{err}"
        );
    } else {
        signal("INT", group(&tool));
        let status = wait(&mut tool, Duration::from_secs(60));
        let took = signalled.elapsed();
        let (_, stderr) = c.output();
        eprintln!("slow link, Ctrl-C: cleaned up in {took:?}");
        assert_eq!(status.code(), Some(130), "{stderr}");
        let lines = interrupt_lines(&stderr);
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].contains("removed the partial archive on slow"),
            "{stderr}"
        );
        assert_eq!(node.leftovers(), Vec::<String>::new(), "left on the node");
        let (status, out, err) = c.run(&["ship", "--host", "fast", "joke", "--go-version", &gover]);
        assert!(status.success(), "{out}\n{err}");
    }
    assert_eq!(node.leftovers(), Vec::<String>::new());
    let procs = processes_with(&[&c.path().display().to_string()]);
    assert!(
        procs.is_empty(),
        "processes of ours left:\n{}",
        procs.join("\n")
    );
    c.assert_clean();
}

#[test]
fn ctrl_c_over_a_slow_link_removes_the_partial_archive_at_once() {
    interrupt_slow_link("ctrl-c");
}

#[test]
fn sigkill_over_a_slow_link_leaves_nothing_the_next_run_does_not_sweep() {
    interrupt_slow_link("kill");
}
