//! The `ship` task: put images on nodes without a registry. Probe each node
//! ([`probe`]), have the build side make sure its images exist (the
//! [`crate::build`] API: results are all ship sees of it), plan the transfer
//! as data ([`plan`]: skips, groups that share bytes, blobs left out,
//! compression, every pipeline as commands), then run it ([`exec`]) or print
//! it (`--dry-run`).

mod compression;
mod decide;
mod docker_ids;
mod exec;
mod import;
mod names;
mod plan;
mod probe;
mod progress;
mod ssh;
mod tarfilter;
mod target;
mod unreachable;
mod upload;

use crate::build::{self, Builds, Images, Policy, Status};
use crate::config::hosts::HostNames;
use crate::core::arch::Arch;
use crate::process::error::{Failure, ProcessError};
use crate::process::{interrupt, rundir};
use crate::session::Session;
use crate::ship::plan::{Facts, TransferPlan};
use anyhow::{anyhow, bail, Result};
use indicatif::MultiProgress;
pub(crate) use plan::contradiction;
pub(crate) use probe::{targets, Hosts, Probe};
use std::io::Write;
pub(crate) use target::ShipTarget;
pub(crate) use unreachable::why_unreachable;

/// Options of `cargo xtask ship`.
#[derive(Clone, Debug, Default)]
pub struct ShipOptions {
    /// What to build: apps, `--tag`, `--engine` (architectures come from the nodes).
    pub build: build::Request,
    /// `--host`: hosts and groups.
    pub hosts: HostNames,
    /// `--arch`: ship this architecture whatever the hosts say.
    pub arch: Option<Arch>,
    /// `--dry-run`: probe (read-only), print the plan, change nothing.
    pub dry_run: bool,
    /// `--no-build`: refuse instead of building a missing or stale image.
    pub no_build: bool,
    /// `--force`: send even when the node has the image.
    pub force: bool,
}

/// How shipping to one host ended.
#[derive(Clone, Debug, PartialEq)]
pub enum HostResult {
    /// Sent and imported.
    Sent {
        /// The image reference.
        image: String,
        /// The image id (`sha256:…`, the config digest).
        id: String,
        /// Bytes sent (after leaving out blobs and compressing).
        bytes: u64,
        /// Seconds from the start of the upload to the end of the import.
        secs: f64,
        /// Blobs left out because the node had them.
        reused: usize,
        /// How the stream was compressed.
        compression: String,
        /// The names the image has on the node now.
        names: Vec<String>,
        /// Pinned against the kubelet's image garbage collection.
        pinned: bool,
        /// For `k3s-dir`: the archive written for k3s to import.
        file: Option<String>,
    },
    /// Already there under both names (and pinned where that applies).
    Skipped {
        /// The image reference.
        image: String,
        /// The image id the node already holds.
        id: String,
        /// The names it has there.
        names: Vec<String>,
        /// Pinned there.
        pinned: bool,
    },
    /// Pulled by the node from a registry (pushed there once by this run).
    Pulled {
        /// The image reference.
        image: String,
        /// The image id.
        id: String,
        /// Where it was pulled from: `HOST[:PORT]/REPO:TAG-<arch>`.
        remote: String,
        /// Seconds the pull took.
        secs: f64,
        /// The names it has now.
        names: Vec<String>,
        /// Pinned now.
        pinned: bool,
    },
    /// Already there under one name: the other name and the pins were
    /// set; nothing was sent.
    Retagged {
        /// The image reference.
        image: String,
        /// The image id the node holds.
        id: String,
        /// The names it has now.
        names: Vec<String>,
        /// Pinned now.
        pinned: bool,
    },
    /// Failed.
    Failed {
        /// One sentence, then details.
        reason: String,
        /// The process that failed, when one did: its fields say how.
        process: Option<Box<ProcessError>>,
    },
}

impl HostResult {
    pub(crate) fn failed(reason: impl Into<String>) -> HostResult {
        HostResult::Failed {
            reason: reason.into(),
            process: None,
        }
    }

    pub(crate) fn failed_by(reason: impl Into<String>, e: ProcessError) -> HostResult {
        HostResult::Failed {
            reason: reason.into(),
            process: Some(Box::new(e)),
        }
    }

    /// The line for a host settled before anything is sent (`--dry-run`):
    /// the same as its summary line.
    pub(crate) fn planned(&self, host: &str) -> String {
        self.line(host)
    }

