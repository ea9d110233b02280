//! Applying a policy to planned builds: compare each image with the local
//! store, make sure the ssh key is usable, run what is stale (all at once,
//! through the runner), and read back what was built.

use crate::build::inputs::LABEL;
use crate::build::plan::{unlock_hint, BuildPlan, UnlockStep};
use crate::build::result::{BuildResult, Builds, Sources, Status};
use crate::build::startable;
use crate::build::Policy;
use crate::config::App;
use crate::core::ui;
use crate::engine::{leftovers, podstore, Engine};
use crate::process::error::ProcessError;
use crate::process::interrupt;
use crate::process::runner::{self, Job};
use crate::session::Session;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Turns plans into results under `policy`, building what it asks for.
pub(super) fn execute(
    s: &Session,
    engine: &Engine,
    planned: &super::Planned,
    policy: Policy,
) -> Result<Builds> {
    let plans = &planned.plans[..];
    let mut builds = as_planned(s, engine, plans);
    if policy == Policy::PlanOnly {
        say_before_building(plans, &builds.results, true);
        return Ok(builds);
    }
    leftovers::sweep_ended_runs(engine);
    for r in &mut builds.results {
        r.local = planned.local.get(&r.reference).cloned().flatten();
    }
    for r in &mut builds.results {
        let current = r.local.as_ref().and_then(|l| l.label.as_deref()) == Some(&r.inputs);
        r.status = status(policy, current);
    }
    if builds.results.iter().any(|r| r.status == Status::Planned) {
        build_planned(s, engine, plans, &mut builds)?;
    }
    Ok(builds)
}

/// The results before anything is compared or built: one per planned
/// image, each [`Status::Planned`].
fn as_planned(s: &Session, engine: &Engine, plans: &[(App, BuildPlan)]) -> Builds {
    Builds {
        engine: engine.clone(),
        results: plans
            .iter()
            .flat_map(|(app, p)| {
                p.builds
                    .iter()
                    .map(|b| BuildResult::planned(&app.name, b, engine))
            })
            .collect(),
        elapsed: None,
        indexes: Vec::new(),
        // One unlock check is enough: every plan uses the same agent and key.
        unlock: plans.iter().find_map(|(_, p)| p.unlock.clone()),
        guard_listing: trips_listing(s, engine),
        sources: Sources {
            contexts: plans
                .iter()
                .map(|(a, _)| (a.name.clone(), a.context.clone()))
                .collect(),
            root: s
                .config
                .as_ref()
                .map(|c| c.dir.clone())
                .unwrap_or_else(|| s.cwd.clone()),
        },
    }
}

/// Runs the builds still [`Status::Planned`] (the key unlocked first, if
/// needed), then reads back what they made and checks it can start.
fn build_planned(
    s: &Session,
    engine: &Engine,
    plans: &[(App, BuildPlan)],
    builds: &mut Builds,
) -> Result<()> {
    super::usable_dirs(s)?;
    say_before_building(plans, &builds.results, false);
    if let Some(u) = &builds.unlock {
        ensure_unlocked(u, s.env.stdin_tty)?;
    }
    touch_kept_for(plans, &builds.results);
    let started = Instant::now();
    run_planned(s, engine, &mut builds.results);
    builds.elapsed = Some(started.elapsed());
    read_store(engine, &mut builds.results, |r| r.status == Status::Built);
    check_startable(engine, plans, &mut builds.results);
    Ok(())
}

