//! `go-version`: the Go version each build uses.

use crate::json::emit;
use anyhow::Result;
use clap::Args;
use goapp_build::{JsonDocument, Session};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask go-version                  this directory's app (at a monorepo's root: `APP VERSION` per app)
  cargo xtask go-version api              one app: the bare version, e.g. 1.25.4
  cargo xtask go-version --all --json | jq -r '.go_versions[].go_version'
  cargo xtask go-version --go-version 1.24  the newest 1.24.x")]
pub(crate) struct Cmd {
    /// The app (default: the app of the current directory, else the
    /// config's default apps, one line each).
    app: Option<String>,
    /// Every app in the config, one line each: `APP VERSION`.
    #[arg(long, conflicts_with = "app")]
    all: bool,
    /// One JSON document on stdout: each app and its Go version.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let versions = s.go_versions(self.app.as_deref(), self.all)?;
        if self.json {
            return emit(&JsonDocument::new("go-version", None).with_go(&versions));
        }
        // One app asked for prints the bare version, for scripts.
        match versions.as_slice() {
            [(_, v)] if !self.all => println!("{v}"),
            many => many.iter().for_each(|(app, v)| println!("{app} {v}")),
        }
        Ok(())
    }
}
