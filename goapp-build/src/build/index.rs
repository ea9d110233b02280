//! One name for every architecture: with several architectures, `REPO:TAG`
//! (no suffix) becomes a local manifest list of the per-architecture images
//! on podman (`podman manifest create`) and on docker's containerd image
//! store (an index loaded with `docker load`: [`crate::engine::ocindex`]),
//! so `podman run joke:1` / `docker run joke:1` and a registry push of the
//! list name work as they do for published images. Docker's classic image
//! store cannot hold a manifest list: there the name exists only on nodes
//! (`ship`) and in registries (`push`), and the run says so once.

use crate::build::result::{BuildResult, Status};
use crate::core::arch::Arch;
use crate::core::names::ImageRef;
use crate::engine::ocindex::{self, Descriptor};
use crate::engine::{Engine, ImageStore};
use crate::process::command::{quote, Cmd};
use crate::process::error::ProcessError;
use std::time::Duration;

/// The manifest list of one app's images.
#[derive(Clone, Debug)]
pub struct IndexResult {
    /// The app.
    pub app: String,
    /// `REPO:TAG` as named.
    pub image: ImageRef,
    /// As the engine stores it: `localhost/joke:0.0.3`.
    pub reference: String,
    /// The architectures it lists, in order.
    pub arches: Vec<Arch>,
    /// How it ended up.
    pub status: IndexStatus,
    /// The commands that make it (run, or to run).
    pub commands: Vec<Cmd>,
}

/// How a manifest list ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexStatus {
    /// Made (or remade) by this run.
    Made,
    /// It already listed exactly these images.
    UpToDate,
    /// To make ([`super::Policy::PlanOnly`]): nothing was asked.
    Planned,
    /// The engine keeps no manifest lists locally (docker's classic store).
    Unsupported,
    /// Not made, so that the store stays listable: why, and the fix.
    Withheld {
        /// One sentence with the fix.
        reason: String,
    },
    /// Not made: why, and the fix.
    Failed {
        /// One sentence with the fix.
        reason: String,
        /// The process that failed, if one did.
        process: Option<Box<ProcessError>>,
    },
}

impl std::fmt::Display for IndexResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arches: Vec<&str> = self.arches.iter().map(|a| a.name()).collect();
        let arches = arches.join(", ");
        match &self.status {
            IndexStatus::Made => write!(f, "{}  manifest list of {arches}", self.image),
            IndexStatus::UpToDate => {
                write!(f, "{}  manifest list of {arches} up to date", self.image)
            }
            IndexStatus::Planned => write!(f, "{}  manifest list of {arches} to make", self.image),
            IndexStatus::Unsupported => {
                write!(
                    f,
                    "{}  no local manifest list (docker's classic store)",
                    self.image
                )
            }
            IndexStatus::Failed { reason, .. } => write!(f, "{}  FAILED: {reason}", self.image),
            IndexStatus::Withheld { reason } => {
                write!(f, "{}  no local manifest list: {reason}", self.image)
            }
        }
    }
}

impl IndexResult {
    /// The commands as `--dry-run` prints them: the removal only when a
    /// list of that name exists.
    pub fn plan_lines(&self) -> Vec<String> {
        match (&self.status, &self.commands[..]) {
            (IndexStatus::Planned, [load]) => vec![format!(
                "{load}  # an OCI layout naming {} an index of {}",
                self.reference,
                self.arches
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            (IndexStatus::Planned, [rm, create]) => vec![
                format!(
                    "{} manifest exists {} && {rm}",
                    quote(rm.program()),
                    quote(&self.reference)
                ),
                create.to_string(),
            ],
            _ => Vec::new(),
        }
    }
}

/// The images of one app that a list would hold: every result of `app`,
/// when there are several.
pub(crate) fn members<'r>(results: &'r [BuildResult], app: &str) -> Vec<&'r BuildResult> {
    let mine: Vec<&BuildResult> = results.iter().filter(|r| r.app == app).collect();
    if mine.len() > 1 {
        mine
    } else {
        Vec::new()
    }
}

