//! [`OidcConfig`]: which issuers are trusted, for which audiences, and how
//! strictly; checked once into [`Issuer`] settings.

use std::net::IpAddr;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use reqwest::Url;
use serde::Deserialize;

/// The clock skew allowed when none is configured: 60 s.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The largest clock skew that may be configured: 5 minutes.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// How long keys are cached when neither the config nor the JWKS answer's
/// `Cache-Control: max-age` says otherwise: 1 hour.
pub const DEFAULT_JWKS_CACHE: Duration = Duration::from_secs(60 * 60);
/// The longest `jwks_cache` that may be configured: 12 hours.
pub const MAX_JWKS_CACHE: Duration = Duration::from_secs(12 * 60 * 60);

/// The most issuers one config may list.
const MAX_ISSUERS: usize = 64;
/// The most audiences one issuer may list.
const MAX_AUDIENCES: usize = 32;
/// The longest issuer URL or audience accepted.
const MAX_TEXT: usize = 2048;

/// The algorithms allowed when an issuer lists none: every asymmetric
/// algorithm `jsonwebtoken` verifies.
const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The trusted OIDC issuers, as the settings layer reads them from JSON:
///
/// ```json
/// {"issuers": [
///   {"issuer": "https://token.actions.githubusercontent.com",
///    "audience": "https://registry.example.com"}
/// ]}
/// ```
///
/// Checked by [`validate`](Self::validate) (and by
/// [`OidcIssuers::new`](crate::OidcIssuers::new)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OidcConfig {
    /// One entry per issuer, each issuer once.
    pub issuers: Vec<IssuerConfig>,
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The issuer URL, exactly as its tokens' `iss` spell it (e.g.
    /// `https://token.actions.githubusercontent.com`, no trailing slash).
    /// Its discovery document is `{issuer}/.well-known/openid-configuration`.
    /// Must be `https`, unless [`allow_insecure_http`](Self::allow_insecure_http).
    pub issuer: String,
    /// The audience, or a list of audiences: a token's `aud` (a string or a
    /// list) must hold at least one of them.
    pub audience: OneOrMany,
    /// The signing algorithms accepted, by JOSE name (default: RS256, RS384,
    /// RS512, PS256, PS384, PS512, ES256, ES384, EdDSA). `none` and the HMAC
    /// algorithms (HS256, HS384, HS512) are refused.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// How far `exp`, `nbf` and `iat` may be off, as a duration such as
    /// `"30s"` (default `"60s"`, at most `"5m"`).
    #[serde(default)]
    pub clock_skew: Option<String>,
    /// How long the issuer's keys are cached, as a duration such as `"1h"`
    /// (default `"1h"`, from `"1s"` to `"12h"`). It is also the cap on a
    /// JWKS answer's `Cache-Control: max-age`.
    #[serde(default)]
    pub jwks_cache: Option<String>,
    /// Lets the issuer and its `jwks_uri` be plain `http` on a loopback
    /// address (`127.0.0.0/8`, `[::1]`): for tests and local issuers only,
    /// never for a CI provider (default `false`). Any other host still needs
    /// `https`.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// A list of strings.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// Why an [`OidcConfig`] was refused: names the issuer (from 1) and what
/// to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("OIDC issuers: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