    /// The summary line.
    fn line(&self, host: &str) -> String {
        match self {
            HostResult::Sent {
                image,
                bytes,
                secs,
                reused,
                compression,
                names,
                pinned,
                file,
                ..
            } => {
                let reuse = if *reused > 0 {
                    format!(", {reused} blob(s) already there left out")
                } else {
                    String::new()
                };
                let done = match file {
                    Some(f) => format!(
                        "verified and written to {f} for k3s to import{}",
                        also(image, names, false)
                    ),
                    None => format!("verified and imported{}", also(image, names, *pinned)),
                };
                format!(
                    "{host}: sent {image} ({}, {compression}{reuse}, {secs:.1}s), {done}",
                    human(*bytes)
                )
            }
            HostResult::Skipped { image, id, .. } => format!(
                "{host}: {image} is already there (same id {}); nothing sent (--force sends anyway)",
                short(id)
            ),
            HostResult::Pulled {
                remote,
                secs,
                names,
                pinned,
                ..
            } => format!(
                "{host}: pulled {remote} ({secs:.1}s){}",
                also(remote, names, *pinned)
            ),
            HostResult::Retagged {
                image,
                id,
                names,
                pinned,
            } => format!(
                "{host}: {image} was there (id {}): nothing sent{}",
                short(id),
                also(image, names, *pinned)
            ),
            HostResult::Failed { reason, .. } => format!("{host}: FAILED: {reason}"),
        }
    }
}

/// `; also named localhost/joke:1, pinned` for a result line.
fn also(image: &str, names: &[String], pinned: bool) -> String {
    let others: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != image)
        .collect();
    let mut out = String::new();
    if !others.is_empty() {
        out += &format!("; also named {}", others.join(", "));
    }
    if pinned {
        out += if others.is_empty() {
            "; pinned"
        } else {
            ", pinned"
        };
    }
    out
}

/// A failure's sentence without the full command line: what went wrong, how
/// the process ended, and the last thing it said.
fn one_line(reason: &str, process: Option<&ProcessError>) -> String {
    let Some(e) = process else {
        return reason.lines().next().unwrap_or_default().to_string();
    };
    let lead = reason
        .strip_suffix(&e.to_string())
        .map(|l| l.trim_end_matches([':', ' ']))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| reason.lines().next().unwrap_or_default());
    let how = match &e.failure {
        Failure::Exit(status) => status.to_string(),
        Failure::Timeout(limit) => format!("stopped after {}s", limit.as_secs()),
        Failure::Spawn(why) => format!("could not start: {why}"),
        Failure::Io(why) => why.to_string(),
    };
    let said = e.stderr_tail.lines().rev().find(|l| !l.trim().is_empty());
    match said {
        Some(said) => format!("{lead} ({how}): {}", said.trim()),
        None => format!("{lead} ({how})"),
    }
}

/// What `ship` did, host by host.
#[derive(Debug, Default)]
pub struct ShipReport {
    /// Per host, in the order given, per image.
    pub hosts: Vec<(String, HostResult)>,
    /// The images, as the build side handed them over.
    pub builds: Option<Builds>,
}

impl ShipReport {
    /// True when any host failed.
    pub fn failed(&self) -> bool {
        self.failures() > 0
    }

    /// How many hosts failed.
    pub fn failures(&self) -> usize {
        self.hosts
            .iter()
            .filter(|(_, r)| matches!(r, HostResult::Failed { .. }))
            .count()
    }

    /// Each failed host's reason in one line (`pi: cannot reach pi over ssh
    /// (exit status: 255): ssh: connect to host … refused`), joined by `; `:
    /// the final error carries them itself, since the FAILED lines go to
    /// stdout, which may be a file (`--dry-run > plan.sh`).
    pub fn failure_summary(&self) -> String {
        let lines: Vec<String> = self
            .hosts
            .iter()
            .filter_map(|(host, r)| match r {
                HostResult::Failed { reason, process } => {
                    Some(format!("{host}: {}", one_line(reason, process.as_deref())))
                }
                _ => None,
            })
            .collect();
        lines.join("; ")
    }

    /// Puts the hosts in the order `targets` gives them.
    fn sort(&mut self, targets: &[ShipTarget]) {
        let order = |n: &String| targets.iter().position(|t| &t.name == n);
        self.hosts.sort_by_key(|(n, _)| order(n));
    }

    fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for (name, r) in &self.hosts {
            writeln!(out, "{}", r.line(name))?;
        }
        Ok(())
    }
}

