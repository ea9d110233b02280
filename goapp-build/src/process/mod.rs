//! Processes: commands as values ([`command::Cmd`]) and the runner that
//! executes several at once with progress and logs. Every spawn goes through
//! here, so redaction and the error shape are never bypassed.

pub mod command;
pub mod runner;
