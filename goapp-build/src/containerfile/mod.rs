//! A parser for the Containerfile instructions that matter to preflight and
//! lints: parser directives, line continuations, comments inside them,
//! heredocs, `FROM … AS` with `--platform`, instruction flags such as
//! `RUN --mount=…`, and the exec or shell form of `ENTRYPOINT`/`CMD`.

pub(crate) mod bindkey;
pub(crate) mod cgo;
pub(crate) mod cross;
pub(crate) mod gocmd;
pub(crate) mod heredoc;
pub(crate) mod ignore;
pub(crate) mod images;
pub(crate) mod lint;
pub(crate) mod makefile;
pub(crate) mod mountflags;
pub(crate) mod mounts;
pub(crate) mod practice;
pub(crate) mod preflight;
pub(crate) mod shell;
pub(crate) mod steps;
pub(crate) mod structure;

use anyhow::{bail, Result};

/// A parser directive (`# syntax=…`, `# escape=…`) from the top of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Directive {
    /// Lowercased name.
    pub name: String,
    /// The value.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A heredoc attached to an instruction (`RUN <<EOF … EOF`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Heredoc {
    /// The delimiter word.
    pub delimiter: String,
    /// `<<-`: leading tabs are stripped.
    pub strip_tabs: bool,
    /// The body, lines joined with `\n`, with a final `\n`.
    pub body: String,
}

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// 1-based line where it starts.
    pub line: usize,
    /// 1-based last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// Uppercased keyword (`RUN`, `FROM`, …).
    pub keyword: String,
    /// `--name=value` flags before the arguments, in order.
    pub flags: Vec<(String, String)>,
    /// The arguments after the flags, continuations joined with a space.
    pub args: String,
    /// Heredocs, in order.
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The value of the first flag `name` (without dashes).
    pub(crate) fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `--mount` flags, parsed into `key=value` maps.
    pub(crate) fn mounts(&self) -> Vec<Vec<(String, String)>> {
        self.flags
            .iter()
            .filter(|(n, _)| n == "mount")
            .map(|(_, v)| mounts::options(v))
            .collect()
    }

    /// True for the JSON (exec) form: `["/app", "-x"]`.
    pub(crate) fn is_exec_form(&self) -> bool {
        let a = self.args.trim();
        a.starts_with('[') && a.ends_with(']') && parse_json_array(a).is_some()
    }

    /// Whether the arguments or heredocs mention `$NAME` / `${NAME…}`.
    pub(crate) fn uses_var(&self, name: &str) -> bool {
        mentions_var(&self.args, name)
            || self.heredocs.iter().any(|h| mentions_var(&h.body, name))
            || self.flags.iter().any(|(_, v)| mentions_var(v, name))
    }
}

/// Whether `text` refers to the variable `name`.
pub(crate) fn mentions_var(text: &str, name: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let candidate = rest.strip_prefix('{').unwrap_or(rest);
        if let Some(after) = candidate.strip_prefix(name) {
            if !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                return true;
            }
        }
    }
    false
}

/// A build stage: a `FROM` and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stage {
    /// Index of its `FROM` in [`Containerfile::instructions`].
    pub from: usize,
    /// Index one past its last instruction.
    pub end: usize,
    /// The base image as written.
    pub base: String,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    /// `--platform=…` as written.
    pub platform: Option<String>,
}

/// A parsed Containerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Containerfile {
    /// Parser directives.
    pub directives: Vec<Directive>,
    /// Instructions in order.
    pub instructions: Vec<Instruction>,
}

impl Containerfile {
    /// Parses the text; errors name the line.
    pub(crate) fn parse(text: &str) -> Result<Containerfile> {
        let lines: Vec<&str> = text.lines().collect();
        let directives = read_directives(&lines);
        let escape = directives
            .iter()
            .find(|d| d.name == "escape")
            .and_then(|d| d.value.chars().next())
            .unwrap_or('\\');
        let mut instructions = Vec::new();
        let mut i = directives.len();
        while i < lines.len() {
            let first = lines[i].trim();
            if first.is_empty() || first.starts_with('#') {
                i += 1;
                continue;
            }
            instructions.push(read_instruction(&lines, &mut i, escape)?);
        }
        Ok(Containerfile {
            directives,
            instructions,
        })
    }

    /// The stages, in order.
    pub(crate) fn stages(&self) -> Vec<Stage> {
        let froms: Vec<usize> = self
            .instructions
            .iter()
            .enumerate()
            .filter(|(_, i)| i.keyword == "FROM")
            .map(|(n, _)| n)
            .collect();
        froms
            .iter()
            .enumerate()
            .map(|(k, &from)| {
                let ins = &self.instructions[from];
                let words: Vec<&str> = ins.args.split_whitespace().collect();
                let name = match words.as_slice() {
                    [_, as_, n, ..] if as_.eq_ignore_ascii_case("as") => Some(n.to_lowercase()),
                    _ => None,
                };
                Stage {
                    from,
                    end: froms.get(k + 1).copied().unwrap_or(self.instructions.len()),
                    base: words.first().map(|s| s.to_string()).unwrap_or_default(),
                    name,
                    platform: ins.flag("platform").map(str::to_string),
                }
            })
            .collect()
    }