impl OidcConfig {
    /// A config of `issuers`.
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        Self { issuers }
    }

    /// Parses a config from its JSON (see the type's docs), without checking it.
    ///
    /// # Errors
    /// [`ConfigError`] when the text is not such a JSON object (an unknown
    /// field included).
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| {
            ConfigError(format!(
                "{e}; write {{\"issuers\": [{{\"issuer\": \"https://token.actions.githubusercontent.com\", \"audience\": \"https://registry.example.com\"}}]}}"
            ))
        })
    }

    /// Checks every issuer.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first issuer that is wrong and what to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.checked().map(|_| ())
    }

    /// The checked settings, one per issuer, in order.
    pub(crate) fn checked(&self) -> Result<Vec<Issuer>, ConfigError> {
        if self.issuers.is_empty() || self.issuers.len() > MAX_ISSUERS {
            return Err(ConfigError(format!(
                "list 1 to {MAX_ISSUERS} issuers (there are {})",
                self.issuers.len()
            )));
        }
        let mut checked: Vec<Issuer> = Vec::with_capacity(self.issuers.len());
        for (i, config) in self.issuers.iter().enumerate() {
            let issuer = config
                .check()
                .map_err(|m| ConfigError(format!("issuer {}: {m}", i + 1)))?;
            if checked.iter().any(|c| c.issuer == issuer.issuer) {
                return Err(ConfigError(format!(
                    "issuer {}: {} is listed twice; list each issuer once, with all its audiences",
                    i + 1,
                    issuer.issuer
                )));
            }
            checked.push(issuer);
        }
        Ok(checked)
    }
}

impl IssuerConfig {
    /// An issuer with `audience` and the defaults for everything else.
    pub fn new(issuer: impl Into<String>, audience: OneOrMany) -> Self {
        Self {
            issuer: issuer.into(),
            audience,
            algorithms: None,
            clock_skew: None,
            jwks_cache: None,
            allow_insecure_http: false,
        }
    }

    /// Sets [`algorithms`](Self::algorithms).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: Vec<String>) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// Sets [`clock_skew`](Self::clock_skew).
    #[must_use]
    pub fn with_clock_skew(mut self, skew: impl Into<String>) -> Self {
        self.clock_skew = Some(skew.into());
        self
    }

    /// Sets [`jwks_cache`](Self::jwks_cache).
    #[must_use]
    pub fn with_jwks_cache(mut self, ttl: impl Into<String>) -> Self {
        self.jwks_cache = Some(ttl.into());
        self
    }

    /// Sets [`allow_insecure_http`](Self::allow_insecure_http).
    #[must_use]
    pub fn with_allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    fn check(&self) -> Result<Issuer, String> {
        let issuer = self.issuer.clone();
        if issuer.is_empty() || issuer.len() > MAX_TEXT || issuer.trim() != issuer {
            return Err(format!(
                "\"issuer\" must be a URL of at most {MAX_TEXT} characters without surrounding spaces, e.g. https://token.actions.githubusercontent.com"
            ));
        }
        let url = Url::parse(&issuer).map_err(|e| {
            format!("\"issuer\" {issuer:?} is not a URL ({e}); use e.g. https://token.actions.githubusercontent.com")
        })?;
        check_fetch_url(&url, self.allow_insecure_http).map_err(|m| format!("\"issuer\" {m}"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "\"issuer\" {issuer} must not have a query or fragment (OpenID Connect issuers have neither)"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("\"issuer\" must not hold credentials".to_owned());
        }
        let discovery = discovery_url(&issuer)?;

        let audiences = self.audience.clone().into_vec();
        if audiences.is_empty() || audiences.len() > MAX_AUDIENCES {
            return Err(format!(
                "give 1 to {MAX_AUDIENCES} audiences in \"audience\", e.g. \"https://registry.example.com\""
            ));
        }
        if let Some(bad) = audiences
            .iter()
            .find(|a| a.trim().is_empty() || a.len() > MAX_TEXT)
        {
            return Err(format!(
                "audience {bad:?} must be non-blank and at most {MAX_TEXT} characters; use e.g. the registry's URL"
            ));
        }

        let algorithms = match &self.algorithms {
            None => DEFAULT_ALGORITHMS.to_vec(),
            Some(names) => check_algorithms(names)?,
        };
        let clock_skew = duration(self.clock_skew.as_deref(), "clock_skew", DEFAULT_CLOCK_SKEW)?;
        if clock_skew > MAX_CLOCK_SKEW {
            return Err("\"clock_skew\" may be at most \"5m\" (a longer skew keeps expired tokens usable); fix the clocks instead".to_owned());
        }
        let jwks_cache = duration(self.jwks_cache.as_deref(), "jwks_cache", DEFAULT_JWKS_CACHE)?;
        if jwks_cache < Duration::from_secs(1) || jwks_cache > MAX_JWKS_CACHE {
            return Err("\"jwks_cache\" must be from \"1s\" to \"12h\"".to_owned());
        }
        Ok(Issuer {
            issuer,
            discovery,
            audiences,
            algorithms,
            clock_skew,
            jwks_cache,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// An issuer's checked settings.
#[derive(Debug, Clone)]
pub(crate) struct Issuer {
    /// Exactly as configured, and as `iss` must spell it.
    pub(crate) issuer: String,
    /// `{issuer}/.well-known/openid-configuration`.
    pub(crate) discovery: Url,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) clock_skew: Duration,
    pub(crate) jwks_cache: Duration,
    pub(crate) allow_insecure_http: bool,
}

/// Checks that the verifier may fetch from `url`: `https`, or with
/// `allow_insecure_http` plain `http` to a loopback address.
///
/// # Errors
/// What is wrong, as the end of a sentence naming the URL.
pub(crate) fn check_fetch_url(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    let shown = upstream_http::shown_url(url);
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if allow_insecure_http => {
            // An IP address only: a name could resolve anywhere.
            let loopback = url
                .host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .and_then(|h| h.parse::<IpAddr>().ok())
                .is_some_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "{shown} must be https: \"allow_insecure_http\" covers only loopback addresses such as http://127.0.0.1:8080"
                ))
            }
        }
        "http" => Err(format!(
            "{shown} must be https (plain http only for a loopback test issuer, with \"allow_insecure_http\": true)"
        )),
        other => Err(format!("{shown} must be https, not {other:?}")),
    }
}

