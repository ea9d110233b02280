//! `cargo xtask doctor`: the whole set-up, one line per check; each failing
//! one says what is wrong and how to fix it.

use crate::build::plan::{unlock_hint, UnlockStep};
use crate::build::proxy::ProxyEnv;
use crate::build::secrets::{self, AgentSocket, SshKey};
use crate::core::arch::Arch;
use crate::core::names::ImageRef;
use crate::core::redact::redact_url;
use crate::engine::caps::{self, can_run, emulation_fix, Emulation};
use crate::engine::{self, EngineKind};
use crate::process::command::Cmd;
use crate::process::error::ProcessError;
use crate::session::Session;
use crate::ship::{Hosts, Probe, ShipTarget};
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
                    "{} {} with its {} ({}); heredocs: {}, BUILDPLATFORM in FROM: {}, secrets as env: {}, buildx: {}, ssh mounts: {}, one name for every architecture: {}, bind mounts keyed by content: {} (else shimmed)",
                    e.kind,
                    c.version,
                    c.store.describe(),
                    e.program,
                    yn(c.heredoc),
                    yn(c.buildplatform_in_from),
                    yn(c.secret_env),
                    yn(c.buildx),
                    yn(c.ssh_mount),
                    yn(c.manifest && c.store.holds_index()),
                    yn(c.bind_keying.context)
                ),
            )
        }
        Err(e) => Check::new(Verdict::Fail, "engine", compact(&format!("{e:#}"))),
    }];
    for kind in EngineKind::ALL {
        let Ok(e) = engine::detect(Some(kind), &s.env.cache_dir()) else {
            continue;
        };
        let name = format!("{kind} works");
        checks.push(match caps::engine_alive(&e) {
            Ok(()) => Check::new(Verdict::Ok, name, "it answers `info`"),
            Err(why) => Check::new(
                Verdict::Fail,
                name,
                format!("{} — fix: {}", summary(&why), kind.fix_when_dead()),
            ),
        });
        if e.store == crate::engine::ImageStore::Podman {
            checks.extend(podman_store(s, &e));
        }
    }
    checks
}

