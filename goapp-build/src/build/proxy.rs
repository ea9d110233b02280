//! Proxy settings: the six variables build.sh's behind-proxy copy exported,
//! normalized once so every engine sees the same values.

use crate::core::env::{HostEnv, PROXY_VARS};
use crate::core::redact::{redact_url, Redactor};
use std::fmt;

/// Normalized proxy settings: all six variables with a value (possibly
/// empty), and their credentials, parsed once here. Its `Debug` shows the
/// values redacted.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    /// `(name, value)` for each of [`PROXY_VARS`], in that order.
    values: Vec<(&'static str, String)>,
    /// Every value's `user:password`, in every spelling an engine may print.
    secrets: Redactor,
    /// Whether a value carries `user:password@` (or a token, `TOKEN@`).
    credentials: bool,
}

impl ProxyEnv {
    /// Reads the environment. `None` when no proxy is set (`NO_PROXY` alone
    /// is not a proxy). Rules, as build.sh's behind-proxy copy plus the
    /// lowercase-only case it missed: `HTTP_PROXY` falls back to `http_proxy`;
    /// `HTTPS_PROXY` to `https_proxy`, then to `HTTP_PROXY`; `NO_PROXY` to
    /// `no_proxy`, then empty; each lowercase one to its uppercase value.
    pub(crate) fn from_env(env: &HostEnv) -> Option<ProxyEnv> {
        let get = |k: &str| env.var(k).map(str::to_string);
        let (http, https) = proxy_urls(env)?;
        let no = get("NO_PROXY")
            .or_else(|| get("no_proxy"))
            .unwrap_or_default();
        let lower_http = get("http_proxy").unwrap_or_else(|| http.clone());
        let lower_https = get("https_proxy").unwrap_or_else(|| https.clone());
        let lower_no = get("no_proxy").unwrap_or_else(|| no.clone());
        let values: Vec<_> = PROXY_VARS
            .into_iter()
            .zip([http, https, no, lower_http, lower_https, lower_no])
            .collect();
        let mut secrets = Redactor::default();
        let mut credentials = false;
        for (_, v) in &values {
            credentials |= secrets.add_url_credentials(v);
        }
        Some(ProxyEnv {
            values,
            secrets,
            credentials,
        })
    }

    /// Whether a proxy is set: [`ProxyEnv::from_env`] would be `Some`. For
    /// callers that need no values (nor their credentials parsed).
    pub(crate) fn is_set(env: &HostEnv) -> bool {
        proxy_urls(env).is_some()
    }

    /// `(name, value)` for each of [`PROXY_VARS`], in that order.
    pub(crate) fn values(&self) -> &[(&'static str, String)] {
        &self.values
    }

    /// True when a proxy URL carries `user:password@`.
    pub(crate) fn has_credentials(&self) -> bool {
        self.credentials
    }

    /// The redactor that scrubs these credentials from any text.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.secrets
    }
}

