//! `goapp.yaml`: apps and defaults. Found by walking up from the current
//! directory (or named by `--config` / `GOAPP_CONFIG`). Every value is checked
//! when the file is loaded; every error names `file:line:column` and the key
//! path (`hosts.pi2.port`), semantic ones included.

pub(crate) mod check;
pub(crate) mod hosts;
pub(crate) mod locate;

use crate::config::hosts::HostsConfig;
use crate::config::locate::{At, KeyPath, Seg};
use crate::core::arch::Arch;
use crate::core::de::OneOrMany;
use crate::core::env::HostEnv;
use crate::core::gover::Request;
use crate::core::names::TagTemplate;
use crate::engine::EngineKind;
use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "RawFile")]
pub struct ConfigFile {
    /// Settings every app inherits.
    pub defaults: Defaults,
    /// Apps by name.
    pub apps: BTreeMap<String, AppConfig>,
    /// Remote nodes and groups for `ship`.
    pub hosts: HostsConfig,
    /// Registries by name, for `push --registry NAME` and hosts' `pull_from:`.
    pub registries: BTreeMap<String, RegistryConfig>,
}

/// An OCI registry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `HOST[:PORT]`, as this machine and the nodes reach it.
    pub address: String,
    /// Plain HTTP, no TLS (a lab or site registry without certificates).
    #[serde(default)]
    pub insecure: bool,
}

/// The file's top level as parsed. `hosts:` and `groups:` are plain fields
/// here, not a `#[serde(flatten)]`ed struct: flattening buffers the values
/// and loses their positions, so errors under `hosts:` were reported at 1:1.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    apps: BTreeMap<String, AppConfig>,
    #[serde(default)]
    hosts: BTreeMap<String, hosts::HostConfig>,
    #[serde(default)]
    groups: BTreeMap<String, OneOrMany<String>>,
    #[serde(default)]
    registries: BTreeMap<String, RegistryConfig>,
}

impl From<RawFile> for ConfigFile {
    fn from(r: RawFile) -> ConfigFile {
        ConfigFile {
            defaults: r.defaults,
            apps: r.apps,
            hosts: HostsConfig {
                hosts: r.hosts,
                groups: r.groups.into_iter().map(|(k, v)| (k, v.0)).collect(),
            },
            registries: r.registries,
        }
    }
}

/// Settings every app inherits unless it sets its own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `podman` (default) or `docker`.
    pub engine: Option<EngineKind>,
    /// Architectures to build when neither `--arch` nor `TARGET_ARCH` is given
    /// (one may be written without brackets: `arch: amd64`).
    #[serde(default, deserialize_with = "crate::core::de::one_or_many")]
    pub arch: Option<Vec<Arch>>,
    /// Where `git ls-remote` reads Go's tags.
    pub go_repo: Option<String>,
    /// A Go version used when an app has no `ver` file and no go.mod.
    pub go_version: Option<String>,
    /// The public key to check in the ssh agent before building.
    pub ssh_key: Option<String>,
    /// `MAIN_PKG_PATH` (default `./`).
    pub main_package: Option<String>,
    /// `GOPRIVATE` passed to the build (default: `$GOPRIVATE`, else empty).
    pub goprivate: Option<String>,
    /// An ssh config file for `ship` (`ssh -F`), relative to the config file.
    pub ssh_config: Option<String>,
    /// `false`: never move an emulated builder stage to the build platform.
    pub cross_compile: Option<bool>,
    /// `true`: an image that cannot start (no ENTRYPOINT/CMD, a program
    /// missing, for another machine, or lacking its C library) is still
    /// called built: for images not meant to run.
    pub allow_unstartable: Option<bool>,
    /// What a command works on when no app is named outside every app's
    /// directory: `all` (default), `none` (list the apps and say how to
    /// pick), or app names.
    pub default_apps: Option<DefaultApps>,
}

/// `defaults.default_apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DefaultApps {
    /// Every configured app.
    #[default]
    All,
    /// None: the user names one (the apps are listed).
    Ask,
    /// These apps.
    Named(Vec<String>),
}

impl<'de> Deserialize<'de> for DefaultApps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let OneOrMany(names) = OneOrMany::<String>::deserialize(d)?;
        Ok(match names.as_slice() {
            [one] if one == "all" => DefaultApps::All,
            [one] if one == "none" => DefaultApps::Ask,
            _ => DefaultApps::Named(names),
        })
    }
}

