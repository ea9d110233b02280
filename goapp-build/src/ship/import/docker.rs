//! `import: docker`: the node's docker daemon loads the archive and pulls
//! from registries (plain-HTTP ones by its own `insecure-registries`).

use crate::process::command::quote;
use crate::ship::target::ShipTarget;

/// `docker load`, reading the archive on stdin.
pub(super) fn import(t: &ShipTarget) -> String {
    format!("{}docker load", t.sudo())
}

/// `docker pull` of `remote`.
pub(super) fn pull(t: &ShipTarget, remote: &str) -> String {
    format!("{}docker pull -q {} >/dev/null", t.sudo(), quote(remote))
}
