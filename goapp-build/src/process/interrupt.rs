//! Ctrl-C, SIGTERM and SIGHUP. The signal handler only records the signal
//! and wakes a watcher thread (one byte down a pipe); the watcher stops this
//! run's children in order, runs the clean-up hooks the layers above
//! registered, prints one line and exits 130 (SIGINT), 143 (SIGTERM) or 129
//! (SIGHUP). A second signal while that runs stops at once: the handler
//! SIGKILLs every child's process group and `_exit`s (only `kill`, `write`
//! and `_exit`: async-signal-safe); what that leaves is removed by the next
//! run (see [`super::rundir`]).
//!
//! Children run in sessions and process groups of their own (see [`super::exec`]), so a
//! terminal's Ctrl-C reaches only us and a SIGTERM to us alone ends the same
//! way: the order of stopping is ours. The order: engine builds first, with
//! SIGINT (then the engine's leftovers are removed: hooks of
//! [`Stage::Engine`]); then every other child but the ssh masters; then what
//! is removed over those masters ([`Stage::Remote`]); then the masters
//! ([`Stage::Connections`]); last, local files ([`Stage::Local`]).
//!
//! Once an interrupt is being handled, no other thread starts a process or
//! goes on after one ended: it waits for the exit ([`hold_if_stopping`]),
//! so nothing prints a half-truth (`FAILED …`) after the interrupt.
//!
//! Linux only, on purpose: the tool drives podman, docker and qemu's
//! binfmt_misc on Linux build hosts, and already reads `/proc` (a process's
//! start time in [`super::rundir`]). Two calls here are not portable:
//! `pipe2` (a close-on-exec pipe in one step, so no child spawned meanwhile
//! inherits it; macOS has none) and `__errno_location` (errno, saved and
//! restored by the handler; glibc's and musl's name, not a documented
//! interface: the BSDs and macOS call it `__error`). A port would call
//! `pipe`, then `fcntl(FD_CLOEXEC)`, before any thread starts, and the
//! platform's errno accessor; until then the build stops with a sentence
//! saying so rather than a missing symbol.

#[cfg(not(target_os = "linux"))]
compile_error!("goapp-build runs on Linux build hosts: the signal handling (process/interrupt.rs) uses pipe2 and __errno_location");

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// How a child is stopped on an interrupt (and when).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Stop {
    /// An engine build: stopped first, with SIGINT, so the engine can end its
    /// own work; what it leaves is removed by the [`Stage::Engine`] hooks.
    Engine,
    /// Any other child: SIGTERM, after the engine builds.
    #[default]
    Normal,
    /// An ssh master connection: kept until what is removed over it is gone.
    Master,
}

impl Stop {
    fn code(self) -> u64 {
        match self {
            Stop::Engine => 1,
            Stop::Normal => 2,
            Stop::Master => 3,
        }
    }
}

/// When a clean-up hook runs, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// After the engine builds stopped: remove what the engine left.
    Engine,
    /// After the other children stopped, over the still-open ssh masters:
    /// remove partial archives on the nodes.
    Remote,
    /// Close the ssh master connections.
    Connections,
    /// Remove local temporary files.
    Local,
}

/// Room for this many live children at once (a run has a few dozen).
const SLOTS: usize = 1024;

/// The live children in their own process groups: `stop code << 32 | pid`,
/// 0 when free. A fixed array of atomics, because the signal handler reads
/// it (a second signal kills every group) and may take no lock.
static CHILDREN: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Signals received so far.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// The first signal.
static FIRST: AtomicI32 = AtomicI32::new(0);
/// The pipe the handler wakes the watcher with; -1 until installed.
static WAKE: AtomicI32 = AtomicI32::new(-1);

thread_local! {
    /// True on the threads doing the clean-up: they may still start processes.
    static CLEANING: Cell<bool> = const { Cell::new(false) };
}

/// Clean-up hooks, and what the run is doing (for the last line).
static HOOKS: Mutex<Vec<(u64, Stage, Option<HookFn>)>> = Mutex::new(Vec::new());
static DOING: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A clean-up: returns what it did, in a few words each ("removed 3 …").
pub(crate) type HookFn = Box<dyn FnOnce() -> Vec<String> + Send>;

