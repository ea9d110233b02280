//! What the `RUN` steps of a stage execute, command by command, with the
//! directory and environment each command sees: `WORKDIR`, `cd`, `ENV`,
//! `ARG` (with the build args given), `export`, inline assignments. A
//! `make` or a script from the build context is followed into its commands
//! (the Makefile or script is read where the file put it: a `COPY` from the
//! context, or a bind mount of it), so a `go build` two files away is seen
//! as well as one on the `RUN` line.

use crate::containerfile::cgo::{assignments, run_text};
use crate::containerfile::mountflags::join;
use crate::containerfile::mounts::MountKind;
use crate::containerfile::shell::{self, SimpleCmd};
use crate::containerfile::{parse_json_array, Containerfile, Instruction, Stage};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Files of the build context, read by path relative to it.
pub(crate) trait Files: std::fmt::Debug {
    /// A text file's content, if it is one.
    fn read(&self, rel: &str) -> Option<String>;
    /// Whether the path is a directory.
    fn is_dir(&self, rel: &str) -> bool;
    /// Whether anything is at the path.
    fn exists(&self, rel: &str) -> bool {
        self.is_dir(rel) || self.read(rel).is_some()
    }
}

/// The build context on disk.
#[derive(Debug)]
pub(crate) struct ContextDir<'a>(pub &'a Path);

impl ContextDir<'_> {
    /// The path, when it stays inside the context.
    fn path(&self, rel: &str) -> Option<PathBuf> {
        let rel = Path::new(rel);
        rel.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            .then(|| self.0.join(rel))
    }
}

impl Files for ContextDir<'_> {
    fn read(&self, rel: &str) -> Option<String> {
        let p = self.path(rel)?;
        let meta = std::fs::metadata(&p).ok()?;
        // Makefiles and scripts are small; anything else is not followed.
        if !meta.is_file() || meta.len() > 1 << 20 {
            return None;
        }
        std::fs::read_to_string(p).ok()
    }

    fn is_dir(&self, rel: &str) -> bool {
        self.path(rel).is_some_and(|p| p.is_dir())
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel)
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok())
    }
}

/// No context: nothing can be followed.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct NoFiles;

#[cfg(test)]
impl Files for NoFiles {
    fn read(&self, _: &str) -> Option<String> {
        None
    }
    fn is_dir(&self, _: &str) -> bool {
        false
    }
}

/// The variables a command sees, values as far as the file gives them
/// (a value with a `$` in it is not fully known).
pub(crate) type Env = BTreeMap<String, String>;

/// One command a stage runs.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    /// Index of the `RUN` in [`Containerfile::instructions`].
    pub at: usize,
    /// Its line in the Containerfile.
    pub line: usize,
    /// Where the command is written, when not on the `RUN` line itself
    /// (`Makefile:14`, `scripts/build.sh`).
    pub origin: Option<String>,
    /// The command, words as the shell passes them (variables not expanded).
    pub cmd: SimpleCmd,
    /// The directory it runs in, when known.
    pub cwd: Option<String>,
    /// Its environment, its own assignments included.
    pub env: Env,
}

impl Step {
    /// `line 12` or `line 12 (Makefile:8)`, for messages.
    pub(crate) fn place(&self) -> String {
        match &self.origin {
            Some(o) => format!("line {} ({o})", self.line),
            None => format!("line {}", self.line),
        }
    }

    /// A word with the variables the environment knows substituted.
    pub(crate) fn expand(&self, word: &str) -> String {
        expand(word, &self.env)
    }
}

/// A `make` or script the steps could not be followed into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unfollowed {
    /// Its `RUN` line.
    pub line: usize,
    /// What and why.
    pub why: String,
}

/// Every command of a stage, and what could not be followed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Steps {
    /// In order.
    pub steps: Vec<Step>,
    /// Makes and scripts not followed.
    pub unfollowed: Vec<Unfollowed>,
}

/// What reading a stage needs besides the file.
pub(crate) struct Reader<'a> {
    /// The build context.
    pub files: &'a dyn Files,
    /// Build args passed (the config's, `--build-arg`s, the tool's own).
    pub build_args: &'a BTreeMap<String, String>,
    /// Variables set, from this instruction index on, by an inserted `ENV`
    /// (the cross-compile shim's).
    pub inserted: Option<(usize, Env)>,
}

