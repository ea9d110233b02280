//! The cross-compilation shim. A builder stage without `--platform` runs
//! every step for a foreign architecture under QEMU (the Go toolchain, the
//! standard library's compilation: many times slower). When it provably
//! makes no difference to the image, the shimmed copy puts the stage on the
//! build platform and has the go command cross-compile instead:
//!
//! ```text
//! FROM --platform=$BUILDPLATFORM <base> AS build      (was: FROM <base> AS build)
//! …                                                  (shared by every architecture)
//! ARG TARGETOS
//! ARG TARGETARCH
//! ENV GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=7      (before the first build a later stage copies from)
//! RUN … go build -o /out/app …                       (or `make`, or a script: followed)
//! ```
//!
//! Provably means, for the `go build`/`go install` commands the stage runs
//! (on the `RUN` line, or in a Makefile or script of the context it runs):
//! later stages only `COPY --from` their outputs (or architecture-free data
//! such as CA certificates); cgo is off for each build they copy; nothing
//! sets GOOS/GOARCH to something else than the target; no step asks which
//! machine it runs on, and none before the first such build picks files by
//! the target; no step runs a binary built for the target; a `go run`,
//! `go test` or `go generate` after it is given the build machine's
//! GOOS/GOARCH (its program runs here). `go install` writes a
//! cross-compiled binary to `$GOPATH/bin/<os>_<arch>/`: a step moves it
//! where the native install puts it. Otherwise the file is left alone and
//! the lint says why.

mod checks;
pub(crate) mod outputs;

use crate::containerfile::gocmd::{self, Verb};
use crate::containerfile::preflight::{on_buildplatform, Context};
use crate::containerfile::steps::{self, Env, Reader, Step, Steps};
use crate::containerfile::{Containerfile, Stage};
use outputs::Output;

/// What the shim does to a file.
#[derive(Debug, Default)]
pub(crate) struct CrossShim {
    /// `(first line, last line, text)` replacements (the `FROM` lines).
    pub replace: Vec<(usize, usize, String)>,
    /// `(line, text)` inserted before a line (past the last line: at the end).
    pub inserts: Vec<(usize, String)>,
    /// Stage indices moved to the build platform, with the line of the
    /// first build a later stage copies from.
    pub crossed: Vec<(usize, usize)>,
    /// Stage indices left alone, and why.
    pub not_crossed: Vec<(usize, String)>,
    /// `(first line, last line)` of the `RUN`s whose `go run`, `go test`
    /// and `go generate` get the build machine's GOOS/GOARCH.
    pub host_runs: Vec<(usize, usize)>,
}

/// The variables the shim sets.
const SHIM_VARS: &str = "ENV GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=7";

/// Put before `go run`, `go test` and `go generate` in a crossed stage: an
/// empty value is the go command's default, the machine it runs on.
pub(crate) const HOST_PREFIX: &str = "GOOS= GOARCH= GOARM= ";

/// Decides, stage by stage. `enabled` is false with `--no-cross-compile`,
/// `cross_compile: false` or `--no-shims`. The decision and the text do not
/// depend on the architectures asked for (a native build through the shim
/// makes the same binary): each image's inputs stay the same when the list
/// changes, so adding arm64 does not rebuild amd64.
pub(crate) fn plan(file: &Containerfile, cx: &Context, enabled: bool) -> CrossShim {
    let mut out = CrossShim::default();
    let stages = file.stages();
    for k in 0..stages.len().saturating_sub(1) {
        let st = &stages[k];
        let body = &file.instructions[st.from + 1..st.end];
        if on_buildplatform(st) || !body.iter().any(|i| i.keyword == "RUN") {
            continue;
        }
        if !enabled {
            out.not_crossed.push((k, "cross-compiling is turned off (`cross_compile: false`, --no-cross-compile or --no-shims)".into()));
            continue;
        }
        match check_stage(file, &stages, k, cx) {
            Ok(c) => apply(file, st, &c, &mut out, k),
            Err(why) => out.not_crossed.push((k, why)),
        }
    }
    out
}

/// How a stage is crossed.
#[derive(Debug)]
struct Crossing {
    /// Index of the first `RUN` that builds something a later stage copies.
    insert_at: usize,
    /// `go install` steps to follow with the move of their binaries:
    /// `(index of the RUN, GOBIN the file set)`.
    installs: Vec<(usize, Option<String>)>,
    /// `RUN`s (indices) whose host runners get the build machine's GOOS/GOARCH.
    host_runs: Vec<usize>,
}

/// A build command of the stage and what it writes.
#[derive(Clone, Debug)]
pub(crate) struct Build {
    step: Step,
    verb: Verb,
    output: Output,
    names: Vec<String>,
}

