//! What an engine can do with a Containerfile, from its version (release
//! notes), and the machine's emulation state from binfmt_misc. Versions are
//! read once per engine binary and cached by the binary's path, size and
//! modification time.

use crate::core::arch::Arch;
use crate::engine::{BuildFront, Engine, EngineKind, ImageStore};
use crate::process::command::Cmd;
use crate::process::error::ProcessError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An engine's relevant abilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The engine.
    pub kind: EngineKind,
    /// Its version as reported (the daemon's for docker, when reachable).
    pub version: String,
    /// Where it keeps images (docker: the daemon's store).
    pub store: ImageStore,
    /// `RUN <<EOF` and `COPY <<EOF` (buildah ≥ 1.33 in podman 5; BuildKit's
    /// built-in frontend from docker 23).
    pub heredoc: bool,
    /// `$BUILDPLATFORM` resolved in `FROM --platform=` (podman 4.x leaves it empty).
    pub buildplatform_in_from: bool,
    /// `RUN --mount=type=secret,env=X` (dockerfile frontend 1.10: docker ≥ 27; podman ≥ 5.1).
    pub secret_env: bool,
    /// `docker buildx` is present (docker only).
    pub buildx: bool,
    /// `RUN --mount=type=ssh`.
    pub ssh_mount: bool,
    /// Multi-platform manifest lists (`podman manifest`, `docker buildx`).
    pub manifest: bool,
    /// `RUN --mount=…,target=<relative path>` (resolved against WORKDIR):
    /// buildah #4309, fixed after buildah 1.28 (podman 4.3), so podman 4.4.
    pub relative_mount_target: bool,
    /// Which `RUN --mount=type=bind` layers the engine's cache keys by the
    /// mounted content (the rest it keys by the instruction text alone).
    pub bind_keying: BindKeying,
    /// Which ignore files decide what `COPY` sees of the context.
    pub ignore_files: IgnoreFiles,
    /// A `RUN --mount=type=bind` of the context is a bind of the host
    /// directory itself: it shows the files the ignore file excludes, and
    /// the host resolves a symlinked `source=` (even out of the context).
    /// buildah does this in every release (buildah #6450, open in 2025;
    /// seen on podman 4.3.1); BuildKit mounts the filtered context it was
    /// sent and resolves `source=` inside it.
    pub bind_host_dir: bool,
    /// The image listing fails once the store holds a manifest list and an
    /// image without layers (podman < 4.8: containers/common #1651; see
    /// `engine::podstore`).
    pub listing_trips_on_layerless: bool,
    /// After a stage `FROM --platform=X`, a later stage's base written
    /// without `--platform` is resolved for X instead of the build's
    /// platform: an arm64 image built on an amd64 base (measured on podman
    /// 4.3.1; the image is still labelled arm64).
    pub platform_leaks: bool,
    /// A `# syntax=` line makes the engine pull that frontend image
    /// (BuildKit); podman ignores the line.
    pub syntax_pulls: bool,
    /// The build context is sent by comparing files' size and mtime
    /// (BuildKit's context transfer): a file rewritten in place keeps its
    /// old content unless it is touched.
    pub context_by_stat: bool,
    /// The proxy variables can also be mounted as secrets from the
    /// environment (`--secret id=X,env=X`: BuildKit), as build.sh's docker
    /// copy did.
    pub secret_from_env: bool,
    /// Only local names (`localhost/…`) of base images count as inputs:
    /// a `--platform` pull of a registry name for another architecture can
    /// move that name to the other architecture's image (podman), which
    /// would make every multi-architecture build look changed.
    pub pulls_move_names: bool,
    /// Its docker-format `save` is an OCI layout too, blobs by digest
    /// (docker from 25: "docker save produces OCI-compliant archives"): a
    /// node's blobs can be left out of it, as of podman's oci-archive.
    pub save_layout: bool,
}

/// The ignore files an engine reads, in the order it prefers them.
///
/// Measured on this machine (podman 4.3.1, docker 20.10.24 with BuildKit),
/// and in the sources. Current buildah (`ContainerIgnoreFile`, buildah PR
/// #4239) reads `<Containerfile>.dockerignore`, then
/// `<Containerfile>.containerignore`, then the context's `.containerignore`,
/// then its `.dockerignore`; podman 4.3.1 reads no per-file ignore at all,
/// and no release reads one beside a shimmed copy kept elsewhere. So on
/// podman the tool picks the file in current buildah's order and passes it
/// with `--ignorefile` (podman ≥ 2): every version then uses the file the
/// tool hashed. BuildKit reads `<Dockerfile>.dockerignore` beside the
/// Dockerfile, else the context's `.dockerignore`; never `.containerignore`
/// (moby/buildkit #3108); a shimmed copy gets the original's per-file
/// ignore file beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreFiles {
    /// podman/buildah: the file chosen is passed with `--ignorefile`.
    Buildah,
    /// docker with BuildKit (its own or buildx).
    BuildKit,
}

