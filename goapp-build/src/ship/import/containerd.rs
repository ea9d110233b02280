//! `import: k3s` and `import: containerd`: the node's containerd, through
//! `k3s ctr` or `ctr`, in Kubernetes' namespace. The platform is always
//! stated: containerd otherwise drops an image of another architecture.

use crate::config::hosts::Store;
use crate::core::arch::Arch;
use crate::process::command::quote;
use crate::ship::target::ShipTarget;

/// `ctr images import`, reading the archive on stdin.
pub(super) fn import(t: &ShipTarget, store: Store, arch: Arch) -> String {
    format!(
        "{} images import --platform {} -",
        t.ctr(store),
        quote(&arch.platform())
    )
}

/// Succeeds when the store holds the image named `$r`.
pub(super) fn holds(t: &ShipTarget, store: Store) -> String {
    format!(
        "{} images ls -q \"name==$r\" 2>/dev/null | grep -q .",
        t.ctr(store)
    )
}

/// `ctr images pull` of `remote` for `arch` (`--plain-http` for a registry
/// without TLS).
pub(super) fn pull(
    t: &ShipTarget,
    store: Store,
    remote: &str,
    arch: Arch,
    insecure: bool,
) -> String {
    format!(
        "{} images pull{} --platform {} {} >/dev/null",
        t.ctr(store),
        if insecure { " --plain-http" } else { "" },
        quote(&arch.platform()),
        quote(remote)
    )
}
