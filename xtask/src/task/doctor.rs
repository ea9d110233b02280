//! `doctor`: check the whole set-up, one line per check.

use anyhow::Result;
use clap::Args;
use goapp_build::{Session, Verdict};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask doctor                      every check, one line each; each failure ends with its fix
  cargo xtask doctor --config ci/goapp.yaml
  cargo xtask doctor -q || echo 'fix the FAIL lines first'")]
pub(crate) struct Cmd {}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let checks = goapp_build::doctor(s, &mut std::io::stdout().lock())?;
        let failed = checks.iter().filter(|c| c.status == Verdict::Fail).count();
        if failed > 0 {
            anyhow::bail!("{failed} check(s) failed; each line above says the fix");
        }
        Ok(())
    }
}
