//! Where and how the registry reaches GitHub, which repository holds which
//! module, and how GitHub archives are served.

use std::path::PathBuf;

use clap::ArgAction;
use upstream_github::{ConfigError, GithubApp, GithubAuth, GithubConfig, RepoMapping};

use crate::error::{given, Setting, SettingsError};
use crate::parse::{boolish, number, read, secs, text};
use crate::upstream::base_url;

/// `--github-api-url` / `TFR_GITHUB_API_URL`.
pub const API_URL: Setting = Setting::new("github-api-url", "TFR_GITHUB_API_URL");
/// `--github-token` / `TFR_GITHUB_TOKEN`.
pub const TOKEN: Setting = Setting::new("github-token", "TFR_GITHUB_TOKEN");
/// `--github-app-id` / `TFR_GITHUB_APP_ID`.
pub const APP_ID: Setting = Setting::new("github-app-id", "TFR_GITHUB_APP_ID");
/// `--github-app-private-key` / `TFR_GITHUB_APP_PRIVATE_KEY`.
pub const APP_PRIVATE_KEY: Setting =
    Setting::new("github-app-private-key", "TFR_GITHUB_APP_PRIVATE_KEY");
/// `--github-app-private-key-file` / `TFR_GITHUB_APP_PRIVATE_KEY_FILE`.
pub const APP_PRIVATE_KEY_FILE: Setting = Setting::new(
    "github-app-private-key-file",
    "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
);
/// `--github-app-installation-id` / `TFR_GITHUB_APP_INSTALLATION_ID`.
pub const APP_INSTALLATION_ID: Setting = Setting::new(
    "github-app-installation-id",
    "TFR_GITHUB_APP_INSTALLATION_ID",
);
/// `--repo-template` / `TFR_GITHUB_REPO_TEMPLATE`.
pub const REPO_TEMPLATE: Setting = Setting::new("repo-template", "TFR_GITHUB_REPO_TEMPLATE");
/// `--repo` / `TFR_GITHUB_REPOS`.
pub const REPOS: Setting = Setting::new("repo", "TFR_GITHUB_REPOS");
/// `--github-cache-ttl-secs` / `TFR_GITHUB_CACHE_TTL_SECS`.
pub const CACHE_TTL_SECS: Setting =
    Setting::new("github-cache-ttl-secs", "TFR_GITHUB_CACHE_TTL_SECS");
/// `--github-timeout-secs` / `TFR_GITHUB_TIMEOUT_SECS`.
pub const TIMEOUT_SECS: Setting = Setting::new("github-timeout-secs", "TFR_GITHUB_TIMEOUT_SECS");
/// `--github-ca-file` / `TFR_GITHUB_CA_FILE`.
pub const CA_FILE: Setting = Setting::new("github-ca-file", "TFR_GITHUB_CA_FILE");
/// `--cache-archives` / `TFR_GITHUB_CACHE_ARCHIVES`.
pub const CACHE_ARCHIVES: Setting = Setting::new("cache-archives", "TFR_GITHUB_CACHE_ARCHIVES");
/// `--redirect-archives` / `TFR_GITHUB_REDIRECT_ARCHIVES`.
pub const REDIRECT_ARCHIVES: Setting =
    Setting::new("redirect-archives", "TFR_GITHUB_REDIRECT_ARCHIVES");

