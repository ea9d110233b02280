//! docker's containerd image store calls an image by its manifest's
//! digest, and keeps the config digest (the id every other store reports,
//! and what the tool compares) only for images loaded from an OCI layout
//! that says it. After an import or pull, the pair is remembered on the
//! node (a pure mapping: content-addressed, never stale), and the probe
//! reads the config digest back through it.

use crate::config::hosts::Store;
use crate::process::command::quote;
use crate::ship::target::ShipTarget;

/// Where a docker node remembers manifest digest → config digest pairs.
const DOCKER_IDS: &str = "\"${XDG_CACHE_HOME:-$HOME/.cache}/goapp-build/docker-ids\"";

impl ShipTarget {
    /// After an import or pull of `reference` with config digest `id`:
    /// remembers the pair when docker calls the image otherwise (the last
    /// 500 pairs are kept). Empty for other stores.
    pub(super) fn remember_id(&self, reference: &str, id: &str) -> String {
        if self.store() != Some(Store::Docker) {
            return String::new();
        }
        format!(
            " && {{ m=$({}docker image inspect --format '{{{{.Id}}}}' {} 2>/dev/null) && if [ \"$m\" != {id} ]; then mkdir -p \"${{XDG_CACHE_HOME:-$HOME/.cache}}/goapp-build\" && printf '%s %s\\n' \"$m\" {id} >> {DOCKER_IDS} && tail -n 500 {DOCKER_IDS} > {DOCKER_IDS}.$$ && mv -f {DOCKER_IDS}.$$ {DOCKER_IDS}; fi || true; }}",
            self.sudo(),
            quote(reference),
            id = quote(id),
        )
    }
}

/// The probe's step that turns the `$id` docker reported into the config
/// digest remembered for it, if any.
pub(super) fn lookup() -> String {
    format!("c=$(awk -v m=\"$id\" '$1==m {{c=$2}} END {{print c}}' {DOCKER_IDS} 2>/dev/null); [ -z \"$c\" ] || id=$c; ")
}
