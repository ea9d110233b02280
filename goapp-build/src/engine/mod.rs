//! Container engines: which one to use, which binary, and how it builds.

pub(crate) mod archive;
pub(crate) mod caps;
pub(crate) mod leftovers;
pub(crate) mod ocindex;
pub(crate) mod podstore;
pub(crate) mod registry;
pub(crate) mod store;

use crate::process::command::Cmd;
use anyhow::{bail, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The engine families goapp-build drives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// podman (buildah inside), the default.
    #[default]
    Podman,
    /// docker with BuildKit.
    Docker,
}

impl EngineKind {
    /// Every kind, in the order `doctor` checks them.
    pub const ALL: [EngineKind; 2] = [EngineKind::Podman, EngineKind::Docker];

    /// What to do when the engine does not answer `info`.
    pub(crate) fn fix_when_dead(self) -> &'static str {
        match self {
            EngineKind::Docker => "start the docker daemon (systemctl start docker, or `dockerd &` as root) and check DOCKER_HOST",
            EngineKind::Podman => "run `podman info` to see what is wrong (storage, runtime, CONTAINERS_CONF)",
        }
    }

    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Podman => "podman",
            EngineKind::Docker => "docker",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<EngineKind> {
        match s.trim() {
            "podman" => Ok(EngineKind::Podman),
            "docker" => Ok(EngineKind::Docker),
            other => bail!("unknown engine '{other}': use podman or docker"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for EngineKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<EngineKind, D::Error> {
        crate::core::de::parse_str(d, "podman or docker")
    }
}

/// How an engine is asked to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildFront {
    /// `podman build` (what `podman buildx build` is an alias of).
    Podman,
    /// `docker buildx build --load`.
    DockerBuildx,
    /// `DOCKER_BUILDKIT=1 docker build`: docker clients before 23 have
    /// BuildKit built in; Debian's docker.io has no buildx plugin.
    DockerBuildKit,
}

/// Where an engine keeps its images: what a name can point at, and what
/// `image inspect` calls an image's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageStore {
    /// podman's containers-storage: manifest lists by name; the id is the
    /// config digest.
    Podman,
    /// docker's own store (graph drivers: overlay2, …): one image per name,
    /// no index; the id is the config digest.
    DockerClassic,
    /// docker's containerd image store (`containerd-snapshotter`, the
    /// default from docker 29): a name may be an index; the id is the
    /// manifest's (or index's) digest, the config digest an annotation.
    DockerContainerd,
}

impl ImageStore {
    /// As `doctor` and the compatibility table say it.
    pub fn describe(self) -> &'static str {
        match self {
            ImageStore::Podman => "containers-storage",
            ImageStore::DockerClassic => "classic store",
            ImageStore::DockerContainerd => "containerd image store",
        }
    }

    /// What an engine of `kind` has until its daemon says otherwise.
    pub(crate) fn assumed(kind: EngineKind) -> ImageStore {
        match kind {
            EngineKind::Podman => ImageStore::Podman,
            EngineKind::Docker => ImageStore::DockerClassic,
        }
    }

    /// A name can be a multi-platform index in the local store.
    pub fn holds_index(self) -> bool {
        self != ImageStore::DockerClassic
    }
}

/// A usable engine binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engine {
    /// podman or docker.
    pub kind: EngineKind,
    /// What to run: the bare name when it is the first on PATH (so printed
    /// commands paste as they are), else the full path.
    pub program: String,
    /// How it builds.
    pub front: BuildFront,
    /// Its image store (docker's daemon says which; read with its version).
    pub store: ImageStore,
}

impl Engine {
    /// An engine of `kind` as found with nothing configured (podman's own
    /// front, docker's BuildKit, the store assumed before the daemon is
    /// asked): the one fixture of every layer's tests.
    #[cfg(test)]
    pub(crate) fn fixture(kind: EngineKind) -> Engine {
        Engine {
            kind,
            program: kind.name().into(),
            front: match kind {
                EngineKind::Podman => BuildFront::Podman,
                EngineKind::Docker => BuildFront::DockerBuildKit,
            },
            store: ImageStore::assumed(kind),
        }
    }

    /// A command running this engine.
    pub fn cmd(&self) -> Cmd {
        Cmd::new(&self.program)
    }

    /// The start of a build command, before the build's own flags. On an
    /// interrupt it is stopped first, with SIGINT.
    pub fn build_cmd(&self) -> Cmd {
        let cmd = match self.front {
            BuildFront::Podman => self.cmd().arg("build"),
            // No provenance attestation: with it, buildx makes every image
            // an index (docker's containerd store keeps it as one), whose
            // id is not the image's and whose `docker save` carries an
            // attestation manifest no node needs.
            BuildFront::DockerBuildx => self.cmd().args([
                "buildx",
                "build",
                "--load",
                "--provenance=false",
                "--progress=plain",
            ]),
            BuildFront::DockerBuildKit => self
                .cmd()
                .env("DOCKER_BUILDKIT", "1")
                .args(["build", "--progress=plain"]),
        };
        cmd.on_interrupt(crate::process::interrupt::Stop::Engine)
    }
}

/// Finds the engine to use. `requested` is `--engine` or the config's; with
/// none, podman if installed, else docker. The error says what to install.
/// Its image store is read with its version (cached in `cache_dir`).
pub(crate) fn detect(requested: Option<EngineKind>, cache_dir: &Path) -> Result<Engine> {
    let mut engine = find(requested, cache_dir)?;
    engine.store = caps::detect(&engine, cache_dir).store;
    Ok(engine)
}

