//! Planning a push, with no side effects: which local image goes to which
//! registry name, by which commands. The engine's own push sends only the
//! blobs the registry lacks; credentials come from the engine's own auth
//! file (`podman login`, `docker login`), never from us.

use crate::build::BuildResult;
use crate::core::arch::Arch;
use crate::core::names::ImageRef;
use crate::engine::registry::ListPush;
use crate::engine::Engine;
use crate::process::command::Cmd;

/// A registry to push to (and pull from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// Its name under `registries:`, when it has one.
    pub name: Option<String>,
    /// `HOST[:PORT]`.
    pub address: String,
    /// Plain HTTP.
    pub insecure: bool,
}

impl Registry {
    /// How messages name it: `site (registry.lan:5000)` or the address.
    pub fn shown(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.address),
            None => self.address.clone(),
        }
    }

    /// `HOST[:PORT]/REPO:TAG` for a local image name: the repository
    /// without a registry host of its own (`localhost/joke` → `joke`).
    pub fn remote(&self, image: &ImageRef) -> String {
        image.remote(&self.address)
    }

    /// The repository of `image` in this registry (`reg.lan:5000/joke`).
    pub fn remote_repository(&self, image: &ImageRef) -> String {
        image.remote_repository(&self.address)
    }
}

/// One thing pushed: an architecture's image, or the name every
/// architecture shares.
#[derive(Clone, Debug, PartialEq)]
pub struct PushStep {
    /// The app.
    pub app: String,
    /// The architecture's image, or `None` for `REPO:TAG`.
    pub arch: Option<Arch>,
    /// The local image (or manifest list).
    pub local: String,
    /// Where it goes: `HOST[:PORT]/REPO:TAG[-<arch>]`.
    pub remote: String,
    /// The commands, in order.
    pub commands: Vec<Cmd>,
    /// Commands whose failure does not matter (clearing a stale local list).
    pub optional: usize,
}

