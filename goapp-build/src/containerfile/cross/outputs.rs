//! Where the binaries of a stage's `go build` and `go install` commands
//! land, as the go command decides it: `-o` against the directory the
//! command runs in (`..` included), `-o dir/` and `-o` of a directory, no
//! `-o` (the package's name in that directory), `go install` into `GOBIN`
//! or the first `GOPATH`'s `bin`.

use crate::containerfile::gocmd::{self, GoCmd, Verb};
use crate::containerfile::mountflags::join;
use crate::containerfile::steps::{self, Files, Step};
use crate::containerfile::{Containerfile, Stage};

/// What a build writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// A path: the binary, or, when the path is a directory, the binaries in it.
    Path(String),
    /// A directory the binaries go into.
    Dir(String),
    /// Nothing (several packages without `-o` are compiled and discarded).
    Nothing,
    /// Not known, and why.
    Unknown(String),
}

impl Output {
    /// Whether a `COPY --from` of `src` takes only what this build wrote
    /// (or the directory that holds its binary).
    pub(crate) fn covers(&self, src: &str) -> bool {
        let under = |d: &str| {
            let d = d.trim_end_matches('/');
            src == d || src.starts_with(&format!("{d}/"))
        };
        match self {
            Output::Path(p) => under(p) || parent(p) == src,
            Output::Dir(d) => under(d),
            Output::Nothing | Output::Unknown(_) => false,
        }
    }

    /// Whether running `program` (a path, or a name found on `PATH`) runs
    /// something this build wrote.
    pub(crate) fn runs(&self, program: &str, names: &[String]) -> bool {
        match self {
            Output::Path(p) | Output::Dir(p) if program.starts_with('/') => {
                program == p || program.starts_with(&format!("{}/", p.trim_end_matches('/')))
            }
            Output::Path(_) | Output::Dir(_) => names.iter().any(|n| n == program),
            _ => false,
        }
    }
}

/// The directory part of a path (`/` for a top-level one).
pub(crate) fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// Where the build of `step` (a `go build` or `go install`) writes, and
/// the names its binaries get.
pub(crate) fn of(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    step: &Step,
    go: &GoCmd,
    files: &dyn Files,
) -> (Output, Vec<String>) {
    let cwd = match &go.chdir {
        Some(c) => join_opt(step.cwd.as_deref(), &step.expand(c)),
        None => step.cwd.clone(),
    };
    let packages: Vec<String> = go.args.iter().map(|a| step.expand(a)).collect();
    let names = names(file, stages, k, step, cwd.as_deref(), &packages, files);
    let out = match go.verb {
        Verb::Install => install_dir(step),
        // A build helper (`go run build.go`) writes where it runs, as far
        // as anyone can tell without running it.
        Verb::Run => match &cwd {
            Some(d) => Output::Dir(d.clone()),
            None => Output::Unknown(format!(
                "the `go run` at {} runs in a directory the file does not set (no WORKDIR)",
                step.place()
            )),
        },
        _ => build_output(step, go, cwd.as_deref(), &packages, &names),
    };
    (out, names.unwrap_or_default())
}

fn install_dir(step: &Step) -> Output {
    if let Some(bin) = step.env.get("GOBIN").filter(|b| !b.is_empty()) {
        return known_dir(step, bin);
    }
    let gopath = step
        .env
        .get("GOPATH")
        .cloned()
        .unwrap_or_else(|| "/root/go".into());
    let first = gopath.split(':').next().unwrap_or_default().to_string();
    known_dir(step, &format!("{first}/bin"))
}

fn known_dir(step: &Step, dir: &str) -> Output {
    if dir.contains('$') || !dir.starts_with('/') {
        return Output::Unknown(format!(
            "the `go install` at {} installs into `{dir}`, which the file does not pin down",
            step.place()
        ));
    }
    Output::Dir(join("/", dir))
}

fn build_output(
    step: &Step,
    go: &GoCmd,
    cwd: Option<&str>,
    packages: &[String],
    names: &Option<Vec<String>>,
) -> Output {
    let Some(o) = &go.output else {
        if packages.len() > 1 {
            return Output::Nothing;
        }
        return match (names, cwd) {
            (Some(n), Some(d)) if n.len() == 1 => Output::Path(join(d, &n[0])),
            (Some(_), Some(_)) => Output::Unknown(format!("the `go build` at {} has no `-o`, and its pattern may match several packages (then it writes nothing)", step.place())),
            (_, None) => Output::Unknown(format!("the `go build` at {} has no `-o` and runs in a directory the file does not set (no WORKDIR)", step.place())),
            (None, _) => Output::Unknown(format!("the `go build` at {} has no `-o`, and the name of its binary (its package's) cannot be read from the build context's go.mod", step.place())),
        };
    };
    let o = step.expand(o);
    if o.contains('$') {
        return Output::Unknown(format!(
            "the `go build -o {o}` at {} names a path the file does not pin down",
            step.place()
        ));
    }
    match join_opt(cwd, &o) {
        Some(p) if o.ends_with('/') => Output::Dir(p),
        Some(p) => Output::Path(p),
        None => Output::Unknown(format!(
            "the `go build -o {o}` at {} is relative to a WORKDIR the file does not set",
            step.place()
        )),
    }
}

/// The names `go build`/`go install` give the packages' binaries.
fn names(
    file: &Containerfile,
    stages: &[Stage],
    k: usize,
    step: &Step,
    cwd: Option<&str>,
    packages: &[String],
    files: &dyn Files,
) -> Option<Vec<String>> {
    let packages: Vec<String> = if packages.is_empty() {
        vec![".".into()]
    } else {
        packages.to_vec()
    };
    if packages.iter().all(|p| p.ends_with(".go")) {
        let first = packages[0].rsplit('/').next().unwrap_or(&packages[0]);
        return Some(vec![first.trim_end_matches(".go").to_string()]);
    }
    let mut out = Vec::new();
    for p in &packages {
        if p.contains("...") || p.contains('$') {
            return None;
        }
        let import = if p.starts_with('.') || p.starts_with('/') {
            let dir = join_opt(cwd, p)?;
            match steps::import_path(file, stages, k, step.at, &dir, files) {
                Some(i) => i,
                // A directory below the module's root is named after itself;
                // only the root takes the module's name, which needs go.mod.
                None if p
                    .trim_start_matches("./")
                    .contains(|c: char| c != '.' && c != '/') =>
                {
                    dir
                }
                None => return None,
            }
        } else {
            p.split('@').next().unwrap_or(p).to_string()
        };
        out.push(gocmd::exec_name(&import));
    }
    Some(out)
}

fn join_opt(cwd: Option<&str>, p: &str) -> Option<String> {
    if p.starts_with('/') {
        return Some(join("/", p));
    }
    cwd.map(|d| join(d, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_copy_may_take() {
        let p = Output::Path("/app/bin".into());
        assert!(p.covers("/app/bin"));
        assert!(p.covers("/app/bin/api"), "-o of a directory");
        assert!(p.covers("/app"), "the directory holding it");
        assert!(!p.covers("/app/src"));
        assert!(!p.covers("/app/binary"));
        let d = Output::Dir("/out/".into());
        assert!(d.covers("/out") && d.covers("/out/a") && !d.covers("/"));
        assert!(d.runs("/out/a", &[]));
        assert!(d.runs("api", &["api".into()]));
        assert!(!p.runs("/app/src/x", &[]));
    }
}
