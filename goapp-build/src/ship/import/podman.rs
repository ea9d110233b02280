//! `import: podman`: the node's podman loads the archive and pulls from
//! registries.

use crate::process::command::quote;
use crate::ship::target::ShipTarget;

/// `podman load`, reading the archive on stdin.
pub(super) fn import(t: &ShipTarget) -> String {
    format!("{}podman load", t.sudo())
}

/// `podman pull` of `remote` (`--tls-verify=false` for a registry without TLS).
pub(super) fn pull(t: &ShipTarget, remote: &str, insecure: bool) -> String {
    format!(
        "{}podman pull -q{} {} >/dev/null",
        t.sudo(),
        if insecure { " --tls-verify=false" } else { "" },
        quote(remote)
    )
}
