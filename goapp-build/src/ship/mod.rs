//! The `ship` task: put images on nodes without a registry. Probe each node,
//! build what is missing or stale, skip nodes that already hold the image,
//! save each image once and stream it — compressed, hashed on the way — to
//! every node that needs it, then check and import it there.

pub mod remote;
pub mod tarfilter;

use crate::build::plan::image_name;
use crate::build::{self, ImageOptions};
use crate::core::arch::Arch;
use crate::engine::{Engine, EngineKind};
use crate::process::command::Cmd;
use crate::process::error::{Failure, ProcessError};
use crate::process::exec::{drain, Io, Running};
use crate::session::{Common, Session};
use crate::ship::remote::{full_ref, ArchiveFormat, Compression, Probe, ShipTarget};
use crate::ship::tarfilter::TarFilter;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `cargo xtask ship`.
#[derive(Clone, Debug, Default)]
pub struct ShipOptions {
    /// `--host`: hosts and groups, comma-separated.
    pub hosts: String,
    /// Apps; empty: the app of the current directory.
    pub apps: Vec<String>,
    /// `--arch`: overrides the hosts' architectures.
    pub arch: Option<String>,
    /// `--tag REPO:TAG`.
    pub tag: Option<String>,
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// `--dry-run`: probe (read-only), print, change nothing.
    pub dry_run: bool,
    /// `--no-build`: refuse instead of building a missing or stale image.
    pub no_build: bool,
    /// `--force`: send even when the node has the image.
    pub force: bool,
    /// Config and Go options.
    pub common: Common,
}

/// How shipping to one host ended.
#[derive(Clone, Debug, PartialEq)]
pub enum HostResult {
    /// Sent and imported.
    Sent {
        /// The image reference.
        image: String,
        /// Bytes sent (after leaving out blobs and compressing).
        bytes: u64,
        /// Seconds from the start of the upload to the end of the import.
        secs: f64,
        /// Blobs left out because the node had them.
        reused: usize,
        /// How the stream was compressed.
        compression: String,
    },
    /// Already there.
    Skipped {
        /// The image reference.
        image: String,
    },
    /// Failed.
    Failed {
        /// One sentence, then details.
        reason: String,
    },
}

/// What `ship` did, host by host.
#[derive(Debug, Default)]
pub struct ShipReport {
    /// Per host, in the order given, per image.
    pub hosts: Vec<(String, HostResult)>,
}

impl ShipReport {
    /// True when any host failed.
    pub fn failed(&self) -> bool {
        self.hosts
            .iter()
            .any(|(_, r)| matches!(r, HostResult::Failed { .. }))
    }
}

/// How long a probe, import or clean-up may take beyond the connection.
const SESSION_LIMIT: Duration = Duration::from_secs(600);

