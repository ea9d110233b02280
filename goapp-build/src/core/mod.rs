//! The shared core: names and values every layer uses (architectures,
//! checked names and image references, the environment snapshot, redaction
//! of secrets, reading files safely, what a person sees, hex). Depends on nothing else here.

pub(crate) mod arch;
pub(crate) mod de;
pub(crate) mod elf;
pub(crate) mod env;
pub(crate) mod fs;
pub(crate) mod gover;
pub(crate) mod names;
pub(crate) mod redact;
pub(crate) mod ui;

/// Lowercase hex of a digest (sha2 0.11 has no `{:x}`).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