/// One run of a tool built on this library: Ctrl-C, SIGTERM and SIGHUP
/// stop its children in order and clean up, and its children get a private
/// `TMPDIR` removed at the end. Start it first in `main` and drop it before
/// printing the outcome: if an interrupt is being handled, the drop waits
/// for it to end the process (so nothing contradicts its line).
#[derive(Debug)]
pub struct Run(());

impl Run {
    /// Installs the signal handlers and makes children use a private `TMPDIR`.
    pub fn start() -> std::io::Result<Run> {
        install()?;
        super::rundir::activate();
        let swept = super::rundir::sweep_dead_processes();
        if !swept.is_empty() {
            crate::core::ui::note(&format!(
                "goapp: cleaned up after an ended run: {}",
                swept.join(", ")
            ));
        }
        Ok(Run(()))
    }

    /// On an interrupt, also writes `document(line)` on stdout (for
    /// `--json`, whose stdout holds one document whatever happens). Written
    /// straight to the descriptor: the thread that was printing may hold
    /// stdout's lock while it waits for the exit.
    pub fn on_interrupt_stdout(self, document: impl Fn(&str) -> String + Send + 'static) -> Run {
        *lock(&STDOUT_DOCUMENT) = Some(Box::new(document));
        self
    }
}

/// What [`Run::on_interrupt_stdout`] asked for.
type Document = Box<dyn Fn(&str) -> String + Send>;
static STDOUT_DOCUMENT: Mutex<Option<Document>> = Mutex::new(None);

/// Writes all of `text` to file descriptor `fd`.
fn write_fd(fd: i32, text: &str) {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: `rest` is valid for its length; fd is stdout or stderr.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        hold_if_stopping();
        super::rundir::remove();
    }
}

/// Installs the handlers (once per process). Until this is called children
/// stay in our process group and signals have their default effect.
pub(crate) fn install() -> std::io::Result<()> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return Ok(());
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    WAKE.store(fds[1], SeqCst);
    // SAFETY: fds[0] is a fresh descriptor owned by nothing else.
    let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    std::thread::Builder::new()
        .name("goapp-interrupt".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            while reader.read(&mut byte).map(|n| n == 0).unwrap_or(false) {}
            CLEANING.with(|c| c.set(true));
            stop_everything();
        })?;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with our handler and an empty mask is
        // valid; the handler only touches atomics and async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    *done = true;
    Ok(())
}

