//! Every value of a parsed config checked against what the tools accept and
//! what is on disk, when the file is loaded — not later, halfway through a
//! build or a ship. Each problem names its key path; [`Config::report`]
//! turns them into `file:line:column` lines.

use crate::config::locate::KeyPath;
use crate::config::{AppConfig, Config, DefaultApps, Defaults, Problem};
use crate::core::env::{HostEnv, PROXY_VARS};
use crate::core::fs::check_regular_if_exists;
use crate::core::names::{check_name, check_repository, TagTemplate};
use std::path::Path;

/// Build args goapp-build sets itself (build/plan) or the engine derives from
/// `--platform`: a config value would fight them, and a proxy variable's
/// value would land in argv, where the proxy password must never be.
const RESERVED_BUILD_ARGS: [(&str, &str); 8] = [
    (
        "TAG_GOVER",
        "pass --go-version, write a `ver` file, or set `go_version:` in the config instead",
    ),
    (
        "MAIN_PKG_PATH",
        "set the environment variable instead (`MAIN_PKG_PATH=./cmd/api` before the command), or `main_package:` in the config",
    ),
    (
        "GOPRIVATE",
        "set the environment variable instead, or `goprivate:` in the config",
    ),
    ("BUILDPLATFORM", "it is always this machine's platform"),
    ("TARGETPLATFORM", "the engine sets it from --arch"),
    ("TARGETARCH", "the engine sets it from --arch"),
    ("TARGETOS", "the engine sets it from --arch"),
    ("TARGETVARIANT", "the engine sets it from --arch"),
];

/// Every problem in `c`. `env` expands `~/`.
pub(crate) fn problems(c: &Config, env: &HostEnv) -> Vec<Problem> {
    let mut out = defaults(&c.file.defaults, &c.dir, env);
    out.extend(default_apps(c));
    out.extend(no_apps(c));
    for (name, app) in &c.file.apps {
        out.extend(app_problems(name, app, &c.dir));
    }
    let home = env.home();
    out.extend(c.file.hosts.problems(home.as_deref()));
    out.extend(registry_problems(&c.file));
    out
}

/// An `apps:` that lists none: written, it promises apps (without it, the
/// config only gives defaults and hosts to the directory's own app).
fn no_apps(c: &Config) -> Option<Problem> {
    let written = c.text().lines().any(|l| l.starts_with("apps:"));
    (written && c.file.apps.is_empty()).then(|| {
        Problem::value(
            KeyPath::of(&["apps"]),
            format!("`apps:` lists no app: add one (`api: {{context: services/api}}`), or remove the key (`{} init` writes a config from the go.mod files it finds)", crate::core::ui::program()),
        )
    })
}

/// Registry names and addresses, and every host's `pull_from:` naming one.
fn registry_problems(f: &crate::config::ConfigFile) -> Vec<Problem> {
    let mut out = Vec::new();
    for (name, r) in &f.registries {
        let at = KeyPath::of(&["registries", name]);
        if let Err(e) = check_name(name) {
            out.push(Problem::key(at.clone(), e.to_string()));
        }
        if let Err(e) = crate::core::names::check_registry(&r.address) {
            out.push(Problem::value(at.key("address"), e.to_string()));
        }
    }
    for (host, h) in &f.hosts.hosts {
        let Some(r) = &h.pull_from else { continue };
        if !f.registries.contains_key(r) {
            let known: Vec<&str> = f.registries.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "the config has no `registries:`; add it there, e.g. `registries: {site: {address: registry.lan:5000}}`".to_string()
            } else {
                format!("known are {}", known.join(", "))
            };
            out.push(Problem::value(
                KeyPath::of(&["hosts", host, "pull_from"]),
                format!("no registry named '{r}': {known}"),
            ));
        }
    }
    out
}

fn defaults(d: &Defaults, dir: &Path, env: &HostEnv) -> Vec<Problem> {
    let at = KeyPath::of(&["defaults"]);
    let mut out = Vec::new();
    out.extend(word(
        &at.key("main_package"),
        d.main_package.as_deref(),
        false,
    ));
    out.extend(word(&at.key("goprivate"), d.goprivate.as_deref(), true));
    out.extend(word(&at.key("go_repo"), d.go_repo.as_deref(), false));
    out.extend(arch_list(&at.key("arch"), d.arch.as_deref()));
    // Files other programs read (ssh -F, ssh-add): a FIFO or directory there
    // would hang or confuse them. Missing ones are reported where they are
    // used: a shared config may name a key only some people have.
    if let Some(f) = &d.ssh_config {
        let path = dir.join(env.expand_tilde(f));
        out.extend(file_problem(
            &at.key("ssh_config"),
            &path,
            "the ssh config",
            false,
        ));
    }
    if let Some(k) = &d.ssh_key {
        let path = env.expand_tilde(k);
        out.extend(file_problem(
            &at.key("ssh_key"),
            &path,
            "the ssh key",
            false,
        ));
        let public = std::path::PathBuf::from(format!("{}.pub", path.display()));
        if path.extension().is_none_or(|e| e != "pub") {
            out.extend(file_problem(
                &at.key("ssh_key"),
                &public,
                "the ssh public key",
                false,
            ));
        }
    }
    out
}