/// Runs `ship`.
pub fn run(s: &Session, o: &ShipOptions, out: &mut dyn Write) -> Result<ShipReport> {
    let Some(config) = &s.config else {
        bail!("ship needs a goapp.yaml with `hosts:`: none was found from {} upwards; pass --config PATH", s.cwd.display());
    };
    let ssh_config = config
        .file
        .defaults
        .ssh_config
        .as_ref()
        .map(|p| config.dir.join(s.env.expand_tilde(p)));
    which::which("ssh")
        .context("ssh is not installed: install it (apt-get install openssh-client)")?;
    // Control sockets live in a private directory removed at the end of the run.
    let control_dir = tempfile::Builder::new()
        .prefix("goapp-ssh-")
        .tempdir()
        .context("creating a directory for ssh control sockets")?;
    let targets: Vec<ShipTarget> = config
        .file
        .hosts
        .resolve(&o.hosts)?
        .into_iter()
        .enumerate()
        .map(|(i, (name, host))| ShipTarget {
            name,
            host,
            ssh_config: ssh_config.clone(),
            control: Some(control_dir.path().join(format!("{i}.sock"))),
        })
        .collect();
    let engine = s.engine(o.engine)?;
    let forced_arch = match &o.arch {
        Some(a) => Some(a.parse::<Arch>().context("--arch")?),
        None => None,
    };

    // The `image` options ship builds with; `arch` is set per call.
    let base = ImageOptions {
        apps: o.apps.clone(),
        tag: o.tag.clone(),
        arch: None,
        engine: o.engine,
        dry_run: true,
        force: false,
        strict: false,
        no_cache: false,
        no_shims: false,
        common: o.common.clone(),
    };
    // What each app's image is called, per arch, before anything is built.
    let apps = s.apps(&o.apps)?;
    let refs = build::image_refs(o.tag.as_deref(), &apps)?;
    let images_for =
        |arch: Arch| -> Vec<String> { refs.iter().map(|(r, t)| image_name(r, t, arch)).collect() };
    let unqualified = match engine.kind {
        EngineKind::Podman => "localhost",
        EngineKind::Docker => "docker.io",
    };

    // 1. Probe every node at once: machine, tools, what it already holds.
    let mut report = ShipReport::default();
    let candidate_arches = |t: &ShipTarget| -> Vec<Arch> {
        match forced_arch.or(t.host.arch) {
            Some(a) => vec![a],
            None => sorted_unique(
                apps.iter()
                    .flat_map(|a| a.arch.clone().unwrap_or_default())
                    .chain([Arch::Amd64, Arch::Arm64])
                    .collect(),
            ),
        }
    };
    let mut probe_refs = Vec::new();
    for t in &targets {
        let mut refs = Vec::new();
        for a in candidate_arches(t) {
            refs.extend(images_for(a).iter().map(|i| full_ref(i, unqualified)));
        }
        probe_refs.push(refs);
    }
    // When every node's architecture is known up front, the build check runs
    // while the nodes are probed instead of after.
    let known: Option<Vec<Arch>> = targets
        .iter()
        .map(|t| forced_arch.or(t.host.arch))
        .collect::<Option<Vec<_>>>()
        .map(sorted_unique);
    let mut early_build: Option<(Vec<u8>, Result<()>)> = None;
    let mut masters: Vec<Master> = Vec::new();
    let probes: Vec<Result<Probe>> = std::thread::scope(|scope| {
        let builder = known.as_ref().map(|arches| {
            let (base, engine) = (&base, &engine);
            scope.spawn(move || {
                let mut text = Vec::new();
                let r = ensure_images(s, o, base, engine, arches, &mut text);
                (text, r)
            })
        });
        let handles: Vec<_> = targets
            .iter()
            .zip(&probe_refs)
            .map(|(t, refs)| {
                scope.spawn(move || {
                    let master = Master::start(t);
                    (master, t.probe(refs))
                })
            })
            .collect();
        let probes = handles
            .into_iter()
            .map(|h| match h.join() {
                Ok((m, p)) => {
                    masters.extend(m);
                    p
                }
                Err(_) => Err(anyhow!("probe thread panicked")),
            })
            .collect();
        early_build = builder.map(|b| {
            b.join()
                .unwrap_or_else(|_| (Vec::new(), Err(anyhow!("build thread panicked"))))
        });
        probes
    });

    // 2. Each reachable node's architecture and the images it needs.
    let mut live: Vec<(&ShipTarget, Probe, Arch)> = Vec::new();
    for (t, p) in targets.iter().zip(probes) {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                report.hosts.push((
                    t.name.clone(),
                    HostResult::Failed {
                        reason: format!("{e:#}"),
                    },
                ));
                continue;
            }
        };
        if !p.importer {
            let reason = format!(
                "`{}` is not installed on {}: install it there or change `import:` for this host",
                t.importer(),
                t.name
            );
            report
                .hosts
                .push((t.name.clone(), HostResult::Failed { reason }));
            continue;
        }
        let arch = match forced_arch
            .or(t.host.arch)
            .or_else(|| Arch::from_uname(&p.machine))
        {
            Some(a) => a,
            None => {
                let reason = format!(
                    "{} reports an unknown machine '{}': set `arch:` for it in the config",
                    t.name, p.machine
                );
                report
                    .hosts
                    .push((t.name.clone(), HostResult::Failed { reason }));
                continue;
            }
        };
        live.push((t, p, arch));
    }
    let arches = sorted_unique(live.iter().map(|(_, _, a)| *a).collect());

    // 3. Build what is missing or stale (or refuse with --no-build), unless
    // that already ran alongside the probes.
    match early_build {
        Some(r) => {
            let (text, result) = r;
            out.write_all(&text)?;
            result?;
        }
        None if !arches.is_empty() => ensure_images(s, o, &base, &engine, &arches, out)?,
        None => {}
    }

    // 4. Local facts per image: its id and the architecture recorded in it.
    let mut groups: BTreeMap<(String, ArchiveFormat), Vec<Member>> = BTreeMap::new();
    let mut local: BTreeMap<String, (String, Arch)> = BTreeMap::new();
    let zstd_local = which::which("zstd").is_ok();
    for (t, p, arch) in &live {
        for image in images_for(*arch) {
            let reference = full_ref(&image, unqualified);
            if o.dry_run && !local.contains_key(&reference) && inspect(&engine, &reference).is_err()
            {
                writeln!(
                    out,
                    "# {}: {reference} would be built above, then sent",
                    t.name
                )?;
                continue;
            }
            if !local.contains_key(&reference) {
                let (id, recorded) = inspect(&engine, &reference)?;
                local.insert(reference.clone(), (id, recorded));
            }
            let (id, recorded) = &local[&reference];
            if let Err(reason) = check_arch(&reference, *recorded, &t.name, *arch) {
                report
                    .hosts
                    .push((t.name.clone(), HostResult::Failed { reason }));
                continue;
            }
            let there = p.images.iter().any(|(r, rid)| r == &reference && rid == id);
            if there && !o.force {
                writeln!(out, "{}: {reference} is already there (same id {}); nothing sent (--force sends anyway)", t.name, short(id))?;
                report.hosts.push((
                    t.name.clone(),
                    HostResult::Skipped {
                        image: reference.clone(),
                    },
                ));
                continue;
            }
            let format = t.format(engine.kind);
            // With --force everything is sent; otherwise the node's blobs are left out.
            let drop = if format == ArchiveFormat::Oci && !o.force {
                p.blobs.clone()
            } else {
                BTreeSet::new()
            };
            let compression = t.compression(format, p.zstd, zstd_local, *arch);
            groups
                .entry((reference.clone(), format))
                .or_default()
                .push(Member {
                    target: t,
                    arch: *arch,
                    drop,
                    compression,
                });
        }
    }

    if o.dry_run {
        for ((reference, format), members) in &groups {
            for line in dry_run_lines(&engine, reference, *format, members) {
                writeln!(out, "{line}")?;
            }
        }
        return Ok(report);
    }

    // 5. One save per image and format, streamed to every node that needs it.
    let multi = s.env.stderr_tty.then(MultiProgress::new);
    let results: Vec<Vec<(String, HostResult)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|((reference, format), members)| {
                let engine = &engine;
                let multi = multi.as_ref();
                scope.spawn(move || send_group(engine, reference, *format, members, multi))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    report.hosts.extend(results.into_iter().flatten());

    // 6. One line per host.
    let order: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    report
        .hosts
        .sort_by_key(|(n, _)| order.iter().position(|o| o == n));
    for (name, r) in &report.hosts {
        match r {
            HostResult::Sent {
                image,
                bytes,
                secs,
                reused,
                compression,
            } => {
                let reuse = if *reused > 0 {
                    format!(", {reused} blob(s) already there left out")
                } else {
                    String::new()
                };
                writeln!(out, "{name}: sent {image} ({}, {compression}{reuse}, {secs:.1}s), verified and imported", human(*bytes))?
            }
            HostResult::Skipped { image } => {
                writeln!(out, "{name}: skipped {image} (already there)")?
            }
            HostResult::Failed { reason } => writeln!(out, "{name}: FAILED: {reason}")?,
        }
    }
    Ok(report)
}

