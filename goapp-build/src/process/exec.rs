//! The one door to processes: [`Cmd::spawn`] is the only place a
//! `std::process::Command` is made, so every child gets its command line
//! shown redacted, and every failure becomes a [`ProcessError`]. A running
//! child is owned by a [`Running`] that kills and reaps it if dropped early.
//!
//! Once interrupts are handled ([`interrupt::install`]), each child runs in
//! a process group of its own, known to the interrupt handling until it has
//! exited, and gets the run's private directory as `TMPDIR`
//! ([`rundir::dir`]). After an interrupt no child starts and no thread goes
//! on after a child ended ([`interrupt::hold_if_stopping`]).

use crate::process::command::{Cmd, Word};
use crate::process::error::{tail_lines, Failure, ProcessError, TAIL_LINES};
use crate::process::interrupt::{self, Adopted};
use crate::process::rundir;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Makes the child start a session (and so a process group) of its own.
fn own_session(c: &mut std::process::Command) {
    // SAFETY: setsid(2) is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Where a child's standard streams go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// Nothing (stdin reads EOF, output is discarded).
    Null,
    /// A pipe to this process.
    Piped,
    /// This process's own stream (the terminal, for prompts).
    Inherit,
}

impl Io {
    fn stdio(self) -> Stdio {
        match self {
            Io::Null => Stdio::null(),
            Io::Piped => Stdio::piped(),
            Io::Inherit => Stdio::inherit(),
        }
    }
}

impl Cmd {
    /// Starts the command with these streams. The only spawn in the crate.
    pub fn spawn(&self, stdin: Io, stdout: Io, stderr: Io) -> Result<Running, ProcessError> {
        let shown = self.to_string();
        if let Some(Word::Var(n)) = self.args.iter().find(|w| matches!(w, Word::Var(_))) {
            let why = format!("${n} was never given a value (a planning bug)");
            return Err(ProcessError::new(shown, Failure::Spawn(why.into())));
        }
        crate::core::ui::command(&shown);
        let mut c = self.std_command(stdin, stdout, stderr);
        // A child reading the terminal (a passphrase prompt) stays in the
        // terminal's foreground group. Every other one gets a session (and
        // so a process group) of its own: a terminal's Ctrl-C reaches only
        // us and we stop children in our order; and with no controlling
        // terminal, a child that would ask something there (ssh's host-key
        // question) fails at once instead of being stopped by SIGTTIN, as a
        // background group would be, and hanging the run.
        let group = interrupt::installed() && stdin != Io::Inherit;
        if group {
            own_session(&mut c);
        }
        interrupt::hold_if_stopping();
        let child = c
            .spawn()
            .map_err(|e| ProcessError::new(&shown, Failure::Spawn(e.to_string().into())))?;
        let adopted = group
            .then(|| interrupt::adopt(child.id(), self.stop))
            .flatten();
        if group {
            // A hard stop (SIGKILL) leaves it running: the next run stops it.
            rundir::record_process(child.id());
        }
        let mut running = Running {
            child,
            cmd: self.clone(),
            shown,
            reaped: false,
            adopted,
        };
        if interrupt::stopping_elsewhere() {
            // The interrupt came while it started: it may have missed it.
            running.kill();
            interrupt::hold_if_stopping();
        }
        Ok(running)
    }

