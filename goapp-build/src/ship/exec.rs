//! Running a [`TransferPlan`]: per group, the one `save` is read here,
//! filtered and compressed once per lane, hashed as it goes and fanned out
//! to every node's upload; then each node verifies and imports. Groups run
//! at once; nodes are independent, and a worker that dies takes only its
//! own hosts down (each gets a FAILED result). Every child is a
//! [`Running`], killed if the executor leaves early.

use crate::process::command::Cmd;
use crate::process::error::{Failure, ProcessError};
use crate::process::exec::{drain, Io, Running};
use crate::process::interrupt::{self, Hook, Stage};
use crate::process::rundir;
use crate::push::PushStatus;
use crate::ship::import::{SHA_VAR, VERIFIED};
use crate::ship::plan::{Group, Lane, Member, PullGroup, Retag, TransferPlan};
use crate::ship::progress::{Meter, NodeLine};
use crate::ship::tarfilter::TarFilter;
use crate::ship::{human, HostResult};
use indicatif::MultiProgress;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::process::ChildStdin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an import (or a node's pull) may take beyond the connection.
const SESSION_LIMIT: Duration = Duration::from_secs(600);

/// Bytes read from `save` per step.
const CHUNK: usize = 256 * 1024;

/// Chunks (of at most [`CHUNK`] bytes) buffered per node: at most 32 MiB
/// held for the slowest node, however large the image.
const READ_AHEAD: usize = 128;

/// Runs every group of the plan at once, and the retags beside them; one
/// result per member and retag.
pub(crate) fn execute(
    plan: &TransferPlan,
    multi: Option<&MultiProgress>,
) -> Vec<(String, HostResult)> {
    let _partial: Vec<Hook> = plan
        .groups
        .iter()
        .flat_map(Group::members)
        .map(remove_on_interrupt)
        .collect();
    for (host, cmd) in &plan.sweeps {
        // Best effort: the upload there would sweep them after an hour anyway.
        if cmd.run_timeout(Some(Duration::from_secs(30))).is_ok() {
            crate::core::ui::detail(&format!(
                "removed partial archives an ended run left on {host}"
            ));
        }
    }
    std::thread::scope(|scope| {
        let retags = scope.spawn(|| run_retags(&plan.retags));
        let pulls = scope.spawn(|| plan.pulls.iter().flat_map(run_pulls).collect::<Vec<_>>());
        let mut out = run_groups(&plan.groups, |g| send_group(g, multi));
        out.extend(pulls.join().unwrap_or_else(|_| {
            plan.pulls
                .iter()
                .flat_map(|p| &p.members)
                .map(|m| {
                    (
                        m.host.clone(),
                        HostResult::failed(
                            "the pull stopped on an internal error (a bug: please report it)",
                        ),
                    )
                })
                .collect()
        }));
        out.extend(retags.join().unwrap_or_else(|_| {
            plan.retags
                .iter()
                .map(|r| (r.host.clone(), HostResult::failed("setting the image's names stopped on an internal error (a bug: please report it)")))
                .collect()
        }));
        out
    })
}

/// Pushes a registry's images once, then has every node pull at once.
fn run_pulls(p: &PullGroup) -> Vec<(String, HostResult)> {
    if let Some(failed) = push_once(p) {
        return failed;
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = p
            .members
            .iter()
            .map(|m| {
                scope.spawn(move || {
                    let started = Instant::now();
                    m.cmd
                        .run_timeout(Some(SESSION_LIMIT))
                        .map(|_| started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&p.members)
            .map(|(h, m)| {
                let result = match h.join() {
                    Ok(Ok(took)) => HostResult::Pulled {
                        image: m.image.clone(),
                        id: m.id.clone(),
                        remote: m.remote.clone(),
                        secs: took.as_secs_f64(),
                        names: m.names.clone(),
                        pinned: m.pinned,
                    },
                    Ok(Err(e)) => HostResult::failed_by(
                        format!(
                            "{} could not pull {} from {}: {e}",
                            m.host,
                            m.remote,
                            p.registry.shown()
                        ),
                        e,
                    ),
                    Err(_) => HostResult::failed(
                        "the pull stopped on an internal error (a bug: please report it)",
                    ),
                };
                (m.host.clone(), result)
            })
            .collect()
    })
}

/// Pushes what the group's nodes need; when a push fails, a FAILED
/// result for each of them.
fn push_once(p: &PullGroup) -> Option<Vec<(String, HostResult)>> {
    let pushed = crate::push::exec::execute(&p.registry, &p.engine, p.pushes.clone());
    let (reason, process) = pushed.into_iter().find_map(|(_, st)| match st {
        PushStatus::Failed { reason, process } => Some((reason, process)),
        _ => None,
    })?;
    let fail = |m: &crate::ship::plan::Puller| {
        let why = format!("{} could not pull: {reason}", m.host);
        let r = match &process {
            Some(e) => HostResult::failed_by(why, (**e).clone()),
            None => HostResult::failed(why),
        };
        (m.host.clone(), r)
    };
    Some(p.members.iter().map(fail).collect())
}

/// Sets names and pins on nodes that hold the image, all at once.
fn run_retags(retags: &[Retag]) -> Vec<(String, HostResult)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = retags
            .iter()
            .map(|r| scope.spawn(move || r.cmd.run_timeout(Some(SESSION_LIMIT))))
            .collect();
        handles
            .into_iter()
            .zip(retags)
            .map(|(h, r)| {
                let result = match h.join() {
                    Ok(Ok(_)) => HostResult::Retagged {
                        image: r.image.clone(),
                        id: r.id.clone(),
                        names: r.names.clone(),
                        pinned: r.pinned,
                    },
                    Ok(Err(e)) => HostResult::failed_by(
                        format!("setting the names of {} on {} failed: {e}", r.image, r.host),
                        e,
                    ),
                    Err(_) => HostResult::failed("setting the image's names stopped on an internal error (a bug: please report it)"),
                };
                (r.host.clone(), result)
            })
            .collect()
    })
}

/// On an interrupt, removes what `m`'s upload left on its node, over the
/// master connection that is still open then (bounded in time).
fn remove_on_interrupt(m: &Member) -> Hook {
    let (direct, master, host) = (m.cleanup_direct.clone(), m.cleanup.clone(), m.host.clone());
    interrupt::on_interrupt(Stage::Remote, move || {
        // A connection of its own first: over a slow link the master still
        // has upload bytes queued ahead of anything sent through it.
        let removed = direct
            .run_timeout(Some(Duration::from_secs(5)))
            .or_else(|_| master.run_timeout(Some(Duration::from_secs(3))));
        match removed {
            Ok(out) if out.stdout.starts_with(b"removed") => {
                vec![format!("removed the partial archive on {host}")]
            }
            Ok(_) => Vec::new(),
            Err(_) => vec![format!(
                "could not reach {host} to remove its partial archive (the next upload there removes it after an hour)"
            )],
        }
    })
}

/// One sentence for a step over ssh that failed: a lost connection (ssh's
/// own exit status 255) says so and what to do; otherwise what the node's
/// command said last. The whole command is in the report's process (`-v`,
/// `--json`).
fn failed_step(what: &str, host: &str, e: &ProcessError) -> String {
    let said = e.last_line().map(str::trim).unwrap_or("it said nothing");
    if e.code() == Some(255) {
        return format!("{what} {host} lost its ssh connection ({said}): check the link to {host} and ship again (the node removes what it received of the archive)");
    }
    match &e.failure {
        crate::process::error::Failure::Timeout(limit) => {
            format!(
                "{what} {host} did not finish within {}s: check the link and ship again",
                limit.as_secs()
            )
        }
        crate::process::error::Failure::Exit(status) => {
            format!("{what} {host} failed ({status}): {said}")
        }
        _ => format!("{what} {host} failed: {said}"),
    }
}

/// Runs `worker` on every group at once. A worker that panics leaves a
/// FAILED result for each of its hosts (and removes what it may have left
/// there), never a silent gap in the report.
pub(crate) fn run_groups<F>(groups: &[Group], worker: F) -> Vec<(String, HostResult)>
where
    F: Fn(&Group) -> Vec<(String, HostResult)> + Sync,
{
    let worker = &worker;
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|g| (g, scope.spawn(move || worker(g))))
            .collect();
        handles
            .into_iter()
            .flat_map(|(g, h)| h.join().unwrap_or_else(|_| panicked(g)))
            .collect()
    })
}

