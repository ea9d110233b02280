//! `cargo xtask init`: a commented `goapp.yaml` for the repository it runs
//! in. Every directory with a `go.mod` and a Containerfile (or Dockerfile)
//! beside it becomes an app; the rest of the file shows, commented out, what
//! a team sets next (architectures, hosts).

use crate::config::{Config, FILE_NAMES};
use crate::core::env::HostEnv;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A service found in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The app's name (its directory's, made a valid name; unique).
    pub name: String,
    /// Its directory, relative to the repository's root (`.` for the root).
    pub context: String,
    /// `Dockerfile` when that is what it has (`Containerfile` is the default).
    pub containerfile: Option<String>,
}

/// What `init` did.
#[derive(Clone, Debug)]
pub struct Written {
    /// The file written (or that would be, with `print`).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// The apps in it.
    pub apps: Vec<Found>,
}

/// Directories never searched: dependencies, build output, other tools' trees.
const SKIP: [&str; 5] = [
    "vendor",
    "node_modules",
    "target",
    "testdata",
    "third_party",
];

/// The repository's root for `cwd`: the nearest directory up with a `.git`,
/// else `cwd`.
pub(crate) fn repo_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// Writes `goapp.yaml` at the root of the repository holding `cwd` (or only
/// returns the text when `print`). Never overwrites a config.
pub fn run(cwd: &Path, env: &HostEnv, print: bool) -> Result<Written> {
    let root = repo_root(cwd);
    let path = root.join("goapp.yaml");
    let apps = discover(&root);
    let text = render(&apps);
    // What we write must load: the same checks as every later run.
    let check = Config::from_text(&text, &path)?;
    let problems = crate::config::check::problems(&check, env);
    if !problems.is_empty() {
        return Err(check.report(problems))
            .context("init made a config that does not load (a bug: please report it)");
    }
    if print {
        return Ok(Written { path, text, apps });
    }
    if let Some(existing) = FILE_NAMES.iter().map(|n| root.join(n)).find(|p| p.exists()) {
        bail!(
            "{} exists; init never overwrites a config: `{} init --print` shows what it would write",
            existing.display(),
            crate::core::ui::program()
        );
    }
    // create_new: a config made meanwhile by someone else is not replaced.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Written { path, text, apps })
}

