//! Names the user gives and the engines and shells see: app and host names,
//! image repositories and tags, ssh destinations. Checked once, where they
//! enter, so that everything later can put them in argv and scripts.

use crate::core::arch::Arch;
use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// An image's identity, parsed once where the name enters (`--tag`, the
/// config, a rendered template) and carried as it is to the end: the
/// engine makes its store name from it ([`ImageRef::stored`]), a registry
/// its remote name ([`ImageRef::remote`]), a node its repository
/// ([`ImageRef::stored_repository`]). Nothing after the edge splits a name
/// string again: the domain rules are here and only here. Each
/// architecture's image is `REPOSITORY:TAG-<arch>` ([`ImageRef::for_arch`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `joke`, `registry.local:5000/team/joke`.
    repository: String,
    /// `0.0.3`, `0.0.3-arm64`.
    tag: String,
}

/// Where an engine keeps names that give no registry: podman under
/// `localhost/`, docker under `docker.io/` (and `docker.io/library/` for
/// one-word names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// `localhost/joke:1`.
    Localhost,
    /// `docker.io/library/joke:1`, `docker.io/team/joke:1`.
    DockerHub,
}

impl ImageRef {
    /// A checked name from its parts.
    pub fn new(repository: &str, tag: &str) -> Result<ImageRef> {
        check_repository(repository)?;
        check_tag(tag)?;
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The repository as given: `joke`, `registry.local:5000/team/joke`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag: `0.0.3`, or `0.0.3-arm64` for an architecture's image.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The image of one architecture: `repository:tag-<arch>`, as build.sh
    /// named them (the tag has room for the suffix: tags are at most 120 characters).
    pub fn for_arch(&self, arch: Arch) -> ImageRef {
        ImageRef {
            repository: self.repository.clone(),
            tag: format!("{}-{arch}", self.tag),
        }
    }

    /// The registry the name gives, if any: its first part when that has a
    /// `.` or `:` or is `localhost` (the engines' rule).
    fn domain(&self) -> Option<&str> {
        let (first, _) = self.repository.split_once('/')?;
        names_registry(&self.repository).then_some(first)
    }

    /// The repository without its registry: `team/joke` of
    /// `reg:5000/team/joke`; `joke` of `docker.io/library/joke`.
    fn path(&self) -> &str {
        match self.domain() {
            Some("docker.io") => {
                let rest = &self.repository["docker.io/".len()..];
                rest.strip_prefix("library/").unwrap_or(rest)
            }
            Some(d) => &self.repository[d.len() + 1..],
            None => &self.repository,
        }
    }

    /// The repository as an engine with `domain` stores it.
    pub fn stored_repository(&self, domain: Domain) -> String {
        match (self.domain(), domain) {
            (Some(_), _) => self.repository.clone(),
            (None, Domain::Localhost) => format!("localhost/{}", self.repository),
            (None, Domain::DockerHub) if self.repository.contains('/') => {
                format!("docker.io/{}", self.repository)
            }
            (None, Domain::DockerHub) => format!("docker.io/library/{}", self.repository),
        }
    }

    /// The name as an engine with `domain` stores it: `localhost/joke:1`,
    /// `docker.io/library/joke:1`.
    pub fn stored(&self, domain: Domain) -> String {
        format!("{}:{}", self.stored_repository(domain), self.tag)
    }

    /// The names an archive the engine saves may give the image: the stored
    /// name, and docker's short ("familiar") form of it (`joke:1` for
    /// `docker.io/library/joke:1`), which `docker save` writes.
    pub fn archive_names(&self, domain: Domain) -> Vec<String> {
        let stored = self.stored(domain);
        let familiar = stored
            .strip_prefix("docker.io/library/")
            .or_else(|| stored.strip_prefix("docker.io/"))
            .map(str::to_string);
        std::iter::once(stored).chain(familiar).collect()
    }

    /// The name in the registry at `address` (`host[:port]`): the
    /// repository without the registry it had (`reg.lan:5000/team/joke:1`).
    pub fn remote(&self, address: &str) -> String {
        format!("{}:{}", self.remote_repository(address), self.tag)
    }

    /// The repository in the registry at `address`.
    pub fn remote_repository(&self, address: &str) -> String {
        format!("{address}/{}", self.path())
    }
}

/// Whether a name (ours or not) starts with a registry: its first part has
/// a `.` or `:` or is `localhost` (the engines' rule).
pub(crate) fn names_registry(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or("");
    name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
}

/// Whether podman can hold a name only locally (no registry, or
/// `localhost/`): no pull can have moved it.
pub(crate) fn local_only(name: &str) -> bool {
    stored_foreign(name, Domain::Localhost).starts_with("localhost/")
}

/// A name an engine is given that is not ours (a `FROM` base, a
/// `--mount=from=` image; it may carry a digest), as `domain` stores it.
pub(crate) fn stored_foreign(name: &str, domain: Domain) -> String {
    match domain {
        _ if names_registry(name) => name.to_string(),
        Domain::DockerHub if !name.contains('/') => format!("docker.io/library/{name}"),
        Domain::DockerHub => format!("docker.io/{name}"),
        Domain::Localhost => format!("localhost/{name}"),
    }
}

impl FromStr for ImageRef {
    type Err = anyhow::Error;
    /// `REPO:TAG`. The tag is after the last colon that follows the last
    /// slash, so `registry:5000/team/joke:1.0` works.
    fn from_str(s: &str) -> Result<ImageRef> {
        if s.contains('@') {
            return Err(digest_error(s));
        }
        let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
        let Some(colon) = s[slash..].rfind(':').map(|i| i + slash) else {
            bail!(
                "--tag '{}' has no tag: write REPO:TAG, e.g. joke:0.0.3",
                shorten(s, 80)
            );
        };
        ImageRef::new(&s[..colon], &s[colon + 1..])
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// `s` as a message shows it: at most `max` characters, the rest said as
/// a count (a 10 MB value is not echoed back whole).
/// Control characters are shown escaped (`\n`, `\u{1b}`): a value cannot
/// forge a line of its own or colour the terminal.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let shown = |c: char| -> String {
        if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        }
    };
    let n = s.chars().count();
    let head: String = s.chars().take(max).map(shown).collect();
    if n <= max {
        return head;
    }
    format!("{head}… ({n} characters)")
}

