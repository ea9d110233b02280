//! Proxy settings: the six variables build.sh's behind-proxy copy exported,
//! normalized once so every engine sees the same values.

use crate::core::env::HostEnv;
use crate::core::redact::Redactor;

/// The six variables, in the order they are passed.
pub(crate) const VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Normalized proxy settings: all six variables with a value (possibly empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    /// `(name, value)` for each of [`VARS`], in that order.
    pub values: Vec<(&'static str, String)>,
}

impl ProxyEnv {
    /// Reads the environment. `None` when no proxy is set (`NO_PROXY` alone
    /// is not a proxy). Rules, as build.sh's behind-proxy copy plus the
    /// lowercase-only case it missed: `HTTP_PROXY` falls back to `http_proxy`;
    /// `HTTPS_PROXY` to `https_proxy`, then to `HTTP_PROXY`; `NO_PROXY` to
    /// `no_proxy`, then empty; each lowercase one to its uppercase value.
    pub(crate) fn from_env(env: &HostEnv) -> Option<ProxyEnv> {
        let get = |k: &str| env.var(k).map(str::to_string);
        let http = get("HTTP_PROXY").or_else(|| get("http_proxy"));
        let https = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .or_else(|| http.clone());
        if http.is_none() && https.is_none() {
            return None;
        }
        let http = http.unwrap_or_default();
        let https = https.unwrap_or_default();
        let no = get("NO_PROXY")
            .or_else(|| get("no_proxy"))
            .unwrap_or_default();
        let lower_http = get("http_proxy").unwrap_or_else(|| http.clone());
        let lower_https = get("https_proxy").unwrap_or_else(|| https.clone());
        let lower_no = get("no_proxy").unwrap_or_else(|| no.clone());
        Some(ProxyEnv {
            values: vec![
                ("HTTP_PROXY", http),
                ("HTTPS_PROXY", https),
                ("NO_PROXY", no),
                ("http_proxy", lower_http),
                ("https_proxy", lower_https),
                ("no_proxy", lower_no),
            ],
        })
    }

    /// True when a proxy URL carries `user:password@`.
    pub(crate) fn has_credentials(&self) -> bool {
        self.values
            .iter()
            .any(|(_, v)| crate::core::redact::userinfo(v).is_some())
    }

    /// A redactor that scrubs these credentials from any text.
    pub(crate) fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        for (_, v) in &self.values {
            r.add_url_credentials(v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(vars: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        ProxyEnv::from_env(&HostEnv::from_vars(vars.iter().copied())).map(|p| {
            p.values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
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
    fn the_config_refuses_these_as_build_args() {
        assert_eq!(VARS, crate::config::check::PROXY_VARS);
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
}
