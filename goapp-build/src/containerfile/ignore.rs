//! `.containerignore` / `.dockerignore` patterns, matched the way the
//! engines match them: `*` and `?` within a path segment, `**` across
//! segments, a pattern also excludes everything under a matching directory,
//! `!` re-includes, and the last matching pattern wins.

use crate::engine::caps::IgnoreFiles;
use std::path::{Path, PathBuf};

/// The ignore file an engine reads for a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IgnoreFile {
    /// Where it is.
    pub path: PathBuf,
    /// What it says.
    pub text: String,
    /// It belongs to the Containerfile (`<Containerfile>.dockerignore`
    /// beside it), so a shimmed copy elsewhere needs one beside it too.
    pub per_file: bool,
}

/// One parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    negate: bool,
}

/// The patterns of an ignore file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IgnoreRules {
    patterns: Vec<Pattern>,
}

/// A pattern the engines' matcher (Go's `filepath.Match`) refuses, with
/// why: they then fail at the first `COPY`, without saying which line.
pub(crate) fn invalid_pattern(pattern: &str) -> Option<&'static str> {
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Some("it ends with a lone `\\`"),
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ => {}
        }
    }
    in_class.then_some("a `[` is never closed by `]`")
}

/// Every invalid pattern of an ignore file: `(line, pattern, why)`.
pub(crate) fn invalid_patterns(text: &str) -> Vec<(usize, String, &'static str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|(n, l)| {
            let p = l.strip_prefix('!').unwrap_or(l).trim();
            invalid_pattern(p).map(|why| (n, p.to_string(), why))
        })
        .collect()
}

impl IgnoreRules {
    /// Parses ignore-file text.
    pub(crate) fn parse(text: &str) -> IgnoreRules {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (negate, body) = match l.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, l),
                };
                let segments: Vec<String> = body
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_string)
                    .collect();
                (!segments.is_empty()).then_some(Pattern { segments, negate })
            })
            .collect();
        IgnoreRules { patterns }
    }

    /// The rules the engine applies to a build of `containerfile` in
    /// `context`: the first ignore file of `files` that exists (see
    /// [`IgnoreFiles`]), and which one it was. A FIFO or directory by that
    /// name is an error, not a hang.
    pub(crate) fn for_build(
        context: &Path,
        containerfile: &Path,
        files: IgnoreFiles,
    ) -> anyhow::Result<(IgnoreRules, Option<IgnoreFile>)> {
        for (path, per_file) in files.candidates(context, containerfile) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Some(text) = crate::core::fs::read_text_if_exists(&path, &name)? {
                let rules = IgnoreRules::parse(&text);
                return Ok((
                    rules,
                    Some(IgnoreFile {
                        path,
                        text,
                        per_file,
                    }),
                ));
            }
        }
        Ok((IgnoreRules::default(), None))
    }

    /// True when any pattern re-includes something (then excluded
    /// directories must still be walked).
    pub(crate) fn has_negations(&self) -> bool {
        self.patterns.iter().any(|p| p.negate)
    }

    /// Whether the slash-separated relative path is excluded from the context.
    pub(crate) fn excluded(&self, rel: &str) -> bool {
        let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for p in &self.patterns {
            // A pattern matches the path or any of its parent directories.
            let hit = (1..=segs.len()).any(|n| match_segments(&p.segments, &segs[..n]));
            if hit {
                excluded = !p.negate;
            }
        }
        excluded
    }
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, path_rest)) => {
                wildcard(first.as_bytes(), seg.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*`, `?` and `[...]` (with `^`/`!` negation and ranges) within one segment.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| wildcard(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && wildcard(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return s.first() == Some(&b'[') && wildcard(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..end];
            let negate = matches!(class.first(), Some(b'^' | b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && wildcard(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && wildcard(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && wildcard(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_semantics() {
        let r = IgnoreRules::parse(
            "# comment\n.git\n*.log\n**/*.tmp\nbuild/\n!build/keep.txt\n/docs/*.md\n",
        );
        assert!(r.excluded(".git/HEAD"));
        assert!(r.excluded("x.log"));
        assert!(!r.excluded("sub/x.log"), "* does not cross directories");
        assert!(r.excluded("a/b/c.tmp"));
        assert!(r.excluded("c.tmp"));
        assert!(r.excluded("build/out.bin"));
        assert!(!r.excluded("build/keep.txt"));
        assert!(r.excluded("docs/readme.md"));
        assert!(!r.excluded("main.go"));
        assert!(r.has_negations());
    }

    #[test]
    fn each_engine_reads_its_own_ignore_file() {
        let d = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        let w = |name: &str, pattern: &str| std::fs::write(d.path().join(name), pattern).unwrap();
        let pick = |files| {
            let (rules, file) = IgnoreRules::for_build(d.path(), &cf, files).unwrap();
            let name = file.map(|f| f.path.file_name().unwrap().to_string_lossy().to_string());
            (name, ["a", "b", "c", "d"].map(|p| rules.excluded(p)))
        };
        let podman = IgnoreFiles::Buildah;
        let docker = IgnoreFiles::BuildKit;
        assert_eq!(pick(docker), (None, [false; 4]));
        w(".dockerignore", "a\n");
        w(".containerignore", "b\n");
        assert_eq!(
            pick(docker).0.as_deref(),
            Some(".dockerignore"),
            "docker never reads .containerignore"
        );
        assert_eq!(pick(podman).0.as_deref(), Some(".containerignore"));
        w("Containerfile.containerignore", "c\n");
        assert_eq!(
            pick(podman).0.as_deref(),
            Some("Containerfile.containerignore")
        );
        assert_eq!(pick(docker).0.as_deref(), Some(".dockerignore"));
        w("Containerfile.dockerignore", "d\n");
        for files in [podman, docker] {
            let (name, excluded) = pick(files);
            assert_eq!(name.as_deref(), Some("Containerfile.dockerignore"));
            assert_eq!(excluded, [false, false, false, true]);
        }
    }

    #[test]
    fn patterns_the_engines_refuse() {
        assert_eq!(invalid_pattern("["), Some("a `[` is never closed by `]`"));
        assert_eq!(invalid_pattern("a\\"), Some("it ends with a lone `\\`"));
        assert_eq!(invalid_pattern("[a-z]*.go"), None);
        assert_eq!(invalid_pattern("\\[x"), None);
        assert_eq!(
            invalid_patterns("# c\nbin/\n![\n"),
            [(3, "[".to_string(), "a `[` is never closed by `]`")]
        );
    }

    #[test]
    fn classes_and_escapes() {
        let r = IgnoreRules::parse("file[0-9].txt\n[!a]*.bin\nlit\\*\n");
        assert!(r.excluded("file3.txt"));
        assert!(!r.excluded("filex.txt"));
        assert!(r.excluded("b.bin"));
        assert!(!r.excluded("a.bin"));
        assert!(r.excluded("lit*"));
        assert!(!r.excluded("litx"));
    }
}
