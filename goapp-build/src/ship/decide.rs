//! What one node needs of one image, from what its probe found under the
//! image's two names (`REPO:TAG-<arch>` and `REPO:TAG`) and their pins:
//! nothing; its names and pins set (no bytes); or the image itself.

use crate::build::{BuildResult, Status};
use crate::ship::plan::{check_arch, Node};

/// What a node needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Both names hold the image, pinned where the store pins.
    Nothing {
        /// The image id.
        id: String,
        /// The names that hold it.
        names: Vec<String>,
        /// Pinned (the store pins: containerd, k3s).
        pinned: bool,
    },
    /// One name holds the image: give it the other, and pin both.
    Names {
        /// The id.
        id: String,
        /// The name that holds it.
        src: String,
        /// The names to set.
        dsts: Vec<String>,
    },
    /// The image itself: sent, or pulled from the host's registry.
    Image,
}

/// Decides for `node` and `r` (`force`: the image whatever the node holds).
/// An image of another architecture than the node's is refused here, with
/// the reason.
pub(crate) fn need(node: &Node, r: &BuildResult, force: bool) -> Result<Need, String> {
    let t = node.target;
    // An image still to build has no id yet: whatever the node holds is older.
    let id = matches!(r.status, Status::Built | Status::UpToDate)
        .then(|| r.id())
        .flatten();
    if let Some(recorded) = r.recorded_arch().filter(|_| id.is_some()) {
        check_arch(&r.reference, recorded, &t.name, node.arch)?;
    }
    let Some(id) = id.filter(|_| !force) else {
        return Ok(Need::Image);
    };
    let names = [r.reference.as_str(), r.index_reference.as_str()];
    let pins = t.pin_labels();
    let holds = |n: &str| {
        node.probe
            .held(n)
            .filter(|h| h.id == id)
            .map(|h| pins.iter().all(|p| h.labels.contains(*p)))
    };
    let found: Vec<(&str, bool)> = names
        .iter()
        .filter_map(|n| holds(n).map(|pinned| (*n, pinned)))
        .collect();
    if found.len() == names.len() && found.iter().all(|(_, pinned)| *pinned) {
        return Ok(Need::Nothing {
            id: id.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            pinned: !pins.is_empty(),
        });
    }
    match found.first() {
        Some((src, _)) if t.store().is_some() => Ok(Need::Names {
            id: id.to_string(),
            src: src.to_string(),
            dsts: names
                .iter()
                .filter(|n| *n != src)
                .map(|n| n.to_string())
                .collect(),
        }),
        _ => Ok(Need::Image),
    }
}
