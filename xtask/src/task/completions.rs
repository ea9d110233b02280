//! `completions`: shell completions for the installed name, `goapp`.

use crate::Cli;
use anyhow::Result;
use clap::{Args, CommandFactory};

#[derive(Args, Debug)]
#[command(
    after_help = "Completions are for the command name `goapp`: the installed binary \
(cargo install --path goapp), or `alias goapp='cargo xtask'` (shells complete an alias by its name).
  bash: cargo xtask completions bash > ~/.local/share/bash-completion/completions/goapp
  zsh:  cargo xtask completions zsh > \"${fpath[1]}/_goapp\"
  fish: cargo xtask completions fish > ~/.config/fish/completions/goapp.fish"
)]
pub(crate) struct Cmd {
    /// The shell.
    shell: clap_complete::Shell,
}

impl Cmd {
    /// For `goapp` whatever the program's name: completions are installed
    /// for a name, and an alias completes by its own name.
    pub(crate) fn run(self) -> Result<()> {
        let mut cmd = Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "goapp", &mut std::io::stdout());
        Ok(())
    }
}