/// Builds the images of `arches` that are missing or stale; with
/// `--no-build` refuses instead, with `--dry-run` prints the builds.
fn ensure_images(
    s: &Session,
    o: &ShipOptions,
    base: &ImageOptions,
    engine: &Engine,
    arches: &[Arch],
    out: &mut dyn Write,
) -> Result<()> {
    let list = arches
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",");
    let opts = ImageOptions {
        arch: Some(list),
        dry_run: o.dry_run,
        ..base.clone()
    };
    if !o.no_build {
        build::run_with(s, &opts, engine, out)?;
        return Ok(());
    }
    let plans = build::plan(s, &opts, engine)?;
    let builds: Vec<_> = plans.iter().flat_map(|(_, p)| p.builds.iter()).collect();
    if let Some(b) = build::stale(engine, &builds).first() {
        bail!("the image {} is missing or older than its inputs: build it with `cargo xtask image`, or drop --no-build", b.image);
    }
    Ok(())
}

fn sorted_unique(mut v: Vec<Arch>) -> Vec<Arch> {
    v.sort();
    v.dedup();
    v
}

/// Refuses an image whose recorded architecture is not the node's: an
/// amd64 image imports fine on an arm64 node and fails only when a pod starts.
pub fn check_arch(
    reference: &str,
    recorded: Arch,
    host: &str,
    host_arch: Arch,
) -> std::result::Result<(), String> {
    if recorded == host_arch {
        return Ok(());
    }
    Err(format!("{reference} is built for {recorded} but {host} is {host_arch}: rebuild it with --arch {host_arch}, or fix `arch:` for {host} in the config"))
}

