//! What an interrupted podman build leaves, and removing it. podman 4.3.1
//! exits at once on SIGINT or SIGTERM (measured: 8 ms) without cleaning up:
//! its build's working containers stay (a two-architecture build leaves
//! 14–22), each with the build's arguments in its `buildah.json` — a proxy
//! password included — and the process of a `RUN` step keeps running, in a
//! session of its own (outside our process groups), under the runtime.
//!
//! Ours are told from the rest of a shared engine precisely:
//! - every podman build of a run carries `--add-host <mark>:127.0.0.1`
//!   ([`Engine::build_mark`], part of the plan), which buildah records in each working
//!   container's `buildah.json` (a line in `/etc/hosts` during `RUN`, nothing
//!   in the image, no effect on the layer cache);
//! - the runtime container of a `RUN` step is `buildah-<bundle>`, its
//!   bundle a directory in the `TMPDIR` buildah was given: our run directory.
//!
//! The same removal serves an interrupt of this run and, at the next run,
//! runs that ended without cleaning up (killed, or a second Ctrl-C).

use crate::engine::{Engine, EngineKind};
use crate::process::command::Cmd;
use crate::process::interrupt::{self, Hook, Stage};
use crate::process::rundir::{self, DeadRun};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address of the mark's host entry: any valid one (nothing uses it).
const MARK_ADDRESS: &str = "127.0.0.1";

/// How long one clean-up command may take.
const LIMIT: Option<Duration> = Some(Duration::from_secs(15));

impl Engine {
    /// The arguments that mark a build as this run's: podman builds get
    /// `--add-host <mark>:127.0.0.1` once interrupts are handled. Part of
    /// the plan (`--dry-run` prints it): it says which run built, not what,
    /// so it is no input of the image.
    pub(crate) fn build_mark(&self) -> Vec<String> {
        if self.kind != EngineKind::Podman || !interrupt::installed() {
            return Vec::new();
        }
        mark_args(rundir::mark())
    }
}

fn mark_args(mark: &str) -> Vec<String> {
    vec!["--add-host".to_string(), format!("{mark}:{MARK_ADDRESS}")]
}

/// buildah keeps `RUN --mount=type=cache` directories under its `TMPDIR`
/// (`buildah-cache`; `buildah-cache-<uid>` in later releases). With the run
/// directory as `TMPDIR` they would go with it and every build would start
/// cold, so they stay where buildah keeps them without us (the caller's
/// `TMPDIR`, else `/var/tmp`): the run directory links to the ones there
/// ([`keep_build_caches`]), and one buildah made anew in the run directory
/// is moved there at the end ([`save_build_caches`]). Nothing is created
/// that buildah would not have made.
fn cache_names() -> [String; 2] {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    ["buildah-cache".to_string(), format!("buildah-cache-{uid}")]
}

/// Links the run directory to the build caches that exist.
pub(crate) fn keep_build_caches(engine: &Engine) {
    if engine.kind != EngineKind::Podman {
        return;
    }
    let Some(dir) = rundir::dir() else { return };
    for name in cache_names() {
        let (target, link) = (rundir::base().join(&name), dir.join(&name));
        if target.is_dir() && link.symlink_metadata().is_err() {
            let _ = std::os::unix::fs::symlink(&target, &link);
        }
    }
}

/// Moves a build cache buildah made in the run directory `dir` to where
/// later runs link to it.
pub(crate) fn save_build_caches(dir: &Path) {
    for name in cache_names() {
        let made = dir.join(&name);
        let is_dir = made.symlink_metadata().is_ok_and(|m| m.is_dir());
        let target = rundir::base().join(&name);
        if is_dir && target.symlink_metadata().is_err() {
            let _ = std::fs::rename(&made, &target);
        }
    }
}

/// On an interrupt, removes what this run's podman builds left; `None` for
/// docker (BuildKit cancels a build whose client is gone, and removes its
/// containers itself: measured) or without interrupt handling.
pub(crate) fn on_interrupt(engine: &Engine) -> Option<Hook> {
    if engine.kind != EngineKind::Podman || !interrupt::installed() {
        return None;
    }
    let engine = engine.clone();
    Some(interrupt::on_interrupt(Stage::Engine, move || {
        let Some(dir) = rundir::dir() else {
            return Vec::new();
        };
        let run = DeadRun {
            dir: dir.to_path_buf(),
            mark: rundir::mark().to_string(),
        };
        let removed = remove(&engine, &[run]).describe();
        save_build_caches(dir);
        removed
    }))
}