/// Pushes `results` (the images of one or more apps) to `r`. With
/// `names`, each app's `REPO:TAG` too: the manifest list of its
/// architectures (a plain image when it has one).
///
/// `transient` names apps whose local list was withheld (podman < 4.8 with a
/// layerless image in the store): their list is made, pushed and removed.
pub(crate) fn plan(
    engine: &Engine,
    r: &Registry,
    results: &[BuildResult],
    names: bool,
    transient: &[String],
) -> Vec<PushStep> {
    let mut steps: Vec<PushStep> = results
        .iter()
        .map(|b| PushStep {
            app: b.app.clone(),
            arch: Some(b.arch),
            local: b.reference.clone(),
            remote: r.remote(&b.image),
            commands: engine.push_image(&b.reference, &r.remote(&b.image), r.insecure),
            optional: 0,
        })
        .collect();
    if !names {
        return steps;
    }
    let mut apps: Vec<&str> = results.iter().map(|b| b.app.as_str()).collect();
    apps.dedup();
    for app in apps {
        let mine: Vec<&BuildResult> = results.iter().filter(|b| b.app == app).collect();
        let first = mine[0];
        let remote = r.remote(&first.index_image);
        let members: Vec<String> = mine.iter().map(|b| r.remote(&b.image)).collect();
        let list = engine.push_list(&first.index_reference, &remote, &members, r.insecure);
        let (commands, optional) = match (mine.len(), list) {
            (1, _) => (engine.push_image(&first.reference, &remote, r.insecure), 0),
            // The list is withheld locally (podman < 4.8): made for the push
            // and removed again.
            (_, ListPush::FromLocalList(push)) if transient.iter().any(|a| a == app) => {
                let mut cmds = crate::build::index::commands(engine, &first.index_reference, &mine);
                let rm = cmds.remove(0);
                cmds.push(push);
                cmds.push(rm);
                (cmds, 0)
            }
            (_, ListPush::FromLocalList(push)) => (vec![push], 0),
            (_, ListPush::FromRegistry { commands, optional }) => (commands, optional),
        };
        steps.push(PushStep {
            app: app.to_string(),
            arch: None,
            local: first.index_reference.clone(),
            remote,
            commands,
            optional,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::Status;
    use crate::engine::EngineKind;

    fn built(app: &str, arch: Arch, domain: &str) -> BuildResult {
        BuildResult::fixture(app, arch, Status::UpToDate).with_domain(domain)
    }

    fn engine(kind: EngineKind) -> Engine {
        Engine::fixture(kind)
    }

    fn lines(steps: &[PushStep]) -> Vec<String> {
        steps
            .iter()
            .flat_map(|s| s.commands.iter().map(|c| c.to_string()))
            .collect()
    }

    #[test]
    fn podman_pushes_each_arch_then_the_list() {
        let r = Registry {
            name: Some("site".into()),
            address: "127.0.0.1:5000".into(),
            insecure: true,
        };
        let results = [
            built("joke", Arch::Amd64, "localhost"),
            built("joke", Arch::Arm64, "localhost"),
            built("solo", Arch::Arm64, "localhost"),
        ];
        let steps = plan(&engine(EngineKind::Podman), &r, &results, true, &[]);
        assert_eq!(
            lines(&steps),
            [
                "podman push --quiet --tls-verify=false localhost/joke:1-amd64 docker://127.0.0.1:5000/joke:1-amd64",
                "podman push --quiet --tls-verify=false localhost/joke:1-arm64 docker://127.0.0.1:5000/joke:1-arm64",
                "podman push --quiet --tls-verify=false localhost/solo:1-arm64 docker://127.0.0.1:5000/solo:1-arm64",
                "podman manifest push --all --quiet --tls-verify=false localhost/joke:1 docker://127.0.0.1:5000/joke:1",
                // One architecture: REPO:TAG is that image.
                "podman push --quiet --tls-verify=false localhost/solo:1-arm64 docker://127.0.0.1:5000/solo:1",
            ]
        );
        assert_eq!(steps[3].arch, None);
        assert_eq!(r.shown(), "site (127.0.0.1:5000)");
        // Without names (ship's pull_from): the architectures' images only.
        assert_eq!(
            plan(&engine(EngineKind::Podman), &r, &results[..1], false, &[]).len(),
            1
        );
    }

    #[test]
    fn docker_tags_pushes_and_makes_the_list_in_the_registry() {
        let r = Registry {
            name: None,
            address: "reg.lan:5000".into(),
            insecure: false,
        };
        let results = [
            built("joke", Arch::Amd64, "docker.io/library"),
            built("joke", Arch::Arm64, "docker.io/library"),
        ];
        let steps = plan(&engine(EngineKind::Docker), &r, &results, true, &[]);
        assert_eq!(
            lines(&steps),
            [
                "docker tag docker.io/library/joke:1-amd64 reg.lan:5000/joke:1-amd64",
                "docker push --quiet reg.lan:5000/joke:1-amd64",
                "docker image rm --no-prune reg.lan:5000/joke:1-amd64",
                "docker tag docker.io/library/joke:1-arm64 reg.lan:5000/joke:1-arm64",
                "docker push --quiet reg.lan:5000/joke:1-arm64",
                "docker image rm --no-prune reg.lan:5000/joke:1-arm64",
                "DOCKER_CLI_EXPERIMENTAL=enabled docker manifest rm reg.lan:5000/joke:1",
                "DOCKER_CLI_EXPERIMENTAL=enabled docker manifest create reg.lan:5000/joke:1 reg.lan:5000/joke:1-amd64 reg.lan:5000/joke:1-arm64",
                "DOCKER_CLI_EXPERIMENTAL=enabled docker manifest push --purge reg.lan:5000/joke:1",
            ]
        );
        assert_eq!(
            steps[2].optional, 1,
            "a stale local list may or may not be there"
        );
    }
}