/// Where the context's files are in the container.
#[derive(Clone, Debug)]
struct Mapping {
    /// An absolute container path.
    dest: String,
    /// A path relative to the context (`""`: its root).
    src: String,
    /// `dest` holds `src`'s contents (a directory).
    dir: bool,
}

/// The commands stage `k` runs.
pub(crate) fn of_stage(file: &Containerfile, stages: &[Stage], k: usize, r: &Reader) -> Steps {
    let mut state = State::for_stage(file, stages, k, r);
    let mut out = Steps::default();
    let st = &stages[k];
    for at in st.from + 1..st.end {
        let ins = &file.instructions[at];
        state.apply(ins, r);
        if ins.keyword != "RUN" {
            continue;
        }
        let mut env = state.env.clone();
        if let Some((from, vars)) = &r.inserted {
            if at >= *from {
                env.extend(vars.clone());
            }
        }
        let mut maps = state.maps.clone();
        maps.extend(bind_mappings(ins, state.cwd.as_deref()));
        let mut w = Walker {
            files: r.files,
            maps: &maps,
            at,
            line: ins.line,
            out: &mut out,
        };
        w.script(&run_script(ins), state.cwd.clone(), env, None, 0);
    }
    out
}

/// The shell text a `RUN` executes: its arguments, the `sh -c` of an exec
/// form, or a heredoc fed to the shell.
fn run_script(ins: &Instruction) -> String {
    if let Some(words) = parse_json_array(&ins.args) {
        return match words.as_slice() {
            [sh, c, script, ..] if is_shell(sh) && c == "-c" => script.clone(),
            _ => shlex::try_join(words.iter().map(String::as_str)).unwrap_or_default(),
        };
    }
    let args: Vec<&str> = ins
        .args
        .split_whitespace()
        .filter(|w| !w.starts_with("<<"))
        .collect();
    if ins.heredocs.is_empty() {
        return ins.args.clone();
    }
    // `RUN <<EOF` and `RUN sh <<EOF` run the body as a script; `RUN python3
    // <<EOF` feeds it to another program, whose text only the probes read.
    match args.as_slice() {
        [] => run_text(ins).lines().skip(1).collect::<Vec<_>>().join("\n"),
        [sh, ..] if is_shell(sh) => ins
            .heredocs
            .iter()
            .map(|h| h.body.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => args.join(" "),
    }
}

fn is_shell(word: &str) -> bool {
    matches!(
        word.rsplit('/').next(),
        Some("sh" | "bash" | "ash" | "dash" | "zsh")
    )
}

/// The stage's state as its instructions go by.
struct State {
    env: Env,
    cwd: Option<String>,
    maps: Vec<Mapping>,
    /// ARGs declared, with their values.
    args: Env,
}

impl State {
    /// The state at the start of stage `k`: a parent stage's `ENV`,
    /// `WORKDIR` and copies of the context.
    fn for_stage(file: &Containerfile, stages: &[Stage], k: usize, r: &Reader) -> State {
        let st = &stages[k];
        let base = file.resolved_base(st).to_lowercase();
        let parent = stages[..k]
            .iter()
            .rposition(|s| s.name.as_deref() == Some(base.as_str()));
        let mut state = match parent {
            Some(p) => {
                let mut s = State::for_stage(file, stages, p, r);
                for ins in &file.instructions[stages[p].from + 1..stages[p].end] {
                    s.apply(ins, r);
                }
                s.args.clear();
                s
            }
            None => State {
                env: Env::new(),
                // The official Go images (and ours) work in /go, their GOPATH.
                cwd: base.contains("golang").then(|| "/go".to_string()),
                maps: Vec::new(),
                args: Env::new(),
            },
        };
        if base.contains("golang") {
            state.env.entry("GOPATH".into()).or_insert("/go".into());
        }
        state
    }

    fn apply(&mut self, ins: &Instruction, r: &Reader) {
        match ins.keyword.as_str() {
            "WORKDIR" => {
                let w = expand(ins.args.trim().trim_matches('"'), &self.env);
                self.cwd = if w.contains('$') {
                    None
                } else {
                    self.cwd.as_deref().or(Some("/")).map(|d| join(d, &w))
                };
            }
            "ENV" => {
                for (k, v) in assignments(ins) {
                    let v = expand(&v.unwrap_or_default(), &self.env);
                    self.env.insert(k, v);
                }
            }
            "ARG" => {
                for (k, default) in assignments(ins) {
                    let value = r.build_args.get(&k).cloned().or(default);
                    if let Some(v) = value {
                        self.env.entry(k.clone()).or_insert_with(|| v.clone());
                        self.args.insert(k, v);
                    }
                }
            }
            "COPY" | "ADD" if ins.flag("from").is_none() => {
                self.maps
                    .extend(copy_mappings(ins, self.cwd.as_deref(), r.files));
            }
            _ => {}
        }
    }
}

/// What a `COPY`/`ADD` from the context puts where.
fn copy_mappings(ins: &Instruction, cwd: Option<&str>, files: &dyn Files) -> Vec<Mapping> {
    let words = parse_json_array(&ins.args)
        .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
    let Some((dest, sources)) = words.split_last() else {
        return Vec::new();
    };
    let dest_is_dir = dest.ends_with('/') || sources.len() > 1 || dest == "." || dest == "./";
    let Some(dest) = absolute(cwd, dest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for src in sources {
        if src.contains("://") || src.contains(['*', '?', '[']) || src.contains('$') {
            continue;
        }
        let rel = normalize_rel(src);
        if rel.is_empty() || files.is_dir(&rel) {
            out.push(Mapping {
                dest: dest.clone(),
                src: rel,
                dir: true,
            });
        } else if dest_is_dir {
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            out.push(Mapping {
                dest: join(&dest, name),
                src: rel.clone(),
                dir: false,
            });
        } else {
            out.push(Mapping {
                dest: dest.clone(),
                src: rel,
                dir: false,
            });
        }
    }
    out
}

/// The context bind mounts of a `RUN`.
fn bind_mappings(ins: &Instruction, cwd: Option<&str>) -> Vec<Mapping> {
    ins.typed_mounts()
        .into_iter()
        .filter(|m| m.kind == MountKind::Bind && m.from.is_none())
        .filter_map(|m| {
            let dest = absolute(cwd, m.target.as_deref()?)?;
            let src = normalize_rel(m.source.as_deref().unwrap_or("."));
            Some(Mapping {
                dest,
                src,
                dir: true,
            })
        })
        .collect()
}

/// `dir/../x/.` → `x`; relative to the context root.
fn normalize_rel(p: &str) -> String {
    join("/", p).trim_start_matches('/').to_string()
}

/// A container path made absolute against the working directory.
fn absolute(cwd: Option<&str>, p: &str) -> Option<String> {
    if p.contains('$') {
        return None;
    }
    match (p.starts_with('/'), cwd) {
        (true, _) => Some(join("/", p)),
        (false, Some(d)) => Some(join(d, p)),
        (false, None) => None,
    }
}

/// Substitutes `$NAME`, `${NAME}` and `${NAME:-default}` from `env`;
/// unknown references stay as written.
pub(crate) fn expand(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, default, len) = if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                Some(end) => {
                    let inner = &body[..end];
                    let (n, d) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner, None),
                    };
                    (n, d, end + 2)
                }
                None => ("", None, 0),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], None, n)
        };
        let value = (!name.is_empty())
            .then(|| env.get(name).filter(|v| !v.is_empty()).cloned())
            .flatten()
            .or_else(|| default.map(str::to_string));
        match value {
            Some(v) if len > 0 => out.push_str(&v),
            _ => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The command substitutions a path to `cd` into is commonly made of:
/// `$(dirname P)`, `$(basename P)`, `$(pwd)`; others stay as written.
fn substitute(word: &str, cwd: Option<&str>) -> String {
    let mut out = word.to_string();
    while let Some(start) = out.find("$(") {
        let Some(len) = out[start..].find(')') else {
            break;
        };
        let inner = out[start + 2..start + len].trim().to_string();
        let words = shlex::split(&inner).unwrap_or_default();
        let value = match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["dirname", p] => crate::containerfile::cross::outputs::parent(p),
            ["basename", p] => p.rsplit('/').next().unwrap_or(p).to_string(),
            ["pwd"] => match cwd {
                Some(d) => d.to_string(),
                None => break,
            },
            _ => break,
        };
        out.replace_range(start..start + len + 1, &value);
    }
    out
}