/// `default_apps:` names configured apps, at least one.
fn default_apps(c: &Config) -> Vec<Problem> {
    let at = KeyPath::of(&["defaults", "default_apps"]);
    let Some(DefaultApps::Named(names)) = &c.file.defaults.default_apps else {
        return Vec::new();
    };
    if names.is_empty() {
        return vec![Problem::value(
            at,
            "the list is empty: write `all`, `none`, or the apps to use when none is named",
        )];
    }
    let known: Vec<&str> = c.file.apps.keys().map(String::as_str).collect();
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| !known.contains(&n.as_str()))
        .map(|(i, n)| {
            let path = if names.len() == 1 {
                at.clone()
            } else {
                at.index(i)
            };
            Problem::value(
                path,
                format!(
                    "'{n}' is not an app under `apps:` (known: {}); or write `all` or `none`",
                    known.join(", ")
                ),
            )
        })
        .collect()
}

fn app_problems(name: &str, a: &AppConfig, dir: &Path) -> Vec<Problem> {
    let at = KeyPath::of(&["apps", name]);
    let mut out = Vec::new();
    if let Err(e) = check_name(name) {
        out.push(Problem::key(at.clone(), e.to_string()));
    }
    let context = dir.join(a.context.as_deref().unwrap_or("."));
    match std::fs::metadata(&context) {
        Ok(m) if m.is_dir() => {
            for (key, file) in [
                ("containerfile", &a.containerfile),
                ("proxy_containerfile", &a.proxy_containerfile),
            ] {
                if let Some(f) = file {
                    let what = "the Containerfile";
                    out.extend(file_problem(&at.key(key), &context.join(f), what, true));
                }
            }
        }
        Ok(_) => out.push(Problem::value(at.key("context"), format!("the context {} is not a directory: point `context:` at the app's directory (relative to the config's)", context.display()))),
        Err(_) => out.push(Problem::value(at.key("context"), format!("the context directory {} does not exist: create it, or fix `context:` (relative to the config's directory)", context.display()))),
    }
    if let Some(Err(e)) = a.repository.as_deref().map(check_repository) {
        out.push(Problem::value(at.key("repository"), e.to_string()));
    }
    if let Some(Err(e)) = a.tag.as_deref().map(TagTemplate::parse) {
        out.push(Problem::value(at.key("tag"), e.to_string()));
    }
    out.extend(word(
        &at.key("main_package"),
        a.main_package.as_deref(),
        false,
    ));
    out.extend(word(&at.key("goprivate"), a.goprivate.as_deref(), true));
    out.extend(arch_list(&at.key("arch"), a.arch.as_deref()));
    for (k, v) in &a.build_args {
        out.extend(build_arg(&at.key("build_args").key(k), k, v));
    }
    out
}

/// A value passed on as one word (a build arg, a git argument): not empty
/// (unless `empty_ok`), no whitespace or control characters, no leading `-`.
fn word(at: &KeyPath, v: Option<&str>, empty_ok: bool) -> Option<Problem> {
    let v = v?;
    let bad = (v.is_empty() && !empty_ok)
        || v.starts_with('-')
        || v.chars().any(|c| c.is_whitespace() || c.is_control());
    bad.then(|| {
        Problem::value(
            at.clone(),
            format!(
                "{v:?} is not a usable value: give one word, with no spaces and no leading '-'"
            ),
        )
    })
}

/// An architecture list: not empty, and each architecture once (after
/// aliases: `x86_64` is `amd64`), since each is one image and one build.
fn arch_list(at: &KeyPath, list: Option<&[crate::core::arch::Arch]>) -> Option<Problem> {
    let list = list?;
    if list.is_empty() {
        return Some(Problem::value(at.clone(), "the list is empty: name at least one architecture, e.g. [amd64, arm64], or remove the key"));
    }
    let twice = list
        .iter()
        .enumerate()
        .find(|(i, a)| list[..*i].contains(a))
        .map(|(_, a)| *a)?;
    let mut once: Vec<crate::core::arch::Arch> = Vec::new();
    for a in list {
        if !once.contains(a) {
            once.push(*a);
        }
    }
    let fixed: Vec<&str> = once.iter().map(|a| a.name()).collect();
    Some(Problem::value(at.clone(), format!("{twice} is listed more than once (an alias such as x86_64 names the same architecture): each architecture is one build and one image; write [{}]", fixed.join(", "))))
}

