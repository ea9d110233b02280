//! Remote nodes for `ship`: how to reach them over ssh, their architecture,
//! and how they import images. Groups name several hosts at once.

use crate::config::locate::KeyPath;
use crate::config::Problem;
use crate::core::arch::Arch;
use crate::core::names::{check_destination, check_name};
use anyhow::{bail, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The longest `connect_timeout` taken, in seconds. ssh reads ConnectTimeout
/// as whole seconds (up to 2^31-1) and computes milliseconds in an `int`, so
/// above 2147483 it overflows; 0 means no timeout at all. An hour is far
/// beyond any real link and still fails a dead node in bounded time.
pub(crate) const MAX_CONNECT_TIMEOUT: u32 = 3600;

/// The `hosts:` and `groups:` sections of goapp.yaml.
#[derive(Clone, Debug, Default)]
pub struct HostsConfig {
    /// Hosts by name.
    pub hosts: BTreeMap<String, HostConfig>,
    /// Groups of hosts by name.
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
    /// The ssh port, 1–65535.
    #[serde(default, deserialize_with = "port")]
    pub port: Option<u16>,
    /// The private key to log in with.
    pub identity: Option<String>,
    /// The known_hosts file holding this node's host key (ssh's
    /// `UserKnownHostsFile`; default: ssh's own, `~/.ssh/known_hosts`).
    pub known_hosts: Option<String>,
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
    /// Seconds to wait for the connection (default 10), 1–[`MAX_CONNECT_TIMEOUT`].
    #[serde(default, deserialize_with = "connect_timeout")]
    pub connect_timeout: Option<u32>,
    /// `auto` (default), `none`, `gzip`, `gzip-1`…`gzip-9`, `zstd`, `zstd-1`…`zstd-19`.
    pub compression: Option<String>,
    /// k3s's agent images directory, for `import: k3s-dir` (default
    /// [`K3S_IMAGES_DIR`]).
    pub images_dir: Option<String>,
    /// A registry under `registries:`: `ship` pushes there once and the node
    /// pulls with its own runtime.
    pub pull_from: Option<String>,
    /// containerd and k3s nodes: how many of an app's images `ship` keeps
    /// pinned (the newest it shipped; default [`KEEP_PINNED`]), 1–1000.
    /// Older ones it pinned are unpinned, so the kubelet may collect them.
    #[serde(default, deserialize_with = "keep_pinned")]
    pub keep_pinned: Option<u32>,
}

/// How many of an app's images stay pinned on a node unless `keep_pinned:`
/// says otherwise: the running one and two to roll back to.
pub(crate) const KEEP_PINNED: u32 = 3;

/// Where k3s looks for image archives to import (its default data dir).
pub(crate) const K3S_IMAGES_DIR: &str = "/var/lib/rancher/k3s/agent/images";

/// Where a node keeps its images: what the probe reads, and where `ship`
/// sets the image's names and pins it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// k3s's containerd, through `k3s ctr` (namespace k8s.io).
    K3s,
    /// containerd, through `ctr -n k8s.io`.
    Containerd,
    /// docker's image store.
    Docker,
    /// podman's image store.
    Podman,
}

impl Store {
    /// As written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Store::K3s => "k3s",
            Store::Containerd => "containerd",
            Store::Docker => "docker",
            Store::Podman => "podman",
        }
    }

    fn parse(v: &str) -> Option<Store> {
        Some(match v {
            "k3s" => Store::K3s,
            "containerd" => Store::Containerd,
            "docker" => Store::Docker,
            "podman" => Store::Podman,
            _ => return None,
        })
    }
}

/// A command of the user's that imports an archive read on stdin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomImport {
    /// The command.
    pub argv: Vec<String>,
    /// The store it imports into, as written (checked when the config is
    /// loaded): the probe reads it (skip, layer delta), and `ship` names and
    /// pins the image there. None: no probe, every ship sends the whole image.
    pub store: Option<String>,
}