fn panicked(g: &Group) -> Vec<(String, HostResult)> {
    g.members()
        .map(|m| {
            cleanup(m);
            let reason = format!(
                "the transfer of {} to {} stopped on an internal error (a bug: please report it); nothing was imported by this run",
                g.reference, m.host
            );
            (m.host.clone(), HostResult::failed(reason))
        })
        .collect()
}

/// Saves the group's image once and delivers it to every member.
fn send_group(g: &Group, multi: Option<&MultiProgress>) -> Vec<(String, HostResult)> {
    // The image's size makes the percentage and time left; only worth a
    // process when there is a terminal to draw them on.
    let size = multi.and_then(|_| image_size(g));
    let mut lanes: Vec<LaneRun> = g
        .lanes
        .iter()
        .map(|l| LaneRun::start(g, l, multi, size))
        .collect();
    let saved = pump(&g.save, &mut lanes);
    let whole = saved.is_ok();
    let sent: Vec<Sent> = lanes.into_iter().map(|l| l.finish(whole)).collect();
    deliver(g, &saved, &sent)
}

/// The image's size in the local store (the plan's query), about what
/// `save` writes.
fn image_size(g: &Group) -> Option<u64> {
    let out = g.size.run_timeout(Some(Duration::from_secs(20))).ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Reads the saved archive and feeds every lane.
fn pump(save: &Cmd, lanes: &mut [LaneRun]) -> Result<(), ProcessError> {
    let mut child = save.spawn(Io::Null, Io::Piped, Io::Piped)?;
    let stderr = drain(child.stderr());
    let text = |h: JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    let mut buf = vec![0u8; CHUNK];
    if let Some(mut out) = child.stdout() {
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lanes.iter_mut().for_each(|l| l.feed(&buf[..n])),
                Err(e) => {
                    child.kill();
                    return Err(save.failed(Failure::Io(e.to_string().into()), &text(stderr)));
                }
            }
        }
    }
    lanes.iter().for_each(|l| l.meter.read_all());
    child.finish(&text(stderr)).map(|_| ())
}

