//! The conditions under which a stage is crossed, one function each; every
//! refusal is one sentence naming the line (and the Makefile or script line)
//! and why.

use super::outputs::{self, Output};
use super::Build;
use crate::containerfile::gocmd::{self, Verb};
use crate::containerfile::mountflags::join;
use crate::containerfile::steps::Steps;
use crate::containerfile::{cgo, parse_json_array, Containerfile, Instruction, Stage};

/// Files a builder stage may hand on that do not depend on its architecture.
const ARCH_FREE: [&str; 6] = [
    "/etc/ssl/certs",
    "/etc/ssl/certs/ca-certificates.crt",
    "/usr/share/zoneinfo",
    "/usr/share/ca-certificates",
    "/etc/passwd",
    "/etc/group",
];

/// Directories on the `PATH` of the Go images, where a binary is run by name.
const PATH_DIRS: [&str; 6] = [
    "/go/bin",
    "/usr/local/go/bin",
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/root/go/bin",
];

/// What asks which machine a step runs on: moved to the build platform, it
/// would answer the build machine's architecture, not the target's.
/// (`go env GOARCH` answers the target once the shim's `ENV` is in force.)
const MACHINE_PROBES: [&str; 12] = [
    "uname",
    "dpkg --print-architecture",
    "dpkg-architecture",
    "arch)",
    "$(arch",
    "`arch",
    "lscpu",
    "/proc/cpuinfo",
    "getconf LONG_BIT",
    "HOSTTYPE",
    "MACHTYPE",
    "go env GOHOSTARCH",
];

/// Later stages take from stage `k` only what its builds wrote (or
/// architecture-free data), by `COPY --from`; the builds they take from.
pub(super) fn copied(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    builds: &[Build],
) -> Result<Vec<Build>, String> {
    let st = &stages[k];
    let refers = |v: &str| {
        let v = v.to_lowercase();
        st.name.as_deref() == Some(v.as_str()) || v == k.to_string()
    };
    let mut used = vec![false; builds.len()];
    let mut copied = false;
    let needed = needed_stages(file, stages);
    // A stage the image does not need (a test stage `FROM` the builder) is
    // not part of what the image holds.
    for later in stages[k + 1..]
        .iter()
        .enumerate()
        .filter(|(n, _)| needed[k + 1 + n])
        .map(|(_, s)| s)
    {
        let from = &file.instructions[later.from];
        if refers(&file.resolved_base(later)) {
            return Err(format!(
                "line {} builds FROM it, so all of its files are used",
                from.line
            ));
        }
        for ins in &file.instructions[later.from + 1..later.end] {
            if ins
                .typed_mounts()
                .iter()
                .any(|m| m.from.as_deref().is_some_and(refers))
            {
                return Err(format!("line {} mounts it", ins.line));
            }
            if !matches!(ins.keyword.as_str(), "COPY" | "ADD")
                || !ins.flag("from").is_some_and(refers)
            {
                continue;
            }
            copied = true;
            for src in copy_sources(ins) {
                source_covered(&join("/", &src), ins.line, builds, &mut used)?;
            }
        }
    }
    if !copied {
        return Err("no later stage copies from it".into());
    }
    Ok(builds
        .iter()
        .zip(used)
        .filter(|(_, u)| *u)
        .map(|(b, _)| b.clone())
        .collect())
}

/// Which stages the last one (the image) needs: its base stages, the
/// stages it copies or mounts from, and theirs.
pub(crate) fn needed_stages(file: &Containerfile, stages: &[Stage]) -> Vec<bool> {
    let mut needed = vec![false; stages.len()];
    let mut todo = vec![stages.len().saturating_sub(1)];
    let index = |name: &str| {
        let name = name.to_lowercase();
        stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < stages.len()))
    };
    while let Some(k) = todo.pop() {
        if stages.is_empty() || needed[k] {
            continue;
        }
        needed[k] = true;
        let st = &stages[k];
        let mut refs = vec![file.resolved_base(st)];
        for ins in &file.instructions[st.from + 1..st.end] {
            refs.extend(ins.flag("from").map(str::to_string));
            refs.extend(ins.typed_mounts().into_iter().filter_map(|m| m.from));
        }
        todo.extend(refs.iter().filter_map(|r| index(r)).filter(|&i| i < k));
    }
    needed
}

