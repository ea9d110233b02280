//! Running builds: all at once, each with its own progress line (a spinner on
//! a terminal, plain lines otherwise), its full output in a log file, and on
//! failure the last lines and the log's path.

use crate::process::command::{tail_lines, Cmd, TAIL_LINES};
use anyhow::{anyhow, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
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
    /// Run once more when a failure's output tail matches (a known flake of
    /// the tool being run, not of what it was asked to do).
    pub retry_once_if: Option<fn(&str) -> bool>,
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
    /// Success, or the error with the tail of the output.
    pub result: Result<()>,
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
            std::thread::spawn(move || run_one(job, bar))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|_| Outcome {
                label: "?".into(),
                elapsed: Duration::ZERO,
                log: PathBuf::new(),
                result: Err(anyhow!("a build thread panicked")),
            })
        })
        .collect()
}

fn run_one(job: Job, bar: Option<ProgressBar>) -> Outcome {
    let started = Instant::now();
    let mut result = stream(&job, bar.as_ref());
    if let (Err(e), Some(flaky)) = (&result, job.retry_once_if) {
        if flaky(&format!("{e:#}")) {
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

fn stream(job: &Job, bar: Option<&ProgressBar>) -> Result<()> {
    if let Some(dir) = job.log.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the log directory {}", dir.display()))?;
    }
    let mut log = std::fs::File::create(&job.log)
        .with_context(|| format!("creating the log {}", job.log.display()))?;
    writeln!(log, "$ {}", job.cmd)?;
    let redactor = job.cmd.redactor().clone();
    let reader = job
        .cmd
        .expression()
        .stderr_to_stdout()
        .stdin_null()
        .unchecked()
        .reader()
        .with_context(|| format!("could not start `{}`", job.cmd))?;
    let mut lines = BufReader::new(&reader);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES + 1);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if lines.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let raw = String::from_utf8_lossy(&buf);
        let line = redactor.apply(raw.trim_end()).into_owned();
        writeln!(log, "{line}")?;
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
    let status = reader
        .try_wait()?
        .map(|o| o.status)
        .ok_or_else(|| anyhow!("`{}` ended without a status", job.cmd))?;
    writeln!(log, "# {status}")?;
    if status.success() {
        return Ok(());
    }
    let tail = tail_lines(&tail.into_iter().collect::<Vec<_>>().join("\n"), TAIL_LINES);
    Err(anyhow!(
        "process didn't exit successfully: `{}` ({status})\n--- last lines of {}\n{tail}",
        job.cmd,
        job.log.display()
    ))
}

/// The log file of one job: `<dir>/<app>-<what>.log`, replaced on each run.
pub fn log_path(dir: &Path, app: &str, what: &str) -> PathBuf {
    dir.join(format!("{app}-{what}.log"))
}