/// A lane at work: its filter, its compressor (or inline hashing), and the
/// uploads it feeds.
struct LaneRun {
    filter: Option<TarFilter>,
    sink: Sink,
    uploads: Vec<Upload>,
    error: Option<String>,
    meter: Arc<Meter>,
}

enum Sink {
    /// Uncompressed: hashed and fanned out right here.
    Inline(Fanout),
    /// Written to the compressor, whose output a thread hashes and fans out.
    Compressor {
        child: Running,
        stdin: Option<ChildStdin>,
        reader: JoinHandle<std::io::Result<Finished>>,
    },
    /// The compressor could not start: the error says why.
    Broken,
}

/// One member's upload in progress.
struct Upload {
    thread: JoinHandle<Result<u64, ProcessError>>,
    started: Instant,
    line: Arc<NodeLine>,
}

/// What a finished lane hands on.
struct Sent {
    /// The sha256 and size of the bytes sent, or why the lane failed.
    stream: Result<(String, u64), String>,
    /// Blobs the filter left out.
    reused: usize,
    /// Each member's upload: bytes written, or its error; when it started;
    /// its progress line.
    uploads: Vec<(Result<u64, ProcessError>, Instant, Arc<NodeLine>)>,
}

impl LaneRun {
    fn start(g: &Group, lane: &Lane, multi: Option<&MultiProgress>, size: Option<u64>) -> LaneRun {
        let meter = Arc::new(Meter::new(lane.compress.is_some()));
        let mut txs = Vec::new();
        let uploads = lane
            .members
            .iter()
            .map(|m| {
                // Up to READ_AHEAD chunks wait for a slow node: `save` of a Go
                // service's image (a few MiB) is then read whole at once, so
                // the progress total is the archive's own size from the start.
                let (tx, rx) = sync_channel::<Piece>(READ_AHEAD);
                txs.push(Some(tx));
                let what = format!("{} ({})", g.reference, lane.compression.describe());
                let line = Arc::new(NodeLine::new(multi, &m.host, what, size, meter.clone()));
                let (cmd, mine, marker) = (m.upload.clone(), line.clone(), m.marker.clone());
                // A hard stop leaves the file: the next upload there removes it.
                rundir::record(&rundir::Record::Part(m.host.clone(), m.tmp.clone()));
                Upload {
                    thread: std::thread::spawn(move || upload(&cmd, rx, &mine, &marker)),
                    started: Instant::now(),
                    line,
                }
            })
            .collect();
        let fanout = Fanout {
            hasher: Sha256::new(),
            total: 0,
            txs,
            meter: meter.clone(),
        };
        let (sink, error) = match &lane.compress {
            None => (Sink::Inline(fanout), None),
            Some(cmd) => match compressor(cmd, fanout) {
                Ok(sink) => (sink, None),
                Err(e) => (Sink::Broken, Some(e.to_string())),
            },
        };
        let filter = (!lane.drop.is_empty() || lane.add_name.is_some())
            .then(|| TarFilter::new(lane.drop.clone()).adding_name(lane.add_name.clone()));
        LaneRun {
            filter,
            sink,
            uploads,
            error,
            meter,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.meter.read(bytes.len());
        let sink = &mut self.sink;
        let mut write = |b: &[u8]| -> std::io::Result<()> {
            match sink {
                Sink::Inline(f) => {
                    f.send(b);
                    Ok(())
                }
                Sink::Compressor { stdin: Some(w), .. } => w.write_all(b),
                _ => Ok(()),
            }
        };
        let r = match &mut self.filter {
            Some(f) => f.feed(bytes, &mut write),
            None => write(bytes),
        };
        if let Err(e) = r {
            self.error = Some(format!("compressing the stream failed: {e}"));
        }
    }

    /// Ends the stream: EOF to the compressor, then to every upload, after
    /// the marker when the stream is `whole` (the save succeeded) and every
    /// step of the lane too.
    fn finish(self, whole: bool) -> Sent {
        let (stream, txs) = match self.sink {
            Sink::Inline(f) => {
                let done = f.finish();
                (Ok((done.sha, done.total)), done.txs)
            }
            Sink::Compressor {
                mut child,
                stdin,
                reader,
            } => {
                drop(stdin);
                let r = reader
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("its reader panicked")))
                    .map_err(|e| format!("reading `{}` failed: {e}", child.cmd()));
                let ok = child.wait().is_ok_and(|st| st.success());
                match r {
                    Ok(done) if ok => (Ok((done.sha, done.total)), done.txs),
                    Ok(_) => (Err(format!("`{}` failed", child.cmd())), Vec::new()),
                    Err(e) => (Err(e), Vec::new()),
                }
            }
            Sink::Broken => (Err(String::new()), Vec::new()),
        };
        let unnamed = self
            .filter
            .as_ref()
            .and_then(|f| f.name_missing())
            .map(|n| format!("could not add the name {n} to the archive (it has no index.json or manifest.json naming the image): nothing was imported"));
        let stream = match self.error.or(unnamed) {
            Some(e) => Err(e),
            None => stream,
        };
        if whole && stream.is_ok() {
            for t in &txs {
                let _ = t.send(Piece::End);
            }
        }
        drop(txs); // EOF to every upload
        let uploads = self
            .uploads
            .into_iter()
            .map(|u| {
                let r = u.thread.join().unwrap_or_else(|_| {
                    Err(ProcessError::new(
                        "ssh",
                        Failure::Io("its thread panicked".into()),
                    ))
                });
                (r, u.started, u.line)
            })
            .collect();
        Sent {
            stream,
            reused: self.filter.map(|f| f.dropped_entries).unwrap_or(0),
            uploads,
        }
    }
}

