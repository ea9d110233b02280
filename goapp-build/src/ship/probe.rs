//! Reaching the nodes: the targets named by `--host`, one ssh master
//! connection per node (later sessions share it), and the read-only probe,
//! all nodes at once.

use crate::process::error::ProcessError;
use crate::process::exec::{Io, Running};
use crate::process::interrupt::{self, Hook, Stage};
use crate::session::Session;
use crate::ship::remote::{Probe, ShipTarget};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// The nodes `spec` names (hosts and groups, comma-separated), their
/// control sockets still to attach ([`attach_sockets`]).
pub(crate) fn targets(s: &Session, spec: &str) -> Result<Vec<ShipTarget>> {
    let Some(config) = &s.config else {
        bail!("ship needs a goapp.yaml with `hosts:`: none was found from {} upwards; pass --config PATH", s.cwd.display());
    };
    let ssh_config = config
        .file
        .defaults
        .ssh_config
        .as_ref()
        .map(|p| config.dir.join(s.env.expand_tilde(p)));
    which::which("ssh")
        .context("ssh is not installed: install it (apt-get install openssh-client)")?;
    Ok(config
        .file
        .hosts
        .resolve(spec)?
        .into_iter()
        .map(|(name, host)| ShipTarget {
            name,
            host,
            ssh_config: ssh_config.clone(),
            control: None,
        })
        .collect())
}

/// The control socket's file name of the `i`-th target.
pub(crate) fn socket_name(i: usize) -> String {
    format!("{i}.sock")
}

/// Gives each target its control socket in `dir`.
pub(crate) fn attach_sockets(targets: &mut [ShipTarget], dir: &Path) {
    for (i, t) in targets.iter_mut().enumerate() {
        t.control = Some(dir.join(socket_name(i)));
    }
}

/// A master ssh connection owned by this run: killed (and reaped) on drop;
/// on an interrupt, closed with `ssh -O exit` once what is removed over it
/// is gone.
pub(crate) struct Master(#[allow(dead_code)] Running, #[allow(dead_code)] Hook);

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
pub(crate) struct Probed<R> {
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
pub(crate) fn probe_all<R: Send>(
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

/// Replaces the reason of each host that ssh could not reach with one
/// sentence: where (user, host, port as ssh resolves them, read with
/// `ssh -G`), what failed, and the fix (for an unknown host key, the exact
/// `ssh-keyscan`). The full ssh command line follows only with `-v`.
pub(crate) fn explain_unreachable(
    targets: &[ShipTarget],
    failed: &mut [(String, crate::ship::HostResult)],
    home: Option<&Path>,
) {
    for (name, r) in failed.iter_mut() {
        let crate::ship::HostResult::Failed {
            process: Some(e), ..
        } = r
        else {
            continue;
        };
        let Some(t) = targets.iter().find(|t| &t.name == name) else {
            continue;
        };
        if !crate::ship::remote::ssh_failed(e) {
            continue;
        }
        let resolved = t
            .resolve()
            .run_timeout(Some(Duration::from_secs(10)))
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        // The sentence says it all: ssh's command line would bury it, so
        // that comes only with -v.
        let mut reason = if crate::ship::remote::host_key_refused(e) {
            crate::ship::remote::host_key_fix(name, &resolved, home)
        } else {
            let by_hand = t.by_hand().to_string();
            crate::ship::remote::unreachable_reason(name, e, &resolved, &by_hand)
        };
        if crate::core::ui::verbose() {
            reason = format!("{reason}\n{e}");
        }
        *r = crate::ship::HostResult::failed(reason);
    }
}
