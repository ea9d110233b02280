//! `cargo xtask doctor`: the whole set-up, one line per check; each failing
//! one says what is wrong and how to fix it.

use crate::build::plan::{unlock_hint, UnlockStep};
use crate::build::proxy::ProxyEnv;
use crate::build::secrets::{self, AgentSocket, SshKey};
use crate::core::arch::Arch;
use crate::core::redact::redact_url;
use crate::engine::caps::{self, can_run, emulation_fix, Emulation};
use crate::engine::{self, EngineKind};
use crate::process::command::Cmd;
use crate::process::error::ProcessError;
use crate::session::Session;
use crate::ship::remote::ShipTarget;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Worth knowing; nothing is broken.
    Warn,
    /// Broken: the line says the fix.
    Fail,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The verdict.
    pub status: Verdict,
    /// What was checked.
    pub name: String,
    /// What was found, and for failures the fix.
    pub detail: String,
}

impl Check {
    fn new(status: Verdict, name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            status,
            name: name.into(),
            detail: detail.into(),
        }
    }
}

/// Runs every check, prints one line each, returns them.
pub fn run(s: &Session, out: &mut dyn Write) -> std::io::Result<Vec<Check>> {
    let sections: [fn(&Session) -> Vec<Check>; 7] = [
        engines,
        emulation,
        ssh_agent,
        proxy,
        secret_files,
        go_versions,
        hosts,
    ];
    let mut checks = Vec::new();
    for section in sections {
        for c in section(s) {
            let tag = match c.status {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            writeln!(out, "{tag}  {}: {}", c.name, c.detail)?;
            checks.push(c);
        }
    }
    Ok(checks)
}

/// The engine builds would use, with its abilities; and every installed
/// engine's liveness: one that is installed but broken fails even if it is
/// not the default, since `--engine` would pick it.
fn engines(s: &Session) -> Vec<Check> {
    let mut checks = vec![match s.engine(None) {
        Ok(e) => {
            let c = caps::detect(&e, &s.env.cache_dir());
            let yn = |b: bool| if b { "yes" } else { "no" };
            Check::new(
                Verdict::Ok,
                "engine",
                format!(
                    "{} {} ({}); heredocs: {}, BUILDPLATFORM in FROM: {}, secrets as env: {}, buildx: {}, ssh mounts: {}, manifests: {}",
                    e.kind,
                    c.version,
                    e.program,
                    yn(c.heredoc),
                    yn(c.buildplatform_in_from),
                    yn(c.secret_env),
                    yn(c.buildx),
                    yn(c.ssh_mount),
                    yn(c.manifest)
                ),
            )
        }
        Err(e) => Check::new(Verdict::Fail, "engine", compact(&format!("{e:#}"))),
    }];
    for kind in [EngineKind::Podman, EngineKind::Docker] {
        let Ok(e) = engine::detect(Some(kind)) else {
            continue;
        };
        let name = format!("{kind} works");
        checks.push(match caps::engine_alive(&e) {
            Ok(()) => Check::new(Verdict::Ok, name, "it answers `info`"),
            Err(why) => {
                let fix = match kind {
                    EngineKind::Docker => "start the docker daemon (systemctl start docker, or `dockerd &` as root) and check DOCKER_HOST",
                    EngineKind::Podman => "run `podman info` to see what is wrong (storage, runtime, CONTAINERS_CONF)",
                };
                Check::new(Verdict::Fail, name, format!("{} — fix: {fix}", summary(&why)))
            }
        });
    }
    checks
}

/// Every configured architecture runs here: natively or emulated.
fn emulation(s: &Session) -> Vec<Check> {
    let Ok(host) = s.host_arch() else {
        return Vec::new();
    };
    let mut arches: Vec<Arch> = vec![host];
    if let Some(c) = &s.config {
        arches.extend(c.file.defaults.arch.iter().flatten());
        arches.extend(
            c.file
                .apps
                .values()
                .flat_map(|a| a.arch.clone().unwrap_or_default()),
        );
        arches.extend(c.file.hosts.hosts.values().filter_map(|h| h.arch));
    }
    arches.sort();
    arches.dedup();
    arches
        .into_iter()
        .map(|a| {
            let name = format!("arch {a}");
            match can_run(a, host) {
                Emulation::Native => Check::new(Verdict::Ok, name, "native"),
                Emulation::Registered => Check::new(
                    Verdict::Ok,
                    name,
                    "runs under qemu-user-static (binfmt_misc)",
                ),
                Emulation::Missing(entry) => Check::new(
                    Verdict::Fail,
                    name,
                    format!(
                        "{} is not registered, so {a} images cannot run here — fix: {}",
                        entry.display(),
                        emulation_fix(a)
                    ),
                ),
            }
        })
        .collect()
}

/// The ssh agent, and the key the builds use, checked as the build checks it.
fn ssh_agent(s: &Session) -> Vec<Check> {
    let check = |v, detail: String| vec![Check::new(v, "ssh agent", detail)];
    let sock = match secrets::agent_socket(&s.env) {
        AgentSocket::Unset => return check(Verdict::Warn, "SSH_AUTH_SOCK is not set: builds get no --ssh (fine without private modules) — fix: eval $(ssh-agent) && ssh-add".into()),
        AgentSocket::Missing(p) => return check(Verdict::Fail, format!("SSH_AUTH_SOCK names {}, which does not exist — fix: eval $(ssh-agent) && ssh-add", p.display())),
        AgentSocket::Present(sock) => sock.display().to_string(),
    };
    let listed = Cmd::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg("-l")
        .output(Some(Duration::from_secs(10)));
    let keys = match &listed {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().count(),
        _ => 0,
    };
    let setting = s
        .config
        .as_ref()
        .and_then(|c| c.file.defaults.ssh_key.clone());
    let step = match secrets::ssh_key(&s.env, setting.as_deref()) {
        SshKey::Configured { public, .. } | SshKey::Found(public) => {
            Some(UnlockStep::new(Path::new(&sock), &public))
        }
        SshKey::NoneFound => None,
    };
    match step {
        _ if keys == 0 => {
            let fix = step
                .as_ref()
                .map(unlock_hint)
                .unwrap_or_else(|| "ssh-add".into());
            check(Verdict::Fail, format!("the agent at {sock} holds no keys, so --ssh gives the build nothing — fix: {fix}"))
        }
        None => check(Verdict::Ok, format!("{keys} key(s)")),
        Some(step) => {
            let private = step.private_key.display();
            match step.check.run_timeout(Some(Duration::from_secs(10))) {
                Ok(_) => check(Verdict::Ok, format!("{keys} key(s); {private} is unlocked")),
                Err(_) => check(
                    Verdict::Fail,
                    format!(
                        "{private} is not unlocked in the agent — fix: {}",
                        unlock_hint(&step)
                    ),
                ),
            }
        }
    }
}

/// The proxy variables, redacted.
fn proxy(s: &Session) -> Vec<Check> {
    let detail = match ProxyEnv::from_env(&s.env) {
        None => "no proxy set".to_string(),
        Some(p) => p
            .values
            .iter()
            .take(3)
            .map(|(k, v)| format!("{k}={}", redact_url(v)))
            .collect::<Vec<_>>()
            .join(" "),
    };
    vec![Check::new(Verdict::Ok, "proxy", detail)]
}

/// The secret files builds mount.
fn secret_files(s: &Session) -> Vec<Check> {
    let mut files: Vec<_> = secrets::goenv(&s.env).into_iter().collect();
    if ProxyEnv::from_env(&s.env).is_some() {
        files.extend(secrets::netrc(&s.env));
        files.push(secrets::certs(&s.env));
    }
    files
        .into_iter()
        .map(|f| {
            let name = format!("secret {}", f.id);
            if f.exists {
                Check::new(Verdict::Ok, name, f.path.display().to_string())
            } else {
                let why = format!(
                    "{} ({}) does not exist: builds run without it",
                    f.path.display(),
                    f.origin
                );
                Check::new(Verdict::Warn, name, why)
            }
        })
        .collect()
}

/// The Go version of each app.
fn go_versions(s: &Session) -> Vec<Check> {
    let Some(c) = &s.config else {
        return Vec::new();
    };
    let resolver = s.go_resolver();
    c.file
        .apps
        .keys()
        .map(|name| {
            let check = format!("go {name}");
            match c.app(name).and_then(|app| resolver.resolve(&app)) {
                Ok(r) if r.warning.is_some() => {
                    Check::new(Verdict::Warn, check, r.warning.unwrap_or_default())
                }
                Ok(r) => Check::new(Verdict::Ok, check, r.version.to_string()),
                Err(e) => Check::new(Verdict::Fail, check, compact(&format!("{e:#}"))),
            }
        })
        .collect()
}

/// Every configured host, at once: reachable over ssh, its import tool there.
fn hosts(s: &Session) -> Vec<Check> {
    let Some(c) = &s.config else {
        return Vec::new();
    };
    let ssh_config = c
        .file
        .defaults
        .ssh_config
        .as_ref()
        .map(|p| c.dir.join(s.env.expand_tilde(p)));
    let targets: Vec<ShipTarget> = c
        .file
        .hosts
        .hosts
        .iter()
        .map(|(n, h)| ShipTarget {
            name: n.clone(),
            host: h.clone(),
            ssh_config: ssh_config.clone(),
            control: None,
        })
        .collect();
    std::thread::scope(|scope| {
        let hs: Vec<_> = targets
            .iter()
            .map(|t| (t, scope.spawn(move || host_check(t))))
            .collect();
        hs.into_iter()
            .map(|(t, h)| {
                h.join().unwrap_or_else(|_| {
                    let why = "the check stopped on an internal error (a bug: please report it)";
                    Check::new(Verdict::Fail, format!("host {}", t.name), why)
                })
            })
            .collect()
    })
}

fn host_check(t: &ShipTarget) -> Check {
    let name = format!("host {}", t.name);
    let dest = t
        .host
        .ssh
        .clone()
        .or(t.host.host.clone())
        .unwrap_or_default();
    match t.probe(&[]) {
        Err(e) => {
            let cause = e.last_line().map(str::to_string).unwrap_or_else(|| e.to_string());
            Check::new(Verdict::Fail, name, format!("not reachable over ssh: {cause} — fix: check `ssh {dest}` by hand (keys, host key, port)"))
        }
        Ok(p) if p.importer => {
            let arch = Arch::from_uname(&p.machine).map(|a| a.to_string()).unwrap_or("?".into());
            let zstd = if p.zstd { ", zstd" } else { "" };
            Check::new(Verdict::Ok, name, format!("reachable, {} ({arch}), `{}` present{zstd}", p.machine, t.importer()))
        }
        Ok(_) => Check::new(Verdict::Fail, name, format!("reachable, but `{}` is not installed there — fix: install it, or change `import:` for this host", t.importer())),
    }
}

/// A failed process in one line: what ran and how it ended, then the last
/// line it wrote (the cause), read from the error's fields.
fn summary(e: &ProcessError) -> String {
    let head = e.to_string();
    let head = head.lines().next().unwrap_or_default();
    match e.last_line() {
        Some(cause) if cause.trim() != head => format!("{head} [{}]", cause.trim()),
        _ => head.to_string(),
    }
}

/// One line: the first line of an error, and its last (the cause) if different.
fn compact(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    let last = s
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    if last.is_empty() || last == first {
        first.to_string()
    } else {
        format!("{first} [{}]", last.trim())
    }
}