/// Starts the compressor; a thread hashes its output and fans it out.
fn compressor(cmd: &Cmd, mut fanout: Fanout) -> Result<Sink, ProcessError> {
    let mut child = cmd.spawn(Io::Piped, Io::Piped, Io::Null)?;
    let stdin = child.stdin();
    let mut stdout = child.stdout();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        if let Some(r) = stdout.as_mut() {
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                fanout.send(&buf[..n]);
            }
        }
        Ok(fanout.finish())
    });
    Ok(Sink::Compressor {
        child,
        stdin,
        reader,
    })
}

/// What an upload is handed: bytes of the stream, or its end (then it
/// writes the marker that tells the node the archive is whole).
enum Piece {
    Data(Arc<Vec<u8>>),
    End,
}

/// Hashes bytes and hands them to every live upload.
struct Fanout {
    hasher: Sha256,
    total: u64,
    txs: Vec<Option<SyncSender<Piece>>>,
    meter: Arc<Meter>,
}

impl Fanout {
    fn send(&mut self, bytes: &[u8]) {
        self.meter.wrote(bytes.len());
        self.hasher.update(bytes);
        self.total += bytes.len() as u64;
        let chunk = Arc::new(bytes.to_vec());
        for tx in self.txs.iter_mut() {
            if let Some(t) = tx {
                if t.send(Piece::Data(chunk.clone())).is_err() {
                    *tx = None; // that upload ended early; its thread has the reason
                }
            }
        }
    }