impl CustomImport {
    /// The store it imports into.
    pub fn store(&self) -> Option<Store> {
        self.store.as_deref().and_then(Store::parse)
    }
}

/// How a node imports an image archive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ImportKind {
    /// `k3s ctr images import` (k3s's bundled containerd, namespace k8s.io).
    #[default]
    K3s,
    /// The archive written (atomically) into k3s's agent images directory,
    /// which k3s imports and pins itself.
    K3sDir,
    /// `ctr -n k8s.io images import`.
    Containerd,
    /// `docker load`.
    Docker,
    /// `podman load`.
    Podman,
    /// A custom command reading the uncompressed archive on stdin.
    Command(CustomImport),
}

impl ImportKind {
    /// The store the node's images end up in, when known.
    pub fn store(&self) -> Option<Store> {
        match self {
            ImportKind::K3s | ImportKind::K3sDir => Some(Store::K3s),
            ImportKind::Containerd => Some(Store::Containerd),
            ImportKind::Docker => Some(Store::Docker),
            ImportKind::Podman => Some(Store::Podman),
            ImportKind::Command(c) => c.store(),
        }
    }
}

const IMPORT_KINDS: &str =
    "k3s, k3s-dir, containerd, docker, podman or {command: [argv…], store: …}";
const STORES: &str = "k3s, containerd, docker or podman";

