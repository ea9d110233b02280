//! Which Go version an app builds with: `--go-version` > a `ver` file in the
//! app directory > go.mod (`go`, or a newer `toolchain`) resolved to the
//! newest stable patch of its line > the config's `go_version`.

use crate::config::App;
use crate::go::tags::{Freshness, TagCache};
use crate::go::version::{newest_in_line, parse_go_mod, GoVersion, Request};
use anyhow::{bail, Result};

/// How to resolve.
#[derive(Clone, Debug)]
pub struct GoResolver {
    /// `--go-version`.
    pub explicit: Option<Request>,
    /// The repository `git ls-remote` asks.
    pub repo: String,
    /// Allow betas and release candidates.
    pub prerelease: bool,
    /// The tag cache.
    pub cache: TagCache,
}

/// A resolved version and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedGo {
    /// The version.
    pub version: GoVersion,
    /// Where it came from, for `--dry-run` and logs.
    pub source: String,
    /// A warning to print (stale cache).
    pub warning: Option<String>,
}

impl GoResolver {
    /// Resolves the Go version for `app`.
    pub fn resolve(&self, app: &App) -> Result<ResolvedGo> {
        let gomod = app.context.join("go.mod");
        let module = match crate::core::fs::read_text_if_exists(&gomod, "go.mod")? {
            Some(text) => Some(parse_go_mod(&text, &gomod)?),
            None => None,
        };
        let asked = |r: ResolvedGo, by: &str| -> Result<ResolvedGo> {
            match &module {
                Some(m) if r.version < m.go => bail!(
                    "{}:{}: the module needs Go {} or newer (`go {}`), but {by} asks for Go {}, which cannot build it: ask for Go {}.{} or newer, or lower the go directive",
                    gomod.display(),
                    m.go_line,
                    m.go,
                    m.go,
                    r.version,
                    m.go.line().0,
                    m.go.line().1
                ),
                _ => Ok(r),
            }
        };
        if let Some(v) = self.explicit {
            let r = self.request(v, "--go-version".into())?;
            return asked(r, "--go-version");
        }
        let ver = app.context.join("ver");
        if let Some(text) = crate::core::fs::read_text_if_exists(&ver, "the `ver` file")? {
            let origin = ver.display().to_string();
            let r = self.request(Request::parse(&text, &origin)?, origin.clone())?;
            return asked(r, &format!("the `ver` file {origin}"));
        }
        if let Some(m) = &module {
            let wanted = m.wanted();
            let r = self.line(wanted.line(), format!("{} (go {wanted})", gomod.display()))?;
            if r.version < wanted {
                bail!("{} asks for Go {wanted}, but the newest release of its line is {}: check --go-repo / GOAPP_GO_REPO", gomod.display(), r.version);
            }
            return Ok(r);
        }
        if let Some(v) = app.go_version {
            let r = self.request(v, "config go_version".into())?;
            return asked(r, "`go_version:` in the config");
        }
        bail!(
            "no Go version for app '{}': {} has neither a `ver` file nor a go.mod; pass --go-version or set go_version in the config",
            app.name,
            app.context.display()
        )
    }

    fn request(&self, r: Request, origin: String) -> Result<ResolvedGo> {
        match r {
            Request::Exact(v) => Ok(ResolvedGo {
                version: v,
                source: origin,
                warning: None,
            }),
            Request::Line(major, minor) => self.line((major, minor), origin),
        }
    }

    fn line(&self, line: (u32, u32), origin: String) -> Result<ResolvedGo> {
        let tags = self.cache.tags(&self.repo)?;
        let version = newest_in_line(&tags.versions, line, self.prerelease)?;
        let warning = match tags.freshness {
            Freshness::Stale(reason) => Some(reason),
            _ => None,
        };
        Ok(ResolvedGo {
            version,
            source: format!("{origin}, newest {}.{} in {}", line.0, line.1, self.repo),
            warning,
        })
    }
}
