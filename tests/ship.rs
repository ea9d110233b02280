//! `cargo xtask ship` against real nodes on loopback: a real OpenSSH server
//! (own host key, own authorized key, a free port) in front of a real
//! containerd (own root, state and socket, used through `ctr` as k3s uses it)
//! and a podman with its own storage. Faults are made at the server: its
//! session killed mid-transfer, bytes flipped in flight, a failing importer,
//! a host that never answers.

mod support;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::node::Node;
use support::*;

struct World {
    base: tempfile::TempDir,
    repo: String,
    nodes: Vec<Node>,
    guard: ImageGuard,
}

impl World {
    /// Nodes `ctd` (containerd, arm64) and `pod` (podman, amd64), plus any
    /// extra host YAML, and an app `joke` built from the example.
    fn new(extra_hosts: &str) -> World {
        require_engine("podman");
        let base = tempfile::tempdir().unwrap();
        let nodes = vec![
            Node::start(base.path(), "ctd"),
            Node::start(base.path(), "pod"),
        ];
        let repo = format!("goapp-it/{}", unique("ship-"));
        let yaml = format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  joke:\n    context: {ex}\n    repository: {repo}\n    tag: '1.0'\n\
             hosts:\n  ctd: {{ssh: ctd, arch: arm64, import: containerd, tmp_dir: {b}/ctd/tmp, connect_timeout: 5}}\n  pod: {{ssh: pod, arch: amd64, import: podman, tmp_dir: {b}/pod/tmp, connect_timeout: 5}}\n{extra_hosts}",
            ex = root().join("example/joke").display(),
            b = base.path().display(),
        );
        std::fs::write(base.path().join("goapp.yaml"), yaml).unwrap();
        let guard = ImageGuard {
            program: "podman",
            images: vec![format!("{repo}:1.0-amd64"), format!("{repo}:1.0-arm64")],
        };
        World {
            base,
            repo,
            nodes,
            guard,
        }
    }

    fn ship(&self, args: &[&str]) -> (bool, String, String) {
        let mut c = xtask(self.base.path(), &self.base.path().join("cache"));
        c.arg("ship").args(args).stdin(Stdio::null());
        run(c)
    }

    fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.alias == name).unwrap()
    }

    fn local_id(&self, arch: &str) -> String {
        let id = engine(
            "podman",
            &[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                &format!("{}:1.0-{arch}", self.repo),
            ],
        );
        format!("sha256:{}", id.trim())
    }

    /// `(config digest, platform)` of the image on the containerd node, if any.
    fn containerd_image(&self) -> Option<(String, String)> {
        let reference = format!("localhost/{}:1.0-arm64", self.repo);
        let (ok, out) = self.node("ctd").ssh(
            self.base.path(),
            &format!("ctr -n k8s.io images ls name=={reference}"),
        );
        assert!(ok, "{out}");
        let line = out.lines().nth(1)?;
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (_, manifest) = self.node("ctd").ssh(
            self.base.path(),
            &format!("ctr -n k8s.io content get {}", cols[2]),
        );
        let id = goapp_build_id(&manifest);
        Some((id, cols[5].to_string()))
    }
}

fn goapp_build_id(manifest: &str) -> String {
    let at = manifest.find("\"config\"").expect("a manifest");
    let d = manifest[at..].find("sha256:").unwrap() + at;
    manifest[d..d + 71].to_string()
}

