//! A failed build, said so a person can act on it: the step that failed and
//! what it printed (read from the build's log, without the engine's
//! `--> Using cache` chatter), paths as the repository names them
//! (`./main.go:20` → `services/api/main.go:20`), and identical failures of
//! several architectures said once.

use crate::build::result::BuildResult;
use std::path::Path;

/// How many lines of a failing step's output are shown (the log has all).
const STEP_LINES: usize = 20;

/// The step that failed and what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FailedStep {
    /// `STEP 4/6: RUN go build -o /out/app ./` (podman) or
    /// `[builder 4/6] RUN go build -o /out/app ./` (docker).
    pub title: String,
    /// Its output, last lines.
    pub output: Vec<String>,
}

/// Reads the failing step from a build log: podman's `STEP n/m:` before its
/// `Error: building at STEP`, or BuildKit's `#n [...]` step with `#n ERROR`.
pub(crate) fn failing_step(log: &str) -> Option<FailedStep> {
    let lines: Vec<&str> = log.lines().collect();
    podman_step(&lines).or_else(|| buildkit_step(&lines))
}

fn podman_step(lines: &[&str]) -> Option<FailedStep> {
    let error = lines
        .iter()
        .rposition(|l| l.starts_with("Error: building at STEP"))?;
    let start = lines[..error]
        .iter()
        .rposition(|l| step_title(l).is_some())?;
    let output = lines[start + 1..error]
        .iter()
        .filter(|l| !l.starts_with("--> ") && !l.trim().is_empty())
        .map(|l| l.to_string())
        .collect();
    Some(FailedStep {
        title: step_title(lines[start])?.to_string(),
        output: last(output),
    })
}

/// `STEP 4/6: RUN …`, also behind a stage prefix (`[2/2] STEP 4/6: …`).
fn step_title(line: &str) -> Option<&str> {
    let at = line.find("STEP ")?;
    let rest = &line[at..];
    rest.contains(": ").then_some(rest)
}

fn buildkit_step(lines: &[&str]) -> Option<FailedStep> {
    let error = lines
        .iter()
        .find(|l| l.starts_with('#') && l.contains(" ERROR"))?;
    let id = error.split(' ').next()?;
    let mine = |l: &&&str| l.split(' ').next() == Some(id);
    let title = lines.iter().filter(mine).find_map(|l| {
        let rest = l[id.len()..].trim_start();
        rest.starts_with('[').then_some(rest)
    })?;
    let mut output: Vec<String> = lines
        .iter()
        .filter(mine)
        .filter_map(|l| {
            // `#9 0.512 text`: the time, then the text.
            let rest = l[id.len()..].trim_start();
            let (time, text) = rest.split_once(' ')?;
            time.parse::<f64>().ok().map(|_| text.to_string())
        })
        .filter(|t| !t.trim().is_empty())
        .collect();
    // BuildKit's own verdict (`#9 ERROR: failed to compute cache key: …`)
    // is often the only thing said, for a COPY.
    output.push(error[id.len()..].trim_start().to_string());
    Some(FailedStep {
        title: title.to_string(),
        output: last(output),
    })
}

fn last(mut v: Vec<String>) -> Vec<String> {
    let cut = v.len().saturating_sub(STEP_LINES);
    v.drain(..cut);
    v
}

/// Rewrites paths in compiler output to the repository's names: a token
/// `path:line` whose path (as written, or without leading directories the
/// build put it under, such as `WORKDIR /src`) is a file of `context`
/// becomes `context/path:line` relative to `root`.
pub(crate) fn map_paths(line: &str, context: &Path, root: &Path) -> String {
    let shown = context.strip_prefix(root).unwrap_or(context);
    let mut out = String::new();
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&map_word(word, context, shown).unwrap_or_else(|| word.to_string()));
    }
    out
}

