//! Processes: commands as values ([`command::Cmd`]), the one door that
//! starts them ([`exec`]), the typed error every failure becomes
//! ([`error::ProcessError`]), the runner that executes several at once
//! with progress and logs, and what happens on Ctrl-C ([`interrupt`]) with
//! the run's private directories ([`rundir`]).

pub(crate) mod command;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod interrupt;
pub(crate) mod rundir;
pub(crate) mod runner;