/// A master ssh connection owned by this run: killed (and reaped) on drop.
struct Master(Running);

impl Master {
    /// Starts the master and waits until its socket is there. `None` when it
    /// cannot connect: sessions then connect on their own, and the probe
    /// reports why.
    fn start(t: &ShipTarget) -> Option<Master> {
        let sock = t.control.as_ref()?;
        let mut m = Master(t.master(sock).spawn(Io::Null, Io::Null, Io::Null).ok()?);
        let deadline = Instant::now()
            + Duration::from_secs(u64::from(t.host.connect_timeout.unwrap_or(10)) + 5);
        while Instant::now() < deadline {
            if sock.exists() {
                return Some(m);
            }
            if m.0.has_ended() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// `(image id as sha256:…, architecture)` of a local image.
fn inspect(engine: &Engine, reference: &str) -> Result<(String, Arch)> {
    let out = engine
        .cmd()
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Architecture}}",
            reference,
        ])
        .run_timeout(Some(Duration::from_secs(60)))
        .with_context(|| {
            format!(
                "the image {reference} is not in the local {} store",
                engine.kind
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let (Some(id), Some(arch)) = (words.next(), words.next()) else {
        bail!("could not read the id and architecture of {reference}");
    };
    let id = if id.starts_with("sha256:") {
        id.to_string()
    } else {
        format!("sha256:{id}")
    };
    let arch = Arch::from_image_arch(arch)
        .ok_or_else(|| anyhow!("{reference} records an unknown architecture '{arch}'"))?;
    Ok((id, arch))
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}

/// Bytes for people: `4.1 MiB`.
pub fn human(n: u64) -> String {
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

/// A per-run name for the remote archive.
fn remote_tmp(t: &ShipTarget, compression: Compression) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}/goapp-{}-{:x}.{}.part",
        t.tmp_dir().trim_end_matches('/'),
        std::process::id(),
        nonce,
        compression.suffix()
    )
}

/// One node's share of a group: what it gets and how.
struct Member<'a> {
    target: &'a ShipTarget,
    arch: Arch,
    /// Blobs the node already holds, left out of an OCI archive.
    drop: BTreeSet<String>,
    compression: Compression,
}

/// One host's upload in progress.
struct Upload {
    name: String,
    tmp: String,
    tx: Option<SyncSender<Arc<Vec<u8>>>>,
    thread: std::thread::JoinHandle<Result<u64>>,
    started: Instant,
}

/// Nodes that get the same bytes: same blobs left out, same compression.
/// Each lane filters the one saved stream, compresses it once, hashes what
/// it sends, and fans it out to its nodes.
struct Lane {
    filter: Option<TarFilter>,
    compressor: Option<Running>,
    stdin: Option<std::process::ChildStdin>,
    /// For uncompressed lanes the hashing and fan-out happen inline.
    inline: Option<Fanout>,
    reader: Option<std::thread::JoinHandle<Result<(String, u64)>>>,
    error: Option<String>,
}

