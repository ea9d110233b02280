//! A node on loopback for ship and doctor tests: a real OpenSSH server
//! (own host key, own authorized key, a free port) in front of a real
//! containerd and a podman with its own storage.

use super::root;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One fake-but-real node: sshd + containerd + podman storage.
pub struct Node {
    pub dir: PathBuf,
    pub alias: String,
    /// The sshd's loopback port.
    pub port: u16,
    sshd: Child,
    containerd: Child,
}

impl Node {
    pub fn start(base: &Path, alias: &str) -> Node {
        let dir = base.join(alias);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        // containerd with its own root, state and socket.
        std::fs::write(
            dir.join("containerd.toml"),
            format!(
                "version = 2\nroot = \"{0}/ctd-root\"\nstate = \"{0}/ctd-state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{0}/containerd.sock\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let containerd = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("containerd.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .expect("containerd (run scripts/setup.sh)");
        // podman with its own storage.
        std::fs::write(
            dir.join("storage.conf"),
            format!("[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/podman-root\"\nrunroot = \"{0}/podman-run\"\n", dir.display()),
        )
        .unwrap();
        // sshd: its own host key, the test's client key, a free port, and
        // an environment that points ctr and podman at this node's stores.
        for (key, comment) in [("host_key", "host"), ("client_key", "client")] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(dir.join(key))
                .status()
                .unwrap();
            assert!(st.success());
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let wrapper = dir.join("wrapper.sh");
        std::fs::write(
            &wrapper,
            WRAPPER.replace("@DIR@", &dir.display().to_string()),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 SetEnv CONTAINERD_ADDRESS={d}/containerd.sock CONTAINERS_STORAGE_CONF={d}/storage.conf CONTAINERS_CONF={conf}\n\
                 ForceCommand {d}/wrapper.sh\n",
                d = dir.display(),
                conf = root().join("scripts/containers.conf").display()
            ),
        )
        .unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd (run scripts/setup.sh)");
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let mut known = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        known = format!("[127.0.0.1]:{port} {known}\n");
        std::fs::write(dir.join("known_hosts"), known).unwrap();
        let mut cfg = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(base.join("ssh_config"))
            .unwrap();
        write!(
            cfg,
            "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n",
            d = dir.display()
        )
        .unwrap();
        let node = Node {
            dir,
            alias: alias.to_string(),
            port,
            sshd,
            containerd,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(node.dir.join("containerd.sock").exists()
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        {
            assert!(
                Instant::now() < deadline,
                "node {alias} did not start: see {}",
                node.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    /// Runs a command on the node through its own sshd, as a user would.
    pub fn ssh(&self, base: &Path, cmd: &str) -> (bool, String) {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(base.join("ssh_config"))
            .args(["-o", "BatchMode=yes", &self.alias, cmd])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Sets the fault the wrapper injects into uploads: "", "slow" or "corrupt".
    pub fn fault(&self, mode: &str) {
        std::fs::write(self.dir.join("fault"), mode).unwrap();
    }

    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Another ssh alias for this node, reached at loopback `port` (a
    /// [`super::relay::Relay`] in front of its sshd).
    pub fn alias_via(&self, base: &Path, alias: &str, port: u16) {
        let mut cfg = std::fs::OpenOptions::new()
            .append(true)
            .open(base.join("ssh_config"))
            .unwrap();
        write!(
            cfg,
            "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  HostKeyAlias [127.0.0.1]:{own}\n  StrictHostKeyChecking yes\n",
            d = self.dir.display(),
            own = self.port
        )
        .unwrap();
    }

    pub fn sshd_pid(&self) -> u32 {
        self.sshd.id()
    }

    /// The node's containerd socket, for `ctr --address` from the test.
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// `ctr -n k8s.io images ls` on the node: (name, target digest, labels).
    pub fn containerd_images(&self, base: &Path) -> Vec<(String, String, String)> {
        let (ok, out) = self.ssh(base, "ctr -n k8s.io images ls");
        assert!(ok, "{out}");
        out.lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                Some((
                    cols.first()?.to_string(),
                    cols.get(2)?.to_string(),
                    cols.last()?.to_string(),
                ))
            })
            .collect()
    }

    /// Puts a stand-in for `k3s` on the node: `k3s ctr …` runs the node's
    /// own `ctr …` (k3s cannot be installed here; its `ctr` is containerd's).
    pub fn fake_k3s(&self) {
        let path = self.dir.join("bin/k3s");
        std::fs::write(
            &path,
            "#!/bin/sh\n[ \"$1\" = ctr ] || { echo \"k3s stand-in: only 'k3s ctr' is here\" >&2; exit 2; }\nshift\nexec ctr \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-9", "-P", &self.sshd.id().to_string()])
            .status();
        for c in [&mut self.sshd, &mut self.containerd] {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.join("podman-root/overlay"))
            .output();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "mount | awk '{{print $3}}' | grep '^{}' | sort -r | xargs -r umount -l",
                self.dir.display()
            ))
            .output();
    }
}

/// The node's ForceCommand: runs what was asked, and for uploads (the
/// command that writes a `.part` file) can slow the stream down or flip a
/// byte in it, as a bad link would.
const WRAPPER: &str = r#"#!/bin/sh
# Stand-ins a test puts in the node's bin/ (e.g. `k3s`, which cannot be
# installed here) come first.
PATH="@DIR@/bin:$PATH"; export PATH
mode=$(cat @DIR@/fault 2>/dev/null)
case "$SSH_ORIGINAL_COMMAND" in
  *".part"*"cat <&3 >"*)
    case "$mode" in
      slow) python3 -c 'import sys,time
while True:
    b=sys.stdin.buffer.read(32768)
    if not b: break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); time.sleep(0.05)' | eval "$SSH_ORIGINAL_COMMAND"; exit $? ;;
      corrupt) python3 -c 'import sys
d=sys.stdin.buffer.read()
i=min(len(d)-1,5000)
sys.stdout.buffer.write(d[:i]+bytes([d[i]^0xFF])+d[i+1:])' | eval "$SSH_ORIGINAL_COMMAND"; exit $? ;;
    esac ;;
esac
eval "$SSH_ORIGINAL_COMMAND"
"#;
