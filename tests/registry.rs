//! `push` and `pull_from:` against a real registry (Debian's
//! `docker-registry`, on a loopback port with its own storage): the index
//! read back with `skopeo`, a second push that uploads nothing but
//! manifests, and real containerd and podman nodes behind real sshd that
//! pull from it.

mod support;
use std::process::{Command, Stdio};
use support::node::Node;
use support::registry::Registry;
use support::*;

/// sha256 of `text` as `sha256:<hex>`.
fn digest(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!("sha256:{}", &String::from_utf8_lossy(&out.stdout)[..64])
}

fn config(base: &std::path::Path, repo: &str, reg: &Registry, hosts: &str) {
    std::fs::write(
        base.join("goapp.yaml"),
        format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  joke:\n    context: {}\n    repository: {repo}\n    tag: '1.0'\n    arch: [amd64, arm64]\nregistries:\n  reg: {{address: '{}', insecure: true}}\n{hosts}",
            root().join("example/joke").display(),
            reg.address
        ),
    )
    .unwrap();
}

fn push(base: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut c = xtask(base, &base.join("cache"));
    c.arg("push").args(args).stdin(Stdio::null());
    run(c)
}

/// Blob uploads among `requests` (a push that sends nothing new has none).
fn uploads(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|r| r.contains("/blobs/uploads/"))
        .collect()
}

