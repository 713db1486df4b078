//! [`GithubConfig`]: which GitHub to talk to, as whom, and how patiently.

use std::fmt;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use serde::Serialize;

use crate::mapping::RepoMapping;

/// The GitHub REST API used when nothing else is configured.
pub const DEFAULT_API_BASE: &str = "https://api.github.com/";

/// How [`GithubUpstream`](crate::GithubUpstream) reaches GitHub: the API,
/// credentials, which repository holds which module, caching, timeouts and
/// limits.
///
/// Plain data: build it with [`GithubConfig::new`] (or [`Default`]) and the
/// `with_*` methods (the binaries' settings layer, `registry-settings`, maps
/// flags and environment variables to them). `Debug` never shows a token or key.
///
/// ```
/// use std::time::Duration;
/// use upstream_github::{GithubAuth, GithubConfig, RepoMapping, Url};
///
/// let config = GithubConfig::new()
///     .with_api_base(Url::parse("https://github.example.com/api/v3/").unwrap())
///     .with_auth(GithubAuth::Token("ghp_secret".into()))
///     .with_repos(RepoMapping::template("platform/tf-{name}").unwrap())
///     .with_tags_ttl(Duration::from_secs(60));
/// assert_eq!(config.timeout, Duration::from_secs(30));
/// assert!(!format!("{config:?}").contains("ghp_secret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct GithubConfig {
    /// The REST API's base URL (default `https://api.github.com/`); for GitHub
    /// Enterprise Server `https://HOST/api/v3/`.
    pub api_base: Url,
    /// Who the registry is to GitHub (default [`GithubAuth::None`]: public
    /// repositories only, 60 requests an hour).
    pub auth: GithubAuth,
    /// Which repository holds which module (default
    /// `{namespace}/terraform-{system}-{name}`).
    pub repos: RepoMapping,
    /// How long a module's version list is cached (default 300 s). After that
    /// it is revalidated page by page with `If-None-Match`.
    pub tags_ttl: Duration,
    /// How long "no such repository" is cached (default 30 s).
    pub not_found_ttl: Duration,
    /// How long opening a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long one HTTP attempt may take in total, body included (default 30 s).
    pub timeout: Duration,
    /// Attempts per request, the first one included (default 3).
    pub max_attempts: u32,
    /// The first retry's base delay, doubled per retry, with jitter (default 200 ms).
    pub backoff: Duration,
    /// The longest rate-limit wait (`retry-after`, `x-ratelimit-reset`) waited
    /// out before retrying (default 5 s); when GitHub asks for longer, the
    /// request fails at once with [`UpstreamError::Unavailable`](registry_core::UpstreamError::Unavailable).
    pub max_retry_wait: Duration,
    /// The most entries each cache (tag lists, ETags, installations, tokens)
    /// holds (default 10,000).
    pub max_cache_entries: usize,
    /// The largest body read (default 50 MiB): a larger tarball cannot be fetched.
    pub max_archive_bytes: u64,
    /// PEM certificates trusted in addition to the webpki roots (e.g. a GitHub
    /// Enterprise Server behind a private CA).
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// The `User-Agent` sent (GitHub refuses requests without one; default
    /// `terraform-registry/<version>`).
    pub user_agent: String,
}

