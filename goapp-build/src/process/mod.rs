//! Processes: commands as values ([`command::Cmd`]), the one door that
//! starts them ([`exec`]), the typed error every failure becomes
//! ([`error::ProcessError`]), and the runner that executes several at once
//! with progress and logs.

pub mod command;
pub mod error;
pub mod exec;
pub mod runner;