/// The longest image name (repository with its registry) the engines and
/// registries take.
const NAME_MAX: usize = 255;

/// `REPO@sha256:…`: a digest names an existing image, not one to build.
fn digest_error(s: &str) -> anyhow::Error {
    anyhow::anyhow!("--tag '{}' names an image by its digest, which is what a built image already is: write REPO:TAG, e.g. joke:0.0.3", shorten(s, 80))
}

/// App and host names: what is safe in file names, tags and shell words.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if !ok {
        bail!("'{}' is not a valid name: use letters, digits, '-', '_' and '.' (at most 63), not starting with '-' or '.'", shorten(name, 63));
    }
    Ok(())
}

/// An image repository as the engines accept it (lowercase path components,
/// an optional `host[:port]/` first).
pub(crate) fn check_repository(repo: &str) -> Result<()> {
    let ok = !repo.is_empty()
        && repo.split('/').enumerate().all(|(i, part)| {
            let allowed = |c: char| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            };
            !part.is_empty()
                && if i == 0 && repo.contains('/') {
                    part.chars()
                        .all(|c| allowed(c) || c == ':' || c.is_ascii_uppercase())
                } else {
                    part.chars().all(allowed)
                        && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                }
        });
    if !ok {
        bail!("'{}' is not a valid image repository: use lowercase letters, digits, '.', '_', '-' and '/', e.g. joke or registry.local/team/joke", shorten(repo, 80));
    }
    // Without a registry podman stores it as `localhost/REPO`, and counts
    // that: the name must leave room for it.
    let first = repo.split('/').next().unwrap_or_default();
    let has_domain = repo.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let max = if has_domain {
        NAME_MAX
    } else {
        NAME_MAX - "localhost/".len()
    };
    if repo.len() > max {
        let why = if has_domain {
            String::new()
        } else {
            " (the engine stores it as localhost/…, which counts)".to_string()
        };
        bail!(
            "'{}' is {} characters long: an image name has at most {max}{why}",
            shorten(repo, 40),
            repo.len()
        );
    }
    Ok(())
}

