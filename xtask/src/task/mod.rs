//! One module per task: its flags (with their help and examples) and
//! `run()`, which turns them into the library's typed options, calls the
//! library and says the outcome.

pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod go_version;
pub(crate) mod image;
pub(crate) mod init;
pub(crate) mod lint;
pub(crate) mod push;
pub(crate) mod ship;