/// One app: a Go service with its Containerfile.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The build context, relative to the config file's directory.
    pub context: Option<String>,
    /// The Containerfile, relative to the context (default `Containerfile`).
    pub containerfile: Option<String>,
    /// Used instead when a proxy is set, for apps that keep a separate one.
    pub proxy_containerfile: Option<String>,
    /// Image repository (default: the app's name).
    pub repository: Option<String>,
    /// Image tag; each image is `repository:tag-<arch>`.
    pub tag: Option<String>,
    /// `MAIN_PKG_PATH`.
    pub main_package: Option<String>,
    /// Architectures this app is built for by default (`arch: amd64` is a list of one).
    #[serde(default, deserialize_with = "crate::core::de::one_or_many")]
    pub arch: Option<Vec<Arch>>,
    /// `GOPRIVATE` for this app.
    pub goprivate: Option<String>,
    /// A fixed Go version (else `ver`, else go.mod).
    pub go_version: Option<String>,
    /// Further `--build-arg`s.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// `false`: never move an emulated builder stage to the build platform.
    pub cross_compile: Option<bool>,
    /// `true`: an image that cannot start is still called built.
    pub allow_unstartable: Option<bool>,
}

/// A loaded config and where it came from.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file.
    pub path: PathBuf,
    /// Its directory: relative paths in it start here.
    pub dir: PathBuf,
    /// Its contents.
    pub file: ConfigFile,
    /// The path as given (errors show it so), and the text, to locate
    /// problems found after parsing.
    shown: PathBuf,
    text: String,
}

/// Names a config file may have in each directory walked up through.
pub(crate) const FILE_NAMES: [&str; 2] = ["goapp.yaml", "config/goapp.yaml"];

/// Something wrong with a value, found after parsing: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key path (`hosts.pi2.port`).
    pub path: KeyPath,
    /// Whether the key or its value is at fault.
    pub at: At,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem with the value at `path`.
    pub fn value(path: KeyPath, message: impl Into<String>) -> Problem {
        Problem {
            path,
            at: At::Value,
            message: message.into(),
        }
    }

    /// A problem with the key at the end of `path`.
    pub fn key(path: KeyPath, message: impl Into<String>) -> Problem {
        Problem {
            path,
            at: At::Key,
            message: message.into(),
        }
    }
}

impl Config {
    /// The file's text as read.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Reads, parses and checks a config file. `env` expands `~/` in paths.
    pub fn load(path: &Path, env: &HostEnv) -> Result<Config> {
        let text = crate::core::fs::read_text(path, "the config")?;
        let file = parse(&text, path)?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let config = Config {
            dir: abs.parent().map(Path::to_path_buf).unwrap_or_default(),
            path: abs,
            file,
            shown: path.to_path_buf(),
            text,
        };
        let problems = check::problems(&config, env);
        if !problems.is_empty() {
            return Err(config.report(problems));
        }
        Ok(config)
    }

    /// A config made from text, not checked (tests, and tools that build one).
    pub fn from_text(text: &str, path: &Path) -> Result<Config> {
        let file = parse(text, path)?;
        Ok(Config {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path: path.to_path_buf(),
            file,
            shown: path.to_path_buf(),
            text: text.to_string(),
        })
    }

    /// `explicit` (from `--config` or `GOAPP_CONFIG`), else the nearest
    /// config walking up from `start`. `None` when there is none.
    pub fn find(explicit: Option<&Path>, start: &Path, env: &HostEnv) -> Result<Option<Config>> {
        if let Some(p) = explicit {
            return Config::load(p, env).map(Some);
        }
        for dir in start.ancestors() {
            for name in FILE_NAMES {
                let candidate = dir.join(name);
                // Anything by that name counts, so that a FIFO or directory
                // called goapp.yaml is refused rather than silently skipped
                // for a config further up.
                if std::fs::symlink_metadata(&candidate).is_ok() {
                    return Config::load(&candidate, env).map(Some);
                }
            }
        }
        Ok(None)
    }

    /// One error for `problems`: a line `file:line:column: key.path: message`
    /// for each, in the order they appear in the file.
    pub fn report(&self, problems: Vec<Problem>) -> anyhow::Error {
        let mut lines: Vec<((usize, usize), String)> = problems
            .into_iter()
            .map(|p| {
                let pos = self.position(&p.path, p.at);
                let at = pos.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
                let msg = format!("{}{at}: {}: {}", self.shown.display(), p.path, p.message);
                (pos.unwrap_or((0, 0)), msg)
            })
            .collect();
        lines.sort();
        lines.dedup();
        let text: Vec<String> = lines.into_iter().map(|(_, m)| m).collect();
        anyhow::anyhow!("{}", text.join("\n"))
    }

