//! Whether cgo is off for a `go build` step, from what the file says: `ENV`
//! (inherited from a parent stage, and winning over an `ARG` of the same
//! name), `ARG` (an `ARG` is in a `RUN`'s environment; its default may come
//! from a global `ARG` before the first `FROM`), or the step's own command
//! (`CGO_ENABLED=0 go build`, `export CGO_ENABLED=0`). Quotes are read the
//! way the engines read them: `ARG CGO_ENABLED="0"` is `0`.

use crate::containerfile::{Containerfile, Instruction, Stage};

/// Words that run the Go compiler.
pub(crate) fn builds_go(text: &str) -> bool {
    text.contains("go build") || text.contains("go install")
}

/// The whole text a `RUN` executes (arguments and heredoc bodies).
pub(crate) fn run_text(ins: &Instruction) -> String {
    let mut t = ins.args.clone();
    for h in &ins.heredocs {
        t.push('\n');
        t.push_str(&h.body);
    }
    t
}

/// `KEY=value` pairs of an `ENV` or `ARG` line, quotes removed. `ENV KEY value`
/// (the legacy form) is one pair; an `ARG KEY` without default is `(KEY, None)`.
pub(crate) fn assignments(ins: &Instruction) -> Vec<(String, Option<String>)> {
    let words = shlex::split(&ins.args)
        .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
    if ins.keyword == "ENV" && words.len() >= 2 && !words[0].contains('=') {
        return vec![(words[0].clone(), Some(words[1..].join(" ")))];
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w, None),
        })
        .collect()
}

/// `CGO_ENABLED`'s value in the environment of the instruction at index
/// `at` (into [`Containerfile::instructions`]), if the file decides it. A
/// `--build-arg CGO_ENABLED=…` (`build_arg`) sets a declared `ARG`.
pub(crate) fn env_value(
    file: &Containerfile,
    stages: &[Stage],
    at: usize,
    build_arg: Option<&str>,
) -> Option<String> {
    let k = stages.iter().rposition(|s| s.from <= at)?;
    let st = &stages[k];
    // ENV is inherited from a parent stage; ARG is not.
    let mut env = parent(file, stages, k).and_then(|p| env_value_env_only(file, stages, p));
    let mut arg = None;
    for ins in &file.instructions[st.from + 1..at] {
        for (_, value) in assignments_of(ins, "CGO_ENABLED") {
            match ins.keyword.as_str() {
                "ENV" => env = value,
                _ => {
                    arg = build_arg
                        .map(str::to_string)
                        .or(value)
                        .or_else(|| global_default(file, "CGO_ENABLED"))
                }
            }
        }
    }
    env.or(arg)
}

fn env_value_env_only(file: &Containerfile, stages: &[Stage], k: usize) -> Option<String> {
    let st = &stages[k];
    let mut env = parent(file, stages, k).and_then(|p| env_value_env_only(file, stages, p));
    for ins in &file.instructions[st.from + 1..st.end] {
        if ins.keyword == "ENV" {
            for (_, v) in assignments_of(ins, "CGO_ENABLED") {
                env = v;
            }
        }
    }
    env
}

/// The earlier stage a stage is `FROM`, if any.
fn parent(file: &Containerfile, stages: &[Stage], k: usize) -> Option<usize> {
    let base = file.resolved_base(&stages[k]).to_lowercase();
    stages[..k]
        .iter()
        .rposition(|s| s.name.as_deref() == Some(base.as_str()))
}

fn assignments_of(ins: &Instruction, name: &str) -> Vec<(String, Option<String>)> {
    if !matches!(ins.keyword.as_str(), "ENV" | "ARG") {
        return Vec::new();
    }
    assignments(ins)
        .into_iter()
        .filter(|(k, _)| k == name)
        .collect()
}

fn global_default(file: &Containerfile, name: &str) -> Option<String> {
    file.global_args()
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v)
}

/// The values a step's own command gives `CGO_ENABLED` (`CGO_ENABLED=0 go
/// build`, `export CGO_ENABLED=0`, `env CGO_ENABLED="0" …`).
pub(crate) fn inline_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("CGO_ENABLED=") {
        let before = rest[..i].chars().last();
        let after = &rest[i + "CGO_ENABLED=".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let value: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ';' | '&' | '|' | ')'))
            .collect();
        out.push(value);
    }
    out
}

