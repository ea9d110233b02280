//! What the engines refuse while reading a file, before any step runs:
//! no instruction at all, something other than `ARG` before the first
//! `FROM`, a `FROM` whose image is a variable without a value, an `escape`
//! directive other than `\` or `` ` ``, two stages of one name, and a stage
//! built `FROM` itself or a later one. Preflight says these with the line
//! and the fix instead of the engine's parse error.

use crate::containerfile::Containerfile;
use std::collections::BTreeMap;

/// Arguments the engines define for every `FROM` themselves.
const AUTOMATIC: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// `(line, message)` for each such problem.
pub(crate) fn problems(
    file: &Containerfile,
    build_args: &BTreeMap<String, String>,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for d in file.directives.iter().filter(|d| d.name == "escape") {
        if d.value != "\\" && d.value != "`" {
            out.push((d.line, format!("`# escape={}`: the escape character is `\\` or `` ` ``, nothing else; fix or remove the line", d.value)));
        }
    }
    let Some(first) = file.instructions.first() else {
        out.push((
            1,
            "the file has no instructions: a Containerfile starts with `FROM <image>`".into(),
        ));
        return out;
    };
    if let Some(before) = file
        .instructions
        .iter()
        .take_while(|i| i.keyword != "FROM")
        .find(|i| i.keyword != "ARG")
    {
        out.push((
            before.line,
            format!(
                "{} before the first FROM: only ARG may come before it; move it into a stage",
                before.keyword
            ),
        ));
    } else if !file.instructions.iter().any(|i| i.keyword == "FROM") {
        out.push((first.line, "the file has no FROM: a Containerfile starts with `FROM <image>` (after optional ARGs)".into()));
    }
    out.extend(from_forms(file));
    out.extend(stage_names(file));
    out.extend(base_variables(file, build_args));
    out
}

/// `FROM <image> [AS <name>]`, nothing else; and no `ONBUILD FROM`.
fn from_forms(file: &Containerfile) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for ins in &file.instructions {
        let words: Vec<&str> = ins.args.split_whitespace().collect();
        match ins.keyword.as_str() {
            "FROM" => match words.as_slice() {
                [_] => {}
                [_, as_, _] if as_.eq_ignore_ascii_case("as") => {}
                [] => out.push((ins.line, "`FROM` names no image: write `FROM <image>` or `FROM <image> AS <name>`".into())),
                _ => out.push((ins.line, format!("`FROM {}`: FROM takes one image and optionally `AS <name>`, nothing else: write `FROM <image>` or `FROM <image> AS <name>`", ins.args.trim()))),
            },
            "ONBUILD" if words.first().is_some_and(|w| w.eq_ignore_ascii_case("from")) => {
                out.push((ins.line, "`ONBUILD FROM`: FROM cannot be an ONBUILD trigger; remove the line".into()));
            }
            _ => {}
        }
    }
    out
}

/// Each stage name once; `FROM` names only earlier stages.
fn stage_names(file: &Containerfile) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let stages = file.stages();
    for (k, st) in stages.iter().enumerate() {
        let line = file.instructions[st.from].line;
        if let Some(name) = &st.name {
            if let Some(earlier) = stages[..k].iter().find(|s| s.name.as_ref() == Some(name)) {
                let at = file.instructions[earlier.from].line;
                out.push((line, format!("the stage name `{name}` is already used at line {at}: give each stage its own name")));
            }
        }
        let base = file.resolved_base(st).to_lowercase();
        if let Some(later) = stages[k..]
            .iter()
            .find(|s| s.name.as_deref() == Some(base.as_str()))
        {
            let at = file.instructions[later.from].line;
            let what = if std::ptr::eq(later, st) {
                "itself"
            } else {
                "a later stage"
            };
            out.push((line, format!("`FROM {base}` builds on {what} (line {at}): a stage can build only on an earlier one or an image")));
        }
    }
    out
}

