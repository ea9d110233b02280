//! What a build run hands on: one [`BuildResult`] per image, and the
//! [`Builds`] around them (the engine holding the images, the timing). This
//! is all a consumer such as `ship` sees of the build side.

use crate::build::index::{IndexResult, IndexStatus};
use crate::build::plan::{ArchBuild, UnlockStep};
use crate::core::arch::Arch;
use crate::core::names::ImageRef;
use crate::engine::store::LocalImage;
use crate::engine::Engine;
use crate::process::command::Cmd;
use crate::process::error::ProcessError;
use anyhow::{bail, Result};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How an image ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Built by this run.
    Built,
    /// Already in the store, built from the same inputs.
    UpToDate,
    /// Would be built ([`super::Policy::PlanOnly`]): nothing was asked.
    Planned,
    /// Missing or built from other inputs, and not built
    /// ([`super::Policy::RefuseIfStale`]).
    Stale,
    /// Its build failed: see [`BuildResult::error`].
    Failed,
    /// Built, but it cannot start (see [`BuildResult::unstartable`]): its
    /// name was taken off so nothing ships or skips it as up to date.
    Unstartable,
}

/// One image of one app for one architecture.
#[derive(Clone, Debug)]
pub struct BuildResult {
    /// The app.
    pub app: String,
    /// The architecture it is built for.
    pub arch: Arch,
    /// As named: `joke:0.0.3-arm64`.
    pub image: ImageRef,
    /// As the engine stores it: `localhost/joke:0.0.3-arm64`
    /// ([`crate::engine::Engine::stored`] of `image`).
    pub reference: String,
    /// The name every architecture's image shares: `joke:0.0.3`.
    pub index_image: ImageRef,
    /// That name as the engine stores it: `localhost/joke:0.0.3`. On a
    /// node, `ship` leaves the node's own architecture's image under it.
    pub index_reference: String,
    /// How it ended up.
    pub status: Status,
    /// The hash of everything that decides the image (its label).
    pub inputs: String,
    /// The image in the local store, when it is there.
    pub local: Option<LocalImage>,
    /// The build command: run, or to run.
    pub command: Cmd,
    /// How long the build took, when it ran.
    pub elapsed: Option<Duration>,
    /// The build's log, when it ran.
    pub log: Option<PathBuf>,
    /// Why it failed.
    pub error: Option<ProcessError>,
    /// Why it cannot start, with the fix (status [`Status::Unstartable`]).
    pub unstartable: Option<String>,
}

impl BuildResult {
    pub(super) fn planned(app: &str, b: &ArchBuild, engine: &Engine) -> BuildResult {
        BuildResult {
            app: app.to_string(),
            arch: b.arch,
            reference: engine.stored(&b.image),
            image: b.image.clone(),
            index_reference: engine.stored(&b.index_image),
            index_image: b.index_image.clone(),
            status: Status::Planned,
            inputs: b.inputs.clone(),
            local: None,
            command: b.cmd.clone(),
            elapsed: None,
            log: None,
            error: None,
            unstartable: None,
        }
    }

    /// The image id (`sha256:…`), when the image is in the store.
    pub fn id(&self) -> Option<&str> {
        self.local.as_ref().map(|l| l.id.as_str())
    }

    /// The architecture recorded in the image, when it is in the store.
    pub fn recorded_arch(&self) -> Option<Arch> {
        self.local.as_ref().and_then(|l| l.arch)
    }
}

#[cfg(test)]
impl BuildResult {
    /// A result for tests: `<app>:1-<arch>` as podman names it, the status
    /// given, inputs `f00d`, nothing in the store; the `with_…` methods add.
    pub(crate) fn fixture(app: &str, arch: Arch, status: Status) -> BuildResult {
        let index = ImageRef::new(app, "1").unwrap();
        let local = crate::core::names::Domain::Localhost;
        BuildResult {
            app: app.into(),
            arch,
            image: index.for_arch(arch),
            reference: index.for_arch(arch).stored(local),
            index_image: index.clone(),
            index_reference: index.stored(local),
            status,
            inputs: "f00d".into(),
            local: None,
            command: Cmd::new("podman"),
            elapsed: None,
            log: None,
            error: None,
            unstartable: None,
        }
    }

