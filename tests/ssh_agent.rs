//! The unlock step against a real ssh-agent and a real passphrase-protected
//! key: a locked key stops the build before the engine starts (without a
//! terminal) or is unlocked through ssh-add (with one), and the build then
//! gets the agent.

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::agent::Agent;
use support::*;

/// A HOME with a passphrase-protected ~/.ssh/id_ecdsa and an app whose build
/// checks that the agent socket is mounted.
fn setup(home: &Path) -> PathBuf {
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "open sesame", "-C", "test", "-f"])
        .arg(home.join(".ssh/id_ecdsa"))
        .status()
        .unwrap();
    assert!(st.success());
    let app = home.join("svc");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("go.mod"), "module svc\n\ngo 1.19\n").unwrap();
    // Each test's image is its own: identical images built and removed by
    // concurrent tests would share layers (see buildah#5615).
    std::fs::write(app.join("nonce"), unique("n")).unwrap();
    std::fs::write(
        app.join("Containerfile"),
        format!("FROM docker.io/library/golang:{}-bookworm\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo agent-mounted\n", go_version()),
    )
    .unwrap();
    app
}

#[test]
fn a_locked_key_without_a_terminal_stops_before_the_engine() {
    require_engine("podman");
    let home = tempfile::tempdir().unwrap();
    let app = setup(home.path());
    let agent = Agent::start(home.path());
    let tag = format!("goapp-it/{}:1", unique("locked-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64")],
    };
    let mut c = xtask(&app, &home.path().join("cache"));
    c.args([
        "image",
        "--arch",
        "amd64",
        "--tag",
        &tag,
        "--allow-unstartable",
    ])
    .env("HOME", home.path())
    .env("SSH_AUTH_SOCK", &agent.sock)
    .stdin(Stdio::null());
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}");
    let key = home.path().join(".ssh/id_ecdsa");
    let expected = format!("error: the ssh key {} is not unlocked in the ssh agent: run `ssh-add {}` in a terminal, then retry", key.display(), key.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        !home.path().join("cache/logs").exists(),
        "the engine must not have started"
    );

    // Unlocked by other means (as the user would, following the message):
    // the same command now builds, with the agent mounted.
    let askpass = home.path().join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho 'open sesame'\n").unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let st = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut c = xtask(&app, &home.path().join("cache"));
    c.args([
        "image",
        "--arch",
        "amd64",
        "--tag",
        &tag,
        "--allow-unstartable",
    ])
    .env("HOME", home.path())
    .env("SSH_AUTH_SOCK", &agent.sock)
    .stdin(Stdio::null());
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stdout}\n{stderr}");
    let log = std::fs::read_to_string(home.path().join("cache/logs/svc-amd64.log")).unwrap();
    assert!(log.contains("agent-mounted"), "{log}");
}

/// On a terminal the tool runs ssh-add, which asks for the passphrase; the
/// terminal here is a real pty made by `script`, the answer typed into it.
#[test]
fn a_locked_key_on_a_terminal_is_unlocked_by_ssh_add() {
    require_engine("podman");
    let home = tempfile::tempdir().unwrap();
    let app = setup(home.path());
    let agent = Agent::start(home.path());
    let tag = format!("goapp-it/{}:1", unique("tty-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64")],
    };
    let inner = format!(
        "{} image --arch amd64 --tag {tag} --allow-unstartable",
        env!("CARGO_BIN_EXE_goapp-under-test")
    );
    let c = xtask(&app, &home.path().join("cache"));
    let mut script = Command::new("script");
    script.args(["-qec", &inner, "/dev/null"]);
    // Reuse the isolated environment of `xtask()`.
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script
        .current_dir(&app)
        .env("HOME", home.path())
        .env("SSH_AUTH_SOCK", &agent.sock);
    script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = script.spawn().expect("script (util-linux)");
    // Answer only once ssh-add asks: it flushes the terminal's pending input
    // when it turns echo off, so an early answer would be lost.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let mut told = false;
        loop {
            let n = stdout.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if !told && String::from_utf8_lossy(&seen).contains("Enter passphrase") {
                told = true;
                let _ = tx.send(());
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let asked = rx.recv_timeout(Duration::from_secs(120)).is_ok();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Give ssh-add a moment to switch the terminal to no-echo after its prompt.
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(b"open sesame\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    {
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
    }
    let text = reader.join().unwrap() + &stderr;
    assert!(asked, "ssh-add never asked for the passphrase:\n{text}");
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("is locked; unlocking it with ssh-add"),
        "{text}"
    );
    assert!(text.contains(&format!("{tag}-amd64  built in")), "{text}");
    // The key is now in the agent.
    let listed = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &agent.sock)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("test (ECDSA)"),
        "{listed:?}"
    );
}
