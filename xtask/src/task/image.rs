//! `image`: build images for apps and architectures.

use crate::args::{BuildArches, ImageArgs};
use crate::json::{emit, Output};
use anyhow::Result;
use clap::Args;
use goapp_build::{JsonDocument, Policy, Request, Session};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask image                       this directory's app; at a monorepo's root, every app
  cargo xtask image api worker --arch amd64,arm64
  cargo xtask image --all --json | jq '.images[] | {app, arch, id, status}'
  cargo xtask image api --tag registry.local/api:1.4.0 --dry-run")]
pub(crate) struct Cmd {
    #[command(flatten)]
    what: ImageArgs,
    #[command(flatten)]
    arch: BuildArches,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Build even when the image's inputs have not changed.
    #[arg(long)]
    force: bool,
    /// Lint warnings stop the build.
    #[arg(long)]
    strict: bool,
    /// One JSON document on stdout (images, ids, digests, status, logs);
    /// the rest goes to stderr. See docs/JSON.md.
    #[arg(long)]
    pub(crate) json: bool,
    /// Have the engine rebuild every step (implies --force).
    #[arg(long)]
    no_cache: bool,
    /// Never rewrite the Containerfile for the engine; stop instead.
    #[arg(long)]
    no_shims: bool,
    /// Leave builder stages that run under emulation as they are (no cross-compilation shim).
    #[arg(long)]
    no_cross_compile: bool,
}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let request = Request {
            arches: self.arch.arches()?,
            strict: self.strict,
            no_cache: self.no_cache,
            no_shims: self.no_shims,
            no_cross_compile: self.no_cross_compile,
            ..self.what.request()?
        };
        let policy = match (self.dry_run, self.force || self.no_cache) {
            (true, _) => Policy::PlanOnly,
            (false, true) => Policy::Rebuild,
            (false, false) => Policy::BuildIfStale,
        };
        if !self.json {
            goapp_build::image(s, request, policy, &mut std::io::stdout().lock())?;
            return Ok(());
        }
        // Failed builds are results here: the document lists them all.
        let mut out = Output::new(true, self.dry_run);
        let builds = goapp_build::image_results(s, request, policy, &mut out)?;
        let error = builds.check().err().map(|e| format!("{e:#}"));
        emit(&out.into_doc(JsonDocument::new("image", error).with_builds(&builds)))
    }
}