impl IgnoreFiles {
    /// The files to try for a build of `containerfile` in `context`, first
    /// found wins; `true` marks one that belongs to the Containerfile.
    pub fn candidates(self, context: &Path, containerfile: &Path) -> Vec<(PathBuf, bool)> {
        let beside = |ext: &str| {
            let mut name = containerfile.as_os_str().to_owned();
            name.push(ext);
            (PathBuf::from(name), true)
        };
        let root = |name: &str| (context.join(name), false);
        match self {
            IgnoreFiles::Buildah => vec![
                beside(".dockerignore"),
                beside(".containerignore"),
                root(".containerignore"),
                root(".dockerignore"),
            ],
            IgnoreFiles::BuildKit => vec![beside(".dockerignore"), root(".dockerignore")],
        }
    }

    /// The engine is told which ignore file to use (podman's `--ignorefile`).
    pub fn explicit(self) -> bool {
        self == IgnoreFiles::Buildah
    }
}

/// Which bind mounts an engine's layer cache keys by their content. Where it
/// does not, a changed source still gets `--> Using cache` and the old result.
///
/// Sources: buildah #5400 (podman issues #23382, #26057): bind mounts cached
/// by text only. PR #5691 (commit 4383e34c0, first in buildah 1.39.0, which
/// podman 5.4.0 vendors: checked by tag containment) added the checksum for
/// explicit `type=bind` from the context or an image. PR #6957 (merged
/// 2026-07-14) extended it to mounts without `type=` — no podman release is
/// known to carry it, so every podman counts as affected. `from=<stage>`
/// stayed unkeyed until PR #6845 (buildah #6609, merged 2026-05), also in no
/// release we can name. Before podman 4.4 (buildah 1.29, buildah #4375) a
/// `from=<stage>` mount of a cached stage even shows the wrong stage content.
/// BuildKit keys every bind mount by content (moby/buildkit #1903).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindKeying {
    /// `type=bind` from the build context (whole or `source=` subpath).
    pub context: bool,
    /// `type=bind,from=<image>`.
    pub image: bool,
    /// `from=<an earlier stage>`.
    pub stage: bool,
    /// Mounts that leave `type=` out (a bind by default).
    pub typeless: bool,
    /// A `from=<stage>` mount shows that stage's current content even when
    /// the stage came from the cache.
    pub stage_fresh: bool,
}

impl BindKeying {
    /// BuildKit: every bind mount keyed by content.
    pub const ALL: BindKeying = BindKeying {
        context: true,
        image: true,
        stage: true,
        typeless: true,
        stage_fresh: true,
    };
}

