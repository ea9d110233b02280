//! Checks on the source itself, run as tests (as rust-analyzer's `tidy`):
//! each layer uses only the layers below it, and processes are started and
//! their failures worded in one place only.

use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: [&str; 13] = [
    "core",
    "process",
    "engine",
    "config",
    "go",
    "session",
    "containerfile",
    "build",
    "push",
    "ship",
    "doctor",
    "init",
    "json",
];

/// Every source file under `src/` and its text up to its unit tests.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            (p.strip_prefix(&src).unwrap().to_path_buf(), code)
        })
        .collect()
}

fn layer_of(rel: &Path) -> Option<usize> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().position(|l| *l == name)
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (rel, code) in sources() {
        let Some(own) = layer_of(&rel) else { continue };
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + 7..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(used) = LAYERS.iter().position(|l| *l == name) {
                if used > own {
                    wrong.push(format!("{}: {} uses {name}", rel.display(), LAYERS[own]));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "layers reaching up (move the code down, or pass the value in):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn only_the_process_door_starts_processes() {
    for (rel, code) in sources()
        .into_iter()
        .filter(|(r, _)| r != Path::new("tidy.rs"))
    {
        let door = rel == Path::new("process/exec.rs");
        let words = rel == Path::new("process/error.rs");
        let spawns = code.contains("Command::new") || code.contains(".spawn()");
        assert!(
            door || !spawns,
            "{} starts a process itself: build a Cmd and use Cmd::spawn/run",
            rel.display()
        );
        assert!(
            words || !code.contains("didn't exit successfully"),
            "{} words a process failure itself: return the ProcessError",
            rel.display()
        );
    }
}