/// Whether cgo is provably off for the `RUN` at index `at`, built with
/// `--build-arg CGO_ENABLED=<build_arg>` when given.
pub(crate) fn off_for(
    file: &Containerfile,
    stages: &[Stage],
    at: usize,
    build_arg: Option<&str>,
) -> bool {
    let inline = inline_values(&run_text(&file.instructions[at]));
    if !inline.is_empty() {
        return inline.iter().all(|v| v == "0");
    }
    env_value(file, stages, at, build_arg).as_deref() == Some("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off(text: &str) -> bool {
        let c = Containerfile::parse(text).unwrap();
        let at = c
            .instructions
            .iter()
            .rposition(|i| i.keyword == "RUN")
            .unwrap();
        off_for(&c, &c.stages(), at, None)
    }

    #[test]
    fn a_build_arg_sets_a_declared_arg_and_not_an_env() {
        let c = |text: &str| Containerfile::parse(text).unwrap();
        let on = |text: &str, arg| {
            let c = c(text);
            let at = c.instructions.len() - 1;
            !off_for(&c, &c.stages(), at, arg)
        };
        let published = "FROM g\nARG CGO_ENABLED=\"0\"\nRUN go build .\n";
        assert!(!on(published, None));
        assert!(on(published, Some("1")), "--build-arg CGO_ENABLED=1");
        assert!(!on(published, Some("0")));
        assert!(!on("FROM g\nARG CGO_ENABLED\nRUN go build .\n", Some("0")));
        assert!(
            !on("FROM g\nENV CGO_ENABLED=0\nRUN go build .\n", Some("1")),
            "an undeclared build arg is not in the environment"
        );
        assert!(
            on(
                "ARG CGO_ENABLED=0\nFROM g\nARG CGO_ENABLED\nRUN go build .\n",
                Some("1")
            ),
            "over a global default"
        );
    }

    #[test]
    fn env_arg_and_inline_forms() {
        assert!(off("FROM g\nARG CGO_ENABLED=\"0\"\nRUN go build .\n"));
        assert!(off("FROM g\nARG CGO_ENABLED='0'\nRUN go build .\n"));
        assert!(off(
            "FROM g\nENV CGO_ENABLED=0 GOFLAGS=\"-mod=mod\"\nRUN go build .\n"
        ));
        assert!(off("FROM g\nENV CGO_ENABLED 0\nRUN go build .\n"));
        assert!(off("FROM g\nRUN CGO_ENABLED=0 go build .\n"));
        assert!(off("FROM g\nRUN export CGO_ENABLED=\"0\" && go build .\n"));
        assert!(off(
            "FROM g\nRUN <<EOF\nset -e\nCGO_ENABLED=0 go build -o /a .\nEOF\n"
        ));
        assert!(off(
            "ARG CGO_ENABLED=0\nFROM g\nARG CGO_ENABLED\nRUN go build .\n"
        ));
        assert!(off(
            "FROM g AS base\nENV CGO_ENABLED=0\nFROM base AS b\nRUN go build .\n"
        ));
    }

    #[test]
    fn not_provably_off() {
        assert!(!off("FROM g\nRUN go build .\n"));
        assert!(
            !off("FROM g\nARG CGO_ENABLED\nRUN go build .\n"),
            "set only by --build-arg"
        );
        assert!(!off("FROM g\nENV CGO_ENABLED=1\nRUN go build .\n"));
        assert!(!off("FROM g\nENV CGO_ENABLED=$CGO\nRUN go build .\n"));
        assert!(
            !off("ARG CGO_ENABLED=0\nFROM g\nRUN go build .\n"),
            "a global ARG is not in a stage until declared there"
        );
        assert!(!off(
            "FROM g\nENV CGO_ENABLED=0\nRUN CGO_ENABLED=1 go build .\n"
        ));
        assert!(
            !off("FROM g\nARG CGO_ENABLED=0\nENV CGO_ENABLED=1\nRUN go build .\n"),
            "ENV wins over ARG"
        );
        assert!(
            !off("FROM g\nENV CGO_ENABLED=0\nFROM g\nRUN go build .\n"),
            "another stage's ENV"
        );
        assert!(!off("FROM g\nRUN MY_CGO_ENABLED=0 go build .\n"));
        assert!(
            !off("FROM g\nRUN go build .\nENV CGO_ENABLED=0\n"),
            "set after the step"
        );
    }
}