/// An image tag; the `-<arch>` suffix is added later, so leave room for it.
pub(crate) fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 120
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(
            "'{}' is not a valid image tag: use letters, digits, '_', '.' and '-' (at most 120), e.g. 0.0.3",
            shorten(tag, 80)
        );
    }
    Ok(())
}

/// A tag as written in the config or with `--tag`: literal text and
/// placeholders that follow the code. `{git}` is the commit (12 hex digits)
/// with `-dirty` when the app's context has uncommitted changes, `{git:N}`
/// the same with N digits (4–40); `{inputs}` is the first 12 hex digits of
/// the hash of the app's sources (context, Containerfile, Go version, build
/// args), `{inputs:N}` the first N (4–64). `0.1.0-{git}` → `0.1.0-3f2a9c81d0e4`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TagTemplate {
    text: String,
    parts: Vec<TagPart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum TagPart {
    Lit(String),
    Git(usize),
    Inputs(usize),
}

/// What a [`TagTemplate`] is rendered from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagFacts {
    /// The commit (full hex) and whether the tree has changes.
    pub git: Option<(String, bool)>,
    /// The sources hash (hex).
    pub inputs: Option<String>,
}

/// The placeholders, for messages.
pub(crate) const TAG_PLACEHOLDERS: &str = "{git}, {git:N}, {inputs} or {inputs:N}";

impl TagTemplate {
    /// Parses and checks a template; an error names the fix.
    pub fn parse(text: &str) -> Result<TagTemplate> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                bail!(
                    "'{}': a '}}' without its '{{': placeholders are {TAG_PLACEHOLDERS}",
                    shorten(text, 80)
                );
            }
            let Some(close) = rest[open..].find('}').map(|i| i + open) else {
                bail!(
                    "'{}': a '{{' without its '}}': placeholders are {TAG_PLACEHOLDERS}",
                    shorten(text, 80)
                );
            };
            if open > 0 {
                parts.push(TagPart::Lit(rest[..open].to_string()));
            }
            parts.push(placeholder(text, &rest[open + 1..close])?);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TagPart::Lit(rest.to_string()));
        }
        let t = TagTemplate {
            text: text.to_string(),
            parts,
        };
        // The widest rendering must still be a valid tag.
        let widest = t.render_with("f".repeat(64).as_str(), true, "f".repeat(64).as_str());
        check_tag(&widest).map_err(|e| {
            if t.is_literal() {
                e
            } else {
                anyhow::anyhow!("'{text}' does not make a valid image tag (e.g. '{widest}'): use letters, digits, '_', '.' and '-' around the placeholders, 120 characters at most")
            }
        })?;
        Ok(t)
    }

    /// True when it has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, TagPart::Lit(_)))
    }

    /// True when it needs the commit.
    pub fn uses_git(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, TagPart::Git(_)))
    }

    /// True when it needs the sources hash.
    pub fn uses_inputs(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, TagPart::Inputs(_)))
    }

    /// The tag, from the facts it needs; an error when one is missing.
    pub fn render(&self, facts: &TagFacts) -> Result<String> {
        let (commit, dirty) = match (&facts.git, self.uses_git()) {
            (Some((c, d)), _) => (c.as_str(), *d),
            (None, false) => ("", false),
            (None, true) => bail!(
                "the tag '{}' uses {{git}} but the commit is unknown",
                self.text
            ),
        };
        let inputs = match (&facts.inputs, self.uses_inputs()) {
            (Some(i), _) => i.as_str(),
            (None, false) => "",
            (None, true) => bail!(
                "the tag '{}' uses {{inputs}} but the sources hash is unknown",
                self.text
            ),
        };
        let tag = self.render_with(commit, dirty, inputs);
        check_tag(&tag)?;
        Ok(tag)
    }

    fn render_with(&self, commit: &str, dirty: bool, inputs: &str) -> String {
        let take = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        self.parts
            .iter()
            .map(|p| match p {
                TagPart::Lit(s) => s.clone(),
                TagPart::Git(n) if dirty => format!("{}-dirty", take(commit, *n)),
                TagPart::Git(n) => take(commit, *n),
                TagPart::Inputs(n) => take(inputs, *n),
            })
            .collect()
    }
}