/// `import: k3s` or `import: {command: [argv…]}`. Hand-written so that a
/// bad value is reported at its own line and column (serde's untagged enums
/// buffer the value and lose its position).
impl<'de> Deserialize<'de> for ImportKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ImportKind, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImportKind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "one of {IMPORT_KINDS}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ImportKind, E> {
                Ok(match v {
                    "k3s" => ImportKind::K3s,
                    "k3s-dir" => ImportKind::K3sDir,
                    "containerd" => ImportKind::Containerd,
                    "docker" => ImportKind::Docker,
                    "podman" => ImportKind::Podman,
                    other => {
                        return Err(E::custom(format!(
                            "unknown import kind '{other}': use {IMPORT_KINDS}"
                        )))
                    }
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ImportKind, A::Error> {
                let mut argv = None;
                let mut store = None;
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "command" => argv = Some(map.next_value::<Vec<String>>()?),
                        "store" => store = Some(map.next_value::<String>()?),
                        _ => return Err(de::Error::unknown_field(&k, &["command", "store"])),
                    }
                }
                let argv = argv.ok_or_else(|| de::Error::missing_field("command"))?;
                Ok(ImportKind::Command(CustomImport { argv, store }))
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole number within `min..=max`, checked inside the visitor so that the
/// error carries the value's position. `~` counts as unset.
fn ranged<'de, D: Deserializer<'de>>(
    d: D,
    min: u64,
    max: u64,
    what: &'static str,
) -> Result<Option<u64>, D::Error> {
    struct V(u64, u64, &'static str);
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(
                f,
                "{}, a whole number from {} to {}",
                self.2, self.0, self.1
            )
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<u64>, E> {
            if (self.0..=self.1).contains(&v) {
                return Ok(Some(v));
            }
            self.visit_i128(v as i128)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<u64>, E> {
            self.visit_i128(v as i128)
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Option<u64>, E> {
            if v >= self.0 as i128 && v <= self.1 as i128 {
                return Ok(Some(v as u64));
            }
            Err(E::custom(format!(
                "{v} is out of range: {} is a whole number from {} to {}",
                self.2, self.0, self.1
            )))
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Option<u64>, E> {
            self.visit_i128(v.min(i128::MAX as u128) as i128)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V(min, max, what))
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    Ok(ranged(d, 1, 65535, "a TCP port")?.map(|v| v as u16))
}

fn connect_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let max = MAX_CONNECT_TIMEOUT as u64;
    Ok(ranged(d, 1, max, "connect_timeout (seconds)")?.map(|v| v as u32))
}

fn keep_pinned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(ranged(d, 1, 1000, "keep_pinned (images)")?.map(|v| v as u32))
}

/// `compression:` values as ship runs them: gzip takes levels 1–9, zstd
/// 1–19 (its `--ultra` levels are not offered).
pub(crate) fn check_compression(c: &str) -> std::result::Result<(), String> {
    let level_ok = |kind: &str, max: u8| {
        c == kind
            || c.strip_prefix(kind)
                .and_then(|r| r.strip_prefix('-'))
                .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|l| l.parse::<u8>().ok())
                .is_some_and(|l| (1..=max).contains(&l))
    };
    if c == "auto" || c == "none" || level_ok("gzip", 9) || level_ok("zstd", 19) {
        return Ok(());
    }
    Err(format!("'{c}' is not a compression: use auto, none, gzip, gzip-1 … gzip-9, zstd or zstd-1 … zstd-19"))
}

impl HostsConfig {
    /// Every problem with names, destinations, values and references.
    /// `home` expands `~/` in `identity`.
    pub fn problems(&self, home: Option<&Path>) -> Vec<Problem> {
        let mut out = Vec::new();
        for (name, h) in &self.hosts {
            let at = KeyPath::of(&["hosts", name]);
            if let Err(e) = check_name(name) {
                out.push(Problem::key(at.clone(), e.to_string()));
            }
            out.extend(host_problems(name, h, &at, home));
        }
        for (group, members) in &self.groups {
            out.extend(self.group_problems(group, members));
        }
        out
    }

    fn group_problems(&self, group: &str, members: &[String]) -> Vec<Problem> {
        let at = KeyPath::of(&["groups", group]);
        let mut out = Vec::new();
        if let Err(e) = check_name(group) {
            out.push(Problem::key(at.clone(), e.to_string()));
        }
        if self.hosts.contains_key(group) {
            out.push(Problem::key(
                at.clone(),
                format!("'{group}' is both a host and a group: rename one"),
            ));
        }
        if members.is_empty() {
            out.push(Problem::value(
                at.clone(),
                format!("group '{group}' is empty: list its hosts, e.g. [pi1, pi2]"),
            ));
        }
        for (i, m) in members.iter().enumerate() {
            let msg = if self.hosts.contains_key(m) {
                continue;
            } else if self.groups.contains_key(m) {
                format!("group '{group}' names '{m}', which is a group: a group lists hosts only")
            } else {
                format!("group '{group}' names '{m}', which is not a host under `hosts:`")
            };
            out.push(Problem::value(at.index(i), msg));
        }
        out
    }
}

/// Forms ssh does not take, with the form it does: a bracketed IPv6
/// address (`[::1]`) and a port after the host (`root@10.0.0.7:22`).
fn destination_forms(h: &HostConfig, at: &KeyPath) -> Vec<Problem> {
    let mut out = Vec::new();
    for (what, v) in [("ssh", &h.ssh), ("host", &h.host)] {
        let Some(v) = v else { continue };
        // `[::1]`, `[::1]:22`, `root@[::1]`: brackets, with or without a
        // user or port around them.
        let (user, rest) = match v.split_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, v.as_str()),
        };
        if let Some((inner, after)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            let user = user.map(|u| format!(", `user: {u}`")).unwrap_or_default();
            let port = after
                .strip_prefix(':')
                .map(|p| format!(", `port: {p}`"))
                .unwrap_or_default();
            out.push(Problem::value(at.key(what), format!("`{what}: {v}`: ssh takes an IPv6 address without brackets; write `host: '{inner}'`{user}{port}")));
            continue;
        }
        let Some((dest, port)) = v.rsplit_once(':') else {
            continue;
        };
        let plain = !dest.contains(':') && !dest.is_empty();
        if plain && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            let (user, host) = match dest.split_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, dest),
            };
            let user = user.map(|u| format!(", `user: {u}`")).unwrap_or_default();
            out.push(Problem::value(at.key(what), format!("`{what}: {v}`: ssh does not read a port after ':'; write `host: {host}`{user}, `port: {port}`")));
        }
    }
    out
}

