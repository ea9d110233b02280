//! The engine matrix (`scripts/matrix.sh`): podman, docker and containerd of
//! Debian's newer suites, each in a root of its own with its own mount and
//! network namespaces, reached as a user with that engine reaches it — a
//! `podman` or `docker` launcher first on PATH — and containerd nodes behind
//! the root's own sshd, in the style of [`super::node`].
//!
//! ```ignore
//! let podman = matrix::engine("podman 5.8");        // or "podman-sid"
//! let mut c = podman.xtask(&app_dir, cache.path());  // PATH, GOAPP_ENGINE, GOAPP_GO_REPO set
//! c.args(["image", "--arch", "amd64,arm64", "--tag", &tag]);
//! let node = matrix::Node::start(base.path(), "ctd", "containerd-2.1");
//! ```
//!
//! Nothing is skipped: when the matrix cannot be set up or started, the
//! test fails with matrix.sh's own reason. The first call sets up what is
//! missing (a cold root takes minutes, see the script); later calls take
//! about a second. The roots, stores and running daemons are shared by every
//! test (like the host's dockerd); nodes are per test, stopped on drop.

use super::root;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Where the matrix lives (`GOAPP_MATRIX_DIR`, else `/var/lib/goapp-matrix`).
pub fn dir() -> PathBuf {
    std::env::var_os("GOAPP_MATRIX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/goapp-matrix"))
}

/// Runs `scripts/matrix.sh ARGS`; panics with its output (the reason) when it fails.
pub fn matrix_sh(args: &[&str]) -> String {
    let script = root().join("scripts/matrix.sh");
    let out = Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the engine matrix is not usable: `scripts/matrix.sh {}` failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The Go tags mirror the matrix made: `make-go-tags-repo.sh`'s tags plus
/// every patch release of the newer builders' lines (`go1.24.0`…`go1.24.4`,
/// `go1.27.0`…), so `go 1.24` resolves to a builder image that exists.
pub fn go_repo() -> PathBuf {
    dir().join("go-tags.git")
}

/// An engine of the matrix, set up (builder images included) and started.
#[derive(Clone, Debug)]
pub struct Engine {
    /// `podman-sid`, `docker-trixie`, …
    pub name: String,
    /// `podman` or `docker`: what `--engine` and `GOAPP_ENGINE` take.
    pub kind: String,
    /// The Debian suite of its root.
    pub suite: String,
    /// The engine's version as Debian packages it (`5.8.6`, `28.5.2`).
    pub version: String,
    /// The directory to put first on PATH (its launchers).
    pub bin: PathBuf,
}

fn engines() -> &'static Mutex<HashMap<String, Engine>> {
    static E: OnceLock<Mutex<HashMap<String, Engine>>> = OnceLock::new();
    E.get_or_init(|| Mutex::new(HashMap::new()))
}

/// "give me podman 5.8": `want` is a name (`podman-sid`, `docker-trixie`)
/// or a kind and version (`podman 5.8`, `podman-5.4`, `docker 28`,
/// `docker-26`). Sets it up and starts it (dockerd for docker) once per
/// test process; panics with the reason when that fails.
pub fn engine(want: &str) -> Engine {
    let mut cache = engines().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = cache.get(want) {
        return e.clone();
    }
    matrix_sh(&["setup", want]);
    matrix_sh(&["start", want]);
    let line = matrix_sh(&["which", want]);
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(
        f.len() == 4 && (f[1] == "podman" || f[1] == "docker"),
        "'{want}' is not a build engine of the matrix ({line}); containerd ones are nodes: matrix::Node::start"
    );
    let e = Engine {
        name: f[0].to_string(),
        kind: f[1].to_string(),
        suite: f[2].to_string(),
        version: f[3].to_string(),
        bin: dir().join("bin").join(f[0]),
    };
    cache.insert(want.to_string(), e.clone());
    e
}

