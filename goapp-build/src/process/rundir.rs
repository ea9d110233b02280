//! This run's private directories. Every child gets the run directory as
//! its `TMPDIR` (see [`super::exec`]): podman/buildah write there the bundle
//! of each `RUN` step (its `config.json` holds the step's environment, a
//! proxy password included), `podman save`'s staging copy of the image and
//! its pipe. We create it private (0700) and remove it at the end of the
//! run, on an error and on an interrupt, so none of that outlives the run.
//!
//! Its name carries this process's id and start time
//! (`goapp-run-<pid>-<start>-XXXXXX`, the run's *mark*): a run that could
//! not clean up (killed, or stopped at once by a second Ctrl-C) is
//! recognised by the next one, which removes what it left.
//!
//! ssh control sockets need a short path (`sun_path` is 108 bytes, and ssh
//! adds a 17-byte suffix while binding), so they get a directory of their
//! own under the first short, plain candidate: `$XDG_RUNTIME_DIR`,
//! `$TMPDIR`, `/tmp` ([`socket_dir`]).

use crate::process::interrupt::{self, Hook, Stage};
use anyhow::{bail, Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where run directories go: `$TMPDIR`, else `/var/tmp` (podman's own choice
/// for large temporary files: `/tmp` is often a small tmpfs).
pub(crate) fn base() -> PathBuf {
    match std::env::var_os("TMPDIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None if Path::new("/var/tmp").is_dir() => PathBuf::from("/var/tmp"),
        None => std::env::temp_dir(),
    }
}

static ACTIVE: OnceLock<()> = OnceLock::new();
static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Children get a private `TMPDIR` from now on (the run directory is made
/// when the first child starts).
pub(crate) fn activate() {
    let _ = ACTIVE.set(());
}

/// The run directory, made on first use; `None` when not activated or it
/// cannot be made (children then keep the caller's `TMPDIR`).
pub(crate) fn dir() -> Option<&'static Path> {
    ACTIVE.get()?;
    PATH.get_or_init(|| {
        let made = tempfile::Builder::new()
            .prefix(&format!("{}-", mark()))
            .tempdir_in(base());
        match made {
            Ok(d) => {
                let path = d.keep();
                *DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.clone());
                std::mem::forget(interrupt::on_interrupt(Stage::Local, remove_reporting));
                Some(path)
            }
            Err(e) => {
                crate::core::ui::warn(&format!(
                    "cannot make a private temporary directory in {}: {e}; the engine uses $TMPDIR as it is",
                    base().display()
                ));
                None
            }
        }
    })
    .as_deref()
}

/// Removes the run directory (the end of the run).
pub(crate) fn remove() {
    let taken = DIR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(path) = taken {
        remove_tree(&path);
    }
}

/// Removes `dir` and what it holds without crossing into another file
/// system (a mount the engine left inside is left alone, not emptied) or
/// following a link (buildah's cache is linked from here).
pub(crate) fn remove_tree(dir: &Path) {
    let Ok(top) = dir.symlink_metadata() else {
        return;
    };
    fn walk(dir: &Path, dev: u64) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            match path.symlink_metadata() {
                Ok(m) if m.is_dir() && m.dev() == dev => {
                    walk(&path, dev);
                    let _ = std::fs::remove_dir(&path);
                }
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir(&path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => {}
            }
        }
    }
    if top.is_dir() {
        walk(dir, top.dev());
        let _ = std::fs::remove_dir(dir);
    }
}

fn remove_reporting() -> Vec<String> {
    let Some(path) = PATH.get().cloned().flatten() else {
        return Vec::new();
    };
    let files = count_files(&path);
    remove();
    match files {
        0 => vec!["removed the run's temporary directory".into()],
        n => vec![format!(
            "removed the run's temporary directory ({n} file(s))"
        )],
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            _ => 1,
        })
        .sum()
}

/// This run's mark: `goapp-run-<pid>-<start time in clock ticks>`.
pub(crate) fn mark() -> &'static str {
    static MARK: OnceLock<String> = OnceLock::new();
    MARK.get_or_init(|| {
        let pid = std::process::id();
        format!("goapp-run-{pid}-{}", start_time(pid).unwrap_or(0))
    })
}

/// A process's start time (field 22 of `/proc/<pid>/stat`), which tells a
/// live run from a later process that reuses its pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the run with `mark` is still alive.
pub(crate) fn is_alive(mark: &str) -> bool {
    let Some((pid, start)) = parse_mark(mark) else {
        return true; // not ours to judge
    };
    start_time(pid) == Some(start)
}

