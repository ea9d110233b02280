//! Go's release tags from `git ls-remote`, cached so repeated builds do not
//! touch the network, and used stale (with a warning) when offline.

use crate::go::version::{parse_ls_remote, GoVersion};
use crate::process::command::Cmd;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The official Go repository.
pub(crate) const OFFICIAL_REPO: &str = "https://go.googlesource.com/go";

/// How long fetched tags are trusted before asking again.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long `git ls-remote` may take before we give up on the network.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

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

    /// What the cache holds for `repo`. An entry proves itself: its last
    /// line is the sha256 of everything before it (a truncated or edited file
    /// fails), and its date is not in the future (its age could not be told).
    fn read(&self, repo: &str) -> Cached {
        let file = self.file(repo);
        let text = match crate::core::fs::read_text_if_exists(&file, "the tag cache") {
            Ok(Some(t)) => t,
            Ok(None) => return Cached::Missing,
            Err(e) => return Cached::Damaged(format!("it cannot be read: {e:#}")),
        };
        match parse_entry(&text, repo) {
            Ok((at, _)) if at > SystemTime::now() + CLOCK_SKEW => {
                Cached::Damaged("it is dated in the future".into())
            }
            Ok((at, versions)) => Cached::Valid(at, versions),
            Err(why) => Cached::Damaged(why.into()),
        }
    }

    /// Writes atomically: a concurrent reader sees the old file or the new one.
    fn write(&self, repo: &str, versions: &[GoVersion]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut body = format!("fetched {now}\nrepo {repo}\n");
        for v in versions {
            body.push_str(&format!("{v}\n"));
        }
        crate::core::fs::write_atomic(&self.file(repo), crate::core::fs::seal(&body).as_bytes())
            .context("saving the Go tag cache")?;
        Ok(())
    }

    /// The tags of `repo`: from the cache when fresh, else fetched; when
    /// fetching fails, a stale cache, else an error saying what to do.
    pub fn tags(&self, repo: &str) -> Result<GoTags> {
        let cached = self.read(repo);
        if let Cached::Valid(at, versions) = &cached {
            let age = SystemTime::now().duration_since(*at).unwrap_or_default();
            if age < self.ttl && !versions.is_empty() {
                return Ok(GoTags {
                    versions: versions.clone(),
                    freshness: Freshness::Cached,
                });
            }
        }
        let e = match fetch(repo) {
            Ok(versions) => {
                // A cache we cannot write only costs a fetch next time.
                let _ = self.write(repo, &versions);
                return Ok(GoTags {
                    versions,
                    freshness: Freshness::Fetched,
                });
            }
            Err(e) => e,
        };
        match cached {
            Cached::Valid(at, versions) if !versions.is_empty() => {
                let age = SystemTime::now().duration_since(at).unwrap_or_default().as_secs() / 3600;
                let reason = format!("could not reach {repo} ({}); using Go tags cached {age} h ago", first_line(&e));
                Ok(GoTags { versions, freshness: Freshness::Stale(reason) })
            }
            Cached::Damaged(why) => Err(e.context(format!(
                "cannot list Go releases from {repo}, and the cached list {} is not usable ({why}): delete it and retry where {repo} is reachable, or pass --go-version X.Y.Z, or write the version into a `ver` file next to the Containerfile",
                self.file(repo).display()
            ))),
            _ => Err(e.context(format!(
                "cannot list Go releases from {repo} and nothing is cached: pass --go-version X.Y.Z, write the version into a `ver` file next to the Containerfile, or point --go-repo / GOAPP_GO_REPO at a reachable mirror"
            ))),
        }
    }
}

/// How far in the future a cache date may be before it is not believed
/// (clocks of machines sharing a home directory disagree a little).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A cache entry as found.
enum Cached {
    /// No entry.
    Missing,
    /// An intact entry: when it was fetched, and the versions.
    Valid(SystemTime, Vec<GoVersion>),
    /// An entry that does not prove itself, and why.
    Damaged(String),
}