/// This machine's own engine (`podman` or `docker`: Debian 12's podman
/// 4.3.1 and docker 20.10) in the same shape, so one test covers it and the
/// matrix alike. Its bin directory holds a link to `/usr/bin/KIND` (a newer
/// `/usr/local/bin/docker` without buildx may shadow it on PATH).
pub fn host_engine(kind: &str) -> Engine {
    super::require_engine(if kind == "docker" {
        super::DOCKER
    } else {
        "podman"
    });
    let bin = root().join("target/goapp-host-bin").join(kind);
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join(kind);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/usr/bin/{kind}"), &link).unwrap();
    let out = Command::new(&link).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split("version")
        .nth(1)
        .and_then(|v| v.split([',', ' ', '\n']).find(|w| !w.is_empty()))
        .unwrap_or("?")
        .to_string();
    Engine {
        name: format!("{kind}-bookworm"),
        kind: kind.to_string(),
        suite: "bookworm".to_string(),
        version,
        bin,
    }
}

impl Engine {
    /// This machine's own engine, not one of a root ([`host_engine`]).
    pub fn is_host(&self) -> bool {
        self.suite == "bookworm"
    }

    /// The launcher (`…/bin/podman-sid/podman`), for commands of the test's own.
    pub fn program(&self) -> PathBuf {
        self.bin.join(&self.kind)
    }

    /// The docker daemon's socket (docker engines).
    pub fn docker_host(&self) -> Option<String> {
        (self.kind == "docker" && !self.is_host()).then(|| {
            format!(
                "unix://{}",
                dir().join(&self.suite).join("state/docker.sock").display()
            )
        })
    }