fn map_word(word: &str, context: &Path, shown: &Path) -> Option<String> {
    // `path:20:2:` — the path ends at the first `:` followed by a digit.
    let colon = word
        .char_indices()
        .find(|&(i, c)| c == ':' && word[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    let (path, rest) = word.split_at(colon);
    let trimmed = path.trim_start_matches("./");
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    // The longest tail of the path that is a file in the context.
    let found = (0..parts.len()).find_map(|skip| {
        let tail = parts[skip..].join("/");
        (!tail.is_empty() && context.join(&tail).is_file()).then_some(tail)
    })?;
    if skip_is_foreign(path, &found) {
        return None;
    }
    Some(format!("{}{rest}", shown.join(found).display()))
}

/// A path naming something outside the build (`/usr/local/go/src/fmt/print.go`)
/// must not be mapped because a file of the same name happens to be in the
/// context: only relative paths, or absolute ones whose tail has a directory
/// in it or sits right under one directory (`/src/main.go`), are ours.
fn skip_is_foreign(path: &str, found: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let dropped = path.trim_start_matches('/').split('/').count() - found.split('/').count();
    dropped > 2 && !found.contains('/')
}

/// One failure as shown: the step, its output with repository paths, and
/// which images failed that way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// `api/amd64, api/arm64`.
    pub who: Vec<String>,
    /// The step's title, when the log names one.
    pub step: Option<String>,
    /// What the step printed (or, without a step, the failure as a whole).
    pub lines: Vec<String>,
    /// One image's command line and exit status (they differ only by platform).
    pub command: String,
    /// The logs.
    pub logs: Vec<String>,
}

/// The failures of `results`, identical ones (same step, same output once
/// paths are mapped) merged, in the order they were planned.
pub(crate) fn explain(
    results: &[&BuildResult],
    context_of: impl Fn(&str) -> Option<std::path::PathBuf>,
    root: &Path,
) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    for r in results {
        let Some(e) = &r.error else { continue };
        let log = r
            .log
            .as_ref()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default();
        let context = context_of(&r.app);
        let map = |l: &str| match &context {
            Some(c) => map_paths(l, c, root),
            None => l.to_string(),
        };
        let (step, lines) = match failing_step(&log) {
            Some(s) => (Some(s.title), s.output.iter().map(|l| map(l)).collect()),
            None => (
                None,
                e.stderr_tail
                    .lines()
                    .filter(|l| !l.starts_with("--> "))
                    .map(map)
                    .collect(),
            ),
        };
        let who = format!("{}/{}", r.app, r.arch);
        let logs = r.log.iter().map(|l| l.display().to_string());
        match shown
            .iter_mut()
            .find(|s| s.step == step && s.lines == lines)
        {
            Some(s) => {
                s.who.push(who);
                s.logs.extend(logs);
            }
            None => shown.push(Shown {
                who: vec![who],
                step,
                lines,
                command: command_and_status(e),
                logs: logs.collect(),
            }),
        }
    }
    shown
}

fn command_and_status(e: &crate::process::error::ProcessError) -> String {
    let mut first = e.clone();
    first.stderr_tail.clear();
    first.log = None;
    first.to_string()
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = self.who.join(", ");
        match &self.step {
            Some(step) => writeln!(f, "{who}: failed at {step}")?,
            None => writeln!(f, "{who}: failed")?,
        }
        for l in &self.lines {
            writeln!(f, "  {l}")?;
        }
        writeln!(f, "  {}", self.command)?;
        write!(f, "  log: {}", self.logs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODMAN: &str = "$ podman build --platform linux/amd64 -t api:1-amd64 .
STEP 1/4: FROM docker.io/library/golang:1.19.8-bookworm AS build
STEP 2/4: WORKDIR /src
--> Using cache 0b7a
--> 0b7a
STEP 3/4: COPY . .
--> 11aa
STEP 4/4: RUN go build -o /out/app ./
# api
./main.go:20:2: undefined: fmt.Printx
Error: building at STEP \"RUN go build -o /out/app ./\": while running runtime: exit status 1
# exit status: 1
";

    const DOCKER: &str = "#8 [build 3/4] COPY . .
#8 DONE 0.1s

#9 [build 4/4] RUN go build -o /out/app ./
#9 0.512 # api
#9 0.512 ./main.go:20:2: undefined: fmt.Printx
#9 ERROR: executor failed running [/bin/sh -c go build -o /out/app ./]: exit code: 2
------
 > [build 4/4] RUN go build -o /out/app ./:
------
";

    #[test]
    fn the_failing_step_from_podman_and_buildkit_logs() {
        let p = failing_step(PODMAN).unwrap();
        assert_eq!(p.title, "STEP 4/4: RUN go build -o /out/app ./");
        assert_eq!(p.output, ["# api", "./main.go:20:2: undefined: fmt.Printx"]);
        let d = failing_step(DOCKER).unwrap();
        assert_eq!(d.title, "[build 4/4] RUN go build -o /out/app ./");
        assert_eq!(
            d.output,
            [
                "# api",
                "./main.go:20:2: undefined: fmt.Printx",
                "ERROR: executor failed running [/bin/sh -c go build -o /out/app ./]: exit code: 2"
            ]
        );
        assert_eq!(failing_step("Error: something else\n"), None);
    }

    #[test]
    fn paths_are_mapped_to_the_repository() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("services/api");
        std::fs::create_dir_all(ctx.join("cmd/srv")).unwrap();
        std::fs::write(ctx.join("main.go"), "").unwrap();
        std::fs::write(ctx.join("cmd/srv/x.go"), "").unwrap();
        let m = |l: &str| map_paths(l, &ctx, d.path());
        assert_eq!(
            m("./main.go:20:2: undefined: x"),
            "services/api/main.go:20:2: undefined: x"
        );
        assert_eq!(
            m("/src/cmd/srv/x.go:3: bad"),
            "services/api/cmd/srv/x.go:3: bad"
        );
        assert_eq!(m("main.go:7"), "services/api/main.go:7");
        assert_eq!(
            m("/usr/local/go/src/main.go:1: not ours"),
            "/usr/local/go/src/main.go:1: not ours"
        );
        assert_eq!(m("./other.go:1: missing"), "./other.go:1: missing");
        assert_eq!(m("time: 12:30"), "time: 12:30");
    }
}