/// The problems of one host's settings.
fn host_problems(name: &str, h: &HostConfig, at: &KeyPath, home: Option<&Path>) -> Vec<Problem> {
    let mut out = destination_choice(name, h, at);
    out.extend(destination_forms(h, at));
    for (what, v) in [("ssh", &h.ssh), ("host", &h.host), ("user", &h.user)] {
        if let Some(Err(e)) = v.as_deref().map(check_destination) {
            out.push(Problem::value(
                at.key(what),
                format!("`{what}: {}` {e}", v.as_deref().unwrap_or_default()),
            ));
        }
    }
    if let Some(i) = &h.identity {
        out.extend(identity_problem(i, &at.key("identity"), home));
    }
    out.extend(tmp_dir_problem(h, at));
    if let Some(Err(e)) = h.compression.as_deref().map(check_compression) {
        out.push(Problem::value(at.key("compression"), e));
    }
    if let ImportKind::Command(c) = &h.import {
        out.extend(custom_import_problems(c, at));
    }
    out.extend(images_dir_problem(h, at));
    if let (Some(_), ImportKind::Command(CustomImport { store: None, .. })) =
        (&h.pull_from, &h.import)
    {
        out.push(Problem::value(at.key("pull_from"), format!("host '{name}' pulls from a registry, but its custom importer names no store to pull into: add `store:` ({STORES}) to its `import:`")));
    }
    out
}

/// One way to name the destination: `ssh:` or `host:`, and the user in one
/// place only.
fn destination_choice(name: &str, h: &HostConfig, at: &KeyPath) -> Vec<Problem> {
    let mut out = Vec::new();
    match (&h.ssh, &h.host) {
        (None, None) => out.push(Problem::key(at.clone(), format!("host '{name}' has neither `ssh:` nor `host:`: add `ssh: {name}` (an ~/.ssh/config alias) or `host: ADDRESS`"))),
        (Some(_), Some(_)) => out.push(Problem::key(at.key("host"), format!("host '{name}' sets both `ssh:` and `host:`: `ssh:` is the whole destination (an ~/.ssh/config alias or user@host); keep one"))),
        _ => {}
    }
    if let (Some(ssh), Some(_)) = (&h.ssh, &h.user) {
        if ssh.contains('@') {
            out.push(Problem::key(
                at.key("user"),
                format!("host '{name}' sets `user:` and a user in `ssh: {ssh}`: keep one"),
            ));
        }
    }
    out
}

/// `tmp_dir:` is an absolute path without control characters.
fn tmp_dir_problem(h: &HostConfig, at: &KeyPath) -> Option<Problem> {
    let t = h.tmp_dir.as_deref()?;
    let msg = if !t.starts_with('/') {
        format!("tmp_dir '{t}' must be an absolute path, e.g. /var/tmp")
    } else if t.chars().any(char::is_control) {
        format!("tmp_dir {t:?} holds a control character (a newline?): use a plain absolute path")
    } else {
        return None;
    };
    Some(Problem::value(at.key("tmp_dir"), msg))
}

/// A custom `import: {command: …}` names a program, and a known store if any.
fn custom_import_problems(c: &CustomImport, at: &KeyPath) -> Vec<Problem> {
    let mut out = Vec::new();
    if c.argv.is_empty() || c.argv[0].is_empty() {
        out.push(Problem::value(at.key("import").key("command"), "the import command is empty: give the argv of a command that reads an image archive on stdin"));
    }
    if let Some(v) = c.store.as_deref().filter(|v| Store::parse(v).is_none()) {
        out.push(Problem::value(
            at.key("import").key("store"),
            format!("unknown store '{v}': use {STORES}"),
        ));
    }
    out
}