    /// The environment the tool runs with for this engine: its launchers
    /// first on PATH, `GOAPP_ENGINE`, the matrix's Go tags mirror, and for
    /// docker the daemon's socket.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_default();
        let mut v = vec![
            ("PATH".to_string(), format!("{}:{path}", self.bin.display())),
            ("GOAPP_ENGINE".to_string(), self.kind.clone()),
            ("GOAPP_GO_REPO".to_string(), go_repo().display().to_string()),
        ];
        if let Some(h) = self.docker_host() {
            v.push(("DOCKER_HOST".to_string(), h));
        }
        v
    }

    /// Puts [`Engine::env`] on a command.
    pub fn apply<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c
    }

    /// The tool under test ([`super::xtask`]: isolated cache, no proxy)
    /// with this engine.
    pub fn xtask(&self, cwd: &Path, cache: &Path) -> Command {
        let mut c = super::xtask(cwd, cache);
        self.apply(&mut c);
        c
    }

    /// A command running the engine itself (`podman …`/`docker …` through
    /// the launcher), with the environment the tool gets.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.program());
        c.args(args)
            .env("CONTAINERS_CONF", root().join("scripts/containers.conf"));
        self.apply(&mut c);
        c
    }

    /// Runs the engine; (ok, stdout, stderr).
    pub fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program().display()));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the engine and returns stdout; panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_run(args);
        assert!(ok, "{} {args:?} failed: {stderr}", self.name);
        stdout
    }

    /// Runs an image for an architecture and returns what it printed
    /// (stdout and stderr, the engine's cgroup-v1 notice left out).
    pub fn run_image(&self, image: &str, arch: &str) -> String {
        let platform = format!("linux/{arch}");
        let args: Vec<&str> = if self.kind == "podman" {
            vec!["run", "--rm", "--arch", arch, image]
        } else {
            vec!["run", "--rm", "--platform", &platform, image]
        };
        let (ok, stdout, stderr) = self.try_run(&args);
        assert!(ok, "{} {args:?} failed: {stderr}", self.name);
        stdout
            + &stderr
                .lines()
                .filter(|l| !l.contains("cgroups-v1"))
                // podman run --arch of a manifest list name checks the
                // list's first image's platform, and says so; the image
                // of the platform asked for is the one that runs.
                .filter(|l| !l.contains("does not match the expected platform"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
    }

    /// The Go version of the builder images the matrix made for `line`
    /// (`1.19` → `1.19.8`, `1.24` → Debian trixie's patch release).
    pub fn go_version(&self, line: &str) -> String {
        let out = self.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        let prefix = format!("{line}.");
        out.lines()
            .filter_map(|l| l.rsplit_once(':').map(|(_, t)| t))
            .filter_map(|t| t.strip_suffix("-bookworm"))
            .find(|t| t.starts_with(&prefix))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no Go {line} builder image (scripts/matrix.sh setup {})",
                    self.name, self.name
                )
            })
            .to_string()
    }

    /// [`super::build_both_arches`] on this engine: builds `context` for
    /// amd64 and arm64 through the tool and checks both were built. Returns
    /// the images (removed on drop) and the tool's stdout and stderr.
    pub fn build_both_arches(&self, context: &Path, name: &str) -> (ImageGuard, String, String) {
        let cache = tempfile::tempdir().unwrap();
        let tag = format!(
            "goapp-it/{}:1",
            super::unique(&format!("{name}-{}-", self.name))
        );
        let guard = self.guard(vec![format!("{tag}-amd64"), format!("{tag}-arm64")]);
        let mut c = self.xtask(context, cache.path());
        c.args([
            "image",
            "--engine",
            &self.kind,
            "--arch",
            "amd64,arm64",
            "--tag",
            &tag,
        ]);
        let (ok, stdout, stderr) = super::run(c);
        assert!(ok, "build on {} failed:\n{stdout}\n{stderr}", self.name);
        for image in &guard.images {
            assert!(stdout.contains(&format!("{image}  built in")), "{stdout}");
        }
        (guard, stdout, stderr)
    }

    /// Removes these images (and `REPO:TAG` lists of `REPO:TAG-<arch>`) when dropped.
    pub fn guard(&self, images: Vec<String>) -> ImageGuard {
        ImageGuard {
            engine: self.clone(),
            images,
        }
    }

    /// Makes the host's `127.0.0.1:port` (a registry of the test) reachable
    /// from the engine's namespace at the same address, until dropped.
    pub fn reach(&self, port: u16) -> Forward {
        if !self.is_host() {
            matrix_sh(&["forward", &self.suite, &port.to_string()]);
        }
        Forward {
            suite: self.suite.clone(),
            port,
        }
    }
}

/// See [`Engine::reach`].
pub struct Forward {
    suite: String,
    port: u16,
}

impl Drop for Forward {
    fn drop(&mut self) {
        if self.suite == "bookworm" {
            return;
        }
        let _ = Command::new(root().join("scripts/matrix.sh"))
            .args(["unforward", &self.suite, &self.port.to_string()])
            .output();
    }
}

/// See [`Engine::guard`]; the same clean-up as [`super::ImageGuard`].
pub struct ImageGuard {
    pub engine: Engine,
    pub images: Vec<String>,
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _alone = super::StoreLock::take(true);
        let mut lists: Vec<&str> = self
            .images
            .iter()
            .filter_map(|i| i.rsplit_once('-').map(|(base, _)| base))
            .collect();
        lists.dedup();
        for l in lists {
            if self.engine.kind == "podman" {
                let _ = self.engine.command(&["manifest", "rm", l]).output();
            } else {
                let _ = self.engine.command(&["rmi", "-f", l]).output();
            }
        }
        // As the host's guard: the name, and the image with its last name.
        for i in &self.images {
            let _ = self.engine.command(&["rmi", i]).output();
        }
    }
}