fn build_arg(at: &KeyPath, k: &str, v: &str) -> Option<Problem> {
    match check_build_arg(k, v)? {
        (true, msg) => Some(Problem::key(at.clone(), msg)),
        (false, msg) => Some(Problem::value(at.clone(), msg)),
    }
}

/// What is wrong with a build arg `k=v`, if anything: `(true, why)` when the
/// name is at fault, `(false, why)` when the value is. The config and
/// `--build-arg` share it.
pub(crate) fn check_build_arg(k: &str, v: &str) -> Option<(bool, String)> {
    let name_ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Some((true, format!("'{k}' is not a build arg name: use letters, digits and '_', not starting with a digit")));
    }
    if let Some((_, why)) = RESERVED_BUILD_ARGS.iter().find(|(r, _)| *r == k) {
        return Some((true, format!("build arg {k} is set by goapp-build: {why}")));
    }
    if k.starts_with("GOAPP_") {
        return Some((true, format!("build arg {k}: names starting with GOAPP_ are the shims' own (GOAPP_BIND_<line>): choose another name")));
    }
    if PROXY_VARS.contains(&k) {
        return Some((true, format!("build arg {k} is passed from the environment (without its value in argv): set it there")));
    }
    v.contains('\0').then(|| {
        (
            false,
            "the value holds a NUL character, which no command line can carry".to_string(),
        )
    })
}

/// A file named in the config: a regular file if it exists; and it must
/// exist when `required` (files in the repository, such as Containerfiles).
fn file_problem(at: &KeyPath, path: &Path, what: &str, required: bool) -> Option<Problem> {
    if let Err(e) = check_regular_if_exists(path, what) {
        return Some(Problem::value(at.clone(), e.to_string()));
    }
    (required && !path.exists()).then(|| {
        Problem::value(at.clone(), format!("{what} {} does not exist: create it, or fix the path (relative to the app's context)", path.display()))
    })
}

