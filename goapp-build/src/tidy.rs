//! Checks on the source itself, run as tests (as rust-analyzer's `tidy`):
//! each layer uses only the layers below it, and processes are started and
//! their failures worded in one place only.
//!
//! The layer check reads the code as the compiler does (`syn`), not as
//! text: every path in `use` trees (grouped ones included) and in the code,
//! `crate::…`, `super::…` resolved against the file's own module, and the
//! names `lib.rs` re-exports followed to the layer that defines them.
//! Comments and unit tests do not count. Each evasion it must catch is
//! planted in a test below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The layers, bottom first.
const LAYERS: [&str; 14] = [
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
    "commands",
    "json",
];

/// Every source file under `src/`, relative, with its text.
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
            (p.strip_prefix(&src).unwrap().to_path_buf(), text)
        })
        .collect()
}

/// The module path of a file: `ship/exec.rs` → `[ship, exec]`,
/// `ship/mod.rs` → `[ship]`, `lib.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

fn layer_index(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

/// Names `lib.rs` re-exports (`pub use crate::ship::{run as ship, …}`),
/// by the name they have at the crate's root, with their layer.
fn facade(lib: &str) -> BTreeMap<String, usize> {
    let file = syn::parse_file(lib).unwrap();
    let mut out = BTreeMap::new();
    for item in file.items {
        if let syn::Item::Use(u) = item {
            let mut paths = Vec::new();
            flatten(&u.tree, Vec::new(), &mut paths);
            for (path, alias) in paths {
                if path.first().is_some_and(|p| p == "crate") {
                    if let Some(layer) = path.get(1).and_then(|l| layer_index(l)) {
                        out.insert(alias, layer);
                    }
                }
            }
        }
    }
    out
}

/// Every path of a `use` tree, with the name it is bound to.
fn flatten(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut next = prefix;
            next.push(p.ident.to_string());
            flatten(&p.tree, next, out);
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix;
            path.push(n.ident.to_string());
            let name = n.ident.to_string();
            out.push((path, name));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix;
            path.push(r.ident.to_string());
            out.push((path, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix, "*".into())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten(t, prefix.clone(), out);
            }
        }
    }
}

/// Collects every path a file names: `use` trees and paths in the code,
/// leaving out `#[cfg(test)]` items.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl<'a> Visit<'a> for Paths {
    fn visit_item(&mut self, i: &'a syn::Item) {
        let attrs = match i {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(m) => &m.attrs,
            syn::Item::Use(u) => &u.attrs,
            _ => return syn::visit::visit_item(self, i),
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, i);
        }
    }

    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        let mut paths = Vec::new();
        flatten(&u.tree, Vec::new(), &mut paths);
        self.0.extend(paths.into_iter().map(|(p, _)| p));
    }

    fn visit_path(&mut self, p: &'a syn::Path) {
        self.0
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// The layer a path starting in module `here` reaches, if it names one:
/// `crate::ship::…`, `super::super::ship::…`, or a name of the facade.
fn reached(path: &[String], here: &[String], facade: &BTreeMap<String, usize>) -> Option<usize> {
    let mut at: Vec<String> = here.to_vec();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &path[1..];
        }
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                at.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => rest = &path[1..],
        _ => return None,
    }
    let first = match at.first() {
        Some(f) => f.clone(),
        None => rest.first()?.clone(),
    };
    layer_index(&first).or_else(|| at.is_empty().then(|| facade.get(&first).copied()).flatten())
}

/// The uses of layers above the file's own, as `file: layer uses layer`.
fn reaching_up(rel: &Path, text: &str, facade: &BTreeMap<String, usize>) -> Vec<String> {
    let here = module_of(rel);
    let Some(own) = here.first().and_then(|m| layer_index(m)) else {
        return Vec::new();
    };
    let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
    let mut paths = Paths::default();
    paths.visit_file(&file);
    let mut out: Vec<String> = paths
        .0
        .iter()
        .filter_map(|p| reached(p, &here, facade))
        .filter(|&used| used > own)
        .map(|used| format!("{}: {} uses {}", rel.display(), LAYERS[own], LAYERS[used]))
        .collect();
    out.dedup();
    out
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let all = sources();
    let lib = &all
        .iter()
        .find(|(r, _)| r == Path::new("lib.rs"))
        .unwrap()
        .1;
    let facade = facade(lib);
    let wrong: Vec<String> = all
        .iter()
        .flat_map(|(rel, text)| reaching_up(rel, text, &facade))
        .collect();
    assert!(
        wrong.is_empty(),
        "layers reaching up (move the code down, or pass the value in):\n{}",
        wrong.join("\n")
    );
}