/// `images_dir:` only with `import: k3s-dir`, and an absolute, plain path.
fn images_dir_problem(h: &HostConfig, at: &KeyPath) -> Option<Problem> {
    let d = h.images_dir.as_deref()?;
    let msg = if h.import != ImportKind::K3sDir {
        "images_dir is where `import: k3s-dir` writes archives: set `import: k3s-dir`, or remove it"
            .to_string()
    } else if !d.starts_with('/') || d.chars().any(char::is_control) {
        format!("images_dir {d:?} must be a plain absolute path, e.g. {K3S_IMAGES_DIR}")
    } else if !d.trim_end_matches('/').ends_with("/agent/images") {
        format!("images_dir {d:?}: k3s watches only <data-dir>/agent/images (a path ending in /agent/images), e.g. {K3S_IMAGES_DIR}")
    } else {
        return None;
    };
    Some(Problem::value(at.key("images_dir"), msg))
}

/// `identity:` is handed to ssh (`-i`): no control characters, and if it
/// exists it must be a regular file (ssh would block reading a FIFO). A
/// missing key is ssh's to report: the config may be shared by people
/// who never ship.
fn identity_problem(i: &str, at: &KeyPath, home: Option<&Path>) -> Option<Problem> {
    if i.is_empty() || i.chars().any(char::is_control) {
        return Some(Problem::value(at.clone(), format!("identity {i:?} is not a usable path: give the private key's path, e.g. ~/.ssh/id_ed25519")));
    }
    let path = match (i.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => Path::new(i).to_path_buf(),
    };
    crate::core::fs::check_regular_if_exists(&path, "the identity file")
        .err()
        .map(|e| Problem::value(at.clone(), e.to_string()))
}