/// Whether [`install`] ran: children then get process groups of their own.
pub(crate) fn installed() -> bool {
    WAKE.load(SeqCst) >= 0
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: only atomics, write(2), kill(2) and _exit(2) below; errno is
    // restored for the interrupted code.
    //
    // errno goes through `__errno_location` rather than std: reading it with
    // `std::io::Error::last_os_error()` would be safe here in practice (it
    // reads the same thread-local and packs the code without allocating),
    // but std documents no async-signal-safety for it and has no way to
    // *write* errno back, which is the point of saving it: `write(2)` may
    // change it under the code the signal interrupted.
    unsafe {
        let errno = *libc::__errno_location();
        if RECEIVED.fetch_add(1, SeqCst) == 0 {
            FIRST.store(sig, SeqCst);
            let byte = [1u8];
            libc::write(WAKE.load(SeqCst), byte.as_ptr().cast(), 1);
        } else {
            for slot in &CHILDREN {
                let pid = (slot.load(SeqCst) & 0xffff_ffff) as i32;
                if pid > 0 {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let msg = b"goapp: stopped at once (second interrupt): children killed, the rest is cleaned up by the next run\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(128 + sig);
        }
        *libc::__errno_location() = errno;
    }
}

/// True once a signal arrived.
pub(crate) fn stopping() -> bool {
    RECEIVED.load(SeqCst) > 0
}

/// True once a signal arrived, on any thread but the clean-up's.
pub(crate) fn stopping_elsewhere() -> bool {
    stopping() && !CLEANING.with(|c| c.get())
}

/// On any thread but the clean-up's: once an interrupt is being handled,
/// waits for the process to exit instead of going on.
pub(crate) fn hold_if_stopping() {
    if stopping_elsewhere() {
        loop {
            std::thread::park();
        }
    }
}

/// A child in a process group of its own, known to the interrupt handling
/// until [`Adopted`] is dropped: drop it after the child has exited and
/// before it is reaped, so its pid (and group id) cannot have been reused.
#[derive(Debug)]
pub(crate) struct Adopted(usize);

/// Records a child whose process group is `pid`.
pub(crate) fn adopt(pid: u32, stop: Stop) -> Option<Adopted> {
    let value = stop.code() << 32 | u64::from(pid);
    (0..SLOTS)
        .find(|&i| {
            CHILDREN[i]
                .compare_exchange(0, value, SeqCst, SeqCst)
                .is_ok()
        })
        .map(Adopted)
}

impl Drop for Adopted {
    fn drop(&mut self) {
        CHILDREN[self.0].store(0, SeqCst);
    }
}

/// A registered clean-up; dropping it unregisters it (the work it would
/// undo finished normally).
#[derive(Debug)]
pub(crate) struct Hook(u64);

/// Registers `f` to run at `stage` if the run is interrupted.
pub(crate) fn on_interrupt(stage: Stage, f: impl FnOnce() -> Vec<String> + Send + 'static) -> Hook {
    let id = NEXT_ID.fetch_add(1, SeqCst);
    lock(&HOOKS).push((id, stage, Some(Box::new(f))));
    Hook(id)
}

impl Drop for Hook {
    fn drop(&mut self) {
        lock(&HOOKS).retain(|(id, _, _)| *id != self.0);
    }
}

/// What the run is doing, for the interrupt's line, while this lives.
#[derive(Debug)]
pub(crate) struct Doing(u64);

/// Says what the run is doing ("building joke:1-amd64") until dropped.
pub(crate) fn doing(what: impl Into<String>) -> Doing {
    let id = NEXT_ID.fetch_add(1, SeqCst);
    lock(&DOING).push((id, what.into()));
    Doing(id)
}

impl Drop for Doing {
    fn drop(&mut self) {
        lock(&DOING).retain(|(id, _)| *id != self.0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The watcher's work after the first signal. Never returns.
fn stop_everything() -> ! {
    let started = Instant::now();
    let sig = FIRST.load(SeqCst);
    let doing: Vec<String> = lock(&DOING).iter().map(|(_, w)| w.clone()).collect();
    let mut done = Vec::new();
    let builds = stop_children(Stop::Engine, libc::SIGINT, Duration::from_secs(3));
    if builds > 0 {
        done.push(format!("stopped {builds} engine build(s)"));
    }
    done.extend(run_hooks(Stage::Engine, Duration::from_secs(20)));
    let others = stop_children(Stop::Normal, libc::SIGTERM, Duration::from_secs(2));
    if others > 0 {
        done.push(format!("stopped {others} other process(es)"));
    }
    done.extend(run_hooks(Stage::Remote, Duration::from_secs(10)));
    done.extend(run_hooks(Stage::Connections, Duration::from_secs(5)));
    stop_children(Stop::Master, libc::SIGTERM, Duration::from_secs(1));
    done.extend(run_hooks(Stage::Local, Duration::from_secs(10)));
    let line = last_line(sig, &doing, &done, started.elapsed());
    if let Some(document) = lock(&STDOUT_DOCUMENT).as_ref() {
        write_fd(1, &format!("{}\n", document(&line)));
    }
    // Holding stderr keeps progress bars from drawing over the line.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
    std::process::exit(128 + sig)
}

/// `goapp: interrupted (SIGINT) while building …; cleaned up in 1.2s: …`.
fn last_line(sig: i32, doing: &[String], done: &[String], took: Duration) -> String {
    let name = match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    };
    let what = if doing.is_empty() {
        String::new()
    } else {
        format!(" while {}", doing.join("; "))
    };
    let cleaned = if done.is_empty() {
        "nothing was left to clean up".to_string()
    } else {
        format!(
            "cleaned up in {:.1}s: {}",
            took.as_secs_f64(),
            done.join(", ")
        )
    };
    format!("goapp: interrupted ({name}){what}; {cleaned}")
}

/// Signals every child of class `stop`'s group, waits up to `grace` for
/// them to end, then SIGKILLs the groups left. Returns how many there were.
fn stop_children(stop: Stop, sig: i32, grace: Duration) -> usize {
    let mine = |v: u64| v != 0 && v >> 32 == stop.code();
    let pids: Vec<i32> = CHILDREN
        .iter()
        .map(|s| s.load(SeqCst))
        .filter(|&v| mine(v))
        .map(|v| (v & 0xffff_ffff) as i32)
        .collect();
    // SAFETY: kill(2) on process groups we created and still hold (their
    // slots are cleared only after they exit and before they are reaped).
    let signal = |pid: i32, sig: i32| unsafe {
        if CHILDREN
            .iter()
            .any(|s| s.load(SeqCst) & 0xffff_ffff == pid as u64)
        {
            libc::kill(-pid, sig);
        }
    };
    pids.iter().for_each(|&p| signal(p, sig));
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !pids.iter().all(|&p| has_exited(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is left of each group (the leader may be gone, a grandchild not).
    pids.iter().for_each(|&p| signal(p, libc::SIGKILL));
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !pids.iter().all(|&p| has_exited(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids.len()
}

/// Whether our child `pid` has ended (without reaping it: its owner does).
pub(crate) fn has_exited(pid: i32) -> bool {
    wait_unreaped(pid, false)
}

/// Waits until our child `pid` has ended, leaving it to be reaped.
pub(crate) fn wait_exited(pid: i32) {
    wait_unreaped(pid, true);
}

fn wait_unreaped(pid: i32, block: bool) -> bool {
    let flags = libc::WEXITED | libc::WNOWAIT | if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: a zeroed siginfo_t is valid for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` outlives the call; P_PID with our child's pid.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if r == 0 {
            // SAFETY: waitid filled `info` (si_pid stays 0 when nothing ended).
            return unsafe { info.si_pid() } != 0;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            // ECHILD: already reaped, so it has ended.
            _ => return true,
        }
    }
}

/// Runs the hooks of `stage` at once, each on a clean-up thread, waiting at
/// most `limit` for them; returns what they report.
fn run_hooks(stage: Stage, limit: Duration) -> Vec<String> {
    let hooks: Vec<HookFn> = lock(&HOOKS)
        .iter_mut()
        .filter(|(_, s, _)| *s == stage)
        .filter_map(|(_, _, f)| f.take())
        .collect();
    let (tx, rx) = mpsc::channel();
    let n = hooks.len();
    for hook in hooks {
        let tx = tx.clone();
        let _ = std::thread::Builder::new().spawn(move || {
            CLEANING.with(|c| c.set(true));
            let _ = tx.send(hook());
        });
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    let mut said = Vec::new();
    for _ in 0..n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(lines) => said.extend(lines),
            // Every hook left has panicked: nothing more will come.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                said.push(format!(
                    "gave up waiting for a clean-up after {}s",
                    limit.as_secs()
                ));
                break;
            }
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_says_what_was_interrupted_and_cleaned() {
        let line = last_line(
            libc::SIGINT,
            &["building joke:1-amd64, joke:1-arm64".into()],
            &[
                "stopped 2 engine build(s)".into(),
                "removed 5 working container(s)".into(),
            ],
            Duration::from_millis(1234),
        );
        assert_eq!(line, "goapp: interrupted (SIGINT) while building joke:1-amd64, joke:1-arm64; cleaned up in 1.2s: stopped 2 engine build(s), removed 5 working container(s)");
        assert_eq!(
            last_line(libc::SIGTERM, &[], &[], Duration::ZERO),
            "goapp: interrupted (SIGTERM); nothing was left to clean up"
        );
    }

    #[test]
    fn hooks_run_once_by_stage_and_a_dropped_hook_never_runs() {
        let kept = on_interrupt(Stage::Local, || vec!["kept ran".into()]);
        let gone = on_interrupt(Stage::Local, || vec!["dropped ran".into()]);
        drop(gone);
        let said = run_hooks(Stage::Local, Duration::from_secs(5));
        assert!(said.contains(&"kept ran".to_string()), "{said:?}");
        assert!(!said.iter().any(|s| s == "dropped ran"), "{said:?}");
        assert!(!run_hooks(Stage::Local, Duration::from_secs(1))
            .iter()
            .any(|s| s == "kept ran"));
        drop(kept);
    }

    #[test]
    fn adopted_children_are_released_when_dropped() {
        let a = adopt(4_000_000, Stop::Engine).unwrap();
        let value = Stop::Engine.code() << 32 | 4_000_000;
        assert!(CHILDREN.iter().any(|s| s.load(SeqCst) == value));
        drop(a);
        assert!(!CHILDREN.iter().any(|s| s.load(SeqCst) == value));
    }
}