    /// Where `path` is written; when it is not (a default), where its
    /// nearest written parent is.
    fn position(&self, path: &KeyPath, at: At) -> Option<(usize, usize)> {
        let mut p = path.clone();
        let mut at = at;
        loop {
            if let Some(pos) = locate::find(&self.text, &p, at) {
                return Some((pos.line, pos.column));
            }
            p.0.pop()?;
            if matches!(p.0.last(), Some(Seg::Index(_))) {
                at = At::Value;
            } else {
                at = At::Key;
            }
            if p.0.is_empty() {
                return None;
            }
        }
    }
}

/// How deep `[`/`{` may nest: a config needs two or three levels, and the
/// YAML reader slows down with each (40 KB of brackets took 10 s).
const MAX_NESTING: usize = 32;

/// Where flow brackets first nest deeper than [`MAX_NESTING`] (1-based
/// line and column), outside quotes and comments.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            let after = std::mem::replace(&mut prev, c);
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                // A comment starts at `#` after a space (or at the start).
                (None, '#') if after == ' ' => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some((n + 1, col + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// Parses YAML text; errors read `path:line:column: key.path: message`.
/// Duplicate keys are errors (serde's maps would keep the last silently).
pub(crate) fn parse(text: &str, path: &Path) -> Result<ConfigFile> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        bail!(
            "{}: the config is empty (only blank lines or comments): list your apps under `apps:` (see config/README.md, or write one with `{} init`), or remove the file",
            path.display(),
            crate::core::ui::program()
        );
    }
    if let Some((line, col)) = too_deep(text) {
        bail!(
            "{}:{line}:{col}: `[`/`{{` nested more than {MAX_NESTING} deep: a goapp.yaml needs a few levels; flatten or quote the value",
            path.display()
        );
    }
    if let Some((key, pos)) = locate::duplicate_key(text) {
        let (name, parent) = match key.0.split_last() {
            Some((Seg::Key(k), [])) => (k.clone(), "at the top level".to_string()),
            Some((Seg::Key(k), rest)) => (k.clone(), format!("in `{}`", KeyPath(rest.to_vec()))),
            _ => (String::new(), String::new()),
        };
        bail!(
            "{}:{}:{}: {key}: duplicate key: `{name}` is already set {parent}; keep one",
            path.display(),
            pos.line,
            pos.column
        );
    }
    serde_yaml_ng::from_str(text).map_err(|e| {
        // A list or map opened and never closed reads to the parser as a
        // value of another type; say what it is.
        if let Some((line, col, open)) = unclosed(text) {
            let close = if open == '[' { ']' } else { '}' };
            return anyhow::anyhow!(
                "{}:{line}:{col}: `{open}` is never closed: close it with `{close}`, or quote the value if it is text",
                path.display()
            );
        }
        let msg = e.to_string();
        match e.location() {
            Some(loc) => {
                // The library appends its own " at line L column C"; we lead with it instead.
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                anyhow::anyhow!("{}:{}:{}: {msg}", path.display(), loc.line(), loc.column())
            }
            None => anyhow::anyhow!("{}: {msg}", path.display()),
        }
    })
}

/// The first `[` or `{` of a YAML flow collection left open at the end of
/// the text: (line, column, the character). Quotes and comments are skipped.
fn unclosed(text: &str) -> Option<(usize, usize, char)> {
    let mut open: Vec<(usize, usize, char)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q && prev != '\\' => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '{') => open.push((n + 1, col + 1, c)),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
            prev = c;
        }
    }
    open.first().copied()
}

/// An app resolved against its config: absolute paths, inherited defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The name (the directory's name for an app outside the config).
    pub name: String,
    /// The build context.
    pub context: PathBuf,
    /// The Containerfile.
    pub containerfile: PathBuf,
    /// The Containerfile used behind a proxy, if the app has a separate one.
    pub proxy_containerfile: Option<PathBuf>,
    /// Image repository.
    pub repository: String,
    /// Image tag, if configured (`--tag` can give it).
    pub tag: Option<TagTemplate>,
    /// `MAIN_PKG_PATH`.
    pub main_package: String,
    /// Default architectures.
    pub arch: Option<Vec<Arch>>,
    /// `GOPRIVATE`, if configured.
    pub goprivate: Option<String>,
    /// A fixed Go version, if configured.
    pub go_version: Option<Request>,
    /// Further build args.
    pub build_args: BTreeMap<String, String>,
    /// Whether the cross-compilation shim may apply (default true).
    pub cross_compile: bool,
    /// Whether an image that cannot start is still called built (default false).
    pub allow_unstartable: bool,
}

