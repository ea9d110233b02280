//! How each engine puts images into a registry: one image under one name,
//! and the name every architecture shares.

use crate::engine::{Engine, EngineKind};
use crate::process::command::Cmd;

/// How an engine pushes the name every architecture's image shares.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ListPush {
    /// From the local manifest list (podman), with every image it lists
    /// (already in the registry: only their manifests go again).
    FromLocalList(Cmd),
    /// Made in the registry from the pushed images (docker: `docker
    /// manifest`, an experimental command in 20.10), pushed, then forgotten
    /// locally; the first `optional` commands may fail (nothing to remove).
    FromRegistry { commands: Vec<Cmd>, optional: usize },
}

impl Engine {
    /// One local image to one registry name.
    pub(crate) fn push_image(&self, local: &str, remote: &str, insecure: bool) -> Vec<Cmd> {
        match self.kind {
            EngineKind::Podman => vec![self
                .cmd()
                .args(["push", "--quiet"])
                .args(tls(insecure))
                .arg(local)
                .arg(format!("docker://{remote}"))],
            // docker pushes what it has under the registry's name (plain
            // HTTP is the daemon's setting, not a flag): the name is made
            // for the push and taken off again, so the store keeps only
            // the names it had.
            EngineKind::Docker => vec![
                self.cmd().args(["tag", local, remote]),
                self.cmd().args(["push", "--quiet", remote]),
                self.untag_cmd(remote),
            ],
        }
    }

    /// The shared name `remote` of the images pushed as `members`, from the
    /// local list `local` where the engine keeps one.
    pub(crate) fn push_list(
        &self,
        local: &str,
        remote: &str,
        members: &[String],
        insecure: bool,
    ) -> ListPush {
        match self.kind {
            EngineKind::Podman => ListPush::FromLocalList(
                self.cmd()
                    .args(["manifest", "push", "--all", "--quiet"])
                    .args(tls(insecure))
                    .arg(local)
                    .arg(format!("docker://{remote}")),
            ),
            EngineKind::Docker => {
                let cli = || self.cmd().env("DOCKER_CLI_EXPERIMENTAL", "enabled");
                let flag = insecure.then_some("--insecure");
                ListPush::FromRegistry {
                    commands: vec![
                        cli().args(["manifest", "rm", remote]),
                        cli()
                            .args(["manifest", "create"])
                            .args(flag)
                            .arg(remote)
                            .args(members.iter().cloned()),
                        cli()
                            .args(["manifest", "push", "--purge"])
                            .args(flag)
                            .arg(remote),
                    ],
                    optional: 1,
                }
            }
        }
    }

    /// Why a push to a plain-HTTP registry marked `insecure` can still
    /// fail, with the fix, where the engine decides that itself.
    pub(crate) fn plain_http_fix(&self, address: &str) -> Option<String> {
        (self.kind == EngineKind::Docker).then(|| format!("docker pushes over plain HTTP only to registries in its daemon's insecure-registries (/etc/docker/daemon.json) or on 127.0.0.0/8: add {address} there and restart dockerd"))
    }
}

fn tls(insecure: bool) -> Option<&'static str> {
    insecure.then_some("--tls-verify=false")
}