/// The discovery document's URL: the issuer without a trailing `/`, then
/// `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, 4).
fn discovery_url(issuer: &str) -> Result<Url, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    Url::parse(&url).map_err(|e| format!("\"issuer\" gives no discovery URL ({e})"))
}

fn check_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Err(
            "\"algorithms\" is empty; leave it out for the defaults or list e.g. [\"RS256\"]"
                .to_owned(),
        );
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for name in names {
        let algorithm = match name.as_str() {
            "none" => {
                return Err(
                    "algorithm \"none\" is never allowed: an unsigned token proves nothing"
                        .to_owned(),
                )
            }
            "HS256" | "HS384" | "HS512" => {
                return Err(format!(
                    "algorithm {name:?} is never allowed: HMAC needs a secret shared with the issuer, and OIDC issuers sign with public keys; use e.g. \"RS256\""
                ))
            }
            other => other.parse::<Algorithm>().map_err(|_| {
                format!(
                    "unknown algorithm {:?}; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                    bounded(other, 40)
                )
            })?,
        };
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    Ok(algorithms)
}

fn duration(value: Option<&str>, field: &str, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            format!(
                "\"{field}\" {:?} is not a duration ({e}); write e.g. \"60s\" or \"1h\"",
                bounded(text, 40)
            )
        }),
    }
}