#[test]
fn ships_the_right_arch_to_containerd_and_podman_then_skips() {
    let w = World::new("");
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd,pod", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ctd: sent localhost/{}:1.0-arm64", w.repo)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("pod: sent localhost/{}:1.0-amd64", w.repo)),
        "{stdout}"
    );
    assert!(stdout.contains("verified and imported"), "{stdout}");
    assert!(
        stdout.contains(&format!("also named localhost/{}:1.0, pinned", w.repo)),
        "{stdout}"
    );

    // containerd node: REPO:TAG and REPO:TAG-arm64 name the same manifest, pinned.
    let listed = w.node("ctd").containerd_images(w.base.path());
    let find = |n: &str| {
        listed
            .iter()
            .find(|(name, _, _)| name == n)
            .unwrap_or_else(|| panic!("{n} not on the node: {listed:?}"))
    };
    let arch_image = find(&format!("localhost/{}:1.0-arm64", w.repo));
    let one_name = find(&format!("localhost/{}:1.0", w.repo));
    assert_eq!(arch_image.1, one_name.1, "the same target");
    for (n, _, labels) in [arch_image, one_name] {
        assert!(
            labels.contains("io.cri-containerd.pinned=pinned"),
            "{n}: {labels}"
        );
    }

    // containerd node: listed with the same id and arch, and it runs (arm64 under qemu).
    let (id, platform) = w
        .containerd_image()
        .expect("the image on the containerd node");
    assert_eq!(id, w.local_id("arm64"));
    assert_eq!(platform, "linux/arm64");
    let reference = format!("localhost/{}:1.0-arm64", w.repo);
    let (ok, out) = w.node("ctd").ssh(
        w.base.path(),
        &format!(
            "ctr -n k8s.io run --rm --platform linux/arm64 {reference} t-{}",
            std::process::id()
        ),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "Why do Go programmers like containers? Because they ship statically. (linux/arm64)"
        ),
        "{out}"
    );

    // podman node: same id and arch, and it runs.
    let reference = format!("localhost/{}:1.0-amd64", w.repo);
    let (ok, out) = w.node("pod").ssh(
        w.base.path(),
        &format!("podman image inspect --format '{{{{.Id}}}} {{{{.Architecture}}}}' {reference}"),
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        format!(
            "{} amd64",
            w.local_id("amd64").trim_start_matches("sha256:")
        )
    );
    let (ok, out) = w
        .node("pod")
        .ssh(w.base.path(), &format!("podman run --rm {reference}"));
    assert!(ok && out.contains("(linux/amd64)"), "{out}");
    let (ok, out) = w.node("pod").ssh(
        w.base.path(),
        &format!(
            "podman image inspect --format '{{{{.Id}}}}' localhost/{}:1.0",
            w.repo
        ),
    );
    assert!(ok, "{out}");
    assert_eq!(
        format!("sha256:{}", out.trim()),
        w.local_id("amd64"),
        "REPO:TAG on the podman node"
    );
    for n in &w.nodes {
        assert_eq!(
            n.leftovers(),
            Vec::<String>::new(),
            "temporary files left on {}",
            n.alias
        );
    }

    // Second call: nothing sent, and it says so.
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd,pod", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("up to date"), "{stdout}");
    assert!(
        stdout.contains("ctd: localhost/") && stdout.contains("pod: localhost/"),
        "{stdout}"
    );
    assert!(stdout.contains("is already there (same id "), "{stdout}");
    assert!(stdout.contains("nothing sent"), "{stdout}");
    for host in ["ctd:", "pod:"] {
        let said = stdout.lines().filter(|l| l.starts_with(host)).count();
        assert_eq!(said, 1, "one line per node, no repeats:\n{stdout}");
    }
    assert!(!stdout.contains(": sent "), "{stdout}");

    // --json of a skip: the names the node holds, pinned where the store pins.
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd,pod", "joke", "--json"]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    for (host, arch, pinned) in [("ctd", "arm64", true), ("pod", "amd64", false)] {
        let h = v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == host)
            .unwrap_or_else(|| panic!("{host} in {stdout}"));
        assert_eq!(h["status"], "skipped", "{stdout}");
        let names: Vec<&str> = h["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let (one, own) = (
            format!("localhost/{}:1.0", w.repo),
            format!("localhost/{}:1.0-{arch}", w.repo),
        );
        assert_eq!(names, [own.as_str(), one.as_str()], "{stdout}");
        assert_eq!(h["pinned"], pinned, "{stdout}");
    }

    // --dry-run probes but changes nothing; --force sends anyway.
    let (ok, stdout, _) = w.ship(&["--host", "pod", "joke", "--dry-run", "--force"]);
    assert!(ok);
    assert!(
        stdout.contains("podman save --format docker-archive")
            && stdout.contains("| gzip -c -6 | ssh ")
            || stdout.contains("| zstd "),
        "{stdout}"
    );
    let (ok, stdout, stderr) = w.ship(&["--host", "pod", "joke", "--force"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("pod: sent"), "{stdout}");
    drop(w.guard);
}

