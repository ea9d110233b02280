//! `.containerignore` / `.dockerignore` patterns, matched the way the
//! engines match them: `*` and `?` within a path segment, `**` across
//! segments, a pattern also excludes everything under a matching directory,
//! `!` re-includes, and the last matching pattern wins.

use std::path::Path;

/// One parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    negate: bool,
}

/// The patterns of an ignore file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Parses ignore-file text.
    pub fn parse(text: &str) -> IgnoreRules {
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

    /// Reads `.containerignore`, else `.dockerignore`, from `context`
    /// (podman reads both, preferring the first; docker reads the second).
    /// A FIFO or directory by that name is an error, not a hang.
    pub fn for_context(
        context: &Path,
    ) -> anyhow::Result<(IgnoreRules, Option<std::path::PathBuf>)> {
        for name in [".containerignore", ".dockerignore"] {
            let p = context.join(name);
            if let Some(text) = crate::core::fs::read_text_if_exists(&p, name)? {
                return Ok((IgnoreRules::parse(&text), Some(p)));
            }
        }
        Ok((IgnoreRules::default(), None))
    }

    /// True when any pattern re-includes something (then excluded
    /// directories must still be walked).
    pub fn has_negations(&self) -> bool {
        self.patterns.iter().any(|p| p.negate)
    }

    /// Whether the slash-separated relative path is excluded from the context.
    pub fn excluded(&self, rel: &str) -> bool {
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