/// Removes what runs that ended without cleaning up left: their `RUN`
/// processes, working containers and run directories. Says so when there
/// was anything.
pub(crate) fn sweep_ended_runs(engine: &Engine) {
    if engine.kind != EngineKind::Podman {
        return;
    }
    let ended = rundir::dead_runs();
    if ended.is_empty() {
        return;
    }
    let removed = remove(engine, &ended);
    for run in &ended {
        save_build_caches(&run.dir);
        rundir::remove_tree(&run.dir);
    }
    let mut said = removed.describe();
    said.push(format!("{} run directory(ies)", ended.len()));
    crate::core::ui::note(&format!(
        "goapp: cleaned up after {} interrupted run(s): {}",
        ended.len(),
        said.join(", ")
    ));
}

/// What [`remove`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Removed {
    /// `RUN` processes stopped (their runtime containers deleted).
    processes: usize,
    /// Working containers removed.
    containers: usize,
}

impl Removed {
    fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.processes > 0 {
            out.push(format!(
                "stopped {} RUN step(s) the engine left running",
                self.processes
            ));
        }
        if self.containers > 0 {
            out.push(format!(
                "removed {} working container(s) the engine left",
                self.containers
            ));
        }
        out
    }
}

/// Deletes the runtime containers whose bundles are in the runs'
/// directories, then the working containers carrying the runs' marks.
fn remove(engine: &Engine, runs: &[DeadRun]) -> Removed {
    let mut removed = Removed::default();
    let ids: Vec<String> = runs
        .iter()
        .flat_map(|r| bundles(&r.dir))
        .map(|b| format!("buildah-{b}"))
        .collect();
    let marks: Vec<&str> = runs.iter().map(|r| r.mark.as_str()).collect();
    for runtime in ["runc", "crun"] {
        let mut ids = live_runtime_containers(runtime, &ids);
        // A run killed during a `RUN` leaves the runtime's record of the
        // step's container, its bundle (in that run's directory) gone.
        ids.extend(records_in_runs(runtime, &marks));
        ids.sort();
        ids.dedup();
        for id in ids {
            let delete = Cmd::new(runtime).args(["delete", "--force", &id]);
            if delete.run_timeout(LIMIT).is_ok() {
                removed.processes += 1;
            }
        }
    }
    let ids = marked_containers(engine, &marks);
    if !ids.is_empty() {
        let rm = engine
            .cmd()
            .args(["rm", "--force"])
            .args(ids.iter().cloned());
        if rm.run_timeout(LIMIT).is_ok() {
            removed.containers = ids.len();
        }
    }
    removed
}

/// Which of `ids` the OCI runtime `runtime` (when installed) still holds.
fn live_runtime_containers(runtime: &str, ids: &[String]) -> Vec<String> {
    if ids.is_empty() || which::which(runtime).is_err() {
        return Vec::new();
    }
    let Ok(out) = Cmd::new(runtime).args(["list", "-q"]).run_timeout(LIMIT) else {
        return Vec::new();
    };
    let listed = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = listed.lines().map(str::trim).collect();
    ids.iter()
        .filter(|id| listed.contains(&id.as_str()))
        .cloned()
        .collect()
}

/// The containers the OCI runtime still records whose bundle lies in the
/// directory of one of the runs marked `marks`.
fn records_in_runs(runtime: &str, marks: &[&str]) -> Vec<String> {
    if marks.is_empty() || which::which(runtime).is_err() {
        return Vec::new();
    }
    let Ok(out) = Cmd::new(runtime)
        .args(["list", "--format", "json"])
        .run_timeout(LIMIT)
    else {
        return Vec::new();
    };
    in_runs(&String::from_utf8_lossy(&out.stdout), marks)
}

