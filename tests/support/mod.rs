//! Shared set-up for the integration tests: the binary under test, the
//! fixtures made by scripts/setup.sh, and an isolated environment per test.
#![allow(dead_code)]

pub mod agent;
pub mod matrix;
pub mod node;
pub mod registry;
pub mod relay;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where scripts/setup.sh leaves its fixtures.
pub fn fixtures() -> PathBuf {
    std::env::var_os("GOAPP_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/goapp-fixtures"))
}

/// The Go version of the local builder image (set-up writes it).
pub fn go_version() -> String {
    let f = fixtures().join("go-version");
    std::fs::read_to_string(&f)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/setup.sh first", f.display()))
        .trim()
        .to_string()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}{}", std::process::id(), n % 1_000_000_000)
}

/// A command running the xtask binary with an isolated cache and the
/// podman settings these VMs need.
pub fn xtask(cwd: &Path, cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_goapp-under-test"));
    c.current_dir(cwd)
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .env("GOAPP_CACHE_DIR", cache)
        .env("GOAPP_GO_REPO", fixtures().join("go-tags.git"))
        .env_remove("GOAPP_CONFIG")
        .env_remove("TARGET_ARCH")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("GOAPP_ENGINE");
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs and returns (status ok, stdout, stderr).
pub fn run(mut c: Command) -> (bool, String, String) {
    let _shared = StoreLock::take(false);
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("running the binary under test");
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Runs an engine command with the test podman settings, returning stdout; panics with stderr on failure.
pub fn engine(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}): run scripts/setup.sh first"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian's docker client (the one whose `docker build` has BuildKit built in).
pub const DOCKER: &str = "/usr/bin/docker";

/// Panics with the fix when an engine or the builder image is not there.
pub fn require_engine(program: &str) {
    let tag = format!("docker.io/library/golang:{}-bookworm", go_version());
    let ok = Command::new(program)
        .args(["image", "inspect", &tag])
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{program} has no {tag} (or is not running): run scripts/setup.sh first"
    );
}

/// `podman images` works: the store the tests share is left listable.
/// A build running at the same time may hold a layerless intermediate for
/// a moment (its run removes it), so this waits up to a minute for it.
pub fn assert_store_listable() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = Command::new("podman")
            .args(["images", "--quiet"])
            .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`podman images` fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// Writes `files` (path, content) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Tests build identical images at once (the same context and inputs: the
/// same image id), and podman 4.3 edits an image's names read-modify-write:
/// a guard's `untag` of one test's name could drop the name another test's
/// build was adding (seen in CI: `image not known` right after `built`).
/// Each run of the tool through [`run`] holds this lock shared; a guard's
/// clean-up holds it alone. (Test binaries run one after another, so only
/// the threads of one binary meet here.)
pub struct StoreLock(#[allow(dead_code)] std::fs::File);

impl StoreLock {
    pub fn take(alone: bool) -> StoreLock {
        use std::os::fd::AsRawFd;
        let path = root().join("target").join("goapp-it-store.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let how = if alone { libc::LOCK_EX } else { libc::LOCK_SH };
        // SAFETY: flock(2) on a descriptor we own; released when it closes.
        while unsafe { libc::flock(f.as_raw_fd(), how) } != 0 {
            assert_eq!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::Interrupted,
                "flock {}",
                path.display()
            );
        }
        StoreLock(f)
    }
}

/// Removes images when dropped, so a failed test leaves nothing behind.
pub struct ImageGuard {
    pub program: &'static str,
    pub images: Vec<String>,
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _alone = StoreLock::take(true);
        // `REPO:TAG` of `REPO:TAG-<arch>` may be a manifest list: remove it
        // as a list first (`rmi` of a list name removes one of its images).
        let mut lists: Vec<&str> = self
            .images
            .iter()
            .filter_map(|i| i.rsplit_once('-').map(|(base, _)| base))
            .collect();
        lists.dedup();
        for l in lists {
            let _ = Command::new(self.program)
                .args(["manifest", "rm", l])
                .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
                .output();
        }
        // Only the name goes, and with it the image (and its build cache)
        // when that was its last name: tests build identical images (the
        // same id) at once, which is safe only because no run of the tool is
        // under way while this holds the store lock alone. Untagging alone
        // left every test image nameless in the store: hundreds per suite,
        // until `podman images` took half a minute.
        for i in &self.images {
            let _ = Command::new(self.program)
                .args(["rmi", i])
                .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
                .output();
        }
    }
}

/// Builds `context` for amd64 and arm64 through the tool with `engine_flag`
/// and checks both were built. Returns the images (removed on drop) and the
/// tool's stdout and stderr.
pub fn build_both_arches(
    engine_flag: &str,
    program: &'static str,
    context: &Path,
    name: &str,
) -> (ImageGuard, String, String) {
    require_engine(program);
    let cache = tempfile::tempdir().unwrap();
    let tag = format!("goapp-it/{}:1", unique(&format!("{name}-{engine_flag}-")));
    let guard = ImageGuard {
        program,
        images: vec![format!("{tag}-amd64"), format!("{tag}-arm64")],
    };
    let mut c = xtask(context, cache.path());
    c.args([
        "image",
        "--engine",
        engine_flag,
        "--arch",
        "amd64,arm64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "build failed:\n{stdout}\n{stderr}");
    for image in &guard.images {
        assert!(stdout.contains(&format!("{image}  built in")), "{stdout}");
    }
    (guard, stdout, stderr)
}