fn placeholder(text: &str, inner: &str) -> Result<TagPart> {
    let (name, width) = match inner.split_once(':') {
        Some((n, w)) => (n, Some(w)),
        None => (inner, None),
    };
    let (max, default) = match name {
        "git" => (40, 12),
        "inputs" => (64, 12),
        _ => bail!("'{text}': unknown placeholder '{{{inner}}}': use {TAG_PLACEHOLDERS}"),
    };
    let n = match width {
        None => default,
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (4..=max).contains(&n) => n,
            _ => {
                bail!("'{text}': in '{{{inner}}}' the width must be a whole number from 4 to {max}")
            }
        },
    };
    Ok(if name == "git" {
        TagPart::Git(n)
    } else {
        TagPart::Inputs(n)
    })
}

impl fmt::Display for TagTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An image name as written: `REPOSITORY:TAG` where the tag may be a
/// [`TagTemplate`] (`joke:0.1.0-{git}`). Rendered into an [`ImageRef`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageTemplate {
    /// `joke`, `registry.local:5000/team/joke`.
    pub repository: String,
    /// The tag as written.
    pub tag: TagTemplate,
}

impl ImageTemplate {
    /// A checked template from its parts.
    pub fn new(repository: &str, tag: &str) -> Result<ImageTemplate> {
        check_repository(repository)?;
        Ok(ImageTemplate {
            repository: repository.to_string(),
            tag: TagTemplate::parse(tag)?,
        })
    }

    /// A template from a checked tag (a config's, parsed when it was read).
    pub fn from_parts(repository: &str, tag: TagTemplate) -> Result<ImageTemplate> {
        check_repository(repository)?;
        Ok(ImageTemplate {
            repository: repository.to_string(),
            tag,
        })
    }

    /// The image name, from the facts its tag needs.
    pub fn render(&self, facts: &TagFacts) -> Result<ImageRef> {
        ImageRef::new(&self.repository, &self.tag.render(facts)?)
    }
}

impl FromStr for ImageTemplate {
    type Err = anyhow::Error;
    /// `REPO:TAG`, the tag after the last colon outside placeholders that
    /// follows the last slash.
    fn from_str(s: &str) -> Result<ImageTemplate> {
        let head = s.find('{').map(|i| &s[..i]).unwrap_or(s);
        if head.contains('@') {
            return Err(digest_error(s));
        }
        let slash = head.rfind('/').map(|i| i + 1).unwrap_or(0);
        let Some(colon) = head[slash..].rfind(':').map(|i| i + slash) else {
            bail!(
                "--tag '{}' has no tag: write REPO:TAG, e.g. joke:0.0.3 or joke:0.1.0-{{git}}",
                shorten(s, 80)
            );
        };
        ImageTemplate::new(&s[..colon], &s[colon + 1..])
    }
}