/// `HTTP_PROXY` and `HTTPS_PROXY` after their fallbacks (either may be
/// empty); `None` when neither is set.
fn proxy_urls(env: &HostEnv) -> Option<(String, String)> {
    let get = |k: &str| env.var(k).map(str::to_string);
    let http = get("HTTP_PROXY").or_else(|| get("http_proxy"));
    let https = get("HTTPS_PROXY")
        .or_else(|| get("https_proxy"))
        .or_else(|| http.clone());
    if http.is_none() && https.is_none() {
        return None;
    }
    Some((http.unwrap_or_default(), https.unwrap_or_default()))
}

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<(&str, String)> = self
            .values
            .iter()
            .map(|(k, v)| (*k, self.secrets.apply(&redact_url(v)).into_owned()))
            .collect();
        f.debug_struct("ProxyEnv")
            .field("values", &shown)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(vars: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        ProxyEnv::from_env(&HostEnv::from_vars(vars.iter().copied())).map(|p| {
            p.values()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        })
    }

    fn get(v: &[(String, String)], k: &str) -> String {
        v.iter().find(|(n, _)| n == k).unwrap().1.clone()
    }

    #[test]
    fn none_without_a_proxy() {
        assert_eq!(norm(&[]), None);
        assert_eq!(norm(&[("NO_PROXY", "localhost")]), None);
        assert_eq!(norm(&[("HTTP_PROXY", "")]), None);
    }

    #[test]
    fn defaults_follow_build_sh() {
        let v = norm(&[("HTTP_PROXY", "http://p:3128")]).unwrap();
        assert_eq!(get(&v, "HTTPS_PROXY"), "http://p:3128");
        assert_eq!(get(&v, "NO_PROXY"), "");
        assert_eq!(get(&v, "http_proxy"), "http://p:3128");
        assert_eq!(get(&v, "https_proxy"), "http://p:3128");
        assert_eq!(get(&v, "no_proxy"), "");
    }

    #[test]
    fn explicit_values_win_and_lowercase_alone_works() {
        let v = norm(&[
            ("http_proxy", "http://low:1"),
            ("NO_PROXY", "a,b"),
            ("https_proxy", "http://s:2"),
        ])
        .unwrap();
        assert_eq!(get(&v, "HTTP_PROXY"), "http://low:1");
        assert_eq!(get(&v, "HTTPS_PROXY"), "http://s:2");
        assert_eq!(get(&v, "no_proxy"), "a,b");
    }

    #[test]
    fn credentials_are_detected_and_scrubbed() {
        let p = ProxyEnv::from_env(&HostEnv::from_vars([("HTTP_PROXY", "http://bob:pa55@p:1")]))
            .unwrap();
        assert!(p.has_credentials());
        assert_eq!(
            p.redactor().apply("x http://bob:pa55@p:1"),
            "x http://***@p:1"
        );
    }

    #[test]
    fn engine_spellings_of_proxy_credentials_are_scrubbed() {
        // A password the user percent-encoded, printed decoded by the engine;
        // and a two-character one inside a URL.
        let p = ProxyEnv::from_env(&HostEnv::from_vars([
            ("HTTP_PROXY", "http://bob:s%3Acr%40t@p:1"),
            ("HTTPS_PROXY", "http://al:pw@q:2"),
        ]))
        .unwrap();
        let r = p.redactor();
        assert_eq!(
            r.apply("proxy says: bad password s:cr@t for bob"),
            "proxy says: bad password *** for bob"
        );
        assert_eq!(
            r.apply("Get \"https://x\": proxyconnect tcp: dial http://al:pw@q:2: refused"),
            "Get \"https://x\": proxyconnect tcp: dial http://***@q:2: refused"
        );
        assert_eq!(r.apply("https_proxy=al:pw@q:2"), "https_proxy=***@q:2");
        assert_eq!(r.apply("step 2: cp pw.txt /al/"), "step 2: cp pw.txt /al/");
    }

    /// Settings with credentials in many forms: several users, tokens,
    /// encoded and raw passwords, short ones, none.
    const SETTINGS: [&[(&str, &str)]; 5] = [
        &[("HTTP_PROXY", "http://bob:pa55@p:1")],
        &[
            ("HTTP_PROXY", "http://bob:s%3Acr%40t@p:1"),
            ("HTTPS_PROXY", "http://al:pw@q:2"),
            ("no_proxy", "ops@example.com"),
        ],
        &[
            ("http_proxy", "https://ghp_t0ken@p"),
            ("https_proxy", "socks5://u:a$b;c@[::1]:1080"),
        ],
        &[("HTTPS_PROXY", "x:y@p:3")],
        &[("HTTP_PROXY", "http://p:3128"), ("NO_PROXY", "a,b")],
    ];

    #[test]
    fn the_credentials_parsed_once_are_what_each_command_parsed_again() {
        use crate::process::command::Cmd;
        for vars in SETTINGS {
            let p = ProxyEnv::from_env(&HostEnv::from_vars(vars.iter().copied())).unwrap();
            // What the build plan did before: each value parsed again by
            // `Cmd::env`, then this redactor added through `Cmd::secrets`.
            let mut again = Cmd::new("podman");
            for (k, v) in p.values() {
                again = again.env(*k, v.as_str());
            }
            let parsed_again = again.redactor().clone();
            let again = again.secrets(p.redactor());
            assert_eq!(
                again.redactor(),
                &parsed_again,
                "the second redactor adds nothing: {vars:?}"
            );
            assert_eq!(p.redactor(), &parsed_again, "{vars:?}");
            // Now: the values as read, their credentials as parsed once.
            let once = Cmd::new("podman").envs_known(
                p.values().iter().map(|(k, v)| (*k, v.as_str())),
                p.redactor(),
            );
            assert_eq!(once.redactor(), again.redactor(), "{vars:?}");
            assert_eq!(once.to_string(), again.to_string(), "{vars:?}");
            assert_eq!(once.get_env(), again.get_env(), "{vars:?}");
        }
    }

    #[test]
    fn is_set_says_what_from_env_finds() {
        let mut cases: Vec<&[(&str, &str)]> = SETTINGS.to_vec();
        cases.extend::<[&[(&str, &str)]; 4]>([
            &[],
            &[("NO_PROXY", "localhost")],
            &[("HTTP_PROXY", "")],
            &[("no_proxy", "x"), ("https_proxy", "")],
        ]);
        for vars in cases {
            let env = HostEnv::from_vars(vars.iter().copied());
            assert_eq!(
                ProxyEnv::is_set(&env),
                ProxyEnv::from_env(&env).is_some(),
                "{vars:?}"
            );
        }
    }

    #[test]
    fn credentials_are_known_only_when_a_value_has_them() {
        let has = |vars: &[(&str, &str)]| {
            ProxyEnv::from_env(&HostEnv::from_vars(vars.iter().copied()))
                .unwrap()
                .has_credentials()
        };
        assert!(SETTINGS[..4].iter().all(|v| has(v)));
        assert!(!has(SETTINGS[4]));
    }

    #[test]
    fn debug_shows_the_values_redacted() {
        let p = ProxyEnv::from_env(&HostEnv::from_vars([(
            "HTTP_PROXY",
            "http://bob:pa55word@p:1",
        )]))
        .unwrap();
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("pa55word") && !shown.contains("bob"),
            "{shown}"
        );
        assert!(
            shown.contains("(\"HTTPS_PROXY\", \"http://***@p:1\")"),
            "{shown}"
        );
    }
}
