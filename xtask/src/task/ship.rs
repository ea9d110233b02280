//! `ship`: put images on remote nodes over ssh, without a registry.

use crate::args::{ImageArgs, NoBuild};
use crate::json::{conclude, Output};
use anyhow::{Context, Result};
use clap::Args;
use goapp_build::{Arch, HostNames, JsonDocument, Session, ShipOptions, ShipReport};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask ship --host pi api          build if needed, send, verify, import
  cargo xtask ship --host pis             every app to every node of the group `pis`
  cargo xtask ship --host pi1,pi2 --dry-run
  cargo xtask ship --host pis --json | jq '.hosts[] | {host, status, bytes_sent}'")]
pub(crate) struct Cmd {
    /// Hosts or groups from the config, comma-separated (pi, pis, pi1,pi2).
    #[arg(long, value_name = "HOSTS")]
    pub(crate) host: HostNames,
    #[command(flatten)]
    what: ImageArgs,
    /// Ship this architecture's image whatever the hosts say.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// Probe the nodes (read-only) and print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    no_build: NoBuild,
    /// Send even to nodes that already have the image.
    #[arg(long)]
    force: bool,
    /// One JSON document on stdout (per node: status, bytes sent, duration,
    /// failure; per image: id, digest, status); the rest goes to stderr.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let o = ShipOptions {
            arch: self
                .arch
                .map(|a| a.parse::<Arch>().context("--arch"))
                .transpose()?,
            build: self.what.request()?,
            hosts: self.host,
            dry_run: self.dry_run,
            no_build: self.no_build.no_build,
            force: self.force,
        };
        let mut out = Output::new(self.json, self.dry_run);
        let report = goapp_build::ship(s, &o, &mut out)?;
        let error = report.failed().then(|| failed_hosts(&report));
        conclude(self.json, error, |e| {
            out.into_doc(JsonDocument::new("ship", e).with_ship(&report))
        })
    }
}

/// The one sentence for a ship that failed somewhere.
fn failed_hosts(report: &ShipReport) -> String {
    format!(
        "shipping failed on {} of {} host(s): {}",
        report.failures(),
        report.hosts.len(),
        report.failure_summary()
    )
}