/// A copied path: the output of a build (marked used), or arch-free data;
/// failing those, what a `go run` build helper may have written in its
/// directory.
fn source_covered(
    src: &str,
    line: usize,
    builds: &[Build],
    used: &mut [bool],
) -> Result<(), String> {
    // `/out/*`: what the directory holds.
    let src = match src.find(['*', '?', '[']) {
        Some(i) => outputs::parent(&src[..i]),
        None => src.to_string(),
    };
    for helpers in [false, true] {
        let mut ok = false;
        for (n, b) in builds.iter().enumerate() {
            if (b.verb == Verb::Run) == helpers && b.output.covers(&src) {
                used[n] = true;
                ok = true;
            }
        }
        if ok {
            return Ok(());
        }
        if ARCH_FREE
            .iter()
            .any(|d| src == *d || src.starts_with(&format!("{d}/")))
        {
            return Ok(());
        }
    }
    if let Some(Output::Unknown(why)) = builds
        .iter()
        .map(|b| &b.output)
        .find(|o| matches!(o, Output::Unknown(_)))
    {
        return Err(format!("line {line} copies `{src}` from it, and {why}"));
    }
    let wrote: Vec<String> = builds
        .iter()
        .filter(|b| b.verb != Verb::Run)
        .filter_map(|b| match &b.output {
            Output::Path(p) | Output::Dir(p) => Some(format!("`{p}` ({})", b.step.place())),
            _ => None,
        })
        .collect();
    let hint = match wrote.as_slice() {
        [] => String::new(),
        w => format!(" (its builds write {})", w.join(", ")),
    };
    Err(format!(
        "line {line} copies `{src}` from it, which is not the output of its `go build`{hint}"
    ))
}

/// The source paths of a `COPY`/`ADD` (all words but the last).
fn copy_sources(ins: &Instruction) -> Vec<String> {
    let words = parse_json_array(&ins.args)
        .unwrap_or_else(|| ins.args.split_whitespace().map(str::to_string).collect());
    words[..words.len().saturating_sub(1)].to_vec()
}

/// The stage's own `ENV`/`ARG` (and its parents') give GOOS/GOARCH only
/// from the target: the shim's `ENV` would override a fixed value that the
/// emulated build keeps.
pub(super) fn file_sets_no_arch(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
) -> Result<(), String> {
    let mut chain = vec![k];
    while let Some(p) = parent_stage(file, stages, *chain.last().unwrap_or(&k)) {
        if chain.contains(&p) {
            break;
        }
        chain.push(p);
    }
    for &s in &chain {
        for ins in &file.instructions[stages[s].from + 1..stages[s].end] {
            if !matches!(ins.keyword.as_str(), "ENV" | "ARG") {
                continue;
            }
            for (var, value) in cgo::assignments(ins) {
                let value = value.unwrap_or_default();
                let ok = match var.as_str() {
                    "GOOS" => value.is_empty() || value == "linux" || value.contains("TARGETOS"),
                    "GOARCH" => value.is_empty() || value.contains("TARGETARCH"),
                    _ => true,
                };
                if !ok {
                    return Err(format!("line {} sets {var}={value} itself, not from the target: every image would get that platform's binary", ins.line));
                }
            }
        }
    }
    Ok(())
}

fn parent_stage(file: &Containerfile, stages: &[Stage], k: usize) -> Option<usize> {
    let base = file.resolved_base(&stages[k]).to_lowercase();
    stages[..k]
        .iter()
        .rposition(|s| s.name.as_deref() == Some(base.as_str()))
}

/// GOOS/GOARCH the file gives a copied build are the target's (`linux`,
/// `$TARGETOS`, `$TARGETARCH`), never another architecture.
pub(super) fn targets_only(products: &[Build]) -> Result<(), String> {
    for b in products {
        if let Some(os) = b.step.env.get("GOOS") {
            if os != "linux" && !os.contains("TARGETOS") && !os.is_empty() {
                return Err(format!(
                    "{} sets GOOS={os}, which is not the target's (linux)",
                    b.step.place()
                ));
            }
        }
        if let Some(arch) = b.step.env.get("GOARCH") {
            if !arch.contains("TARGETARCH") && !arch.is_empty() {
                return Err(format!("{} sets GOARCH={arch} itself, not from the target (`GOARCH=$TARGETARCH`): every image would get that architecture's binary", b.step.place()));
            }
        }
    }
    Ok(())
}

/// cgo is off for every copied build (its environment says
/// `CGO_ENABLED=0`: `ENV`, `ARG` with the build args, the command, a
/// Makefile's `export`).
pub(super) fn cgo_off(products: &[Build], cgo_build_arg: Option<&str>) -> Result<(), String> {
    for b in products {
        if b.step.env.get("CGO_ENABLED").map(String::as_str) == Some("0") {
            continue;
        }
        let why = match cgo_build_arg {
            Some(v) if v != "0" => format!("--build-arg CGO_ENABLED={v}"),
            _ => "add `ENV CGO_ENABLED=0` or `ARG CGO_ENABLED=0`".into(),
        };
        return Err(format!(
            "cgo is not provably off for the `{}` at {} ({why})",
            b.verb.word(),
            b.step.place()
        ));
    }
    Ok(())
}

/// No step asks which machine it runs on (a native program answers the
/// build machine's); none before the shim's `ENV` picks files by the target.
pub(super) fn no_probes(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    steps: &Steps,
    insert_at: usize,
) -> Result<(), String> {
    let st = &stages[k];
    for at in st.from + 1..st.end {
        let ins = &file.instructions[at];
        if ins.keyword != "RUN" {
            continue;
        }
        let text = cgo::run_text(ins);
        let by_target = ["TARGETARCH", "TARGETPLATFORM"];
        if probes(&text, at < insert_at)
            || (at < insert_at && by_target.iter().any(|s| text.contains(s)))
        {
            return Err(format!(
                "line {} depends on the machine's architecture",
                ins.line
            ));
        }
    }
    for s in steps.steps.iter().filter(|s| s.origin.is_some()) {
        if probes(&s.cmd.raw, !s.env.contains_key("GOARCH")) {
            return Err(format!(
                "{} depends on the machine's architecture (`{}`)",
                s.place(),
                s.cmd.raw
            ));
        }
    }
    Ok(())
}

