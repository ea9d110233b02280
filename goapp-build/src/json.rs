//! `--json`: what a run did, as one JSON document on stdout, for scripts and
//! CI. The shapes here are a contract (documented in `docs/JSON.md`, version
//! [`VERSION`]), kept apart from the typed results they are made from so
//! that an internal change does not silently change what scripts read.

use crate::build::index::{IndexResult, IndexStatus};
use crate::build::{BuildResult, Builds, Status};
use crate::go::version::GoVersion;
use crate::process::error::{Failure, ProcessError};
use crate::push::{PushReport, PushStatus};
use crate::ship::{HostResult, ShipReport};
use serde::Serialize;
use std::time::Duration;

/// The format's version: bumped when a field changes meaning or goes away
/// (new fields may appear without a bump).
pub(crate) const VERSION: u32 = 1;

/// The document of a run: which command, whether it succeeded, and what it did.
#[derive(Serialize, Debug, Default)]
pub struct Document {
    /// The format's version (`VERSION` in this module).
    pub version: u32,
    /// `image`, `ship`, `go-version`.
    pub command: &'static str,
    /// Whether the command succeeded (its exit code is 0).
    pub ok: bool,
    /// Why it did not, when it stopped as a whole (a config error, a failed build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per app and architecture.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// One per app built for several architectures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifest_lists: Vec<ManifestList>,
    /// One per node (`ship`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
    /// One per app (`go-version`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub go_versions: Vec<AppGo>,
    /// The registry (`push`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// One per image and shared name pushed (`push`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<Pushed>,
    /// With `--dry-run`: the plan, exactly the lines `--dry-run` prints
    /// (commands a POSIX shell runs, and `#` comments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<String>>,
}

/// One push.
#[derive(Serialize, Debug)]
pub struct Pushed {
    /// The app.
    pub app: String,
    /// `amd64`, …; null for the name every architecture shares.
    pub arch: Option<String>,
    /// The local image or manifest list.
    pub local: String,
    /// Where it went: `registry.lan:5000/api:1.0.0-amd64`.
    pub remote: String,
    /// `pushed`, `planned` (`--dry-run`), `failed`.
    pub status: &'static str,
    /// Seconds it took.
    pub duration_secs: Option<f64>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// One image.
#[derive(Serialize, Debug)]
pub struct Image {
    /// The app.
    pub app: String,
    /// `amd64`, `arm64`, …
    pub arch: String,
    /// As named: `api:1.0.0-amd64`.
    pub image: String,
    /// As the engine stores it: `localhost/api:1.0.0-amd64`.
    pub reference: String,
    /// `sha256:…`, when the image is in the store.
    pub id: Option<String>,
    /// The manifest digest, when the engine keeps one (podman does).
    pub digest: Option<String>,
    /// `built`, `up_to_date`, `failed`, `unstartable` (built, cannot
    /// start: its name taken off), `planned` (`--dry-run`), `stale`
    /// (`--no-build`).
    pub status: &'static str,
    /// Seconds the build took, when one ran.
    pub duration_secs: Option<f64>,
    /// The build's log, when one ran.
    pub log: Option<String>,
    /// The hash of everything that decides the image (its label).
    pub inputs: String,
    /// How the build failed.
    pub error: Option<ProcessFailure>,
    /// Why the image cannot start, with the fix (status `unstartable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unstartable: Option<String>,
}

/// A failed process.
#[derive(Serialize, Debug)]
pub struct ProcessFailure {
    /// The command line, shell-quoted, secrets redacted.
    pub command: String,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// What went wrong otherwise (not started, timed out, killed).
    pub detail: Option<String>,
    /// The last lines it wrote.
    pub tail: String,
}

/// One app's manifest list.
#[derive(Serialize, Debug)]
pub struct ManifestList {
    /// The app.
    pub app: String,
    /// `api:1.0.0`.
    pub image: String,
    /// `localhost/api:1.0.0`.
    pub reference: String,
    /// The architectures it lists.
    pub arches: Vec<String>,
    /// `made`, `up_to_date`, `planned`, `unsupported` (docker), `failed`.
    pub status: &'static str,
    /// Why it failed.
    pub reason: Option<String>,
}

/// One node of `ship`.
#[derive(Serialize, Debug)]
pub struct Host {
    /// Its name in the config.
    pub host: String,
    /// `sent`, `pulled` (from a registry), `skipped` (it holds the image
    /// already), `retagged` (it held the image under one name: names and
    /// pins set, nothing sent), `failed`.
    pub status: &'static str,
    /// The image, as the node names it.
    pub image: Option<String>,
    /// The image id it holds now (or held already).
    pub id: Option<String>,
    /// Bytes sent over ssh (after leaving out blobs and compressing).
    pub bytes_sent: u64,
    /// Seconds from the start of the upload to the end of the import.
    pub duration_secs: Option<f64>,
    /// How the stream was compressed.
    pub compression: Option<String>,
    /// Blobs left out because the node held them.
    pub reused_blobs: usize,
    /// The names the image has on the node now (sent, pulled, retagged,
    /// skipped): `REPO:TAG-<arch>` and `REPO:TAG`.
    pub names: Vec<String>,
    /// Pinned against the kubelet's image garbage collection (containerd,
    /// k3s; false where the store has no pins: docker, podman).
    pub pinned: bool,
    /// `k3s-dir`: the archive written for k3s to import.
    pub file: Option<String>,
    /// `pulled`: where from (`registry.lan:5000/api:1.0.0-arm64`).
    pub pulled_from: Option<String>,
    /// Why it failed: one sentence, then details.
    pub reason: Option<String>,
}

/// One app's Go version.
#[derive(Serialize, Debug)]
pub struct AppGo {
    /// The app.
    pub app: String,
    /// `1.25.4`.
    pub go_version: String,
}

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Built => "built",
        Status::UpToDate => "up_to_date",
        Status::Planned => "planned",
        Status::Stale => "stale",
        Status::Failed => "failed",
        Status::Unstartable => "unstartable",
    }
}

