//! Go versions as users and Go's tags write them (`1.25.4`, `1.21`,
//! `go1.21rc2`, `go1.20`), and what a user asks for (a version, or a line's
//! newest patch). Pure values, parsed once where they enter: the config,
//! `--go-version`, a `ver` file, go.mod.

use anyhow::{bail, Result};
use std::cmp::Ordering;
use std::fmt;

/// A prerelease marker: `go1.21rc2`, `go1.9beta1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pre {
    /// `betaN`
    Beta(u32),
    /// `rcN`
    Rc(u32),
}

/// A Go release as Go names it: `1.21.13`, `1.20` (the first 1.20 release:
/// before 1.21 Go had no `.0`), `1.21rc2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GoVersion {
    /// Always 1 so far.
    pub major: u32,
    /// The release line: 21 in 1.21.13.
    pub minor: u32,
    /// The patch, absent in `1.20` and in prereleases.
    pub patch: Option<u32>,
    /// Set for betas and release candidates.
    pub pre: Option<Pre>,
}

impl GoVersion {
    /// Parses a version as Go spells it, with or without the `go` prefix.
    /// Returns `None` for anything else (`go1.4-bootstrap-20171003`, `weekly.…`).
    pub fn parse(s: &str) -> Option<GoVersion> {
        let s = s.trim();
        let s = s.strip_prefix("go").unwrap_or(s);
        let (major, rest) = split_number(s)?;
        let rest = rest.strip_prefix('.')?;
        let (minor, rest) = split_number(rest)?;
        let (patch, pre) = if rest.is_empty() {
            (None, None)
        } else if let Some(p) = rest.strip_prefix('.') {
            let (patch, tail) = split_number(p)?;
            if !tail.is_empty() {
                return None;
            }
            (Some(patch), None)
        } else if let Some(n) = rest.strip_prefix("rc") {
            (None, Some(Pre::Rc(whole_number(n)?)))
        } else if let Some(n) = rest.strip_prefix("beta") {
            (None, Some(Pre::Beta(whole_number(n)?)))
        } else {
            return None;
        };
        Some(GoVersion {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// The release line `(major, minor)`.
    pub fn line(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// True for a release (not a beta or release candidate).
    pub fn is_stable(&self) -> bool {
        self.pre.is_none()
    }

    fn key(&self) -> (u32, u32, u32, u8, u32) {
        let (rank, n) = match self.pre {
            Some(Pre::Beta(n)) => (0, n),
            Some(Pre::Rc(n)) => (1, n),
            None => (2, 0),
        };
        (self.major, self.minor, self.patch.unwrap_or(0), rank, n)
    }
}

fn split_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

fn whole_number(s: &str) -> Option<u32> {
    match split_number(s)? {
        (n, "") => Some(n),
        _ => None,
    }
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for GoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        match self.pre {
            Some(Pre::Rc(n)) => write!(f, "rc{n}"),
            Some(Pre::Beta(n)) => write!(f, "beta{n}"),
            None => Ok(()),
        }
    }
}

/// A requested version: exact (`1.25.4`, `1.21rc2`: used as is) or a release
/// line (`1.21`: resolved to its newest patch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Use exactly this version; no network.
    Exact(GoVersion),
    /// The newest patch of this line.
    Line(u32, u32),
}

impl Request {
    /// Parses what a user wrote after `--go-version` or in a `ver` file.
    pub fn parse(s: &str, origin: &str) -> Result<Request> {
        match GoVersion::parse(s) {
            Some(v) if v.patch.is_none() && v.pre.is_none() => Ok(Request::Line(v.major, v.minor)),
            Some(v) => Ok(Request::Exact(v)),
            None => bail!("{origin}: '{}' is not a Go version: write e.g. 1.25.4, or 1.25 for its newest patch", s.trim()),
        }
    }
}