/// `(major, minor)` from a version string such as `4.3.1` or `20.10.24+dfsg1`.
pub(crate) fn major_minor(v: &str) -> (u32, u32) {
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The capabilities of an engine at a version (pure). `store` only
/// matters for docker (podman has one kind).
pub fn from_version(
    kind: EngineKind,
    front: BuildFront,
    version: &str,
    store: ImageStore,
) -> Capabilities {
    match kind {
        EngineKind::Podman => podman(version),
        EngineKind::Docker => docker(front, version, store),
    }
}

/// Podman's capabilities at `version` (buildah's, as the release vendors it).
fn podman(version: &str) -> Capabilities {
    let v = major_minor(version);
    Capabilities {
        kind: EngineKind::Podman,
        version: version.to_string(),
        store: ImageStore::Podman,
        heredoc: v >= (5, 0),
        buildplatform_in_from: v >= (5, 0),
        secret_env: v >= (5, 1),
        buildx: false,
        ssh_mount: v >= (3, 0),
        manifest: true,
        relative_mount_target: v >= (4, 4),
        bind_keying: BindKeying {
            context: v >= (5, 4),
            image: v >= (5, 4),
            stage: false,
            typeless: false,
            stage_fresh: v >= (4, 4),
        },
        ignore_files: IgnoreFiles::Buildah,
        bind_host_dir: true,
        listing_trips_on_layerless: v < (4, 8),
        platform_leaks: v < (5, 0),
        save_layout: false,
        syntax_pulls: false,
        context_by_stat: false,
        secret_from_env: false,
        pulls_move_names: true,
    }
}

/// Docker's capabilities at `version` with build front `front`, keeping
/// images in `store` (the daemon's).
fn docker(front: BuildFront, version: &str, store: ImageStore) -> Capabilities {
    let v = major_minor(version);
    Capabilities {
        kind: EngineKind::Docker,
        version: version.to_string(),
        store: match store {
            ImageStore::Podman => ImageStore::DockerClassic,
            s => s,
        },
        heredoc: v >= (23, 0) || front == BuildFront::DockerBuildx,
        buildplatform_in_from: true,
        secret_env: v >= (27, 0),
        buildx: front == BuildFront::DockerBuildx,
        ssh_mount: true,
        manifest: front == BuildFront::DockerBuildx,
        relative_mount_target: true,
        bind_keying: BindKeying::ALL,
        ignore_files: IgnoreFiles::BuildKit,
        bind_host_dir: false,
        listing_trips_on_layerless: false,
        platform_leaks: false,
        save_layout: v >= (25, 0),
        syntax_pulls: true,
        context_by_stat: true,
        secret_from_env: true,
        pulls_move_names: false,
    }
}

/// What lints assume without an engine: the oldest release of `kind` we
/// support (Debian 12's).
pub(crate) fn oldest(kind: EngineKind) -> Capabilities {
    match kind {
        EngineKind::Podman => from_version(kind, BuildFront::Podman, "4.3.1", ImageStore::Podman),
        EngineKind::Docker => from_version(
            kind,
            BuildFront::DockerBuildKit,
            "20.10.24",
            ImageStore::DockerClassic,
        ),
    }
}

/// Reads the engine's version and store (cached) and returns its capabilities.
pub(crate) fn detect(engine: &Engine, cache_dir: &Path) -> Capabilities {
    let facts = cached_facts(engine, cache_dir).unwrap_or_else(|| Facts {
        version: "0".into(),
        store: engine.store,
    });
    from_version(engine.kind, engine.front, &facts.version, facts.store)
}

/// What is read from the engine itself.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Facts {
    version: String,
    store: ImageStore,
}

impl Facts {
    /// `VERSION STORE`, as the cache keeps it.
    fn line(&self) -> String {
        let store = match self.store {
            ImageStore::Podman => "podman",
            ImageStore::DockerClassic => "classic",
            ImageStore::DockerContainerd => "containerd",
        };
        format!("{} {store}", self.version)
    }

    fn parse(v: &str) -> Option<Facts> {
        let (version, store) = v.split_once(' ')?;
        let store = match store {
            "podman" => ImageStore::Podman,
            "classic" => ImageStore::DockerClassic,
            "containerd" => ImageStore::DockerContainerd,
            _ => return None,
        };
        plausible_version(version).then(|| Facts {
            version: version.to_string(),
            store,
        })
    }
}

/// The cache key of an engine: its binary (path, size, time) and, for
/// docker, the daemon it talks to (`DOCKER_HOST`, `DOCKER_CONTEXT`): the
/// version and store are the daemon's.
fn cache_key(engine: &Engine) -> Option<String> {
    let mut key = binary_key(&which::which(&engine.program).ok()?)?;
    if engine.kind == EngineKind::Docker {
        for var in ["DOCKER_HOST", "DOCKER_CONTEXT"] {
            let v = std::env::var(var).unwrap_or_default();
            key.push('|');
            key.push_str(&v.replace(['\t', '\n'], " "));
        }
    }
    Some(key)
}

/// A binary's path, size and modification time.
fn binary_key(bin: &Path) -> Option<String> {
    let meta = std::fs::metadata(bin).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(format!("{}|{}|{}", bin.display(), meta.len(), mtime))
}

fn cached_facts(engine: &Engine, cache_dir: &Path) -> Option<Facts> {
    let key = cache_key(engine)?;
    let mut cache = FactCache::open(cache_dir);
    if let Some(v) = cached_entry(&cache.body, &key) {
        return Some(v);
    }
    let (facts, keep) = read_facts(engine)?;
    if keep {
        cache.put(&key, &facts.line());
    }
    Some(facts)
}

/// The facts cached for `key`: only from a whole line (ending in a
/// newline) whose version reads as one (`4.3.1`, `20.10.24+dfsg1`) and
/// whose store is named.
fn cached_entry(text: &str, key: &str) -> Option<Facts> {
    FactCache::find(text, key).and_then(Facts::parse)
}

