//! Planning a ship, with no side effects: from what the probes found and
//! what the build side handed over, to which hosts are settled (skipped,
//! failed) and which bytes go where. Every process of the transfer is a
//! [`Cmd`] in the plan; the executor runs them and `--dry-run` prints them
//! ([`TransferPlan::lines`]), so the two cannot drift.

use crate::build::BuildResult;
use crate::config::hosts::ImportKind;
use crate::core::arch::Arch;
use crate::engine::store::ArchiveFormat;
use crate::engine::Engine;
use crate::process::command::Cmd;
use crate::process::error::ProcessError;
use crate::push::plan::{PushStep, Registry};
use crate::ship::compression::Compression;
use crate::ship::decide::{need, Need};
use crate::ship::import::{k3s_file, Delivery, ImageNames, SHA_VAR};
use crate::ship::probe::Probe;
use crate::ship::tarfilter::SecondName;
use crate::ship::target::ShipTarget;
use crate::ship::HostResult;
use std::collections::{BTreeMap, BTreeSet};

/// A node that answered its probe and can import.
#[derive(Clone, Debug)]
pub(crate) struct Node<'a> {
    pub target: &'a ShipTarget,
    pub probe: Probe,
    /// The architecture it gets images of.
    pub arch: Arch,
}

/// What the plan depends on besides nodes and images.
#[derive(Clone, Debug)]
pub(crate) struct Facts<'a> {
    /// The engine that holds the images (it saves them).
    pub engine: &'a Engine,
    /// `--force`: send even to nodes that hold the image, and send every blob.
    pub force: bool,
    /// zstd is installed here.
    pub local_zstd: bool,
    /// The engine's docker-format save keeps blobs by digest too (docker's
    /// OCI layout from 25): a containerd node's can be left out.
    pub saves_by_digest: bool,
    /// Makes this run's remote file names unique (`<pid>-<time>`).
    pub nonce: String,
    /// The registries hosts may `pull_from:`, by name.
    pub registries: Vec<(String, Registry)>,
    /// Partial archives ended runs of ours were writing, by host: the next
    /// upload there removes them.
    pub stale_parts: BTreeMap<String, Vec<String>>,
}

/// The whole transfer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TransferPlan {
    /// Hosts decided without sending anything: skipped or failed, with why.
    pub settled: Vec<(String, HostResult)>,
    /// One group per image and archive format: saved once, streamed to its lanes.
    pub groups: Vec<Group>,
    /// Nodes that hold the image under one name: the other name and the
    /// pins are set, nothing is sent.
    pub retags: Vec<Retag>,
    /// Nodes that pull from a registry, per registry: pushed once, then
    /// pulled by each node at once.
    pub pulls: Vec<PullGroup>,
    /// Partial archives ended runs of ours left on the nodes: removed first.
    pub sweeps: Vec<(String, Cmd)>,
}

/// One registry's part: the images its nodes need, pushed once, then each
/// node's pull.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PullGroup {
    pub registry: Registry,
    /// The engine that pushes.
    pub engine: Engine,
    /// The architectures' images the nodes need (the engine sends only
    /// the blobs the registry lacks).
    pub pushes: Vec<PushStep>,
    pub members: Vec<Puller>,
}

/// One node's pull.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Puller {
    pub host: String,
    /// The architecture's image, as named locally.
    pub image: String,
    pub id: String,
    /// Where it is pulled from.
    pub remote: String,
    /// The names it has on the node afterwards.
    pub names: Vec<String>,
    pub pinned: bool,
    /// `ssh … 'ctr images pull …; ctr images tag …; ctr images label …'`.
    pub cmd: Cmd,
}

/// A node that holds the image: one command sets its names and pins.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Retag {
    pub host: String,
    /// The architecture's image.
    pub image: String,
    pub id: String,
    /// The names it has afterwards.
    pub names: Vec<String>,
    /// Pinned against the kubelet's garbage collection afterwards.
    pub pinned: bool,
    /// `ssh … 'ctr images tag …; ctr images label …'`.
    pub cmd: Cmd,
}

/// One image saved once, for every node that needs it in this format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Group {
    /// The image as the local store names it.
    pub reference: String,
    /// The name every architecture's image shares (`localhost/joke:1`).
    pub name: String,
    /// Its id (empty while it is still to build).
    pub id: String,
    pub format: ArchiveFormat,
    /// `podman save …`, writing the archive on stdout.
    pub save: Cmd,
    /// The image's size query (run only to draw progress on a terminal).
    pub size: Cmd,
    /// Nodes that get the same bytes share a lane.
    pub lanes: Vec<Lane>,
}

/// Nodes that get identical bytes: the same blobs left out, the same
/// compression. The lane filters the saved stream once, compresses it once,
/// hashes it once and fans it out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lane {
    /// Blob digests left out of an OCI archive (the nodes hold them).
    pub drop: BTreeSet<String>,
    pub compression: Compression,
    /// The compressor (stdin to stdout), if any.
    pub compress: Option<Cmd>,
    /// A second name written into the archive (`REPO:TAG` beside
    /// `REPO:TAG-<arch>`), for importers that run nothing after reading it
    /// (`k3s-dir`).
    pub add_name: Option<SecondName>,
    pub members: Vec<Member>,
}