    /// The stream's digest and size, and the uploads still taking it (their
    /// end is the lane's to say, once it knows the stream is whole).
    fn finish(self) -> Finished {
        self.meter.written_all();
        Finished {
            sha: crate::core::hex(&self.hasher.finalize()),
            total: self.total,
            txs: self.txs.into_iter().flatten().collect(),
        }
    }
}

/// A stream fanned out to its end.
struct Finished {
    sha: String,
    total: u64,
    txs: Vec<SyncSender<Piece>>,
}

/// Feeds chunks into the node's upload, then, once the stream has ended
/// whole, `marker`; returns the bytes of the stream written.
fn upload(
    cmd: &Cmd,
    rx: Receiver<Piece>,
    line: &NodeLine,
    marker: &str,
) -> Result<u64, ProcessError> {
    let mut child = cmd.spawn(Io::Piped, Io::Null, Io::Piped)?;
    let stderr = drain(child.stderr());
    let mut stdin = child.stdin();
    let mut written = 0u64;
    let mut write_error = None;
    for piece in rx {
        let Some(w) = stdin.as_mut() else { break };
        let chunk = match piece {
            Piece::Data(c) => c,
            Piece::End => {
                write_error = w.write_all(marker.as_bytes()).err();
                break;
            }
        };
        if let Err(e) = w.write_all(&chunk) {
            write_error = Some(e);
            break;
        }
        written += chunk.len() as u64;
        line.received(written);
    }
    if write_error.is_none() {
        line.received_all(written);
    }
    drop(stdin); // EOF: the remote `cat` finishes
    let status = child.wait()?;
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if !status.success() || write_error.is_some() {
        let mut e = cmd.failed(Failure::Exit(status), &stderr);
        e.detail = write_error.map(|e| format!(" ({e})").into());
        return Err(e);
    }
    Ok(written)
}

/// Each member: check what was sent, then verify and import on the node,
/// all nodes at once.
fn deliver(
    g: &Group,
    saved: &Result<(), ProcessError>,
    sent: &[Sent],
) -> Vec<(String, HostResult)> {
    let work: Vec<(&Lane, &Member, &Sent, usize)> = g
        .lanes
        .iter()
        .zip(sent)
        .flat_map(|(l, s)| l.members.iter().enumerate().map(move |(i, m)| (l, m, s, i)))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .iter()
            .map(|&(l, m, s, i)| scope.spawn(move || arrive(g, l, m, saved, s, i)))
            .collect();
        handles
            .into_iter()
            .zip(&work)
            .map(|(h, (_, m, _, _))| {
                let r = h.join().unwrap_or_else(|_| {
                    cleanup(m);
                    HostResult::failed(format!(
                        "the import on {} stopped on an internal error (a bug: please report it)",
                        m.host
                    ))
                });
                (m.host.clone(), r)
            })
            .collect()
    })
}

/// One member's end: import what arrived intact, or say why not (and
/// remove what a broken upload left).
fn arrive(
    g: &Group,
    lane: &Lane,
    m: &Member,
    saved: &Result<(), ProcessError>,
    s: &Sent,
    i: usize,
) -> HostResult {
    let (upload, started, line) = &s.uploads[i];
    let outcome: Result<u64, HostResult> = match (saved, &s.stream, upload) {
        (Err(e), _, _) => Err(HostResult::failed_by(e.to_string(), e.clone())),
        (_, Err(e), _) => Err(HostResult::failed(e.clone())),
        (_, _, Err(e)) => Err(HostResult::failed_by(
            failed_step("the transfer to", &m.host, e),
            e.clone(),
        )),
        (_, Ok((_, total)), Ok(n)) if n != total => Err(HostResult::failed(format!(
            "transfer to {} stopped after {} of {}",
            m.host,
            human(*n),
            human(*total)
        ))),
        (_, Ok((sha, total)), Ok(_)) => {
            line.phase("verifying");
            import(&m.import.clone().bind(SHA_VAR, sha), line)
                .map(|_| *total)
                .map_err(|e| HostResult::failed_by(failed_step("the import on", &m.host, &e), e))
        }
    };
    let result = end(g, lane, m, s, *started, outcome);
    line.done(&match &result {
        HostResult::Failed { .. } => format!("{}: FAILED (see below)", m.host),
        _ => format!(
            "{}: done in {:.1}s",
            m.host,
            started.elapsed().as_secs_f64()
        ),
    });
    result
}