impl GithubConfig {
    /// The defaults: `https://api.github.com/`, no credentials, the default
    /// repository template.
    pub fn new() -> Self {
        Self {
            api_base: Url::parse(DEFAULT_API_BASE).expect("the default API base is a valid URL"),
            auth: GithubAuth::None,
            repos: RepoMapping::default(),
            tags_ttl: Duration::from_secs(300),
            not_found_ttl: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
            max_retry_wait: Duration::from_secs(5),
            max_cache_entries: 10_000,
            max_archive_bytes: 50 * 1024 * 1024,
            extra_root_certificates: Vec::new(),
            user_agent: concat!("terraform-registry/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Sets [`api_base`](Self::api_base).
    #[must_use]
    pub fn with_api_base(mut self, api_base: Url) -> Self {
        self.api_base = api_base;
        self
    }

    /// Sets [`auth`](Self::auth).
    #[must_use]
    pub fn with_auth(mut self, auth: GithubAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets [`repos`](Self::repos).
    #[must_use]
    pub fn with_repos(mut self, repos: RepoMapping) -> Self {
        self.repos = repos;
        self
    }

    /// Sets [`tags_ttl`](Self::tags_ttl).
    #[must_use]
    pub fn with_tags_ttl(mut self, ttl: Duration) -> Self {
        self.tags_ttl = ttl;
        self
    }

    /// Sets [`not_found_ttl`](Self::not_found_ttl).
    #[must_use]
    pub fn with_not_found_ttl(mut self, ttl: Duration) -> Self {
        self.not_found_ttl = ttl;
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

    /// Sets [`max_cache_entries`](Self::max_cache_entries) (0 counts as 1).
    #[must_use]
    pub fn with_max_cache_entries(mut self, entries: usize) -> Self {
        self.max_cache_entries = entries;
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

    /// Sets [`user_agent`](Self::user_agent).
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }
}

impl Default for GithubConfig {
    /// [`GithubConfig::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_base", &upstream_http::shown_url(&self.api_base))
            .field("auth", &self.auth)
            .field("repos", &self.repos)
            .field("tags_ttl", &self.tags_ttl)
            .field("not_found_ttl", &self.not_found_ttl)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("max_cache_entries", &self.max_cache_entries)
            .field("max_archive_bytes", &self.max_archive_bytes)
            .field(
                "extra_root_certificates",
                &format_args!("[{} PEM]", self.extra_root_certificates.len()),
            )
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Who the registry is to GitHub. `Debug` shows which kind, never the secret.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum GithubAuth {
    /// No credentials: public repositories only, and GitHub's unauthenticated
    /// rate limit (60 requests an hour per IP address).
    #[default]
    None,
    /// A personal access token (classic `ghp_...` or fine-grained
    /// `github_pat_...`), sent as `Authorization: Bearer` to the API host only.
    Token(String),
    /// A GitHub App: short-lived installation tokens, obtained with a JWT
    /// signed by the App's private key.
    App(GithubApp),
}

impl fmt::Debug for GithubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
            Self::App(app) => f.debug_tuple("App").field(app).finish(),
        }
    }
}

/// A GitHub App: its id and private key, and optionally the installation to use.
///
/// The key is parsed (and tried) when the App is built, so a bad key fails at
/// startup rather than at the first request. `Debug` never shows it.
///
/// ```
/// use upstream_github::GithubApp;
///
/// let e = GithubApp::new("12345", b"not a key").unwrap_err();
/// assert!(e.to_string().contains("PEM"), "{e}");
/// ```
#[derive(Clone)]
pub struct GithubApp {
    app_id: String,
    installation_id: Option<u64>,
    key: EncodingKey,
}

/// The claims of a GitHub App JWT.
#[derive(Serialize)]
struct Claims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

impl GithubApp {
    /// The App `app_id` (its numeric App ID, or its client ID: the JWT's
    /// `iss`) with its private key, PEM text as downloaded from the App's
    /// settings (`BEGIN RSA PRIVATE KEY`, PKCS#1) or converted to PKCS#8
    /// (`BEGIN PRIVATE KEY`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the field `private_key` if the key is not
    /// an RSA private key in PEM (or too weak to sign with: under 2048 bits),
    /// for `app_id` if the App id is empty or has spaces or control characters.
    /// The message never shows the key.
    pub fn new(app_id: impl Into<String>, private_key_pem: &[u8]) -> Result<Self, ConfigError> {
        let app_id = app_id.into().trim().to_owned();
        if app_id.is_empty() || !app_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::Invalid {
                field: "app_id",
                reason: format!(
                    "the GitHub App id {app_id:?} is not an App ID (a number) or a client ID (e.g. Iv23li...); find both on the App's settings page"
                ),
            });
        }
        let reason = |why: &str| ConfigError::Invalid {
            field: "private_key",
            reason: format!("the GitHub App private key is unusable: {why}"),
        };
        let text = String::from_utf8_lossy(private_key_pem);
        if text.contains("PUBLIC KEY-----") {
            return Err(reason("it is a public key; the registry needs the App's private key (the .pem file generated on the App's settings page)"));
        }
        if text.contains("ENCRYPTED PRIVATE KEY-----") {
            return Err(reason(
                "it is encrypted; store it decrypted, as GitHub generates it",
            ));
        }
        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|_| {
            reason("it is not an RSA private key in PEM (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----); use the .pem file generated on the App's settings page")
        })?;
        let app = Self {
            app_id,
            installation_id: None,
            key,
        };
        // The PEM only gets parsed as RSA when signing: sign once now.
        app.jwt(SystemTime::now()).map_err(|_| {
            reason("the key cannot sign RS256 JWTs (a malformed or smaller than 2048-bit RSA key); use the .pem file generated on the App's settings page")
        })?;
        Ok(app)
    }

