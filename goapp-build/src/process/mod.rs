//! Processes: commands as values ([`command::Cmd`]), the one door that
//! starts them ([`exec`]), the typed error every failure becomes
//! ([`error::ProcessError`]), the runner that executes several at once
//! with progress and logs, and what happens on Ctrl-C ([`interrupt`]) with
//! the run's private directories ([`rundir`]).

pub mod command;
pub mod error;
pub mod exec;
pub mod interrupt;
pub mod rundir;
pub mod runner;