/// Runs the import session, moving the node's line to `importing` when the
/// script says the checksum matched.
fn import(cmd: &Cmd, line: &NodeLine) -> Result<(), ProcessError> {
    let mut child = cmd.spawn(Io::Null, Io::Piped, Io::Piped)?;
    let stdout = drain(child.stdout());
    let stderr = child.stderr();
    let said = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut kept = String::new();
            let Some(e) = stderr else { return kept };
            for l in std::io::BufRead::lines(std::io::BufReader::new(e)).map_while(Result::ok) {
                if l == VERIFIED {
                    line.phase("importing");
                } else {
                    kept.push_str(&l);
                    kept.push('\n');
                }
            }
            kept
        });
        let status = child.wait_within(Some(SESSION_LIMIT));
        (status, reader.join().unwrap_or_default())
    });
    let _ = stdout.join();
    match said {
        (Ok(status), _) if status.success() => Ok(()),
        (Ok(status), text) => Err(cmd.failed(Failure::Exit(status), &text)),
        (Err(e), _) => Err(e),
    }
}

/// The host's result, and clean-up after a failure.
fn end(
    g: &Group,
    lane: &Lane,
    m: &Member,
    s: &Sent,
    started: Instant,
    outcome: Result<u64, HostResult>,
) -> HostResult {
    match outcome {
        Ok(bytes) => HostResult::Sent {
            image: g.reference.clone(),
            id: g.id.clone(),
            bytes,
            secs: started.elapsed().as_secs_f64(),
            reused: s.reused,
            compression: lane.compression.describe(),
            names: m.names.clone(),
            pinned: m.pinned,
            file: m.file.clone(),
        },
        Err(failed) => {
            cleanup(m);
            failed
        }
    }
}

/// The import script removes its archive itself; this removes what a
/// broken upload left (and later uploads sweep old ones).
fn cleanup(m: &Member) {
    let _ = m.cleanup.run_timeout(Some(Duration::from_secs(15)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::ArchiveFormat;
    use crate::ship::compression::Compression;

    fn group(reference: &str, hosts: &[&str]) -> Group {
        Group {
            reference: reference.into(),
            name: "localhost/a:1".into(),
            id: "sha256:x".into(),
            format: ArchiveFormat::Docker,
            save: Cmd::new("true"),
            size: Cmd::new("true"),
            lanes: vec![Lane {
                drop: Default::default(),
                compression: Compression::None,
                compress: None,
                add_name: None,
                members: hosts
                    .iter()
                    .map(|h| Member {
                        host: h.to_string(),
                        tmp: "/nonexistent".into(),
                        upload: Cmd::new("true"),
                        import: Cmd::new("true"),
                        cleanup: Cmd::new("true"),
                        cleanup_direct: Cmd::new("true"),
                        marker: "end".into(),
                        names: vec![reference.into()],
                        pinned: false,
                        file: None,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn a_panicking_worker_fails_each_of_its_hosts_and_only_those() {
        let groups = [
            group("localhost/a:1-arm64", &["pi1", "pi2"]),
            group("localhost/b:1-arm64", &["pi3"]),
        ];
        let results = run_groups(&groups, |g| {
            if g.reference.starts_with("localhost/a") {
                panic!("worker bug");
            }
            vec![(
                "pi3".into(),
                HostResult::Skipped {
                    image: g.reference.clone(),
                    id: "sha256:x".into(),
                    names: vec![],
                    pinned: false,
                },
            )]
        });
        let hosts: Vec<&str> = results.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["pi1", "pi2", "pi3"]);
        for (h, r) in &results[..2] {
            let HostResult::Failed { reason, .. } = r else {
                panic!("{h}: {r:?}")
            };
            assert!(reason.contains("stopped on an internal error"), "{reason}");
        }
        assert!(matches!(results[2].1, HostResult::Skipped { .. }));
        let report = crate::ship::ShipReport {
            hosts: results,
            builds: None,
        };
        assert!(report.failed());
    }
}
