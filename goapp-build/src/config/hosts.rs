//! Remote nodes for `ship`: how to reach them over ssh, their architecture,
//! and how they import images. Groups name several hosts at once.

use crate::core::arch::Arch;
use crate::core::names::{check_destination, check_name};
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
    /// Seconds to wait for the connection (default 10).
    pub connect_timeout: Option<u32>,
    /// `auto` (default), `none`, `gzip`, `gzip-N`, `zstd`, `zstd-N`.
    pub compression: Option<String>,
}

/// How a node imports an image archive.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "ImportRepr")]
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
    /// A custom command (argv) reading the uncompressed archive on stdin.
    Command(Vec<String>),
}

/// `import: k3s` or `import: {command: [argv…]}` as written.
#[derive(Deserialize)]
#[serde(untagged)]
enum ImportRepr {
    Name(String),
    Command { command: Vec<String> },
}

impl TryFrom<ImportRepr> for ImportKind {
    type Error = String;
    fn try_from(r: ImportRepr) -> std::result::Result<ImportKind, String> {
        Ok(match r {
            ImportRepr::Command { command } => ImportKind::Command(command),
            ImportRepr::Name(n) => match n.as_str() {
                "k3s" => ImportKind::K3s,
                "containerd" => ImportKind::Containerd,
                "docker" => ImportKind::Docker,
                "podman" => ImportKind::Podman,
                other => return Err(format!("unknown import kind '{other}': use k3s, containerd, docker, podman or {{command: [argv…]}}")),
            },
        })
    }
}

impl HostsConfig {
    /// Checks names and references.
    pub fn validate(&self) -> Result<()> {
        for (name, h) in &self.hosts {
            check_name(name)?;
            if h.ssh.is_none() && h.host.is_none() {
                bail!("host '{name}' has neither `ssh:` nor `host:`: add `ssh: {name}` (an ~/.ssh/config alias) or `host: ADDRESS`");
            }
            for (what, v) in [("ssh", &h.ssh), ("host", &h.host), ("user", &h.user)] {
                if let Some(v) = v {
                    check_destination(v)
                        .map_err(|e| anyhow::anyhow!("host '{name}': `{what}: {v}` {e}"))?;
                }
            }
            if let Some(t) = &h.tmp_dir {
                if !t.starts_with('/') {
                    bail!("host '{name}': tmp_dir '{t}' must be an absolute path, e.g. /var/tmp");
                }
            }
            if let Some(c) = &h.compression {
                let ok = c == "auto"
                    || c == "none"
                    || ["gzip", "zstd"].iter().any(|k| {
                        c == k
                            || c.strip_prefix(&format!("{k}-"))
                                .and_then(|l| l.parse::<u8>().ok())
                                .is_some_and(|l| (1..=19).contains(&l))
                    });
                if !ok {
                    bail!("host '{name}': compression '{c}' is not one of auto, none, gzip, gzip-1…9, zstd, zstd-1…19");
                }
            }
            if let ImportKind::Command(argv) = &h.import {
                if argv.is_empty() {
                    bail!("host '{name}': `import: {{command: []}}` is empty: give the argv of a command that reads an image archive on stdin");
                }
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

impl HostsConfig {
    /// Expands `pi1,pi2` and group names into hosts, in order, once each.
    pub fn resolve(&self, spec: &str) -> Result<Vec<(String, HostConfig)>> {
        let mut out: Vec<(String, HostConfig)> = Vec::new();
        for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let members: Vec<&String> = match (
                self.hosts.get_key_value(name),
                self.groups.get(name),
            ) {
                (Some((k, _)), _) => vec![k],
                (None, Some(g)) => g.iter().collect(),
                (None, None) => {
                    let mut known: Vec<&str> = self
                        .hosts
                        .keys()
                        .chain(self.groups.keys())
                        .map(String::as_str)
                        .collect();
                    known.sort();
                    if known.is_empty() {
                        bail!("no host or group named '{name}': the config has no `hosts:` section; add the node there (see config/README.md)");
                    }
                    bail!(
                        "no host or group named '{name}' in the config: known are {}",
                        known.join(", ")
                    );
                }
            };
            for m in members {
                if !out.iter().any(|(n, _)| n == m) {
                    out.push((m.clone(), self.hosts[m].clone()));
                }
            }
        }
        if out.is_empty() {
            bail!("--host names no host: give a host or group from the config, e.g. --host pi");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HostsConfig {
        let text = "hosts:\n  pi1: {ssh: pi1, arch: arm64}\n  pi2: {host: 10.0.0.2, user: pi, port: 2222, import: containerd, sudo: true}\n  box: {ssh: box, import: {command: [sh, -c, 'cat > /dev/null']}}\ngroups:\n  pis: [pi1, pi2]\n";
        let c: crate::config::ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        c.hosts.validate().unwrap();
        c.hosts
    }

    #[test]
    fn groups_and_lists_expand_once_in_order() {
        let names: Vec<String> = cfg()
            .resolve("pi2,pis,box")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["pi2", "pi1", "box"]);
        let err = cfg().resolve("pi3").unwrap_err().to_string();
        assert_eq!(
            err,
            "no host or group named 'pi3' in the config: known are box, pi1, pi2, pis"
        );
    }

    #[test]
    fn bad_destinations_are_refused() {
        let text = "hosts:\n  evil: {ssh: '-oProxyCommand=touch /tmp/x'}\n";
        let c: crate::config::ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        let err = c.hosts.validate().unwrap_err().to_string();
        assert!(err.contains("must not be empty or start with '-'"), "{err}");
        let text = "hosts:\n  evil: {host: 'a;reboot'}\n";
        let c: crate::config::ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        assert!(c.hosts.validate().is_err());
        let text = "hosts:\n  a: {ssh: a}\ngroups:\n  g: [a, b]\n";
        let c: crate::config::ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(
            c.hosts.validate().unwrap_err().to_string(),
            "group 'g' names 'b', which is not a host under `hosts:`"
        );
    }
}
