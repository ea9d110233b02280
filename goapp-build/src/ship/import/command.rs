//! `import: {command: [argv…], store: S}`: the user's own importer reads
//! the uncompressed archive on stdin and learns what it reads from its
//! environment (`GOAPP_REF`, `GOAPP_NAME`, `GOAPP_ARCH`, `GOAPP_PLATFORM`,
//! `GOAPP_FORMAT`).

use crate::config::hosts::CustomImport;
use crate::core::arch::Arch;
use crate::engine::store::ArchiveFormat;
use crate::process::command::quote;
use crate::ship::import::ImageNames;
use crate::ship::target::ShipTarget;

/// `env GOAPP_…=… argv…`.
pub(super) fn import(
    t: &ShipTarget,
    c: &CustomImport,
    image: &ImageNames,
    format: ArchiveFormat,
    arch: Arch,
) -> String {
    let vars = [
        ("GOAPP_REF", image.reference.as_str()),
        ("GOAPP_NAME", image.name.as_str()),
        ("GOAPP_ARCH", arch.name()),
        ("GOAPP_PLATFORM", &arch.platform()),
        ("GOAPP_FORMAT", format.name()),
    ]
    .map(|(k, v)| format!("{k}={}", quote(v)))
    .join(" ");
    let argv: Vec<String> = c.argv.iter().map(|a| quote(a)).collect();
    format!("{}env {vars} {}", t.sudo(), argv.join(" "))
}
