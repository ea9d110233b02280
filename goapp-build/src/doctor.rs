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
    let mut checks = Vec::new();
    let mut say = |c: Check, out: &mut dyn Write| -> std::io::Result<()> {
        let tag = match c.status {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        writeln!(out, "{tag}  {}: {}", c.name, c.detail)?;
        checks.push(c);
        Ok(())
    };

    // Engines: the one builds would use, and every installed one's liveness.
    let configured = s.config.as_ref().and_then(|c| c.file.defaults.engine);
    match s.engine(None) {
        Ok(e) => {
            let c = caps::detect(&e, &s.env.cache_dir());
            let yn = |b: bool| if b { "yes" } else { "no" };
            say(
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
                ),
                out,
            )?;
        }
        Err(e) => say(
            Check::new(Verdict::Fail, "engine", compact(&format!("{e:#}"))),
            out,
        )?,
    }
    for kind in [EngineKind::Podman, EngineKind::Docker] {
        let Ok(e) = engine::detect(Some(kind)) else {
            continue;
        };
        let name = format!("{kind} works");
        match caps::engine_alive(&e) {
            Ok(()) => say(Check::new(Verdict::Ok, name, "it answers `info`"), out)?,
            Err(why) => {
                let fix = match kind {
                    EngineKind::Docker => "start the docker daemon (systemctl start docker, or `dockerd &` as root) and check DOCKER_HOST",
                    EngineKind::Podman => "run `podman info` to see what is wrong (storage, runtime, CONTAINERS_CONF)",
                };
                // An engine that is installed but broken fails even if not the default:
                // `--engine` would pick it.
                let _ = configured;
                say(
                    Check::new(
                        Verdict::Fail,
                        name,
                        format!("{} — fix: {fix}", compact(&why)),
                    ),
                    out,
                )?;
            }
        }
    }

    // Emulation for every configured architecture.
    let host = s.host_arch().ok();
    let mut arches: Vec<Arch> = Vec::new();
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
    arches.extend(host);
    arches.sort();
    arches.dedup();
    if let Some(host) = host {
        for a in arches {
            match can_run(a, host) {
                Emulation::Native => {
                    say(Check::new(Verdict::Ok, format!("arch {a}"), "native"), out)?
                }
                Emulation::Registered => say(
                    Check::new(
                        Verdict::Ok,
                        format!("arch {a}"),
                        "runs under qemu-user-static (binfmt_misc)",
                    ),
                    out,
                )?,
                Emulation::Missing(entry) => say(
                    Check::new(
                        Verdict::Fail,
                        format!("arch {a}"),
                        format!(
                            "{} is not registered, so {a} images cannot run here — fix: {}",
                            entry.display(),
                            emulation_fix(a)
                        ),
                    ),
                    out,
                )?,
            }
        }
    }

    // The ssh agent and the key the builds use.
    let key_setting = s
        .config
        .as_ref()
        .and_then(|c| c.file.defaults.ssh_key.clone());
    match secrets::agent_socket(&s.env) {
        AgentSocket::Unset => say(Check::new(Verdict::Warn, "ssh agent", "SSH_AUTH_SOCK is not set: builds get no --ssh (fine without private modules) — fix: eval $(ssh-agent) && ssh-add"), out)?,
        AgentSocket::Missing(p) => say(Check::new(Verdict::Fail, "ssh agent", format!("SSH_AUTH_SOCK names {}, which does not exist — fix: eval $(ssh-agent) && ssh-add", p.display())), out)?,
        AgentSocket::Present(sock) => {
            let sock = sock.display().to_string();
            let listed = Cmd::new("ssh-add").env("SSH_AUTH_SOCK", &sock).arg("-l").output(Some(Duration::from_secs(10)));
            let key = secrets::ssh_key(&s.env, key_setting.as_deref());
            let keys = match &listed {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().count(),
                _ => 0,
            };
            // The same check the build runs before it starts.
            let step = match &key {
                SshKey::Configured { public, .. } | SshKey::Found(public) => Some(UnlockStep::new(Path::new(&sock), public)),
                SshKey::NoneFound => None,
            };
            if keys == 0 {
                let fix = step.as_ref().map(unlock_hint).unwrap_or_else(|| "ssh-add".into());
                say(Check::new(Verdict::Fail, "ssh agent", format!("the agent at {sock} holds no keys, so --ssh gives the build nothing — fix: {fix}")), out)?;
            } else if let Some(step) = step {
                let private = step.private_key.display();
                if step.check.run_timeout(Some(Duration::from_secs(10))).is_ok() {
                    say(Check::new(Verdict::Ok, "ssh agent", format!("{keys} key(s); {private} is unlocked")), out)?;
                } else {
                    say(Check::new(Verdict::Fail, "ssh agent", format!("{private} is not unlocked in the agent — fix: {}", unlock_hint(&step))), out)?;
                }
            } else {
                say(Check::new(Verdict::Ok, "ssh agent", format!("{keys} key(s)")), out)?;
            }
        }
    }

    // Proxy variables, redacted.
    match ProxyEnv::from_env(&s.env) {
        None => say(Check::new(Verdict::Ok, "proxy", "no proxy set"), out)?,
        Some(p) => {
            let shown: Vec<String> = p
                .values
                .iter()
                .take(3)
                .map(|(k, v)| format!("{k}={}", redact_url(v)))
                .collect();
            say(Check::new(Verdict::Ok, "proxy", shown.join(" ")), out)?;
        }
    }

    // Secret files.
    let mut files: Vec<_> = secrets::goenv(&s.env).into_iter().collect();
    if ProxyEnv::from_env(&s.env).is_some() {
        files.extend(secrets::netrc(&s.env));
        files.push(secrets::certs(&s.env));
    }
    for f in files {
        if f.exists {
            say(
                Check::new(
                    Verdict::Ok,
                    format!("secret {}", f.id),
                    f.path.display().to_string(),
                ),
                out,
            )?;
        } else {
            say(
                Check::new(
                    Verdict::Warn,
                    format!("secret {}", f.id),
                    format!(
                        "{} ({}) does not exist: builds run without it",
                        f.path.display(),
                        f.origin
                    ),
                ),
                out,
            )?;
        }
    }

    // The Go version of each app.
    if let Some(c) = &s.config {
        let resolver = s.go_resolver();
        for name in c.file.apps.keys() {
            let r = c.app(name).and_then(|app| resolver.resolve(&app));
            match r {
                Ok(r) => say(
                    Check::new(
                        if r.warning.is_some() {
                            Verdict::Warn
                        } else {
                            Verdict::Ok
                        },
                        format!("go {name}"),
                        r.warning.unwrap_or_else(|| r.version.to_string()),
                    ),
                    out,
                )?,
                Err(e) => say(
                    Check::new(
                        Verdict::Fail,
                        format!("go {name}"),
                        compact(&format!("{e:#}")),
                    ),
                    out,
                )?,
            }
        }
    }

    // Every configured host: reachable over ssh, its import tool present.
    if let Some(c) = &s.config {
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
        let results: Vec<Check> = std::thread::scope(|scope| {
            let hs: Vec<_> = targets
                .iter()
                .map(|t| scope.spawn(move || host_check(t)))
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Check::new(Verdict::Fail, "host", "check panicked"))
                })
                .collect()
        });
        for r in results {
            say(r, out)?;
        }
    }
    Ok(checks)
}

fn host_check(t: &ShipTarget) -> Check {
    let name = format!("host {}", t.name);
    match t.probe(&[]) {
        Err(e) => Check::new(Verdict::Fail, name, format!("not reachable over ssh: {} — fix: check `ssh {}` by hand (keys, host key, port)", last_line(&format!("{e:#}")), t.host.ssh.clone().or(t.host.host.clone()).unwrap_or_default())),
        Ok(p) if p.importer => Check::new(
            Verdict::Ok,
            name,
            format!("reachable, {} ({}), `{}` present{}", p.machine, Arch::from_uname(&p.machine).map(|a| a.to_string()).unwrap_or("?".into()), t.importer(), if p.zstd { ", zstd" } else { "" }),
        ),
        Ok(_) => Check::new(Verdict::Fail, name, format!("reachable, but `{}` is not installed there — fix: install it, or change `import:` for this host", t.importer())),
    }
}

/// One line: the first line of an error, and its last (the cause) if different.
fn compact(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    let last = last_line(s);
    if last.is_empty() || last == first {
        first.to_string()
    } else {
        format!("{first} [{}]", last.trim())
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}