/// One node's part: upload, then verify and import.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Member {
    pub host: String,
    /// The remote file the stream is written to.
    pub tmp: String,
    /// `ssh … 'cat > TMP'`, reading the stream on stdin.
    pub upload: Cmd,
    /// `ssh … 'check $1, decompress, import'`; takes the variable `sha`.
    pub import: Cmd,
    /// `ssh … 'rm -f TMP'`, after a failed transfer.
    pub cleanup: Cmd,
    /// The same on a connection of its own, for an interrupt.
    pub cleanup_direct: Cmd,
    /// What the sender writes after the archive's last byte: the node keeps
    /// the archive only when it arrives (see `ShipTarget::upload_script`).
    pub marker: String,
    /// The names the image has on the node afterwards.
    pub names: Vec<String>,
    /// Pinned afterwards (by us, or by k3s for `k3s-dir`).
    pub pinned: bool,
    /// The archive left for k3s to import (`k3s-dir`).
    pub file: Option<String>,
}

impl Group {
    /// Every member of every lane, in order.
    pub(super) fn members(&self) -> impl Iterator<Item = &Member> {
        self.lanes.iter().flat_map(|l| l.members.iter())
    }

    /// The group as shell lines: per member, the pipeline that sends the
    /// archive and leaves its sha256 in `$sha`, then the import that checks it.
    fn lines(&self, out: &mut Vec<String>) {
        let hosts: Vec<&str> = self.members().map(|m| m.host.as_str()).collect();
        out.push(format!(
            "# {} as {}: saved once for {}",
            self.reference,
            self.format.name(),
            hosts.join(", ")
        ));
        for lane in &self.lanes {
            let names: Vec<&str> = lane.members.iter().map(|m| m.host.as_str()).collect();
            let names = names.join(", ");
            if lane.members.len() > 1 {
                out.push(format!("# {names}: the same bytes ({}), filtered, compressed and hashed once; pasted by hand, one pipeline each", lane.compression.describe()));
            }
            if !lane.drop.is_empty() {
                out.push(format!("# {names}: goapp leaves out the {} blob(s) already there; a shell pipe cannot, so the lines below send the whole archive", lane.drop.len()));
            }
            if let Some(n) = &lane.add_name {
                out.push(format!("# {names}: goapp also names the image {} inside the archive; a shell pipe cannot, so pasted, k3s imports it as {} only", n.also, self.reference));
            }
            let compress = lane
                .compress
                .as_ref()
                .map(|c| format!(" | {c}"))
                .unwrap_or_default();
            for m in &lane.members {
                out.push(format!(
                    "{SHA_VAR}=$({{ {}{compress} | tee /dev/fd/3 | {{ cat; printf '%s' {}; }} | {} >/dev/null; }} 3>&1 | sha256sum | cut -c1-64)",
                    self.save,
                    crate::process::command::quote(&m.marker),
                    m.upload
                ));
                out.push(m.import.to_string());
            }
        }
    }
}

impl TransferPlan {
    /// The plan as `--dry-run` prints it: every command a line that pastes
    /// into a POSIX shell, everything else a `#` comment.
    pub(super) fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (host, cmd) in &self.sweeps {
            out.push(format!("# {host}: partial archives an ended run left"));
            out.push(cmd.to_string());
        }
        for (host, r) in &self.settled {
            out.extend(comment(&r.planned(host)));
        }
        for r in &self.retags {
            out.push(format!(
                "# {}: holds {} ({}): set its names and pins, send nothing",
                r.host,
                r.image,
                crate::ship::short(&r.id)
            ));
            out.push(r.cmd.to_string());
        }
        for g in &self.groups {
            g.lines(&mut out);
        }
        for p in &self.pulls {
            let hosts: Vec<&str> = p.members.iter().map(|m| m.host.as_str()).collect();
            out.push(format!(
                "# {}: pushed once (only the blobs it lacks), then pulled by {}",
                p.registry.shown(),
                hosts.join(", ")
            ));
            out.extend(
                crate::push::exec::lines(&p.registry, &p.pushes)
                    .into_iter()
                    .skip(1),
            );
            out.extend(p.members.iter().map(|m| m.cmd.to_string()));
        }
        out
    }
}

/// `text` as shell comments, one per line.
pub(crate) fn comment(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| format!("# {l}").trim_end().to_string())
        .collect()
}

/// Sorts probe results into nodes that can take an image and hosts that
/// cannot (unreachable, no import tool, unknown machine).
pub(crate) fn nodes(
    targets: &[ShipTarget],
    probes: Vec<Result<Probe, ProcessError>>,
    forced: Option<Arch>,
) -> (Vec<Node<'_>>, Vec<(&ShipTarget, HostResult)>) {
    let mut live = Vec::new();
    let mut failed = Vec::new();
    for (t, p) in targets.iter().zip(probes) {
        let name = &t.name;
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                let reason = crate::ship::unreachable::probe_failed(name, &e);
                failed.push((t, HostResult::failed_by(reason, e)));
                continue;
            }
        };
        if !p.importer {
            failed.push((t, HostResult::failed(t.missing_importer())));
            continue;
        }
        if let Some(why) = forced.is_none().then(|| contradiction(t, &p)).flatten() {
            failed.push((t, HostResult::failed(why)));
            continue;
        }
        match forced
            .or(t.host.arch)
            .or_else(|| Arch::from_uname(&p.machine))
        {
            Some(arch) => live.push(Node {
                target: t,
                probe: p,
                arch,
            }),
            None => {
                let reason = format!(
                    "{name} reports an unknown machine '{}': set `arch:` for it in the config",
                    p.machine
                );
                failed.push((t, HostResult::failed(reason)));
            }
        }
    }
    (live, failed)
}

