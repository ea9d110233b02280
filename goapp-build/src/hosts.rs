//! Remote nodes for `ship`: how to reach them over ssh, their architecture,
//! and how they import images. Groups name several hosts at once.

use crate::arch::Arch;
use crate::config::check_name;
use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `hosts:` and `groups:` sections of goapp.yaml.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsConfig {
    /// Hosts by name.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostConfig>,
    /// Groups of hosts by name.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// One remote node.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// An ssh destination: a `~/.ssh/config` alias or `user@host`.
    pub ssh: Option<String>,
    /// The host name or address (when `ssh` is not given).
    pub host: Option<String>,
    /// The login user.
    pub user: Option<String>,
    /// The ssh port.
    pub port: Option<u16>,
    /// The private key to log in with.
    pub identity: Option<String>,
    /// The node's architecture.
    pub arch: Option<Arch>,
    /// How the node imports images.
    #[serde(default)]
    pub import: ImportKind,
    /// Run the import through `sudo -n`.
    #[serde(default)]
    pub sudo: bool,
    /// Remote directory for the temporary archive (default `/var/tmp`).
    pub tmp_dir: Option<String>,
}

/// How a node imports an image archive.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    /// `k3s ctr images import` (k3s's bundled containerd, namespace k8s.io).
    #[default]
    K3s,
    /// `ctr -n k8s.io images import`.
    Containerd,
    /// `docker load`.
    Docker,
    /// `podman load`.
    Podman,
    /// A custom command reading the archive path as its last argument.
    Command(Vec<String>),
}

impl HostsConfig {
    /// Checks names and references.
    pub fn validate(&self) -> Result<()> {
        for (name, h) in &self.hosts {
            check_name(name)?;
            if h.ssh.is_none() && h.host.is_none() {
                bail!("host '{name}' has neither `ssh:` nor `host:`: add `ssh: {name}` (an ~/.ssh/config alias) or `host: ADDRESS`");
            }
        }
        for (group, members) in &self.groups {
            check_name(group)?;
            if self.hosts.contains_key(group) {
                bail!("'{group}' is both a host and a group: rename one");
            }
            for m in members {
                if !self.hosts.contains_key(m) {
                    bail!("group '{group}' names '{m}', which is not a host under `hosts:`");
                }
            }
        }
        Ok(())
    }
}