fn parse_mark(mark: &str) -> Option<(u32, u64)> {
    let rest = mark.strip_prefix("goapp-run-")?;
    let (pid, start) = rest.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// What a run writes down, in its directory, of what could outlive it if
/// it is killed: each child process in a session of its own (by pid and
/// start time, which no later process shares), the ssh socket directory,
/// the partial archives its uploads write on nodes. The next run reads it
/// to sweep exactly those ([`DeadRun::records`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A child: `(pid, start time)`.
    Process(u32, u64),
    /// An ssh control socket directory.
    Sockets(PathBuf),
    /// A partial archive: `(host, path on the node)`.
    Part(String, String),
}

impl Record {
    fn line(&self) -> String {
        match self {
            Record::Process(pid, start) => format!("proc\t{pid}\t{start}"),
            Record::Sockets(p) => format!("sockets\t{}", p.display()),
            Record::Part(host, path) => format!("part\t{host}\t{path}"),
        }
    }

    fn parse(line: &str) -> Option<Record> {
        let mut f = line.split('\t');
        Some(match f.next()? {
            "proc" => Record::Process(f.next()?.parse().ok()?, f.next()?.parse().ok()?),
            "sockets" => Record::Sockets(PathBuf::from(f.next()?)),
            "part" => Record::Part(f.next()?.to_string(), f.next()?.to_string()),
            _ => return None,
        })
    }
}

/// Writes `r` down in this run's directory (nothing when there is none).
pub(crate) fn record(r: &Record) {
    use std::io::Write;
    let Some(dir) = dir() else {
        return;
    };
    let line = r.line();
    if line.contains('\n') {
        return; // a path with a newline cannot be a record line
    }
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(RECORDS))
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
}

/// Records a child by pid, with its start time.
pub(crate) fn record_process(pid: u32) {
    if let Some(start) = start_time(pid) {
        record(&Record::Process(pid, start));
    }
}

const RECORDS: &str = "goapp-records";

impl DeadRun {
    /// What the run wrote down.
    pub(crate) fn records(&self) -> Vec<Record> {
        std::fs::read_to_string(self.dir.join(RECORDS))
            .unwrap_or_default()
            .lines()
            .filter_map(Record::parse)
            .collect()
    }

    /// The partial archives it was writing on `host`.
    pub(crate) fn parts_on(&self, host: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Part(h, p) if h == host => Some(p),
                _ => None,
            })
            .collect()
    }
}

/// Stops what ended runs left running (their recorded children that are
/// still the same processes: an ssh master, an upload) and removes their
/// ssh socket directories. Their run directories stay for the engine's
/// sweep. Returns what was done, for the note.
pub(crate) fn sweep_dead_processes() -> Vec<String> {
    let mut stopped = 0;
    let mut sockets = 0;
    for run in dead_runs() {
        for r in run.records() {
            match r {
                Record::Process(pid, start) if start_time(pid) == Some(start) => {
                    // SAFETY: kill(2) on a process group we started (setsid).
                    unsafe {
                        libc::kill(-(pid as i32), libc::SIGTERM);
                    }
                    stopped += 1;
                }
                Record::Sockets(dir)
                    if dir
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("goapp-ssh-"))
                        && dir.is_dir() =>
                {
                    remove_tree(&dir);
                    sockets += 1;
                }
                _ => {}
            }
        }
    }
    let mut said = Vec::new();
    if stopped > 0 {
        said.push(format!(
            "stopped {stopped} process(es) an ended run left (ssh connections, uploads)"
        ));
    }
    if sockets > 0 {
        said.push(format!("removed {sockets} ssh socket directory(ies)"));
    }
    said
}

/// A run directory whose run has ended without removing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeadRun {
    /// The directory.
    pub dir: PathBuf,
    /// Its run's mark.
    pub mark: String,
}

/// The run directories of ended runs (ours only: same owner).
pub(crate) fn dead_runs() -> Vec<DeadRun> {
    let Ok(entries) = std::fs::read_dir(base()) else {
        return Vec::new();
    };
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (mark, _) = name.rsplit_once('-')?;
            parse_mark(mark)?;
            let meta = e.path().symlink_metadata().ok()?;
            (meta.is_dir() && meta.uid() == me && !is_alive(mark)).then(|| DeadRun {
                dir: e.path(),
                mark: mark.to_string(),
            })
        })
        .collect()
}