impl fmt::Display for ImageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// A registry's address as engines and runtimes take it: `HOST[:PORT]`
/// (a name, an IPv4 address or a bracketed IPv6 address), nothing more.
pub(crate) fn check_registry(address: &str) -> Result<()> {
    let fix =
        "write HOST[:PORT], e.g. registry.lan:5000 (no scheme, no path; plain HTTP is `insecure`)";
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => {
            (h, Some(p))
        }
        _ => (address, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    if !host_ok || !port_ok {
        bail!("'{address}' is not a registry address: {fix}");
    }
    Ok(())
}

/// An ssh destination, user or host: no option injection, no shell or
/// whitespace characters (ssh and the remote shell would re-parse them).
pub(crate) fn check_destination(v: &str) -> std::result::Result<(), &'static str> {
    if v.is_empty() || v.starts_with('-') {
        return Err("must not be empty or start with '-'");
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@._-:[]%".contains(c))
    {
        return Err("may only hold letters, digits and @ . _ - : [ ] %");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_messages_cannot_forge_lines() {
        let e = ImageRef::new("joke", "1\nerror: fake\u{1b}[31m")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        assert!(e.contains("1\\nerror: fake\\u{1b}[31m"), "{e}");
    }

    #[test]
    fn a_long_name_leaves_room_for_the_engines_localhost() {
        assert!(check_repository(&"a".repeat(245)).is_ok());
        let e = check_repository(&"a".repeat(246)).unwrap_err().to_string();
        assert!(
            e.contains("at most 245 (the engine stores it as localhost/"),
            "{e}"
        );
        let with_registry = format!("reg.lan/{}", "a".repeat(247));
        assert_eq!(with_registry.len(), 255);
        assert!(check_repository(&with_registry).is_ok());
        assert!(check_repository(&format!("{with_registry}b")).is_err());
    }

    #[test]
    fn one_identity_many_names() {
        let r = |repo: &str| ImageRef::new(repo, "1").unwrap();
        for (given, podman, docker, remote) in [
            (
                "joke",
                "localhost/joke:1",
                "docker.io/library/joke:1",
                "reg:5000/joke:1",
            ),
            (
                "team/joke",
                "localhost/team/joke:1",
                "docker.io/team/joke:1",
                "reg:5000/team/joke:1",
            ),
            (
                "localhost/joke",
                "localhost/joke:1",
                "localhost/joke:1",
                "reg:5000/joke:1",
            ),
            (
                "docker.io/library/joke",
                "docker.io/library/joke:1",
                "docker.io/library/joke:1",
                "reg:5000/joke:1",
            ),
            (
                "docker.io/team/joke",
                "docker.io/team/joke:1",
                "docker.io/team/joke:1",
                "reg:5000/team/joke:1",
            ),
            (
                "lan:5000/team/joke",
                "lan:5000/team/joke:1",
                "lan:5000/team/joke:1",
                "reg:5000/team/joke:1",
            ),
        ] {
            assert_eq!(r(given).stored(Domain::Localhost), podman, "{given}");
            assert_eq!(r(given).stored(Domain::DockerHub), docker, "{given}");
            assert_eq!(r(given).remote("reg:5000"), remote, "{given}");
        }
        let arm = r("joke").for_arch(Arch::Arm64);
        assert_eq!((arm.repository(), arm.tag()), ("joke", "1-arm64"));
        assert_eq!(arm.to_string(), "joke:1-arm64");
        assert_eq!(
            stored_foreign("golang:1.22@sha256:ab", Domain::DockerHub),
            "docker.io/library/golang:1.22@sha256:ab"
        );
        assert_eq!(
            stored_foreign("ghcr.io/x/y:1", Domain::Localhost),
            "ghcr.io/x/y:1"
        );
    }

    #[test]
    fn image_refs() {
        assert_eq!(
            "joke:0.0.3".parse::<ImageRef>().unwrap(),
            ImageRef::new("joke", "0.0.3").unwrap()
        );
        assert_eq!(
            "reg:5000/team/joke:1"
                .parse::<ImageRef>()
                .unwrap()
                .for_arch(Arch::Arm64)
                .to_string(),
            "reg:5000/team/joke:1-arm64"
        );
        assert!("joke"
            .parse::<ImageRef>()
            .unwrap_err()
            .to_string()
            .contains("has no tag"));
        assert!("Joke:1".parse::<ImageRef>().is_err());
        assert!("joke:$(rm -rf)".parse::<ImageRef>().is_err());
        assert!(check_name("pi-1").is_ok());
        assert!(check_name("-oProxyCommand").is_err());
    }
    #[test]
    fn registry_addresses() {
        for ok in [
            "registry.lan:5000",
            "127.0.0.1:5000",
            "reg",
            "[::1]:5000",
            "[fd00::2]",
            "my-reg.example.com",
        ] {
            assert!(check_registry(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://reg:5000",
            "reg:5000/team",
            "reg:0",
            "reg:70000",
            "reg:",
            "-reg",
            "",
            "reg lan",
            "reg:5000:1",
            "[::1",
        ] {
            assert!(check_registry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tag_templates_render_commit_dirt_and_inputs() {
        let commit = "3f2a9c81d0e4b5a6978877665544332211009988";
        let facts = TagFacts {
            git: Some((commit.into(), false)),
            inputs: Some("abcdef0123456789".repeat(4)),
        };
        let t = TagTemplate::parse("0.1.0-{git}").unwrap();
        assert!(t.uses_git() && !t.uses_inputs() && !t.is_literal());
        assert_eq!(t.render(&facts).unwrap(), "0.1.0-3f2a9c81d0e4");
        let dirty = TagFacts {
            git: Some((commit.into(), true)),
            ..facts.clone()
        };
        assert_eq!(t.render(&dirty).unwrap(), "0.1.0-3f2a9c81d0e4-dirty");
        let t = TagTemplate::parse("{git:7}.{inputs:8}").unwrap();
        assert_eq!(t.render(&facts).unwrap(), "3f2a9c8.abcdef01");
        assert_eq!(
            TagTemplate::parse("{inputs}")
                .unwrap()
                .render(&facts)
                .unwrap(),
            "abcdef012345"
        );
        assert_eq!(
            TagTemplate::parse("0.0.3")
                .unwrap()
                .render(&TagFacts::default())
                .unwrap(),
            "0.0.3"
        );
        assert!(TagTemplate::parse("{git}")
            .unwrap()
            .render(&TagFacts::default())
            .is_err());
    }

    #[test]
    fn bad_tag_templates_say_what_is_allowed() {
        let err = |t: &str| TagTemplate::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("1-{branch}"),
            "'1-{branch}': unknown placeholder '{branch}': use {git}, {git:N}, {inputs} or {inputs:N}"
        );
        assert!(
            err("{git:3}").contains("from 4 to 40"),
            "{}",
            err("{git:3}")
        );
        assert!(err("{inputs:65}").contains("from 4 to 64"));
        assert!(err("1-{git").contains("without its '}'"));
        assert!(err("1}").contains("without its '{'"));
        assert!(err("a b-{git}").contains("does not make a valid image tag"));
        assert!(err("-{git}").contains("does not make a valid image tag"));
        assert!(err("x y").contains("is not a valid image tag"));
        let long = format!("{}-{{git:40}}", "v".repeat(80));
        assert!(err(&long).contains("120 characters at most"));
    }

    #[test]
    fn image_templates_parse_around_placeholders() {
        let t: ImageTemplate = "reg:5000/team/joke:0.1-{git:8}".parse().unwrap();
        assert_eq!(t.repository, "reg:5000/team/joke");
        assert_eq!(t.tag.to_string(), "0.1-{git:8}");
        let t: ImageTemplate = "joke:{inputs}".parse().unwrap();
        assert_eq!(t.repository, "joke");
        assert!("joke".parse::<ImageTemplate>().is_err());
        let facts = TagFacts {
            git: None,
            inputs: Some("0123456789abcdef".into()),
        };
        assert_eq!(t.render(&facts).unwrap().to_string(), "joke:0123456789ab");
    }
}