/// `Ok` when stage `k` can be cross-compiled.
fn check_stage(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    cx: &Context,
) -> Result<Crossing, String> {
    if stages[k].platform.is_some() {
        return Err("its `--platform` is set explicitly".into());
    }
    let read = |inserted| {
        steps::of_stage(
            file,
            stages,
            k,
            &Reader {
                files: cx.files,
                build_args: cx.build_args,
                inserted,
            },
        )
    };
    let before = read(None);
    let builds = build_steps(file, stages, k, &before, cx);
    if builds.is_empty() {
        return Err(match before.unfollowed.first() {
            Some(u) => u.why.clone(),
            None => "it runs no `go build`".into(),
        });
    }
    if let Some(u) = before.unfollowed.first() {
        return Err(u.why.clone());
    }
    checks::no_probes(file, stages, k, &before, None)?;
    let products = checks::copied(file, stages, k, &builds)?;
    let insert_at = products.iter().map(|b| b.step.at).min().unwrap_or(0);
    checks::targets_only(&products)?;
    checks::cgo_off(&products, cx.cgo_build_arg)?;
    // Read again with the shim's ENV in force from there on: a Makefile's
    // `GOARCH ?=` then takes the target's, as it does under emulation.
    let after = read(Some((insert_at, shim_env())));
    let after_builds = build_steps(file, stages, k, &after, cx);
    checks::no_probes(file, stages, k, &after, Some(insert_at))?;
    checks::runs_no_target_binary(&after, &after_builds, insert_at)?;
    let host_runs = checks::host_runners(file, &after, insert_at)?;
    let installs = checks::installs(&after_builds, insert_at)?;
    Ok(Crossing {
        insert_at,
        installs,
        host_runs,
    })
}

/// The environment the shim's `ENV` line gives (for following makes and
/// scripts after it).
fn shim_env() -> Env {
    [
        ("GOOS", "$TARGETOS"),
        ("GOARCH", "$TARGETARCH"),
        ("GOARM", "7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The `go build`/`go install` commands of the stage, with their outputs.
fn build_steps(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    steps: &Steps,
    cx: &Context,
) -> Vec<Build> {
    steps
        .steps
        .iter()
        .filter_map(|s| {
            let words: Vec<String> = s.cmd.words.clone();
            let go = gocmd::parse(&words)?;
            go.verb.builds().then(|| {
                let (output, names) = outputs::of(file, stages, k, s, &go, cx.files);
                Build {
                    step: s.clone(),
                    verb: go.verb,
                    output,
                    names,
                }
            })
        })
        .collect()
}

fn apply(file: &Containerfile, st: &Stage, c: &Crossing, out: &mut CrossShim, k: usize) {
    let from = &file.instructions[st.from];
    out.replace.push((
        from.line,
        from.end_line,
        format!("FROM --platform=$BUILDPLATFORM {}", from.args.trim()),
    ));
    // GOARM only counts for GOARCH=arm (arm/v7, the one arm we build); set
    // always, so the text is the same whatever the architectures.
    let line = file.instructions[c.insert_at].line;
    out.inserts.push((line, "ARG TARGETOS".into()));
    out.inserts.push((line, "ARG TARGETARCH".into()));
    out.inserts.push((line, SHIM_VARS.into()));
    for (at, gobin) in &c.installs {
        let ins = &file.instructions[*at];
        let after = file
            .instructions
            .get(at + 1)
            .map(|i| i.line)
            .unwrap_or(usize::MAX);
        if gobin.is_some() {
            out.inserts.push((ins.line, "ENV GOBIN=\"\"".into()));
        }
        out.inserts.push((after, move_installed(gobin.as_deref())));
        if let Some(dir) = gobin {
            out.inserts.push((after, format!("ENV GOBIN=\"{dir}\"")));
        }
    }
    out.host_runs.extend(c.host_runs.iter().map(|&at| {
        let ins = &file.instructions[at];
        (ins.line, ins.end_line)
    }));
    out.crossed.push((k, line));
}

/// The step after a cross-compiling `go install`: its binaries from
/// `$GOPATH/bin/<os>_<arch>/` to where a native install puts them (a
/// native build of the same file has no such directory: nothing moves).
fn move_installed(gobin: Option<&str>) -> String {
    let dest = match gobin {
        Some(d) => d.to_string(),
        None => "$(go env GOPATH)/bin".to_string(),
    };
    format!("RUN d=\"$(go env GOPATH)/bin/$(go env GOOS)_$(go env GOARCH)\"; if [ -d \"$d\" ]; then mkdir -p \"{dest}\" && mv \"$d\"/* \"{dest}/\" && rmdir \"$d\"; fi")
}

/// Puts [`HOST_PREFIX`] before each `go run`, `go test` and `go generate`
/// on the given lines; the line count does not change.
pub(crate) fn rewrite_host_runs(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if !ranges.iter().any(|(a, b)| (*a..=*b).contains(&n)) {
            out.push(line.to_string());
            continue;
        }
        let mut l = line.to_string();
        for verb in ["go run ", "go test ", "go generate"] {
            l = prefix_each(&l, verb);
        }
        out.push(l);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn prefix_each(line: &str, verb: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(verb) {
        let before = rest[..i].chars().last();
        let starts = before.is_none_or(|c| c.is_whitespace() || ";&|(\"'`".contains(c));
        out.push_str(&rest[..i]);
        if starts && !out.ends_with(HOST_PREFIX) {
            out.push_str(HOST_PREFIX);
        }
        out.push_str(verb);
        rest = &rest[i + verb.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
