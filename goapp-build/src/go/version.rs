//! Go versions: parsing Go's irregular tag names, the `go` and `toolchain`
//! directives of go.mod, and choosing the newest stable patch of a release line.
//! Pure functions; the network side (`git ls-remote`, the cache) is in `gotags`.

pub use crate::core::gover::GoVersion;
#[cfg(test)]
use crate::core::gover::Pre;
pub use crate::core::gover::Request;
use anyhow::{bail, Result};
use std::path::Path;

/// Every Go version named by `git ls-remote --tags` output, sorted, without
/// repeats. Peeled lines (`refs/tags/go1.21.0^{}`) name the same tag again and
/// non-release tags are not versions; both are ignored.
pub(crate) fn parse_ls_remote(output: &str) -> Vec<GoVersion> {
    let mut out: Vec<GoVersion> = output
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|r| r.strip_prefix("refs/tags/"))
        .map(|r| r.strip_suffix("^{}").unwrap_or(r))
        .filter_map(GoVersion::parse)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The newest version of the release line `line` among `known`: stable
/// releases only unless `prerelease` is set. The error says what exists.
pub(crate) fn newest_in_line(
    known: &[GoVersion],
    line: (u32, u32),
    prerelease: bool,
) -> Result<GoVersion> {
    let in_line = known.iter().filter(|v| v.line() == line);
    let best = in_line
        .clone()
        .filter(|v| prerelease || v.is_stable())
        .max();
    if let Some(v) = best {
        return Ok(*v);
    }
    let name = format!("{}.{}", line.0, line.1);
    if let Some(pre) = in_line.max() {
        bail!("Go {name} has no stable release yet (newest: {pre}): pass --prerelease to use it, or pin a version with --go-version");
    }
    let newest = known.iter().filter(|v| v.is_stable()).max();
    match newest {
        Some(n) => bail!("no Go {name} release is tagged in the Go repository (newest stable: {n}): ask for a released version (the go directive, `ver`, `go_version:` or --go-version, whichever named {name}), e.g. {n}"),
        None => bail!("the Go repository lists no Go release tags at all: check --go-repo / GOAPP_GO_REPO"),
    }
}

/// What go.mod asks for: the `go` directive and, if present, `toolchain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoMod {
    /// `go 1.21` or `go 1.21.3`.
    pub go: GoVersion,
    /// Its line in the file (1-based).
    pub go_line: usize,
    /// `toolchain go1.22.1`; `None` when absent or `default`.
    pub toolchain: Option<GoVersion>,
}

impl GoMod {
    /// The version whose release line the build should use: `toolchain` when
    /// it names a newer one than `go`.
    pub(crate) fn wanted(&self) -> GoVersion {
        match self.toolchain {
            Some(t) if t > self.go => t,
            _ => self.go,
        }
    }
}

/// Whether a go.mod requires any module, so that a build has modules to
/// fetch (and the secrets and agent that fetching may need matter). A
/// stdlib-only program requires none.
pub(crate) fn go_mod_requires(text: &str) -> bool {
    let mut in_block = false;
    for raw in text.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if in_block {
            match line {
                ")" => in_block = false,
                "" => {}
                _ => return true,
            }
        } else if let Some(rest) = line.strip_prefix("require") {
            match rest.trim() {
                "(" => in_block = true,
                "()" | "( )" => {}
                r if !r.is_empty() && rest.starts_with([' ', '\t']) => return true,
                _ => {}
            }
        }
    }
    false
}

