//! Running builds: all at once, each with its own progress line (a spinner on
//! a terminal, plain lines otherwise), its full output in a log file, and on
//! failure the last lines and the log's path.

use crate::process::command::Cmd;
use crate::process::error::{tail_lines, Failure, ProcessError, TAIL_LINES};
use crate::process::exec::Io;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One process to run with a label (`joke/arm64`) and a log file.
#[derive(Clone, Debug)]
pub struct Job {
    /// Shown in front of its progress line.
    pub label: String,
    /// The command.
    pub cmd: Cmd,
    /// Where its output goes.
    pub log: PathBuf,
    /// Run once more when a failure matches (a known flake of the tool
    /// being run, not of what it was asked to do).
    pub retry_once_if: Option<fn(&ProcessError) -> bool>,
}

/// How a job ended.
#[derive(Debug)]
pub struct Outcome {
    /// The job's label.
    pub label: String,
    /// How long it ran.
    pub elapsed: Duration,
    /// Its log.
    pub log: PathBuf,
    /// Success, or the error with the tail of the output and the log.
    pub result: Result<(), ProcessError>,
}

/// Runs the jobs concurrently and waits for all of them.
pub fn run_all(jobs: Vec<Job>, progress: bool) -> Vec<Outcome> {
    let multi = progress.then(MultiProgress::new);
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let bar = multi.as_ref().map(|m| {
                let b = m.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(job.label.clone());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            });
            if bar.is_none() {
                eprintln!("goapp: [{}] started, log: {}", job.label, job.log.display());
            }
            let (label, log, cmd) = (job.label.clone(), job.log.clone(), job.cmd.to_string());
            (
                std::thread::spawn(move || run_one(job, bar)),
                label,
                log,
                cmd,
            )
        })
        .collect();
    handles
        .into_iter()
        .map(|(h, label, log, cmd)| {
            h.join().unwrap_or_else(|_| {
                let mut e = ProcessError::new(cmd, Failure::Io("its thread panicked".into()));
                e.log = Some(log.clone().into());
                Outcome {
                    label,
                    elapsed: Duration::ZERO,
                    log,
                    result: Err(e),
                }
            })
        })
        .collect()
}

fn run_one(job: Job, bar: Option<ProgressBar>) -> Outcome {
    let started = Instant::now();
    let mut result = stream(&job, bar.as_ref());
    if let (Err(e), Some(flaky)) = (&result, job.retry_once_if) {
        if flaky(e) {
            let note = "a known engine flake; retrying once";
            match &bar {
                Some(b) => b.set_message(note),
                None => eprintln!("goapp: [{}] {note}", job.label),
            }
            result = stream(&job, bar.as_ref());
        }
    }
    let elapsed = started.elapsed();
    let verdict = match &result {
        Ok(()) => format!("done in {:.1}s", elapsed.as_secs_f64()),
        Err(_) => format!("FAILED after {:.1}s", elapsed.as_secs_f64()),
    };
    match &bar {
        Some(b) => b.finish_with_message(verdict),
        None => eprintln!("goapp: [{}] {verdict}", job.label),
    }
    Outcome {
        label: job.label,
        elapsed,
        log: job.log,
        result,
    }
}

fn stream(job: &Job, bar: Option<&ProgressBar>) -> Result<(), ProcessError> {
    let io = |e: std::io::Error, what: &str| {
        let mut err = ProcessError::new(
            job.cmd.to_string(),
            Failure::Io(format!("{what}: {e}").into()),
        );
        err.log = Some(job.log.clone().into());
        err
    };
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io(e, &format!("creating the log directory {}", dir.display())))?;
    }
    let mut log = std::fs::File::create(&job.log)
        .map_err(|e| io(e, &format!("creating the log {}", job.log.display())))?;
    let write_err = |e| io(e, &format!("writing the log {}", job.log.display()));
    writeln!(log, "$ {}", job.cmd).map_err(write_err)?;
    let mut child = job.cmd.spawn(Io::Null, Io::Piped, Io::Piped)?;
    let lines = merged_lines(child.stdout(), child.stderr());
    let redactor = job.cmd.redactor().clone();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES + 1);
    for raw in lines {
        let line = redactor.apply(raw.trim_end()).into_owned();
        writeln!(log, "{line}").map_err(write_err)?;
        if let Some(b) = bar {
            b.set_message(line.chars().take(160).collect::<String>());
        }
        if !line.trim().is_empty() {
            tail.push_back(line);
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
    }
    let tail = tail_lines(&tail.into_iter().collect::<Vec<_>>().join("\n"), TAIL_LINES);
    let result = child.finish(&tail);
    match &result {
        Ok(status)
        | Err(ProcessError {
            failure: Failure::Exit(status),
            ..
        }) => writeln!(log, "# {status}").map_err(write_err)?,
        Err(_) => {}
    }
    result.map(|_| ()).map_err(|mut e| {
        e.log = Some(job.log.clone().into());
        e
    })
}

/// The lines of stdout and stderr as they come, interleaved (as a terminal
/// shows them); the iterator ends when both streams are closed.
fn merged_lines(
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
) -> mpsc::IntoIter<String> {
    let (tx, rx) = mpsc::channel();
    fn pump<R: std::io::Read + Send + 'static>(r: Option<R>, tx: mpsc::Sender<String>) {
        let Some(r) = r else { return };
        std::thread::spawn(move || {
            let mut reader = BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    pump(stdout, tx.clone());
    pump(stderr, tx);
    rx.into_iter()
}

/// The log file of one job: `<dir>/<app>-<what>.log`, replaced on each run.
pub fn log_path(dir: &Path, app: &str, what: &str) -> PathBuf {
    dir.join(format!("{app}-{what}.log"))
}