/// How a docker client builds (`docker buildx version` takes 0.1–0.3 s,
/// on every run otherwise), cached by the client binary and the
/// directories its plugins are found in.
///
/// `Err(major)`: that client (`major`.x) was found unable to build (no
/// buildx plugin, too new for the built-in BuildKit): a shadowing client
/// is passed over without being asked again on every run.
pub(crate) fn cached_front(docker: &Path, cache_dir: &Path) -> Option<Result<BuildFront, u32>> {
    let key = front_key(docker)?;
    match FactCache::find(&FactCache::open(cache_dir).body, &key)? {
        "buildx" => Some(Ok(BuildFront::DockerBuildx)),
        "buildkit" => Some(Ok(BuildFront::DockerBuildKit)),
        other => other.strip_prefix("none-")?.parse().ok().map(Err),
    }
}

/// What `uname -m` said since the machine last booted (the boot's id is
/// the key: a machine does not change between boots), so a no-op starts
/// no process for it.
pub(crate) fn cached_machine(cache_dir: &Path) -> Option<String> {
    let key = machine_key()?;
    FactCache::find(&FactCache::open(cache_dir).body, &key).map(str::to_string)
}

/// Remembers [`cached_machine`].
pub(crate) fn remember_machine(cache_dir: &Path, machine: &str) {
    if let Some(key) = machine_key() {
        FactCache::open(cache_dir).put(&key, machine);
    }
}

fn machine_key() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(format!("machine|{}", boot.trim()))
}

/// Remembers [`cached_front`].
pub(crate) fn remember_front(docker: &Path, cache_dir: &Path, front: Result<BuildFront, u32>) {
    let Some(key) = front_key(docker) else {
        return;
    };
    let value = match front {
        Ok(BuildFront::DockerBuildx) => "buildx".to_string(),
        Ok(BuildFront::DockerBuildKit) => "buildkit".to_string(),
        Ok(BuildFront::Podman) => return,
        Err(major) => format!("none-{major}"),
    };
    FactCache::open(cache_dir).put(&key, &value);
}

/// `front|BINARY-KEY|` and the modification times of the plugin
/// directories docker searches (`$DOCKER_CONFIG/cli-plugins`, then the
/// system ones): installing or removing buildx changes one of them.
fn front_key(docker: &Path) -> Option<String> {
    let mut key = format!("front|{}", binary_key(docker)?);
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
    let dirs = config.map(|c| c.join("cli-plugins")).into_iter().chain(
        [
            "/usr/local/lib/docker/cli-plugins",
            "/usr/local/libexec/docker/cli-plugins",
            "/usr/lib/docker/cli-plugins",
            "/usr/libexec/docker/cli-plugins",
        ]
        .map(std::path::PathBuf::from),
    );
    for d in dirs {
        let t = std::fs::metadata(&d)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |t| t.as_nanos());
        key.push_str(&format!("|{t}"));
    }
    Some(key)
}

/// `engine-versions.txt`: `KEY<TAB>VALUE` lines. The file proves itself
/// (a trailing checksum): a truncated or edited one is thrown away, as a
/// wrong version would pick the wrong shims.
struct FactCache {
    file: std::path::PathBuf,
    body: String,
}

impl FactCache {
    fn open(cache_dir: &Path) -> FactCache {
        let file = cache_dir.join("engine-versions.txt");
        let text = crate::core::fs::read_text_if_exists(&file, "the engine version cache")
            .ok()
            .flatten()
            .unwrap_or_default();
        let body = match crate::core::fs::unseal(&text) {
            Ok(body) => body.to_string(),
            Err(why) => {
                if !text.is_empty() {
                    crate::core::ui::detail(&format!(
                        "{} is not used ({why}): asking the engine again",
                        file.display()
                    ));
                }
                String::new()
            }
        };
        FactCache { file, body }
    }

    /// The value of `key`, from a whole line only.
    fn find<'t>(text: &'t str, key: &str) -> Option<&'t str> {
        text.split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t'))
    }

    /// Sets `key` (one line per key; at most 32 lines: daemons and
    /// binaries come and go) and writes the file.
    fn put(&mut self, key: &str, value: &str) {
        let prefix = format!("{key}\t");
        let mut kept: Vec<&str> = self
            .body
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n') && !l.starts_with(&prefix))
            .collect();
        let drop = kept.len().saturating_sub(31);
        kept.drain(..drop);
        let mut text = kept.concat();
        text.push_str(&format!("{prefix}{value}\n"));
        let _ = crate::core::fs::write_atomic(&self.file, crate::core::fs::seal(&text).as_bytes());
        self.body = text;
    }
}

