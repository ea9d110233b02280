//! `cargo xtask doctor` on the real set-up: everything passes; then with the
//! docker daemon unreachable, arm64 emulation disabled, or the ssh agent
//! empty, each problem is named with its fix.

mod support;
use std::path::Path;
use std::process::Command;
use support::agent::Agent;
use support::node::Node;
use support::*;

/// An agent, with the HOME's ~/.ssh/id_ecdsa (no passphrase) in it if `with_key`.
fn agent_with_key(dir: &Path, with_key: bool) -> Agent {
    let agent = Agent::start(dir);
    std::fs::create_dir_all(dir.join(".ssh")).unwrap();
    let key = dir.join(".ssh/id_ecdsa");
    if !key.exists() {
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-t", "ecdsa", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap()
            .success());
    }
    if with_key {
        agent.add(&key);
    }
    agent
}

/// Re-enables the arm64 emulator even if the test fails.
struct Binfmt;
impl Drop for Binfmt {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/fs/binfmt_misc/qemu-aarch64", "1");
    }
}

fn setup(base: &Path) -> std::path::PathBuf {
    let goenv = base.join("goenv");
    std::fs::write(&goenv, "GOFLAGS=-mod=mod\n").unwrap();
    std::fs::write(
        base.join("goapp.yaml"),
        format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  joke:\n    context: {0}\n    tag: '1'\n    arch: [amd64, arm64]\n  tmpl:\n    context: {0}\n    tag: '1-{{git:8}}-{{inputs:8}}'\n    arch: [amd64]\nhosts:\n  node: {{ssh: node, arch: amd64, import: containerd, connect_timeout: 5}}\n",
            root().join("example/joke").display()
        ),
    )
    .unwrap();
    goenv
}

fn doctor(base: &Path, agent: &Agent, extra: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = xtask(base, &base.join("cache"));
    c.arg("doctor")
        .env("HOME", base)
        .env("GOENV", base.join("goenv"))
        .env("SSH_AUTH_SOCK", &agent.sock);
    for (k, v) in extra {
        c.env(k, v);
    }
    run(c)
}

#[test]
fn all_checks_pass_then_each_fault_is_named_with_its_fix() {
    require_engine("podman");
    require_engine(DOCKER);
    let t = tempfile::tempdir().unwrap();
    setup(t.path());
    let _node = Node::start(t.path(), "node");
    let agent = agent_with_key(t.path(), true);
    // Debian's docker first on PATH: the newer client here has no buildx.
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap());
    let (ok, stdout, stderr) = doctor(t.path(), &agent, &[("PATH", &path)]);
    assert!(ok, "{stdout}\n{stderr}");
    for line in stdout.lines() {
        assert!(line.starts_with("ok  "), "not passing: {line}\n{stdout}");
    }
    for check in [
        "engine: podman 4.3.1",
        "podman works",
        "docker works",
        "arch amd64: native",
        "arch arm64: runs under qemu-user-static",
        "ssh agent: 1 key(s)",
        "proxy: no proxy set",
        "secret goenv",
        "go joke: 1.19.8",
        "host node: reachable, x86_64 (amd64), `ctr` present",
        "host node joke: localhost/joke:1-amd64 is not there yet (`cargo xtask ship --host node joke` puts it there)",
    ] {
        assert!(stdout.contains(check), "missing `{check}`:\n{stdout}");
    }
    // A templated tag: rendered from the sources now, said, and looked for.
    let line = stdout.lines().find(|l| l.contains("tag tmpl:")).unwrap();
    let tag = line
        .split("` is `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        line.starts_with("ok    tag tmpl: `1-{git:8}-{inputs:8}` is `1-")
            && line.ends_with(
                "for the sources as they are now; the hosts below are checked for that image"
            ),
        "{line}"
    );
    let commit = Command::new("git")
        .args(["rev-parse", "--short=8", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    assert!(
        tag.starts_with(&format!("1-{commit}-")),
        "{tag} names the commit {commit}"
    );
    assert!(
        stdout.contains(&format!(
            "host node tmpl: localhost/tmpl:{tag}-amd64 is not there yet"
        )),
        "{stdout}"
    );

    // The docker daemon unreachable.
    let (ok, stdout, stderr) = doctor(
        t.path(),
        &agent,
        &[
            ("PATH", &path),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
    );
    assert!(!ok);
    let line = stdout.lines().find(|l| l.contains("docker works")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("fix: start the docker daemon"),
        "{line}"
    );
    assert!(
        stderr.contains("error: 1 check(s) failed; each line above says the fix"),
        "{stderr}"
    );

    // The ssh agent empty.
    std::fs::create_dir_all(t.path().join("empty/.ssh")).unwrap();
    let empty = agent_with_key(&t.path().join("empty"), false);
    let (ok, stdout, _) = doctor(t.path(), &empty, &[("PATH", &path)]);
    assert!(!ok);
    let line = stdout.lines().find(|l| l.contains("ssh agent")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("holds no keys") && line.contains("fix: ssh-add"),
        "{line}"
    );

    // arm64 emulation unregistered (re-enabled when this test ends).
    let _restore = Binfmt;
    std::fs::write("/proc/sys/fs/binfmt_misc/qemu-aarch64", "0")
        .expect("disabling qemu-aarch64 (needs root)");
    let (ok, stdout, _) = doctor(t.path(), &agent, &[("PATH", &path)]);
    assert!(!ok);
    let line = stdout.lines().find(|l| l.contains("arch arm64")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("qemu-aarch64 is not registered") && line.contains("fix: apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"), "{line}");

    // A host configured as arm64 that is an x86_64 machine: refused while
    // it has no arm64 emulator, fine (under emulation) once it has one.
    let yaml = std::fs::read_to_string(t.path().join("goapp.yaml")).unwrap();
    std::fs::write(
        t.path().join("goapp.yaml"),
        format!(
            "{yaml}  arm: {{ssh: node, arch: arm64, import: containerd, connect_timeout: 5}}\n  dead: {{host: 127.0.0.1, port: 1, import: containerd, connect_timeout: 5}}\n"
        ),
    )
    .unwrap();
    let (ok, stdout, _) = doctor(t.path(), &agent, &[("PATH", &path)]);
    assert!(!ok);
    let line = stdout.lines().find(|l| l.contains("host arm:")).unwrap();
    assert_eq!(line, "FAIL  host arm: arm is configured with `arch: arm64`, but the node reports 'x86_64' (amd64) and has no emulator for arm64 registered: images built for arm64 would not run there; fix `arch:` for arm in the config, or remove it (the node's own answer is then used)");
    // A node that cannot be reached: where, what ssh said, the fix, in
    // the words `ship` uses.
    let line = stdout.lines().find(|l| l.contains("host dead:")).unwrap();
    assert!(
        line.starts_with("FAIL  host dead: cannot reach dead over ssh (")
            && line.ends_with("@127.0.0.1 port 1): ssh: connect to host 127.0.0.1 port 1: Connection refused — fix: start sshd on 127.0.0.1, or set `port:` for dead to the port it listens on"),
        "{line}"
    );
    drop(_restore);
    let (_, stdout, _) = doctor(t.path(), &agent, &[("PATH", &path)]);
    let line = stdout.lines().find(|l| l.contains("host arm:")).unwrap();
    assert!(
        line.starts_with("ok    host arm: reachable, x86_64 (arm64, under emulation)"),
        "{line}"
    );
}