/// The commands that (re)make the list `reference` of `members`: remove a
/// list of that name, then create it from the local images; on docker's
/// containerd store, load an index the tool writes (`$INDEX`).
pub(crate) fn commands(engine: &Engine, reference: &str, members: &[&BuildResult]) -> Vec<Cmd> {
    match engine.store {
        ImageStore::DockerClassic => return Vec::new(),
        ImageStore::DockerContainerd => {
            return vec![engine.cmd().args(["load", "-q", "-i"]).var_arg("INDEX")]
        }
        ImageStore::Podman => {}
    }
    let create = engine.cmd().args(["manifest", "create", reference]).args(
        members
            .iter()
            .map(|r| format!("containers-storage:{}", r.reference)),
    );
    vec![engine.cmd().args(["manifest", "rm", reference]), create]
}

/// Plans or makes the list of every app built for several architectures.
/// `run` false: only plan (nothing asked). Images that failed or were not
/// built leave their app's list alone.
/// With `guard`, no list is made while the store holds a layerless image
/// ([`crate::engine::podstore`]): podman < 4.8 could not list it then.
pub(crate) fn make_all(
    engine: &Engine,
    results: &[BuildResult],
    run: bool,
    guard: bool,
) -> Vec<IndexResult> {
    let mut apps: Vec<&str> = results.iter().map(|r| r.app.as_str()).collect();
    apps.dedup();
    apps.into_iter()
        .filter_map(|app| {
            let m = members(results, app);
            let first = m.first()?;
            let mut r = IndexResult {
                app: app.to_string(),
                image: first.index_image.clone(),
                reference: first.index_reference.clone(),
                arches: m.iter().map(|b| b.arch).collect(),
                status: IndexStatus::Planned,
                commands: commands(engine, &first.index_reference, &m),
            };
            if engine.store == ImageStore::DockerClassic {
                r.status = IndexStatus::Unsupported;
            } else if run {
                r.status = match withheld(engine, guard) {
                    Some(reason) => IndexStatus::Withheld { reason },
                    None if engine.store == ImageStore::DockerContainerd => load(engine, &r, &m),
                    None => make(engine, &r, &m),
                };
            }
            Some(r)
        })
        .collect()
}

/// Why no list may be made now, when the store holds a layerless image
/// and the engine's listing would then break.
fn withheld(engine: &Engine, guard: bool) -> Option<String> {
    if !guard {
        return None;
    }
    let mut state = crate::engine::podstore::read(engine)?;
    if state.layerless.is_empty() {
        return None;
    }
    // Say it as the store would be with this list in it.
    if state.lists.is_empty() {
        state.lists.push(crate::engine::podstore::Record {
            id: "this one".into(),
            names: Vec::new(),
        });
    }
    Some(crate::engine::podstore::explain(engine, &state))
}

/// Makes one list unless it already holds exactly the members' manifests.
fn make(engine: &Engine, r: &IndexResult, m: &[&BuildResult]) -> IndexStatus {
    if let Some(b) = m
        .iter()
        .find(|b| !matches!(b.status, Status::Built | Status::UpToDate))
    {
        return IndexStatus::Failed {
            reason: format!("left as it was: {} was not built", b.image),
            process: None,
        };
    }
    let want: Option<Vec<String>> = m
        .iter()
        .map(|b| b.local.as_ref().and_then(|l| l.digest.clone()))
        .collect();
    let limit = Some(Duration::from_secs(60));
    let held = engine
        .cmd()
        .args(["manifest", "inspect", &r.reference])
        .run_timeout(limit);
    match (&held, want) {
        (Ok(out), Some(mut want)) => {
            let mut have = digests(&String::from_utf8_lossy(&out.stdout));
            have.sort();
            want.sort();
            if have == want {
                return IndexStatus::UpToDate;
            }
        }
        (Err(_), _) => {
            let exists = engine.cmd().args(["image", "exists", &r.reference]);
            if exists.run_timeout(limit).is_ok() {
                return IndexStatus::Failed {
                    reason: format!("{} names an image that is not a manifest list: free the name with `{} untag {}`, then build again", r.reference, engine.program, r.reference),
                    process: None,
                };
            }
        }
        _ => {}
    }
    let [rm, create] = &r.commands[..] else {
        unreachable!("commands() gives two")
    };
    if held.is_ok() {
        if let Err(e) = rm.run_timeout(limit) {
            return failed(e);
        }
    }
    match create.run_timeout(limit) {
        Ok(_) => IndexStatus::Made,
        Err(e) => failed(e),
    }
}