/// Every directory under `root` with a go.mod and a Containerfile or
/// Dockerfile, in path order. Hidden directories, dependencies and trees
/// with a config of their own (a tool such as this one) are not searched.
pub(crate) fn discover(root: &Path) -> Vec<Found> {
    let mut dirs = Vec::new();
    walk(root, root, &mut dirs);
    dirs.sort();
    let mut out: Vec<Found> = Vec::new();
    for (rel, containerfile) in dirs {
        let base = app_name(rel.rsplit('/').next().unwrap_or(&rel), root);
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|f| f.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(Found {
            name,
            context: rel,
            containerfile,
        });
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Option<String>)>) {
    let here = |f: &str| dir.join(f).is_file();
    if dir != root && FILE_NAMES.iter().any(|n| dir.join(n).exists()) {
        return;
    }
    if here("go.mod") {
        let file = crate::config::DEFAULT_FILES.into_iter().find(|f| here(f));
        if let Some(f) = file {
            let rel = dir.strip_prefix(root).unwrap_or(dir).to_string_lossy();
            let rel = if rel.is_empty() {
                ".".into()
            } else {
                rel.into_owned()
            };
            out.push((rel, (f == "Dockerfile").then(|| f.to_string())));
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && !name.starts_with('.') && !SKIP.contains(&name.as_str()) {
            walk(root, &e.path(), out);
        }
    }
}

/// A valid app name from a directory's name: lowercase letters, digits, `-`.
fn app_name(dir: &str, root: &Path) -> String {
    let raw = if dir == "." {
        root.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        dir.to_string()
    };
    let mut name: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    name.truncate(63);
    if crate::core::names::check_name(&name).is_err() {
        name = "app".into();
    }
    name
}

/// The commented file.
fn render(apps: &[Found]) -> String {
    // The comments name the program as it was started (`goapp`, `cargo xtask`).
    let program = crate::core::ui::program();
    let mut s = HEADER.replace("PROGRAM", program);
    if apps.is_empty() {
        s += "apps: {}\n# No go.mod with a Containerfile or Dockerfile beside it was found. Add each\n# service as:\n#   api:\n#     context: services/api\n#     tag: 0.1.0\n";
    } else {
        s += "apps:\n";
        for a in apps {
            let _ = writeln!(s, "  {}:", a.name);
            let _ = writeln!(s, "    context: {}", a.context);
            if let Some(f) = &a.containerfile {
                let _ = writeln!(s, "    containerfile: {f}");
            }
            let _ = writeln!(
                s,
                "    tag: 0.1.0          # images are {}:0.1.0-<arch>; --tag REPO:TAG overrides",
                a.name
            );
        }
    }
    s += &FOOTER.replace("PROGRAM", program);
    s
}

const HEADER: &str = "\
# goapp-build configuration, written by `PROGRAM init`. Every key is
# documented in tools/goapp-build/config/README.md (or wherever the tool is).
# Relative paths are relative to this file's directory. The nearest
# goapp.yaml walking up from the current directory is the one in force
# (`-v` prints it), so `make image` in a service builds that service, and at
# this root builds every app below.

defaults:
  # Architectures to build when --arch and TARGET_ARCH are not given; the
  # default is this machine's. One name or a list.
  # arch: [amd64, arm64]
  # podman (default; docker when podman is absent) or docker.
  # engine: podman
  # At this root, with no app named: every app (all), some ([api]), or
  # none (list them and say how to pick one).
  # default_apps: all

";

const FOOTER: &str = "
# Nodes for `PROGRAM ship --host NAME` (see config/README.md), e.g.:
# hosts:
#   pi1: {ssh: pi1, arch: arm64, import: k3s, sudo: true}
#   lab: {host: lab.local, user: ops, port: 2222, identity: ~/.ssh/id_ed25519, import: docker}
# groups:
#   pis: [pi1]
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_services_names_them_uniquely_and_writes_a_config_that_loads() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        let mk = |rel: &str, files: &[&str]| {
            let dir = root.join(rel);
            std::fs::create_dir_all(&dir).unwrap();
            for f in files {
                std::fs::write(dir.join(f), "x\n").unwrap();
            }
        };
        mk("services/api", &["go.mod", "Containerfile"]);
        mk("services/Worker_2", &["go.mod", "Dockerfile"]);
        mk("cmd/api", &["go.mod", "Containerfile"]);
        mk("libs/util", &["go.mod"]);
        mk("vendor/x", &["go.mod", "Containerfile"]);
        mk(".hidden/y", &["go.mod", "Containerfile"]);
        mk("tools/goapp-build/config", &["goapp.yaml"]);
        mk(
            "tools/goapp-build/example/joke",
            &["go.mod", "Containerfile"],
        );
        let w = run(&root.join("services/api"), &HostEnv::default(), false).unwrap();
        assert_eq!(w.path, root.join("goapp.yaml"));
        let names: Vec<(&str, &str)> = w
            .apps
            .iter()
            .map(|a| (a.name.as_str(), a.context.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("api", "cmd/api"),
                ("worker_2", "services/Worker_2"),
                ("api-2", "services/api")
            ]
        );
        let c = Config::load(&w.path, &HostEnv::default()).unwrap();
        let worker = c.app("worker_2").unwrap();
        assert_eq!(
            worker.containerfile,
            root.join("services/Worker_2/Dockerfile")
        );
        assert!(w.text.contains("# arch: [amd64, arm64]"), "{}", w.text);
        let e = run(root, &HostEnv::default(), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("init never overwrites a config"), "{e}");
        assert!(
            run(root, &HostEnv::default(), true).is_ok(),
            "--print works with a config there"
        );
    }
}