/// On a terminal (a real pty made by `script`): each node's line shows
/// bytes of the total, the percentage, rate and time left, then its phase;
/// it says "done" when that node is, not when the slowest is; then one
/// summary line per node.
#[test]
fn ship_progress_on_a_terminal_then_one_summary_line_per_node() {
    let w = World::new("");
    // Build first: this is about the transfer.
    let (ok, _, stderr) = w.ship(&["--host", "pod", "joke"]);
    assert!(ok, "{stderr}");
    w.node("pod").ssh(
        w.base.path(),
        &format!(
            "podman rmi -f localhost/{0}:1.0-amd64 localhost/{0}:1.0",
            w.repo
        ),
    );
    w.node("ctd").fault("slow");
    let c = xtask(w.base.path(), &w.base.path().join("cache"));
    let inner = format!(
        "{} ship --host ctd,pod joke",
        env!("CARGO_BIN_EXE_goapp-under-test")
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(w.base.path());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script.env("TERM", "xterm").stdin(Stdio::null());
    let out = script.output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    for word in [
        "%",
        "ETA",
        "MiB",
        "importing",
        "ctd: done in",
        "pod: done in",
    ] {
        assert!(
            screen.contains(word),
            "no {word:?} on the terminal:\n{screen}"
        );
    }
    // The fast node is done while the slow one still uploads.
    let pod_done = screen.find("pod: done in").unwrap();
    let ctd_done = screen.find("ctd: done in").unwrap();
    assert!(pod_done < ctd_done, "{screen}");
    for host in ["ctd", "pod"] {
        let summary = format!("{host}: sent localhost/");
        assert_eq!(screen.matches(&summary).count(), 1, "{screen}");
    }
    // The total the slow node's line ends on is what was sent (an OCI
    // archive's gzip layers: far less than the image's size in the store).
    let totals: Vec<f64> = screen
        .split("ctd\x1b[0m")
        .filter_map(|frame| mib(frame.split("/~").nth(1)?))
        .collect();
    let last = *totals.last().expect("a total on ctd's line");
    let at = screen.find("ctd: sent localhost/").unwrap();
    let sent = screen[at..].split(" (").nth(1).and_then(mib).unwrap();
    assert!(
        (last - sent).abs() <= 0.06,
        "ctd's line ended on ~{last} MiB, {sent} MiB were sent:\n{screen}"
    );
}

/// `1.78 MiB…` → 1.78, `640.00 KiB` → 0.625.
fn mib(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let n: f64 = words.next()?.parse().ok()?;
    match words.next()?.trim_end_matches(',') {
        "MiB" => Some(n),
        "KiB" => Some(n / 1024.0),
        "B" => Some(n / 1024.0 / 1024.0),
        _ => None,
    }
}

/// Tags that follow the code pile up on a node, each pinned: beyond
/// `keep_pinned` the oldest this tool pinned are unpinned (marked ones only;
/// a pin someone else set stays), so the kubelet may collect them.
#[test]
fn pins_beyond_keep_pinned_are_lifted_oldest_first() {
    let w = World::new("");
    let b = w.base.path().display().to_string();
    let yaml = std::fs::read_to_string(w.base.path().join("goapp.yaml")).unwrap();
    std::fs::write(
        w.base.path().join("goapp.yaml"),
        format!("{yaml}  two: {{ssh: ctd, arch: arm64, import: containerd, tmp_dir: {b}/ctd/tmp, connect_timeout: 5, keep_pinned: 2}}\n"),
    )
    .unwrap();
    let _guard = ImageGuard {
        program: "podman",
        images: (1..=3).map(|i| format!("{}:k{i}-arm64", w.repo)).collect(),
    };
    let node = w.node("ctd");
    // Someone's own pin on an image of the same repository: never ours to
    // lift (`ctr images tag` copies labels, our mark among them: cleared).
    let theirs = format!("localhost/{}:theirs", w.repo);
    for i in 1..=3 {
        let tag = format!("{}:k{i}", w.repo);
        let arg = format!("V={i}");
        let (ok, out, err) = w.ship(&["--host", "two", "joke", "--tag", &tag, "--build-arg", &arg]);
        assert!(ok, "{out}\n{err}");
        if i == 1 {
            let (ok, out) = node.ssh(
                w.base.path(),
                &format!("ctr -n k8s.io images tag localhost/{tag}-arm64 {theirs} && ctr -n k8s.io images label {theirs} io.cri-containerd.pinned=pinned dev.goapp.pinned="),
            );
            assert!(ok, "{out}");
        }
    }
    let listed = node.containerd_images(w.base.path());
    let labels = |name: &str| {
        listed
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, l)| l.clone())
            .unwrap_or_else(|| panic!("{name} not on the node: {listed:?}"))
    };
    for i in 1..=3 {
        for name in [
            format!("localhost/{}:k{i}-arm64", w.repo),
            format!("localhost/{}:k{i}", w.repo),
        ] {
            let l = labels(&name);
            let pinned = l.contains("io.cri-containerd.pinned=pinned");
            assert_eq!(pinned, i > 1, "{name}: {l}");
            assert_eq!(l.contains("dev.goapp.pinned="), i > 1, "{name}: {l}");
        }
    }
    assert!(labels(&theirs).contains("io.cri-containerd.pinned=pinned"));
}

