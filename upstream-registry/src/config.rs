//! [`RegistryUpstreamConfig`]: which registry to talk to, and how patiently.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use upstream_http::{env_lookup, parse_base_url, parse_secs, shown_url_text};

/// The registry used when nothing else is configured.
pub const DEFAULT_BASE_URL: &str = "https://registry.terraform.io/";

/// Where GitHub tarballs are fetched from when pinning git sources on github.com.
pub const DEFAULT_GITHUB_TARBALL_BASE: &str = "https://codeload.github.com/";

/// How [`RegistryUpstream`](crate::RegistryUpstream) reaches its upstream
/// registry: address, credentials, timeouts, retries, caching and limits.
///
/// Plain data: build it with [`RegistryUpstreamConfig::new`] (or
/// [`Default`], for `registry.terraform.io`) and the `with_*` methods, or read
/// it with [`RegistryUpstreamConfig::from_env`]. `Debug` never shows the token.
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

    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `TFR_UPSTREAM_URL` | the upstream registry's base URL | `https://registry.terraform.io` |
    /// | `TFR_UPSTREAM_TOKEN` | bearer token for the upstream registry's API | none |
    /// | `TFR_UPSTREAM_TIMEOUT_SECS` | total time per HTTP attempt, in seconds (1 to 3600) | `10` |
    /// | `TFR_UPSTREAM_CACHE_TTL_SECS` | how long version lists and download locations are cached, in seconds (0 to 86400) | `300` |
    /// | `TFR_UPSTREAM_CA_FILE` | path to a PEM file of CA certificates trusted in addition to the webpki roots | none |
    /// | `TFR_GITHUB_TARBALL_URL` | where GitHub tarballs are fetched when pinning (`{base}{OWNER}/{REPO}/tar.gz/{REF}`) | `https://codeload.github.com/` |
    ///
    /// Empty values count as unset. Everything else keeps its default.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable and what is wrong with it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = env_lookup(get);
        let url = |var: &'static str, example: &str| -> Result<Option<Url>, ConfigError> {
            get(var)
                .map(|value| {
                    parse_base_url(&value, example).map_err(|reason| ConfigError::Invalid {
                        var,
                        // Never the credentials or query a refused URL may hold.
                        value: shown_url_text(&value),
                        reason,
                    })
                })
                .transpose()
        };
        let mut config = match url("TFR_UPSTREAM_URL", DEFAULT_BASE_URL)? {
            Some(base_url) => Self::new(base_url),
            None => Self::default(),
        };
        if let Some(base) = url("TFR_GITHUB_TARBALL_URL", DEFAULT_GITHUB_TARBALL_BASE)? {
            config.github_tarball_base = base;
        }
        config.token = get("TFR_UPSTREAM_TOKEN");
        if let Some(v) = get("TFR_UPSTREAM_TIMEOUT_SECS") {
            config.timeout = secs("TFR_UPSTREAM_TIMEOUT_SECS", v, 1, 3600)?;
        }
        if let Some(v) = get("TFR_UPSTREAM_CACHE_TTL_SECS") {
            config.versions_ttl = secs("TFR_UPSTREAM_CACHE_TTL_SECS", v, 0, 86_400)?;
        }
        if let Some(path) = get("TFR_UPSTREAM_CA_FILE") {
            let path = PathBuf::from(path);
            let pem = std::fs::read(&path).map_err(|source| ConfigError::CaFile {
                path: path.clone(),
                source,
            })?;
            config.extra_root_certificates = vec![pem];
        }
        Ok(config)
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

/// Why a configuration was refused. The message names what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable's value is not usable.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA file could not be read.
    #[error("cannot read the CA file {path:?} (TFR_UPSTREAM_CA_FILE): {source}")]
    CaFile {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configured value cannot be used (a URL, the token, a certificate).
    #[error("invalid upstream configuration: {0}")]
    Setting(String),
    /// The HTTP client could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn secs(var: &'static str, value: String, min: u64, max: u64) -> Result<Duration, ConfigError> {
    parse_secs(&value, min, max).map_err(|reason| ConfigError::Invalid { var, value, reason })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_url_defaults_to_the_public_registry() {
        for vars in [&[][..], &[("TFR_UPSTREAM_URL", "  ")]] {
            let c = RegistryUpstreamConfig::from_lookup(lookup(vars)).unwrap();
            assert_eq!(c.base_url.as_str(), DEFAULT_BASE_URL);
            assert_eq!(c.github_tarball_base.as_str(), DEFAULT_GITHUB_TARBALL_BASE);
        }
    }

    #[test]
    fn reads_every_variable() {
        let dir = std::env::temp_dir().join(format!("upstream-registry-ca-{}", std::process::id()));
        std::fs::write(&dir, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let c = RegistryUpstreamConfig::from_lookup(lookup(&[
            ("TFR_UPSTREAM_URL", "https://registry.example.com"),
            ("TFR_UPSTREAM_TOKEN", "tok"),
            ("TFR_UPSTREAM_TIMEOUT_SECS", "20"),
            ("TFR_UPSTREAM_CACHE_TTL_SECS", "0"),
            ("TFR_UPSTREAM_CA_FILE", dir.to_str().unwrap()),
            ("TFR_GITHUB_TARBALL_URL", "http://127.0.0.1:9/codeload/"),
        ]))
        .unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(c.base_url.as_str(), "https://registry.example.com/");
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert_eq!(c.versions_ttl, Duration::ZERO);
        assert_eq!(
            c.github_tarball_base.as_str(),
            "http://127.0.0.1:9/codeload/"
        );
        assert_eq!(
            c.extra_root_certificates,
            vec![b"-----BEGIN CERTIFICATE-----\n".to_vec()]
        );
        // Untouched defaults.
        assert_eq!(c.not_found_ttl, Duration::from_secs(30));
        assert_eq!(c.max_attempts, 3);
    }

    #[test]
    fn refuses_bad_values() {
        for (var, value) in [
            ("TFR_UPSTREAM_URL", "registry.example.com"),
            ("TFR_UPSTREAM_URL", "ftp://registry.example.com"),
            ("TFR_UPSTREAM_URL", "https://u:p@registry.example.com"),
            ("TFR_UPSTREAM_TIMEOUT_SECS", "0"),
            ("TFR_UPSTREAM_TIMEOUT_SECS", "ten"),
            ("TFR_UPSTREAM_CACHE_TTL_SECS", "-1"),
            ("TFR_GITHUB_TARBALL_URL", "codeload.github.com"),
        ] {
            let mut vars = vec![("TFR_UPSTREAM_URL", "https://r.example.com")];
            vars.push((var, value));
            let e = RegistryUpstreamConfig::from_lookup(lookup(&vars)).unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {e}"
            );
            assert!(
                !e.to_string().contains("u:p"),
                "a refused password is shown: {e}"
            );
        }
        let e = RegistryUpstreamConfig::from_lookup(lookup(&[
            ("TFR_UPSTREAM_URL", "https://r.example.com"),
            ("TFR_UPSTREAM_CA_FILE", "/nonexistent/ca.pem"),
        ]))
        .unwrap_err();
        assert!(matches!(e, ConfigError::CaFile { .. }), "{e}");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = RegistryUpstreamConfig::default().with_token("s3cr3t-token");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