    /// The `std::process::Command` for this value, with these streams; a
    /// child not given `TMPDIR` gets the run's private directory. Only
    /// [`Cmd::spawn`] calls it, so the one door stays one.
    fn std_command(&self, stdin: Io, stdout: Io, stderr: Io) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(self.args.iter().map(|w| match w {
            Word::Lit(s) | Word::Var(s) => s.as_str(),
        }));
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c.stdin(stdin.stdio())
            .stdout(stdout.stdio())
            .stderr(stderr.stdio());
        if !self.env.iter().any(|(k, _)| k == "TMPDIR") {
            if let Some(tmp) = rundir::dir() {
                c.env("TMPDIR", tmp);
            }
        }
        c
    }

    /// Runs to completion, capturing stdout and stderr; a non-zero exit is an
    /// error showing the command, its status and its stderr's tail.
    pub fn run(&self) -> Result<Output, ProcessError> {
        self.run_timeout(None)
    }

    /// Like [`Cmd::run`], killing the child after `limit`.
    pub fn run_timeout(&self, limit: Option<Duration>) -> Result<Output, ProcessError> {
        let out = self.output(limit)?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let text = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout)
        } else {
            stderr
        };
        Err(self.failed(Failure::Exit(out.status), &text))
    }

    /// Runs to completion, capturing output, whatever the exit status. An
    /// error only when the program cannot be started or times out.
    pub fn output(&self, limit: Option<Duration>) -> Result<Output, ProcessError> {
        let mut p = self.spawn(Io::Null, Io::Piped, Io::Piped)?;
        let stdout = drain(p.stdout());
        let stderr = drain(p.stderr());
        let status = p.wait_within(limit)?;
        Ok(Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }

    /// Runs with the terminal attached (for passphrase prompts).
    pub fn run_interactive(&self) -> Result<(), ProcessError> {
        let mut p = self.spawn(Io::Inherit, Io::Inherit, Io::Inherit)?;
        let status = p.wait()?;
        if status.success() {
            return Ok(());
        }
        Err(self.failed(Failure::Exit(status), ""))
    }

    /// The error for this command, with the redacted tail of `output`.
    pub fn failed(&self, failure: Failure, output: &str) -> ProcessError {
        let mut e = ProcessError::new(self.to_string(), failure);
        e.stderr_tail = tail_lines(&self.redactor().apply(output), TAIL_LINES);
        e
    }
}

/// A started child. Dropped before it was waited for, it is killed and
/// reaped, so an early return never leaves a process behind.
pub struct Running {
    child: Child,
    cmd: Cmd,
    shown: String,
    reaped: bool,
    /// Its process group, while the interrupt handling may signal it.
    adopted: Option<Adopted>,
}

impl Running {
    /// Its stdin, when piped (taken once).
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Its stdout, when piped (taken once).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Its stderr, when piped (taken once).
    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// The command it runs.
    pub fn cmd(&self) -> &Cmd {
        &self.cmd
    }

    /// Whether it has ended, without waiting.
    pub fn has_ended(&mut self) -> bool {
        if !interrupt::has_exited(self.pid()) {
            return false;
        }
        self.release();
        let ended = matches!(self.child.try_wait(), Ok(Some(_)));
        self.reaped |= ended;
        interrupt::hold_if_stopping();
        ended
    }