/// Checks that each image this run built can start (unless its app says
/// not to, [`BuildPlan::check_start`]), all at once. One that cannot is
/// [`Status::Unstartable`] and loses its name: no later run may take it
/// for up to date, and nothing ships it.
fn check_startable(engine: &Engine, plans: &[(App, BuildPlan)], results: &mut [BuildResult]) {
    let checked = |r: &BuildResult| {
        r.status == Status::Built && plans.iter().any(|(a, p)| a.name == r.app && p.check_start)
    };
    let dir = crate::process::rundir::dir()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let verdicts: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = results
            .iter()
            .map(|r| {
                let (go, dir) = (checked(r), &dir);
                let sub = dir.join(format!("{}-{}", r.app, r.arch.name()));
                scope.spawn(move || {
                    go.then(|| {
                        let _ = std::fs::create_dir_all(&sub);
                        startable::check(engine, &r.image.to_string(), &r.reference, r.arch, &sub)
                            .err()
                    })
                    .flatten()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    for (r, why) in results.iter_mut().zip(verdicts) {
        if let Some(why) = why {
            let _ = engine.untag_cmd(&r.reference).run();
            r.status = Status::Unstartable;
            r.unstartable = Some(why);
        }
    }
}

/// What `policy` makes of an image that is `current` (in the store, built
/// from the same inputs) or not.
fn status(policy: Policy, current: bool) -> Status {
    match (policy, current) {
        (Policy::Rebuild | Policy::PlanOnly, _) | (Policy::BuildIfStale, false) => Status::Planned,
        (Policy::RefuseIfStale, false) => Status::Stale,
        (Policy::BuildIfStale | Policy::RefuseIfStale, true) => Status::UpToDate,
    }
}

/// The warnings and preflight notes of the apps with a build to run (all
/// of them when planning only), once each: a warning several apps share is
/// one line naming them all.
fn say_before_building(plans: &[(App, BuildPlan)], results: &[BuildResult], all: bool) {
    let runs = |app: &App| {
        all || results
            .iter()
            .any(|r| r.app == app.name && r.status == Status::Planned)
    };
    let running: Vec<&(App, BuildPlan)> = plans.iter().filter(|(a, _)| runs(a)).collect();
    let warnings: Vec<(String, String)> = running
        .iter()
        .flat_map(|(a, p)| p.warnings.iter().map(|w| (a.name.clone(), w.clone())))
        .collect();
    for w in ui::per_app(&warnings) {
        ui::warn(&w);
    }
    for n in running.iter().flat_map(|(_, p)| &p.notes) {
        ui::note(n);
    }
}

/// What the store holds: each image (by store name), and the local ids of
/// the images the apps build on.
pub(super) struct StoreRead {
    pub images: BTreeMap<String, Option<crate::engine::store::LocalImage>>,
    pub base_ids: BTreeMap<String, Option<String>>,
}

/// Reads every image the gathered apps build and, in the same engine
/// query, the ids of the images they build on: those join the inputs (and
/// the label the build will carry), so a base rebuilt under the same name
/// makes the app rebuild. A base not in the store (to be pulled) counts as
/// no id. On podman only local images (`localhost/…`) count: a build's
/// `--platform` pull of a registry name for another architecture can move
/// the name to that architecture's image (not measured here: no registry
/// is reachable), which would make every multi-architecture build look
/// changed; BuildKit's pulls leave docker's image store alone.
pub(super) fn read_store_and_bases(
    engine: &Engine,
    gathered: &[(&super::Named, crate::build::plan::BuildInputs)],
) -> StoreRead {
    let Some((_, first)) = gathered.first() else {
        return StoreRead {
            images: BTreeMap::new(),
            base_ids: BTreeMap::new(),
        };
    };
    let caps = &first.caps;
    let mut bases: Vec<&str> = gathered
        .iter()
        .flat_map(|(_, i)| i.bases.iter().map(String::as_str))
        .filter(|b| !caps.pulls_move_names || crate::core::names::local_only(b))
        .collect();
    bases.sort();
    bases.dedup();
    let images: Vec<String> = gathered
        .iter()
        .flat_map(|(_, i)| {
            i.arches
                .iter()
                .map(|&a| engine.stored(&i.image.for_arch(a)))
        })
        .collect();
    let mut names: Vec<&str> = images.iter().map(String::as_str).collect();
    names.extend(&bases);
    let mut found = engine.inspect_all(&names, LABEL);
    let base_ids = bases
        .iter()
        .map(|b| b.to_string())
        .zip(
            found
                .split_off(images.len())
                .into_iter()
                .map(|l| l.map(|l| l.id)),
        )
        .collect();
    StoreRead {
        images: images.into_iter().zip(found).collect(),
        base_ids,
    }
}

/// Touches what the plans of the apps about to be built say to
/// ([`BuildPlan::touch`]).
fn touch_kept_for(plans: &[(App, BuildPlan)], results: &[BuildResult]) {
    for (app, plan) in plans {
        let building = results
            .iter()
            .any(|r| r.app == app.name && r.status == Status::Planned);
        if building {
            touch_kept(&plan.touch);
        }
    }
}

/// Sets the mtime of each of `files` to now, so that docker's context
/// transfer sends their new content. The one change the tool makes to a
/// user's files, and only right before a docker build that needs it.
pub(crate) fn touch_kept(files: &[PathBuf]) {
    for path in files {
        let touched = std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        match touched {
            Ok(()) => crate::core::ui::note(&format!("goapp: {} changed but kept its size and modification time, which docker's context transfer takes for unchanged: its modification time is now set to now", path.display())),
            Err(e) => crate::core::ui::warn(&format!("{} changed but kept its size and modification time, so docker would build with its old content, and it cannot be touched ({e}): touch it", path.display())),
        }
    }
}

/// Fills in what the store holds for the results `which` selects.
fn read_store(engine: &Engine, results: &mut [BuildResult], which: impl Fn(&BuildResult) -> bool) {
    let picked: Vec<usize> = (0..results.len()).filter(|&i| which(&results[i])).collect();
    let names: Vec<&str> = picked
        .iter()
        .map(|&i| results[i].reference.as_str())
        .collect();
    let found = engine.inspect_all(&names, LABEL);
    for (i, local) in picked.into_iter().zip(found) {
        results[i].local = local;
    }
}

/// Runs every planned build concurrently; each becomes built or failed.
/// On an interrupt, what the engine leaves of them is removed.
fn run_planned(s: &Session, engine: &Engine, results: &mut [BuildResult]) {
    let log_dir = s.log_dir();
    let todo: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].status == Status::Planned)
        .collect();
    leftovers::keep_build_caches(engine);
    let _cleanup = leftovers::on_interrupt(engine);
    let layerless_before = trips_listing(s, engine)
        .then(|| podstore::read(engine).map(|st| st.layerless_ids()))
        .flatten();
    let images: Vec<String> = todo.iter().map(|&i| results[i].image.to_string()).collect();
    let _doing = interrupt::doing(format!("building {}", images.join(", ")));
    let jobs: Vec<Job> = todo
        .iter()
        .map(|&i| {
            let r = &results[i];
            Job {
                label: format!("{}/{}", r.app, r.arch),
                cmd: r.command.clone(),
                log: runner::log_path(&log_dir, &r.app, r.arch.name()),
                retry_once_if: Some(engine_race),
            }
        })
        .collect();
    let outcomes = runner::run_all(jobs, s.env.stderr_tty && !crate::core::ui::quiet());
    if let Some(dir) = crate::process::rundir::dir() {
        leftovers::save_build_caches(dir);
    }
    if let Some(before) = &layerless_before {
        let swept = podstore::sweep_new_layerless(engine, before);
        if !swept.is_empty() {
            ui::detail(&format!("removed {} layerless intermediate image(s) the builds left: podman {} cannot list its images while one is in the store with a manifest list", swept.len(), engine_version(s, engine)));
        }
    }
    for (o, i) in outcomes.into_iter().zip(todo) {
        let r = &mut results[i];
        r.elapsed = Some(o.elapsed);
        r.log = Some(o.log);
        r.status = if o.result.is_ok() {
            Status::Built
        } else {
            Status::Failed
        };
        r.error = o.result.err();
    }
}

/// Whether this podman's image listing breaks on layerless images next to
/// a manifest list ([`podstore`]).
fn trips_listing(s: &Session, engine: &Engine) -> bool {
    crate::engine::caps::detect(engine, &s.env.cache_dir()).listing_trips_on_layerless
}

fn engine_version(s: &Session, engine: &Engine) -> String {
    crate::engine::caps::detect(engine, &s.env.cache_dir()).version
}

/// buildah races with concurrent image removals (containers/buildah#5615):
/// its cache lookup fails on a layer another process just deleted. That
/// failure says nothing about the Containerfile; the runner retries it once.
fn engine_race(e: &ProcessError) -> bool {
    let tail = &e.stderr_tail;
    tail.contains("checking if cached image exists from a previous build")
        || tail.contains("layer not known")
        // Another build's clean-up removed a container (or the image just
        // committed, when identical content made them one) this one was using.
        || tail.contains("identifier is not a container")
        || tail.contains("locating just-written image")
}

/// Makes sure the agent can use the key: `ssh-add -T`, and if it cannot,
/// `ssh-add` on a terminal; without one, stop and say what to run.
pub(crate) fn ensure_unlocked(u: &UnlockStep, tty: bool) -> Result<()> {
    let limit = Some(Duration::from_secs(20));
    if u.check.run_timeout(limit).is_ok() {
        return Ok(());
    }
    if !tty {
        bail!(
            "the ssh key {} is not unlocked in the ssh agent: run `{}` in a terminal, then retry (the build cannot ask for a passphrase)",
            u.private_key.display(),
            unlock_hint(u)
        );
    }
    ui::progress(&format!(
        "goapp: the ssh key {} is locked; unlocking it with ssh-add",
        u.private_key.display()
    ));
    u.unlock
        .run_interactive()
        .context("unlocking the ssh key")?;
    u.check
        .run_timeout(limit)
        .context("the key is still not usable after ssh-add")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_decides_what_runs() {
        let decide = |p| (status(p, true), status(p, false));
        assert_eq!(
            decide(Policy::BuildIfStale),
            (Status::UpToDate, Status::Planned)
        );
        assert_eq!(decide(Policy::Rebuild), (Status::Planned, Status::Planned));
        assert_eq!(
            decide(Policy::RefuseIfStale),
            (Status::UpToDate, Status::Stale)
        );
        assert_eq!(decide(Policy::PlanOnly), (Status::Planned, Status::Planned));
    }

    #[test]
    fn a_known_engine_race_is_retried_and_a_build_error_is_not() {
        let mut e = ProcessError::new(
            "podman build",
            crate::process::error::Failure::Io("x".into()),
        );
        e.stderr_tail =
            "Error: checking if cached image exists from a previous build: layer not known".into();
        assert!(engine_race(&e));
        e.stderr_tail = "go: cannot find main module".into();
        assert!(!engine_race(&e));
    }
}
