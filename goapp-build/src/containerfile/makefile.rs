//! Enough of GNU make to follow `make build` to the commands it runs: the
//! variables (`=`, `:=`, `::=`, `?=`, `+=`, `export`, `override`), the rules
//! and their prerequisites, the default goal, and expansion (`$(VAR)`,
//! `${VAR}`, `$@`, `$$`). A `$(shell …)` is kept as written so that a
//! machine probe hidden in a variable (`ARCH ?= $(shell uname -m)`) is seen
//! where a followed recipe uses it — and not where the environment already
//! gives the variable (`GOARCH ?= …` under `ENV GOARCH=…`).

use std::collections::BTreeMap;

/// One recipe line to run, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecipeLine {
    /// 1-based line in the Makefile.
    pub line: usize,
    /// The shell text, expanded.
    pub text: String,
}

/// What `make <goals>` runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Run {
    /// The recipe lines, prerequisites first.
    pub lines: Vec<RecipeLine>,
    /// Variables the Makefile exports into the recipes' environment.
    pub exported: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
struct Var {
    value: String,
    /// `?=`: only when neither the environment nor the command line sets it.
    conditional: bool,
    exported: bool,
}

#[derive(Clone, Debug)]
struct Rule {
    prereqs: Vec<String>,
    recipe: Vec<(usize, String)>,
}

/// A parsed Makefile.
#[derive(Clone, Debug, Default)]
pub(crate) struct Makefile {
    vars: BTreeMap<String, Var>,
    rules: BTreeMap<String, Rule>,
    default_goal: Option<String>,
}