    /// Waits for it to end.
    pub fn wait(&mut self) -> Result<ExitStatus, ProcessError> {
        interrupt::wait_exited(self.pid());
        self.release();
        let status = self.child.wait().map_err(|e| self.io_error(e));
        self.reaped = true;
        interrupt::hold_if_stopping();
        status
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Forgets its process group: called once it has ended and before it is
    /// reaped, while its pid cannot have been reused.
    fn release(&mut self) {
        self.adopted = None;
    }

    /// Waits at most `limit` (forever with `None`); past it, kills it.
    pub fn wait_within(&mut self, limit: Option<Duration>) -> Result<ExitStatus, ProcessError> {
        let Some(limit) = limit else {
            return self.wait();
        };
        let started = Instant::now();
        let exit = ExitWatch::open(self.pid());
        loop {
            if interrupt::has_exited(self.pid()) {
                return self.wait();
            }
            let Some(left) = limit.checked_sub(started.elapsed()) else {
                self.kill();
                return Err(ProcessError::new(&self.shown, Failure::Timeout(limit)));
            };
            // Woken by the exit itself: a sleeping poll added 10 ms on
            // average to every short query (an `image inspect` of a no-op).
            exit.wait(left.min(Duration::from_millis(20)));
        }
    }

    /// Stops it (its whole process group, when it has one) and reaps it.
    pub fn kill(&mut self) {
        match &self.adopted {
            // SAFETY: kill(2) on the group of our child, not reaped yet.
            Some(_) => unsafe {
                libc::kill(-self.pid(), libc::SIGKILL);
            },
            None => {
                let _ = self.child.kill();
            }
        }
        interrupt::wait_exited(self.pid());
        self.release();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Waits, then turns an unsuccessful end into the error with `output`'s tail.
    pub fn finish(&mut self, output: &str) -> Result<ExitStatus, ProcessError> {
        let status = self.wait()?;
        if status.success() {
            return Ok(status);
        }
        Err(self.cmd.failed(Failure::Exit(status), output))
    }

    fn io_error(&self, e: std::io::Error) -> ProcessError {
        ProcessError::new(&self.shown, Failure::Io(e.to_string().into()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
        }
    }
}

/// Reads a stream to its end on a thread of its own, so a child writing a
/// lot on both stdout and stderr never blocks on a full pipe.
pub(crate) fn drain<R: Read + Send + 'static>(stream: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    })
}

/// A child's exit as something to wait on: a pidfd (Linux 5.3+), readable
/// once the child has ended; without one, a plain sleep.
struct ExitWatch(Option<std::os::fd::OwnedFd>);

impl ExitWatch {
    fn open(pid: i32) -> ExitWatch {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd
        // or -1; the fd is owned by nothing else.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0);
        // SAFETY: a fresh descriptor we own.
        ExitWatch(fd.map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    /// Returns when the child has ended or `at_most` has passed.
    fn wait(&self, at_most: Duration) {
        let Some(fd) = &self.0 else {
            std::thread::sleep(at_most);
            return;
        };
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(fd),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(at_most.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd; an interrupted poll just returns early.
        unsafe { libc::poll(&mut p, 1, ms) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_shows_command_status_and_stderr_tail() {
        let c = Cmd::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 3"]);
        let err = c.run().unwrap_err();
        assert_eq!(err.code(), Some(3));
        assert_eq!(err.stderr_tail, "one\ntwo");
        assert_eq!(err.to_string(), "process didn't exit successfully: `sh -c 'echo one >&2; echo two >&2; exit 3'` (exit status: 3)\n--- stderr\none\ntwo");
    }

    #[test]
    fn output_of_secret_env_is_scrubbed_in_errors() {
        let c = Cmd::new("sh")
            .env("P", "http://u:hunter22@p")
            .args(["-c", "echo \"bad $P\" >&2; exit 1"]);
        let err = c.run().unwrap_err().to_string();
        assert!(!err.contains("hunter22"), "{err}");
        assert!(err.contains("bad http://***@p"), "{err}");
    }

    #[test]
    fn timeout_kills_the_child() {
        let started = Instant::now();
        let err = Cmd::new("sleep")
            .arg("5")
            .run_timeout(Some(Duration::from_millis(200)))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.failure, Failure::Timeout(Duration::from_millis(200)));
        assert!(err.to_string().contains("did not finish within"), "{err}");
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        let err = anyhow::Error::from(Cmd::new("no-such-program-goapp").run().unwrap_err());
        assert!(
            format!("{err:#}").contains("could not start `no-such-program-goapp`"),
            "{err:#}"
        );
        assert!(matches!(
            err.downcast_ref::<ProcessError>().map(|e| &e.failure),
            Some(Failure::Spawn(_))
        ));
    }

    #[test]
    fn unbound_variables_never_reach_a_process() {
        let err = Cmd::new("echo").var_arg("sha").run().unwrap_err();
        assert!(matches!(err.failure, Failure::Spawn(_)), "{err}");
        let out = Cmd::new("echo")
            .var_arg("sha")
            .bind("sha", "ab")
            .run()
            .unwrap();
        assert_eq!(out.stdout, b"ab\n");
    }

    #[test]
    fn a_dropped_child_is_killed_and_reaped() {
        let mut p = Cmd::new("sleep")
            .arg("30")
            .spawn(Io::Null, Io::Null, Io::Null)
            .unwrap();
        let pid = p.child.id();
        assert!(!p.has_ended());
        drop(p);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