#[test]
fn a_cut_connection_leaves_nothing_and_a_rerun_succeeds() {
    let w = World::new("");
    // Build first, so the cut happens during the transfer.
    let (ok, _, stderr) = w.ship(&["--host", "pod", "joke"]);
    assert!(ok, "{stderr}");
    let node = w.node("ctd");
    node.fault("slow");
    let sshd = node.sshd_pid();
    let tmp = node.dir.join("tmp");
    let killer = std::thread::spawn(move || {
        // Once the upload has started, kill the server's sessions.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let started = std::fs::read_dir(&tmp)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.metadata().map(|m| m.len() > 64 * 1024).unwrap_or(false))
                })
                .unwrap_or(false);
            if started {
                let _ = Command::new("pkill")
                    .args(["-9", "-P", &sshd.to_string()])
                    .status();
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(killer.join().unwrap(), "the upload never started");
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("ctd: FAILED: the transfer to ctd lost its ssh connection (")
            && stdout.contains("check the link to ctd and ship again")
            && !stdout.contains("BatchMode"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("shipping failed on 1 of 1 host(s)"),
        "{stderr}"
    );
    assert_eq!(w.containerd_image(), None, "nothing may be imported");
    assert_eq!(
        node.leftovers(),
        Vec::<String>::new(),
        "no temporary file may be left"
    );
    node.fault("");
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(w.containerd_image().unwrap().0, w.local_id("arm64"));
}

#[test]
fn corrupted_bytes_are_caught_before_import() {
    let w = World::new("");
    let node = w.node("ctd");
    node.fault("corrupt");
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("checksum mismatch") && stdout.contains("nothing was imported"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(w.containerd_image(), None);
    assert_eq!(node.leftovers(), Vec::<String>::new());
}

/// An importer that "succeeds" and loads nothing (the kind/k3d failure of
/// partial archives, openchoreo#984) is an error naming the node and the
/// image, never a success; the node's other images are as they were.
#[test]
fn an_import_that_loads_nothing_is_an_error() {
    let w = World::new(
        "  void: {ssh: ctd, arch: arm64, import: {command: [sh, -c, 'cat >/dev/null'], store: containerd}, connect_timeout: 5}\n",
    );
    let (ok, stdout, stderr) = w.ship(&["--host", "void", "joke"]);
    assert!(!ok, "{stdout}\n{stderr}");
    let reference = format!("localhost/{}:1.0-arm64", w.repo);
    assert!(
        stdout.contains(
            "void: FAILED: the import on void failed (exit status: 66): goapp: the import loaded nothing on "
        ) && stdout.contains(&format!("{reference} is not in its store")),
        "{stdout}\n{stderr}"
    );
    assert_eq!(w.containerd_image(), None);
}

#[test]
fn a_failing_import_shows_its_stderr_and_other_hosts_are_still_done() {
    let w = World::new(
        "  broken: {ssh: pod, arch: amd64, import: {command: [sh, -c, 'cat >/dev/null; echo import refused: disk full >&2; exit 4']}, connect_timeout: 5}\n  \
         void: {host: 127.0.0.1, port: @PORT@, arch: amd64, import: podman, connect_timeout: 2}\n",
    );
    // A port that accepts connections and never speaks: ssh must give up by itself.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cfg = w.base.path().join("goapp.yaml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("@PORT@", &port.to_string()),
    )
    .unwrap();
    let started = Instant::now();
    let (ok, stdout, stderr) = w.ship(&["--host", "broken,void,pod", "joke"]);
    let took = started.elapsed();
    drop(silent);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("broken: FAILED: the import on broken failed (exit status: 4): import refused: disk full"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("(exit status: 4)"), "{stdout}");
    let void = stdout
        .lines()
        .find(|l| l.starts_with("void: FAILED: cannot reach void over ssh ("))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        void.contains(" — fix: check that 127.0.0.1 is up") && !void.contains("BatchMode"),
        "one short sentence with the fix:\n{void}"
    );
    assert!(stdout.contains("pod: sent"), "{stdout}");
    assert!(
        took < Duration::from_secs(90),
        "unreachable host took {took:?}"
    );
    assert!(
        stderr.contains("shipping failed on 2 of 3 host(s)"),
        "{stderr}"
    );
}

