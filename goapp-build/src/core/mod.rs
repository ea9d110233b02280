//! The shared core: names and values every layer uses (architectures, the
//! environment snapshot, redaction of secrets). Depends on nothing else here.

pub mod arch;
pub mod env;
pub mod redact;
