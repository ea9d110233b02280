//! The shared core: names and values every layer uses (architectures,
//! checked names and image references, the environment snapshot, redaction
//! of secrets, reading files safely, what a person sees, hex). Depends on nothing else here.

pub mod arch;
pub mod de;
pub mod env;
pub mod fs;
pub mod names;
pub mod redact;
pub mod ui;

/// Lowercase hex of a digest (sha2 0.11 has no `{:x}`).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