/// `(fetched at, versions)` from an entry's text, checked line by line and
/// against its trailing checksum.
fn parse_entry(
    text: &str,
    repo: &str,
) -> std::result::Result<(SystemTime, Vec<GoVersion>), &'static str> {
    let body = crate::core::fs::unseal(text)?;
    let mut lines = body.lines();
    let stamp: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("fetched "))
        .and_then(|n| n.parse().ok())
        .ok_or("its first line is not `fetched <seconds>`")?;
    if lines.next() != Some(format!("repo {repo}").as_str()) {
        return Err("it is for another repository");
    }
    let versions = lines
        .map(GoVersion::parse)
        .collect::<Option<Vec<_>>>()
        .ok_or("a line is not a Go version")?;
    Ok((UNIX_EPOCH + Duration::from_secs(stamp), versions))
}

fn first_line(e: &anyhow::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Runs `git ls-remote --tags REPO 'go*'` and parses it.
pub(crate) fn fetch(repo: &str) -> Result<Vec<GoVersion>> {
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
pub(crate) fn cache_dir(base: &Path) -> PathBuf {
    base.join("go-tags")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<GoVersion> {
        list.iter().map(|v| GoVersion::parse(v).unwrap()).collect()
    }

    #[test]
    fn an_entry_proves_itself_or_is_damaged() {
        let d = tempfile::tempdir().unwrap();
        let cache = TagCache::new(d.path(), DEFAULT_TTL);
        let repo = "https://go.example/go";
        assert!(matches!(cache.read(repo), Cached::Missing));
        let v = versions(&["1.19.4", "1.19.8", "1.20", "1.21rc2", "1.22beta1"]);
        cache.write(repo, &v).unwrap();
        assert!(matches!(cache.read(repo), Cached::Valid(_, got) if got == v));
        let file = cache.file(repo);
        let text = std::fs::read_to_string(&file).unwrap();
        let damaged = |why: &str| match cache.read(repo) {
            Cached::Damaged(r) => assert!(r.contains(why), "{r}"),
            _ => panic!("not damaged: {}", std::fs::read_to_string(&file).unwrap()),
        };
        // Cut after a version line: it still parses, only the checksum tells.
        let cut = text.find("1.19.8\n").unwrap();
        std::fs::write(&file, &text[..cut]).unwrap();
        damaged("truncated");
        std::fs::write(&file, text.replace("1.19.8", "1.19.9")).unwrap();
        damaged("checksum");
        std::fs::write(&file, "fetched 1\nrepo https://go.example/go\n1.19.4\n").unwrap();
        damaged("older version");
        // Dated a day ahead, with a valid checksum.
        let ahead = SystemTime::now() + Duration::from_secs(86_400);
        let stamp = ahead.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let body = format!("fetched {stamp}\nrepo {repo}\n1.19.8\n");
        let sum = crate::core::hex(&Sha256::digest(body.as_bytes()));
        std::fs::write(&file, format!("{body}sha256 {sum}\n")).unwrap();
        damaged("future");
        std::fs::write(&file, [0xff, 0xfe, 0x00]).unwrap();
        damaged("cannot be read");
    }

    #[test]
    fn a_damaged_entry_offline_is_refused_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        let cache = TagCache::new(d.path(), DEFAULT_TTL);
        let repo = d.path().join("no-such-repo").display().to_string();
        cache.write(&repo, &versions(&["1.19.8"])).unwrap();
        let file = cache.file(&repo);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, &text[..text.len() - 10]).unwrap();
        let err = format!("{:#}", cache.tags(&repo).unwrap_err());
        assert!(err.starts_with(&format!("cannot list Go releases from {repo}, and the cached list {} is not usable (its checksum does not match: truncated or edited): delete it and retry where {repo} is reachable, or pass --go-version X.Y.Z", file.display())), "{err}");
    }
}