impl From<&ProcessError> for ProcessFailure {
    fn from(e: &ProcessError) -> ProcessFailure {
        let detail = match &e.failure {
            Failure::Exit(s) if s.code().is_some() => None,
            Failure::Exit(s) => Some(s.to_string()),
            Failure::Spawn(why) => Some(format!("could not start: {why}")),
            Failure::Timeout(limit) => Some(format!("stopped after {}s", limit.as_secs())),
            Failure::Io(why) => Some(why.to_string()),
        };
        ProcessFailure {
            command: e.command.clone(),
            exit_code: e.code(),
            detail,
            tail: e.stderr_tail.clone(),
        }
    }
}

impl From<&BuildResult> for Image {
    fn from(r: &BuildResult) -> Image {
        Image {
            app: r.app.clone(),
            arch: r.arch.name().to_string(),
            image: r.image.to_string(),
            reference: r.reference.clone(),
            id: r.id().map(str::to_string),
            digest: r.local.as_ref().and_then(|l| l.digest.clone()),
            status: status(r.status),
            duration_secs: secs(r.elapsed),
            log: r.log.as_ref().map(|l| l.display().to_string()),
            inputs: r.inputs.clone(),
            error: r.error.as_ref().map(ProcessFailure::from),
            unstartable: r.unstartable.clone(),
        }
    }
}

impl From<&IndexResult> for ManifestList {
    fn from(i: &IndexResult) -> ManifestList {
        let (status, reason) = match &i.status {
            IndexStatus::Made => ("made", None),
            IndexStatus::UpToDate => ("up_to_date", None),
            IndexStatus::Planned => ("planned", None),
            IndexStatus::Unsupported => ("unsupported", None),
            IndexStatus::Failed { reason, .. } => ("failed", Some(reason.clone())),
            IndexStatus::Withheld { reason } => ("withheld", Some(reason.clone())),
        };
        ManifestList {
            app: i.app.clone(),
            image: i.image.to_string(),
            reference: i.reference.clone(),
            arches: i.arches.iter().map(|a| a.name().to_string()).collect(),
            status,
            reason,
        }
    }
}

impl Host {
    fn new(host: &str, r: &HostResult) -> Host {
        let failed = Host::failed(host);
        match r {
            HostResult::Sent {
                image,
                id,
                bytes,
                secs,
                reused,
                compression,
                names,
                pinned,
                file,
            } => Host {
                id: Some(id.clone()).filter(|i| !i.is_empty()),
                file: file.clone(),
                bytes_sent: *bytes,
                duration_secs: Some(rounded(*secs)),
                compression: Some(compression.clone()),
                reused_blobs: *reused,
                ..failed.holding("sent", image, id, names, *pinned)
            },
            HostResult::Skipped {
                image,
                id,
                names,
                pinned,
            } => failed.holding("skipped", image, id, names, *pinned),
            HostResult::Pulled {
                image,
                id,
                remote,
                secs,
                names,
                pinned,
            } => Host {
                pulled_from: Some(remote.clone()),
                duration_secs: Some(rounded(*secs)),
                ..failed.holding("pulled", image, id, names, *pinned)
            },
            HostResult::Retagged {
                image,
                id,
                names,
                pinned,
            } => failed.holding("retagged", image, id, names, *pinned),
            HostResult::Failed { reason, .. } => Host {
                reason: Some(reason.clone()),
                ..failed
            },
        }
    }

    /// A failed host with no details: what every other status starts from.
    fn failed(host: &str) -> Host {
        Host {
            host: host.to_string(),
            status: "failed",
            image: None,
            id: None,
            bytes_sent: 0,
            duration_secs: None,
            compression: None,
            reused_blobs: 0,
            names: Vec::new(),
            pinned: false,
            file: None,
            pulled_from: None,
            reason: None,
        }
    }

    /// This host with `status`, holding `image` as `id` under `names`.
    fn holding(
        self,
        status: &'static str,
        image: &str,
        id: &str,
        names: &[String],
        pinned: bool,
    ) -> Host {
        Host {
            status,
            image: Some(image.to_string()),
            id: Some(id.to_string()),
            names: names.to_vec(),
            pinned,
            ..self
        }
    }
}

