//! goapp-build: build Go services into container images and put them on the
//! machines that run them.
//!
//! Planning (pure: config + environment → commands) is kept apart from doing
//! (processes, progress, files), so that most logic is tested without engines
//! and the execution side is tested against real ones.
//!
//! The modules are layers, each using only those listed before it:
//! [`core`] (names, architectures, environment, redaction) → [`process`]
//! (commands and the runner) → [`config`] → [`go`] (Go versions) →
//! [`engine`] (podman/docker and their capabilities) → [`containerfile`]
//! (parser, preflight, shims, lints) → [`session`] → [`build`] → [`ship`] and
//! [`doctor`].

#![warn(missing_docs)]

pub mod build;
pub mod config;
pub mod containerfile;
pub mod core;
pub mod doctor;
pub mod engine;
pub mod go;
pub mod process;
pub mod session;
pub mod ship;