/// The longest socket path ssh can bind: `sun_path` holds 108 bytes with its
/// NUL, and ssh binds `<ControlPath>.<16 random characters>` first.
pub(crate) const SOCKET_PATH_MAX: usize = 107 - 17;

/// A private directory for ssh control sockets, removed when dropped and on
/// an interrupt.
#[derive(Debug)]
pub(crate) struct SocketDir {
    dir: tempfile::TempDir,
    _hook: Hook,
}

impl SocketDir {
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        // The same careful removal as the run directory's (before TempDir's).
        remove_tree(self.dir.path());
    }
}

/// Makes the socket directory in the first candidate (`$XDG_RUNTIME_DIR`,
/// `$TMPDIR`, `/tmp`) that is a plain path (ssh expands `${…}` in
/// `ControlPath` and has no escape for it) with room for `longest_name`.
pub(crate) fn socket_dir(longest_name: &str) -> Result<SocketDir> {
    let candidates: Vec<PathBuf> = ["XDG_RUNTIME_DIR", "TMPDIR"]
        .iter()
        .filter_map(|v| std::env::var_os(v).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .chain([PathBuf::from("/tmp")])
        .collect();
    // "/goapp-ssh-XXXXXX/" + the name.
    let room = |base: &Path| base.as_os_str().len() + 18 + longest_name.len();
    let usable = |base: &&PathBuf| {
        let text = base.to_string_lossy();
        base.is_absolute()
            && base.is_dir()
            && !text.contains('$')
            && !text.chars().any(char::is_control)
            && room(base) <= SOCKET_PATH_MAX
    };
    let Some(base) = candidates.iter().find(usable) else {
        bail!(
            "no directory for ssh control sockets: {} are too long for a socket path (at most {SOCKET_PATH_MAX} bytes) or not usable; set TMPDIR to a short directory",
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    };
    let dir = tempfile::Builder::new()
        .prefix("goapp-ssh-")
        .tempdir_in(base)
        .with_context(|| {
            format!(
                "creating a directory for ssh control sockets in {}",
                base.display()
            )
        })?;
    let path = dir.path().to_path_buf();
    record(&Record::Sockets(path.clone()));
    let hook = interrupt::on_interrupt(Stage::Local, move || {
        remove_tree(&path);
        vec!["removed the ssh control directory".into()]
    });
    Ok(SocketDir { dir, _hook: hook })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        for r in [
            Record::Process(12, 345),
            Record::Sockets(PathBuf::from("/tmp/goapp-ssh-x")),
            Record::Part("pi".into(), "/var/tmp/goapp-a-0.tar.part".into()),
        ] {
            assert_eq!(Record::parse(&r.line()), Some(r));
        }
        assert_eq!(Record::parse("proc\tx\t1"), None);
        assert_eq!(Record::parse("what"), None);
    }

    #[test]
    fn marks_tell_live_runs_from_ended_ones() {
        let m = mark();
        assert!(
            m.starts_with(&format!("goapp-run-{}-", std::process::id())),
            "{m}"
        );
        assert!(is_alive(m));
        assert_eq!(parse_mark(m).map(|(p, _)| p), Some(std::process::id()));
        // The same pid with another start time is another process.
        let (pid, start) = parse_mark(m).unwrap();
        assert!(!is_alive(&format!("goapp-run-{pid}-{}", start + 1)));
        assert!(is_alive("not-a-mark"));
    }

    #[test]
    fn removal_leaves_links_alone_and_takes_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let kept = d.path().join("cache");
        std::fs::create_dir(&kept).unwrap();
        std::fs::write(kept.join("entry"), "x").unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(run.join("buildah123/sub")).unwrap();
        std::fs::write(run.join("buildah123/config.json"), "{}").unwrap();
        std::os::unix::fs::symlink(&kept, run.join("buildah-cache")).unwrap();
        remove_tree(&run);
        assert!(!run.exists());
        assert!(kept.join("entry").exists(), "a link's target was emptied");
    }

    #[test]
    fn socket_paths_leave_room_for_ssh_s_suffix() {
        let d = socket_dir("99.sock").unwrap();
        let sock = d.path().join("99.sock");
        assert!(
            sock.as_os_str().len() <= SOCKET_PATH_MAX,
            "{}",
            sock.display()
        );
        let path = d.path().to_path_buf();
        drop(d);
        assert!(!path.exists());
    }
}