    /// Stored under `domain` (`docker.io`, a registry) instead of `localhost`.
    pub(crate) fn with_domain(mut self, domain: &str) -> BuildResult {
        self.reference = format!("{domain}/{}", self.image);
        self.index_reference = format!("{domain}/{}", self.index_image);
        self
    }

    /// In the local store with this id, digest and label.
    pub(crate) fn with_local(
        mut self,
        id: &str,
        digest: Option<&str>,
        label: Option<&str>,
    ) -> BuildResult {
        self.local = Some(LocalImage {
            id: id.into(),
            arch: Some(self.arch),
            digest: digest.map(str::to_string),
            label: label.map(str::to_string),
        });
        self
    }

    /// Built by this command.
    pub(crate) fn with_command(mut self, cmd: Cmd) -> BuildResult {
        self.command = cmd;
        self
    }
}

/// The line `image` prints for a result.
impl fmt::Display for BuildResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.unwrap_or_default().as_secs_f64();
        match self.status {
            Status::Built => write!(f, "{}  built in {secs:.1}s", self.image),
            Status::UpToDate => write!(
                f,
                "{}  up to date (inputs unchanged; image --force rebuilds)",
                self.image
            ),
            Status::Planned => write!(f, "{}  to build: {}", self.image, self.command),
            Status::Stale => write!(
                f,
                "{}  missing or older than its inputs (not built)",
                self.image
            ),
            Status::Unstartable => write!(
                f,
                "{}  CANNOT START (built in {secs:.1}s; its name was taken off)",
                self.image
            ),
            Status::Failed => match &self.log {
                Some(log) => write!(
                    f,
                    "{}  FAILED after {secs:.1}s (log: {})",
                    self.image,
                    log.display()
                ),
                None => write!(f, "{}  FAILED after {secs:.1}s", self.image),
            },
        }
    }
}

/// Every result of a run, and what they share.
#[derive(Clone, Debug)]
pub struct Builds {
    /// The engine that built and holds the images.
    pub engine: Engine,
    /// One per app and architecture, in the order planned.
    pub results: Vec<BuildResult>,
    /// How long the builds that ran took together, when any ran.
    pub elapsed: Option<Duration>,
    /// The manifest list of each app built for several architectures
    /// (`image` and `push` make them; empty otherwise).
    pub indexes: Vec<IndexResult>,
    pub(super) unlock: Option<UnlockStep>,
    /// The engine's listing breaks on a list next to a layerless image:
    /// lists are made only when the store holds none ([`crate::engine::podstore`]).
    pub(super) guard_listing: bool,
    pub(super) sources: Sources,
}

/// Where each app's sources are, to name files in failures as the
/// repository does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sources {
    /// Each app's build context.
    pub contexts: std::collections::BTreeMap<String, PathBuf>,
    /// The directory paths are shown relative to: the config's (the
    /// monorepo's root), else the current one.
    pub root: PathBuf,
}

impl Builds {
    /// The commands still to run (planned or stale builds), one per line,
    /// after the ssh key check they need: what `--dry-run` prints.
    pub fn plan_lines(&self) -> Vec<String> {
        let todo: Vec<&BuildResult> = self
            .results
            .iter()
            .filter(|r| matches!(r.status, Status::Planned | Status::Stale))
            .collect();
        let mut lines = Vec::new();
        if let (Some(u), false) = (&self.unlock, todo.is_empty()) {
            lines.push(format!(
                "{}  # if that fails: {} (needs a terminal)",
                u.check, u.unlock
            ));
        }
        lines.extend(todo.iter().map(|r| r.command.to_string()));
        for i in &self.indexes {
            lines.extend(i.plan_lines());
        }
        lines
    }