/// A `FROM` whose image is made of variables must get a value for each:
/// a global `ARG` with a default, or a build arg.
fn base_variables(
    file: &Containerfile,
    build_args: &BTreeMap<String, String>,
) -> Vec<(usize, String)> {
    let globals = file.global_args();
    let mut out = Vec::new();
    for st in file.stages() {
        let line = file.instructions[st.from].line;
        for var in variables(&st.base) {
            if AUTOMATIC.contains(&var.as_str()) {
                continue;
            }
            // A build arg reaches FROM only through a global ARG: passing
            // it is not enough (podman: "invalid reference format").
            match globals.iter().rev().find(|(k, _)| *k == var) {
                Some((_, Some(v))) if !v.is_empty() => {}
                Some(_) if build_args.contains_key(&var) => {}
                Some(_) => out.push((line, format!("`FROM {}`: ${var} is declared without a value, so the image name is empty: give it one (`ARG {var}=…` before the first FROM) or pass --build-arg {var}=…", st.base))),
                None => out.push((line, format!("`FROM {}`: ${var} is not declared with `ARG {var}` before the first FROM, so it is empty there (a build arg reaches FROM only through that ARG): add `ARG {var}` before the first FROM", st.base))),
            }
        }
    }
    out
}

/// The names of `$X` and `${X…}` references in `text`.
fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let body = rest.strip_prefix('{').unwrap_or(rest);
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `${X:-default}` has a value of its own.
        let defaulted = body[name.len()..].starts_with(":-") || body[name.len()..].starts_with('-');
        if !name.is_empty() && !defaulted {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> Vec<String> {
        let args = BTreeMap::from([("TAG_GOVER".to_string(), "1.19.8".to_string())]);
        problems(&Containerfile::parse(text).unwrap(), &args)
            .into_iter()
            .map(|(l, m)| format!("{l}: {m}"))
            .collect()
    }

    #[test]
    fn what_the_engines_refuse_while_reading() {
        assert_eq!(
            said(""),
            ["1: the file has no instructions: a Containerfile starts with `FROM <image>`"]
        );
        assert_eq!(
            said("# just a comment\n"),
            ["1: the file has no instructions: a Containerfile starts with `FROM <image>`"]
        );
        assert!(said("RUN true\nFROM scratch\n")[0].starts_with("1: RUN before the first FROM"));
        assert!(said("ARG X=1\nCOPY a /a\n")[0].starts_with("2: COPY before the first FROM"));
        assert!(said("FROM $NOPE\n")[0].contains("$NOPE is not declared with `ARG NOPE`"));
        assert!(said("ARG B\nFROM $B\n")[0].contains("$B is declared without a value"));
        assert!(said("ARG B=x\nFROM ${B}\n").is_empty());
        assert!(said("FROM\n")[0].starts_with("1: `FROM` names no image"));
        assert!(said("FROM a b c\n")[0].contains("FROM takes one image"));
        assert!(said("FROM a b\n")[0].contains("FROM takes one image"));
        assert!(said("FROM a AS b\n").is_empty());
        assert!(said("FROM a\nONBUILD FROM b\n")[0].starts_with("2: `ONBUILD FROM`"));
        // The tool passes TAG_GOVER, which reaches FROM only when declared
        // (podman 4.3: "invalid reference format").
        assert!(said("ARG TAG_GOVER\nFROM golang:${TAG_GOVER}\n").is_empty());
        assert!(said("FROM golang:${TAG_GOVER}\n")[0]
            .contains("add `ARG TAG_GOVER` before the first FROM"));
        assert!(said("FROM --platform=$BUILDPLATFORM golang:${V:-1.22}\n").is_empty());
        assert!(said("# escape=x\nFROM scratch\n")[0].starts_with("1: `# escape=x`"));
        assert!(said("# escape=`\nFROM scratch\n").is_empty());
        assert!(said("FROM scratch AS a\nFROM scratch AS a\n")[0]
            .starts_with("2: the stage name `a` is already used at line 1"));
        assert!(said("FROM b AS a\nFROM a AS b\n")[0]
            .starts_with("1: `FROM b` builds on a later stage (line 2)"));
        assert!(said("FROM a AS a\n")[0].starts_with("1: `FROM a` builds on itself"));
        assert!(said("ARG V=1\nFROM scratch AS a\nFROM a\n").is_empty());
    }
}