/// Walks commands, following makes and scripts.
struct Walker<'a> {
    files: &'a dyn Files,
    maps: &'a [Mapping],
    at: usize,
    line: usize,
    out: &'a mut Steps,
}

impl Walker<'_> {
    /// Where a container path is in the context.
    fn in_context(&self, path: &str) -> Option<String> {
        self.maps.iter().rev().find_map(|m| {
            if path == m.dest {
                return Some(m.src.clone());
            }
            let under = path.strip_prefix(&m.dest)?.strip_prefix('/')?;
            m.dir.then(|| normalize_rel(&format!("{}/{under}", m.src)))
        })
    }

    fn script(
        &mut self,
        text: &str,
        mut cwd: Option<String>,
        mut env: Env,
        origin: Option<String>,
        depth: usize,
    ) {
        for cmd in shell::commands(text) {
            if cmd.words.is_empty() {
                for (k, v) in &cmd.assigns {
                    let v = expand(v, &env);
                    env.insert(k.clone(), v);
                }
                continue;
            }
            let mut step_env = env.clone();
            for (k, v) in &cmd.assigns {
                step_env.insert(k.clone(), expand(v, &env));
            }
            match cmd.words[0].as_str() {
                "cd" => {
                    let to = cmd
                        .words
                        .get(1)
                        .map(|d| substitute(&expand(d, &env), cwd.as_deref()));
                    cwd = match to.as_deref() {
                        None | Some("~") => Some("/root".into()),
                        Some(d) => absolute(cwd.as_deref(), d),
                    };
                }
                "export" => {
                    for w in &cmd.words[1..] {
                        if let Some((k, v)) = w.split_once('=') {
                            let v = expand(v, &env);
                            env.insert(k.to_string(), v);
                        }
                    }
                }
                _ => {}
            }
            let step = Step {
                at: self.at,
                line: self.line,
                origin: origin.clone(),
                cmd: cmd.clone(),
                cwd: cwd.clone(),
                env: step_env,
            };
            if depth < 4 {
                self.follow(&step, depth);
            }
            self.out.steps.push(step);
        }
    }

    /// Follows `make …` and scripts of the context into their commands.
    fn follow(&mut self, step: &Step, depth: usize) {
        let words: Vec<String> = step.cmd.words.iter().map(|w| step.expand(w)).collect();
        match step.cmd.program() {
            Some("make" | "gmake") => self.make(step, &words[1..], depth),
            Some(p) if is_shell(p) => {
                let script = words[1..].iter().find(|w| !w.starts_with('-'));
                if let Some(s) = script.filter(|_| !words.iter().any(|w| w == "-c")) {
                    self.run_script_file(step, s, depth);
                }
            }
            _ if words[0].contains('/') => self.run_script_file(step, &words[0], depth),
            _ => {}
        }
    }

    fn run_script_file(&mut self, step: &Step, path: &str, depth: usize) {
        let Some(rel) = absolute(step.cwd.as_deref(), path).and_then(|p| self.in_context(&p))
        else {
            return; // a program of the image, not a script of the context
        };
        if let Some(text) = self.files.read(&rel) {
            let mut env = step.env.clone();
            // `$0` is the script's own path: `cd "$(dirname "$0")/.."` works.
            if let Some(p) = absolute(step.cwd.as_deref(), path) {
                env.insert("0".into(), p);
            }
            self.script(&text, step.cwd.clone(), env, Some(rel), depth + 1);
        }
    }

    /// Follows `make ARGS` into the recipe lines it would run.
    fn make(&mut self, step: &Step, args: &[String], depth: usize) {
        let call = MakeCall::parse(step.cwd.clone(), args);
        let Some((rel, text)) = self.makefile(&call) else {
            let why = format!("line {} runs `{}`, and its Makefile is not a file of the build context that the stage copies or mounts, so what it runs cannot be read", self.line, step.cmd.raw);
            self.unfollowed(why);
            return;
        };
        let env = step.env.clone();
        let run =
            match crate::containerfile::makefile::run(&text, &call.goals, &call.overrides, &|n| {
                env.get(n).cloned()
            }) {
                Ok(run) => run,
                Err(e) => {
                    let why = format!("line {} runs `{}`: {rel}: {e}", self.line, step.cmd.raw);
                    self.unfollowed(why);
                    return;
                }
            };
        let mut env = step.env.clone();
        env.extend(run.exported);
        for l in run.lines {
            // Every recipe line is a shell of its own, in make's directory.
            self.script(
                &l.text,
                call.dir.clone(),
                env.clone(),
                Some(format!("{rel}:{}", l.line)),
                depth + 1,
            );
        }
    }

    /// The Makefile `call` reads, as (its path in the context, its text):
    /// the first of make's names that is a file of the context.
    fn makefile(&self, call: &MakeCall) -> Option<(String, String)> {
        let names: Vec<String> = match &call.makefile {
            Some(f) => vec![f.clone()],
            None => ["GNUmakefile", "makefile", "Makefile"]
                .map(String::from)
                .to_vec(),
        };
        names.iter().find_map(|n| {
            let rel = absolute(call.dir.as_deref(), n).and_then(|p| self.in_context(&p))?;
            Some((rel.clone(), self.files.read(&rel)?))
        })
    }

    /// Records that this line's commands could not be followed, and why.
    fn unfollowed(&mut self, why: String) {
        self.out.unfollowed.push(Unfollowed {
            line: self.line,
            why,
        });
    }
}