/// Hashes bytes and hands them to every live upload.
struct Fanout {
    hasher: Sha256,
    total: u64,
    txs: Vec<Option<SyncSender<Arc<Vec<u8>>>>>,
}

impl Fanout {
    fn send(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.total += bytes.len() as u64;
        let chunk = Arc::new(bytes.to_vec());
        for tx in self.txs.iter_mut() {
            if let Some(t) = tx {
                if t.send(chunk.clone()).is_err() {
                    *tx = None; // that upload ended early; its thread has the reason
                }
            }
        }
    }

    fn finish(self) -> (String, u64) {
        (
            crate::build::inputs::hex(&self.hasher.finalize()),
            self.total,
        )
    }
}

fn save_cmd(engine: &Engine, reference: &str, format: ArchiveFormat) -> Cmd {
    match (engine.kind, format) {
        (EngineKind::Podman, ArchiveFormat::Oci) => {
            engine
                .cmd()
                .args(["save", "--format", "oci-archive", reference])
        }
        (EngineKind::Podman, ArchiveFormat::Docker) => {
            engine
                .cmd()
                .args(["save", "--format", "docker-archive", reference])
        }
        (EngineKind::Docker, _) => engine.cmd().args(["save", reference]),
    }
}

/// What `--dry-run` prints for a group: per member, the save-and-upload
/// pipeline and the import.
fn dry_run_lines(
    engine: &Engine,
    reference: &str,
    format: ArchiveFormat,
    members: &[Member],
) -> Vec<String> {
    let save = save_cmd(engine, reference, format);
    members
        .iter()
        .flat_map(|m| {
            let t = m.target;
            let tmp = format!(
                "{}/goapp-PID-NONCE.{}.part",
                t.tmp_dir().trim_end_matches('/'),
                m.compression.suffix()
            );
            let filter = if m.drop.is_empty() {
                String::new()
            } else {
                format!(
                    " | (leave out the {} blob(s) {} holds)",
                    m.drop.len(),
                    t.name
                )
            };
            let compress = m
                .compression
                .compress()
                .map(|c| format!(" | {c}"))
                .unwrap_or_default();
            [
                format!(
                    "{save}{filter}{compress} | {}",
                    t.ssh(&t.upload_script(&tmp))
                ),
                t.ssh(&t.import_script(&tmp, "SHA256-OF-THE-STREAM", m.compression, m.arch))
                    .to_string(),
            ]
        })
        .collect()
}

