//! `init`: write a commented goapp.yaml for this repository.

use anyhow::Result;
use clap::Args;
use goapp_build::HostEnv;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask init                        at the repository's root: writes goapp.yaml
  cargo xtask init --print                shows what it would write")]
pub(crate) struct Cmd {
    /// Print the file instead of writing it.
    #[arg(long)]
    print: bool,
}

impl Cmd {
    /// Takes no session: there is no config to open yet.
    pub(crate) fn run(self, env: &HostEnv) -> Result<()> {
        let w = goapp_build::init(&std::env::current_dir()?, env, self.print)?;
        if self.print {
            print!("{}", w.text);
            return Ok(());
        }
        let apps: Vec<String> = w
            .apps
            .iter()
            .map(|a| format!("{} ({})", a.name, a.context))
            .collect();
        println!(
            "wrote {} with {} app(s){}{}",
            w.path.display(),
            apps.len(),
            if apps.is_empty() { "" } else { ": " },
            apps.join(", ")
        );
        Ok(())
    }
}
