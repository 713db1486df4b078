//! Fetching an issuer's discovery document and JWKS over HTTP, with bounded
//! bodies, timeouts and redirects.

use std::time::Duration;

use reqwest::header::{ACCEPT, CACHE_CONTROL};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use upstream_http::{build_client, read_body, shown_url, AttemptError, Fail, Overflow};

use crate::config::{check_fetch_url, Issuer};
use crate::keys::KeySet;

/// The largest discovery document or JWKS read: 256 KiB.
pub const MAX_DOCUMENT_BYTES: u64 = 256 * 1024;
/// How long connecting to the issuer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one fetch may take in total, body included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most redirects followed per fetch.
const MAX_REDIRECTS: usize = 3;

/// One issuer's HTTP client: its redirect policy follows the issuer's
/// `allow_insecure_http`.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: Client,
    allow_insecure_http: bool,
}

/// A fetched JWKS.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    /// The JWKS answer's `Cache-Control: max-age`, if it had one
    /// (`no-cache`/`no-store`: zero).
    pub(crate) max_age: Option<Duration>,
}

/// The fields of a discovery document this crate reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Fetcher {
    /// The client for `issuer`.
    ///
    /// # Errors
    /// What is wrong if the HTTP client cannot be built.
    pub(crate) fn new(issuer: &Issuer) -> Result<Self, String> {
        let allow = issuer.allow_insecure_http;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Err(m) = check_fetch_url(attempt.url(), allow) {
                attempt.error(format!("a redirect to {m}"))
            } else {
                attempt.follow()
            }
        });
        let builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("terraform-registry/", env!("CARGO_PKG_VERSION")));
        let client = build_client(builder, &[]).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            allow_insecure_http: allow,
        })
    }

    /// Reads `issuer`'s discovery document: its `jwks_uri`, once the
    /// document's `issuer` is checked to be exactly the configured one.
    ///
    /// # Errors
    /// What went wrong, as a sentence naming the URL.
    pub(crate) async fn discover(&self, issuer: &Issuer) -> Result<Url, String> {
        let shown = shown_url(&issuer.discovery);
        let (body, _) = self.get(&issuer.discovery).await?;
        let discovery: Discovery = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "the discovery document {shown} is not an OpenID Connect discovery document ({e})"
            )
        })?;
        if discovery.issuer != issuer.issuer {
            return Err(format!(
                "the discovery document {shown} names the issuer {:?}, not {:?} as configured; configure the issuer exactly as its tokens' iss spells it",
                crate::config::bounded(&discovery.issuer, 200),
                issuer.issuer
            ));
        }
        // Not required to be on the issuer's host (Google's keys are on
        // another one): the issuer vouches for it over TLS.
        let jwks_uri = Url::parse(&discovery.jwks_uri).map_err(|e| {
            format!("the discovery document {shown} has a jwks_uri that is not a URL ({e})")
        })?;
        check_fetch_url(&jwks_uri, self.allow_insecure_http).map_err(|m| {
            format!("the discovery document {shown} has a jwks_uri that is unusable: {m}")
        })?;
        Ok(jwks_uri)
    }

    /// Reads the key set at `jwks_uri`.
    ///
    /// # Errors
    /// What went wrong, as a sentence naming the URL.
    pub(crate) async fn keys(&self, jwks_uri: &Url) -> Result<Fetched, String> {
        let (body, headers) = self.get(jwks_uri).await?;
        let keys =
            KeySet::parse(&body).map_err(|m| format!("the JWKS {} {m}", shown_url(jwks_uri)))?;
        let max_age = headers
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        Ok(Fetched { keys, max_age })
    }

    /// GETs `url`: a `200` answer's body (at most [`MAX_DOCUMENT_BYTES`]) and headers.
    async fn get(&self, url: &Url) -> Result<(bytes::Bytes, reqwest::header::HeaderMap), String> {
        let shown = shown_url(url);
        let response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{shown} could not be read: {}", describe(e)))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(format!("{shown} answered HTTP {status}"));
        }
        let headers = response.headers().clone();
        let body = read_body(response, MAX_DOCUMENT_BYTES, Overflow::Refuse, || {
            Fail::Unsupported(String::new())
        })
        .await
        .map_err(|e| match e {
            AttemptError::Fatal(Fail::Unsupported(_)) => format!(
                "{shown} answered more than {} KiB, more than a discovery document or key set needs",
                MAX_DOCUMENT_BYTES / 1024
            ),
            AttemptError::Timeout => format!("{shown} timed out"),
            AttemptError::Transport(e) => format!("{shown} could not be read: {}", describe(e)),
            AttemptError::Fatal(_) => format!("{shown} could not be read"),
        })?;
        Ok((body, headers))
    }
}

/// A client error and its causes, without any URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `max-age` of a `Cache-Control` value; `no-cache` and `no-store` count as 0.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = directive.strip_prefix("max-age=") {
            age = secs.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=x"), None);
    }
}