    /// Each failure once (identical ones merged; on stderr: errors are
    /// never quiet), then one line per image, then the total when anything
    /// was built: the summary comes last.
    pub fn print(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for f in self.failures() {
            eprintln!("error: {f}");
        }
        for why in self.results.iter().filter_map(|r| r.unstartable.as_ref()) {
            eprintln!("error: {why}");
        }
        for r in &self.results {
            writeln!(out, "{r}")?;
        }
        for i in &self.indexes {
            writeln!(out, "{i}")?;
        }
        let unheld: Vec<String> = self
            .indexes
            .iter()
            .filter(|i| i.status == IndexStatus::Unsupported)
            .map(|i| i.image.to_string())
            .collect();
        if !unheld.is_empty() {
            let unheld: Vec<&str> = unheld.iter().map(String::as_str).collect();
            writeln!(out, "{}", docker_note(&unheld))?;
        }
        if let Some(t) = self.elapsed {
            writeln!(
                out,
                "total {:.1}s for {} build(s)",
                t.as_secs_f64(),
                self.ran().count()
            )?;
        }
        Ok(())
    }

    /// The failed builds, explained: the failing step, its output with
    /// repository paths, identical ones merged.
    pub fn failures(&self) -> Vec<crate::build::failure::Shown> {
        let failed: Vec<&BuildResult> = self.results.iter().filter(|r| r.error.is_some()).collect();
        let contexts = &self.sources.contexts;
        crate::build::failure::explain(
            &failed,
            |app| contexts.get(app).cloned(),
            &self.sources.root,
        )
    }

    /// An error naming every failed build (their steps are said by
    /// [`Builds::print`]).
    pub fn check(&self) -> Result<()> {
        let failures: Vec<String> = self
            .results
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| format!("{}/{}", r.app, r.arch))
            .collect();
        let unstartable: Vec<String> = self
            .results
            .iter()
            .filter(|r| r.status == Status::Unstartable)
            .map(|r| format!("{}/{}", r.app, r.arch))
            .collect();
        if failures.is_empty() && !unstartable.is_empty() {
            bail!(
                "{} of {} images cannot start ({}); why and the fix are said above (--allow-unstartable accepts images not meant to run)",
                unstartable.len(),
                self.ran().count(),
                unstartable.join(", ")
            );
        }
        if failures.is_empty() {
            let lists: Vec<String> = self
                .indexes
                .iter()
                .filter_map(|i| match &i.status {
                    IndexStatus::Failed { reason, .. } => Some(format!("{}: {reason}", i.image)),
                    _ => None,
                })
                .collect();
            if !lists.is_empty() {
                bail!("{}", lists.join("\n"));
            }
            return Ok(());
        }
        bail!(
            "{} of {} builds failed ({}); what failed is said above, the logs have the rest",
            failures.len(),
            self.ran().count(),
            failures.join(", ")
        )
    }

    /// Plans (`run` false) or makes the manifest list `REPO:TAG` of every
    /// app built for several architectures, when its images were built.
    pub fn make_indexes(&mut self, run: bool) {
        let ok = self
            .results
            .iter()
            .all(|r| r.error.is_none() && r.status != Status::Unstartable);
        if ok {
            self.indexes =
                crate::build::index::make_all(&self.engine, &self.results, run, self.guard_listing);
        }
    }

    fn ran(&self) -> impl Iterator<Item = &BuildResult> {
        self.results.iter().filter(|r| {
            matches!(
                r.status,
                Status::Built | Status::Failed | Status::Unstartable
            )
        })
    }
}

