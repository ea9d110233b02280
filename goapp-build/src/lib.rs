//! goapp-build: build Go services into container images and put them on the
//! machines that run them.
//!
//! Planning (pure: config + environment → commands) is kept apart from doing
//! (processes, progress, files), so that most logic is tested without engines
//! and the execution side is tested against real ones.

#![warn(missing_docs)]

pub mod arch;
pub mod caps;
pub mod command;
pub mod config;
pub mod containerfile;
pub mod doctor;
pub mod engine;
pub mod env;
pub mod goresolve;
pub mod gotags;
pub mod gover;
pub mod hosts;
pub mod ignore;
pub mod image;
pub mod inputs;
pub mod lint;
pub mod plan;
pub mod preflight;
pub mod proxy;
pub mod redact;
pub mod remote;
pub mod runner;
pub mod secrets;
pub mod ship;
pub mod tarfilter;