/// A node of the matrix: the root's containerd (own root, state and
/// socket), podman (own storage) and the suite's dockerd (shared with the
/// engine of that name; `DOCKER_HOST` points at it, so `import: docker`
/// loads into docker 26 or 28 once [`engine`] started it) behind the
/// root's OpenSSH server, on a
/// free loopback port, with its own host key and authorized key; `Host
/// ALIAS` is appended to `BASE/ssh_config` as [`super::node::Node`] does.
/// The node's commands run inside the root (its `ctr`, `podman`, `zstd`,
/// `sha256sum`, `sh`), in the root's network namespace.
pub struct Node {
    pub dir: PathBuf,
    pub alias: String,
    /// The loopback port (the same on the host and in the root).
    pub port: u16,
    /// `trixie` or `sid`.
    pub suite: String,
    /// The node's containerd version (`1.7.24`, `2.1.9`).
    pub containerd: String,
    /// The node's podman version.
    pub podman: String,
}

impl Node {
    /// "give me a containerd 2.1 node": `which` is `containerd-2.1`,
    /// `containerd-sid`, `containerd 1.7`, or a suite (`trixie`).
    pub fn start(base: &Path, alias: &str, which: &str) -> Node {
        let which = match which {
            "trixie" | "sid" => format!("containerd-{which}"),
            w => w.to_string(),
        };
        matrix_sh(&["setup", &which]);
        let line = matrix_sh(&["which", &which]);
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f.len() == 4 && f[1] == "containerd",
            "'{which}' is not a containerd of the matrix ({line})"
        );
        let suite = f[2].to_string();
        let dir = base.join(alias);
        std::fs::create_dir_all(&dir).unwrap();
        matrix_sh(&[
            "node-start",
            &suite,
            &dir.display().to_string(),
            alias,
            &base.join("ssh_config").display().to_string(),
        ]);
        let port = std::fs::read_to_string(dir.join("port"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let podman = engine_version("podman", &suite);
        Node {
            dir,
            alias: alias.to_string(),
            port,
            suite,
            containerd: f[3].to_string(),
            podman,
        }
    }

    /// Runs a command on the node through its own sshd, as a user would.
    pub fn ssh(&self, base: &Path, cmd: &str) -> (bool, String) {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(base.join("ssh_config"))
            .args(["-o", "BatchMode=yes", &self.alias, cmd])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Sets the fault the wrapper injects into uploads: "", "slow" or "corrupt".
    pub fn fault(&self, mode: &str) {
        std::fs::write(self.dir.join("fault"), mode).unwrap();
    }

    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The node's containerd socket (reachable from the host too: the
    /// node's directory is the same path in the root).
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// `ctr -n k8s.io images ls` on the node: (name, target digest, labels).
    pub fn containerd_images(&self, base: &Path) -> Vec<(String, String, String)> {
        let (ok, out) = self.ssh(base, "ctr -n k8s.io images ls");
        assert!(ok, "{out}");
        out.lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                Some((
                    cols.first()?.to_string(),
                    cols.get(2)?.to_string(),
                    cols.last()?.to_string(),
                ))
            })
            .collect()
    }

    /// A stand-in `k3s` on the node: `k3s ctr …` runs the node's `ctr …`.
    pub fn fake_k3s(&self) {
        let path = self.dir.join("bin/k3s");
        std::fs::write(
            &path,
            "#!/bin/sh\n[ \"$1\" = ctr ] || { echo \"k3s stand-in: only 'k3s ctr' is here\" >&2; exit 2; }\nshift\nexec ctr \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }

    /// Waits until the node answers over ssh (it does when `start` returns;
    /// for tests that restart parts of it).
    pub fn wait(&self, base: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ssh(base, "true").0 {
            assert!(
                Instant::now() < deadline,
                "node {} does not answer",
                self.alias
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/matrix.sh"))
            .arg("node-stop")
            .arg(&self.dir)
            .output();
    }
}

fn engine_version(kind: &str, suite: &str) -> String {
    std::fs::read_to_string(dir().join("engines"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[1] == kind && f[2] == suite).then(|| f[3].to_string())
        })
        .unwrap_or_default()
}
