//! Reaching the nodes: the targets named by `--host` (or every configured
//! host, for `doctor`), one ssh master connection per node (later sessions
//! share it), and the read-only probe ([`script`]), all nodes at once.

mod script;

use crate::config::hosts::HostNames;
use crate::process::error::ProcessError;
use crate::process::exec::{Io, Running};
use crate::process::interrupt::{self, Hook, Stage};
use crate::session::Session;
use crate::ship::target::ShipTarget;
use anyhow::{bail, Context, Result};
#[cfg(test)]
pub(super) use script::Held;
pub(crate) use script::Probe;
use std::path::Path;
use std::time::{Duration, Instant};

/// Which configured hosts to reach.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hosts<'a> {
    /// Those `--host` names: hosts and groups.
    Named(&'a HostNames),
    /// Every configured host (`doctor`); none is not an error.
    All,
}

/// The nodes `which` names, their control sockets still to attach
/// ([`attach_sockets`]).
pub(crate) fn targets(s: &Session, which: Hosts) -> Result<Vec<ShipTarget>> {
    let Some(config) = &s.config else {
        bail!("ship needs a goapp.yaml with `hosts:`: none was found from {} upwards; pass --config PATH", s.cwd.display());
    };
    let ssh_config = config
        .file
        .defaults
        .ssh_config
        .as_ref()
        .map(|p| config.dir.join(s.env.expand_tilde(p)));
    // Checked only here: a shared config may name a file that only the
    // people who ship have, and `image` needs none (ssh itself refuses
    // every host when `-F` names a missing file).
    if let Some(p) = ssh_config.as_ref().filter(|p| !p.exists()) {
        bail!(
            "the ssh config file {} (`ssh_config:` in {}) does not exist: create it, or remove `ssh_config:` to use ssh's own",
            p.display(),
            config.path.display()
        );
    }
    let all = &config.file.hosts;
    let hosts: Vec<_> = match which {
        Hosts::Named(names) => {
            ssh_installed()?;
            all.resolve(names)?
        }
        Hosts::All if all.hosts.is_empty() => return Ok(Vec::new()),
        Hosts::All => {
            ssh_installed()?;
            all.hosts.clone().into_iter().collect()
        }
    };
    Ok(hosts
        .into_iter()
        .map(|(name, host)| ShipTarget {
            name,
            host,
            ssh_config: ssh_config.clone(),
            control: None,
        })
        .collect())
}

/// Fails with the fix when there is no ssh client to reach the nodes with.
fn ssh_installed() -> Result<()> {
    which::which("ssh")
        .map(drop)
        .context("ssh is not installed: install it (apt-get install openssh-client)")
}

/// The control socket's file name of the `i`-th target.
pub(super) fn socket_name(i: usize) -> String {
    format!("{i}.sock")
}

/// Gives each target its control socket in `dir`.
pub(super) fn attach_sockets(targets: &mut [ShipTarget], dir: &Path) {
    for (i, t) in targets.iter_mut().enumerate() {
        t.control = Some(dir.join(socket_name(i)));
    }
}

/// A master ssh connection owned by this run: killed (and reaped) on drop;
/// on an interrupt, closed with `ssh -O exit` once what is removed over it
/// is gone.
pub(super) struct Master(#[allow(dead_code)] Running, #[allow(dead_code)] Hook);

impl Master {
    /// Starts the master and waits until its socket is there. `None` when it
    /// cannot connect: sessions then connect on their own, and the probe
    /// reports why.
    fn start(t: &ShipTarget) -> Option<Master> {
        let sock = t.control.as_ref()?;
        let mut child = t.master(sock).spawn(Io::Null, Io::Null, Io::Null).ok()?;
        let close = t.close_master(sock);
        let name = t.name.clone();
        let hook = interrupt::on_interrupt(Stage::Connections, move || {
            match close.run_timeout(Some(Duration::from_secs(5))) {
                Ok(_) => vec![format!("closed the ssh connection to {name}")],
                Err(_) => Vec::new(),
            }
        });
        let deadline = Instant::now()
            + Duration::from_secs(u64::from(t.host.connect_timeout.unwrap_or(10)) + 5);
        while Instant::now() < deadline {
            if sock.exists() {
                return Some(Master(child, hook));
            }
            if child.has_ended() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// What probing found, and what ran alongside it.
pub(super) struct Probed<R> {
    /// One per target, in order.
    pub probes: Vec<Result<Probe, ProcessError>>,
    /// The master connections, to keep until the run ends.
    pub masters: Vec<Master>,
    /// The result of the work run alongside, if any (`Err`: it panicked).
    pub alongside: Option<std::thread::Result<R>>,
}

/// Starts each node's master, then probes it for `refs[i]`, all nodes at
/// once; `alongside` (the build check, when the architectures are known up
/// front) runs meanwhile.
pub(super) fn probe_all<R: Send>(
    targets: &[ShipTarget],
    refs: &[Vec<String>],
    alongside: Option<impl FnOnce() -> R + Send>,
) -> Probed<R> {
    std::thread::scope(|scope| {
        let other = alongside.map(|f| scope.spawn(f));
        let handles: Vec<_> = targets
            .iter()
            .zip(refs)
            .map(|(t, refs)| scope.spawn(move || (Master::start(t), t.probe(refs))))
            .collect();
        let mut probed = Probed {
            probes: Vec::new(),
            masters: Vec::new(),
            alongside: None,
        };
        for (h, t) in handles.into_iter().zip(targets) {
            match h.join() {
                Ok((m, p)) => {
                    probed.masters.extend(m);
                    probed.probes.push(p);
                }
                Err(_) => probed.probes.push(Err(ProcessError::new(
                    t.ssh("").to_string(),
                    crate::process::error::Failure::Io("the probe's thread panicked".into()),
                ))),
            }
        }
        probed.alongside = other.map(|h| h.join());
        probed
    })
}