/// What a `make` command line asks for.
struct MakeCall {
    /// The directory make runs in (`-C`, against the step's), if known.
    dir: Option<String>,
    /// The Makefile named with `-f`.
    makefile: Option<String>,
    /// The goals, in order (none: the default goal).
    goals: Vec<String>,
    /// `NAME=value` arguments.
    overrides: Vec<(String, String)>,
}

impl MakeCall {
    /// Reads make's arguments, for a step run in `cwd`; options that do
    /// not change what runs are skipped (with their values).
    fn parse(cwd: Option<String>, args: &[String]) -> MakeCall {
        let mut call = MakeCall {
            dir: cwd,
            makefile: None,
            goals: Vec::new(),
            overrides: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-C" | "--directory" => {
                    call.dir = it.next().and_then(|d| absolute(call.dir.as_deref(), d));
                }
                "-f" | "--file" | "--makefile" => call.makefile = it.next().cloned(),
                "-j" | "-l" | "-o" | "-W" | "-I" => {
                    it.next();
                }
                a if a.starts_with("-C") => call.dir = absolute(call.dir.as_deref(), &a[2..]),
                a if a.starts_with("-f") => call.makefile = Some(a[2..].to_string()),
                a if a.starts_with('-') => {}
                a => match a.split_once('=') {
                    Some((k, v)) => call.overrides.push((k.to_string(), v.to_string())),
                    None => call.goals.push(a.to_string()),
                },
            }
        }
        call
    }
}