/// Parses the directives of a go.mod that decide the Go version. `path` is
/// only for messages (`go.mod:3: …`).
pub(crate) fn parse_go_mod(text: &str, path: &Path) -> Result<GoMod> {
    let mut go = None;
    let mut go_line = 0;
    let mut toolchain = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let (Some(directive), value, extra) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let where_ = format!("{}:{}", path.display(), i + 1);
        match directive {
            "go" => {
                let v = value.filter(|_| extra.is_none()).and_then(|v| GoVersion::parse(v).filter(|_| !v.starts_with("go")));
                match v {
                    Some(v) => {
                        go = Some(v);
                        go_line = i + 1;
                    }
                    None => bail!("{where_}: `{line}` is not a valid go directive: write e.g. `go 1.21`"),
                }
            }
            "toolchain" => match value {
                Some("default") if extra.is_none() => {}
                Some(v) if extra.is_none() && v.starts_with("go") => match GoVersion::parse(v) {
                    Some(v) => toolchain = Some(v),
                    None => bail!("{where_}: `{line}` is not a valid toolchain directive: write e.g. `toolchain go1.22.1`"),
                },
                _ => bail!("{where_}: `{line}` is not a valid toolchain directive: write e.g. `toolchain go1.22.1`"),
            },
            _ => {}
        }
    }
    match go {
        Some(go) => Ok(GoMod {
            go,
            go_line,
            toolchain,
        }),
        None => bail!(
            "{}: no `go` directive: add one such as `go 1.21`, or pass --go-version",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> GoVersion {
        GoVersion::parse(s).unwrap()
    }

    #[test]
    fn parses_irregular_tags() {
        assert_eq!(v("go1.21.0").to_string(), "1.21.0");
        assert_eq!(v("go1.20").to_string(), "1.20");
        assert_eq!(v("go1.21rc2").pre, Some(Pre::Rc(2)));
        assert_eq!(v("go1.9beta1").pre, Some(Pre::Beta(1)));
        for bad in [
            "go1.4-bootstrap-20171003",
            "weekly.2011-01-01",
            "release.r60",
            "go1",
            "go1.21.",
            "go1.21rc",
            "go1.21.1x",
        ] {
            assert_eq!(GoVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_prereleases_before_releases() {
        let mut vs = [
            v("1.21.1"),
            v("1.21rc2"),
            v("1.21.0"),
            v("1.21beta1"),
            v("1.20"),
            v("1.21rc10"),
        ];
        vs.sort();
        let s: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            s,
            [
                "1.20",
                "1.21beta1",
                "1.21rc2",
                "1.21rc10",
                "1.21.0",
                "1.21.1"
            ]
        );
    }

    const LS_REMOTE: &str = "\
a1\trefs/tags/go1.4-bootstrap-20171003
a2\trefs/tags/go1.9beta1
a3\trefs/tags/go1.20
a4\trefs/tags/go1.20.14
a5\trefs/tags/go1.21.0
a6\trefs/tags/go1.21.0^{}
a7\trefs/tags/go1.21.13
a8\trefs/tags/go1.21.13^{}
a9\trefs/tags/go1.21.9
b1\trefs/tags/go1.21rc2
b2\trefs/tags/go1.22rc1
b3\trefs/tags/weekly.2011-01-01
";

    #[test]
    fn newest_stable_patch_ignores_peeled_and_odd_tags() {
        let known = parse_ls_remote(LS_REMOTE);
        assert_eq!(known.iter().filter(|x| **x == v("1.21.0")).count(), 1);
        assert_eq!(
            newest_in_line(&known, (1, 21), false).unwrap().to_string(),
            "1.21.13"
        );
        assert_eq!(
            newest_in_line(&known, (1, 20), false).unwrap().to_string(),
            "1.20.14"
        );
        assert_eq!(
            newest_in_line(&known, (1, 9), true).unwrap().to_string(),
            "1.9beta1"
        );
    }

    #[test]
    fn prerelease_only_lines_need_asking() {
        let known = parse_ls_remote(LS_REMOTE);
        let err = newest_in_line(&known, (1, 22), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no stable release yet (newest: 1.22rc1): pass --prerelease"),
            "{err}"
        );
        assert_eq!(
            newest_in_line(&known, (1, 22), true).unwrap().to_string(),
            "1.22rc1"
        );
        let err = newest_in_line(&known, (1, 99), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Go 1.99 release is tagged"), "{err}");
    }

    #[test]
    fn go_mod_directives() {
        let p = Path::new("go.mod");
        let m = parse_go_mod("module x\n\ngo 1.21 // comment\n", p).unwrap();
        assert_eq!(m.wanted().to_string(), "1.21");
        let m = parse_go_mod("module x\ngo 1.21.3\ntoolchain go1.22.1\n", p).unwrap();
        assert_eq!(m.wanted().to_string(), "1.22.1");
        let m = parse_go_mod("module x\ngo 1.22.0\ntoolchain go1.21.1\n", p).unwrap();
        assert_eq!(m.wanted().to_string(), "1.22.0");
        let m = parse_go_mod("go 1.21\ntoolchain default\n", p).unwrap();
        assert_eq!(m.toolchain, None);
    }

    #[test]
    fn go_mod_errors_name_the_line() {
        let p = Path::new("app/go.mod");
        let err = parse_go_mod("module x\ngo one.two\n", p)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "app/go.mod:2: `go one.two` is not a valid go directive: write e.g. `go 1.21`"
        );
        let err = parse_go_mod("module x\n", p).unwrap_err().to_string();
        assert!(err.starts_with("app/go.mod: no `go` directive"), "{err}");
        assert!(parse_go_mod("go 1.21\ntoolchain 1.22\n", p).is_err());
        assert!(parse_go_mod("go go1.21\n", p).is_err());
    }

    #[test]
    fn requests() {
        assert_eq!(
            Request::parse("1.25.4\n", "ver").unwrap(),
            Request::Exact(v("1.25.4"))
        );
        assert_eq!(Request::parse("go1.21", "x").unwrap(), Request::Line(1, 21));
        assert_eq!(
            Request::parse("1.21rc2", "x").unwrap(),
            Request::Exact(v("1.21rc2"))
        );
        let err = Request::parse("latest", "--go-version")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "--go-version: 'latest' is not a Go version: write e.g. 1.25.4, or 1.25 for its newest patch");
    }

    #[test]
    fn a_go_mod_requires_modules_only_when_it_names_one() {
        assert!(!go_mod_requires("module example.com/joke\n\ngo 1.19\n"));
        assert!(!go_mod_requires(
            "module m\nrequire (\n)\n// require x v1\n"
        ));
        assert!(!go_mod_requires("module m\nrequired_by_nothing x\n"));
        assert!(go_mod_requires(
            "module m\nrequire golang.org/x/sys v0.1.0\n"
        ));
        assert!(go_mod_requires(
            "module m\nrequire (\n\n\tgithub.com/a/b v1.2.3 // indirect\n)\n"
        ));
    }
}