/// The check catches what a text search missed: a name through the
/// facade, a grouped `use`, `super::super::`; and comments do not count.
#[test]
fn the_layer_check_sees_through_the_evasions() {
    let facade = facade("pub use crate::ship::{run as ship, ShipReport};\n");
    let check = |rel: &str, text: &str| reaching_up(Path::new(rel), text, &facade);
    assert_eq!(
        check(
            "build/x.rs",
            "use crate::ShipReport;\nfn f(_: ShipReport) {}\n"
        ),
        ["build/x.rs: build uses ship"]
    );
    assert_eq!(
        check("build/x.rs", "use crate::{core::arch::Arch, ship::plan};\n"),
        ["build/x.rs: build uses ship"]
    );
    assert_eq!(
        check(
            "build/run/x.rs",
            "fn f() { super::super::super::ship::run(); }\n"
        ),
        ["build/run/x.rs: build uses ship"]
    );
    assert_eq!(
        check(
            "build/x.rs",
            "fn f(r: &crate::ship::ShipReport) -> usize { r.failures() }\n"
        ),
        ["build/x.rs: build uses ship"]
    );
    assert!(check(
        "build/x.rs",
        "// crate::ship::run\nuse crate::core::arch::Arch;\nuse super::plan;\n"
    )
    .is_empty());
    assert!(check(
        "build/x.rs",
        "#[cfg(test)]\nmod tests { use crate::ship::plan; }\n"
    )
    .is_empty());
    assert!(check(
        "ship/x.rs",
        "use crate::build::Builder;\nuse super::super::build;\n"
    )
    .is_empty());
}

/// `code` up to its unit tests (`#[cfg(test)]` then `mod tests`).
fn without_tests(code: &str) -> String {
    let cut = code.match_indices("#[cfg(test)]\n").find(|(i, m)| {
        let next = code[i + m.len()..].lines().next().unwrap_or("");
        next.ends_with("mod tests {")
    });
    code[..cut.map_or(code.len(), |(i, _)| i)].to_string()
}

/// The engines' naming rules (`localhost/`, `docker.io/library/`, what
/// makes a first part a registry) live in the identity module alone:
/// nothing else takes an image name apart or puts one together.
#[test]
fn only_the_identity_module_knows_naming_rules() {
    for (rel, code) in sources()
        .into_iter()
        .filter(|(r, _)| r != Path::new("tidy.rs") && r != Path::new("core/names.rs"))
    {
        let code = without_tests(&code);
        for rule in [
            "\"localhost/",
            "== \"localhost\"",
            "\"docker.io/library",
            "\"library/",
        ] {
            assert!(
                !code.contains(rule),
                "{} knows an image naming rule ({rule}): ask core::names (ImageRef, stored_foreign, names_registry)",
                rel.display()
            );
        }
    }
}

/// What differs between engines is decided in `engine/` (a capability,
/// or an engine's method); the other layers never name a kind of engine,
/// so adding one is a change to `engine/` alone (docs/ARCHITECTURE.md).
#[test]
fn only_the_engine_layer_tells_engines_apart() {
    for (rel, code) in sources().into_iter().filter(|(r, _)| {
        r != Path::new("tidy.rs") && !r.starts_with("engine") && !r.ends_with("tests.rs")
    }) {
        let code = without_tests(&code);
        for kind in ["EngineKind::Podman", "EngineKind::Docker"] {
            assert!(
                !code.contains(kind),
                "{} tells engines apart ({kind}): ask engine::caps or an Engine method",
                rel.display()
            );
        }
    }
}

/// Publishers are handed the build side by the command layer: neither
/// makes a builder nor says how a stale image is treated.
#[test]
fn publishers_do_not_drive_the_builder() {
    for (rel, code) in sources()
        .into_iter()
        .filter(|(r, _)| r.starts_with("ship") || r.starts_with("push"))
    {
        let code = without_tests(&code);
        for word in ["Builder", "Policy::BuildIfStale", "Policy::PlanOnly"] {
            let used = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(word) && !l.contains("tar::Builder"));
            // The publisher says which policy its flags mean; the command
            // layer applies it. Only the `policy` functions name them.
            let policy_fn = word.starts_with("Policy") && code.contains("pub(crate) fn policy(");
            assert!(
                !used || policy_fn,
                "{} uses {word}: a publisher is handed the images (commands.rs makes the builder)",
                rel.display()
            );
        }
    }
}

#[test]
fn only_the_process_door_starts_processes() {
    for (rel, code) in sources()
        .into_iter()
        .filter(|(r, _)| r != Path::new("tidy.rs"))
    {
        let code = match code.find("#[cfg(test)]\nmod tests") {
            Some(i) => code[..i].to_string(),
            None => code,
        };
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