/// A first contact with a node whose host key ssh does not know: one
/// sentence with the exact fix, which works as written.
#[test]
fn an_unknown_host_key_says_the_exact_keyscan_that_fixes_it() {
    let w = World::new("");
    let pod = w.node("pod");
    let known = w.base.path().join("stranger_known_hosts");
    let cfg = w.base.path().join("goapp.yaml");
    let mut yaml = std::fs::read_to_string(&cfg).unwrap();
    yaml.push_str(&format!(
        "  stranger: {{host: 127.0.0.1, port: {}, user: root, identity: {}, known_hosts: {}, arch: amd64, import: podman, connect_timeout: 5}}\n",
        pod.port,
        pod.dir.join("client_key").display(),
        known.display()
    ));
    std::fs::write(&cfg, yaml).unwrap();
    let (ok, stdout, stderr) = w.ship(&["--host", "stranger", "joke"]);
    assert!(!ok, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stranger: FAILED: "))
        .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    let fix = format!(
        "ssh-keyscan -p {} 127.0.0.1 >> {}",
        pod.port,
        known.display()
    );
    assert!(
        line.contains(&format!(
            "ssh does not know the host key of 127.0.0.1 port {}",
            pod.port
        )) && line.contains(&format!("run `{fix}`")),
        "{line}"
    );
    assert!(!line.contains("BatchMode"), "no ssh command line: {line}");
    let st = Command::new("sh").args(["-c", &fix]).status().unwrap();
    assert!(st.success());
    let (ok, stdout, stderr) = w.ship(&["--host", "stranger", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("stranger: sent "), "{stdout}");
}

#[test]
fn bad_host_input_is_refused_before_anything_runs() {
    let w = World::new("");
    let (ok, _, stderr) = w.ship(&["--host", "nope", "joke"]);
    assert!(!ok);
    assert!(
        stderr.contains("error: no host or group named 'nope' in the config: known are ctd, pod"),
        "{stderr}"
    );
    let (ok, _, stderr) = w.ship(&[
        "--host",
        "pod",
        "joke",
        "--no-build",
        "--tag",
        &format!("{}:never", w.repo),
    ]);
    assert!(!ok);
    assert!(stderr.contains("is missing or older than its inputs: build it with `cargo xtask image`, or drop --no-build"), "{stderr}");
}

/// containerd nodes get an OCI archive without the blobs they already hold:
/// after a one-line Go change only the changed layer travels, and the
/// imported image is complete and runs.
#[test]
fn a_changed_image_sends_only_what_the_containerd_node_lacks() {
    let w = World::new("");
    let app = w.base.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let example = root().join("example/joke");
    for f in ["go.mod", "main.go", ".containerignore", ".dockerignore"] {
        std::fs::copy(example.join(f), app.join(f)).unwrap();
    }
    // A second layer that does not change: 3 MiB that do not compress.
    let mut noise = vec![0u8; 3 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(app.join("static.bin"), &noise).unwrap();
    let cf = std::fs::read_to_string(example.join("Containerfile"))
        .unwrap()
        .replace(
            "FROM scratch\n",
            "FROM scratch\nCOPY static.bin /static.bin\n",
        );
    std::fs::write(app.join("Containerfile"), cf).unwrap();
    let cfg = w.base.path().join("goapp.yaml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap().replace(
            &format!("context: {}", example.display()),
            &format!("context: {}", app.display()),
        ),
    )
    .unwrap();

    let sent = |stdout: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with("ctd: sent "))
            .unwrap_or_else(|| panic!("{stdout}"));
        let size = line.split('(').nth(1).unwrap().split(',').next().unwrap();
        let (n, unit) = size.split_once(' ').unwrap();
        n.parse::<f64>().unwrap()
            * match unit {
                "B" => 1.0,
                "KiB" => 1024.0,
                "MiB" => 1048576.0,
                _ => 1073741824.0,
            }
    };
    let (ok, first, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{first}\n{stderr}");
    let first_bytes = sent(&first);
    assert!(first_bytes > 3.0 * 1048576.0, "{first}");

    let main = app.join("main.go");
    std::fs::write(
        &main,
        std::fs::read_to_string(&main)
            .unwrap()
            .replace("ship statically.", "ship statically!"),
    )
    .unwrap();
    let (ok, second, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{second}\n{stderr}");
    assert!(
        second.contains("blob(s) already there left out"),
        "{second}"
    );
    let second_bytes = sent(&second);
    assert!(
        second_bytes < first_bytes - 2.5 * 1048576.0,
        "the unchanged 3 MiB layer travelled again: {first_bytes} then {second_bytes}\n{second}"
    );

    let reference = format!("localhost/{}:1.0-arm64", w.repo);
    let (ok, out) = w
        .node("ctd")
        .ssh(w.base.path(), "ctr -n k8s.io images check");
    assert!(
        ok && out
            .lines()
            .any(|l| l.starts_with(&reference) && l.contains("complete")),
        "{out}"
    );
    assert_eq!(w.containerd_image().unwrap().0, w.local_id("arm64"));
    let (ok, out) = w.node("ctd").ssh(
        w.base.path(),
        &format!(
            "ctr -n k8s.io run --rm --platform linux/arm64 {reference} t2-{}",
            std::process::id()
        ),
    );
    assert!(
        ok && out.contains("ship statically! (linux/arm64)"),
        "{out}"
    );
}

/// `ship --dry-run` prints the plan the executor runs, not a description of
/// it: every line is a comment or a command, and pasted into a POSIX shell
/// the lines ship the image (same id on the node, nothing left behind).
#[test]
fn the_dry_run_plan_pastes_into_a_shell_and_ships() {
    let w = World::new("");
    // The image is not built yet: the plan starts with its build.
    let (ok, plan, stderr) = w.ship(&["--host", "pod", "joke", "--dry-run"]);
    assert!(ok, "{plan}\n{stderr}");
    for line in plan.lines() {
        assert!(
            ["# ", "podman build ", "sha=$({ ", "ssh "]
                .iter()
                .any(|start| line.starts_with(start)),
            "neither a comment nor a command: {line}"
        );
    }
    assert!(
        plan.contains("podman build --platform linux/amd64"),
        "{plan}"
    );
    let (ok, out) = w.node("pod").ssh(
        w.base.path(),
        &format!("podman image exists localhost/{}:1.0-amd64", w.repo),
    );
    assert!(!ok, "--dry-run shipped the image: {out}");

    let out = Command::new("sh")
        .args(["-ec", &plan])
        .current_dir(w.base.path())
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the pasted plan failed:\n{plan}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = format!("localhost/{}:1.0-amd64", w.repo);
    let (ok, id) = w.node("pod").ssh(
        w.base.path(),
        &format!("podman image inspect --format '{{{{.Id}}}}' {reference}"),
    );
    assert!(ok, "{id}");
    assert_eq!(format!("sha256:{}", id.trim()), w.local_id("amd64"));
    assert_eq!(w.node("pod").leftovers(), Vec::<String>::new());
}

/// A node that holds the image under one name, or unpinned, gets the other
/// name and the pins and no bytes; `doctor` tells pinned from unpinned.
#[test]
fn one_name_and_pins_are_restored_without_sending_and_doctor_sees_them() {
    let w = World::new("");
    let base = w.base.path();
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    let arch_ref = format!("localhost/{}:1.0-arm64", w.repo);
    let name = format!("localhost/{}:1.0", w.repo);
    let node = w.node("ctd");
    let doctor = || {
        let mut c = xtask(base, &base.join("cache"));
        c.arg("doctor").stdin(Stdio::null());
        let (_, out, _) = run(c);
        out.lines()
            .find(|l| l.contains("host ctd joke:"))
            .unwrap_or_else(|| panic!("no image line for ctd:\n{out}"))
            .to_string()
    };
    let line = doctor();
    assert!(
        line.starts_with("ok") && line.contains("present") && line.ends_with("pinned"),
        "{line}"
    );

    // Unpinned by hand: doctor fails the node; ship pins, sending nothing.
    let (ok, out) = node.ssh(
        base,
        &format!("ctr -n k8s.io images label {arch_ref} io.cri-containerd.pinned="),
    );
    assert!(ok, "{out}");
    let line = doctor();
    assert!(
        line.starts_with("FAIL") && line.contains("not pinned"),
        "{line}"
    );
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("ctd: {arch_ref} was there")) && stdout.contains("nothing sent"),
        "{stdout}"
    );
    assert!(!stdout.contains("ctd: sent"), "{stdout}");

    // REPO:TAG removed: put back from the arch image, sending nothing.
    let (ok, out) = node.ssh(base, &format!("ctr -n k8s.io images rm {name}"));
    assert!(ok, "{out}");
    let line = doctor();
    assert!(
        line.starts_with("warn") && line.contains("is missing or names another image"),
        "{line}"
    );
    let (ok, stdout, stderr) = w.ship(&["--host", "ctd", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("also named {name}, pinned")) && !stdout.contains("ctd: sent"),
        "{stdout}"
    );
    let listed = node.containerd_images(base);
    let digests: Vec<&String> = listed
        .iter()
        .filter(|(n, _, l)| (n == &arch_ref || n == &name) && l.contains("pinned"))
        .map(|(_, d, _)| d)
        .collect();
    assert_eq!(digests.len(), 2, "{listed:?}");
    assert_eq!(digests[0], digests[1]);
    assert!(doctor().starts_with("ok"));
    // And now there is nothing to do.
    let (ok, stdout, _) = w.ship(&["--host", "ctd", "joke"]);
    assert!(
        ok && stdout.contains("ctd: localhost/") && stdout.contains("is already there"),
        "{stdout}"
    );
}

