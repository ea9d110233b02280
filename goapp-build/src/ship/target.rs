//! A node to ship to ([`ShipTarget`]): its name, its settings and how ssh
//! reaches it, and the few facts every script on it asks (`sudo`, the store
//! its images end up in, the containerd CLI). What runs there lives with
//! its topic: the transport in [`super::ssh`], the probe in
//! [`super::probe`], the upload in [`super::upload`], the import per kind
//! in [`super::import`], names and pins in [`super::names`], the
//! compression in [`super::compression`].

use crate::config::hosts::{HostConfig, Store};
use std::path::PathBuf;

/// A node to ship to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShipTarget {
    /// Its name in the config.
    pub name: String,
    /// Its settings.
    pub host: HostConfig,
    /// An ssh config file to use (`-F`), from the config's `ssh_config`.
    pub ssh_config: Option<PathBuf>,
    /// The socket of a master connection sessions share (see `ship::Master`).
    pub control: Option<PathBuf>,
}

/// The namespace Kubernetes' images live in.
const K8S_NAMESPACE: &str = "k8s.io";

impl ShipTarget {
    /// The remote directory for temporary archives.
    pub(super) fn tmp_dir(&self) -> &str {
        self.host.tmp_dir.as_deref().unwrap_or("/var/tmp")
    }

    /// `sudo -n ` when the host says so (never a password prompt), else nothing.
    pub(super) fn sudo(&self) -> &'static str {
        if self.host.sudo {
            "sudo -n "
        } else {
            ""
        }
    }

    /// The store the node's images end up in, when known.
    pub(crate) fn store(&self) -> Option<Store> {
        self.host.import.store()
    }

    /// `ctr` for a containerd store, in Kubernetes' namespace.
    pub(super) fn ctr(&self, store: Store) -> String {
        match store {
            Store::K3s => format!("{}k3s ctr -n {K8S_NAMESPACE}", self.sudo()),
            _ => format!("{}ctr -n {K8S_NAMESPACE}", self.sudo()),
        }
    }
}

/// A target from a host's YAML, for the tests of every ship module.
#[cfg(test)]
pub(super) fn target(yaml: &str) -> ShipTarget {
    ShipTarget {
        name: "pi".into(),
        host: serde_yaml_ng::from_str(yaml).unwrap(),
        ssh_config: None,
        control: None,
    }
}
