//! Our own fixtures of the Dockerfile patterns of public Go repositories
//! (`tests/fixtures/corpus/NN-*`: each names the public file that showed
//! its pattern; the text is ours). Against the real podman:
//!
//! - every fixture is cross-compiled exactly when its pattern is safe (0
//!   crossed where cgo, an arch probe or a fixed GOARCH makes it unsafe);
//! - a rotating part of them is built for amd64 and arm64, run, changed,
//!   built and run again: each image prints what its source says (or, for
//!   the deliberate mistakes, is refused as one that cannot start);
//! - for a crossed fixture of that part, the arm64 binary built by
//!   cross-compiling is compared with the one built under emulation
//!   (`--no-cross-compile`): byte for byte the same program.
//!
//! `GOAPP_CORPUS=all` (or `03,21,…`) picks the fixtures to build instead
//! of the day's rotation.

mod support;
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::*;

/// One fixture and what its `expect.json` says.
struct Fixture {
    dir: PathBuf,
    name: String,
    expect: Value,
}

impl Fixture {
    fn safe(&self) -> bool {
        self.expect["safe"].as_bool().unwrap()
    }
    fn startable(&self) -> bool {
        self.expect["startable"].as_bool().unwrap_or(true)
    }
    /// `--build-arg K=V` for each build arg the pattern passes, but the
    /// ones the tool takes from the environment (MAIN_PKG_PATH).
    fn build_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.expect["build_args"].as_object() {
            for (k, v) in m.iter().filter(|(k, _)| *k != "MAIN_PKG_PATH") {
                out.push("--build-arg".into());
                out.push(format!("{k}={}", v.as_str().unwrap()));
            }
        }
        out
    }

    fn main_package(&self) -> Option<&str> {
        self.expect["build_args"]["MAIN_PKG_PATH"].as_str()
    }
    fn prints(&self, arch: &str, greeting: &str) -> String {
        self.expect["run"]["prints"]
            .as_str()
            .unwrap()
            .replace("{arch}", arch)
            .replace("hello", greeting)
    }
    fn image_args(&self) -> Vec<String> {
        self.expect["run"]["image_args"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }
    /// A copy the test may change.
    fn copy(&self, into: &Path) -> PathBuf {
        let to = into.join(&self.name);
        copy_dir(&self.dir, &to);
        to
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn all() -> Vec<Fixture> {
    let base = root().join("tests/fixtures/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("expect.json")).unwrap();
            Fixture {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                expect: serde_json::from_str(&text).unwrap(),
                dir,
            }
        })
        .collect()
}

/// Sets `const greeting = "…"` in the fixture's main file.
fn set_greeting(app: &Path, f: &Fixture, greeting: &str) {
    let file = f.expect["greeting_file"].as_str().unwrap_or("main.go");
    let p = app.join(file);
    let src = std::fs::read_to_string(&p).unwrap();
    let start = src
        .find("const greeting = ")
        .unwrap_or_else(|| panic!("{}: no greeting", p.display()));
    let end = start + src[start..].find('\n').unwrap();
    let new = format!(
        "{}const greeting = \"{greeting}\"{}",
        &src[..start],
        &src[end..]
    );
    std::fs::write(&p, new).unwrap();
}

/// The tool on a fixture copy, for amd64 and arm64, with the fixture's
/// build args and `extra`; (ok, stdout, stderr).
fn tool(
    app: &Path,
    cache: &Path,
    f: &Fixture,
    tag: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let mut c = xtask(app, cache);
    c.args(["image", "--engine", "podman", "--tag", tag])
        .args(["--go-version", &go_version()])
        .args(f.build_args())
        .args(extra);
    if let Some(m) = f.main_package() {
        c.env("MAIN_PKG_PATH", m);
    }
    run(c)
}

/// Whether the build is cross-compiled: no stage that builds Go is left
/// under emulation (the tool moved it, or the file put it on the build
/// platform itself).
fn crossed(stderr: &str) -> bool {
    !stderr.contains("under QEMU")
}

/// Safe fixtures end with no stage under emulation (the tool moved it, or
/// the file put it on the build platform itself); the tool never moves a
/// stage of an unsafe one.
#[test]
fn each_fixture_is_cross_compiled_exactly_when_it_is_safe() {
    let t = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    let (mut safe, mut safe_crossed) = (0, 0);
    for f in all() {
        let app = f.copy(t.path());
        let (ok, out, err) = tool(
            &app,
            &t.path().join("cache"),
            &f,
            "corpus/plan:1",
            &["--arch", "amd64,arm64", "--dry-run"],
        );
        assert!(ok, "{}: {out}\n{err}", f.name);
        let moved = err.contains("shim: builder stage moved");
        let c = crossed(&err);
        // Each decision is said, for the record of what the corpus holds.
        let why = err.lines().find(|l| l.contains("under QEMU")).unwrap_or("");
        eprintln!(
            "{}: safe={} crossed={c} moved={moved} {why}",
            f.name,
            f.safe()
        );
        if f.safe() {
            safe += 1;
            safe_crossed += c as usize;
            if !c {
                wrong.push(format!("{}: safe but left under emulation: {why}", f.name));
            }
        } else if moved {
            wrong.push(format!(
                "{}: unsafe but moved to the build platform",
                f.name
            ));
        }
    }
    eprintln!("corpus: {safe_crossed} of {safe} safe fixtures cross-compiled");
    let known = not_crossed();
    wrong.retain(|w| !known.iter().any(|k| w.starts_with(&format!("{k}:"))));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The safe fixtures the tool is known to leave under emulation
/// (`tests/fixtures/corpus/NOT_CROSSED`: a fixture's directory first on
/// each line, then why).
fn not_crossed() -> Vec<String> {
    std::fs::read_to_string(root().join("tests/fixtures/corpus/NOT_CROSSED"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

/// The fixtures to build this run: `GOAPP_CORPUS`, else four safe and two
/// unsafe ones, a different part each day.
fn rotation(all: Vec<Fixture>) -> Vec<Fixture> {
    if let Ok(pick) = std::env::var("GOAPP_CORPUS") {
        return all
            .into_iter()
            .filter(|f| pick == "all" || pick.split(',').any(|p| f.name.starts_with(p)))
            .collect();
    }
    let day = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as usize;
    let (safe, unsafe_): (Vec<Fixture>, Vec<Fixture>) = all.into_iter().partition(|f| f.safe());
    let pick = |v: Vec<Fixture>, n: usize| -> Vec<Fixture> {
        let len = v.len();
        v.into_iter()
            .enumerate()
            .filter(|(i, _)| (0..n).any(|k| (day * n + k) % len == *i))
            .map(|(_, f)| f)
            .collect()
    };
    let mut out = pick(safe, 4);
    out.extend(pick(unsafe_, 2));
    out
}

#[test]
fn a_rotating_part_builds_right_for_amd64_and_arm64() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let known = not_crossed();
    for f in rotation(all()) {
        let app = f.copy(t.path());
        let cache = t.path().join(format!("cache-{}", f.name));
        let tag = format!("goapp-it/{}:1", unique("corpus-"));
        let images: Vec<String> = ["amd64", "arm64"]
            .iter()
            .map(|a| format!("{tag}-{a}"))
            .collect();
        let _guard = ImageGuard {
            program: "podman",
            images: images.clone(),
        };
        let fresh = unique("hi");
        for greeting in ["hello", fresh.as_str()] {
            set_greeting(&app, &f, greeting);
            let (ok, out, err) = tool(&app, &cache, &f, &tag, &["--arch", "amd64,arm64"]);
            if !f.startable() {
                assert!(!ok, "{}: a mistake was called built:\n{out}\n{err}", f.name);
                assert!(out.contains("CANNOT START"), "{}: {out}\n{err}", f.name);
                assert!(err.contains("cannot start:"), "{}: {err}", f.name);
                break;
            }
            assert!(ok, "{}: build failed:\n{out}\n{err}", f.name);
            let want_crossed = f.safe() && !known.contains(&f.name);
            assert_eq!(crossed(&err), want_crossed, "{}: {err}", f.name);
            for (image, arch) in images.iter().zip(["amd64", "arm64"]) {
                let mut args = vec!["run", "--rm", "--arch", arch, image.as_str()];
                let extra = f.image_args();
                args.extend(extra.iter().map(String::as_str));
                let printed = engine("podman", &args);
                let want = f.prints(arch, greeting);
                assert!(
                    printed.contains(&want),
                    "{} {arch}: printed {printed:?}, want {want:?}",
                    f.name
                );
            }
        }
    }
}

/// The program a cross-compiling builder made is the one the emulated
/// builder makes: the arm64 binary of a crossed fixture, built both ways,
/// compared byte for byte.
#[test]
fn a_crossed_binary_is_the_emulated_one() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let known = not_crossed();
    let picked: Vec<Fixture> = rotation(all())
        .into_iter()
        .filter(|f| f.safe() && f.startable() && !known.contains(&f.name))
        .take(1)
        .collect();
    assert!(
        !picked.is_empty(),
        "the rotation holds a crossed safe fixture"
    );
    for f in picked {
        let app = f.copy(t.path());
        let cache = t.path().join("cache");
        let crossed_tag = format!("goapp-it/{}:1", unique("cross-"));
        let emulated_tag = format!("goapp-it/{}:1", unique("emul-"));
        let _guard = ImageGuard {
            program: "podman",
            images: vec![
                format!("{crossed_tag}-arm64"),
                format!("{emulated_tag}-arm64"),
            ],
        };
        let (ok, out, err) = tool(&app, &cache, &f, &crossed_tag, &["--arch", "arm64"]);
        assert!(
            ok && crossed(&err) && err.contains("shim: builder stage moved"),
            "{}: {out}\n{err}",
            f.name
        );
        let (ok, out, err) = tool(
            &app,
            &cache,
            &f,
            &emulated_tag,
            &["--arch", "arm64", "--no-cross-compile"],
        );
        assert!(ok && !crossed(&err), "{}: {out}\n{err}", f.name);
        let a = entrypoint_binary(&format!("{crossed_tag}-arm64"));
        let b = entrypoint_binary(&format!("{emulated_tag}-arm64"));
        assert!(a.len() > 100_000, "{}: {} bytes", f.name, a.len());
        let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a == b,
            "{}: the crossed arm64 binary ({} bytes) differs from the emulated one ({} bytes) first at byte {first_diff:?}",
            f.name,
            a.len(),
            b.len()
        );
        eprintln!(
            "{}: crossed and emulated arm64 binaries are identical ({} bytes)",
            f.name,
            a.len()
        );
    }
}

/// The bytes of the program an image's ENTRYPOINT (or CMD) runs, read
/// from the mounted image (root podman).
fn entrypoint_binary(image: &str) -> Vec<u8> {
    let fmt = "{{if .Config.Entrypoint}}{{index .Config.Entrypoint 0}}{{else}}{{index .Config.Cmd 0}}{{end}}";
    let program = engine("podman", &["image", "inspect", "--format", fmt, image]);
    let program = program.trim();
    let mount = engine("podman", &["image", "mount", image]);
    let root = PathBuf::from(mount.trim());
    let mut path = if program.starts_with('/') {
        program.to_string()
    } else {
        ["/usr/local/bin", "/usr/bin", "/bin", "/app"]
            .iter()
            .map(|d| format!("{d}/{program}"))
            .find(|p| root.join(p.trim_start_matches('/')).exists())
            .unwrap_or_else(|| panic!("{image}: {program} not found on PATH"))
    };
    // Follow links inside the image, not on the host.
    for _ in 0..8 {
        let p = root.join(path.trim_start_matches('/'));
        match std::fs::read_link(&p) {
            Ok(t) if t.is_absolute() => path = t.display().to_string(),
            Ok(t) => {
                path = Path::new(&path)
                    .parent()
                    .unwrap()
                    .join(t)
                    .display()
                    .to_string()
            }
            Err(_) => break,
        }
    }
    let bytes = std::fs::read(root.join(path.trim_start_matches('/'))).unwrap();
    engine("podman", &["image", "unmount", image]);
    bytes
}