/// `4.3.1`, `20.10.24+dfsg1`, `5.0.0-dev`: numbers an engine could have
/// (each part at most 4 digits), and a suffix of one word.
pub(crate) fn plausible_version(v: &str) -> bool {
    let (nums, suffix) = match v.find(['+', '-', '~']) {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    };
    let parts: Vec<&str> = nums.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && suffix.len() <= 32
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-~.".contains(&b))
}

/// Asks the engine; `true` when the answer may be cached (docker: the
/// daemon answered; without it only the client's version is known).
fn read_facts(engine: &Engine) -> Option<(Facts, bool)> {
    let limit = Some(Duration::from_secs(15));
    if engine.kind == EngineKind::Docker {
        // The build runs in the daemon: its version decides the frontend,
        // its storage driver whether a name can be an index.
        if let Ok(out) = engine
            .cmd()
            .args(["info", "--format", DOCKER_FACTS])
            .run_timeout(limit)
        {
            if let Some(f) = parse_docker_facts(&String::from_utf8_lossy(&out.stdout)) {
                return Some((f, true));
            }
        }
    }
    let out = engine.cmd().arg("--version").run_timeout(limit).ok()?;
    let version = crate::engine::parse_version(&String::from_utf8_lossy(&out.stdout))?;
    let keep = engine.kind == EngineKind::Podman;
    Some((
        Facts {
            version,
            store: engine.store,
        },
        keep,
    ))
}

/// The daemon's version and its storage's `driver-type` (the containerd
/// store reports `io.containerd.snapshotter.v1`; the classic drivers
/// report none).
const DOCKER_FACTS: &str = "{{.ServerVersion}} {{range .DriverStatus}}{{if eq (index . 0) \"driver-type\"}}{{index . 1}}{{end}}{{end}}";

fn parse_docker_facts(out: &str) -> Option<Facts> {
    let mut words = out.split_whitespace();
    let version = words.next().filter(|v| plausible_version(v))?;
    let store = match words.next() {
        Some(t) if t.starts_with("io.containerd.snapshotter") => ImageStore::DockerContainerd,
        _ => ImageStore::DockerClassic,
    };
    Some(Facts {
        version: version.to_string(),
        store,
    })
}

/// Whether `arch` can run here: natively, or through a registered emulator.
pub(crate) fn can_run(arch: Arch, host: Arch) -> Emulation {
    if arch == host {
        return Emulation::Native;
    }
    let entry = Path::new("/proc/sys/fs/binfmt_misc").join(format!("qemu-{}", arch.qemu_name()));
    match crate::core::fs::read_text(&entry, "the binfmt_misc entry") {
        Ok(t) if t.lines().next() == Some("enabled") => Emulation::Registered,
        _ => Emulation::Missing(entry),
    }
}

/// How an architecture runs here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Emulation {
    /// The host's own.
    Native,
    /// Through qemu-user-static via binfmt_misc.
    Registered,
    /// Not runnable: the binfmt_misc entry that is missing or disabled.
    Missing(PathBuf),
}

/// The command that registers emulation for `arch`, for messages.
pub(crate) fn emulation_fix(arch: Arch) -> String {
    let name = arch.qemu_name();
    format!(
        "apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-{name}"
    )
}

