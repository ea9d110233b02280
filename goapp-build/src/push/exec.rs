//! Running push steps: every architecture's image at once, then each app's
//! shared name once all its images are in. A failed process becomes a
//! FAILED step with the fix where the cause is a known one.

use crate::engine::Engine;
use crate::process::error::ProcessError;
use crate::push::plan::{PushStep, Registry};
use crate::push::PushStatus;
use std::time::{Duration, Instant};

/// How long one push may take.
const LIMIT: Duration = Duration::from_secs(3600);

/// Runs the steps; one status each, in order.
pub(crate) fn execute(
    r: &Registry,
    engine: &Engine,
    steps: Vec<PushStep>,
) -> Vec<(PushStep, PushStatus)> {
    let (images, names): (Vec<PushStep>, Vec<PushStep>) =
        steps.into_iter().partition(|s| s.arch.is_some());
    let mut done = run_all(r, engine, images);
    let failed_apps: Vec<String> = done
        .iter()
        .filter(|(_, st)| matches!(st, PushStatus::Failed { .. }))
        .map(|(s, _)| s.app.clone())
        .collect();
    let (blocked, ready): (Vec<PushStep>, Vec<PushStep>) = names
        .into_iter()
        .partition(|s| failed_apps.contains(&s.app));
    done.extend(run_all(r, engine, ready));
    done.extend(blocked.into_iter().map(|s| {
        let reason = format!("not pushed: an image of {} failed to push", s.app);
        (
            s,
            PushStatus::Failed {
                reason,
                process: None,
            },
        )
    }));
    done
}

/// Runs steps concurrently.
fn run_all(r: &Registry, engine: &Engine, steps: Vec<PushStep>) -> Vec<(PushStep, PushStatus)> {
    let statuses: Vec<PushStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = steps
            .iter()
            .map(|s| scope.spawn(move || run_step(r, engine, s)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| PushStatus::Failed {
                    reason: "the push stopped on an internal error (a bug: please report it)"
                        .into(),
                    process: None,
                })
            })
            .collect()
    });
    steps.into_iter().zip(statuses).collect()
}

fn run_step(r: &Registry, engine: &Engine, s: &PushStep) -> PushStatus {
    let started = Instant::now();
    for (i, c) in s.commands.iter().enumerate() {
        match c.run_timeout(Some(LIMIT)) {
            Ok(_) => {}
            Err(_) if i < s.optional => {}
            Err(e) => {
                return PushStatus::Failed {
                    reason: reason(r, engine, s, &e),
                    process: Some(Box::new(e)),
                }
            }
        }
    }
    PushStatus::Pushed {
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Why a push failed, with the fix for the causes we know.
fn reason(r: &Registry, engine: &Engine, s: &PushStep, e: &ProcessError) -> String {
    let said = e.stderr_tail.to_lowercase();
    let fix = if said.contains("http response to https client") && !r.insecure {
        format!("; {} speaks plain HTTP: mark it `insecure: true` under `registries:`, or pass --insecure", r.address)
    } else if let Some(fix) = engine
        .plain_http_fix(&r.address)
        .filter(|_| r.insecure && said.contains("https"))
    {
        format!("; {fix}")
    } else if said.contains("unauthorized")
        || said.contains("authentication required")
        || said.contains("denied")
    {
        format!(
            "; log in with `{} login {}` (credentials stay in the engine's own auth file)",
            engine.program, r.address
        )
    } else if [
        "connection refused",
        "no such host",
        "i/o timeout",
        "no route to host",
        "network is unreachable",
    ]
    .iter()
    .any(|w| said.contains(w))
    {
        format!(
            "; nothing answers at {}: start the registry there, or fix --registry (or its `registries:` entry)",
            r.address
        )
    } else {
        String::new()
    };
    // A known cause is the sentence; the engine's own words (retries and
    // all) follow only with -v. An unknown one shows them.
    if fix.is_empty() || crate::core::ui::verbose() {
        format!("pushing {} to {} failed{fix}: {e}", s.local, s.remote)
    } else {
        let last = e.last_line().unwrap_or_default();
        format!("pushing {} to {} failed{fix} ({last})", s.local, s.remote)
    }
}

/// The result line of a step.
pub(crate) fn line(s: &PushStep, st: &PushStatus) -> String {
    let what = match s.arch {
        Some(_) => s.remote.clone(),
        None => format!("{} (the name every architecture shares)", s.remote),
    };
    match st {
        PushStatus::Pushed { secs } => format!("pushed {what} ({secs:.1}s)"),
        PushStatus::Planned => format!("to push: {what}"),
        PushStatus::Failed { reason, .. } => format!("FAILED: {reason}"),
    }
}

/// The steps as `--dry-run` prints them.
pub(crate) fn lines(r: &Registry, steps: &[PushStep]) -> Vec<String> {
    let mut out = vec![format!(
        "# to {}{}: only the blobs it lacks are sent (the engine asks first)",
        r.shown(),
        if r.insecure { ", plain HTTP" } else { "" }
    )];
    for s in steps {
        for (i, c) in s.commands.iter().enumerate() {
            if i < s.optional {
                out.push(format!("{c} || true"));
            } else {
                out.push(c.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;
    use crate::process::error::Failure;
    use std::os::unix::process::ExitStatusExt;

    fn failed_with(stderr: &str) -> String {
        let r = Registry {
            name: None,
            address: "127.0.0.1:1".into(),
            insecure: true,
        };
        let step = PushStep {
            app: "joke".into(),
            arch: Some(crate::core::arch::Arch::Amd64),
            local: "localhost/joke:1-amd64".into(),
            remote: "127.0.0.1:1/joke:1-amd64".into(),
            commands: Vec::new(),
            optional: 0,
        };
        let mut e = ProcessError::new(
            "podman push …",
            Failure::Exit(std::process::ExitStatus::from_raw(125 << 8)),
        );
        e.stderr_tail = stderr.into();
        reason(&r, &Engine::fixture(EngineKind::Podman), &step, &e)
    }

    #[test]
    fn a_registry_that_does_not_answer_is_one_sentence_with_the_fix() {
        let why = failed_with("time=… level=warning msg=\"Failed, retrying in 1s ... (1/3)\"\nError: pinging container registry 127.0.0.1:1: Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused\n");
        assert_eq!(
            why,
            "pushing localhost/joke:1-amd64 to 127.0.0.1:1/joke:1-amd64 failed; nothing answers at 127.0.0.1:1: start the registry there, or fix --registry (or its `registries:` entry) (Error: pinging container registry 127.0.0.1:1: Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused)"
        );
        assert!(!why.contains("retrying"), "{why}");
        // An unknown cause shows the engine's words.
        let why = failed_with("Error: something new\n");
        assert!(why.contains("something new"), "{why}");
    }
}
