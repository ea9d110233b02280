//! The ssh transport: the command lines that reach a node. Sessions run in
//! batch mode (never a password prompt) with a bounded connection time and
//! keep-alives, share a master connection through a control socket, and
//! take their remote command as one quoted `sh -c` word. How a failure of
//! ssh is worded is [`super::unreachable`]'s.

use crate::process::command::{quote, Cmd};
use crate::process::interrupt::Stop;
use crate::ship::target::ShipTarget;
use std::path::Path;

impl ShipTarget {
    /// `ssh … DEST 'sh -c …'`: batch mode (never a password prompt), bounded
    /// connection time, keep-alives that notice a dead link.
    pub(super) fn ssh(&self, script: &str) -> Cmd {
        self.session().arg(format!("sh -c {}", quote(script)))
    }

    /// `ssh … DEST`, the remote command still to add.
    pub(super) fn session(&self) -> Cmd {
        let mut c = self.ssh_base();
        if let Some(sock) = &self.control {
            // Reuse the master's connection; without one (it died), ssh connects anew.
            c = c
                .args(["-o", "ControlMaster=no", "-o"])
                .arg(control_path(sock));
        }
        c.arg("--").arg(self.destination())
    }

    /// `ssh … sh -c SCRIPT` on a connection of its own (not the master's):
    /// on an interrupt, not queued behind upload bytes the master still
    /// has to send over a slow link.
    pub(super) fn ssh_direct(&self, script: &str) -> Cmd {
        self.ssh_base()
            .args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
            .arg("--")
            .arg(self.destination())
            .arg(format!("sh -c {}", quote(script)))
    }

    /// `ssh -M -N`: a master connection that later sessions share, so each
    /// node pays for one key exchange per run instead of one per step.
    pub(super) fn master(&self, socket: &Path) -> Cmd {
        self.ssh_base()
            .args(["-M", "-N", "-o", "ControlPersist=no", "-o"])
            .arg(control_path(socket))
            .arg("--")
            .arg(self.destination())
            .on_interrupt(Stop::Master)
    }

    /// `ssh -O exit`: asks the master on `socket` to close its connection
    /// (the node's session ends with it).
    pub(super) fn close_master(&self, socket: &Path) -> Cmd {
        self.ssh_base()
            .args(["-O", "exit", "-o"])
            .arg(control_path(socket))
            .arg("--")
            .arg(self.destination())
    }

    /// `ssh [-F …] [-p …] [-i …] [-l …] DEST true`: what a person runs to
    /// see for themselves why the node cannot be reached (no batch mode, so
    /// ssh may ask), with every setting the tool uses.
    pub(super) fn by_hand(&self) -> Cmd {
        let h = &self.host;
        let mut c = Cmd::new("ssh");
        if let Some(f) = &self.ssh_config {
            c = c.arg("-F").arg(f.display().to_string());
        }
        if let Some(p) = h.port {
            c = c.args(["-p", &p.to_string()]);
        }
        if let Some(i) = &h.identity {
            c = c.args(["-i", i]);
        }
        if let Some(u) = &h.user {
            c = c.args(["-l", u]);
        }
        if let Some(k) = &h.known_hosts {
            c = c.arg("-o").arg(format!("UserKnownHostsFile={k}"));
        }
        c.arg(self.destination()).arg("true")
    }

    /// `ssh … -G DEST`: the settings ssh resolves for the node (host name,
    /// port, known_hosts files) from its config and ours.
    pub(super) fn resolve(&self) -> Cmd {
        self.ssh_base().arg("-G").arg(self.destination())
    }

    /// The destination ssh is given: the host's `ssh:`, else its `host:`.
    fn destination(&self) -> String {
        self.host
            .ssh
            .clone()
            .or_else(|| self.host.host.clone())
            .unwrap_or_default()
    }

    fn ssh_base(&self) -> Cmd {
        let h = &self.host;
        let mut c = Cmd::new("ssh");
        if let Some(f) = &self.ssh_config {
            c = c.arg("-F").arg(f.display().to_string());
        }
        let timeout = h.connect_timeout.unwrap_or(10);
        c = c.args([
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("ConnectTimeout={timeout}"),
        ]);
        c = c.args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
        if let Some(p) = h.port {
            c = c.args(["-p", &p.to_string()]);
        }
        if let Some(i) = &h.identity {
            c = c.args(["-i", i, "-o", "IdentitiesOnly=yes"]);
        }
        if let Some(u) = &h.user {
            c = c.args(["-l", u]);
        }
        if let Some(k) = &h.known_hosts {
            c = c.arg("-o").arg(format!("UserKnownHostsFile={k}"));
        }
        c
    }
}

/// `ControlPath=…` for `-o`: double-quoted (a directory may hold spaces),
/// `%` doubled (ssh expands `%` tokens), `\\` and `"` escaped. The directory
/// is chosen free of `$` ([`crate::process::rundir::socket_dir`]): ssh
/// expands `${VAR}` and has no escape for it.
fn control_path(socket: &Path) -> String {
    let p = socket.to_string_lossy();
    let escaped = p
        .replace('%', "%%")
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("ControlPath=\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::target::target;

    #[test]
    fn ssh_command_is_batch_bounded_and_quoted() {
        let t =
            target("{host: 127.0.0.1, user: pi, port: 2222, identity: /k/id, connect_timeout: 3}");
        assert!(t
            .ssh("x")
            .to_string()
            .starts_with("ssh -o BatchMode=yes -o ConnectTimeout=3 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -p 2222 -i /k/id -o IdentitiesOnly=yes -l pi -- 127.0.0.1 "));
        // What the remote shell sees, re-parsed, is the script itself.
        let remote = t.ssh("echo 'hi there'").get_args().last().unwrap().clone();
        let words = shlex::split(&remote).unwrap();
        assert_eq!(words, ["sh", "-c", "echo 'hi there'"]);
    }

    /// What ssh's own parser makes of our `ControlPath` (`ssh -G` prints
    /// the resolved setting): spaces, `%`, quotes and backslashes survive.
    #[test]
    fn control_paths_survive_ssh_s_parser() {
        for dir in ["/tmp/a b", "/tmp/100%z", "/tmp/q\"uote", "/tmp/back\\slash"] {
            let sock = std::path::Path::new(dir).join("0.sock");
            let out = Cmd::new("ssh")
                .args(["-G", "-o", &control_path(&sock), "x"])
                .run()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().find(|l| l.starts_with("controlpath "));
            assert_eq!(
                line,
                Some(format!("controlpath {}", sock.display()).as_str())
            );
        }
    }
}