impl HostsConfig {
    /// Expands `pi1,pi2` and group names into hosts, in order, once each.
    pub fn resolve(&self, names: &HostNames) -> Result<Vec<(String, HostConfig)>> {
        let mut out: Vec<(String, HostConfig)> = Vec::new();
        for name in names.iter() {
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
        Ok(out)
    }
}

/// `--host`: the host and group names it gives, parsed once when the
/// command line is read (comma-separated, spaces around a name ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostNames(Vec<String>);

impl HostNames {
    /// The names, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for HostNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl std::str::FromStr for HostNames {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<HostNames> {
        let names: Vec<String> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            bail!("--host names no host: give a host or group from the config, e.g. --host pi");
        }
        Ok(HostNames(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> HostsConfig {
        let c: crate::config::ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        c.hosts
    }

    fn messages(text: &str) -> Vec<String> {
        let problems = hosts(text).problems(None);
        problems
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn host_names_are_parsed_once_and_none_is_an_error() {
        let n: HostNames = " pi1 , pis,,box ".parse().unwrap();
        assert_eq!(n.iter().collect::<Vec<_>>(), ["pi1", "pis", "box"]);
        assert_eq!(n.to_string(), "pi1,pis,box");
        let e = " , ".parse::<HostNames>().unwrap_err().to_string();
        assert!(e.starts_with("--host names no host: "), "{e}");
    }

    #[test]
    fn destinations_in_forms_ssh_does_not_take_get_the_form_it_does() {
        assert_eq!(
            messages("hosts:\n  a: {host: '[::1]'}\n  b: {ssh: 'root@127.0.0.1:22'}\n  c: {host: '::1'}\n  d: {ssh: 'root@[::1]'}\n  e: {host: '[::1]:2222'}\n"),
            [
                "hosts.a.host: `host: [::1]`: ssh takes an IPv6 address without brackets; write `host: '::1'`",
                "hosts.b.ssh: `ssh: root@127.0.0.1:22`: ssh does not read a port after ':'; write `host: 127.0.0.1`, `user: root`, `port: 22`",
                "hosts.d.ssh: `ssh: root@[::1]`: ssh takes an IPv6 address without brackets; write `host: '::1'`, `user: root`",
                "hosts.e.host: `host: [::1]:2222`: ssh takes an IPv6 address without brackets; write `host: '::1'`, `port: 2222`",
            ]
        );
    }

    fn cfg() -> HostsConfig {
        let text = "hosts:\n  pi1: {ssh: pi1, arch: arm64}\n  pi2: {host: 10.0.0.2, user: pi, port: 2222, import: containerd, sudo: true}\n  box: {ssh: box, import: {command: [sh, -c, 'cat > /dev/null']}}\ngroups:\n  pis: [pi1, pi2]\n";
        assert_eq!(messages(text), Vec::<String>::new());
        hosts(text)
    }

    #[test]
    fn groups_and_lists_expand_once_in_order() {
        let names: Vec<String> = cfg()
            .resolve(&"pi2,pis,box".parse().unwrap())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["pi2", "pi1", "box"]);
        let err = cfg()
            .resolve(&"pi3".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no host or group named 'pi3' in the config: known are box, pi1, pi2, pis"
        );
    }

    #[test]
    fn bad_destinations_are_refused() {
        let m = messages("hosts:\n  evil: {ssh: '-oProxyCommand=touch /tmp/x'}\n");
        assert!(
            m[0].contains("must not be empty or start with '-'"),
            "{m:?}"
        );
        assert!(!messages("hosts:\n  evil: {host: 'a;reboot'}\n").is_empty());
        assert_eq!(
            messages("hosts:\n  a: {ssh: a}\ngroups:\n  g: [a, b]\n"),
            ["groups.g[1]: group 'g' names 'b', which is not a host under `hosts:`"]
        );
    }

    #[test]
    fn conflicts_ranges_and_references() {
        let m = messages(
            "hosts:\n  a: {ssh: pi@a, host: a, user: x}\n  b: {}\n  c: {ssh: c, tmp_dir: \"/tmp/x\\ny\", compression: gzip-10}\n  d: {ssh: d, compression: zstd-20, import: {command: []}}\ngroups:\n  a: [b]\n  g: [a, h]\n  h: []\n",
        );
        let expected = [
            "hosts.a.host: host 'a' sets both `ssh:` and `host:`: `ssh:` is the whole destination (an ~/.ssh/config alias or user@host); keep one",
            "hosts.a.user: host 'a' sets `user:` and a user in `ssh: pi@a`: keep one",
            "hosts.b: host 'b' has neither `ssh:` nor `host:`: add `ssh: b` (an ~/.ssh/config alias) or `host: ADDRESS`",
            "hosts.c.tmp_dir: tmp_dir \"/tmp/x\\ny\" holds a control character (a newline?): use a plain absolute path",
            "hosts.c.compression: 'gzip-10' is not a compression: use auto, none, gzip, gzip-1 … gzip-9, zstd or zstd-1 … zstd-19",
            "hosts.d.compression: 'zstd-20' is not a compression: use auto, none, gzip, gzip-1 … gzip-9, zstd or zstd-1 … zstd-19",
            "hosts.d.import.command: the import command is empty: give the argv of a command that reads an image archive on stdin",
            "groups.a: 'a' is both a host and a group: rename one",
            "groups.g[1]: group 'g' names 'h', which is a group: a group lists hosts only",
            "groups.h: group 'h' is empty: list its hosts, e.g. [pi1, pi2]",
        ];
        assert_eq!(m, expected);
    }

    #[test]
    fn compression_levels_are_what_the_tools_take() {
        for ok in [
            "auto", "none", "gzip", "gzip-1", "gzip-9", "zstd", "zstd-1", "zstd-19",
        ] {
            assert_eq!(check_compression(ok), Ok(()), "{ok}");
        }
        for bad in [
            "gzip-0", "gzip-10", "gzip-12", "zstd-0", "zstd-20", "gzip-", "gzip-+5", "gzip9",
            "lz4", "zstd--3", "",
        ] {
            assert!(check_compression(bad).is_err(), "{bad}");
        }
    }
}