/// Whether text asks the machine's architecture; `go env GOARCH` counts
/// where no GOARCH is set (it then answers the machine's).
fn probes(text: &str, goarch_unset: bool) -> bool {
    MACHINE_PROBES.iter().any(|p| text.contains(p))
        || (goarch_unset && text.contains("go env GOARCH"))
}

/// Whether a step runs a program built for the target: `go run`, `go
/// test`, `go generate`'s commands, or a binary one of its builds made.
pub(super) fn runs_target(steps: &Steps, builds: &[Build]) -> bool {
    steps.steps.iter().enumerate().any(|(n, s)| {
        if gocmd::parse(&s.cmd.words).is_some_and(|g| g.verb.runs_here()) {
            return true;
        }
        let path = program_path(s);
        builds.iter().any(|b| {
            built_before(steps, n, b)
                && path.as_ref().is_some_and(|p| b.output.runs(p, &on_path(b)))
        })
    })
}

/// Tools of the build machine that read or rewrite a binary: they do not
/// handle another architecture's (binutils' `strip` says "Unable to
/// recognise the format").
const NATIVE_BINARY_TOOLS: [&str; 7] = [
    "strip",
    "objcopy",
    "llvm-strip",
    "llvm-objcopy",
    "eu-strip",
    "patchelf",
    "ldd",
];

/// No native binary tool works on what a build made.
pub(super) fn no_native_tools_on(steps: &Steps, builds: &[Build]) -> Result<(), String> {
    for (n, s) in steps.steps.iter().enumerate() {
        let Some(tool) = s.cmd.program().filter(|p| NATIVE_BINARY_TOOLS.contains(p)) else {
            continue;
        };
        for arg in s.cmd.words[1..].iter().filter(|w| !w.starts_with('-')) {
            let path = crate::containerfile::mountflags::join(
                s.cwd.as_deref().unwrap_or("/"),
                &s.expand(arg),
            );
            if let Some(b) = builds.iter().find(|b| {
                b.verb != Verb::Run && built_before(steps, n, b) && b.output.covers(&path)
            }) {
                return Err(format!("{} runs `{}` on the binary the `{}` at {} makes: cross-compiled, it is the target's, which the build machine's `{tool}` does not handle", s.place(), s.cmd.raw, b.verb.word(), b.step.place()));
            }
        }
    }
    Ok(())
}

/// Whether build `b` ran before step `n`.
fn built_before(steps: &Steps, n: usize, b: &Build) -> bool {
    steps.steps[..n]
        .iter()
        .any(|p| p.at == b.step.at && p.cmd.raw == b.step.cmd.raw)
}

/// The program a step runs, as a path (or a bare name for `PATH`).
fn program_path(s: &crate::containerfile::steps::Step) -> Option<String> {
    let program = s.expand(s.cmd.words.first()?);
    Some(if program.contains('/') {
        crate::containerfile::mountflags::join(s.cwd.as_deref().unwrap_or("/"), &program)
    } else {
        program
    })
}

/// The names under which a build's binaries are found on `PATH`.
fn on_path(b: &Build) -> Vec<String> {
    let dir = match &b.output {
        Output::Dir(d) => d.trim_end_matches('/').to_string(),
        Output::Path(p) => outputs::parent(p),
        _ => return Vec::new(),
    };
    if b.verb == Verb::Install || PATH_DIRS.contains(&dir.as_str()) {
        let mut names = b.names.clone();
        if let Output::Path(p) = &b.output {
            names.push(p.rsplit('/').next().unwrap_or(p).to_string());
        }
        names
    } else {
        Vec::new()
    }
}

/// The `go install` steps whose binaries move from `$GOPATH/bin/<os>_<arch>`:
/// `(RUN index, GOBIN the file set)`. A GOBIN set on the command itself
/// cannot be lifted for the install (which then refuses cross-compiled
/// binaries).
pub(super) fn installs(builds: &[Build]) -> Result<Vec<(usize, Option<String>)>, String> {
    let mut out: Vec<(usize, Option<String>)> = Vec::new();
    for b in builds.iter().filter(|b| b.verb == Verb::Install) {
        let gobin = b.step.env.get("GOBIN").filter(|g| !g.is_empty()).cloned();
        let own = b.step.cmd.assigns.iter().any(|(k, _)| k == "GOBIN") || b.step.origin.is_some();
        if gobin.is_some() && own {
            return Err(format!("{} sets GOBIN for `go install`, which refuses to install a cross-compiled binary when GOBIN is set", b.step.place()));
        }
        if !out.iter().any(|(at, _)| *at == b.step.at) {
            out.push((b.step.at, gobin));
        }
    }
    Ok(out)
}