/// The GitHub upstream: the API, credentials (a token or a GitHub App), the
/// module-to-repository mapping, caching, timeouts, and how archives reach
/// Terraform.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "GitHub")]
pub struct GithubArgs {
    /// The GitHub REST API (GitHub Enterprise Server: `https://HOST/api/v3/`).
    #[arg(
        long = API_URL.long(),
        env = API_URL.env(),
        value_name = "URL",
        help = "The GitHub REST API; for GitHub Enterprise Server `https://HOST/api/v3/` \
                [default: https://api.github.com/]"
    )]
    github_api_url: Option<String>,

    /// A personal access token (or none, for public repositories). Prefer the variable.
    #[arg(long = TOKEN.long(), env = TOKEN.env(), hide_env_values = true)]
    github_token: Option<String>,

    /// The GitHub App's id or client id (with its private key), instead of a token.
    #[arg(long = APP_ID.long(), env = APP_ID.env(), value_name = "ID")]
    github_app_id: Option<String>,

    /// The GitHub App's private key, PEM text (`\n` escapes allowed). Prefer the
    /// variable, or --github-app-private-key-file.
    // PEM text starts with dashes.
    #[arg(long = APP_PRIVATE_KEY.long(), env = APP_PRIVATE_KEY.env(), hide_env_values = true, value_name = "PEM", allow_hyphen_values = true)]
    github_app_private_key: Option<String>,

    /// The GitHub App's private key (PEM file).
    #[arg(long = APP_PRIVATE_KEY_FILE.long(), env = APP_PRIVATE_KEY_FILE.env(), value_name = "FILE")]
    github_app_private_key_file: Option<PathBuf>,

    /// The App's installation id [default: discovered per repository owner].
    #[arg(long = APP_INSTALLATION_ID.long(), env = APP_INSTALLATION_ID.env(), value_name = "ID")]
    github_app_installation_id: Option<String>,

    /// How `ns/name/system` maps to `owner/repo`, with `{namespace}`, `{name}`
    /// and `{system}` [default: {namespace}/terraform-{system}-{name}].
    #[arg(long = REPO_TEMPLATE.long(), env = REPO_TEMPLATE.env(), value_name = "TEMPLATE")]
    github_repo_template: Option<String>,

    /// Explicit mappings `ns/name/system=owner/repo`, repeated or
    /// comma-separated; they win over the template.
    #[arg(long = REPOS.long(), env = REPOS.env(), value_name = "MODULE=REPO", value_delimiter = ',')]
    github_repos: Vec<String>,

    /// How long a module's version list is cached, in seconds, 0 to 86400
    /// [default: 300]; after that it is revalidated with `If-None-Match` (free
    /// when unchanged).
    #[arg(long = CACHE_TTL_SECS.long(), env = CACHE_TTL_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    github_cache_ttl_secs: Option<u64>,

    /// Total time per HTTP attempt to GitHub, in seconds, 1 to 3600 [default: 30].
    #[arg(long = TIMEOUT_SECS.long(), env = TIMEOUT_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    github_timeout_secs: Option<u64>,

    /// Extra CA certificates (PEM) for the GitHub API and its archive host.
    #[arg(long = CA_FILE.long(), env = CA_FILE.env(), value_name = "FILE")]
    github_ca_file: Option<PathBuf>,

    /// Keep every archive fetched from GitHub (github-server: under
    /// `{data-dir}/github-cache`; Lambda: in the bucket under `github-cache/`),
    /// so each version is fetched from GitHub once.
    #[arg(long = CACHE_ARCHIVES.long(), env = CACHE_ARCHIVES.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    cache_archives: bool,

    /// Hand Terraform `git::https://github.com/...` addresses instead of serving
    /// archives through the registry: for public repositories, or clients with
    /// their own GitHub access.
    #[arg(long = REDIRECT_ARCHIVES.long(), env = REDIRECT_ARCHIVES.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    redirect_archives: bool,
}

/// The validated GitHub settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GithubSettings {
    /// The GitHub client's configuration.
    pub config: GithubConfig,
    /// Keep every archive fetched from GitHub.
    pub cache_archives: bool,
    /// Terraform gets the registry's signed URLs (`true`, the default) or
    /// `git::https://github.com/...` addresses (`--redirect-archives`).
    pub archives_through_registry: bool,
}

impl GithubSettings {
    /// No settings given: GitHub's defaults, archives through the registry.
    pub(crate) fn defaults(max_archive_bytes: u64) -> Self {
        Self {
            config: GithubConfig::new().with_max_archive_bytes(max_archive_bytes),
            cache_archives: false,
            archives_through_registry: true,
        }
    }
}

