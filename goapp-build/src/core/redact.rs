//! Keeping secrets out of what we print: proxy credentials in URLs, and any
//! known secret string in engine output before it reaches a terminal or log.

use std::borrow::Cow;

/// `http://user:pass@proxy:3128` → `http://***@proxy:3128`. Values without
/// credentials come back unchanged. Also handles scheme-less `user:pass@host`.
pub fn redact_url(value: &str) -> Cow<'_, str> {
    match userinfo_span(value) {
        Some((start, end)) => Cow::Owned(format!("{}***{}", &value[..start], &value[end..])),
        None => Cow::Borrowed(value),
    }
}

/// The `user:password` part of a URL-ish value, if any.
pub fn userinfo(value: &str) -> Option<&str> {
    userinfo_span(value).map(|(s, e)| &value[s..e])
}

fn userinfo_span(value: &str) -> Option<(usize, usize)> {
    let start = value.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = value[start..]
        .find(['/', '?', '#'])
        .map(|i| start + i)
        .unwrap_or(value.len());
    let at = value[start..authority_end].rfind('@')? + start;
    (at > start).then_some((start, at))
}

/// Replaces every known secret string with `***`. Cheap when empty.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// Adds a secret. Very short strings are ignored: scrubbing "a" from every
    /// log line would destroy the log and protect nothing.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 && !self.needles.iter().any(|n| n == secret) {
            self.needles.push(secret.to_string());
            // Longest first, so a password inside a longer `user:password`
            // does not leave the user name half-scrubbed.
            self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }
    }

    /// Adds the credentials of a URL-ish value (the whole `user:pass`, and the password alone).
    pub fn add_url_credentials(&mut self, value: &str) {
        if let Some(info) = userinfo(value) {
            self.add(info);
            if let Some((_, pass)) = info.split_once(':') {
                self.add(pass);
            }
        }
    }

    /// Merges another redactor's secrets into this one.
    pub fn extend(&mut self, other: &Redactor) {
        for n in &other.needles {
            self.add(n);
        }
    }

    /// The text with every secret replaced.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.needles.iter().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for n in &self.needles {
            out = out.replace(n.as_str(), "***");
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_only() {
        assert_eq!(
            redact_url("http://alice:s3cret@proxy.corp:3128"),
            "http://***@proxy.corp:3128"
        );
        assert_eq!(
            redact_url("http://proxy.corp:3128/"),
            "http://proxy.corp:3128/"
        );
        assert_eq!(redact_url("alice:pw@proxy:80"), "***@proxy:80");
        assert_eq!(redact_url("http://proxy/path@x"), "http://proxy/path@x");
        assert_eq!(redact_url("http://tok%40en@proxy"), "http://***@proxy");
    }

    #[test]
    fn redactor_scrubs_known_secrets() {
        let mut r = Redactor::default();
        r.add_url_credentials("http://alice:s3cret@proxy:3128");
        assert_eq!(
            r.apply("dial http://alice:s3cret@proxy:3128 failed; pw s3cret"),
            "dial http://***@proxy:3128 failed; pw ***"
        );
        assert_eq!(r.apply("nothing here"), "nothing here");
    }
}
