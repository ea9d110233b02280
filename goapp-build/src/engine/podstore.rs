//! podman before 4.8 cannot list its images once its store holds a manifest
//! list and also an image without layers (containers/common #1651, first in
//! podman 4.8.0): `podman images`, `image prune` and `system df` all fail
//! with "checking if image … is dangling: fetching target platform image
//! selected from image index …". A multi-architecture build makes such a
//! list, and a `FROM scratch` stage whose first steps are `LABEL`/`ENV`
//! leaves layerless intermediate images. On those releases the tool removes
//! the layerless intermediates its own builds made (nameless: cache entries
//! of metadata-only steps, cheap to make again), and makes no list while a
//! layerless image it did not make is there. Which images are which is read
//! from the store's own record (`<graphroot>/<driver>-images/images.json`:
//! a list carries `instances.json`, an image with layers names its top
//! `layer`), since the listing itself is what fails.

use crate::engine::Engine;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// One image record of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// The image id (hex).
    pub id: String,
    /// Its names.
    pub names: Vec<String>,
}

/// The images that matter to the bug.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// Manifest lists.
    pub lists: Vec<Record>,
    /// Images without a layer that are not lists.
    pub layerless: Vec<Record>,
}

impl State {
    /// Whether podman < 4.8 fails to list this store.
    pub(crate) fn trips_listing(&self) -> bool {
        !self.lists.is_empty() && !self.layerless.is_empty()
    }

    /// The ids of the layerless images.
    pub(crate) fn layerless_ids(&self) -> BTreeSet<String> {
        self.layerless.iter().map(|r| r.id.clone()).collect()
    }
}

/// Reads `images.json` text.
pub(crate) fn parse(text: &str) -> Option<State> {
    let all: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    let mut state = State::default();
    for v in all {
        let record = Record {
            id: v["id"].as_str()?.to_string(),
            names: v["names"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let is_list = v["big-data-names"]
            .as_array()
            .is_some_and(|b| b.iter().any(|n| n == "instances.json"));
        if is_list {
            state.lists.push(record);
        } else if v["layer"].as_str().is_none_or(str::is_empty) {
            state.layerless.push(record);
        }
    }
    Some(state)
}

/// Where the store keeps its image records.
fn records_path(engine: &Engine) -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = engine
            .cmd()
            .args([
                "info",
                "--format",
                "{{.Store.GraphRoot}}\t{{.Store.GraphDriverName}}",
            ])
            .run_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (root, driver) = text.trim().split_once('\t')?;
        Some(PathBuf::from(root).join(format!("{driver}-images/images.json")))
    })
    .clone()
}

/// What the store holds now (`None`: not readable, e.g. rootless storage
/// of another user).
pub(crate) fn read(engine: &Engine) -> Option<State> {
    let path = records_path(engine)?;
    parse(&std::fs::read_to_string(path).ok()?)
}

/// Removes the nameless layerless images that are not in `before` (made
/// since, by this run's builds); returns their ids.
pub(crate) fn sweep_new_layerless(engine: &Engine, before: &BTreeSet<String>) -> Vec<String> {
    let Some(now) = read(engine) else {
        return Vec::new();
    };
    let new: Vec<String> = now
        .layerless
        .iter()
        .filter(|r| r.names.is_empty() && !before.contains(&r.id))
        .map(|r| r.id.clone())
        .collect();
    if !new.is_empty() {
        // One by one: an id another build already removed must not stop the rest.
        for id in &new {
            let _ = engine
                .cmd()
                .args(["rmi", "--force", id])
                .run_timeout(Some(Duration::from_secs(60)));
        }
    }
    new
}

/// The sentence `doctor` and a withheld list give for a store that trips
/// (or would trip) the listing.
pub(crate) fn explain(engine: &Engine, state: &State) -> String {
    let show = |r: &Record| match r.names.first() {
        Some(n) => n.clone(),
        None => r.id[..12.min(r.id.len())].to_string(),
    };
    let layerless: Vec<String> = state.layerless.iter().map(show).collect();
    let mut lists: Vec<String> = state.lists.iter().take(3).map(show).collect();
    if state.lists.len() > 3 {
        lists.push(format!("and {} more", state.lists.len() - 3));
    }
    format!(
        "podman before 4.8 cannot list images while its store holds a manifest list ({}) and an image without layers ({}): remove the latter with `{} rmi {}` (or the lists with `{} manifest rm …`); podman 4.8 fixes it",
        lists.join(", "),
        layerless.join(", "),
        engine.program,
        layerless.join(" "),
        engine.program
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_layerless_images_from_the_record() {
        let json = r#"[
          {"id":"aaa","names":["docker.io/library/golang:1.19-bookworm"],"big-data-names":["manifest","instances.json"]},
          {"id":"bbb","names":["localhost/x:1"],"layer":"l1","big-data-names":["manifest"]},
          {"id":"ccc","big-data-names":["manifest"]},
          {"id":"ddd","layer":"","names":["localhost/empty:1"]}
        ]"#;
        let s = parse(json).unwrap();
        assert_eq!(s.lists.len(), 1);
        let ids: Vec<&str> = s.layerless.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["ccc", "ddd"]);
        assert!(s.trips_listing());
        let fine = parse(
            r#"[{"id":"bbb","layer":"l1"},{"id":"ccc","big-data-names":["instances.json"]}]"#,
        )
        .unwrap();
        assert!(!fine.trips_listing());
        assert_eq!(parse("not json"), None);
    }
}