/// Where the module that holds container directory `dir` is, as the
/// context shows it: `(import path of dir)`, from the go.mod found walking up.
pub(crate) fn import_path(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    step_at: usize,
    dir: &str,
    files: &dyn Files,
) -> Option<String> {
    let ins = &file.instructions[step_at];
    let r = Reader {
        files,
        build_args: &BTreeMap::new(),
        inserted: None,
    };
    let mut state = State::for_stage(file, stages, k, &r);
    for i in &file.instructions[stages[k].from + 1..step_at] {
        state.apply(i, &r);
    }
    let mut maps = state.maps.clone();
    maps.extend(bind_mappings(ins, state.cwd.as_deref()));
    let mut sink = Steps::default();
    let w = Walker {
        files,
        maps: &maps,
        at: step_at,
        line: ins.line,
        out: &mut sink,
    };
    let rel = w.in_context(dir)?;
    module_import_path(files, &rel)
}

/// The import path of context directory `rel`: the module path of the
/// nearest go.mod at or above it, with the directories below that go.mod.
fn module_import_path(files: &dyn Files, rel: &str) -> Option<String> {
    let mut up = rel.to_string();
    let mut below: Vec<String> = Vec::new();
    loop {
        let gomod = if up.is_empty() {
            "go.mod".to_string()
        } else {
            format!("{up}/go.mod")
        };
        if let Some(module) = files
            .read(&gomod)
            .and_then(|t| crate::containerfile::gocmd::module_path(&t))
        {
            below.reverse();
            let mut p = module;
            for b in below {
                p = format!("{p}/{b}");
            }
            return Some(p);
        }
        if up.is_empty() {
            return None;
        }
        match up.rsplit_once('/') {
            Some((parent, last)) => {
                below.push(last.to_string());
                up = parent.to_string();
            }
            None => {
                below.push(up.clone());
                up.clear();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An in-memory context.
    #[derive(Debug)]
    pub(crate) struct Mem(pub Vec<(&'static str, &'static str)>);

    impl Files for Mem {
        fn read(&self, rel: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(p, _)| *p == rel)
                .map(|(_, t)| t.to_string())
        }
        fn is_dir(&self, rel: &str) -> bool {
            self.0
                .iter()
                .any(|(p, _)| p.starts_with(&format!("{rel}/")))
        }
    }

    fn steps(text: &str, files: &Mem) -> Steps {
        let file = Containerfile::parse(text).unwrap();
        let stages = file.stages();
        let args = BTreeMap::from([("MAIN_PKG_PATH".to_string(), "./cmd/api".to_string())]);
        of_stage(
            &file,
            &stages,
            0,
            &Reader {
                files,
                build_args: &args,
                inserted: None,
            },
        )
    }

    #[test]
    fn workdir_cd_env_and_args() {
        let s = steps(
            "FROM golang AS b\nARG MAIN_PKG_PATH\nENV OUT=/app\nWORKDIR /app/src\nRUN cd sub && export X=1 && go build -o ../bin ${MAIN_PKG_PATH}\n",
            &Mem(vec![]),
        );
        let go = s
            .steps
            .iter()
            .find(|s| s.cmd.program() == Some("go"))
            .unwrap();
        assert_eq!(go.cwd.as_deref(), Some("/app/src/sub"));
        assert_eq!(go.env.get("X").map(String::as_str), Some("1"));
        assert_eq!(go.expand("${MAIN_PKG_PATH}"), "./cmd/api");
        assert_eq!(go.expand("$OUT/x ${NOPE:-d} $NOPE"), "/app/x d $NOPE");
    }

    #[test]
    fn make_and_scripts_are_followed_where_the_context_is() {
        let files = Mem(vec![
            ("Makefile", "build:\n\t./scripts/build.sh\n"),
            (
                "scripts/build.sh",
                "#!/bin/sh\nset -e\ngo build -o bin/app ./cmd/app\n",
            ),
            ("go.mod", "module example.com/svc/v2\n"),
        ]);
        let s = steps(
            "FROM golang\nWORKDIR /src\nCOPY . .\nRUN make build\n",
            &files,
        );
        let go = s
            .steps
            .iter()
            .find(|s| s.cmd.program() == Some("go"))
            .unwrap();
        assert_eq!(go.origin.as_deref(), Some("scripts/build.sh"));
        assert_eq!(go.cwd.as_deref(), Some("/src"));
        assert!(s.unfollowed.is_empty());
        let file =
            Containerfile::parse("FROM golang\nWORKDIR /src\nCOPY . .\nRUN make build\n").unwrap();
        assert_eq!(
            import_path(&file, &file.stages(), 0, 3, "/src/cmd/app", &files).as_deref(),
            Some("example.com/svc/v2/cmd/app")
        );
        let s = steps(
            "FROM golang\nWORKDIR /src\nCOPY go.mod .\nRUN make\n",
            &files,
        );
        assert!(
            s.unfollowed[0]
                .why
                .contains("its Makefile is not a file of the build context"),
            "{:?}",
            s.unfollowed
        );
        let s = steps(
            "FROM golang\nRUN --mount=type=bind,target=/w cd /w && make build\n",
            &files,
        );
        assert!(s.steps.iter().any(|s| s.cmd.program() == Some("go")));
    }
}
