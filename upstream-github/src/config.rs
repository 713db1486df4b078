//! [`GithubConfig`]: which GitHub to talk to, as whom, and how patiently.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use serde::Serialize;
use upstream_http::{env_lookup, parse_base_url, parse_secs};

use crate::mapping::RepoMapping;

/// The GitHub REST API used when nothing else is configured.
pub const DEFAULT_API_BASE: &str = "https://api.github.com/";

/// How [`GithubUpstream`](crate::GithubUpstream) reaches GitHub: the API,
/// credentials, which repository holds which module, caching, timeouts and
/// limits.
///
/// Plain data: build it with [`GithubConfig::new`] (or [`Default`]) and the
/// `with_*` methods, or read it with [`GithubConfig::from_env`]. `Debug` never
/// shows a token or key.
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

    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `TFR_GITHUB_API_URL` | the REST API's base URL (GitHub Enterprise Server: `https://HOST/api/v3/`) | `https://api.github.com/` |
    /// | `TFR_GITHUB_TOKEN` | a personal access token (classic or fine-grained) | none |
    /// | `TFR_GITHUB_APP_ID` | a GitHub App's id or client id (the JWT's `iss`), instead of a token | none |
    /// | `TFR_GITHUB_APP_PRIVATE_KEY` | the App's private key, PEM text (`\n` escapes allowed) | none |
    /// | `TFR_GITHUB_APP_PRIVATE_KEY_FILE` | or the path to the App's private key (`.pem`) | none |
    /// | `TFR_GITHUB_APP_INSTALLATION_ID` | the App's installation id | discovered per repository owner |
    /// | `TFR_GITHUB_REPO_TEMPLATE` | `owner/repo` of a module, with `{namespace}`, `{name}`, `{system}` | `{namespace}/terraform-{system}-{name}` |
    /// | `TFR_GITHUB_REPOS` | explicit entries `ns/name/system=owner/repo`, comma-separated; they win over the template | none |
    /// | `TFR_GITHUB_CACHE_TTL_SECS` | how long version lists are cached, in seconds (0 to 86400) | `300` |
    /// | `TFR_GITHUB_TIMEOUT_SECS` | total time per HTTP attempt, in seconds (1 to 3600) | `30` |
    /// | `TFR_GITHUB_CA_FILE` | path to a PEM file of CA certificates trusted in addition to the webpki roots | none |
    ///
    /// Empty values count as unset. A token and an App together are refused,
    /// as are both key variables, and App variables without an App id.
    /// Everything else keeps its default.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable and what is wrong with it (never a
    /// secret's value).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = env_lookup(get);
        let invalid = |var: &'static str, value: &str, reason: String| ConfigError::Invalid {
            var,
            value: value.to_owned(),
            reason,
        };
        let mut config = Self::new();
        if let Some(v) = get("TFR_GITHUB_API_URL") {
            config.api_base = parse_base_url(
                &v,
                "https://api.github.com or https://github.example.com/api/v3",
            )
            // Never the credentials or query a refused URL may hold.
            .map_err(|r| invalid("TFR_GITHUB_API_URL", &upstream_http::shown_url_text(&v), r))?;
        }

        let token = get("TFR_GITHUB_TOKEN");
        let app_id = get("TFR_GITHUB_APP_ID");
        let key_text = get("TFR_GITHUB_APP_PRIVATE_KEY");
        let key_file = get("TFR_GITHUB_APP_PRIVATE_KEY_FILE");
        let installation = get("TFR_GITHUB_APP_INSTALLATION_ID");
        if token.is_some() && app_id.is_some() {
            return Err(ConfigError::Conflict {
                first: "TFR_GITHUB_TOKEN",
                second: "TFR_GITHUB_APP_ID",
                advice: "authenticate with a token or with a GitHub App, not both",
            });
        }
        if key_text.is_some() && key_file.is_some() {
            return Err(ConfigError::Conflict {
                first: "TFR_GITHUB_APP_PRIVATE_KEY",
                second: "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
                advice: "give the App's private key once, as text or as a file",
            });
        }
        match app_id {
            None => {
                for (var, set) in [
                    ("TFR_GITHUB_APP_PRIVATE_KEY", key_text.is_some()),
                    ("TFR_GITHUB_APP_PRIVATE_KEY_FILE", key_file.is_some()),
                    ("TFR_GITHUB_APP_INSTALLATION_ID", installation.is_some()),
                ] {
                    if set {
                        return Err(ConfigError::Missing {
                            var: "TFR_GITHUB_APP_ID",
                            because: format!(
                                "{var} is set: give the GitHub App's id or client id too"
                            ),
                        });
                    }
                }
                if let Some(token) = token {
                    config.auth = GithubAuth::Token(token);
                }
            }
            Some(app_id) => {
                let (pem, origin) = match (key_text, key_file) {
                    (Some(text), None) => (
                        unescape_newlines(&text).into_bytes(),
                        "TFR_GITHUB_APP_PRIVATE_KEY".to_owned(),
                    ),
                    (None, Some(path)) => {
                        let path = PathBuf::from(path);
                        let pem = std::fs::read(&path).map_err(|source| ConfigError::File {
                            var: "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
                            path: path.clone(),
                            source,
                        })?;
                        (
                            pem,
                            format!("TFR_GITHUB_APP_PRIVATE_KEY_FILE {}", path.display()),
                        )
                    }
                    _ => {
                        return Err(ConfigError::Missing {
                            var: "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
                            because: "TFR_GITHUB_APP_ID is set: give the App's private key (or its text in TFR_GITHUB_APP_PRIVATE_KEY)".to_owned(),
                        })
                    }
                };
                let mut app = GithubApp::new(app_id, &pem).map_err(|e| match e {
                    ConfigError::AppKey { reason, .. } => ConfigError::AppKey { origin, reason },
                    other => other,
                })?;
                if let Some(v) = installation {
                    let id = v.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                        invalid(
                            "TFR_GITHUB_APP_INSTALLATION_ID",
                            &v,
                            "use the installation's number (from its settings URL, .../installations/NUMBER)"
                                .to_owned(),
                        )
                    })?;
                    app = app.with_installation_id(id);
                }
                config.auth = GithubAuth::App(app);
            }
        }

        if let Some(v) = get("TFR_GITHUB_REPO_TEMPLATE") {
            config.repos = RepoMapping::template(&v)
                .map_err(|e| invalid("TFR_GITHUB_REPO_TEMPLATE", &v, mapping_reason(e)))?;
        }
        if let Some(v) = get("TFR_GITHUB_REPOS") {
            for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let Some((module, repo)) = entry.split_once('=') else {
                    return Err(invalid(
                        "TFR_GITHUB_REPOS",
                        &v,
                        format!("{entry:?} has no '='; write ns/name/system=owner/repo, comma-separated, e.g. acme/vpc/aws=acme-infra/vpc"),
                    ));
                };
                config.repos = config
                    .repos
                    .with_repo(module.trim(), repo.trim())
                    .map_err(|e| invalid("TFR_GITHUB_REPOS", &v, mapping_reason(e)))?;
            }
        }
        if let Some(v) = get("TFR_GITHUB_CACHE_TTL_SECS") {
            config.tags_ttl = secs("TFR_GITHUB_CACHE_TTL_SECS", v, 0, 86_400)?;
        }
        if let Some(v) = get("TFR_GITHUB_TIMEOUT_SECS") {
            config.timeout = secs("TFR_GITHUB_TIMEOUT_SECS", v, 1, 3600)?;
        }
        if let Some(path) = get("TFR_GITHUB_CA_FILE") {
            let path = PathBuf::from(path);
            let pem = std::fs::read(&path).map_err(|source| ConfigError::File {
                var: "TFR_GITHUB_CA_FILE",
                path: path.clone(),
                source,
            })?;
            config.extra_root_certificates = vec![pem];
        }
        Ok(config)
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
    /// [`ConfigError::AppKey`] if the key is not an RSA private key in PEM
    /// (or too weak to sign with: under 2048 bits); [`ConfigError::Setting`]
    /// for an empty App id or one with spaces or control characters.
    pub fn new(app_id: impl Into<String>, private_key_pem: &[u8]) -> Result<Self, ConfigError> {
        let app_id = app_id.into().trim().to_owned();
        if app_id.is_empty() || !app_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::Setting(format!(
                "the GitHub App id {app_id:?} is not an App ID (a number) or a client ID (e.g. Iv23li...); find both on the App's settings page"
            )));
        }
        let reason = |why: &str| ConfigError::AppKey {
            origin: "GithubApp::new".to_owned(),
            reason: why.to_owned(),
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

/// Why a configuration was refused. The message names what to fix, and never
/// a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable's value is not usable.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value (never a secret's).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two variables that exclude each other are both set.
    #[error("{first} and {second} are both set: {advice}")]
    Conflict {
        /// One variable.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// What to do.
        advice: &'static str,
    },
    /// A variable another one needs is not set.
    #[error("{var} is not set, but {because}")]
    Missing {
        /// The variable to set.
        var: &'static str,
        /// Why it is needed.
        because: String,
    },
    /// A file could not be read.
    #[error("cannot read {path:?} ({var}): {source}")]
    File {
        /// The variable naming the file.
        var: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The GitHub App's private key is unusable.
    #[error("the GitHub App private key ({origin}) is unusable: {reason}")]
    AppKey {
        /// Where the key came from (a variable, a file or `GithubApp::new`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A repository template or mapping entry is invalid.
    #[error("{0}")]
    Mapping(String),
    /// A configured value cannot be used (the API URL, the token, the user
    /// agent, a certificate, the App id).
    #[error("invalid GitHub upstream configuration: {0}")]
    Setting(String),
    /// The HTTP client could not be built.
    #[error("cannot build the GitHub HTTP client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn mapping_reason(e: ConfigError) -> String {
    match e {
        ConfigError::Mapping(reason) => reason,
        other => other.to_string(),
    }
}

/// PEM text from an environment variable: `\n` escapes (as .env files and
/// some secret stores write them) become newlines, if there are no real ones.
fn unescape_newlines(text: &str) -> String {
    if text.contains('\n') {
        text.to_owned()
    } else {
        text.replace("\\n", "\n")
    }
}

fn secs(var: &'static str, value: String, min: u64, max: u64) -> Result<Duration, ConfigError> {
    parse_secs(&value, min, max).map_err(|reason| ConfigError::Invalid { var, value, reason })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::LineEnding;

    use super::*;
    use crate::mapping::DEFAULT_REPO_TEMPLATE;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

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

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "upstream-github-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn defaults_without_variables() {
        for vars in [
            &[][..],
            &[("TFR_GITHUB_API_URL", "  "), ("TFR_GITHUB_TOKEN", "")],
        ] {
            let c = GithubConfig::from_lookup(lookup(vars)).unwrap();
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
    }

    #[test]
    fn reads_every_variable() {
        let ca = temp_file("ca", b"-----BEGIN CERTIFICATE-----\n");
        let c = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_API_URL", "https://github.example.com/api/v3"),
            ("TFR_GITHUB_TOKEN", " ghp_tok "),
            ("TFR_GITHUB_REPO_TEMPLATE", "platform/tf-{system}-{name}"),
            (
                "TFR_GITHUB_REPOS",
                "acme/vpc/aws=netops/vpc , acme/dns/aws = netops/dns,",
            ),
            ("TFR_GITHUB_CACHE_TTL_SECS", "0"),
            ("TFR_GITHUB_TIMEOUT_SECS", "20"),
            ("TFR_GITHUB_CA_FILE", ca.to_str().unwrap()),
        ]))
        .unwrap();
        std::fs::remove_file(&ca).unwrap();
        assert_eq!(c.api_base.as_str(), "https://github.example.com/api/v3");
        assert!(matches!(&c.auth, GithubAuth::Token(t) if t == "ghp_tok"));
        let module = |n: &str| registry_core::ModuleAddress::new("acme", n, "aws").unwrap();
        assert_eq!(
            c.repos.repo_for(&module("vpc")),
            ("netops".into(), "vpc".into())
        );
        assert_eq!(
            c.repos.repo_for(&module("dns")),
            ("netops".into(), "dns".into())
        );
        assert_eq!(
            c.repos.repo_for(&module("s3")),
            ("platform".into(), "tf-aws-s3".into())
        );
        assert_eq!(c.tags_ttl, Duration::ZERO);
        assert_eq!(c.timeout, Duration::from_secs(20));
        assert_eq!(
            c.extra_root_certificates,
            vec![b"-----BEGIN CERTIFICATE-----\n".to_vec()]
        );
    }

    #[test]
    fn a_github_app_from_key_text_or_file() {
        // Key text as .env files write it: one line, `\n` escapes.
        let escaped = pem().trim().replace('\n', "\\n");
        let c = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY", &escaped),
            ("TFR_GITHUB_APP_INSTALLATION_ID", "777"),
        ]))
        .unwrap();
        let GithubAuth::App(app) = &c.auth else {
            panic!("{:?}", c.auth)
        };
        assert_eq!(app.app_id(), "12345");
        assert_eq!(app.installation_id(), Some(777));

        let file = temp_file("key", pem().as_bytes());
        let c = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "Iv23liABCDEF"),
            ("TFR_GITHUB_APP_PRIVATE_KEY_FILE", file.to_str().unwrap()),
        ]))
        .unwrap();
        std::fs::remove_file(&file).unwrap();
        let GithubAuth::App(app) = &c.auth else {
            panic!("{:?}", c.auth)
        };
        assert_eq!(app.app_id(), "Iv23liABCDEF");
        assert_eq!(app.installation_id(), None);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("BEGIN") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn a_token_and_an_app_together_are_refused_naming_both() {
        let e = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_TOKEN", "ghp_tok"),
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY", pem()),
        ]))
        .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
        assert!(
            text.contains("TFR_GITHUB_TOKEN") && text.contains("TFR_GITHUB_APP_ID"),
            "{text}"
        );
        assert!(!text.contains("ghp_tok"), "{text}");

        let file = temp_file("both", pem().as_bytes());
        let e = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY", pem()),
            ("TFR_GITHUB_APP_PRIVATE_KEY_FILE", file.to_str().unwrap()),
        ]))
        .unwrap_err();
        std::fs::remove_file(&file).unwrap();
        let text = e.to_string();
        assert!(
            text.contains("TFR_GITHUB_APP_PRIVATE_KEY and TFR_GITHUB_APP_PRIVATE_KEY_FILE"),
            "{text}"
        );
    }

    #[test]
    fn app_variables_need_each_other() {
        let e = GithubConfig::from_lookup(lookup(&[("TFR_GITHUB_APP_ID", "12345")])).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Missing {
                    var: "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
                    ..
                }
            ),
            "{e}"
        );
        for var in [
            "TFR_GITHUB_APP_PRIVATE_KEY",
            "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
            "TFR_GITHUB_APP_INSTALLATION_ID",
        ] {
            let e = GithubConfig::from_lookup(lookup(&[(var, "x")])).unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::Missing {
                        var: "TFR_GITHUB_APP_ID",
                        ..
                    }
                ),
                "{var}: {e}"
            );
            assert!(e.to_string().contains(var), "{e}");
        }
    }

    #[test]
    fn refuses_bad_values() {
        for (var, value) in [
            ("TFR_GITHUB_API_URL", "api.github.com"),
            ("TFR_GITHUB_API_URL", "ftp://api.github.com"),
            ("TFR_GITHUB_API_URL", "https://u:p@api.github.com"),
            ("TFR_GITHUB_API_URL", "https://api.github.com/?x=1"),
            ("TFR_GITHUB_CACHE_TTL_SECS", "-1"),
            ("TFR_GITHUB_CACHE_TTL_SECS", "86401"),
            ("TFR_GITHUB_TIMEOUT_SECS", "0"),
            ("TFR_GITHUB_TIMEOUT_SECS", "ten"),
            ("TFR_GITHUB_REPO_TEMPLATE", "{namespace}-{name}"),
            ("TFR_GITHUB_REPO_TEMPLATE", "{owner}/{name}"),
            ("TFR_GITHUB_REPOS", "acme/vpc/aws"),
            ("TFR_GITHUB_REPOS", "acme/vpc=o/r"),
            ("TFR_GITHUB_REPOS", "acme/vpc/aws=o"),
        ] {
            let e = GithubConfig::from_lookup(lookup(&[(var, value)])).unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {e}"
            );
            assert!(e.to_string().contains(var), "{e}");
            assert!(
                !e.to_string().contains("u:p"),
                "a refused password is shown: {e}"
            );
        }
        let e = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY", pem()),
            ("TFR_GITHUB_APP_INSTALLATION_ID", "abc"),
        ]))
        .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    var: "TFR_GITHUB_APP_INSTALLATION_ID",
                    ..
                }
            ),
            "{e}"
        );
        let e = GithubConfig::from_lookup(lookup(&[("TFR_GITHUB_CA_FILE", "/nonexistent/ca.pem")]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::File {
                    var: "TFR_GITHUB_CA_FILE",
                    ..
                }
            ),
            "{e}"
        );
        let e = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
        ]))
        .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::File {
                    var: "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_bad_key_is_refused_without_showing_it() {
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----";
        let e = GithubConfig::from_lookup(lookup(&[
            ("TFR_GITHUB_APP_ID", "12345"),
            ("TFR_GITHUB_APP_PRIVATE_KEY", garbage),
        ]))
        .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(&e, ConfigError::AppKey { origin, .. } if origin == "TFR_GITHUB_APP_PRIVATE_KEY"),
            "{e:?}"
        );
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(text.contains("App's settings page"), "{text}");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = GithubConfig::new().with_auth(GithubAuth::Token("s3cr3t-token".into()));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Token(\"<redacted>\")"), "{shown}");
    }
}