impl Config {
    /// Resolves one configured app.
    pub fn app(&self, name: &str) -> Result<App> {
        let Some(a) = self.file.apps.get(name) else {
            let known: Vec<&str> = self.file.apps.keys().map(String::as_str).collect();
            if known.is_empty() {
                bail!(
                    "no app named '{name}': {} defines no apps; add it under `apps:`",
                    self.path.display()
                );
            }
            bail!(
                "no app named '{name}' in {}: known apps are {}",
                self.path.display(),
                known.join(", ")
            );
        };
        let d = &self.file.defaults;
        let context = self.dir.join(a.context.as_deref().unwrap_or("."));
        let context = normalize(&std::path::absolute(&context).unwrap_or(context));
        Ok(App {
            name: name.to_string(),
            containerfile: match &a.containerfile {
                Some(f) => context.join(f),
                None => default_containerfile(&context),
            },
            proxy_containerfile: a.proxy_containerfile.as_ref().map(|p| context.join(p)),
            context: normalize(&context),
            repository: a.repository.clone().unwrap_or_else(|| name.to_string()),
            tag: a.tag.as_deref().map(TagTemplate::parse).transpose()?,
            main_package: a
                .main_package
                .clone()
                .or_else(|| d.main_package.clone())
                .unwrap_or_else(|| "./".into()),
            arch: a.arch.clone().or_else(|| d.arch.clone()),
            goprivate: a.goprivate.clone().or_else(|| d.goprivate.clone()),
            go_version: go_request(a.go_version.as_ref().or(d.go_version.as_ref()))?,
            build_args: a.build_args.clone(),
            cross_compile: a.cross_compile.or(d.cross_compile).unwrap_or(true),
            allow_unstartable: a.allow_unstartable.or(d.allow_unstartable).unwrap_or(false),
        })
    }
}

/// A `go_version:` value as a request (checked with its position when the
/// config is loaded: [`check::go_versions`]).
fn go_request(v: Option<&String>) -> Result<Option<Request>> {
    v.map(|v| Request::parse(v, "go_version in the config"))
        .transpose()
}

/// The names a build file goes by when none is given, in the order podman
/// and buildah look for them (docker reads only the second).
pub(crate) const DEFAULT_FILES: [&str; 2] = ["Containerfile", "Dockerfile"];

/// The build file of a context when the config names none: the first of
/// [`DEFAULT_FILES`] there (a `Dockerfile` alone is found, as the engines
/// find it), else the first name (and the error then names both).
pub(crate) fn default_containerfile(context: &Path) -> PathBuf {
    DEFAULT_FILES
        .iter()
        .map(|f| context.join(f))
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .unwrap_or_else(|| context.join(DEFAULT_FILES[0]))
}

/// An app made of a bare directory, as build.sh worked: its `Containerfile`,
/// defaults from the config when there is one.
pub(crate) fn adhoc_app(dir: &Path, defaults: &Defaults) -> App {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "app".into());
    App {
        repository: name.clone(),
        name,
        context: dir.to_path_buf(),
        containerfile: default_containerfile(dir),
        proxy_containerfile: None,
        tag: None,
        main_package: defaults.main_package.clone().unwrap_or_else(|| "./".into()),
        arch: defaults.arch.clone(),
        goprivate: defaults.goprivate.clone(),
        // Checked when the config was loaded.
        go_version: go_request(defaults.go_version.as_ref()).ok().flatten(),
        build_args: BTreeMap::new(),
        cross_compile: defaults.cross_compile.unwrap_or(true),
        allow_unstartable: defaults.allow_unstartable.unwrap_or(false),
    }
}

/// Which apps a command names: some by name, every configured one
/// (`--all`), or none (the current directory decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pick<'a> {
    /// These, by name.
    Named(&'a [String]),
    /// `--all`.
    All,
    /// Nothing named.
    Here,
    /// Nothing named, and the image named on the command line (`--tag`):
    /// a directory with its own Containerfile may be built as it is.
    HereTagged,
}

