//! `lint`: check Containerfiles against the engine and established practice.

use crate::args::arch_list;
use anyhow::Result;
use clap::Args;
use goapp_build::{EngineKind, LintOptions, Session};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  cargo xtask lint                        the Containerfiles of this directory's app (at a monorepo's root: every app)
  cargo xtask lint api worker --strict    two apps; warnings fail too
  cargo xtask lint --arch amd64,arm64 --engine docker path/to/Containerfile")]
pub(crate) struct Cmd {
    /// Apps from the config, or Containerfiles (a path that exists as a
    /// file or holds a '/'; a directory means its Containerfile). Default:
    /// the apps a build here would build.
    #[arg(value_name = "APP|FILE")]
    targets: Vec<String>,
    /// Every app in the config.
    #[arg(long, conflicts_with = "targets")]
    all: bool,
    /// A Containerfile to check (repeatable), as `image -f` takes it.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Vec<PathBuf>,
    /// Architectures the build targets (default: the configured or the host's).
    #[arg(long, value_name = "LIST")]
    arch: Option<String>,
    /// The engine whose abilities count (default: the configured or detected one).
    #[arg(long, value_name = "ENGINE")]
    engine: Option<EngineKind>,
    /// Warnings fail too.
    #[arg(long)]
    strict: bool,
    /// Report what a shim would fix as an error.
    #[arg(long)]
    no_shims: bool,
    /// Check the file as built without the cross-compilation shim.
    #[arg(long)]
    no_cross_compile: bool,
}

impl Cmd {
    pub(crate) fn run(self, s: &Session) -> Result<()> {
        let (mut files, apps) = files_and_apps(self.targets);
        files.extend(self.file);
        let o = LintOptions {
            arch: arch_list(self.arch.as_deref())?,
            apps,
            all: self.all,
            files,
            engine: self.engine,
            strict: self.strict,
            no_shims: self.no_shims,
            no_cross_compile: self.no_cross_compile,
        };
        let blocking = goapp_build::lint(s, &o, &mut std::io::stdout().lock())?;
        if blocking > 0 {
            anyhow::bail!(
                "{blocking} finding(s) would stop a build{}",
                if self.strict { " (--strict)" } else { "" }
            );
        }
        Ok(())
    }
}

/// Splits `lint`'s arguments into files and app names: a path that exists,
/// or holds a '/', is a file (a directory stands for its Containerfile or
/// Dockerfile, found as `image` finds it); anything else names an app.
fn files_and_apps(targets: Vec<String>) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut apps = Vec::new();
    for t in targets {
        let p = PathBuf::from(&t);
        if p.exists() || t.contains('/') {
            files.push(p);
        } else {
            apps.push(t);
        }
    }
    (files, apps)
}