/// Seconds to the millisecond, as the document shows them.
fn rounded(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

impl Document {
    /// A document for `command`; `error` says why it stopped, if it did.
    pub fn new(command: &'static str, error: Option<String>) -> Document {
        Document {
            version: VERSION,
            command,
            ok: error.is_none(),
            error,
            ..Document::default()
        }
    }

    /// Adds the plan `--dry-run` printed (`text`, one line each).
    pub fn with_plan(mut self, text: &str) -> Document {
        self.plan = Some(text.lines().map(str::to_string).collect());
        self
    }

    /// Adds a build's images and manifest lists.
    pub fn with_builds(mut self, b: &Builds) -> Document {
        self.images = b.results.iter().map(Image::from).collect();
        self.manifest_lists = b.indexes.iter().map(ManifestList::from).collect();
        self.ok &= b
            .results
            .iter()
            .all(|r| !matches!(r.status, Status::Failed | Status::Unstartable));
        self
    }

    /// Adds `ship`'s nodes (and, when known, the images it shipped).
    pub fn with_ship(mut self, r: &ShipReport) -> Document {
        if let Some(b) = &r.builds {
            self = self.with_builds(b);
        }
        self.hosts = r.hosts.iter().map(|(h, res)| Host::new(h, res)).collect();
        self.ok &= !r.failed();
        self
    }

    /// Adds `push`'s images (and the builds they came from).
    pub fn with_push(mut self, r: &PushReport) -> Document {
        if let Some(b) = &r.builds {
            self = self.with_builds(b);
        }
        self.registry = Some(r.registry.address.clone());
        self.pushed = r
            .pushed
            .iter()
            .map(|(step, status)| {
                let (status, secs, reason) = match status {
                    PushStatus::Pushed { secs } => {
                        ("pushed", Some((secs * 1000.0).round() / 1000.0), None)
                    }
                    PushStatus::Planned => ("planned", None, None),
                    PushStatus::Failed { reason, .. } => ("failed", None, Some(reason.clone())),
                };
                Pushed {
                    app: step.app.clone(),
                    arch: step.arch.map(|a| a.name().to_string()),
                    local: step.local.clone(),
                    remote: step.remote.clone(),
                    status,
                    duration_secs: secs,
                    reason,
                }
            })
            .collect();
        self.ok &= r.failures() == 0;
        self
    }

    /// Adds Go versions, one per app.
    pub fn with_go(mut self, versions: &[(String, GoVersion)]) -> Document {
        self.go_versions = versions
            .iter()
            .map(|(app, v)| AppGo {
                app: app.clone(),
                go_version: v.to_string(),
            })
            .collect();
        self
    }

    /// The document, pretty-printed.
    pub fn render(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            format!(
                "{{\"version\": {VERSION}, \"ok\": false, \"error\": \"cannot write JSON: {e}\"}}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_is_still_one_document() {
        let d = Document::new("image", Some("no app named 'x'".into()));
        let v: serde_json::Value = serde_json::from_str(&d.render()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"], "no app named 'x'");
        assert!(v.get("images").is_none());
    }

    #[test]
    fn hosts_say_what_happened() {
        let report = ShipReport {
            hosts: vec![
                (
                    "pi".into(),
                    HostResult::Sent {
                        image: "localhost/a:1-arm64".into(),
                        id: "sha256:cd".into(),
                        bytes: 2048,
                        secs: 1.23456,
                        reused: 2,
                        compression: "zstd -3".into(),
                        names: vec!["localhost/a:1-arm64".into(), "localhost/a:1".into()],
                        pinned: true,
                        file: None,
                    },
                ),
                (
                    "pi2".into(),
                    HostResult::Skipped {
                        image: "localhost/a:1-arm64".into(),
                        id: "sha256:ab".into(),
                        names: vec!["localhost/a:1-arm64".into(), "localhost/a:1".into()],
                        pinned: true,
                    },
                ),
                (
                    "pi3".into(),
                    HostResult::failed("cannot reach pi3 over ssh"),
                ),
            ],
            builds: None,
        };
        let d = Document::new("ship", None).with_ship(&report);
        let v: serde_json::Value = serde_json::from_str(&d.render()).unwrap();
        assert_eq!(v["ok"], false);
        let h = &v["hosts"];
        assert_eq!(
            (h[0]["status"].as_str(), h[0]["bytes_sent"].as_u64()),
            (Some("sent"), Some(2048))
        );
        assert_eq!(h[0]["duration_secs"], 1.235);
        assert_eq!(h[0]["id"], "sha256:cd");
        assert_eq!(h[0]["names"][1], "localhost/a:1");
        assert_eq!(h[0]["pinned"], true);
        assert_eq!(h[1]["status"], "skipped");
        assert_eq!(h[1]["id"], "sha256:ab");
        assert_eq!(h[1]["names"][0], "localhost/a:1-arm64");
        assert_eq!(h[1]["pinned"], true);
        assert_eq!(h[2]["reason"], "cannot reach pi3 over ssh");
    }
}