/// The note for names docker 20.10 cannot hold as a manifest list.
fn docker_note(names: &[&str]) -> String {
    let (names, verb, them) = match names {
        [one] => (format!("`{one}`"), "exists", "it"),
        many => (
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            "exist",
            "them",
        ),
    };
    format!("note: docker's classic image store cannot hold a manifest list (its containerd image store can: `\"features\": {{\"containerd-snapshotter\": true}}` in daemon.json, the default from docker 29), so {names} {verb} only where `ship` puts {them} (on each node, as that node's architecture's image) and where `push` puts {them} (in the registry, as the list)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_note_agrees_with_how_many_names_it_has() {
        assert_eq!(docker_note(&["joke:1"]), "note: docker's classic image store cannot hold a manifest list (its containerd image store can: `\"features\": {\"containerd-snapshotter\": true}` in daemon.json, the default from docker 29), so `joke:1` exists only where `ship` puts it (on each node, as that node's architecture's image) and where `push` puts it (in the registry, as the list)");
        assert!(docker_note(&["a:1", "b:1"])
            .contains("so `a:1`, `b:1` exist only where `ship` puts them"));
    }
    use crate::engine::EngineKind;
    use crate::process::error::Failure;

    fn result(arch: Arch, status: Status) -> BuildResult {
        let mut r = BuildResult::fixture("joke", arch, status).with_command(
            Cmd::new("podman")
                .args(["build", "--platform"])
                .arg(arch.platform()),
        );
        r.elapsed = Some(Duration::from_millis(1500));
        r.log = Some(format!("/c/logs/joke-{arch}.log").into());
        r
    }

    fn builds(results: Vec<BuildResult>) -> Builds {
        Builds {
            engine: Engine::fixture(EngineKind::Podman),
            results,
            elapsed: Some(Duration::from_secs(3)),
            indexes: Vec::new(),
            sources: Sources::default(),
            guard_listing: false,
            unlock: Some(UnlockStep::new(
                std::path::Path::new("/run/agent.sock"),
                std::path::Path::new("/h/.ssh/id_ed25519.pub"),
            )),
        }
    }

    #[test]
    fn lines_per_status_and_the_failures_in_one_error() {
        let mut failed = result(Arch::Arm64, Status::Failed);
        let mut e = ProcessError::new(
            "podman build --platform linux/arm64",
            Failure::Io("x".into()),
        );
        e.stderr_tail = "broken".into();
        failed.error = Some(e);
        let b = builds(vec![result(Arch::Amd64, Status::UpToDate), failed]);
        let mut out = Vec::new();
        b.print(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "joke:1-amd64  up to date (inputs unchanged; image --force rebuilds)\n\
             joke:1-arm64  FAILED after 1.5s (log: /c/logs/joke-arm64.log)\n\
             total 3.0s for 1 build(s)\n"
        );
        let err = b.check().unwrap_err().to_string();
        assert_eq!(
            err,
            "1 of 1 builds failed (joke/arm64); what failed is said above, the logs have the rest"
        );
        // Without a log to read the step from: the failure's own tail.
        let shown: Vec<String> = b.failures().iter().map(|f| f.to_string()).collect();
        assert_eq!(
            shown,
            ["joke/arm64: failed\n  broken\n  `podman build --platform linux/arm64` failed: x\n  log: /c/logs/joke-arm64.log"]
        );
    }

    #[test]
    fn plan_lines_are_the_key_check_then_what_is_left_to_build() {
        let b = builds(vec![
            result(Arch::Amd64, Status::UpToDate),
            result(Arch::Arm64, Status::Stale),
        ]);
        assert_eq!(
            b.plan_lines(),
            [
                "SSH_AUTH_SOCK=/run/agent.sock ssh-add -T /h/.ssh/id_ed25519.pub  # if that fails: SSH_AUTH_SOCK=/run/agent.sock ssh-add /h/.ssh/id_ed25519 (needs a terminal)",
                "podman build --platform linux/arm64"
            ]
        );
        let done = builds(vec![result(Arch::Amd64, Status::UpToDate)]);
        assert_eq!(
            done.plan_lines(),
            Vec::<String>::new(),
            "no key check when nothing builds"
        );
    }
}