/// The partial archives ended runs of ours were writing on these hosts.
fn stale_parts(targets: &[ShipTarget]) -> std::collections::BTreeMap<String, Vec<String>> {
    let dead = rundir::dead_runs();
    targets
        .iter()
        .map(|t| {
            let parts: Vec<String> = dead.iter().flat_map(|r| r.parts_on(&t.name)).collect();
            (t.name.clone(), parts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

/// The policy the build side applies for `ship` (chosen by the command
/// layer, which hands [`run`] the build side).
pub(crate) fn policy(o: &ShipOptions) -> Policy {
    if o.no_build || o.dry_run {
        Policy::RefuseIfStale
    } else {
        Policy::BuildIfStale
    }
}

/// Runs `ship` to `targets` (as [`targets`] resolves `--host`): probe, ask
/// `images` for what the nodes' architectures need, plan, then send or print.
pub(crate) fn run(
    s: &Session,
    mut targets: Vec<ShipTarget>,
    images: &dyn Images,
    o: &ShipOptions,
    out: &mut dyn Write,
) -> Result<ShipReport> {
    // Read before the build's sweep removes the ended runs' directories.
    let stale_parts = stale_parts(&targets);
    // Control sockets live in a short private directory, removed at the end
    // of the run and on an interrupt.
    let control_dir = rundir::socket_dir(&probe::socket_name(targets.len()))?;
    probe::attach_sockets(&mut targets, control_dir.path());
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let _doing = interrupt::doing(format!("shipping to {}", names.join(", ")));
    let reached = reach_and_build(images, o, &targets)?;
    let (nodes, builds) = (reached.nodes, reached.builds);
    report_builds(o, &builds, out)?;
    let facts = Facts {
        engine: images.engine(),
        force: o.force,
        local_zstd: which::which("zstd").is_ok(),
        saves_by_digest: crate::engine::caps::detect(images.engine(), &s.env.cache_dir())
            .save_layout,
        nonce: nonce(),
        registries: registries(s),
        stale_parts,
    };
    let plan = plan::plan(&nodes, &builds.results, &facts);
    let unreachable =
        unreachable::explain_unreachable(reached.unreachable, s.env.home().as_deref());
    let mut report = ShipReport {
        hosts: unreachable,
        builds: None,
    };
    if o.dry_run {
        for (host, r) in &report.hosts {
            plan::comment(&r.planned(host))
                .iter()
                .try_for_each(|l| writeln!(out, "{l}"))?;
        }
        plan.lines().iter().try_for_each(|l| writeln!(out, "{l}"))?;
        report.hosts.extend(plan.settled);
        report.builds = Some(builds);
        return Ok(report);
    }
    report.hosts.extend(send(s, &plan));
    report.sort(&targets);
    report.print(out)?;
    report.builds = Some(builds);
    Ok(report)
}

/// What probing and building leave.
struct Reached<'t> {
    /// The nodes that can take an image.
    nodes: Vec<plan::Node<'t>>,
    /// The images, as the build side hands them over.
    builds: Builds,
    /// The hosts that failed their probe, and why.
    unreachable: Vec<(&'t ShipTarget, HostResult)>,
    /// The ssh masters, which later sessions share until the run ends.
    _masters: Vec<probe::Master>,
}

/// Probes every node and builds (or checks) the images their architectures
/// need. When every node's architecture is known up front, the build runs
/// while the nodes are probed instead of after.
fn reach_and_build<'t>(
    images: &dyn Images,
    o: &ShipOptions,
    targets: &'t [ShipTarget],
) -> Result<Reached<'t>> {
    let probe_arches = |t: &ShipTarget| match o.arch.or(t.host.arch) {
        Some(a) => vec![a],
        None => {
            sorted_unique([images.configured_arches(), vec![Arch::Amd64, Arch::Arm64]].concat())
        }
    };
    let refs: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            // Both names: the node may hold the image under either.
            let targets = images.targets(&probe_arches(t));
            let mut refs: Vec<String> = Vec::new();
            for r in targets
                .into_iter()
                .flat_map(|t| [t.reference, t.index_reference])
            {
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
            refs
        })
        .collect();
    let known: Option<Vec<Arch>> = targets
        .iter()
        .map(|t| o.arch.or(t.host.arch))
        .collect::<Option<Vec<_>>>()
        .map(sorted_unique);
    let early = known.map(|arches| move || images.images(&arches));
    let probed = probe::probe_all(targets, &refs, early);
    let (nodes, failures) = plan::nodes(targets, probed.probes, o.arch);
    let builds = match probed.alongside {
        Some(Ok(b)) => b?,
        Some(Err(_)) => bail!("building stopped on an internal error (a bug: please report it)"),
        None => {
            let arches = sorted_unique(nodes.iter().map(|n| n.arch).collect());
            images.images(&arches)?
        }
    };
    Ok(Reached {
        nodes,
        builds,
        unreachable: failures,
        _masters: probed.masters,
    })
}

/// Prints what the build side did (with `--dry-run`: what it would do),
/// and stops when an image failed, or is stale under `--no-build`.
fn report_builds(o: &ShipOptions, builds: &Builds, out: &mut dyn Write) -> Result<()> {
    if o.no_build {
        if let Some(r) = builds.results.iter().find(|r| r.status == Status::Stale) {
            bail!("the image {} is missing or older than its inputs: build it with `{} image`, or drop --no-build", r.image, crate::core::ui::program());
        }
    }
    if !o.dry_run {
        builds.print(out)?;
        return builds.check();
    }
    for r in builds
        .results
        .iter()
        .filter(|r| r.status == Status::UpToDate)
    {
        writeln!(out, "# {} is up to date (inputs unchanged)", r.image)?;
    }
    builds
        .plan_lines()
        .iter()
        .try_for_each(|l| writeln!(out, "{l}"))
        .map_err(|e| anyhow!(e))
}

/// Runs the transfers. Hosts settled before (skipped) are said once, in
/// the summary with the others.
fn send(s: &Session, plan: &TransferPlan) -> Vec<(String, HostResult)> {
    let multi = (s.env.stderr_tty && !crate::core::ui::quiet()).then(MultiProgress::new);
    let mut hosts = plan.settled.clone();
    hosts.extend(exec::execute(plan, multi.as_ref()));
    // Each node's line said "done" when it was; the summary below replaces
    // them all, so each node has one line on the screen.
    if let Some(m) = &multi {
        let _ = m.clear();
    }
    hosts
}

/// The registries of the config, by name.
fn registries(s: &Session) -> Vec<(String, crate::push::Registry)> {
    s.config
        .iter()
        .flat_map(|c| c.file.registries.iter())
        .map(|(n, r)| {
            let reg = crate::push::Registry {
                name: Some(n.clone()),
                address: r.address.clone(),
                insecure: r.insecure,
            };
            (n.clone(), reg)
        })
        .collect()
}

/// Makes this run's remote file names unique: the process id and the time.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{}-{:x}", std::process::id(), nanos)
}