/// Why a host's configured `arch:` cannot be right for the machine its
/// probe found, if it cannot: an image of it would not run there.
pub(crate) fn contradiction(t: &ShipTarget, p: &Probe) -> Option<String> {
    let (configured, machine) = (t.host.arch?, Arch::from_uname(&p.machine)?);
    let emulated = p.emulates.contains(configured.qemu_name());
    (!configured.runs_on(machine) && !emulated).then(|| {
        format!(
            "{name} is configured with `arch: {configured}`, but the node reports '{m}' ({machine}) and has no emulator for {configured} registered: images built for {configured} would not run there; fix `arch:` for {name} in the config, or remove it (the node's own answer is then used)",
            name = t.name,
            m = p.machine.trim(),
        )
    })
}

/// Plans the transfer of `builds` to `nodes`: each node gets the images of
/// its architecture.
pub(crate) fn plan(nodes: &[Node], builds: &[BuildResult], f: &Facts) -> TransferPlan {
    let mut plan = TransferPlan {
        settled: Vec::new(),
        groups: Vec::new(),
        retags: Vec::new(),
        pulls: Vec::new(),
        sweeps: sweeps(nodes, f),
    };
    let mut needs = Vec::new();
    for node in nodes {
        for r in builds.iter().filter(|r| r.arch == node.arch) {
            let host = node.target.name.clone();
            match need(node, r, f.force) {
                Err(why) => plan.settled.push((host, HostResult::failed(why))),
                Ok(Need::Nothing { id, names, pinned }) => plan.settled.push((
                    host,
                    HostResult::Skipped {
                        image: r.reference.clone(),
                        id,
                        names,
                        pinned,
                    },
                )),
                Ok(Need::Names { id, src, dsts }) => {
                    plan.retags.push(retag(node, r, f, id, &src, &dsts))
                }
                Ok(Need::Image) => match pull_from(node, f) {
                    Some(reg) => pull(&mut plan.pulls, reg, node, r, f),
                    None => needs.push((r, node.target.format(f.engine), node)),
                },
            }
        }
    }
    // Stable: within a group, nodes keep the order they were given in.
    needs.sort_by(|a, b| (&a.0.reference, a.1).cmp(&(&b.0.reference, b.1)));
    for (r, format, node) in needs {
        let same = |g: &Group| g.reference == r.reference && g.format == format;
        if !plan.groups.last().is_some_and(same) {
            plan.groups.push(Group {
                reference: r.reference.clone(),
                name: r.index_reference.clone(),
                id: r.id().unwrap_or_default().to_string(),
                format,
                save: f.engine.save_cmd(&r.reference, format, None),
                size: f.engine.size_cmd(&r.reference),
                lanes: Vec::new(),
            });
        }
        let index = plan.groups.len() - 1;
        join(&mut plan.groups[index], index, node, r, f);
    }
    plan
}

/// The registry a node pulls from, if it does.
fn pull_from<'f>(node: &Node, f: &'f Facts) -> Option<&'f Registry> {
    let name = node.target.host.pull_from.as_ref()?;
    f.registries.iter().find(|(n, _)| n == name).map(|(_, r)| r)
}

/// Adds `node`'s pull of `r` from `reg`, and `r` to what is pushed there.
fn pull(pulls: &mut Vec<PullGroup>, reg: &Registry, node: &Node, r: &BuildResult, f: &Facts) {
    let at = match pulls.iter().position(|p| &p.registry == reg) {
        Some(i) => i,
        None => {
            pulls.push(PullGroup {
                registry: reg.clone(),
                engine: f.engine.clone(),
                pushes: Vec::new(),
                members: Vec::new(),
            });
            pulls.len() - 1
        }
    };
    let g = &mut pulls[at];
    if !g.pushes.iter().any(|p| p.local == r.reference) {
        g.pushes.extend(crate::push::plan::plan(
            f.engine,
            reg,
            std::slice::from_ref(r),
            false,
            &[],
        ));
    }
    let t = node.target;
    let remote = ImageNames {
        reference: reg.remote(&r.image),
        name: String::new(),
        repository: reg.remote_repository(&r.image),
    };
    let names = names_of(r, f.engine);
    // Config validation makes sure a puller has a store.
    let words = t
        .pull_words(
            &remote,
            &names,
            node.arch,
            reg.insecure,
            r.id().unwrap_or_default(),
        )
        .unwrap_or_else(|| "false".into());
    g.members.push(Puller {
        host: t.name.clone(),
        image: r.reference.clone(),
        id: r.id().unwrap_or_default().to_string(),
        remote: remote.reference,
        names: vec![r.reference.clone(), r.index_reference.clone()],
        pinned: !t.pin_labels().is_empty(),
        cmd: t.ssh(&words),
    });
}

/// The names an image has in the local store, as a node gets them.
fn names_of(r: &BuildResult, engine: &Engine) -> ImageNames {
    ImageNames {
        reference: r.reference.clone(),
        name: r.index_reference.clone(),
        repository: r.index_image.stored_repository(engine.domain()),
    }
}

/// The command that gives a node's image its other name and pins.
fn retag(node: &Node, r: &BuildResult, f: &Facts, id: String, src: &str, dsts: &[String]) -> Retag {
    let t = node.target;
    let dsts: Vec<&str> = dsts.iter().map(String::as_str).collect();
    let repository = names_of(r, f.engine).repository;
    let words = t
        .name_words(src, &dsts, &[&repository])
        .unwrap_or_else(|| "true".into());
    Retag {
        host: t.name.clone(),
        image: r.reference.clone(),
        id,
        names: vec![r.reference.clone(), r.index_reference.clone()],
        pinned: !t.pin_labels().is_empty(),
        cmd: t.ssh(&words),
    }
}

