//! Go's release tags from `git ls-remote`, cached so repeated builds do not
//! touch the network, and used stale (with a warning) when offline.

use crate::go::version::{parse_ls_remote, GoVersion};
use crate::process::command::Cmd;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The official Go repository.
pub const OFFICIAL_REPO: &str = "https://go.googlesource.com/go";

/// How long fetched tags are trusted before asking again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long `git ls-remote` may take before we give up on the network.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the tags came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Just fetched.
    Fetched,
    /// From the cache, within its time to live.
    Cached,
    /// From an expired cache because fetching failed; holds the reason.
    Stale(String),
}

/// Go's release tags and their provenance.
#[derive(Clone, Debug)]
pub struct GoTags {
    /// Every version tagged.
    pub versions: Vec<GoVersion>,
    /// Whether the network was asked.
    pub freshness: Freshness,
}

/// A cache of tag lists, one file per repository URL.
#[derive(Clone, Debug)]
pub struct TagCache {
    dir: PathBuf,
    ttl: Duration,
}

impl TagCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>, ttl: Duration) -> TagCache {
        TagCache {
            dir: dir.into(),
            ttl,
        }
    }

    fn file(&self, repo: &str) -> PathBuf {
        let digest = Sha256::digest(repo.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("go-tags-{hex}.txt"))
    }

    /// `(fetched at, versions)` if cached for `repo`.
    fn read(&self, repo: &str) -> Option<(SystemTime, Vec<GoVersion>)> {
        let text = crate::core::fs::read_text(&self.file(repo), "the tag cache").ok()?;
        let mut lines = text.lines();
        let stamp: u64 = lines.next()?.strip_prefix("fetched ")?.parse().ok()?;
        if lines.next()? != format!("repo {repo}") {
            return None;
        }
        let versions = lines.filter_map(GoVersion::parse).collect::<Vec<_>>();
        Some((UNIX_EPOCH + Duration::from_secs(stamp), versions))
    }

    /// Writes atomically: a concurrent reader sees the old file or the new one.
    fn write(&self, repo: &str, versions: &[GoVersion]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        writeln!(tmp, "fetched {now}\nrepo {repo}")?;
        for v in versions {
            writeln!(tmp, "{v}")?;
        }
        tmp.persist(self.file(repo))
            .context("saving the Go tag cache")?;
        Ok(())
    }

    /// The tags of `repo`: from the cache when fresh, else fetched; when
    /// fetching fails, a stale cache, else an error saying what to do.
    pub fn tags(&self, repo: &str) -> Result<GoTags> {
        let cached = self.read(repo);
        if let Some((at, versions)) = &cached {
            let age = SystemTime::now().duration_since(*at).unwrap_or_default();
            if age < self.ttl && !versions.is_empty() {
                return Ok(GoTags {
                    versions: versions.clone(),
                    freshness: Freshness::Cached,
                });
            }
        }
        match fetch(repo) {
            Ok(versions) => {
                // A cache we cannot write only costs a fetch next time.
                let _ = self.write(repo, &versions);
                Ok(GoTags { versions, freshness: Freshness::Fetched })
            }
            Err(e) => match cached {
                Some((at, versions)) if !versions.is_empty() => {
                    let age = SystemTime::now().duration_since(at).unwrap_or_default().as_secs() / 3600;
                    let reason = format!("could not reach {repo} ({}); using Go tags cached {age} h ago", first_line(&e));
                    Ok(GoTags { versions, freshness: Freshness::Stale(reason) })
                }
                _ => Err(e.context(format!(
                    "cannot list Go releases from {repo} and nothing is cached: pass --go-version X.Y.Z, write the version into a `ver` file next to the Containerfile, or point --go-repo / GOAPP_GO_REPO at a reachable mirror"
                ))),
            },
        }
    }
}

fn first_line(e: &anyhow::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Runs `git ls-remote --tags REPO 'go*'` and parses it.
pub fn fetch(repo: &str) -> Result<Vec<GoVersion>> {
    if repo.starts_with('-') {
        bail!("'{repo}' is not a repository URL");
    }
    let git = which::which("git").context("git is not installed: install it (apt-get install git) to resolve Go versions, or pass --go-version")?;
    let out = Cmd::new(git.display().to_string())
        // Fail rather than ask for credentials, and give up on a stalled link.
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "http.lowSpeedLimit=1000",
            "-c",
            "http.lowSpeedTime=10",
            "ls-remote",
            "--tags",
            repo,
            "go*",
        ])
        .run_timeout(Some(FETCH_TIMEOUT))?;
    let versions = parse_ls_remote(&String::from_utf8_lossy(&out.stdout));
    if versions.is_empty() {
        bail!("{repo} has no go* release tags: is it the Go repository?");
    }
    Ok(versions)
}

/// The cache directory under goapp-build's cache.
pub fn cache_dir(base: &Path) -> PathBuf {
    base.join("go-tags")
}