/// Checks the config's `go_version:` values (defaults and apps) when the
/// config is loaded, each at its position.
pub(crate) fn go_versions(config: &crate::config::Config) -> anyhow::Result<()> {
    use crate::config::{locate::KeyPath, Problem};
    let f = &config.file;
    let values = std::iter::once((
        KeyPath::of(&["defaults", "go_version"]),
        &f.defaults.go_version,
    ))
    .chain(
        f.apps
            .iter()
            .map(|(n, a)| (KeyPath::of(&["apps", n, "go_version"]), &a.go_version)),
    );
    let problems: Vec<Problem> = values
        .filter_map(|(at, v)| {
            let v = v.as_deref()?;
            crate::core::gover::Request::parse(v, "go_version").err()?;
            Some(Problem::value(
                at,
                format!(
                    "'{v}' is not a Go version: write e.g. 1.25.4, or 1.25 for its newest patch"
                ),
            ))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(config.report(problems))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::core::env::HostEnv;

    /// Loads `text` as `<tmp>/goapp.yaml` next to an app directory `svc`;
    /// the error's lines with the temp directory shown as `T`.
    fn load_err(text: &str) -> String {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("svc")).unwrap();
        std::fs::write(d.path().join("svc/Containerfile"), "FROM scratch\n").unwrap();
        let path = d.path().join("goapp.yaml");
        std::fs::write(&path, text).unwrap();
        let env = HostEnv::from_vars([("HOME", d.path().to_str().unwrap())]);
        let err = Config::load(&path, &env).unwrap_err().to_string();
        err.replace(&d.path().display().to_string(), "T")
    }

    #[test]
    fn errors_under_hosts_name_their_line_column_and_key_path() {
        let text = "hosts:\n  pi1: {ssh: pi1}\n  pi2:\n    host: 10.0.0.2\n    port: 70000\n";
        assert_eq!(
            load_err(text),
            "T/goapp.yaml:5:11: hosts.pi2.port: 70000 is out of range: a TCP port is a whole number from 1 to 65535"
        );
        assert_eq!(
            load_err("hosts:\n  pi: {ssh: pi, port: 0}\n"),
            "T/goapp.yaml:2:23: hosts.pi.port: 0 is out of range: a TCP port is a whole number from 1 to 65535"
        );
        assert_eq!(
            load_err("hosts:\n  pi: {ssh: pi, connect_timeout: 4294967295}\n"),
            "T/goapp.yaml:2:34: hosts.pi.connect_timeout: 4294967295 is out of range: connect_timeout (seconds) is a whole number from 1 to 3600"
        );
        assert_eq!(
            load_err("hosts:\n  pi:\n    ssh: pi\n    import: k8s\n"),
            "T/goapp.yaml:4:13: hosts.pi.import: unknown import kind 'k8s': use k3s, k3s-dir, containerd, docker, podman or {command: [argv…], store: …}"
        );
        assert_eq!(
            load_err("hosts:\n  pi:\n    ssh: pi\n    arch: arm64\n  pj:\n    ssh: pj\n    arch: sparc\n"),
            "T/goapp.yaml:7:11: hosts.pj.arch: unknown architecture 'sparc': use one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64"
        );
        assert_eq!(
            load_err("hosts:\n  pi:\n    ssh: pi\n    compression: gzip-12\n"),
            "T/goapp.yaml:4:18: hosts.pi.compression: 'gzip-12' is not a compression: use auto, none, gzip, gzip-1 … gzip-9, zstd or zstd-1 … zstd-19"
        );
    }

    #[test]
    fn keep_pinned_is_a_count_from_one() {
        assert_eq!(
            load_err("hosts:\n  pi: {ssh: pi, keep_pinned: 0}\n"),
            "T/goapp.yaml:2:30: hosts.pi.keep_pinned: 0 is out of range: keep_pinned (images) is a whole number from 1 to 1000"
        );
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_repetition() {
        assert_eq!(
            load_err(
                "apps:\n  svc: {context: svc}\n  other: {context: svc}\n  svc: {context: nope}\n"
            ),
            "T/goapp.yaml:4:3: apps.svc: duplicate key: `svc` is already set in `apps`; keep one"
        );
        assert_eq!(
            load_err("hosts:\n  pi: {ssh: a}\n  pi: {ssh: b}\n"),
            "T/goapp.yaml:3:3: hosts.pi: duplicate key: `pi` is already set in `hosts`; keep one"
        );
        assert_eq!(
            load_err("groups: {}\nhosts: {}\ngroups: {}\n"),
            "T/goapp.yaml:3:1: groups: duplicate key: `groups` is already set at the top level; keep one"
        );
    }

    #[test]
    fn semantic_errors_point_at_the_value_and_all_are_listed() {
        let text = "\
apps:
  svc:
    context: svc
    containerfile: Nope
    build_args: {HTTP_PROXY: x, 9x: y, ok: fine}
  gone:
    context: ../gone
hosts:
  pi: {ssh: pi, host: pi.local}
groups:
  all: [pi, pj]
";
        let expected = "\
T/goapp.yaml:4:20: apps.svc.containerfile: the Containerfile T/svc/Nope does not exist: create it, or fix the path (relative to the app's context)
T/goapp.yaml:5:18: apps.svc.build_args.HTTP_PROXY: build arg HTTP_PROXY is passed from the environment (without its value in argv): set it there
T/goapp.yaml:5:33: apps.svc.build_args.9x: '9x' is not a build arg name: use letters, digits and '_', not starting with a digit
T/goapp.yaml:7:14: apps.gone.context: the context directory T/../gone does not exist: create it, or fix `context:` (relative to the config's directory)
T/goapp.yaml:9:17: hosts.pi.host: host 'pi' sets both `ssh:` and `host:`: `ssh:` is the whole destination (an ~/.ssh/config alias or user@host); keep one
T/goapp.yaml:11:13: groups.all[1]: group 'all' names 'pj', which is not a host under `hosts:`";
        assert_eq!(load_err(text), expected);
    }

    #[test]
    fn registries_stores_and_k3s_dirs_are_checked_where_written() {
        let text = "\
registries:
  site: {address: 'http://reg.lan:5000'}
  lab: {address: 127.0.0.1:5000, insecure: true}
hosts:
  a: {ssh: a, pull_from: nope}
  b: {ssh: b, import: {command: [load]}, pull_from: lab}
  c: {ssh: c, images_dir: /var/lib/rancher/k3s/agent/images}
  d: {ssh: d, import: k3s-dir, images_dir: /srv/images}
";
        let expected = "\
T/goapp.yaml:2:19: registries.site.address: 'http://reg.lan:5000' is not a registry address: write HOST[:PORT], e.g. registry.lan:5000 (no scheme, no path; plain HTTP is `insecure`)
T/goapp.yaml:5:26: hosts.a.pull_from: no registry named 'nope': known are lab, site
T/goapp.yaml:6:53: hosts.b.pull_from: host 'b' pulls from a registry, but its custom importer names no store to pull into: add `store:` (k3s, containerd, docker or podman) to its `import:`
T/goapp.yaml:7:27: hosts.c.images_dir: images_dir is where `import: k3s-dir` writes archives: set `import: k3s-dir`, or remove it
T/goapp.yaml:8:44: hosts.d.images_dir: images_dir \"/srv/images\": k3s watches only <data-dir>/agent/images (a path ending in /agent/images), e.g. /var/lib/rancher/k3s/agent/images";
        assert_eq!(load_err(text), expected);
        assert_eq!(
            load_err("hosts:\n  a:\n    ssh: a\n    import: {command: [x], store: crio}\n"),
            "T/goapp.yaml:4:35: hosts.a.import.store: unknown store 'crio': use k3s, containerd, docker or podman"
        );
    }

    #[test]
    fn tag_templates_are_checked_at_their_value() {
        assert_eq!(
            load_err("apps:\n  svc:\n    context: svc\n    tag: '1-{branch}'\n"),
            "T/goapp.yaml:4:10: apps.svc.tag: '1-{branch}': unknown placeholder '{branch}': use {git}, {git:N}, {inputs} or {inputs:N}"
        );
        assert_eq!(
            load_err("apps:\n  svc:\n    context: svc\n    tag: '{git:2}'\n"),
            "T/goapp.yaml:4:10: apps.svc.tag: '{git:2}': in '{git:2}' the width must be a whole number from 4 to 40"
        );
    }

    #[test]
    fn an_architecture_twice_is_refused_at_its_line() {
        assert_eq!(
            load_err("defaults:\n  arch: [amd64, amd64, x86_64, arm64]\n"),
            "T/goapp.yaml:2:9: defaults.arch: amd64 is listed more than once (an alias such as x86_64 names the same architecture): each architecture is one build and one image; write [amd64, arm64]"
        );
    }

    #[test]
    fn defaults_are_checked_too() {
        assert_eq!(
            load_err("defaults:\n  main_package: ./cmd/x y\n  arch: []\n"),
            "T/goapp.yaml:2:17: defaults.main_package: \"./cmd/x y\" is not a usable value: give one word, with no spaces and no leading '-'\n\
             T/goapp.yaml:3:9: defaults.arch: the list is empty: name at least one architecture, e.g. [amd64, arm64], or remove the key"
        );
        // A setting left out is located at its nearest written parent.
        assert_eq!(
            load_err("apps:\n  Bad_Name!: {}\n"),
            "T/goapp.yaml:2:3: apps.Bad_Name!: 'Bad_Name!' is not a valid name: use letters, digits, '-', '_' and '.' (at most 63), not starting with '-' or '.'"
        );
    }

    #[test]
    fn special_files_for_ssh_are_refused_missing_ones_left_to_ssh() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("ssh_fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let text = format!(
            "defaults:\n  ssh_config: {0}\n  ssh_key: ~/no-such-key\nhosts:\n  a: {{ssh: a, identity: {0}}}\n  b: {{ssh: b, identity: ~/\n}}\n  c: {{ssh: c, identity: ~/missing}}\n",
            fifo.display()
        );
        let err = load_err(&text);
        let fifo = fifo.display();
        // `~/` alone is the home directory (YAML folds the line break away).
        assert_eq!(
            err,
            format!(
                "T/goapp.yaml:2:15: defaults.ssh_config: the ssh config {fifo} is a named pipe (FIFO), not a regular file: point it at a regular file\n\
                 T/goapp.yaml:5:25: hosts.a.identity: the identity file {fifo} is a named pipe (FIFO), not a regular file: point it at a regular file\n\
                 T/goapp.yaml:6:25: hosts.b.identity: the identity file T/ is a directory, not a regular file: point it at a regular file"
            )
        );
    }

    #[test]
    fn config_go_versions_are_checked_with_their_position() {
        let text = "defaults:\n  go_version: 1.25\napps:\n  a:\n    go_version: one.two\n";
        let c = crate::config::Config::from_text(text, std::path::Path::new("g.yaml")).unwrap();
        assert_eq!(
            crate::config::check::go_versions(&c).unwrap_err().to_string(),
            "g.yaml:5:17: apps.a.go_version: 'one.two' is not a Go version: write e.g. 1.25.4, or 1.25 for its newest patch"
        );
        let ok = crate::config::Config::from_text(
            "defaults: {go_version: 1.21rc2}\n",
            std::path::Path::new("g.yaml"),
        )
        .unwrap();
        assert!(crate::config::check::go_versions(&ok).is_ok());
    }
}
