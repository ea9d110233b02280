//! The README's "Adopting it in a monorepo" section, done as a new user
//! would: a monorepo with two Go services and this workspace under
//! `tools/goapp-build`, the files written exactly as the README shows them
//! (read from the README itself, so the two cannot drift), then every
//! documented way in: `make image` in a service, `make image` and
//! `make image APP=…` at the root, the `cargo xtask` alias from a service,
//! `--json` against the real images, a warning-free no-op build (its whole
//! output), and a failing build that names the file by its repository path,
//! once for two architectures.
//!
//! Compile time: the make wrapper runs the binary the tests already built
//! (`GOAPP=…`; the wrapper's own "compiling" notice is checked with a
//! recording `cargo`), and the alias builds into the workspace's target
//! directory as the README's `.cargo/config.toml` says, so only its two
//! path crates compile, once.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The README's monorepo section: each fenced block whose first line names
/// the file (`# Makefile at the monorepo root`, `# services/api/Makefile`).
fn readme_files() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("## Adopting it in a monorepo")
        .expect("the section");
    let end = readme[at + 3..]
        .find("\n## ")
        .map_or(readme.len(), |e| at + 3 + e);
    let section = &readme[at..end];
    let mut files = Vec::new();
    for block in section.split("```").skip(1).step_by(2) {
        let body = block.split_once('\n').map(|(_, b)| b).unwrap_or_default();
        let first = body.lines().next().unwrap_or_default();
        let Some(name) = first.strip_prefix("# ") else {
            continue;
        };
        let file = match name {
            n if n.ends_with(" at the monorepo root") => {
                n.trim_end_matches(" at the monorepo root").to_string()
            }
            n if n.contains('/') && !n.contains(' ') => n.to_string(),
            _ => continue,
        };
        files.push((file, body.to_string()));
    }
    files
}

struct Mono {
    dir: PathBuf,
    cache: tempfile::TempDir,
    repo: String,
    guard: ImageGuard,
}

impl Mono {
    /// A fresh monorepo at a fixed place under `target/` (so the alias's
    /// build of the path crates is reused between runs).
    fn new() -> Mono {
        require_engine("podman");
        let dir = root().join("target/goapp-it/monorepo");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tools")).unwrap();
        std::os::unix::fs::symlink(root(), dir.join("tools/goapp-build")).unwrap();
        std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        let files = readme_files();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Makefile",
                "services/api/Makefile",
                "Cargo.toml",
                ".cargo/config.toml"
            ],
            "the README's monorepo section changed: keep this test doing what it says"
        );
        // The alias builds with the tool's own profile (the README copies it).
        let profile = |text: &str| -> Vec<String> {
            let at = text.find("[profile.dev]").expect("a [profile.dev]");
            text[at..]
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        let tool = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let readme = &files.iter().find(|(n, _)| n == "Cargo.toml").unwrap().1;
        assert_eq!(
            profile(readme),
            profile(&tool),
            "the README's monorepo Cargo.toml copies the tool's profile: update it"
        );
        for (name, body) in &files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let repo = format!("goapp-it/{}", unique("mono-"));
        for svc in ["api", "worker"] {
            service(&dir.join("services").join(svc), svc);
        }
        std::fs::write(
            dir.join("goapp.yaml"),
            format!(
                "defaults:\n  arch: amd64\napps:\n  api:\n    context: services/api\n    repository: {repo}-api\n    tag: '1'\n  worker:\n    context: services/worker\n    repository: {repo}-worker\n    tag: '1'\n"
            ),
        )
        .unwrap();
        let mut images = Vec::new();
        for a in ["api", "worker"] {
            for arch in ["amd64", "arm64"] {
                images.push(format!("{repo}-{a}:1-{arch}"));
            }
        }
        Mono {
            dir,
            cache: tempfile::tempdir().unwrap(),
            repo,
            guard: ImageGuard {
                program: "podman",
                images,
            },
        }
    }

    /// `make ARGS` in `sub`, the wrapper running the binary under test.
    fn make(&self, sub: &str, args: &[&str]) -> (bool, String, String) {
        let mut c = self.env(Command::new("make"), sub);
        c.arg("--no-print-directory")
            .arg(format!("GOAPP={}", env!("CARGO_BIN_EXE_goapp-under-test")))
            .args(args);
        run(c)
    }

    /// A command in `sub` with the isolated environment of the other tests.
    fn env(&self, mut c: Command, sub: &str) -> Command {
        let base = xtask(&self.dir, self.cache.path());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.current_dir(self.dir.join(sub));
        c
    }

    fn image(&self, app: &str) -> String {
        format!("{}-{app}:1-amd64", self.repo)
    }

    /// `podman image inspect --format {{FIELD}}`.
    fn inspect(&self, app: &str, field: &str) -> String {
        let f = format!("{{{{{field}}}}}");
        engine(
            "podman",
            &["image", "inspect", "--format", &f, &self.image(app)],
        )
        .trim()
        .to_string()
    }
}