impl GithubArgs {
    /// The settings given, for [`select`](crate::upstream::select)'s refusals.
    pub(crate) fn given(&self) -> Vec<Setting> {
        given(&[
            (API_URL, self.github_api_url.is_some()),
            (TOKEN, self.github_token.is_some()),
            (APP_ID, self.github_app_id.is_some()),
            (APP_PRIVATE_KEY, self.github_app_private_key.is_some()),
            (
                APP_PRIVATE_KEY_FILE,
                self.github_app_private_key_file.is_some(),
            ),
            (
                APP_INSTALLATION_ID,
                self.github_app_installation_id.is_some(),
            ),
            (REPO_TEMPLATE, self.github_repo_template.is_some()),
            (REPOS, !self.github_repos.is_empty()),
            (CACHE_TTL_SECS, self.github_cache_ttl_secs.is_some()),
            (TIMEOUT_SECS, self.github_timeout_secs.is_some()),
            (CA_FILE, self.github_ca_file.is_some()),
            (CACHE_ARCHIVES, self.cache_archives),
            (REDIRECT_ARCHIVES, self.redirect_archives),
        ])
    }

    /// The GitHub settings. Archives may be as large as `max_archive_bytes`
    /// (the registry's upload limit).
    ///
    /// # Errors
    /// A token and an App, two keys, App settings without an App id (or an App
    /// id without a key), a file that cannot be read, or a URL, key, template,
    /// mapping or number that is invalid. No message shows a token or key.
    pub fn github(&self, max_archive_bytes: u64) -> Result<GithubSettings, SettingsError> {
        if self.cache_archives && self.redirect_archives {
            return Err(SettingsError::Conflict {
                first: CACHE_ARCHIVES,
                second: REDIRECT_ARCHIVES,
                advice: "only archives served through the registry are cached: choose one",
            });
        }
        let mut config = GithubConfig::new().with_max_archive_bytes(max_archive_bytes);
        if let Some(url) = &self.github_api_url {
            config = config.with_api_base(base_url(
                API_URL,
                url.trim(),
                "https://api.github.com or https://github.example.com/api/v3",
            )?);
        }
        config = config.with_auth(self.auth()?);
        if let Some(template) = text(&self.github_repo_template) {
            config.repos =
                RepoMapping::template(template).map_err(|e| mapping(REPO_TEMPLATE, e))?;
        }
        for entry in self
            .github_repos
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let Some((module, repo)) = entry.split_once('=') else {
                return Err(SettingsError::invalid(
                    REPOS,
                    format!(
                        "is invalid: {entry:?} has no '='; write ns/name/system=owner/repo, \
                         comma-separated, e.g. acme/vpc/aws=acme-infra/vpc"
                    ),
                ));
            };
            config.repos = config
                .repos
                .with_repo(module.trim(), repo.trim())
                .map_err(|e| mapping(REPOS, e))?;
        }
        if let Some(ttl) = secs(CACHE_TTL_SECS, self.github_cache_ttl_secs, 0..=86_400, "")? {
            config = config.with_tags_ttl(ttl);
        }
        if let Some(timeout) = secs(TIMEOUT_SECS, self.github_timeout_secs, 1..=3600, "")? {
            config = config.with_timeout(timeout);
        }
        if let Some(path) = &self.github_ca_file {
            config = config.with_extra_root_certificates(vec![read(CA_FILE, path)?]);
        }
        Ok(GithubSettings {
            config,
            cache_archives: self.cache_archives,
            archives_through_registry: !self.redirect_archives,
        })
    }

    /// A token, a GitHub App, or nothing.
    fn auth(&self) -> Result<GithubAuth, SettingsError> {
        let app_id = self.github_app_id.as_deref().map(str::trim);
        if self.github_token.is_some() && app_id.is_some() {
            return Err(SettingsError::Conflict {
                first: TOKEN,
                second: APP_ID,
                advice: "authenticate with a token or with a GitHub App, not both",
            });
        }
        if self.github_app_private_key.is_some() && self.github_app_private_key_file.is_some() {
            return Err(SettingsError::Conflict {
                first: APP_PRIVATE_KEY,
                second: APP_PRIVATE_KEY_FILE,
                advice: "give the App's private key once, as text or as a file",
            });
        }
        let Some(app_id) = app_id else {
            for (setting, given) in [
                (APP_PRIVATE_KEY, self.github_app_private_key.is_some()),
                (
                    APP_PRIVATE_KEY_FILE,
                    self.github_app_private_key_file.is_some(),
                ),
                (
                    APP_INSTALLATION_ID,
                    self.github_app_installation_id.is_some(),
                ),
            ] {
                if given {
                    return Err(SettingsError::missing(
                        APP_ID,
                        format!("is not set, but {setting} is: give the GitHub App's id or client id too"),
                    ));
                }
            }
            return match self.github_token.as_deref().map(str::trim) {
                None => Ok(GithubAuth::None),
                Some("") => Err(SettingsError::invalid(
                    TOKEN,
                    "is empty: give the token, or leave it unset for no credentials (public repositories)",
                )),
                Some(token) => Ok(GithubAuth::Token(token.to_owned())),
            };
        };
        let (pem, key_setting, shown_path) = match (
            &self.github_app_private_key,
            &self.github_app_private_key_file,
        ) {
            (Some(text), None) => (
                unescape_newlines(text).into_bytes(),
                APP_PRIVATE_KEY,
                String::new(),
            ),
            (None, Some(path)) => (
                read(APP_PRIVATE_KEY_FILE, path)?,
                APP_PRIVATE_KEY_FILE,
                format!("{}: ", path.display()),
            ),
            _ => {
                return Err(SettingsError::missing(
                    APP_PRIVATE_KEY_FILE,
                    format!(
                        "is not set, but {APP_ID} is: give the App's private key \
                             (or its text in {APP_PRIVATE_KEY})"
                    ),
                ))
            }
        };
        let mut app = GithubApp::new(app_id, &pem).map_err(|e| match e {
            ConfigError::Invalid {
                field: "app_id",
                reason,
            } => SettingsError::invalid(APP_ID, format!("is invalid: {reason}")),
            // The library's reason never shows the key.
            ConfigError::Invalid { reason, .. } => {
                SettingsError::invalid(key_setting, format!("is invalid: {shown_path}{reason}"))
            }
            other => SettingsError::Other(Box::new(other)),
        })?;
        if let Some(v) = &self.github_app_installation_id {
            let id = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    SettingsError::invalid(
                        APP_INSTALLATION_ID,
                        format!(
                            "{:?} is invalid: use the installation's number (from its settings URL, \
                             .../installations/NUMBER)",
                            v.trim()
                        ),
                    )
                })?;
            app = app.with_installation_id(id);
        }
        Ok(GithubAuth::App(app))
    }
}