fn pushes_index_and_images_then_only_manifests(engine_flag: &str, program: &'static str) {
    require_engine(program);
    let reg = Registry::start();
    let base = tempfile::tempdir().unwrap();
    let repo = format!("goapp-it/{}", unique(&format!("push-{engine_flag}-")));
    config(base.path(), &repo, &reg, "");
    let qualified = if program == "podman" {
        format!("localhost/{repo}")
    } else {
        format!("docker.io/{repo}")
    };
    let _guard = ImageGuard {
        program,
        images: vec![
            format!("{qualified}:1.0-amd64"),
            format!("{qualified}:1.0-arm64"),
            format!("{}/{repo}:1.0-amd64", reg.address),
            format!("{}/{repo}:1.0-arm64", reg.address),
        ],
    };
    let (ok, stdout, stderr) = push(
        base.path(),
        &["joke", "--registry", "reg", "--engine", engine_flag],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let remote = format!("{}/{repo}:1.0", reg.address);
    for line in [
        format!("pushed {remote}-amd64 ("),
        format!("pushed {remote}-arm64 ("),
        format!("pushed {remote} (the name every architecture shares)"),
    ] {
        assert!(stdout.contains(&line), "{line} missing:\n{stdout}");
    }
    // The index lists both platforms, each the manifest of its -arch tag.
    let index = reg.raw(&format!("{repo}:1.0")).replace([' ', '\n'], "");
    assert!(index.contains("\"manifests\":["), "not an index: {index}");
    for arch in ["amd64", "arm64"] {
        let manifest = reg.raw(&format!("{repo}:1.0-{arch}"));
        let entry = format!("\"digest\":\"{}\"", digest(&manifest));
        let at = index
            .find(&entry)
            .unwrap_or_else(|| panic!("{arch}'s manifest not in {index}"));
        let platform = &index[at..index[at..].find('}').map(|i| i + at).unwrap_or(index.len())];
        assert!(
            index[at..].contains(&format!("\"architecture\":\"{arch}\"")),
            "{platform}"
        );
    }
    // What --dry-run prints is what the push runs.
    let (ok, planned, stderr) = push(
        base.path(),
        &[
            "joke",
            "--registry",
            "reg",
            "--engine",
            engine_flag,
            "--dry-run",
        ],
    );
    assert!(ok, "{planned}\n{stderr}");
    // Again: the registry holds every blob, so only manifests go up.
    let before = reg.requests().len();
    let (ok, stdout, stderr) = push(
        base.path(),
        &["joke", "--registry", "reg", "--engine", engine_flag, "-v"],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let ran: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .filter(|l| l.contains(&reg.address))
        .collect();
    // A step that may fail (nothing to remove) is printed with `|| true`.
    let printed: Vec<&str> = planned
        .lines()
        .filter(|l| l.contains(&reg.address) && !l.starts_with('#'))
        .map(|l| l.trim_end_matches(" || true"))
        .collect();
    assert!(!ran.is_empty(), "{stderr}");
    // The arches go up side by side, so in either order.
    let (mut ran, mut printed) = (ran, printed);
    ran.sort_unstable();
    printed.sort_unstable();
    assert_eq!(
        ran, printed,
        "--dry-run printed:\n{planned}\nthe push ran:\n{stderr}"
    );
    let again: Vec<String> = reg.requests()[before..].to_vec();
    assert_eq!(
        uploads(&again),
        Vec::<&String>::new(),
        "blobs uploaded again:\n{again:#?}"
    );
    assert!(
        again
            .iter()
            .any(|r| r.starts_with("PUT ") && r.contains("/manifests/")),
        "{again:#?}"
    );
}

#[test]
fn podman_pushes_every_arch_and_the_index_then_only_manifests() {
    pushes_index_and_images_then_only_manifests("podman", "podman");
}

#[test]
fn docker_pushes_every_arch_and_the_index_then_only_manifests() {
    pushes_index_and_images_then_only_manifests("docker", DOCKER);
}

/// Plain HTTP is refused unless asked for; an unknown registry name is named.
#[test]
fn plain_http_needs_insecure_and_names_are_checked() {
    require_engine("podman");
    let reg = Registry::start();
    let base = tempfile::tempdir().unwrap();
    let repo = format!("goapp-it/{}", unique("http-"));
    config(base.path(), &repo, &reg, "");
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{repo}:1.0-amd64")],
    };
    let (ok, _, stderr) = push(base.path(), &["joke", "--registry", "nope"]);
    assert!(!ok);
    assert!(
        stderr.contains("error: no registry named 'nope' in the config: known are reg"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = push(
        base.path(),
        &["joke", "--arch", "amd64", "--registry", &reg.address],
    );
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(&format!("{} speaks plain HTTP: mark it `insecure: true` under `registries:`, or pass --insecure", reg.address)),
        "{stdout}\n{stderr}"
    );
    let (ok, stdout, stderr) = push(
        base.path(),
        &[
            "joke",
            "--arch",
            "amd64",
            "--registry",
            &reg.address,
            "--insecure",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
}

/// Hosts with `pull_from:` get the image from the registry: pushed once,
/// then pulled by each node's own runtime (containerd's `ctr`, podman),
/// named and pinned as a shipped image is; shipping again does nothing.
#[test]
fn nodes_pull_from_the_registry_named_and_pinned() {
    require_engine("podman");
    let reg = Registry::start();
    let base = tempfile::tempdir().unwrap();
    let b = base.path();
    let nodes = [Node::start(b, "ctd"), Node::start(b, "pod")];
    let repo = format!("goapp-it/{}", unique("pull-"));
    config(
        b,
        &repo,
        &reg,
        "hosts:\n  ctd: {ssh: ctd, arch: arm64, import: containerd, pull_from: reg, connect_timeout: 5}\n  pod: {ssh: pod, arch: amd64, import: podman, pull_from: reg, connect_timeout: 5}\n",
    );
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{repo}:1.0-amd64"), format!("{repo}:1.0-arm64")],
    };
    let ship = || {
        let mut c = xtask(b, &b.join("cache"));
        c.args(["ship", "--host", "ctd,pod", "joke"])
            .stdin(Stdio::null());
        run(c)
    };
    let (ok, stdout, stderr) = ship();
    assert!(ok, "{stdout}\n{stderr}");
    let remote = format!("{}/{repo}:1.0", reg.address);
    assert!(
        stdout.contains(&format!("ctd: pulled {remote}-arm64 (")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("pod: pulled {remote}-amd64 (")),
        "{stdout}"
    );
    let manifests: Vec<String> = reg
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/manifests/"))
        .collect();
    assert_eq!(manifests.len(), 2, "each image pushed once: {manifests:#?}");

    // containerd: the registry's name and both local names, one target, pinned.
    let listed = nodes[0].containerd_images(b);
    let wanted = [
        format!("{remote}-arm64"),
        format!("localhost/{repo}:1.0-arm64"),
        format!("localhost/{repo}:1.0"),
    ];
    let found: Vec<&(String, String, String)> = listed
        .iter()
        .filter(|(n, _, _)| wanted.contains(n))
        .collect();
    assert_eq!(found.len(), 3, "{listed:?}");
    assert!(
        found
            .iter()
            .all(|(_, d, l)| d == &found[0].1 && l.contains("io.cri-containerd.pinned=pinned")),
        "{found:?}"
    );
    // podman: REPO:TAG is the amd64 image.
    let (ok, out) = nodes[1].ssh(
        b,
        &format!("podman image inspect --format '{{{{.Architecture}}}}' localhost/{repo}:1.0"),
    );
    assert!(ok && out.trim() == "amd64", "{out}");

    // Nothing changed: nothing pushed, nothing pulled.
    let before = reg.requests().len();
    let (ok, stdout, stderr) = ship();
    assert!(ok, "{stdout}\n{stderr}");
    for host in ["ctd", "pod"] {
        let line = format!("{host}: localhost/{repo}:1.0-");
        assert!(
            stdout.contains(&line) && stdout.contains("is already there"),
            "{stdout}"
        );
    }
    assert_eq!(
        reg.requests().len(),
        before,
        "the registry was asked something"
    );
}