/// A service: its go.mod, main.go and a Containerfile whose builder runs on
/// the build machine and cross-compiles (an arm64 image needs no emulation).
fn service(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("go.mod"),
        format!("module example.com/{name}\n\ngo 1.19\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.go"),
        format!(
            "package main\n\nimport \"fmt\"\n\nfunc main() {{\n\tfmt.Println(\"{name} {}\")\n}}\n",
            unique("")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        format!(
            "FROM --platform=$BUILDPLATFORM docker.io/library/golang:{}-bookworm AS build\n\
             WORKDIR /src\nCOPY . .\nARG TARGETARCH\n\
             RUN CGO_ENABLED=0 GOOS=linux GOARCH=$TARGETARCH go build -o /out/app ./\n\
             FROM scratch\nCOPY --from=build /out/app /app\nENTRYPOINT [\"/app\"]\n",
            go_version()
        ),
    )
    .unwrap();
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn every_documented_way_in_works_from_any_directory() {
    let m = Mono::new();
    let (api, worker) = (m.image("api"), m.image("worker"));

    // In a service, whose Makefile only includes the root's: that service.
    let (ok, out, err) = m.make("services/api", &["image"]);
    assert!(ok, "{out}\n{err}");
    let out = lines(&out);
    assert!(out[0].starts_with(&format!("{api}  built in ")), "{out:?}");
    assert_eq!(out.len(), 2, "the image and the total: {out:?}");

    // At the root, nothing named: every app (api is up to date).
    let (ok, out, err) = m.make(".", &["image"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        lines(&out)[0],
        format!("{api}  up to date (inputs unchanged; image --force rebuilds)")
    );
    assert!(
        lines(&out)[1].starts_with(&format!("{worker}  built in ")),
        "{out}"
    );

    // A no-op at the root: one line per image, and not a word more.
    let (ok, out, err) = m.make(".", &["image"]);
    assert!(ok, "{err}");
    assert_eq!(
        (out.as_str(), err.as_str()),
        (
            format!(
                "{api}  up to date (inputs unchanged; image --force rebuilds)\n{worker}  up to date (inputs unchanged; image --force rebuilds)\n"
            )
            .as_str(),
            ""
        )
    );

    // One app by name at the root, results as JSON, checked against podman.
    let (ok, out, err) = m.make(".", &["image", "APP=worker", "GOAPP_FLAGS=--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document on stdout");
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{out}");
    let w = &images[0];
    assert_eq!(
        (w["app"].as_str(), w["arch"].as_str()),
        (Some("worker"), Some("amd64"))
    );
    assert_eq!(w["status"], "up_to_date");
    assert_eq!(w["reference"], format!("localhost/{worker}"));
    assert_eq!(w["id"], format!("sha256:{}", m.inspect("worker", ".Id")));
    assert_eq!(w["digest"], m.inspect("worker", ".Digest"));
    assert_eq!(
        w["inputs"],
        m.inspect("worker", "index .Labels \"dev.goapp.inputs\""),
        "the inputs hash is the image's label"
    );
    assert_eq!(
        err,
        format!("{worker}  up to date (inputs unchanged; image --force rebuilds)\n")
    );

    // The cargo alias, from a service directory: that service, found from
    // there; built with the README's files into the shared target directory.
    let mut c = m.env(Command::new("cargo"), "services/worker");
    c.args(["xtask", "image", "--json", "-v"])
        .env_remove("CARGO_TARGET_DIR");
    let (ok, out, err) = run(c);
    assert!(ok, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document on stdout");
    assert_eq!(v["images"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(v["images"][0]["app"], "worker");
    assert_eq!(
        v["images"][0]["id"],
        format!("sha256:{}", m.inspect("worker", ".Id"))
    );
    assert!(
        err.contains(&format!(
            "goapp: config: {} (the nearest to ",
            m.dir.join("goapp.yaml").display()
        )),
        "-v names the config in force: {err}"
    );

    // A compile error in worker, built for two architectures: the failing
    // step once, the file by its repository path once, the summary last.
    let main = m.dir.join("services/worker/main.go");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, text.replace("fmt.Println(", "fmt.Printx(")).unwrap();
    let (ok, out, err) = m.make(".", &["image", "ARCH=amd64,arm64"]);
    assert!(!ok, "{out}");
    let all = format!("{out}{err}");
    assert_eq!(
        all.matches("services/worker/main.go:6:").count(),
        1,
        "named once, by its repository path:\n{err}"
    );
    assert!(
        err.contains("error: worker/amd64, worker/arm64: failed at STEP "),
        "{err}"
    );
    assert!(!all.contains("./main.go"), "{err}");
    assert!(!all.contains("Using cache"), "{err}");
    let last_error = err.lines().rfind(|l| l.starts_with("error: ")).unwrap();
    assert!(
        last_error.starts_with("error: 2 of 3 builds failed (worker/amd64, worker/arm64)"),
        "{err}"
    );
    assert!(out.contains(&format!("{worker}  FAILED after")), "{out}");
    assert!(
        out.trim_end().lines().last().unwrap().starts_with("total "),
        "{out}"
    );
    drop(m.guard);
}

/// The make wrapper's launcher says it is compiling before cargo runs (on a
/// first run, or after a source change) and says nothing when the build is
/// fresh. A recording `cargo` stands in: what is under test is the notice,
/// not cargo.
#[test]
fn the_make_wrapper_says_when_it_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("cargo"), "#!/bin/sh\necho \"cargo $*\"\n").unwrap();
    std::fs::set_permissions(
        bin.join("cargo"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let target = dir.path().join("target");
    let launch = |target: &Path| {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = Command::new(root().join("scripts/goapp"))
            .args(["image", "--all"])
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", target)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (out, err) = launch(&target);
    assert_eq!(
        err,
        "goapp: compiling goapp-build (first run; about a minute from scratch)...\n"
    );
    assert_eq!(
        out.trim(),
        format!(
            "cargo run -q --manifest-path {}/Cargo.toml -p xtask -- image --all",
            root().display()
        )
    );
    // A binary newer than every source: not a word.
    std::fs::create_dir_all(target.join("debug")).unwrap();
    std::fs::write(target.join("debug/xtask"), "").unwrap();
    std::fs::set_permissions(
        target.join("debug/xtask"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (_, err) = launch(&target);
    assert_eq!(err, "");
}