/// A custom importer with `store:` gets the image's names, architecture and
/// format in its environment, and keeps the probe and the skip; `k3s-dir`
/// writes the archive (carrying both names) into k3s's images directory
/// atomically, for a watcher that imports and pins as k3s does. k3s itself
/// cannot be installed here: the watcher is a stand-in, and `k3s ctr` on
/// the node is containerd's own `ctr`.
#[test]
fn custom_importers_and_k3s_dir_keep_probe_skip_and_names() {
    let dir = "@BASE@";
    let w = World::new(&format!(
        "  cus: {{ssh: ctd, arch: arm64, import: {{command: [sh, -c, 'env | grep ^GOAPP_ | sort > {dir}/ctd/custom.env; exec ctr -n k8s.io images import --platform \"$GOAPP_PLATFORM\" -'], store: containerd}}, tmp_dir: {dir}/ctd/tmp, connect_timeout: 5}}\n  \
         k3d: {{ssh: pod, arch: arm64, import: k3s-dir, images_dir: {dir}/pod/k3s/agent/images, tmp_dir: {dir}/pod/tmp, connect_timeout: 5}}\n"
    ));
    let base = w.base.path();
    let cfg = base.join("goapp.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("@BASE@", &base.display().to_string());
    std::fs::write(&cfg, text).unwrap();
    let arch_ref = format!("localhost/{}:1.0-arm64", w.repo);
    let name = format!("localhost/{}:1.0", w.repo);

    let (ok, stdout, stderr) = w.ship(&["--host", "cus", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("cus: sent {arch_ref}"))
            && stdout.contains(&format!("also named {name}, pinned")),
        "{stdout}"
    );
    let env = std::fs::read_to_string(base.join("ctd/custom.env")).unwrap();
    assert_eq!(
        env,
        format!("GOAPP_ARCH=arm64\nGOAPP_FORMAT=oci-archive\nGOAPP_NAME={name}\nGOAPP_PLATFORM=linux/arm64\nGOAPP_REF={arch_ref}\n")
    );
    let (ok, stdout, _) = w.ship(&["--host", "cus", "joke"]);
    assert!(
        ok && stdout.contains("cus: localhost/") && stdout.contains("is already there"),
        "{stdout}"
    );

    // k3s-dir, with the k3s stand-ins.
    let pod = w.node("pod");
    pod.fake_k3s();
    let images = base.join("pod/k3s/agent/images");
    std::fs::create_dir_all(images.parent().unwrap()).unwrap();
    let watcher = Watcher::start(images.clone(), pod.containerd_socket());
    let (ok, stdout, stderr) = w.ship(&["--host", "k3d", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    let file = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert_eq!(file.len(), 1, "one archive, no temporary file: {file:?}");
    assert!(
        file[0].starts_with(&format!(
            "goapp+goapp-it.{}+arm64+",
            w.repo.trim_start_matches("goapp-it/")
        )) && file[0].ends_with(".tar"),
        "{file:?}"
    );
    assert!(
        stdout.contains(&format!(
            "written to {}/{} for k3s to import",
            images.display(),
            file[0]
        )),
        "{stdout}"
    );
    let imported = watcher.wait_for(&[&arch_ref, &name]);
    let seen = watcher.stop();
    assert_eq!(
        seen.incomplete,
        Vec::<String>::new(),
        "the watcher saw a partial archive"
    );
    assert_eq!(
        imported[0].1, imported[1].1,
        "both names, one target: {imported:?}"
    );
    assert!(
        imported
            .iter()
            .all(|(_, _, l)| l.contains("io.cattle.k3s.pinned=pinned")),
        "{imported:?}"
    );
    // The probe reads k3s's store: nothing to send again.
    let (ok, stdout, stderr) = w.ship(&["--host", "k3d", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("k3d: ") && stdout.contains("is already there"),
        "{stdout}"
    );
}

/// What the stand-in for k3s's image watcher saw.
struct Seen {
    incomplete: Vec<String>,
}

/// A stand-in for k3s's agent-images watcher: imports each new `.tar` in
/// the directory into the node's containerd and pins it with k3s's labels,
/// and records any `.tar` that is not a whole archive when first seen.
struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Seen>>,
    socket: std::path::PathBuf,
}

impl Watcher {
    fn start(dir: std::path::PathBuf, socket: std::path::PathBuf) -> Watcher {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sock = socket.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen {
                incomplete: Vec::new(),
            };
            let mut done: Vec<String> = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if !n.ends_with(".tar") || done.contains(&n) {
                        continue;
                    }
                    done.push(n.clone());
                    let listing = Command::new("tar")
                        .arg("tf")
                        .arg(e.path())
                        .output()
                        .unwrap();
                    if !listing.status.success()
                        || !String::from_utf8_lossy(&listing.stdout).contains("index.json")
                    {
                        seen.incomplete.push(n);
                        continue;
                    }
                    let ctr = |args: &[&str]| {
                        let out = Command::new("ctr")
                            .arg("--address")
                            .arg(&sock)
                            .args(["-n", "k8s.io"])
                            .args(args)
                            .output()
                            .unwrap();
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    };
                    let out = ctr(&[
                        "images",
                        "import",
                        "--platform",
                        "linux/arm64",
                        &e.path().display().to_string(),
                    ]);
                    for line in out.lines().filter_map(|l| l.strip_prefix("unpacking ")) {
                        let image = line.split(' ').next().unwrap();
                        ctr(&[
                            "images",
                            "label",
                            image,
                            "io.cri-containerd.pinned=pinned",
                            "io.cattle.k3s.pinned=pinned",
                        ]);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        Watcher {
            stop,
            thread: Some(thread),
            socket,
        }
    }

    /// Waits (up to 20 s) until every name is imported; their (name, target, labels).
    fn wait_for(&self, names: &[&str]) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "k8s.io", "images", "ls"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let found: Vec<(String, String, String)> = names
                .iter()
                .filter_map(|n| {
                    let l = text
                        .lines()
                        .find(|l| l.split_whitespace().next() == Some(n))?;
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    Some((
                        n.to_string(),
                        cols[2].to_string(),
                        cols.last().unwrap().to_string(),
                    ))
                })
                .collect();
            if found.len() == names.len() && found.iter().all(|(_, _, l)| l.contains("pinned")) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "the watcher did not import {names:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(mut self) -> Seen {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `TMPDIR` with a space and a `%`, or longer than an ssh control socket's
/// path may be, and a node `tmp_dir` with a backslash: shipping works all
/// the same (ssh's `ControlPath` is quoted and `%`-escaped, or the sockets
/// go to a shorter directory; the remote scripts print with `printf` and
/// hash from stdin), and each run leaves its `TMPDIR` as it found it.
#[test]
fn odd_tmpdirs_and_a_backslash_in_tmp_dir_work() {
    let w = World::new(
        "  slash: {ssh: pod, arch: amd64, import: podman, tmp_dir: '@B@/pod/back\\tslash', connect_timeout: 5}\n",
    );
    let cfg = w.base.path().join("goapp.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("@B@", &w.base.path().display().to_string()),
    )
    .unwrap();
    std::fs::create_dir_all(w.base.path().join("pod/back\\tslash")).unwrap();
    let (ok, stdout, stderr) = w.ship(&["--host", "pod", "joke"]);
    assert!(ok, "{stdout}\n{stderr}");
    let long = format!("long-{}", "x".repeat(90));
    for name in ["a b%z", long.as_str()] {
        let tmp = w.base.path().join(name);
        std::fs::create_dir_all(&tmp).unwrap();
        let mut c = xtask(w.base.path(), &w.base.path().join("cache"));
        c.args(["ship", "--host", "pod", "joke", "--force"])
            .env("TMPDIR", &tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        let (ok, stdout, stderr) = run(c);
        assert!(ok, "TMPDIR={}:\n{stdout}\n{stderr}", tmp.display());
        assert!(stdout.contains("pod: sent"), "{stdout}");
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| !n.to_string_lossy().starts_with("buildah-cache"))
            .collect();
        assert!(
            left.is_empty(),
            "left in TMPDIR={}: {left:?}",
            tmp.display()
        );
    }
    let (ok, stdout, stderr) = w.ship(&["--host", "slash", "joke", "--force"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("slash: sent"), "{stdout}");
    let dir = w.base.path().join("pod/back\\tslash");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
}
