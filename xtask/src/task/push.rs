//! `push`: every architecture's image, and the name they share, to a registry.

use crate::args::{BuildArches, ImageArgs, NoBuild};
use crate::json::{conclude, Output};
use anyhow::Result;
use clap::Args;
use goapp_build::{JsonDocument, PushOptions, PushReport, PushStatus, Request, Session};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask push --registry site        this directory's app (at a monorepo's root: every app) to `registries: site`
  cargo xtask push api --registry 127.0.0.1:5000 --insecure
  cargo xtask push --all --registry site --arch amd64,arm64 --dry-run
  cargo xtask push --registry site --json | jq -r '.pushed[] | .remote'")]
pub(crate) struct Cmd {
    /// A registry under `registries:` in the config, or HOST[:PORT]. Each
    /// architecture's image goes as HOST[:PORT]/REPO:TAG-<arch>, the
    /// multi-architecture index as HOST[:PORT]/REPO:TAG; only blobs the
    /// registry lacks are sent. Credentials: `podman login` / `docker login`.
    #[arg(long, value_name = "REGISTRY")]
    pub(crate) registry: String,
    #[command(flatten)]
    what: ImageArgs,
    #[command(flatten)]
    arch: BuildArches,
    /// Plain HTTP (no TLS) to a registry given as HOST[:PORT].
    #[arg(long)]
    insecure: bool,
    /// Print the commands; build and push nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    no_build: NoBuild,
    /// One JSON document on stdout (per image: where it went, status,
    /// duration, failure); the rest goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let o = PushOptions {
            build: Request {
                arches: self.arch.arches()?,
                ..self.what.request()?
            },
            registry: self.registry,
            insecure: self.insecure,
            dry_run: self.dry_run,
            no_build: self.no_build.no_build,
        };
        let mut out = Output::new(self.json, self.dry_run);
        let report = goapp_build::push(s, &o, &mut out)?;
        let error = (report.failures() > 0).then(|| failed_pushes(&report));
        conclude(self.json, error, |e| {
            out.into_doc(JsonDocument::new("push", e).with_push(&report))
        })
    }
}

/// The one sentence for a push that failed somewhere.
fn failed_pushes(report: &PushReport) -> String {
    // The first failure's sentence, so the error carries its fix even when
    // the lines above went to a file.
    let first = report.pushed.iter().find_map(|(_, st)| match st {
        PushStatus::Failed { reason, .. } => reason.lines().next(),
        _ => None,
    });
    format!(
        "{} of {} push(es) to {} failed; the first: {}",
        report.failures(),
        report.pushed.len(),
        report.registry.shown(),
        first.unwrap_or("see the lines above")
    )
}