fn find(requested: Option<EngineKind>, cache_dir: &Path) -> Result<Engine> {
    let podman = find_all("podman");
    let docker = find_all("docker");
    match requested {
        Some(EngineKind::Podman) => match podman.first() {
            Some(_) => Ok(podman_engine()),
            None => bail!("podman is not installed: install it (apt-get install podman) or choose docker with --engine docker"),
        },
        Some(EngineKind::Docker) => docker_engine(&docker, cache_dir),
        None if !podman.is_empty() => Ok(podman_engine()),
        None if !docker.is_empty() => docker_engine(&docker, cache_dir),
        None => bail!("no container engine found on PATH: install podman (apt-get install podman) or docker"),
    }
}

fn find_all(name: &str) -> Vec<PathBuf> {
    which::which_all(name)
        .map(|i| i.collect())
        .unwrap_or_default()
}

fn podman_engine() -> Engine {
    Engine {
        kind: EngineKind::Podman,
        program: "podman".into(),
        front: BuildFront::Podman,
        store: ImageStore::assumed(EngineKind::Podman),
    }
}

/// The first docker client on PATH that can build with BuildKit. Docker 23+
/// clients dropped the built-in BuildKit path of `docker build` and need the
/// buildx plugin; older clients (Debian's 20.10) have it built in.
fn docker_engine(candidates: &[PathBuf], cache_dir: &Path) -> Result<Engine> {
    let mut refused = Vec::new();
    for (i, path) in candidates.iter().enumerate() {
        let program = if i == 0 {
            "docker".to_string()
        } else {
            path.display().to_string()
        };
        let engine = |front| Engine {
            kind: EngineKind::Docker,
            program: program.clone(),
            front,
            store: ImageStore::assumed(EngineKind::Docker),
        };
        let without_buildx = |major| {
            format!(
                "{} (client {major}.x without the buildx plugin)",
                path.display()
            )
        };
        match caps::cached_front(path, cache_dir) {
            Some(Ok(front)) => return Ok(engine(front)),
            Some(Err(major)) => {
                refused.push(without_buildx(major));
                continue;
            }
            None => {}
        }
        if has_buildx(path) {
            caps::remember_front(path, cache_dir, Ok(BuildFront::DockerBuildx));
            return Ok(engine(BuildFront::DockerBuildx));
        }
        match client_major(path) {
            Some(major) if major < 23 => {
                caps::remember_front(path, cache_dir, Ok(BuildFront::DockerBuildKit));
                return Ok(engine(BuildFront::DockerBuildKit));
            }
            Some(major) => {
                caps::remember_front(path, cache_dir, Err(major));
                refused.push(without_buildx(major));
            }
            None => refused.push(format!(
                "{} (its version could not be read)",
                path.display()
            )),
        }
    }
    if refused.is_empty() {
        bail!("docker is not installed: install it (apt-get install docker.io) or use podman");
    }
    bail!(
        "no docker client on PATH can build with BuildKit: {}; install the buildx plugin (apt-get install docker-buildx) or put a docker client older than 23 first on PATH",
        refused.join(", ")
    )
}

fn has_buildx(docker: &Path) -> bool {
    Cmd::new(docker.display().to_string())
        .args(["buildx", "version"])
        .run_timeout(Some(Duration::from_secs(10)))
        .is_ok()
}

fn client_major(docker: &Path) -> Option<u32> {
    let out = Cmd::new(docker.display().to_string())
        .arg("--version")
        .run_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    parse_client_major(&String::from_utf8_lossy(&out.stdout))
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → `20.10.24+dfsg1`;
/// `podman version 4.3.1` → `4.3.1`.
pub(crate) fn parse_version(version_line: &str) -> Option<String> {
    let v = version_line.split("version").nth(1)?.trim_start();
    let v = v.split([',', ' ', '\n']).next()?;
    (!v.is_empty()).then(|| v.to_string())
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → 20.
pub(crate) fn parse_client_major(version_line: &str) -> Option<u32> {
    parse_version(version_line)?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_client_versions() {
        assert_eq!(
            parse_client_major("Docker version 20.10.24+dfsg1, build 297e128"),
            Some(20)
        );
        assert_eq!(
            parse_client_major("Docker version 28.2.2, build e6534b4"),
            Some(28)
        );
        assert_eq!(parse_client_major("garbage"), None);
        assert_eq!(
            parse_version("podman version 4.3.1\n").as_deref(),
            Some("4.3.1")
        );
        assert_eq!(
            parse_version("Docker version 20.10.24+dfsg1, build 297e128").as_deref(),
            Some("20.10.24+dfsg1")
        );
    }

    #[test]
    fn build_fronts() {
        let e = Engine {
            kind: EngineKind::Docker,
            program: "docker".into(),
            front: BuildFront::DockerBuildKit,
            store: ImageStore::DockerClassic,
        };
        assert_eq!(
            e.build_cmd().to_string(),
            "DOCKER_BUILDKIT=1 docker build --progress=plain"
        );
        let e = Engine {
            front: BuildFront::DockerBuildx,
            ..e
        };
        assert_eq!(
            e.build_cmd().to_string(),
            "docker buildx build --load --provenance=false --progress=plain"
        );
        assert_eq!(podman_engine().build_cmd().to_string(), "podman build");
        assert!("buildah".parse::<EngineKind>().is_err());
    }
}