    /// The `ARG`s before the first `FROM` with their defaults (usable in `FROM`).
    pub(crate) fn global_args(&self) -> Vec<(String, Option<String>)> {
        self.instructions
            .iter()
            .take_while(|i| i.keyword != "FROM")
            .filter(|i| i.keyword == "ARG")
            .flat_map(|i| i.args.split_whitespace().map(parse_arg).collect::<Vec<_>>())
            .collect()
    }

    /// The base image of a stage with global `ARG` defaults substituted.
    pub(crate) fn resolved_base(&self, stage: &Stage) -> String {
        let mut base = stage.base.clone();
        for (name, default) in self.global_args() {
            if let Some(v) = default {
                base = base
                    .replace(&format!("${{{name}}}"), &v)
                    .replace(&format!("${name}"), &v);
            }
        }
        base
    }
}

/// The parser directives (`# escape=`, `# syntax=`): only at the very top,
/// before any blank line, comment or instruction, one per line.
fn read_directives(lines: &[&str]) -> Vec<Directive> {
    let mut directives = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((k, v)) = l.trim().strip_prefix('#').and_then(|b| b.split_once('=')) else {
            break;
        };
        let k = k.trim().to_lowercase();
        if k.is_empty() || k.contains(char::is_whitespace) {
            break;
        }
        directives.push(Directive {
            name: k,
            value: v.trim().to_string(),
            line: i + 1,
        });
    }
    directives
}

/// The instructions the engines know.
const INSTRUCTIONS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The index of the first line that is not blank or a comment.
fn first_instruction(lines: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or(0)
}

/// The instruction starting at line `*i` (not blank, not a comment), with
/// its continuation lines and heredoc bodies; `*i` moves past them.
fn read_instruction(lines: &[&str], i: &mut usize, escape: char) -> Result<Instruction> {
    let start = *i;
    let logical = logical_line(lines, i, escape);
    let (word, rest) = match logical.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start().to_string()),
        None => (logical.as_str(), String::new()),
    };
    let kw = word.to_uppercase();
    if !INSTRUCTIONS.contains(&kw.as_str()) {
        let word = crate::core::names::shorten(word, 40);
        let hint = if start == first_instruction(lines) {
            " (is this file a Containerfile?)"
        } else {
            ""
        };
        bail!(
            "{}: `{word}` is not an instruction{hint}: the engines know {}",
            start + 1,
            INSTRUCTIONS.join(", ")
        );
    }
    let (flags, args) = split_flags(&rest);
    let mut heredocs = Vec::new();
    if matches!(kw.as_str(), "RUN" | "COPY" | "ADD") {
        for (delimiter, strip_tabs) in heredoc_starts(&args) {
            let body = heredoc_body(lines, i, &delimiter, strip_tabs, start)?;
            heredocs.push(Heredoc {
                delimiter,
                strip_tabs,
                body,
            });
        }
    }
    Ok(Instruction {
        line: start + 1,
        end_line: *i,
        keyword: kw,
        flags,
        args,
        heredocs,
    })
}

/// Joins an instruction's continuation lines (ending in `escape`) into one,
/// dropping comment lines inside the continuation, as BuildKit does.
fn logical_line(lines: &[&str], i: &mut usize, escape: char) -> String {
    let mut logical = String::new();
    while *i < lines.len() {
        let t = lines[*i].trim_end();
        *i += 1;
        let Some(cont) = t.strip_suffix(escape) else {
            logical.push_str(t);
            break;
        };
        logical.push_str(cont);
        logical.push(' ');
        while *i < lines.len() && lines[*i].trim_start().starts_with('#') {
            *i += 1;
        }
    }
    logical.trim().to_string()
}

/// A heredoc's body: the lines up to its `delimiter` line (tabs stripped
/// for `<<-`); `*i` moves past the delimiter.
fn heredoc_body(
    lines: &[&str],
    i: &mut usize,
    delimiter: &str,
    strip_tabs: bool,
    start: usize,
) -> Result<String> {
    let mut body = String::new();
    loop {
        let Some(l) = lines.get(*i) else {
            bail!(
                "{}: heredoc <<{delimiter} is never closed: add a line `{delimiter}`",
                start + 1
            );
        };
        *i += 1;
        let cmp = if strip_tabs {
            l.trim_start_matches('\t')
        } else {
            l
        };
        if cmp == delimiter {
            return Ok(body);
        }
        body.push_str(cmp);
        body.push('\n');
    }
}

fn parse_arg(word: &str) -> (String, Option<String>) {
    match word.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.trim_matches('"').to_string())),
        None => (word.to_string(), None),
    }
}