/// upstream-github's refusal when its client is built, naming the setting
/// instead of the field: `GithubUpstream::new(config).map_err(github_client_error)`.
pub fn github_client_error(e: ConfigError) -> SettingsError {
    match e {
        ConfigError::Invalid { field, reason } => {
            let setting = match field {
                "api_base" => API_URL,
                "auth" => TOKEN,
                "extra_root_certificates" => CA_FILE,
                _ => return SettingsError::Other(Box::new(ConfigError::Invalid { field, reason })),
            };
            SettingsError::invalid(setting, format!("is invalid: {reason}"))
        }
        other => SettingsError::Other(Box::new(other)),
    }
}

/// A repository template or mapping upstream-github refused.
fn mapping(setting: Setting, e: ConfigError) -> SettingsError {
    match e {
        ConfigError::Invalid { reason, .. } => {
            SettingsError::invalid(setting, format!("is invalid: {reason}"))
        }
        other => SettingsError::Other(Box::new(other)),
    }
}

/// PEM text from a flag or variable: `\n` escapes (as .env files and some
/// secret stores write them) become newlines, if there are no real ones.
fn unescape_newlines(text: &str) -> String {
    if text.contains('\n') {
        text.to_owned()
    } else {
        text.replace("\\n", "\n")
    }
}
