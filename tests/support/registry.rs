//! A real OCI registry on loopback: Debian's `docker-registry` (the
//! distribution project's server) with its own storage directory and a free
//! port, its access log kept to count what was uploaded.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub address: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (run scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            address,
            log,
            child,
            _dir: dir,
        }
    }

    /// The access log's lines so far (`"METHOD /path HTTP/1.1" status`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("time="))
            .filter_map(|l| {
                let q = l.split('"').nth(1)?;
                let status = l.split('"').nth(2)?.split_whitespace().next()?;
                Some(format!("{q} {status}"))
            })
            .collect()
    }

    /// `skopeo inspect --raw` of `reference` (`REPO:TAG` in this registry).
    pub fn raw(&self, reference: &str) -> String {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{reference}", self.address))
            .output()
            .expect("skopeo (run scripts/setup.sh)");
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
