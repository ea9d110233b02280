//! The `push` task: put every architecture's image and the name they share
//! in an OCI registry, as `HOST[:PORT]/REPO:TAG-<arch>` and
//! `HOST[:PORT]/REPO:TAG` (the multi-architecture index). It consumes the
//! build side's results as `ship` does; `ship` uses it for hosts that
//! `pull_from:` a registry.

pub(crate) mod exec;
pub(crate) mod plan;

pub use plan::{PushStep, Registry};

use crate::build::{self, Builds, Policy, Status};
use crate::engine::Engine;
use crate::process::error::ProcessError;
use crate::process::interrupt;
use crate::session::Session;
use anyhow::{bail, Result};
use std::io::Write;

/// Options of `cargo xtask push`.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// What to build and push: apps, `--tag`, `--arch`, `--engine`, build args.
    pub build: build::Request,
    /// `--registry`: a name under `registries:`, or `HOST[:PORT]`.
    pub registry: String,
    /// `--insecure`: plain HTTP to a registry given as `HOST[:PORT]`.
    pub insecure: bool,
    /// `--dry-run`: print the commands, push nothing.
    pub dry_run: bool,
    /// `--no-build`: refuse instead of building a missing or stale image.
    pub no_build: bool,
}

/// How one push step ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PushStatus {
    /// In the registry now.
    Pushed {
        /// Seconds it took.
        secs: f64,
    },
    /// `--dry-run`: not run.
    Planned,
    /// Not pushed: one sentence with the fix, and the process that failed.
    Failed {
        /// Why.
        reason: String,
        /// The failed process, when one failed.
        process: Option<Box<ProcessError>>,
    },
}

/// What `push` did.
#[derive(Debug)]
pub struct PushReport {
    /// The registry.
    pub registry: Registry,
    /// Each step and how it ended.
    pub pushed: Vec<(PushStep, PushStatus)>,
    /// The images, as the build side handed them over.
    pub builds: Option<Builds>,
}

impl PushReport {
    /// How many steps failed.
    pub fn failures(&self) -> usize {
        self.pushed
            .iter()
            .filter(|(_, s)| matches!(s, PushStatus::Failed { .. }))
            .count()
    }
}

/// `--registry NAME` from the config, or `HOST[:PORT]`; plain HTTP only
/// when the config marks it `insecure` or `--insecure` is given.
pub fn registry(s: &Session, spec: &str, insecure: bool) -> Result<Registry> {
    let configured = s.config.as_ref().and_then(|c| c.file.registries.get(spec));
    if let Some(r) = configured {
        return Ok(Registry {
            name: Some(spec.to_string()),
            address: r.address.clone(),
            insecure: r.insecure || insecure,
        });
    }
    let known: Vec<&str> = s
        .config
        .iter()
        .flat_map(|c| c.file.registries.keys().map(String::as_str))
        .collect();
    // A bare word is a name (as for docker, whose single words are not
    // hosts): a typo of one should not become a connection attempt.
    if !spec.contains(['.', ':']) && spec != "localhost" {
        let known = if known.is_empty() {
            "the config has no `registries:`".to_string()
        } else {
            format!("known are {}", known.join(", "))
        };
        bail!("no registry named '{spec}' in the config: {known}; an address has a '.' or a port (registry.lan, reg:5000)");
    }
    if let Err(e) = crate::core::names::check_registry(spec) {
        bail!("--registry {e}, or a name under `registries:` in the config");
    }
    Ok(Registry {
        name: None,
        address: spec.to_string(),
        insecure,
    })
}

/// The policy the build side applies for `push` (chosen by the command
/// layer, which builds before handing the results to [`publish`]).
pub(crate) fn policy(o: &PushOptions) -> Policy {
    match (o.dry_run, o.no_build) {
        (true, _) => Policy::PlanOnly,
        (false, true) => Policy::RefuseIfStale,
        (false, false) => Policy::BuildIfStale,
    }
}

/// Publishes `builds` (every configured architecture, built or checked by
/// the command layer) to `r`: makes the manifest lists, then pushes, or
/// prints the commands.
pub(crate) fn publish(
    r: Registry,
    engine: &Engine,
    mut builds: Builds,
    o: &PushOptions,
    out: &mut dyn Write,
) -> Result<PushReport> {
    builds.make_indexes(!o.dry_run);
    if let Some(stale) = builds.results.iter().find(|b| b.status == Status::Stale) {
        bail!("the image {} is missing or older than its inputs: build it with `{} image`, or drop --no-build", stale.image, crate::core::ui::program());
    }
    let withheld: Vec<String> = builds
        .indexes
        .iter()
        .filter(|i| matches!(i.status, crate::build::index::IndexStatus::Withheld { .. }))
        .map(|i| i.app.clone())
        .collect();
    let steps = plan::plan(engine, &r, &builds.results, true, &withheld);
    let mut report = PushReport {
        registry: r,
        pushed: Vec::new(),
        builds: None,
    };
    if o.dry_run {
        builds
            .plan_lines()
            .iter()
            .try_for_each(|l| writeln!(out, "{l}"))?;
        for l in exec::lines(&report.registry, &steps) {
            writeln!(out, "{l}")?;
        }
        report.pushed = steps
            .into_iter()
            .map(|p| (p, PushStatus::Planned))
            .collect();
        report.builds = Some(builds);
        return Ok(report);
    }
    builds.print(out)?;
    builds.check()?;
    let _doing = interrupt::doing(format!("pushing to {}", report.registry.shown()));
    report.pushed = exec::execute(&report.registry, engine, steps);
    for (step, status) in &report.pushed {
        writeln!(out, "{}", exec::line(step, status))?;
    }
    report.builds = Some(builds);
    Ok(report)
}