/// Splits leading `--flag=value` words off the arguments.
fn split_flags(rest: &str) -> (Vec<(String, String)>, String) {
    let mut flags = Vec::new();
    let mut s = rest.trim_start();
    while let Some(f) = s.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_lowercase(), v.to_string())),
            None => flags.push((word.to_lowercase(), String::new())),
        }
        s = f[end..].trim_start();
    }
    (flags, s.to_string())
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` in the arguments (not `<<<`).
fn heredoc_starts(args: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let b = args.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i] == b'<'
            && b[i + 1] == b'<'
            && (i == 0 || b[i - 1] != b'<')
            && b.get(i + 2) != Some(&b'<')
        {
            let mut j = i + 2;
            let strip = b.get(j) == Some(&b'-');
            if strip {
                j += 1;
            }
            let quote = b.get(j).copied().filter(|c| *c == b'"' || *c == b'\'');
            if quote.is_some() {
                j += 1;
            }
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start {
                out.push((args[start..j].to_string(), strip));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// A JSON array of strings, as exec-form instructions use. Returns `None`
/// for anything else.
pub(crate) fn parse_json_array(s: &str) -> Option<Vec<String>> {
    let s = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some('"') => {}
            Some(_) => return None,
        }
        let mut item = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => item.push('\n'),
                    't' => item.push('\t'),
                    c => item.push(c),
                },
                c => item.push(c),
            }
        }
        out.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(_) => return None,
        }
    }
    Some(out)
}

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHED: &str = "# syntax=docker/dockerfile:1\n\
ARG GO=1.21\n\
FROM --platform=$BUILDPLATFORM golang:${GO} AS build\n\
WORKDIR /src\n\
# a comment\n\
RUN --mount=type=cache,target=/go/pkg/mod \\\n\
    # comment inside a continuation\n\
    go mod download\n\
RUN <<EOF\n\
set -eux\n\
echo hi\n\
EOF\n\
ARG TARGETARCH\n\
RUN GOARCH=$TARGETARCH go build -o /out/app .\n\
FROM scratch\n\
COPY --from=build /out/app /app\n\
ENTRYPOINT [\"/app\", \"-x\"]\n";

    #[test]
    fn parses_directives_continuations_heredocs_and_stages() {
        let c = Containerfile::parse(PUBLISHED).unwrap();
        assert_eq!(
            c.directives,
            vec![Directive {
                name: "syntax".into(),
                value: "docker/dockerfile:1".into(),
                line: 1
            }]
        );
        let kws: Vec<(&str, usize)> = c
            .instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.line))
            .collect();
        assert_eq!(
            kws,
            [
                ("ARG", 2),
                ("FROM", 3),
                ("WORKDIR", 4),
                ("RUN", 6),
                ("RUN", 9),
                ("ARG", 13),
                ("RUN", 14),
                ("FROM", 15),
                ("COPY", 16),
                ("ENTRYPOINT", 17)
            ]
        );
        let run = &c.instructions[3];
        assert_eq!(run.args, "go mod download");
        assert_eq!(
            run.mounts(),
            vec![vec![
                ("type".to_string(), "cache".to_string()),
                ("target".to_string(), "/go/pkg/mod".to_string())
            ]]
        );
        assert_eq!(
            c.instructions[4].heredocs,
            vec![Heredoc {
                delimiter: "EOF".into(),
                strip_tabs: false,
                body: "set -eux\necho hi\n".into()
            }]
        );
        assert!(c.instructions[6].uses_var("TARGETARCH"));
        assert!(!c.instructions[6].uses_var("TARGET"));
        let st = c.stages();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].name.as_deref(), Some("build"));
        assert_eq!(st[0].platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(c.resolved_base(&st[0]), "golang:1.21");
        assert_eq!(st[1].base, "scratch");
        assert!(c.instructions[9].is_exec_form());
    }

    #[test]
    fn heredoc_variants_and_errors() {
        let c = Containerfile::parse("FROM x\nRUN <<-'END' cat\n\tline\n\tEND\nRUN echo a <<< b\n")
            .unwrap();
        assert_eq!(c.instructions[1].heredocs[0].body, "line\n");
        assert!(c.instructions[1].heredocs[0].strip_tabs);
        assert!(c.instructions[2].heredocs.is_empty());
        let err = Containerfile::parse("FROM x\nRUN <<EOF\necho\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "2: heredoc <<EOF is never closed: add a line `EOF`");
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            parse_json_array(r#"["/app", "a\"b", "c\\d"]"#).unwrap(),
            vec!["/app", "a\"b", "c\\d"]
        );
        assert_eq!(parse_json_array("/app -x"), None);
        assert_eq!(parse_json_array(r#"["a" "b"]"#), None);
        let s = "line1\nit's \"q\"\\";
        assert_eq!(
            parse_json_array(&format!("[{}]", json_string(s))).unwrap(),
            vec![s]
        );
    }
}