/// The ids of `runc list --format json` entries whose bundle path has a
/// component starting with one of `marks` (`goapp-run-<pid>-<start>-…`).
fn in_runs(json: &str, marks: &[&str]) -> Vec<String> {
    let Ok(serde_json::Value::Array(all)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    all.iter()
        .filter_map(|c| {
            let bundle = c["bundle"].as_str()?;
            let ours = Path::new(bundle).components().any(|p| {
                let p = p.as_os_str().to_string_lossy();
                marks.iter().any(|m| p.starts_with(&format!("{m}-")))
            });
            ours.then(|| c["id"].as_str().map(str::to_string)).flatten()
        })
        .collect()
}

/// The bundle directories buildah made in `dir` (`buildah<digits>`).
fn bundles(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_bundle(n))
        .collect()
}

fn is_bundle(name: &str) -> bool {
    name.strip_prefix("buildah")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The ids of the working containers whose `buildah.json` carries one of
/// `marks`. podman cannot list a buildah container's build options, so the
/// store's own records are read (`<graphroot>/<driver>-containers/<id>/userdata`).
fn marked_containers(engine: &Engine, marks: &[&str]) -> Vec<String> {
    let Some(dir) = containers_dir(engine) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let needles: Vec<String> = marks
        .iter()
        .map(|m| format!("\"{m}:{MARK_ADDRESS}\""))
        .collect();
    entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().into_string().ok()?;
            let texts = records(&e.path().join("userdata"));
            texts
                .iter()
                .any(|t| needles.iter().any(|n| t.contains(n.as_str())))
                .then_some(id)
        })
        .collect()
}

/// A working container's `buildah.json` and any `.tmp-buildah.json*` left
/// beside it: buildah writes the record to a temp name, then renames it, so
/// a build stopped in between leaves only the temp file (measured: a
/// two-arch build interrupted as a step starts), which holds the mark and
/// the build's arguments — a proxy password among them.
fn records(userdata: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(userdata) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| is_record(&e.file_name().to_string_lossy()))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

fn is_record(name: &str) -> bool {
    name == "buildah.json" || name.starts_with(".tmp-buildah.json")
}

/// Where the engine's store keeps its containers' records.
fn containers_dir(engine: &Engine) -> Option<PathBuf> {
    let out = engine
        .cmd()
        .args([
            "info",
            "--format",
            "{{.Store.GraphRoot}}\t{{.Store.GraphDriverName}}",
        ])
        .run_timeout(LIMIT)
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (root, driver) = text.trim().split_once('\t')?;
    Some(Path::new(root).join(format!("{driver}-containers")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_left_half_written_is_read_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".tmp-buildah.json725585966"), "m1").unwrap();
        std::fs::write(dir.path().join("buildah.json"), "m2").unwrap();
        std::fs::write(dir.path().join("other.json"), "m3").unwrap();
        let mut got = records(dir.path());
        got.sort();
        assert_eq!(got, ["m1", "m2"]);
    }

    #[test]
    fn runtime_records_of_ended_runs() {
        let json = r#"[{"id":"buildah-buildah1","bundle":"/var/tmp/goapp-run-12-34-abc/buildah1","status":"stopped"},
            {"id":"other","bundle":"/run/containers/x","status":"running"},
            {"id":"buildah-buildah2","bundle":"/var/tmp/goapp-run-12-345-abc/buildah2","status":"stopped"}]"#;
        assert_eq!(in_runs(json, &["goapp-run-12-34"]), ["buildah-buildah1"]);
        assert!(in_runs("null", &["goapp-run-12-34"]).is_empty());
    }

    #[test]
    fn bundle_names() {
        assert!(is_bundle("buildah98976917"));
        assert!(!is_bundle("buildah-cache"));
        assert!(!is_bundle("buildah"));
        assert!(!is_bundle("oci1784480588"));
    }

    #[test]
    fn a_podman_build_carries_the_run_mark() {
        let podman = Engine::fixture(EngineKind::Podman);
        // Without interrupt handling (unit tests) nothing is added.
        assert!(podman.build_mark().is_empty());
        assert_eq!(
            mark_args("goapp-run-12-34"),
            ["--add-host", "goapp-run-12-34:127.0.0.1"]
        );
    }
}