/// What `make goals` runs in a Makefile of `text`, with `overrides`
/// (`make VAR=value`) and the environment `env` (a variable set there wins
/// over `?=`, and conditions see it).
pub(crate) fn run(
    text: &str,
    goals: &[String],
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Run, String> {
    Makefile::parse(text, overrides, env)?.run(goals, overrides, env)
}

/// The line without its leading `export` and `override` words, and whether
/// `export` was one of them.
fn modifiers(line: &str) -> (&str, bool) {
    let mut rest = line;
    let mut exported = false;
    loop {
        if let Some(r) = rest.strip_prefix("export ") {
            exported = true;
            rest = r.trim_start();
        } else if let Some(r) = rest.strip_prefix("override ") {
            rest = r.trim_start();
        } else {
            return (rest, exported);
        }
    }
}

/// `NAME op value` as (name, operator, value), the operator one of `=`,
/// `:=` (also for `::=`), `?=` and `+=`; None when the line is no variable
/// assignment.
fn assignment(rest: &str) -> Option<(String, &'static str, String)> {
    let eq = rest.find('=')?;
    let colon = rest.find(':');
    if colon
        .is_some_and(|c| c < eq && !rest[c..].starts_with(":=") && !rest[c..].starts_with("::="))
    {
        return None; // a rule (or a target-specific variable)
    }
    let (name, op) = match &rest[..eq] {
        n if n.ends_with("::") => (&n[..n.len() - 2], ":="),
        n if n.ends_with(':') => (&n[..n.len() - 1], ":="),
        n if n.ends_with('?') => (&n[..n.len() - 1], "?="),
        n if n.ends_with('+') => (&n[..n.len() - 1], "+="),
        n => (n, "="),
    };
    let name = name.trim().to_string();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some((name, op, rest[eq + 1..].trim().to_string()))
}

/// One open `ifeq`/`ifdef`: whether its lines count now, and whether a
/// branch of it already did.
struct Cond {
    active: bool,
    taken: bool,
}

impl Makefile {
    /// Parses the text (continuations joined, comments dropped), with its
    /// conditionals evaluated as make does while reading.
    fn parse(
        text: &str,
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Makefile, String> {
        let mut m = Makefile::default();
        let mut current: Vec<String> = Vec::new();
        let mut conds: Vec<Cond> = Vec::new();
        for (line_no, line) in logical_lines(text) {
            let live = conds.iter().all(|c| c.active);
            if !line.starts_with('\t') {
                let trimmed = strip_comment(&line).trim().to_string();
                let x = Expander {
                    m: &m,
                    overrides,
                    env,
                };
                if conditional(&trimmed, &mut conds, live, &x)
                    .map_err(|e| format!("Makefile:{line_no}: {e}"))?
                {
                    continue;
                }
            }
            if !live {
                continue;
            }
            if let Some(recipe) = line.strip_prefix('\t') {
                for t in &current {
                    if let Some(r) = m.rules.get_mut(t) {
                        r.recipe.push((line_no, recipe.to_string()));
                    }
                }
                continue;
            }
            let line = strip_comment(&line);
            if line.trim().is_empty() {
                continue;
            }
            if m.variable(line.trim()).is_some() {
                current.clear();
                continue;
            }
            current = m.rule(line.trim());
        }
        Ok(m)
    }

    /// Reads `NAME = value` forms; true when the line was one.
    fn variable(&mut self, line: &str) -> Option<()> {
        let (rest, exported) = modifiers(line);
        if exported && is_name_list(rest) {
            self.export_names(rest);
            return Some(());
        }
        let (name, op, value) = assignment(rest)?;
        let old = self.vars.get(&name).cloned();
        let var = match (op, old) {
            ("+=", Some(o)) => Var {
                value: format!("{} {value}", o.value).trim().to_string(),
                conditional: o.conditional,
                exported: o.exported || exported,
            },
            ("?=", Some(o)) if !o.value.is_empty() || !o.conditional => o,
            (op, o) => Var {
                value,
                conditional: op == "?=",
                exported: exported || o.is_some_and(|o| o.exported),
            },
        };
        self.vars.insert(name, var);
        Some(())
    }

    /// `export NAME…`: marks the names exported, defining the ones not yet
    /// set as empty and conditional (a later `?=` still sets them).
    fn export_names(&mut self, names: &str) {
        for name in names.split_whitespace() {
            self.vars
                .entry(name.to_string())
                .or_insert(Var {
                    value: String::new(),
                    conditional: true,
                    exported: true,
                })
                .exported = true;
        }
    }

    /// Reads `targets: prerequisites`; returns the targets.
    fn rule(&mut self, line: &str) -> Vec<String> {
        let Some((targets, prereqs)) = line.split_once(':') else {
            return Vec::new();
        };
        let prereqs = prereqs.trim_start_matches(':');
        let prereqs = prereqs.split(';').next().unwrap_or("");
        if prereqs.contains('=') {
            return Vec::new(); // a target-specific variable
        }
        let targets: Vec<String> = targets.split_whitespace().map(str::to_string).collect();
        for t in &targets {
            if self.default_goal.is_none() && !t.starts_with('.') && !t.contains('%') {
                self.default_goal = Some(t.clone());
            }
            let r = self.rules.entry(t.clone()).or_insert(Rule {
                prereqs: Vec::new(),
                recipe: Vec::new(),
            });
            r.prereqs
                .extend(prereqs.split_whitespace().map(str::to_string));
        }
        targets
    }

    /// What `make goals` runs.
    fn run(
        &self,
        goals: &[String],
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Run, String> {
        let goals: Vec<String> = if goals.is_empty() {
            vec![self
                .default_goal
                .clone()
                .ok_or("the Makefile has no rule to run")?]
        } else {
            goals.to_vec()
        };
        let x = Expander {
            m: self,
            overrides,
            env,
        };
        let mut out = Run::default();
        let mut seen = Vec::new();
        for g in &goals {
            if !self.rules.contains_key(g) {
                return Err(format!("the Makefile has no rule `{g}`"));
            }
            self.follow(g, &x, &mut seen, &mut out, 0)?;
        }
        for (name, v) in &self.vars {
            if v.exported && overrides.iter().all(|(n, _)| n != name) {
                if let Some(value) = x.var(name, "", 0) {
                    out.exported.push((name.clone(), value));
                }
            }
        }
        Ok(out)
    }

    fn follow(
        &self,
        target: &str,
        x: &Expander,
        seen: &mut Vec<String>,
        out: &mut Run,
        depth: usize,
    ) -> Result<(), String> {
        if seen.iter().any(|s| s == target) || depth > 32 {
            return Ok(());
        }
        seen.push(target.to_string());
        let Some(rule) = self.rules.get(target) else {
            return Ok(()); // a file, not a rule
        };
        for p in &rule.prereqs {
            let p = x.expand(p, target, 0);
            for p in p.split_whitespace() {
                self.follow(p, x, seen, out, depth + 1)?;
            }
        }
        for (line, text) in &rule.recipe {
            let text = x.expand(
                text.trim_start_matches(['@', '-', '+', ' ', '\t']),
                target,
                0,
            );
            out.lines.push(RecipeLine { line: *line, text });
        }
        Ok(())
    }
}

struct Expander<'a> {
    m: &'a Makefile,
    overrides: &'a [(String, String)],
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Expander<'_> {
    /// A variable's value: the command line, then the Makefile (a `?=` only
    /// when the environment does not set it), then the environment.
    fn var(&self, name: &str, target: &str, depth: usize) -> Option<String> {
        if let Some((_, v)) = self.overrides.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        match self.m.vars.get(name) {
            Some(v) if v.conditional && (self.env)(name).is_some() => (self.env)(name),
            Some(v) if v.conditional && v.value.is_empty() => (self.env)(name),
            Some(v) => Some(self.expand(&v.value, target, depth + 1)),
            None => (self.env)(name),
        }
    }

    fn expand(&self, text: &str, target: &str, depth: usize) -> String {
        if depth > 16 {
            return text.to_string();
        }
        let mut out = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '$' || i + 1 == chars.len() {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let next = chars[i + 1];
            match next {
                '$' => {
                    out.push('$');
                    i += 2;
                }
                '@' => {
                    out.push_str(target);
                    i += 2;
                }
                '(' | '{' => {
                    let close = if next == '(' { ')' } else { '}' };
                    let (inner, end) = balanced(&chars, i + 2, next, close);
                    out.push_str(&self.reference(&inner, target, depth));
                    i = end + 1;
                }
                c if c.is_ascii_alphanumeric() || c == '_' => {
                    out.push_str(&self.var(&c.to_string(), target, depth).unwrap_or_default());
                    i += 2;
                }
                _ => {
                    i += 2;
                }
            }
        }
        out
    }

    /// `$(NAME)`, or a function call: `$(shell …)` is kept as a command
    /// substitution (`$(uname -m)`) so the probe checks see it; other
    /// functions are kept as written.
    fn reference(&self, inner: &str, target: &str, depth: usize) -> String {
        if let Some(cmd) = inner.strip_prefix("shell ") {
            let cmd = self.expand(cmd, target, depth + 1);
            // `go env GOARCH` answers from the environment when it is set there.
            if let Some(var) = cmd.trim().strip_prefix("go env ") {
                if let Some(v) = (self.env)(var.trim()).filter(|v| !v.is_empty()) {
                    return v;
                }
            }
            return format!("$({cmd})");
        }
        if inner.contains(char::is_whitespace) || inner.contains(',') {
            return format!("$({inner})");
        }
        self.var(inner, target, depth).unwrap_or_default()
    }
}

/// Handles a conditional directive line; true when the line was one.
fn conditional(
    line: &str,
    conds: &mut Vec<Cond>,
    live: bool,
    x: &Expander,
) -> Result<bool, String> {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match word {
        "ifeq" | "ifneq" | "ifdef" | "ifndef" => {
            let holds = live && test(word, rest.trim(), x)?;
            conds.push(Cond {
                active: holds,
                taken: holds,
            });
        }
        "else" => {
            let outer = conds.len() > 1 && conds[..conds.len() - 1].iter().all(|c| c.active);
            let c = conds.last_mut().ok_or("`else` without `ifeq`")?;
            let rest = rest.trim();
            let holds = if rest.is_empty() {
                !c.taken
            } else {
                let (w, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                !c.taken && (outer || conds.len() == 1) && test(w, r.trim(), x)?
            };
            let c = conds.last_mut().ok_or("`else` without `ifeq`")?;
            c.active = holds;
            c.taken |= holds;
        }
        "endif" => {
            conds.pop().ok_or("`endif` without `ifeq`")?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Evaluates `ifeq (a,b)`, `ifneq "a" "b"`, `ifdef VAR`, …
fn test(kind: &str, args: &str, x: &Expander) -> Result<bool, String> {
    if kind == "ifdef" || kind == "ifndef" {
        let set = x.var(args, "", 0).is_some_and(|v| !v.is_empty());
        return Ok(set == (kind == "ifdef"));
    }
    let (a, b) = match args.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => split_top_comma(inner).ok_or(format!("cannot read `{kind} {args}`"))?,
        None => {
            let w = shlex::split(args).unwrap_or_default();
            match w.as_slice() {
                [a, b] => (a.clone(), b.clone()),
                _ => return Err(format!("cannot read `{kind} {args}`")),
            }
        }
    };
    let (a, b) = (x.expand(a.trim(), "", 0), x.expand(b.trim(), "", 0));
    if a.contains("$(") || b.contains("$(") {
        return Err(format!("the condition `{kind} {args}` depends on a command (`{}`), which the tool does not run", if a.contains("$(") { &a } else { &b }));
    }
    Ok((a == b) == (kind == "ifeq"))
}

/// `a,b` split at the comma outside parentheses.
fn split_top_comma(s: &str) -> Option<(String, String)> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            ',' if depth == 0 => return Some((s[..i].to_string(), s[i + 1..].to_string())),
            _ => {}
        }
    }
    None
}

/// The text from `start` to the matching `close`, and that index.
fn balanced(chars: &[char], start: usize, open: char, close: char) -> (String, usize) {
    let mut depth = 1;
    let mut i = start;
    while i < chars.len() {
        if chars[i] == open {
            depth += 1;
        } else if chars[i] == close {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
        i += 1;
    }
    (chars[start..i.min(chars.len())].iter().collect(), i)
}

fn is_name_list(s: &str) -> bool {
    !s.is_empty() && !s.contains('=') && !s.contains(':')
}

fn strip_comment(line: &str) -> String {
    match line.find('#') {
        Some(i) if !line[..i].ends_with('\\') => line[..i].to_string(),
        _ => line.to_string(),
    }
}

/// Lines with `\` continuations joined, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let (start, mut acc) = match pending.take() {
            Some((s, mut a)) => {
                a.truncate(a.trim_end().len());
                a.push(' ');
                a.push_str(line.trim_start());
                (s, a)
            }
            None => (n + 1, line.to_string()),
        };
        if acc.ends_with('\\') {
            acc.pop();
            pending = Some((start, acc));
        } else {
            out.push((start, acc));
        }
    }
    out.extend(pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MK: &str = "BIN := bin/app\nVERSION ?= dev\nGOARCH ?= $(shell go env GOARCH)\nARCH = $(shell uname -m)\nexport CGO_ENABLED = 0\nLDFLAGS = -X main.version=$(VERSION)\n\n.PHONY: all build gen\nall: build\n\ngen:\n\t@go generate ./...\n\nbuild: gen\n\tgo build -ldflags \"$(LDFLAGS)\" \\\n\t  -o $(BIN) ./cmd/app\n\techo $$HOME\n\nimage-$(ARCH):\n\techo $(ARCH)\n";

    fn run(goals: &[&str], env: &[(&str, &str)]) -> Run {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let goals: Vec<String> = goals.iter().map(|s| s.to_string()).collect();
        super::run(MK, &goals, &[], &|n| {
            env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn follows_the_default_goal_through_prerequisites() {
        let r = run(&[], &[]);
        let lines: Vec<(usize, &str)> = r.lines.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(
            lines,
            [
                (12, "go generate ./..."),
                (
                    15,
                    "go build -ldflags \"-X main.version=dev\" -o bin/app ./cmd/app"
                ),
                (17, "echo $HOME"),
            ]
        );
        assert_eq!(r.exported, [("CGO_ENABLED".to_string(), "0".to_string())]);
    }

    #[test]
    fn the_environment_wins_over_conditional_assignments_only() {
        let mk =
            "GOARCH ?= $(shell uname -m)\nOUT = x-$(GOARCH)\nb:\n\tgo build -o $(OUT) $(EXTRA)\n";
        let none = |_: &str| None;
        let no_env = super::run(mk, &[], &[], &none).unwrap();
        assert_eq!(no_env.lines[0].text, "go build -o x-$(uname -m) ");
        let arm = |n: &str| (n == "GOARCH").then(|| "arm64".to_string());
        let with_env = super::run(mk, &[], &[], &arm).unwrap();
        assert_eq!(with_env.lines[0].text, "go build -o x-arm64 ");
        let over = super::run(mk, &["b".into()], &[("OUT".into(), "/o".into())], &none).unwrap();
        assert_eq!(over.lines[0].text, "go build -o /o ");
        assert!(super::run(mk, &["nope".into()], &[], &none).is_err());
    }

    /// Conditionals are read as make reads them, with the environment: the
    /// probe in a branch not taken is never run.
    #[test]
    fn conditionals() {
        let mk = "LOCAL_ARCH ?= $(shell uname -m)\nifneq ($(GOARCH),)\n    TARGET_ARCH ?= $(GOARCH)\nelse ifeq ($(LOCAL_ARCH),x86_64)\n    TARGET_ARCH ?= amd64\nelse\n    $(error unsupported)\nendif\nLOCAL_OS ?= $(shell go env GOOS)\nifeq ($(LOCAL_OS),linux)\n    TARGET_OS ?= linux\nendif\nifdef NOPE\nX = 1\nendif\nb:\n\tGOOS=$(TARGET_OS) GOARCH=$(TARGET_ARCH) go build $(X)\n";
        let env = |n: &str| match n {
            "GOARCH" => Some("arm64".to_string()),
            "GOOS" => Some("linux".to_string()),
            _ => None,
        };
        let r = super::run(mk, &[], &[], &env).unwrap();
        assert_eq!(r.lines[0].text, "GOOS=linux GOARCH=arm64 go build ");
        let no_env = super::run(mk, &[], &[], &|_| None).unwrap_err();
        assert!(no_env.contains("Makefile:4: the condition `ifeq ($(LOCAL_ARCH),x86_64)` depends on a command (`$(uname -m)`)"), "{no_env}");
    }
}
