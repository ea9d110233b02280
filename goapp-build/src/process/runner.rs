//! Running builds: all at once, each with its own progress line (a spinner on
//! a terminal, plain lines otherwise), its full output in a log file, and on
//! failure the last lines and the log's path.

use crate::core::ui;
use crate::process::command::Cmd;
use crate::process::error::{tail_lines, Failure, ProcessError, TAIL_LINES};
use crate::process::exec::Io;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One process to run with a label (`joke/arm64`) and a log file.
#[derive(Clone, Debug)]
pub(crate) struct Job {
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
pub(crate) struct Outcome {
    /// How long it ran.
    pub elapsed: Duration,
    /// Its log.
    pub log: PathBuf,
    /// Success, or the error with the tail of the output and the log.
    pub result: Result<(), ProcessError>,
}

/// Runs the jobs concurrently and waits for all of them.
pub(crate) fn run_all(jobs: Vec<Job>, progress: bool) -> Vec<Outcome> {
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
                ui::progress(&format!(
                    "goapp: [{}] started, log: {}",
                    job.label,
                    job.log.display()
                ));
            }
            let (log, cmd) = (job.log.clone(), job.cmd.to_string());
            (std::thread::spawn(move || run_one(job, bar)), log, cmd)
        })
        .collect();
    handles
        .into_iter()
        .map(|(h, log, cmd)| {
            h.join().unwrap_or_else(|_| {
                let mut e = ProcessError::new(cmd, Failure::Io("its thread panicked".into()));
                e.log = Some(log.clone().into());
                Outcome {
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
    let result = open_log(&job.log)
        .map_err(|e| log_error(&job, e))
        .and_then(|mut log| {
            let first = stream(&job, &mut log, bar.as_ref());
            match (&first, job.retry_once_if) {
                (Err(e), Some(flaky)) if flaky(e) => {
                    let note = "a known engine flake; retrying once";
                    match &bar {
                        Some(b) => b.set_message(note),
                        None => ui::progress(&format!("goapp: [{}] {note}", job.label)),
                    }
                    writeln!(log, "# {note}").map_err(|e| log_error(&job, e.into()))?;
                    stream(&job, &mut log, bar.as_ref())
                }
                _ => first,
            }
        });
    let elapsed = started.elapsed();
    let verdict = match &result {
        Ok(()) => format!("done in {:.1}s", elapsed.as_secs_f64()),
        Err(_) => format!("FAILED after {:.1}s", elapsed.as_secs_f64()),
    };
    match &bar {
        Some(b) => b.finish_with_message(verdict),
        None => ui::progress(&format!("goapp: [{}] {verdict}", job.label)),
    }
    Outcome {
        elapsed,
        log: job.log,
        result,
    }
}

/// A failure to create or write a job's log, as the job's error.
fn log_error(job: &Job, e: anyhow::Error) -> ProcessError {
    let mut err = ProcessError::new(job.cmd.to_string(), Failure::Io(format!("{e:#}").into()));
    err.log = Some(job.log.clone().into());
    err
}

fn stream(job: &Job, log: &mut File, bar: Option<&ProgressBar>) -> Result<(), ProcessError> {
    let write_err = |e: std::io::Error| {
        let what = format!("writing the log {}", job.log.display());
        log_error(job, anyhow::Error::new(e).context(what))
    };
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

/// How many logs of each app and architecture are kept (older ones are
/// removed when a new one is created).
pub(crate) const KEEP_LOGS: usize = 10;

/// The log file of one job in this run:
/// `<dir>/<app>-<what>-<UTC time>-<pid>.log`. Each run writes its own file,
/// so two runs of the same app at once never share one; `<app>-<what>.log`
/// is a symlink to the newest (see [`open_log`]).
pub(crate) fn log_path(dir: &Path, app: &str, what: &str) -> PathBuf {
    dir.join(format!("{app}-{what}-{}.log", run_id()))
}

/// This process's run: the UTC time it first asked, and its pid. Sortable
/// by time, unique among the runs alive at once.
fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{}-{}", utc_stamp(secs), std::process::id())
    })
}

/// `20250102T030405Z` for a Unix time (the civil-from-days algorithm).
fn utc_stamp(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// Creates a job's log: a new file, never an existing one and never through
/// a symlink (a planted link cannot make us overwrite its target). Then,
/// best effort, points `<app>-<what>.log` at it (replacing the link
/// atomically, never writing through it) and removes all but the newest
/// [`KEEP_LOGS`] logs of that app and architecture.
pub(crate) fn open_log(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the log directory {}", dir.display()))?;
    }
    let file = crate::core::fs::create_new_private(path)
        .with_context(|| format!("creating the log {}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let (Some(dir), Some(prefix)) = (
        path.parent(),
        name.strip_suffix(&format!("-{}.log", run_id())),
    ) {
        point_latest(dir, prefix, name);
        prune(dir, prefix);
    }
    Ok(file)
}

fn point_latest(dir: &Path, prefix: &str, target: &str) {
    let tmp = dir.join(format!(".{prefix}.log.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(target, &tmp).is_ok()
        && std::fs::rename(&tmp, dir.join(format!("{prefix}.log"))).is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Removes the oldest logs of `prefix` beyond [`KEEP_LOGS`]. Only names of
/// exactly our shape count, so `joke-arm64` never prunes `joke-arm64-v2`'s.
fn prune(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.strip_suffix(".log"))
                .is_some_and(is_run_id)
        })
        .collect();
    logs.sort();
    let excess = logs.len().saturating_sub(KEEP_LOGS);
    for old in &logs[..excess] {
        let _ = std::fs::remove_file(dir.join(old));
    }
}

/// `20250102T030405Z-1234`.
fn is_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() > 17
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && &b[15..17] == b"Z-"
        && digits(17..b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_735_787_045), "20250102T030405Z");
        assert_eq!(utc_stamp(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn each_run_has_its_own_log_and_a_link_to_the_newest() {
        let d = tempfile::tempdir().unwrap();
        let path = log_path(d.path(), "joke", "arm64");
        let name = path.file_name().unwrap().to_str().unwrap();
        let id = name
            .strip_prefix("joke-arm64-")
            .unwrap()
            .strip_suffix(".log")
            .unwrap();
        assert!(is_run_id(id), "{name}");
        assert!(id.ends_with(&format!("-{}", std::process::id())));
        // Someone plants a link where the "newest" pointer goes.
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("joke-arm64.log")).unwrap();
        let mut f = open_log(&path).unwrap();
        writeln!(f, "output").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let latest = std::fs::read_link(d.path().join("joke-arm64.log")).unwrap();
        assert_eq!(latest, Path::new(name));
        assert_eq!(
            std::fs::read_to_string(d.path().join("joke-arm64.log")).unwrap(),
            "output\n"
        );
        // The same log is never opened twice, and never through a link.
        assert!(open_log(&path).is_err());
        let planted = log_path(d.path(), "joke", "amd64");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(open_log(&planted).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn old_logs_are_pruned_per_app_and_arch() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..15 {
            let n = format!(
                "joke-arm64-2024010{}T0000{i:02}Z-{}.log",
                i % 9 + 1,
                100 + i
            );
            std::fs::write(d.path().join(n), "").unwrap();
        }
        std::fs::write(d.path().join("joke-arm64-v2-20240101T000000Z-1.log"), "").unwrap();
        std::fs::write(d.path().join("notes.txt"), "").unwrap();
        let mine = log_path(d.path(), "joke", "arm64");
        open_log(&mine).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let runs = left
            .iter()
            .filter(|n| n.starts_with("joke-arm64-2"))
            .count();
        assert_eq!(runs, KEEP_LOGS, "{left:?}");
        assert!(mine.exists(), "the newest (this run's) log is kept");
        assert!(left.contains(&"joke-arm64-v2-20240101T000000Z-1.log".to_string()));
        assert!(left.contains(&"notes.txt".to_string()));
        assert!(left.contains(&"joke-arm64.log".to_string()));
    }

    #[test]
    fn a_retried_job_appends_to_its_one_log() {
        let d = tempfile::tempdir().unwrap();
        let job = Job {
            label: "x".into(),
            cmd: Cmd::new("sh").args(["-c", "echo attempt; echo 'layer not known' >&2; exit 3"]),
            log: log_path(d.path(), "retry", "amd64"),
            retry_once_if: Some(|e| e.stderr_tail.contains("layer not known")),
        };
        let out = run_all(vec![job], false).pop().unwrap();
        assert!(out.result.is_err());
        let log = std::fs::read_to_string(&out.log).unwrap();
        assert_eq!(log.lines().filter(|l| *l == "attempt").count(), 2, "{log}");
        assert!(
            log.contains("# a known engine flake; retrying once"),
            "{log}"
        );
    }
}