fn sorted_unique(mut v: Vec<Arch>) -> Vec<Arch> {
    v.sort();
    v.dedup();
    v
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}

/// Bytes for people: `4.1 MiB`.
pub(crate) fn human(n: u64) -> String {
    let mut v = n as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    unreachable!()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn the_failure_summary_says_why_without_the_command_line() {
        let mut e = ProcessError::new(
            "ssh -o BatchMode=yes -- pi 'sh -c …'",
            Failure::Exit(std::os::unix::process::ExitStatusExt::from_raw(255 << 8)),
        );
        e.stderr_tail = "Warning: x\nssh: connect to host pi port 22: No route to host\n".into();
        let slow = ProcessError::new(
            "ssh -- box true",
            Failure::Timeout(std::time::Duration::from_secs(20)),
        );
        let report = ShipReport {
            hosts: vec![
                (
                    "pi".into(),
                    HostResult::failed_by(format!("cannot reach pi over ssh: {e}"), e),
                ),
                (
                    "ok".into(),
                    HostResult::Skipped {
                        image: "x".into(),
                        id: "y".into(),
                        names: vec![],
                        pinned: false,
                    },
                ),
                (
                    "box".into(),
                    HostResult::failed_by(format!("the import on box failed: {slow}"), slow),
                ),
                (
                    "odd".into(),
                    HostResult::failed("odd reports 'sparc64': set `arch:`\ndetails"),
                ),
            ],
            builds: None,
        };
        assert_eq!(
            report.failure_summary(),
            "pi: cannot reach pi over ssh (exit status: 255): ssh: connect to host pi port 22: No route to host; \
             box: the import on box failed (stopped after 20s); \
             odd: odd reports 'sparc64': set `arch:`"
        );
    }
}