/// `rm -f` of what ended runs of ours were writing on each node.
fn sweeps(nodes: &[Node], f: &Facts) -> Vec<(String, Cmd)> {
    nodes
        .iter()
        .filter_map(|n| {
            let parts = f.stale_parts.get(&n.target.name)?;
            let files: Vec<String> = parts
                .iter()
                .flat_map(|p| [p.clone(), format!("{p}.pid")])
                .map(|p| crate::process::command::quote(&p))
                .collect();
            let cmd = n.target.ssh(&format!("rm -f {}", files.join(" ")));
            Some((n.target.name.clone(), cmd))
        })
        .collect()
}

/// Adds `node` to group `index`, in the lane of nodes that get its bytes.
fn join(g: &mut Group, index: usize, node: &Node, r: &BuildResult, f: &Facts) {
    let t = node.target;
    // With --force everything is sent; otherwise the node's blobs are left out.
    let by_digest = g.format == ArchiveFormat::Oci || f.saves_by_digest;
    let drop = if by_digest && !f.force {
        node.probe.blobs.clone()
    } else {
        BTreeSet::new()
    };
    let compression = t.compression(g.format, node.probe.zstd, f.local_zstd, node.arch);
    // Two hosts of one group may be one machine (its containerd and its
    // docker): each upload its own file.
    let nth = g.lanes.iter().map(|l| l.members.len()).sum::<usize>();
    let member_part = if nth == 0 {
        String::new()
    } else {
        format!("-{nth}")
    };
    let tmp = format!(
        "{}/goapp-{}-{index}{member_part}.{}.part",
        t.tmp_dir().trim_end_matches('/'),
        f.nonce,
        compression.suffix()
    );
    let k3s_dir = t.host.import == ImportKind::K3sDir;
    let member = member(g, node, r, f, tmp, compression);
    let add_name = k3s_dir.then(|| SecondName {
        names: r.image.archive_names(f.engine.domain()),
        also: g.name.clone(),
        also_tag: r.index_image.tag().to_string(),
    });
    let lane = g
        .lanes
        .iter_mut()
        .find(|l| l.drop == drop && l.compression == compression && l.add_name == add_name);
    match lane {
        Some(lane) => lane.members.push(member),
        None => g.lanes.push(Lane {
            drop,
            compression,
            compress: compression.compress(),
            add_name,
            members: vec![member],
        }),
    }
}

/// One node's upload and import of group `g`'s image.
fn member(
    g: &Group,
    node: &Node,
    r: &BuildResult,
    f: &Facts,
    tmp: String,
    compression: Compression,
) -> Member {
    let t = node.target;
    let k3s_dir = t.host.import == ImportKind::K3sDir;
    let delivery = Delivery {
        image: ImageNames {
            reference: g.reference.clone(),
            name: g.name.clone(),
            repository: r.index_image.stored_repository(f.engine.domain()),
        },
        repository: r.index_image.repository().to_string(),
        id: g.id.clone(),
        format: g.format,
        arch: node.arch,
        nonce: f.nonce.clone(),
    };
    let named = k3s_dir || t.store().is_some();
    let marker = format!("goapp-end-of-archive-{}", f.nonce);
    Member {
        host: t.name.clone(),
        upload: t.ssh(&t.upload_script(&tmp, &marker)),
        import: t.import(&tmp, compression, &delivery),
        cleanup: t.ssh(&ShipTarget::cleanup_script(&tmp)),
        cleanup_direct: t.ssh_direct(&ShipTarget::cleanup_script(&tmp)),
        marker,
        tmp,
        names: if named {
            vec![g.reference.clone(), g.name.clone()]
        } else {
            vec![g.reference.clone()]
        },
        pinned: !t.pin_labels().is_empty(),
        file: k3s_dir.then(|| {
            let file = k3s_file(&delivery.repository, node.arch, &g.id);
            format!("{}/{file}", t.images_dir())
        }),
    }
}

/// Refuses an image whose recorded architecture is not the node's: an
/// amd64 image imports fine on an arm64 node and fails only when a pod starts.
pub(crate) fn check_arch(
    reference: &str,
    recorded: Arch,
    host: &str,
    host_arch: Arch,
) -> Result<(), String> {
    if recorded == host_arch {
        return Ok(());
    }
    Err(format!("{reference} is built for {recorded} but {host} is {host_arch}: rebuild it with --arch {host_arch}, or fix `arch:` for {host} in the config"))
}

#[cfg(test)]
mod tests {
    //! Golden tests of ship's decisions: which hosts are skipped and why,
    //! which share bytes, which blobs are left out, which compression, and
    //! the exact commands.
    use super::*;
    use crate::build::Status;
    use crate::engine::EngineKind;
    use crate::ship::names::{PIN_CRI, PIN_K3S};

    const ID: &str = "sha256:a795d7be35a01270284e47133f3d832208e3982a7e2e0444778e6ea1ec8bd5c7";

    fn target(name: &str, yaml: &str) -> ShipTarget {
        ShipTarget {
            name: name.into(),
            host: serde_yaml_ng::from_str(yaml).unwrap(),
            ssh_config: None,
            control: None,
        }
    }

    fn probe(machine: &str, zstd: bool, blobs: &[&str], images: &[(&str, &str)]) -> Probe {
        Probe {
            machine: machine.into(),
            zstd,
            importer: true,
            blobs: blobs.iter().map(|b| b.to_string()).collect(),
            images: images
                .iter()
                .map(|(r, i)| crate::ship::probe::Held {
                    reference: r.to_string(),
                    id: i.to_string(),
                    labels: [PIN_CRI, PIN_K3S].iter().map(|l| l.to_string()).collect(),
                })
                .collect(),
            emulates: Default::default(),
        }
    }