/// Whether an engine answers `info` (for podman: its storage and runtime
/// work; for docker: the daemon is reachable). Used by `doctor`.
pub(crate) fn engine_alive(engine: &Engine) -> Result<(), ProcessError> {
    let args: &[&str] = match engine.kind {
        EngineKind::Podman => &["info", "--format", "{{.Host.Arch}}"],
        EngineKind::Docker => &["info", "--format", "{{.Architecture}}"],
    };
    Cmd::new(&engine.program)
        .args(args.iter().copied())
        .run_timeout(Some(Duration::from_secs(20)))
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_remembered_for_this_boot() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cached_machine(dir.path()), None);
        remember_machine(dir.path(), "aarch64");
        assert_eq!(cached_machine(dir.path()).as_deref(), Some("aarch64"));
        // Another boot is another key.
        let body = std::fs::read_to_string(dir.path().join("engine-versions.txt")).unwrap();
        assert!(
            body.contains(&format!("{}\t", machine_key().unwrap())),
            "{body}"
        );
    }

    #[test]
    fn a_client_that_cannot_build_is_remembered_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("docker");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        assert_eq!(cached_front(&bin, dir.path()), None);
        remember_front(&bin, dir.path(), Err(28));
        assert_eq!(cached_front(&bin, dir.path()), Some(Err(28)));
        remember_front(&bin, dir.path(), Ok(BuildFront::DockerBuildx));
        assert_eq!(
            cached_front(&bin, dir.path()),
            Some(Ok(BuildFront::DockerBuildx))
        );
        // Another binary at that path (a new client) is asked again.
        std::fs::write(&bin, "#!/bin/sh\n# newer\n").unwrap();
        assert_eq!(cached_front(&bin, dir.path()), None);
    }

    #[test]
    fn debian_12_engines() {
        let p = from_version(
            EngineKind::Podman,
            BuildFront::Podman,
            "4.3.1",
            ImageStore::DockerClassic,
        );
        assert!(!p.heredoc && !p.buildplatform_in_from && !p.secret_env && p.ssh_mount);
        let d = from_version(
            EngineKind::Docker,
            BuildFront::DockerBuildKit,
            "20.10.24+dfsg1",
            ImageStore::DockerClassic,
        );
        assert!(!d.heredoc && d.buildplatform_in_from && !d.secret_env && !d.buildx);
        let d = from_version(
            EngineKind::Docker,
            BuildFront::DockerBuildx,
            "27.3.1",
            ImageStore::DockerClassic,
        );
        assert!(d.heredoc && d.secret_env && d.buildx && d.manifest);
        assert_eq!(major_minor("20.10.24+dfsg1"), (20, 10));
        assert_eq!(d.bind_keying, BindKeying::ALL);
    }

    #[test]
    fn docker_store_from_info() {
        let f = parse_docker_facts("28.5.2+dfsg4 io.containerd.snapshotter.v1\n").unwrap();
        assert_eq!(f.store, ImageStore::DockerContainerd);
        assert_eq!(f.version, "28.5.2+dfsg4");
        let f = parse_docker_facts("20.10.24+dfsg1 \n").unwrap();
        assert_eq!(f.store, ImageStore::DockerClassic);
        assert_eq!(parse_docker_facts(""), None);
        assert_eq!(Facts::parse(&f.line()), Some(f));
    }

    #[test]
    fn bind_mount_keying_by_podman_release() {
        let k = |v| {
            from_version(
                EngineKind::Podman,
                BuildFront::Podman,
                v,
                ImageStore::DockerClassic,
            )
            .bind_keying
        };
        let old = k("4.3.1");
        assert!(!old.context && !old.image && !old.stage && !old.typeless && !old.stage_fresh);
        let ubuntu = k("4.9.3");
        assert!(!ubuntu.context && ubuntu.stage_fresh);
        let fixed = k("5.4.0");
        assert!(fixed.context && fixed.image && !fixed.typeless && !fixed.stage);
        assert!(!k("5.3.2").context);
    }

    #[test]
    fn only_whole_plausible_cache_lines_count() {
        let text = "/usr/bin/podman|1|2\t4.3.1 podman\n/usr/bin/docker|3|4|unix:///d.sock|\t28.5.2 containerd\n/usr/bin/x|5|6\t4.";
        let version = |key| cached_entry(text, key).map(|f| f.version);
        assert_eq!(version("/usr/bin/podman|1|2").as_deref(), Some("4.3.1"));
        assert_eq!(
            cached_entry(text, "/usr/bin/docker|3|4|unix:///d.sock|").map(|f| f.store),
            Some(ImageStore::DockerContainerd)
        );
        assert_eq!(
            cached_entry("/b|1|1\t4.3.1\n", "/b|1|1"),
            None,
            "an entry of an older cache (no store) is asked again"
        );
        assert_eq!(
            cached_entry(text, "/usr/bin/x|5|6"),
            None,
            "a truncated last line"
        );
        assert_eq!(cached_entry("/b|1|1\tgarbage\n", "/b|1|1"), None);
        assert_eq!(cached_entry("/b|1|1\t4\n", "/b|1|1"), None);
        for bad in [
            "99999999999999999999.0.0",
            "4.3.1 extra",
            "4..1",
            "4.3.1.2",
            "v4.3",
        ] {
            assert!(!plausible_version(bad), "{bad}");
        }
        for good in ["4.3.1", "5.8", "28.5.2", "20.10.24+dfsg1", "5.0.0-dev"] {
            assert!(plausible_version(good), "{good}");
        }
    }
}