/// podman's image store can be listed: podman < 4.8 cannot while it holds
/// a manifest list and an image without layers ([`crate::engine::podstore`]).
fn podman_store(s: &Session, e: &crate::engine::Engine) -> Option<Check> {
    let lists = e
        .cmd()
        .args(["images", "--quiet"])
        .run_timeout(Some(std::time::Duration::from_secs(60)));
    let name = "podman's image store";
    match lists {
        Ok(_) => Some(Check::new(Verdict::Ok, name, "`podman images` lists it")),
        Err(err) => {
            let c = caps::detect(e, &s.env.cache_dir());
            let state = crate::engine::podstore::read(e).filter(|st| st.trips_listing());
            let detail = match state {
                Some(st) if c.listing_trips_on_layerless => crate::engine::podstore::explain(e, &st),
                _ => format!("`podman images` fails: {} — fix: see `podman images` (storage, CONTAINERS_CONF)", summary(&err)),
            };
            Some(Check::new(Verdict::Fail, name, detail))
        }
    }
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
            .values()
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
    if ProxyEnv::is_set(&s.env) {
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
/// The hosts are resolved as `ship` resolves them, and an unreachable one
/// is said in `ship`'s words.
fn hosts(s: &Session) -> Vec<Check> {
    if s.config.is_none() {
        return Vec::new();
    }
    let (shipped, mut checks) = shipped_images(s);
    let targets = match crate::ship::targets(s, Hosts::All) {
        Ok(t) => t,
        Err(e) => {
            checks.push(Check::new(
                Verdict::Fail,
                "hosts",
                compact(&format!("{e:#}")),
            ));
            return checks;
        }
    };
    let home = s.env.home();
    checks.extend(std::thread::scope(|scope| {
        let hs: Vec<_> = targets
            .iter()
            .map(|t| (t, scope.spawn(|| host_checks(t, &shipped, home.as_deref()))))
            .collect();
        hs.into_iter()
            .flat_map(|(t, h)| {
                h.join().unwrap_or_else(|_| {
                    let why = "the check stopped on an internal error (a bug: please report it)";
                    vec![Check::new(Verdict::Fail, format!("host {}", t.name), why)]
                })
            })
            .collect::<Vec<_>>()
    }));
    checks
}

/// An app whose images `ship` puts on nodes, named as the local engine
/// names them: `REPO:TAG-<arch>` per architecture, and `REPO:TAG`.
struct Shipped {
    app: String,
    per_arch: Vec<(Arch, String)>,
    name: String,
}

/// Every configured app's images, named as `image` would name them now. A
/// tag template (`0.1.0-{git}`, `{inputs}`) is rendered from the sources
/// as they are, and said so in a check of its own: the hosts are then
/// checked for that name; one that cannot be rendered is said with why.
fn shipped_images(s: &Session) -> (Vec<Shipped>, Vec<Check>) {
    let (Some(c), Ok(engine)) = (&s.config, s.engine(None)) else {
        return (Vec::new(), Vec::new());
    };
    let mut checks = Vec::new();
    let shipped = c
        .file
        .apps
        .keys()
        .filter_map(|name| {
            let app = c.app(name).ok()?;
            let template = app.tag.as_ref()?;
            let image = if template.is_literal() {
                ImageRef::new(&app.repository, &template.render(&Default::default()).ok()?).ok()?
            } else {
                let (check, image) = rendered(s, name, &template.to_string());
                checks.push(check);
                image?
            };
            let arches = app
                .arch
                .clone()
                .unwrap_or_else(|| vec![Arch::Amd64, Arch::Arm64]);
            Some(Shipped {
                app: name.clone(),
                per_arch: arches
                    .into_iter()
                    .map(|a| (a, engine.stored(&image.for_arch(a))))
                    .collect(),
                name: engine.stored(&image),
            })
        })
        .collect();
    (shipped, checks)
}

/// An app's templated tag rendered as a build would render it now (the
/// commit, `-dirty`, the sources hash), and the check that says so.
fn rendered(s: &Session, app: &str, tag: &str) -> (Check, Option<ImageRef>) {
    let request = crate::build::Request {
        apps: vec![app.to_string()],
        ..Default::default()
    };
    let name = format!("tag {app}");
    match crate::build::Builder::new(s, request) {
        Ok(b) => {
            let image = b.image_of(app);
            let detail = match &image {
                Some(i) => format!("`{tag}` is `{}` for the sources as they are now; the hosts below are checked for that image", i.tag()),
                None => format!("`{tag}` could not be rendered"),
            };
            (Check::new(Verdict::Ok, name, detail), image)
        }
        Err(e) => (
            Check::new(
                Verdict::Warn,
                name,
                format!("`{tag}` cannot be rendered now, so no host is checked for it: {e:#}"),
            ),
            None,
        ),
    }
}

/// The host's line, then for each app whether its image is there under
/// both names and pinned. `home` shortens paths in the fix, as `ship` does.
fn host_checks(t: &ShipTarget, shipped: &[Shipped], home: Option<&Path>) -> Vec<Check> {
    let name = format!("host {}", t.name);
    let refs: Vec<String> = shipped
        .iter()
        .flat_map(|a| {
            a.per_arch
                .iter()
                .map(|(_, r)| r.clone())
                .chain([a.name.clone()])
        })
        .collect();
    match t.probe(&refs) {
        // One line: a failed script's output is cut to its last line.
        Err(e) => {
            let why = crate::ship::why_unreachable(t, &e, home);
            vec![Check::new(Verdict::Fail, name, compact(&why))]
        }
        Ok(p) if p.importer => reachable_checks(t, &p, shipped, name),
        Ok(_) => vec![Check::new(
            Verdict::Fail,
            name,
            format!(
                "reachable, but {} — fix: install it, or change `import:` for this host",
                t.missing_importer()
            ),
        )],
    }
}

/// A reachable node with its importer: does its arch contradict the
/// config, and which of the shipped images does it hold (and pin)?
fn reachable_checks(t: &ShipTarget, p: &Probe, shipped: &[Shipped], name: String) -> Vec<Check> {
    if let Some(why) = crate::ship::contradiction(t, p) {
        return vec![Check::new(Verdict::Fail, name, why)];
    }
    let native = Arch::from_uname(&p.machine);
    let arch = t.host.arch.or(native);
    let shown = match arch {
        Some(a) if native.is_some_and(|n| !a.runs_on(n)) => format!("{a}, under emulation"),
        Some(a) => a.to_string(),
        None => "?".into(),
    };
    let zstd = if p.zstd { ", zstd" } else { "" };
    let mut out = vec![Check::new(
        Verdict::Ok,
        name,
        format!(
            "reachable, {} ({shown}), `{}` present{zstd}",
            p.machine,
            t.importer()
        ),
    )];
    if let Some(arch) = arch.filter(|_| t.store().is_some()) {
        out.extend(shipped.iter().filter_map(|a| image_check(t, p, a, arch)));
    }
    out
}

/// Whether the node holds an app's image for its architecture under both
/// names, pinned against the kubelet's image garbage collection.
fn image_check(t: &ShipTarget, p: &Probe, a: &Shipped, arch: Arch) -> Option<Check> {
    let reference = &a.per_arch.iter().find(|(x, _)| *x == arch)?.1;
    let name = format!("host {} {}", t.name, a.app);
    let ship = format!(
        "{} ship --host {} {}",
        crate::core::ui::program(),
        t.name,
        a.app
    );
    let (Some(img), named) = (p.held(reference), p.held(&a.name)) else {
        // Not shipped yet is not a fault.
        return Some(Check::new(
            Verdict::Ok,
            name,
            format!("{reference} is not there yet (`{ship}` puts it there)"),
        ));
    };
    if named.is_none_or(|n| n.id != img.id) {
        return Some(Check::new(Verdict::Warn, name, format!("{reference} is there, but {} is missing or names another image, so pods naming it get something else — fix: {ship}", a.name)));
    }
    let pins = t.pin_labels();
    let unpinned: Vec<&String> = [reference, &a.name]
        .into_iter()
        .filter(|r| {
            p.held(r)
                .is_some_and(|h| !pins.iter().all(|l| h.labels.contains(*l)))
        })
        .collect();
    if !unpinned.is_empty() {
        let list: Vec<&str> = unpinned.iter().map(|s| s.as_str()).collect();
        return Some(Check::new(Verdict::Fail, name, format!("{} not pinned: the kubelet's image garbage collection may delete it under disk pressure — fix: {ship} (it pins), or label it {}", list.join(" and "), pins.join(" "))));
    }
    let pinned = if pins.is_empty() { "" } else { ", pinned" };
    Some(Check::new(
        Verdict::Ok,
        name,
        format!(
            "{reference} and {} present (id {}){pinned}",
            a.name,
            short_id(&img.id)
        ),
    ))
}

fn short_id(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
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
