//! [`RegistryUpstreamConfig`]: which registry to talk to, and how patiently.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

/// The registry used when nothing else is configured.
pub const DEFAULT_BASE_URL: &str = "https://registry.terraform.io/";

/// Where GitHub tarballs are fetched from when pinning git sources on github.com.
pub const DEFAULT_GITHUB_TARBALL_BASE: &str = "https://codeload.github.com/";

/// How [`RegistryUpstream`](crate::RegistryUpstream) reaches its upstream
/// registry: address, credentials, timeouts, retries, caching and limits.
///
/// Plain data: build it with [`RegistryUpstreamConfig::new`] (or
/// [`Default`], for `registry.terraform.io`) and the `with_*` methods (the
/// binaries' settings layer, `registry-settings`, maps flags and environment
/// variables to them). `Debug` never shows the token.
///
/// ```
/// use std::time::Duration;
/// use upstream_registry::RegistryUpstreamConfig;
///
/// let config = RegistryUpstreamConfig::default()
///     .with_token("secret")
///     .with_timeout(Duration::from_secs(20));
/// assert_eq!(config.base_url.as_str(), "https://registry.terraform.io/");
/// assert_eq!(config.max_attempts, 3);
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryUpstreamConfig {
    /// The upstream registry's base URL (default `https://registry.terraform.io/`).
    /// Service discovery is read from `{base_url}.well-known/terraform.json`.
    pub base_url: Url,
    /// A bearer token for the upstream registry. It is sent on service
    /// discovery and on the module API requests (versions, download) only:
    /// never to archive or tarball hosts, and never logged.
    pub token: Option<String>,
    /// How long opening a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long one HTTP attempt may take in total, body included (default 10 s).
    pub timeout: Duration,
    /// Attempts per request, the first one included (default 3).
    pub max_attempts: u32,
    /// The first retry's base delay, doubled per retry, with jitter (default 200 ms).
    pub backoff: Duration,
    /// The longest `Retry-After` waited for (default 5 s); when the upstream
    /// asks for longer, the request fails at once.
    pub max_retry_wait: Duration,
    /// How long version lists and download locations are cached (default 300 s).
    pub versions_ttl: Duration,
    /// How long "no such module or version" answers are cached (default 30 s).
    pub not_found_ttl: Duration,
    /// How long the service discovery document is cached (default 3600 s).
    pub discovery_ttl: Duration,
    /// The most entries each cache (version lists; download locations) holds
    /// (default 10,000). When full, expired entries go first, then arbitrary ones.
    pub max_cache_entries: usize,
    /// Where GitHub tarballs come from (default `https://codeload.github.com/`):
    /// the tarball of `OWNER/REPO` at `REF` is `{base}{OWNER}/{REPO}/tar.gz/{REF}`.
    pub github_tarball_base: Url,
    /// The largest body read from any upstream host (default 50 MiB); a larger
    /// archive cannot be pinned.
    pub max_archive_bytes: u64,
    /// PEM certificates trusted in addition to the webpki roots (private CAs).
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl RegistryUpstreamConfig {
    /// The defaults, for the registry at `base_url`.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            token: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
            max_retry_wait: Duration::from_secs(5),
            versions_ttl: Duration::from_secs(300),
            not_found_ttl: Duration::from_secs(30),
            discovery_ttl: Duration::from_secs(3600),
            max_cache_entries: 10_000,
            github_tarball_base: Url::parse(DEFAULT_GITHUB_TARBALL_BASE)
                .expect("the default GitHub tarball base is a valid URL"),
            max_archive_bytes: 50 * 1024 * 1024,
            extra_root_certificates: Vec::new(),
        }
    }

    /// Sets [`base_url`](Self::base_url).
    #[must_use]
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Sets [`token`](Self::token).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`max_attempts`](Self::max_attempts) (0 counts as 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets [`backoff`](Self::backoff).
    #[must_use]
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets [`max_retry_wait`](Self::max_retry_wait).
    #[must_use]
    pub fn with_max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// Sets [`versions_ttl`](Self::versions_ttl).
    #[must_use]
    pub fn with_versions_ttl(mut self, ttl: Duration) -> Self {
        self.versions_ttl = ttl;
        self
    }

    /// Sets [`not_found_ttl`](Self::not_found_ttl).
    #[must_use]
    pub fn with_not_found_ttl(mut self, ttl: Duration) -> Self {
        self.not_found_ttl = ttl;
        self
    }

    /// Sets [`discovery_ttl`](Self::discovery_ttl).
    #[must_use]
    pub fn with_discovery_ttl(mut self, ttl: Duration) -> Self {
        self.discovery_ttl = ttl;
        self
    }

    /// Sets [`max_cache_entries`](Self::max_cache_entries) (0 counts as 1).
    #[must_use]
    pub fn with_max_cache_entries(mut self, entries: usize) -> Self {
        self.max_cache_entries = entries;
        self
    }

    /// Sets [`github_tarball_base`](Self::github_tarball_base).
    #[must_use]
    pub fn with_github_tarball_base(mut self, base: Url) -> Self {
        self.github_tarball_base = base;
        self
    }

    /// Sets [`max_archive_bytes`](Self::max_archive_bytes).
    #[must_use]
    pub fn with_max_archive_bytes(mut self, bytes: u64) -> Self {
        self.max_archive_bytes = bytes;
        self
    }

    /// Sets [`extra_root_certificates`](Self::extra_root_certificates): each
    /// item is PEM text holding one or more certificates.
    #[must_use]
    pub fn with_extra_root_certificates(mut self, pems: Vec<Vec<u8>>) -> Self {
        self.extra_root_certificates = pems;
        self
    }
}

impl Default for RegistryUpstreamConfig {
    /// The defaults, for `https://registry.terraform.io/`.
    fn default() -> Self {
        Self::new(Url::parse(DEFAULT_BASE_URL).expect("the default base URL is a valid URL"))
    }
}

impl fmt::Debug for RegistryUpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryUpstreamConfig")
            .field("base_url", &upstream_http::shown_url(&self.base_url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("versions_ttl", &self.versions_ttl)
            .field("not_found_ttl", &self.not_found_ttl)
            .field("discovery_ttl", &self.discovery_ttl)
            .field("max_cache_entries", &self.max_cache_entries)
            .field("github_tarball_base", &self.github_tarball_base.as_str())
            .field("max_archive_bytes", &self.max_archive_bytes)
            .field(
                "extra_root_certificates",
                &format_args!("[{} PEM]", self.extra_root_certificates.len()),
            )
            .finish()
    }
}

/// Why a configuration was refused. The message names the field and what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field's value cannot be used (a URL, the token, a certificate).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field of [`RegistryUpstreamConfig`], e.g. `base_url`.
        field: &'static str,
        /// What is wrong with it (never the token, nor a URL's credentials or query).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_defaults_to_the_public_registry() {
        let c = RegistryUpstreamConfig::default();
        assert_eq!(c.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(c.github_tarball_base.as_str(), DEFAULT_GITHUB_TARBALL_BASE);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.versions_ttl, Duration::from_secs(300));
        assert_eq!(c.not_found_ttl, Duration::from_secs(30));
        assert_eq!(c.max_attempts, 3);
        assert!(c.token.is_none() && c.extra_root_certificates.is_empty());
    }

    #[test]
    fn debug_hides_the_token() {
        let c = RegistryUpstreamConfig::default().with_token("s3cr3t-token");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