/// docker's containerd store: loads an index of the members' manifests
/// named `r.reference`, unless the name already is exactly that index.
fn load(engine: &Engine, r: &IndexResult, m: &[&BuildResult]) -> IndexStatus {
    if let Some(b) = m
        .iter()
        .find(|b| !matches!(b.status, Status::Built | Status::UpToDate))
    {
        return failed_because(format!("left as it was: {} was not built", b.image));
    }
    let (descriptors, held) = match describe_members(engine, r, m) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let members: Vec<_> = m.iter().map(|b| b.arch).zip(descriptors).collect();
    let (blob, digest) = ocindex::index_blob(&members);
    if held.is_some_and(|h| h.digest == digest) {
        return IndexStatus::UpToDate;
    }
    let file = match write_layout(&r.reference, r.image.tag(), &blob, &digest) {
        Ok(file) => file,
        Err(e) => {
            return failed_because(format!(
                "the index for docker load could not be written: {e}"
            ))
        }
    };
    let path = file.path().display().to_string();
    match r.commands[0]
        .clone()
        .bind("INDEX", &path)
        .run_timeout(LIMIT)
    {
        Ok(_) => IndexStatus::Made,
        Err(e) => failed(e),
    }
}

const LIMIT: Option<Duration> = Some(Duration::from_secs(60));

/// Each member's descriptor (each one image's manifest), and the one the
/// name holds now, if any: in one engine call when the name exists (a
/// no-op's), else the members alone.
fn describe_members(
    engine: &Engine,
    r: &IndexResult,
    m: &[&BuildResult],
) -> Result<(Vec<Descriptor>, Option<Descriptor>), IndexStatus> {
    let refs: Vec<&str> = m.iter().map(|b| b.reference.as_str()).collect();
    let describe = |names: &[&str]| {
        engine
            .cmd()
            .args(["image", "inspect", "--format", "{{json .Descriptor}}"])
            .args(names.iter().copied())
            .run_timeout(LIMIT)
            .map(|out| {
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines()
                    .filter_map(Descriptor::parse)
                    .collect::<Vec<_>>()
            })
    };
    let with_name: Vec<&str> = refs.iter().copied().chain([r.reference.as_str()]).collect();
    let (descriptors, held) = match describe(&with_name) {
        Ok(mut all) if all.len() == m.len() + 1 => {
            let held = all.pop();
            (all, held)
        }
        _ => (describe(&refs).map_err(failed)?, None),
    };
    if descriptors.len() != m.len() {
        return Err(failed_because(format!(
            "docker did not describe {}: is its store the containerd image store?",
            refs.join(", ")
        )));
    }
    if let Some((b, _)) = m.iter().zip(&descriptors).find(|(_, d)| !d.is_manifest()) {
        return Err(failed_because(format!("{} is itself an index, not one image: build it again (the tool builds without attestations)", b.reference)));
    }
    Ok((descriptors, held))
}

fn failed_because(reason: String) -> IndexStatus {
    IndexStatus::Failed {
        reason,
        process: None,
    }
}