/// Saves `reference` once and streams it to the members; one result each.
fn send_group(
    engine: &Engine,
    reference: &str,
    format: ArchiveFormat,
    members: &[Member],
    multi: Option<&MultiProgress>,
) -> Vec<(String, HostResult)> {
    let save = save_cmd(engine, reference, format);
    let style = ProgressStyle::with_template(
        "{prefix:.bold} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed:>4} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());

    // Uploads, one per member.
    let mut uploads: Vec<Upload> = Vec::new();
    for m in members {
        let t = m.target;
        let tmp = remote_tmp(t, m.compression);
        let cmd = t.ssh(&t.upload_script(&tmp));
        let bar = multi.map(|mp| {
            let b = mp.add(ProgressBar::new_spinner());
            b.set_style(style.clone());
            b.set_prefix(t.name.clone());
            b.set_message(format!("{reference} ({})", m.compression.describe()));
            b
        });
        let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(32);
        let thread = std::thread::spawn(move || upload(cmd, rx, bar).map_err(Into::into));
        uploads.push(Upload {
            name: t.name.clone(),
            tmp,
            tx: Some(tx),
            thread,
            started: Instant::now(),
        });
    }

    // Lanes.
    let mut keys: Vec<(&BTreeSet<String>, Compression)> = Vec::new();
    let mut lane_of = Vec::new();
    for m in members {
        let key = (&m.drop, m.compression);
        let i = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            keys.push(key);
            keys.len() - 1
        });
        lane_of.push(i);
    }
    let mut lanes: Vec<Lane> = keys
        .iter()
        .enumerate()
        .map(|(i, (drop, compression))| {
            let member_ids: Vec<usize> = (0..members.len()).filter(|&m| lane_of[m] == i).collect();
            let fanout = Fanout {
                hasher: Sha256::new(),
                total: 0,
                txs: member_ids.iter().map(|&m| uploads[m].tx.clone()).collect(),
            };
            let filter = (!drop.is_empty()).then(|| TarFilter::new((*drop).clone()));
            let mut lane = Lane {
                filter,
                compressor: None,
                stdin: None,
                inline: None,
                reader: None,
                error: None,
            };
            match compression.compress() {
                None => lane.inline = Some(fanout),
                Some(cmd) => match cmd.spawn(Io::Piped, Io::Piped, Io::Null) {
                    Ok(mut child) => {
                        lane.stdin = child.stdin();
                        let mut stdout = child.stdout();
                        let mut fanout = fanout;
                        lane.reader = Some(std::thread::spawn(move || {
                            let mut buf = vec![0u8; 256 * 1024];
                            let Some(r) = stdout.as_mut() else {
                                bail!("the compressor has no output")
                            };
                            loop {
                                let n = r.read(&mut buf)?;
                                if n == 0 {
                                    break;
                                }
                                fanout.send(&buf[..n]);
                            }
                            Ok(fanout.finish())
                        }));
                        lane.compressor = Some(child);
                    }
                    Err(e) => lane.error = Some(e.to_string()),
                },
            }
            lane
        })
        .collect();
    for u in uploads.iter_mut() {
        u.tx = None; // the lanes hold the senders now
    }

    // The one save: engine save, read here, filtered and fed to every lane.
    let save_result: Result<()> = (|| {
        let mut child = save.spawn(Io::Null, Io::Piped, Io::Piped)?;
        let stderr = drain(child.stderr());
        let Some(mut reader) = child.stdout() else {
            bail!("`{save}` has no output");
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    child.kill();
                    let text =
                        String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                    return Err(save.failed(Failure::Io(e.to_string().into()), &text).into());
                }
            };
            for lane in lanes.iter_mut().filter(|l| l.error.is_none()) {
                let Lane {
                    filter,
                    stdin,
                    inline,
                    error,
                    ..
                } = lane;
                let mut sink = |b: &[u8]| -> std::io::Result<()> {
                    match (inline.as_mut(), stdin.as_mut()) {
                        (Some(f), _) => {
                            f.send(b);
                            Ok(())
                        }
                        (None, Some(w)) => w.write_all(b),
                        (None, None) => Ok(()),
                    }
                };
                let r = match filter {
                    Some(f) => f.feed(&buf[..n], &mut sink),
                    None => sink(&buf[..n]),
                };
                if let Err(e) = r {
                    *error = Some(format!("compressing the stream failed: {e}"));
                }
            }
        }
        let text = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        child.finish(&text)?;
        Ok(())
    })();

    // Close each lane: its digest and size.
    let mut lane_out: Vec<std::result::Result<(String, u64), String>> = Vec::new();
    for lane in lanes.iter_mut() {
        drop(lane.stdin.take());
        let r = if let Some(f) = lane.inline.take() {
            Ok(f.finish())
        } else if let Some(h) = lane.reader.take() {
            h.join()
                .unwrap_or_else(|_| Err(anyhow!("compressor thread panicked")))
                .map_err(|e| format!("{e:#}"))
        } else {
            Err(lane.error.clone().unwrap_or_else(|| "no compressor".into()))
        };
        if let Some(mut c) = lane.compressor.take() {
            let _ = c.wait();
        }
        lane_out.push(match (&lane.error, r) {
            (Some(e), _) => Err(e.clone()),
            (None, r) => r,
        });
    }
    let reused: Vec<usize> = lanes
        .iter()
        .map(|l| l.filter.as_ref().map(|f| f.dropped_entries).unwrap_or(0))
        .collect();

    // Each host: its upload, then check and import, in parallel.
    let finished: Vec<(Upload, Result<u64>)> = uploads
        .into_iter()
        .map(|mut u| {
            let thread = std::mem::replace(&mut u.thread, std::thread::spawn(|| Ok(0)));
            let r = thread
                .join()
                .unwrap_or_else(|_| Err(anyhow!("upload thread panicked")));
            (u, r)
        })
        .collect();
    let mut results = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = finished
            .iter()
            .enumerate()
            .map(|(i, (u, sent))| {
                let m = &members[i];
                let lane = lane_of[i];
                let lane_result = lane_out[lane].clone();
                let reused = reused[lane];
                let save_ok = save_result.as_ref().map_err(|e| format!("{e:#}"));
                scope.spawn(move || {
                    let outcome = match (save_ok, lane_result, sent) {
                        (Err(e), _, _) | (_, Err(e), _) => Err(anyhow!("{e}")),
                        (_, _, Err(e)) => Err(anyhow!("transfer to {} failed: {e:#}", u.name)),
                        (_, Ok((_, total)), Ok(n)) if *n != total => Err(anyhow!(
                            "transfer to {} stopped after {} of {}",
                            u.name,
                            human(*n),
                            human(total)
                        )),
                        (_, Ok((sha, total)), Ok(_)) => m
                            .target
                            .ssh(&m.target.import_script(&u.tmp, &sha, m.compression, m.arch))
                            .run_timeout(Some(SESSION_LIMIT))
                            .map(|_| total)
                            .map_err(|e| anyhow!("import on {} failed: {e:#}", u.name)),
                    };
                    match outcome {
                        Ok(bytes) => (
                            u.name.clone(),
                            HostResult::Sent {
                                image: reference.to_string(),
                                bytes,
                                secs: u.started.elapsed().as_secs_f64(),
                                reused,
                                compression: m.compression.describe(),
                            },
                        ),
                        Err(e) => {
                            // The import script removes its archive itself; this removes
                            // what a broken upload left (and later uploads sweep old ones).
                            let _ = m
                                .target
                                .ssh(&ShipTarget::cleanup_script(&u.tmp))
                                .run_timeout(Some(Duration::from_secs(15)));
                            (
                                u.name.clone(),
                                HostResult::Failed {
                                    reason: format!("{e:#}"),
                                },
                            )
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            results.push(h.join().unwrap_or_else(|_| {
                (
                    "?".into(),
                    HostResult::Failed {
                        reason: "import thread panicked".into(),
                    },
                )
            }));
        }
    });
    results
}

/// Feeds chunks into `ssh … cat > tmp`; returns the bytes written.
fn upload(
    cmd: Cmd,
    rx: Receiver<Arc<Vec<u8>>>,
    bar: Option<ProgressBar>,
) -> Result<u64, ProcessError> {
    let mut child = cmd.spawn(Io::Piped, Io::Null, Io::Piped)?;
    let stderr = drain(child.stderr());
    let mut stdin = child.stdin();
    let mut written = 0u64;
    let mut write_error = None;
    for chunk in rx {
        let Some(w) = stdin.as_mut() else { break };
        if let Err(e) = w.write_all(&chunk) {
            write_error = Some(e);
            break;
        }
        written += chunk.len() as u64;
        if let Some(b) = &bar {
            b.set_position(written);
        }
    }
    drop(stdin); // EOF: the remote `cat` finishes
    let status = child.wait()?;
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if let Some(b) = &bar {
        b.finish();
    }
    if !status.success() || write_error.is_some() {
        let mut e = cmd.failed(Failure::Exit(status), &stderr);
        e.detail = write_error.map(|e| format!(" ({e})").into());
        return Err(e);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_mismatch_is_refused_with_the_fix() {
        assert_eq!(
            check_arch("joke:1-arm64", Arch::Arm64, "pi", Arch::Arm64),
            Ok(())
        );
        assert_eq!(
            check_arch("joke:1-arm64", Arch::Amd64, "pi", Arch::Arm64).unwrap_err(),
            "joke:1-arm64 is built for amd64 but pi is arm64: rebuild it with --arch arm64, or fix `arch:` for pi in the config"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 * 1024 * 1024), "5.0 MiB");
    }
}