    /// Uses installation `id` for every repository, instead of discovering the
    /// installation per repository owner.
    #[must_use]
    pub fn with_installation_id(mut self, id: u64) -> Self {
        self.installation_id = Some(id);
        self
    }

    /// The App id or client id, as given.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The configured installation id, if any.
    pub fn installation_id(&self) -> Option<u64> {
        self.installation_id
    }

    /// A JWT authenticating as the App: RS256, `iat` 60 s ago (GitHub's advice
    /// against clock drift), `exp` 9 minutes from now (GitHub refuses one more
    /// than 10 minutes ahead), `iss` the App id.
    pub(crate) fn jwt(&self, now: SystemTime) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iat: now.saturating_sub(60),
            exp: now + 9 * 60,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
    }
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// Why a configuration was refused. The message names the field and what to
/// fix, and never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field's value cannot be used: the API URL (`api_base`), the token
    /// (`auth`), the App id (`app_id`) or key (`private_key`), a repository
    /// template or mapping (`repos`), the user agent, a certificate.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `api_base`.
        field: &'static str,
        /// What is wrong with it (never a secret).
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the GitHub HTTP client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::LineEnding;

    use super::*;
    use crate::mapping::DEFAULT_REPO_TEMPLATE;

    /// An App private key (PKCS#1 PEM), made once: key generation is slow.
    fn pem() -> &'static str {
        static PEM: OnceLock<String> = OnceLock::new();
        PEM.get_or_init(|| {
            rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
                .unwrap()
                .to_pkcs1_pem(LineEnding::LF)
                .unwrap()
                .to_string()
        })
    }

    #[test]
    fn defaults() {
        let c = GithubConfig::default();
        assert_eq!(c.api_base.as_str(), DEFAULT_API_BASE);
        assert!(matches!(c.auth, GithubAuth::None));
        assert_eq!(c.repos.template_text(), DEFAULT_REPO_TEMPLATE);
        assert_eq!(c.tags_ttl, Duration::from_secs(300));
        assert_eq!(c.not_found_ttl, Duration::from_secs(30));
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.max_archive_bytes, 50 * 1024 * 1024);
        assert!(c.extra_root_certificates.is_empty());
        assert!(c.user_agent.starts_with("terraform-registry/"));
    }

    #[test]
    fn an_app_keeps_its_id_and_installation_and_hides_its_key() {
        let app = GithubApp::new(" 12345 ", pem().as_bytes())
            .unwrap()
            .with_installation_id(777);
        assert_eq!(app.app_id(), "12345");
        assert_eq!(app.installation_id(), Some(777));
        let shown = format!("{:?}", GithubConfig::new().with_auth(GithubAuth::App(app)));
        assert!(
            !shown.contains("BEGIN") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_key_or_app_id_is_refused_naming_the_field_without_showing_the_key() {
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----";
        for key in [
            garbage,
            "-----BEGIN PUBLIC KEY-----\nc2VjcmV0\n-----END PUBLIC KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nc2VjcmV0\n-----END ENCRYPTED PRIVATE KEY-----",
        ] {
            let e = GithubApp::new("12345", key.as_bytes()).unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(
                    &e,
                    ConfigError::Invalid {
                        field: "private_key",
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(text.starts_with("private_key: "), "{text}");
            assert!(!text.contains("c2VjcmV0"), "{text}");
            assert!(
                text.contains("App's settings page") || text.contains("decrypted"),
                "{text}"
            );
        }
        let e = GithubApp::new("12 345", pem().as_bytes()).unwrap_err();
        assert!(
            matches!(
                &e,
                ConfigError::Invalid {
                    field: "app_id",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = GithubConfig::new().with_auth(GithubAuth::Token("s3cr3t-token".into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Token(\"<redacted>\")"), "{shown}");
    }
}
