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
//! The `ENV` goes before the first step that compiles or runs Go (`go
//! build`, `install`, `run`, `test`, `generate`, on the `RUN` line or in a
//! Makefile or script of the context the `RUN` calls): from there on the go
//! command builds for the target, as it does under emulation. A program a
//! step then runs that was built here (`go run`, `go generate`'s commands,
//! test binaries, `./app -h`) is the target's and runs under the registered
//! emulation, so it answers `runtime.GOARCH` as in the emulated build (a
//! generator recording its architecture records the target's); only those
//! programs run emulated, never the toolchain.
//!
//! Provably the same image means, for the builds later stages copy from
//! (`go build`/`go install` outputs; a `go run` build helper's own
//! directory): later stages only `COPY --from` those (or architecture-free
//! data such as CA certificates); cgo is off for each; nothing sets
//! GOOS/GOARCH to something else than the target; no step asks which
//! machine it runs on (those run natively), and none before the `ENV` picks
//! files by the target; no native tool of the build machine (`strip`,
//! `objcopy`) works on a binary built for the target. `go install` writes
//! a cross-compiled binary to `$GOPATH/bin/<os>_<arch>/`: a step moves it
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
    /// Crossed stages that run programs built for the target (`go run`,
    /// `go generate`, tests, a built binary): they need the target's
    /// emulation registered, as the whole stage did before.
    pub runs_target: Vec<usize>,
}

/// The variables the shim sets.
const SHIM_VARS: &str = "ENV GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=7";

/// Decides, stage by stage. `enabled` is false with `--no-cross-compile`,
/// `cross_compile: false` or `--no-shims`. The decision and the text do not
/// depend on the architectures asked for (a native build through the shim
/// makes the same binary): each image's inputs stay the same when the list
/// changes, so adding arm64 does not rebuild amd64.
pub(crate) fn plan(file: &Containerfile, cx: &Context, enabled: bool) -> CrossShim {
    let mut out = CrossShim::default();
    let stages = file.stages();
    let needed = checks::needed_stages(file, &stages);
    // A stage the image does not need is not built (podman and BuildKit
    // skip it): nothing to decide.
    for k in (0..stages.len().saturating_sub(1)).filter(|&k| needed[k]) {
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
    /// It runs programs built for the target.
    runs_target: bool,
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
    let read = |from| {
        steps::of_stage(
            file,
            stages,
            k,
            &Reader {
                files: cx.files,
                build_args: cx.build_args,
                inserted: Some((from, shim_env())),
            },
        )
    };
    // Read first as if the ENV stood at the top: a Makefile's conditions
    // then see GOARCH as they will where it is placed.
    let Some(insert_at) = first_go_step(&read(0)) else {
        return Err(no_go_reason(&read(0)));
    };
    let steps = read(insert_at);
    if let Some(u) = steps.unfollowed.first() {
        return Err(u.why.clone());
    }
    checks::no_probes(file, stages, k, &steps, insert_at)?;
    let builds = build_steps(file, stages, k, &steps, cx);
    let products = checks::copied(file, stages, k, &builds)?;
    checks::file_sets_no_arch(file, stages, k)?;
    checks::targets_only(&products)?;
    checks::cgo_off(&products, cx.cgo_build_arg())?;
    checks::no_native_tools_on(&steps, &builds)?;
    Ok(Crossing {
        insert_at,
        installs: checks::installs(&builds)?,
        runs_target: checks::runs_target(&steps, &builds),
    })
}

/// The first `RUN` (index) with a step that compiles or runs Go.
fn first_go_step(steps: &Steps) -> Option<usize> {
    steps
        .steps
        .iter()
        .filter(|s| gocmd::parse(&s.cmd.words).is_some_and(|g| g.verb.compiles()))
        .map(|s| s.at)
        .min()
}

/// Why a stage with no Go to compile is left alone.
fn no_go_reason(steps: &Steps) -> String {
    match steps.unfollowed.first() {
        Some(u) => u.why.clone(),
        None => NO_GO.into(),
    }
}

/// Which stages the image (the last stage) needs.
pub(crate) fn needed(file: &Containerfile, stages: &[Stage]) -> Vec<bool> {
    checks::needed_stages(file, stages)
}

/// Why a stage is left alone when it runs no Go at all (a C++ or asset
/// stage): the lint then says nothing about cross-compiling it.
pub(crate) const NO_GO: &str = "it runs no `go build`";

/// Where the `go build`/`go install` commands of stage `k` write, as far
/// as the file says (for the lint on a `COPY` that forgot its `--from`).
pub(crate) fn stage_outputs(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    cx: &Context,
) -> Vec<Output> {
    let steps = steps::of_stage(
        file,
        stages,
        k,
        &Reader {
            files: cx.files,
            build_args: cx.build_args,
            inserted: None,
        },
    );
    build_steps(file, stages, k, &steps, cx)
        .into_iter()
        .map(|b| b.output)
        .collect()
}

/// The environment the shim's `ENV` line gives (for following makes and
/// scripts after it).
fn shim_env() -> Env {
    [
        // Every target is linux: a Makefile's `ifeq ($(GOOS),linux)` holds.
        ("GOOS", "linux"),
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
            (go.verb.builds() || go.verb == Verb::Run).then(|| {
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
    if c.runs_target {
        out.runs_target.push(k);
    }
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

#[cfg(test)]
mod tests;
