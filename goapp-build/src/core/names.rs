//! Names the user gives and the engines and shells see: app and host names,
//! image repositories and tags, ssh destinations. Checked once, where they
//! enter, so that everything later can put them in argv and scripts.

use crate::core::arch::Arch;
use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// An image name as the user gives it: `REPOSITORY:TAG`. Each
/// architecture's image is `REPOSITORY:TAG-<arch>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// `joke`, `registry.local:5000/team/joke`.
    pub repository: String,
    /// `0.0.3`.
    pub tag: String,
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

    /// The image of one architecture: `repository:tag-<arch>`, as build.sh named them.
    pub fn for_arch(&self, arch: Arch) -> String {
        format!("{}:{}-{arch}", self.repository, self.tag)
    }
}

impl FromStr for ImageRef {
    type Err = anyhow::Error;
    /// `REPO:TAG`. The tag is after the last colon that follows the last
    /// slash, so `registry:5000/team/joke:1.0` works.
    fn from_str(s: &str) -> Result<ImageRef> {
        let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
        let Some(colon) = s[slash..].rfind(':').map(|i| i + slash) else {
            bail!("--tag '{s}' has no tag: write REPO:TAG, e.g. joke:0.0.3");
        };
        ImageRef::new(&s[..colon], &s[colon + 1..])
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// App and host names: what is safe in file names, tags and shell words.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if !ok {
        bail!("'{name}' is not a valid name: use letters, digits, '-', '_' and '.', not starting with '-' or '.'");
    }
    Ok(())
}

/// An image repository as the engines accept it (lowercase path components,
/// an optional `host[:port]/` first).
pub fn check_repository(repo: &str) -> Result<()> {
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
        bail!("'{repo}' is not a valid image repository: use lowercase letters, digits, '.', '_', '-' and '/', e.g. joke or registry.local/team/joke");
    }
    Ok(())
}

/// An image tag; the `-<arch>` suffix is added later, so leave room for it.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 120
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(
            "'{tag}' is not a valid image tag: use letters, digits, '_', '.' and '-', e.g. 0.0.3"
        );
    }
    Ok(())
}

/// An ssh destination, user or host: no option injection, no shell or
/// whitespace characters (ssh and the remote shell would re-parse them).
pub fn check_destination(v: &str) -> std::result::Result<(), &'static str> {
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
    fn image_refs() {
        assert_eq!(
            "joke:0.0.3".parse::<ImageRef>().unwrap(),
            ImageRef::new("joke", "0.0.3").unwrap()
        );
        assert_eq!(
            "reg:5000/team/joke:1"
                .parse::<ImageRef>()
                .unwrap()
                .for_arch(Arch::Arm64),
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
}