/// The layout in a private temporary file (the run's directory when there
/// is one: swept if the run dies), removed when dropped.
fn write_layout(
    reference: &str,
    tag: &str,
    blob: &[u8],
    digest: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let tar = ocindex::layout_tar(reference, tag, blob, digest)?;
    let mut file = match crate::process::rundir::dir() {
        Some(dir) => tempfile::Builder::new()
            .prefix("index-")
            .suffix(".tar")
            .tempfile_in(dir)?,
        None => tempfile::Builder::new()
            .prefix("goapp-index-")
            .suffix(".tar")
            .tempfile()?,
    };
    std::io::Write::write_all(&mut file, &tar)?;
    Ok(file)
}

fn failed(e: ProcessError) -> IndexStatus {
    IndexStatus::Failed {
        reason: format!(
            "making the manifest list failed: {}",
            e.last_line().unwrap_or("see the command")
        ),
        process: Some(Box::new(e)),
    }
}

/// The manifest digests a `manifest inspect` lists.
pub(crate) fn digests(json: &str) -> Vec<String> {
    json.match_indices("\"digest\"")
        .filter_map(|(at, _)| {
            let rest = &json[at + 8..];
            let start = rest.find("sha256:")?;
            let d: String = rest[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                .collect();
            (d.len() == 71).then_some(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;

    fn result(arch: Arch, app: &str) -> BuildResult {
        let digest = format!("sha256:{}", "a".repeat(64));
        BuildResult::fixture(app, arch, Status::Built).with_local("sha256:1", Some(&digest), None)
    }

    fn engine(kind: EngineKind) -> Engine {
        Engine::fixture(kind)
    }

    #[test]
    fn a_list_per_app_built_for_several_architectures() {
        let results = [
            result(Arch::Amd64, "joke"),
            result(Arch::Arm64, "joke"),
            result(Arch::Arm64, "solo"),
        ];
        let planned = make_all(&engine(EngineKind::Podman), &results, false, false);
        assert_eq!(planned.len(), 1, "one architecture needs no list");
        let lines: Vec<String> = planned[0].commands.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "podman manifest rm localhost/joke:1",
                "podman manifest create localhost/joke:1 containers-storage:localhost/joke:1-amd64 containers-storage:localhost/joke:1-arm64",
            ]
        );
        assert_eq!(
            planned[0].to_string(),
            "joke:1  manifest list of amd64, arm64 to make"
        );
        assert_eq!(
            planned[0].plan_lines()[0],
            "podman manifest exists localhost/joke:1 && podman manifest rm localhost/joke:1"
        );
        let docker = make_all(&engine(EngineKind::Docker), &results, true, false);
        assert_eq!(docker[0].status, IndexStatus::Unsupported);
        assert!(docker[0].commands.is_empty());
        assert_eq!(
            docker[0].to_string(),
            "joke:1  no local manifest list (docker's classic store)"
        );
        let containerd = Engine {
            store: ImageStore::DockerContainerd,
            ..engine(EngineKind::Docker)
        };
        let planned = make_all(&containerd, &results, false, false);
        assert_eq!(planned[0].status, IndexStatus::Planned);
        assert_eq!(
            planned[0].plan_lines(),
            ["docker load -q -i \"$INDEX\"  # an OCI layout naming localhost/joke:1 an index of amd64, arm64"]
        );
    }

    #[test]
    fn digests_of_a_listing() {
        let json = r#"{"manifests":[{"digest": "sha256:b4ae022d792c3ae26fb7bb319875bc52da4cf8bd4d06890cff857e40bbbd6c42"},{"digest":"sha256:b280002bb563a277d804617357f902b5656f2283b2efd11292b2d35aede0fe0a"}]}"#;
        assert_eq!(
            digests(json),
            [
                "sha256:b4ae022d792c3ae26fb7bb319875bc52da4cf8bd4d06890cff857e40bbbd6c42",
                "sha256:b280002bb563a277d804617357f902b5656f2283b2efd11292b2d35aede0fe0a"
            ]
        );
    }
}