impl<'a> Pick<'a> {
    /// From the command line's app names and `--all`.
    pub(crate) fn of(names: &'a [String], all: bool, tagged: bool) -> Pick<'a> {
        match (all, names.is_empty(), tagged) {
            (true, _, _) => Pick::All,
            (false, false, _) => Pick::Named(names),
            (false, true, false) => Pick::Here,
            (false, true, true) => Pick::HereTagged,
        }
    }
}

/// The apps to work on. Named ones; or with `--all` every configured one;
/// or, with nothing named: the app whose directory `cwd` is in, else what
/// `default_apps:` says (every app unless the config says otherwise). Only
/// without a config that lists apps is `cwd` itself an app, as build.sh did:
/// a config in force never has an app invented from a directory's name.
pub(crate) fn select(config: Option<&Config>, pick: Pick, cwd: &Path) -> Result<Vec<App>> {
    let with_apps = config.filter(|c| !c.file.apps.is_empty());
    match (pick, with_apps) {
        (Pick::Named(names), _) => {
            let Some(config) = config else {
                bail!("no goapp.yaml found from {} upwards, so app names ({}) mean nothing: pass --config PATH or run without app names in the app's directory", cwd.display(), names.join(", "));
            };
            // An app named twice is one app (as `--arch amd64,amd64` is one
            // architecture): two builds of one tag would race.
            let mut seen = std::collections::BTreeSet::new();
            names
                .iter()
                .filter(|n| seen.insert(n.as_str()))
                .map(|n| config.app(n))
                .collect()
        }
        (Pick::All, Some(c)) => c.all_apps(),
        (Pick::All, None) => match config {
            Some(c) => bail!("--all: {} lists no apps: add them under `apps:` (`{} init` writes a config for this repository)", c.path.display(), crate::core::ui::program()),
            None => bail!("--all needs a goapp.yaml listing the apps: none found from {} upwards (`{} init` writes one)", cwd.display(), crate::core::ui::program()),
        },
        (Pick::Here, Some(c)) => c.apps_here(cwd, false),
        (Pick::HereTagged, Some(c)) => c.apps_here(cwd, true),
        (Pick::Here | Pick::HereTagged, None) => {
            let defaults = config.map(|c| c.file.defaults.clone()).unwrap_or_default();
            Ok(vec![adhoc_app(&normalize(cwd), &defaults)])
        }
    }
}

/// The files that make a directory an app's.
const CONTAINERFILES: [&str; 2] = ["Containerfile", "Dockerfile"];

impl Config {
    /// With nothing named, in `cwd`: the app whose context holds `cwd` (the
    /// deepest), else `default_apps:`. A directory with its own Containerfile
    /// that is no app's is an error (building every app instead would
    /// surprise), unless the image is named (`tagged`): then it is built as
    /// it is, as build.sh did.
    fn apps_here(&self, cwd: &Path, tagged: bool) -> Result<Vec<App>> {
        if let Some(app) = self.app_containing(cwd)? {
            return Ok(vec![app]);
        }
        let names = || {
            self.file
                .apps
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(f) = CONTAINERFILES.iter().find(|f| cwd.join(f).is_file()) {
            if tagged {
                return Ok(vec![adhoc_app(&normalize(cwd), &self.file.defaults)]);
            }
            bail!(
                "{} has a {f} but is not an app in {}: add it under `apps:` (`{} init --print` prints an entry), build it as it is with --tag REPO:TAG, or name one of {}",
                cwd.display(),
                self.path.display(),
                crate::core::ui::program(),
                names()
            );
        }
        match self.file.defaults.default_apps.clone().unwrap_or_default() {
            DefaultApps::All => self.all_apps(),
            DefaultApps::Named(list) => list.iter().map(|n| self.app(n)).collect(),
            DefaultApps::Ask => {
                let first = self.file.apps.keys().next().cloned().unwrap_or_default();
                bail!(
                    "no app named, and {} says `default_apps: none`: name one of {} ({}), or all of them with --all",
                    self.path.display(),
                    names(),
                    crate::core::ui::example(&first)
                )
            }
        }
    }

    /// The configured app whose context is `dir`, if any.
    pub fn app_at(&self, dir: &Path) -> Result<Option<App>> {
        let dir = normalize(dir);
        for name in self.file.apps.keys() {
            let app = self.app(name)?;
            if same_dir(&app.context, &dir) {
                return Ok(Some(app));
            }
        }
        Ok(None)
    }

    /// The configured app whose context is `dir` or holds it (the deepest).
    pub fn app_containing(&self, dir: &Path) -> Result<Option<App>> {
        let dir = canonical(&normalize(dir));
        let mut best: Option<(usize, App)> = None;
        for name in self.file.apps.keys() {
            let app = self.app(name)?;
            let context = canonical(&app.context);
            let depth = context.components().count();
            if dir.starts_with(&context) && best.as_ref().is_none_or(|(d, _)| depth > *d) {
                best = Some((depth, app));
            }
        }
        Ok(best.map(|(_, a)| a))
    }

    /// Every configured app.
    pub fn all_apps(&self) -> Result<Vec<App>> {
        self.file.apps.keys().map(|n| self.app(n)).collect()
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Removes `.` and `..` components without touching the file system.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_name_file_line_column() {
        let err = parse("apps:\n  joke:\n    contxt: x\n", Path::new("goapp.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("goapp.yaml:3:5: apps.joke: unknown field `contxt`"),
            "{err}"
        );
        let err = parse("apps:\n  joke: {\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "c.yaml:2:9: `{` is never closed: close it with `}`, or quote the value if it is text"
        );
        let err = parse("apps:\n  svc:\n    tag: [1\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "c.yaml:3:10: `[` is never closed: close it with `]`, or quote the value if it is text"
        );
        let err = parse("defaults:\n  arch: [amd64, sparc]\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.yaml:2:") && err.contains("unknown architecture 'sparc'"),
            "{err}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_at_once() {
        let deep = format!(
            "apps:\n  joke: {{context: x, tag: {}{}}}\n",
            "[".repeat(20_000),
            "]".repeat(20_000)
        );
        let err = parse(&deep, Path::new("c.yaml")).unwrap_err().to_string();
        assert!(err.starts_with("c.yaml:2:"), "{err}");
        assert!(err.contains("nested more than 32 deep"), "{err}");
        // Brackets in quotes and comments do not count.
        let quoted = format!(
            "apps:\n  joke:\n    context: x\n    tag: '{}' # {}\n",
            "[".repeat(40),
            "{".repeat(40)
        );
        assert!(too_deep(&quoted).is_none());
    }

    #[test]
    fn an_app_named_twice_is_one_app() {
        let c = Config::from_text(
            "apps:\n  joke:\n    context: ../example/joke\n    tag: 0.0.3\n  api:\n    context: ../api\n    tag: 1.0.0\n",
            Path::new("/ws/config/goapp.yaml"),
        )
        .unwrap();
        let names = ["joke".to_string(), "api".into(), "joke".into()];
        let apps = select(Some(&c), Pick::of(&names, false, false), Path::new("/ws")).unwrap();
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["joke", "api"]);
    }

    #[test]
    fn apps_inherit_defaults_and_resolve_paths() {
        let c = Config::from_text(
            "defaults:\n  arch: [arm64]\n  main_package: ./cmd/x\napps:\n  joke:\n    context: ../example/joke\n    tag: 0.0.3\n",
            Path::new("/ws/config/goapp.yaml"),
        )
        .unwrap();
        let app = c.app("joke").unwrap();
        assert_eq!(app.context, Path::new("/ws/example/joke"));
        assert_eq!(
            app.containerfile,
            Path::new("/ws/example/joke/Containerfile")
        );
        assert_eq!(app.repository, "joke");
        assert_eq!(app.arch, Some(vec![Arch::Arm64]));
        assert_eq!(app.main_package, "./cmd/x");
        let err = c.app("jokes").unwrap_err().to_string();
        assert_eq!(
            err,
            "no app named 'jokes' in /ws/config/goapp.yaml: known apps are joke"
        );
    }

    #[test]
    fn cross_compile_defaults_on_and_an_app_may_differ() {
        let c = Config::from_text(
            "defaults:\n  cross_compile: false\napps:\n  a: {tag: '1'}\n  b: {tag: '1', cross_compile: true}\n  c: {tag: '1'}\n",
            Path::new("/ws/goapp.yaml"),
        )
        .unwrap();
        assert!(!c.app("a").unwrap().cross_compile);
        assert!(c.app("b").unwrap().cross_compile);
        let c = Config::from_text("apps:\n  a: {tag: '1'}\n", Path::new("/ws/goapp.yaml")).unwrap();
        assert!(c.app("a").unwrap().cross_compile);
    }
}