/// `text`, cut to at most `max` characters (with `…` when cut), for
/// messages that show text a caller or a config supplied.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(json: &str) -> String {
        match OidcConfig::from_json(json).and_then(|c| c.validate()) {
            Ok(()) => panic!("accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_apply() {
        let config = OidcConfig::from_json(
            r#"{"issuers": [{"issuer": "https://token.actions.githubusercontent.com",
                             "audience": "https://registry.example.com"}]}"#,
        )
        .unwrap();
        let issuers = config.checked().unwrap();
        let github = &issuers[0];
        assert_eq!(github.issuer, "https://token.actions.githubusercontent.com");
        assert_eq!(
            github.discovery.as_str(),
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration"
        );
        assert_eq!(github.audiences, ["https://registry.example.com"]);
        assert_eq!(github.algorithms, DEFAULT_ALGORITHMS);
        assert_eq!(github.clock_skew, DEFAULT_CLOCK_SKEW);
        assert_eq!(github.jwks_cache, DEFAULT_JWKS_CACHE);
    }

    #[test]
    fn every_field_is_read() {
        let config = OidcConfig::from_json(
            r#"{"issuers": [{"issuer": "http://127.0.0.1:8080/", "audience": ["a", "b"],
                "algorithms": ["ES256", "RS256", "ES256"], "clock_skew": "30s",
                "jwks_cache": "10m", "allow_insecure_http": true}]}"#,
        )
        .unwrap();
        let issuer = &config.checked().unwrap()[0];
        assert_eq!(issuer.issuer, "http://127.0.0.1:8080/");
        assert_eq!(
            issuer.discovery.as_str(),
            "http://127.0.0.1:8080/.well-known/openid-configuration"
        );
        assert_eq!(issuer.audiences, ["a", "b"]);
        assert_eq!(issuer.algorithms, [Algorithm::ES256, Algorithm::RS256]);
        assert_eq!(issuer.clock_skew, Duration::from_secs(30));
        assert_eq!(issuer.jwks_cache, Duration::from_secs(600));
    }

    #[test]
    fn mistakes_are_refused_with_what_to_fix() {
        let cases = [
            (r#"{"issuers": []}"#, "list 1 to 64 issuers"),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "colour": 1}]}"#,
                "unknown field `colour`",
            ),
            (
                r#"{"issuers": [{"issuer": "http://a.example", "audience": "x"}]}"#,
                "must be https (plain http only for a loopback",
            ),
            (
                r#"{"issuers": [{"issuer": "http://a.example", "audience": "x", "allow_insecure_http": true}]}"#,
                "covers only loopback addresses",
            ),
            (
                r#"{"issuers": [{"issuer": "ftp://a.example", "audience": "x"}]}"#,
                "must be https, not \"ftp\"",
            ),
            (
                r#"{"issuers": [{"issuer": "token.actions.githubusercontent.com", "audience": "x"}]}"#,
                "is not a URL",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example?x=1", "audience": "x"}]}"#,
                "must not have a query",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": []}]}"#,
                "give 1 to 32 audiences",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": " "}]}"#,
                "must be non-blank",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "algorithms": ["none"]}]}"#,
                "\"none\" is never allowed",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "algorithms": ["RS256", "HS256"]}]}"#,
                "\"HS256\" is never allowed",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "algorithms": ["RS1"]}]}"#,
                "unknown algorithm \"RS1\"",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "algorithms": []}]}"#,
                "\"algorithms\" is empty",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "clock_skew": "10m"}]}"#,
                "at most \"5m\"",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "clock_skew": "soon"}]}"#,
                "is not a duration",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x", "jwks_cache": "2d"}]}"#,
                "from \"1s\" to \"12h\"",
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "audience": "x"},
                                {"issuer": "https://a.example", "audience": "y"}]}"#,
                "issuer 2: https://a.example is listed twice",
            ),
        ];
        for (json, expected) in cases {
            let e = refused(json);
            assert!(e.contains(expected), "{json}: {e}");
        }
    }

    #[test]
    fn loopback_http_needs_the_flag() {
        let mut issuer = IssuerConfig::new("http://127.0.0.1:9/", OneOrMany::One("a".into()));
        assert!(OidcConfig::new(vec![issuer.clone()]).validate().is_err());
        issuer = issuer.with_allow_insecure_http(true);
        assert!(OidcConfig::new(vec![issuer]).validate().is_ok());
        let v6 = IssuerConfig::new("http://[::1]:9", OneOrMany::One("a".into()))
            .with_allow_insecure_http(true);
        assert!(OidcConfig::new(vec![v6]).validate().is_ok());
    }

    #[test]
    fn bounded_cuts_on_characters() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("ééé", 2), "éé…");
    }
}