    fn built(arch: Arch, status: Status) -> BuildResult {
        let r = BuildResult::fixture("joke", arch, status)
            .with_command(Cmd::new("podman").arg("build"));
        match status {
            Status::Built | Status::UpToDate => r.with_local(ID, None, Some("f00d")),
            _ => r,
        }
    }

    fn podman() -> Engine {
        Engine::fixture(EngineKind::Podman)
    }

    fn facts(engine: &Engine, force: bool, local_zstd: bool) -> Facts<'_> {
        Facts {
            engine,
            force,
            local_zstd,
            saves_by_digest: false,
            nonce: "42-beef".into(),
            stale_parts: BTreeMap::new(),
            registries: vec![(
                "site".into(),
                Registry {
                    name: Some("site".into()),
                    address: "reg.lan:5000".into(),
                    insecure: true,
                },
            )],
        }
    }

    fn node<'a>(t: &'a ShipTarget, p: Probe, arch: Arch) -> Node<'a> {
        Node {
            target: t,
            probe: p,
            arch,
        }
    }

    fn hosts(g: &Group) -> Vec<Vec<&str>> {
        g.lanes
            .iter()
            .map(|l| l.members.iter().map(|m| m.host.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_node_holding_the_same_id_is_skipped_unless_forced() {
        let e = podman();
        let t = target("pi", "{ssh: pi, import: containerd}");
        let p = probe(
            "aarch64",
            true,
            &[],
            &[("localhost/joke:1-arm64", ID), ("localhost/joke:1", ID)],
        );
        let builds = [built(Arch::Arm64, Status::UpToDate)];
        let plan = plan(
            &[node(&t, p.clone(), Arch::Arm64)],
            &builds,
            &facts(&e, false, true),
        );
        assert_eq!(plan.groups, []);
        assert_eq!(
            plan.settled,
            [(
                "pi".to_string(),
                HostResult::Skipped {
                    image: "localhost/joke:1-arm64".into(),
                    id: ID.into(),
                    names: vec!["localhost/joke:1-arm64".into(), "localhost/joke:1".into()],
                    pinned: true,
                }
            )]
        );
        assert_eq!(plan.lines(), ["# pi: localhost/joke:1-arm64 is already there (same id a795d7be35a0); nothing sent (--force sends anyway)"]);
        let forced = plan_of(&t, p.clone(), &builds, &facts(&e, true, true));
        assert_eq!(forced.settled, []);
        assert_eq!(hosts(&forced.groups[0]), [["pi"]]);
        // An image still to build is newer than anything the node holds.
        let stale = [built(Arch::Arm64, Status::Stale)];
        let pending = plan_of(&t, p, &stale, &facts(&e, false, true));
        assert_eq!(pending.settled, []);
        assert_eq!(pending.groups.len(), 1);
    }

    #[test]
    fn a_node_holding_the_image_under_one_name_or_unpinned_gets_names_not_bytes() {
        let e = podman();
        let builds = [built(Arch::Arm64, Status::UpToDate)];
        let f = facts(&e, false, true);
        let ctd = target("pi", "{ssh: pi, import: containerd}");
        // REPO:TAG points elsewhere: re-tagged from the arch image.
        let other = format!("sha256:{}", "b".repeat(64));
        let p = probe(
            "aarch64",
            true,
            &[],
            &[("localhost/joke:1-arm64", ID), ("localhost/joke:1", &other)],
        );
        let plan = plan_of(&ctd, p, &builds, &f);
        assert_eq!((plan.groups.len(), plan.settled.len()), (0, 0));
        let r = &plan.retags[0];
        assert_eq!((r.host.as_str(), r.pinned), ("pi", true));
        assert_eq!(r.names, ["localhost/joke:1-arm64", "localhost/joke:1"]);
        assert_eq!(
            r.cmd.to_string(),
            "ssh -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -- pi 'sh -c '\\''now=$(date +%s) && ctr -n k8s.io images tag --force localhost/joke:1-arm64 localhost/joke:1 >/dev/null && ctr -n k8s.io images label localhost/joke:1-arm64 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && ctr -n k8s.io images label localhost/joke:1 io.cri-containerd.pinned=pinned dev.goapp.pinned=\"$now\" >/dev/null && { ctr -n k8s.io images ls 2>/dev/null | awk -v p=localhost/joke: '\\''\\'\\'''\\''NR > 1 { m = 0; np = split(p, ps, \" \"); for (j = 1; j <= np; j++) if (index($1, ps[j]) == 1) m = 1; if (!m) next; n = split($NF, l, \",\"); for (i = 1; i <= n; i++) if (index(l[i], \"dev.goapp.pinned=\") == 1) print substr(l[i], 18), $3, $1 }'\\''\\'\\'''\\'' | sort -k1,1nr | awk -v keep=3 '\\''\\'\\'''\\''{ if (!($2 in seen)) { seen[$2] = 1; k++ } if (k > keep) print $3 }'\\''\\'\\'''\\'' | while read -r ref; do ctr -n k8s.io images label \"$ref\" io.cri-containerd.pinned= dev.goapp.pinned= >/dev/null || exit 1; done; }'\\'''"
        );
        assert_eq!(
            plan.lines()[0],
            "# pi: holds localhost/joke:1-arm64 (a795d7be35a0): set its names and pins, send nothing"
        );
        // Only REPO:TAG holds it: the arch name comes from it.
        let p = probe("aarch64", true, &[], &[("localhost/joke:1", ID)]);
        let plan = plan_of(&ctd, p, &builds, &f);
        assert!(plan.retags[0]
            .cmd
            .to_string()
            .contains("images tag --force localhost/joke:1 localhost/joke:1-arm64"));
        // Both names, unpinned (imported by hand): pinned, nothing sent.
        let mut p = probe(
            "aarch64",
            true,
            &[],
            &[("localhost/joke:1-arm64", ID), ("localhost/joke:1", ID)],
        );
        p.images.iter_mut().for_each(|h| h.labels.clear());
        assert_eq!(plan_of(&ctd, p.clone(), &builds, &f).retags.len(), 1);
        // podman pins nothing: both names are enough.
        let pod = target("pod", "{ssh: pod, import: podman}");
        let plan = plan_of(&pod, p.clone(), &builds, &f);
        assert_eq!((plan.retags.len(), plan.settled.len()), (0, 1));
        // A custom importer without a store cannot be asked: the image is sent.
        let custom = target("c", "{ssh: c, import: {command: [load]}}");
        let only_arch = probe("aarch64", true, &[], &[("localhost/joke:1-arm64", ID)]);
        assert_eq!(plan_of(&custom, only_arch, &builds, &f).groups.len(), 1);
    }

    #[test]
    fn k3s_dir_nodes_get_the_second_name_inside_the_archive() {
        let e = podman();
        let dir = target("k", "{ssh: k, import: k3s-dir, sudo: true}");
        let ctd = target("c", "{ssh: c, import: containerd}");
        let nodes = [
            node(&dir, probe("aarch64", true, &[], &[]), Arch::Arm64),
            node(&ctd, probe("aarch64", true, &[], &[]), Arch::Arm64),
        ];
        let plan = plan(
            &nodes,
            &[built(Arch::Arm64, Status::Built)],
            &facts(&e, false, true),
        );
        assert_eq!(plan.groups.len(), 1, "one save for both");
        let lanes: Vec<Option<&str>> = plan.groups[0]
            .lanes
            .iter()
            .map(|l| l.add_name.as_ref().map(|n| n.also.as_str()))
            .collect();
        assert_eq!(lanes, [Some("localhost/joke:1"), None]);
        let m = &plan.groups[0].lanes[0].members[0];
        assert_eq!(
            m.file.as_deref(),
            Some("/var/lib/rancher/k3s/agent/images/goapp+joke+arm64+a795d7be35a0.tar")
        );
        assert!(plan.lines().iter().any(|l| l
            .starts_with("# k: goapp also names the image localhost/joke:1 inside the archive")));
    }

    #[test]
    fn nodes_that_pull_share_one_push_and_pull_each() {
        let e = podman();
        let a = target("a", "{ssh: a, import: containerd, pull_from: site}");
        let b = target("b", "{ssh: b, import: k3s, pull_from: site}");
        let c = target("c", "{ssh: c, import: containerd}");
        let done = target("d", "{ssh: d, import: containerd, pull_from: site}");
        let held = probe(
            "aarch64",
            true,
            &[],
            &[("localhost/joke:1-arm64", ID), ("localhost/joke:1", ID)],
        );
        let nodes = [
            node(&a, probe("aarch64", true, &[], &[]), Arch::Arm64),
            node(&b, probe("aarch64", true, &[], &[]), Arch::Arm64),
            node(&c, probe("aarch64", true, &[], &[]), Arch::Arm64),
            node(&done, held, Arch::Arm64),
        ];
        let plan = plan(
            &nodes,
            &[built(Arch::Arm64, Status::Built)],
            &facts(&e, false, true),
        );
        assert_eq!(
            hosts(&plan.groups[0]),
            [["c"]],
            "c has no registry: over ssh"
        );
        assert_eq!(
            plan.settled.len(),
            1,
            "d holds it: skipped, nothing pushed for it"
        );
        let p = &plan.pulls[0];
        assert_eq!(p.pushes.len(), 1, "pushed once");
        assert_eq!(
            p.pushes[0].commands[0].to_string(),
            "podman push --quiet --tls-verify=false localhost/joke:1-arm64 docker://reg.lan:5000/joke:1-arm64"
        );
        let pullers: Vec<&str> = p.members.iter().map(|m| m.host.as_str()).collect();
        assert_eq!(pullers, ["a", "b"]);
        assert!(p.members[1].cmd.to_string().contains("k3s ctr -n k8s.io images pull --plain-http --platform linux/arm64 reg.lan:5000/joke:1-arm64"));
        let lines = plan.lines();
        let at = lines
            .iter()
            .position(|l| l == "# site (reg.lan:5000): pushed once (only the blobs it lacks), then pulled by a, b")
            .unwrap();
        assert!(lines[at + 1].starts_with("podman push "), "{lines:?}");
        assert!(
            lines[at + 2].starts_with("ssh ") && lines[at + 3].starts_with("ssh "),
            "{lines:?}"
        );
    }

    fn plan_of(t: &ShipTarget, p: Probe, builds: &[BuildResult], f: &Facts) -> TransferPlan {
        plan(&[node(t, p, Arch::Arm64)], builds, f)
    }

    /// Four nodes: pi1 and pi2 (arm64) hold blob b1, pi3 (arm64) b2, lab
    /// (amd64, docker) nothing; both arches built.
    fn four_nodes(force: bool) -> TransferPlan {
        let e = podman();
        let pi1 = target("pi1", "{ssh: pi1, import: containerd}");
        let pi2 = target("pi2", "{ssh: pi2, import: k3s, sudo: true}");
        let pi3 = target("pi3", "{ssh: pi3, import: containerd}");
        let lab = target("lab", "{ssh: lab, import: docker}");
        let arm = |t, blob| {
            node(
                t,
                probe("aarch64", blob != "sha256:b2", &[blob], &[]),
                Arch::Arm64,
            )
        };
        let nodes = [
            arm(&pi1, "sha256:b1"),
            node(&lab, probe("x86_64", true, &[], &[]), Arch::Amd64),
            arm(&pi2, "sha256:b1"),
            arm(&pi3, "sha256:b2"),
        ];
        let builds = [
            built(Arch::Amd64, Status::Built),
            built(Arch::Arm64, Status::Built),
        ];
        plan(&nodes, &builds, &facts(&e, force, true))
    }

    #[test]
    fn nodes_of_one_image_share_a_save_and_those_of_one_stream_share_a_lane() {
        let plan = four_nodes(false);
        assert_eq!(plan.settled, []);
        let summary: Vec<(&str, &str)> = plan
            .groups
            .iter()
            .map(|g| (g.reference.as_str(), g.format.name()))
            .collect();
        assert_eq!(
            summary,
            [
                ("localhost/joke:1-amd64", "docker-archive"),
                ("localhost/joke:1-arm64", "oci-archive")
            ]
        );
        // pi1 and pi2 hold the same blobs: one stream; pi3 holds others.
        assert_eq!(hosts(&plan.groups[1]), [vec!["pi1", "pi2"], vec!["pi3"]]);
        let drops: Vec<Vec<&String>> = plan.groups[1]
            .lanes
            .iter()
            .map(|l| l.drop.iter().collect())
            .collect();
        assert_eq!(drops, [vec!["sha256:b1"], vec!["sha256:b2"]]);
        assert_eq!(
            plan.groups[0].lanes[0].drop,
            BTreeSet::new(),
            "docker archives are sent whole"
        );
    }

    #[test]
    fn every_member_writes_its_own_file_and_force_sends_every_blob() {
        // Named by run, group and member (two hosts may be one machine).
        let plan = four_nodes(false);
        let tmps: Vec<&str> = plan
            .groups
            .iter()
            .flat_map(|g| g.members())
            .map(|m| m.tmp.as_str())
            .collect();
        assert_eq!(
            tmps,
            [
                "/var/tmp/goapp-42-beef-0.tar.zst.part",
                "/var/tmp/goapp-42-beef-1.tar.part",
                "/var/tmp/goapp-42-beef-1-1.tar.part",
                "/var/tmp/goapp-42-beef-1-2.tar.part"
            ]
        );
        let forced = four_nodes(true);
        assert!(
            forced.groups[1].lanes.iter().all(|l| l.drop.is_empty()),
            "--force sends every blob"
        );
    }

    #[test]
    fn compression_follows_format_tools_arch_and_setting() {
        let e = podman();
        let case = |yaml: &str, node_zstd: bool, local_zstd: bool, arch: Arch| {
            let t = target("n", yaml);
            let machine = if arch == Arch::Amd64 {
                "x86_64"
            } else {
                "aarch64"
            };
            let builds = [built(arch, Status::Built)];
            let p = plan(
                &[node(&t, probe(machine, node_zstd, &[], &[]), arch)],
                &builds,
                &facts(&e, false, local_zstd),
            );
            p.groups[0].lanes[0].compression
        };
        // OCI layers are gzip already: no second pass.
        assert_eq!(
            case("{ssh: n, import: containerd}", true, true, Arch::Arm64),
            Compression::None
        );
        assert_eq!(
            case("{ssh: n, import: docker}", true, true, Arch::Amd64),
            Compression::Zstd(3)
        );
        assert_eq!(
            case("{ssh: n, import: docker}", false, true, Arch::Amd64),
            Compression::Gzip(6)
        );
        assert_eq!(
            case("{ssh: n, import: docker}", true, false, Arch::Arm64),
            Compression::Gzip(1)
        );
        assert_eq!(
            case(
                "{ssh: n, import: podman, compression: gzip-9}",
                true,
                true,
                Arch::Amd64
            ),
            Compression::Gzip(9)
        );
        assert_eq!(
            case(
                "{ssh: n, import: podman, compression: zstd-7}",
                false,
                true,
                Arch::Amd64
            ),
            Compression::Gzip(6)
        );
        assert_eq!(
            case(
                "{ssh: n, import: containerd, compression: zstd}",
                true,
                true,
                Arch::Arm64
            ),
            Compression::Zstd(3)
        );
    }

    /// What an ended run was writing on a node is removed first, over the
    /// node's connection, whatever else the node needs.
    #[test]
    fn an_ended_runs_parts_are_removed_first() {
        let e = podman();
        let pi = target("pi", "{ssh: pi, import: containerd}");
        let nodes = [node(
            &pi,
            probe("aarch64", true, &[], &[(ID, "f00d")]),
            Arch::Arm64,
        )];
        let mut f = facts(&e, false, true);
        f.stale_parts
            .insert("pi".into(), vec!["/var/tmp/goapp-1-dead-0.tar.part".into()]);
        let lines = plan(&nodes, &[built(Arch::Arm64, Status::UpToDate)], &f).lines();
        assert_eq!(lines[0], "# pi: partial archives an ended run left");
        assert!(lines[1].ends_with("'sh -c '\\''rm -f /var/tmp/goapp-1-dead-0.tar.part /var/tmp/goapp-1-dead-0.tar.part.pid'\\'''"), "{}", lines[1]);
    }

    #[test]
    fn pipeline_commands_are_the_printed_plan() {
        let e = podman();
        let pi = target(
            "pi",
            "{host: 10.0.0.7, user: pi, port: 2222, import: k3s, sudo: true, connect_timeout: 5}",
        );
        let lab = target("lab", "{ssh: lab, import: podman, tmp_dir: /srv/tmp/}");
        let nodes = [
            node(
                &pi,
                probe("aarch64", true, &["sha256:b1", "sha256:b2"], &[]),
                Arch::Arm64,
            ),
            node(&lab, probe("aarch64", false, &[], &[]), Arch::Arm64),
        ];
        let plan = plan(
            &nodes,
            &[built(Arch::Arm64, Status::Built)],
            &facts(&e, false, true),
        );
        // Every line pastes into a POSIX shell; `UPDATE_EXPECT=1 cargo test`
        // rewrites the snapshot after a deliberate change.
        expect_test::expect_file!["snapshots/pipeline_commands.txt"]
            .assert_eq(&(plan.lines().join("\n") + "\n"));
        // The executor runs the same commands, with the digest bound.
        let m = &plan.groups[1].lanes[0].members[0];
        expect_test::expect_file!["snapshots/cleanup_commands.txt"]
            .assert_eq(&format!("{}\n{}\n", m.cleanup, m.cleanup_direct));
        assert!(!m
            .import
            .clone()
            .bind(SHA_VAR, "ab12")
            .to_string()
            .contains("$sha"));
    }

    #[test]
    fn probes_become_nodes_or_failures_with_the_fix() {
        let targets = [
            target("pi", "{ssh: pi}"),
            target("box", "{ssh: box, import: docker}"),
            target("odd", "{ssh: odd, import: podman}"),
            target("arm", "{ssh: arm, import: podman, arch: arm64}"),
        ];
        let mut no_docker = probe("x86_64", false, &[], &[]);
        no_docker.importer = false;
        let unreachable = ProcessError::new(
            "ssh -- pi 'sh -c …'",
            crate::process::error::Failure::Exit(std::os::unix::process::ExitStatusExt::from_raw(
                255 << 8,
            )),
        );
        let probes = vec![
            Err(unreachable),
            Ok(no_docker),
            Ok(probe("sparc64", false, &[], &[])),
            Ok(probe("x86_64", false, &[], &[])),
        ];
        let (live, failed) = nodes(&targets, probes, None);
        let reasons: Vec<String> = failed
            .iter()
            .map(|(h, r)| r.planned(&h.name).lines().next().unwrap().to_string())
            .collect();
        assert_eq!(
            reasons,
            [
                "pi: FAILED: cannot reach pi over ssh: process didn't exit successfully: `ssh -- pi 'sh -c …'` (exit status: 255)",
                "box: FAILED: `docker` is not installed on box: install it there or change `import:` for this host",
                "odd: FAILED: odd reports an unknown machine 'sparc64': set `arch:` for it in the config",
                "arm: FAILED: arm is configured with `arch: arm64`, but the node reports 'x86_64' (amd64) and has no emulator for arm64 registered: images built for arm64 would not run there; fix `arch:` for arm in the config, or remove it (the node's own answer is then used)",
            ]
        );
        assert!(
            matches!(&failed[0].1, HostResult::Failed { process: Some(e), .. } if e.code() == Some(255))
        );
        assert!(live.is_empty());
    }

    #[test]
    fn a_configured_arch_is_checked_against_the_machine_and_flags_win() {
        let targets = [target("arm", "{ssh: arm, import: podman, arch: arm64}")];
        // A configured arch that contradicts the machine fails with the fix;
        // a 32-bit userland on a 64-bit kernel is no contradiction.
        let (_, failed) = nodes(&targets, vec![Ok(probe("x86_64", false, &[], &[]))], None);
        assert_eq!(
            failed[0].1.planned("arm"),
            "arm: FAILED: arm is configured with `arch: arm64`, but the node reports 'x86_64' (amd64) and has no emulator for arm64 registered: images built for arm64 would not run there; fix `arch:` for arm in the config, or remove it (the node's own answer is then used)"
        );
        // Nor is a machine with the arch's emulator registered (qemu-user).
        let mut qemu = probe("x86_64", false, &[], &[]);
        qemu.emulates.insert("aarch64".into());
        let (live, _) = nodes(&targets, vec![Ok(qemu)], None);
        assert_eq!(live[0].arch, Arch::Arm64);
        let pi32 = [target("pi", "{ssh: pi, import: podman, arch: arm}")];
        let (live, _) = nodes(&pi32, vec![Ok(probe("aarch64", false, &[], &[]))], None);
        assert_eq!(live[0].arch, Arch::Arm);
        // The configured arch wins over an unknown machine; --arch over both.
        let odd = [target("odd", "{ssh: odd, import: podman, arch: riscv64}")];
        let (live, _) = nodes(&odd, vec![Ok(probe("sparc64", false, &[], &[]))], None);
        assert_eq!(live[0].arch, Arch::Riscv64);
        let (live, _) = nodes(
            &targets,
            vec![Ok(probe("x86_64", false, &[], &[]))],
            Some(Arch::Arm),
        );
        assert_eq!(live[0].arch, Arch::Arm);
    }

    #[test]
    fn an_image_of_another_arch_is_refused_with_the_fix() {
        let e = podman();
        let t = target("pi", "{ssh: pi, import: containerd}");
        let mut wrong = built(Arch::Arm64, Status::UpToDate);
        if let Some(l) = wrong.local.as_mut() {
            l.arch = Some(Arch::Amd64);
        }
        let plan = plan_of(
            &t,
            probe("aarch64", true, &[], &[]),
            &[wrong],
            &facts(&e, false, true),
        );
        assert_eq!(plan.groups, []);
        assert_eq!(
            plan.lines(),
            ["# pi: FAILED: localhost/joke:1-arm64 is built for amd64 but pi is arm64: rebuild it with --arch arm64, or fix `arch:` for pi in the config"]
        );
    }
}
