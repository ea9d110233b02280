//! goapp-build: build Go services into container images and put them on the
//! machines that run them.
//!
//! # The API
//!
//! Everything `cargo xtask` uses, and all a team's own xtask needs:
//!
//! - [`Session::open`] once per run: the environment, the working
//!   directory, the config, the shared [`Common`] options.
//! - Building: a [`Request`] (apps, an [`ImageTemplate`], [`Arch`]es, [`EngineKind`], build args)
//!   and a [`Policy`] go into a [`Builder`]; typed [`BuildResult`]s come out
//!   (app, arch, reference, image id, [`Status`], timing, log, the
//!   [`ProcessError`] of a failure). [`image()`] is the `image` task: build
//!   and print them.
//! - Shipping: [`ship()`] with [`ShipOptions`] consumes those results and
//!   returns a [`ShipReport`] of [`HostResult`]s, one per host.
//! - Checking: [`lint()`] and [`doctor()`]; what an engine version can do:
//!   [`capabilities()`].
//! - A [`Run`] first: Ctrl-C and SIGTERM stop the children in order and
//!   leave nothing behind (no process, engine container, partial archive,
//!   temporary file or secret at rest), and the engine gets a private
//!   `TMPDIR`.
//!
//! # The layers
//!
//! Each module uses only those listed before it (a test checks it):
//! `core` (architectures, names, environment, redaction) → `process`
//! (commands as values, the one door that starts them, the runner) →
//! `engine` (podman/docker, capabilities, the local image store) → `config`
//! → `go` (Go versions) → `session` → `containerfile` (parser, preflight,
//! shims, lints) → `build` → `ship`, `doctor` and `init`. Planning (pure: config +
//! environment → commands) is kept apart from doing (processes, progress,
//! files), so most logic is tested without engines and the doing is tested
//! against real ones. `docs/ARCHITECTURE.md` draws the whole picture.

#![warn(missing_docs)]
// Items are `pub(crate)` unless the facade below re-exports them (or an
// API type reaches them), so the library's real surface is what `pub` says.
#![warn(unreachable_pub)]
// The pedantic lints this crate does not follow, each with its reason (the
// one place: `cargo clippy -p goapp-build -- -W clippy::pedantic` reports
// the rest, which are fixed or judged case by case).
#![allow(
    // Nearly every getter and planner is pure; marking each adds noise to
    // the API while the callers are ours and use what they ask for.
    clippy::must_use_candidate,
    clippy::return_self_not_must_use,
    // Every fallible function returns one sentence naming the thing and the
    // fix; the sentence is the documentation of its errors.
    clippy::missing_errors_doc,
    // The docs name commands, flags and files in prose (podman, go.mod,
    // `--host`) the lint takes for unquoted code.
    clippy::doc_markdown
)]

mod build;
mod commands;
mod config;
mod containerfile;
mod core;
mod doctor;
mod engine;
mod go;
mod init;
mod json;
mod process;
mod push;
mod session;
mod ship;
#[cfg(test)]
mod tidy;

pub use crate::build::{
    image, image_results, BuildResult, Builder, Builds, Policy, Request, Status, Target,
};
pub use crate::config::hosts::HostNames;
pub use crate::containerfile::lint::{run as lint, LintOptions};
pub use crate::core::arch::{parse_list as parse_arches, Arch};
pub use crate::core::env::HostEnv;
pub use crate::core::names::{ImageRef, ImageTemplate, TagTemplate};
pub use crate::core::ui::{set_invocation, Verbosity};
pub use crate::doctor::{run as doctor, Check, Verdict};
pub use crate::engine::caps::{from_version as capabilities, Capabilities};

pub use crate::commands::{push, ship};
pub use crate::engine::store::LocalImage;
pub use crate::engine::{BuildFront, Engine, EngineKind, ImageStore};
pub use crate::go::version::{GoVersion, Request as GoRequest};
pub use crate::init::{run as init, Found, Written};
pub use crate::json::Document as JsonDocument;
pub use crate::process::command::Cmd;
pub use crate::process::error::{Failure, ProcessError};
pub use crate::process::interrupt::Run;
pub use crate::push::{registry, PushOptions, PushReport, PushStatus, PushStep, Registry};
pub use crate::session::{Common, Session};
pub use crate::ship::{HostResult, ShipOptions, ShipReport};
