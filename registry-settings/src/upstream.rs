//! Where modules not published here come from: nowhere, an upstream
//! registry (pinned or proxied), or GitHub; and which modules may.

use std::path::PathBuf;

use clap::builder::EnumValueParser;
use std::sync::Arc;

use registry_core::{
    ModulePattern, PinStore, ProxyConfig, Storage, UpstreamMode, UpstreamModeError,
};
use upstream_github::GithubConfig;
use upstream_registry::{RegistryUpstreamConfig, Url};

use crate::error::{given, refuse_unused, Setting, SettingsError};
use crate::github::{GithubArgs, GithubSettings};
use crate::parse::{number, read, secs, Trimmed};

/// `--upstream` / `TFR_UPSTREAM`.
pub const MODE: Setting = Setting::new("upstream", "TFR_UPSTREAM");
/// `--proxy-allow` (alias `--allow`) / `TFR_PROXY_ALLOW`.
pub const PROXY_ALLOW: Setting = Setting::new("proxy-allow", "TFR_PROXY_ALLOW");
/// `--proxy-deny` (alias `--deny`) / `TFR_PROXY_DENY`.
pub const PROXY_DENY: Setting = Setting::new("proxy-deny", "TFR_PROXY_DENY");
/// `--upstream-url` / `TFR_UPSTREAM_URL`.
pub const URL: Setting = Setting::new("upstream-url", "TFR_UPSTREAM_URL");
/// `--upstream-token` / `TFR_UPSTREAM_TOKEN`.
pub const TOKEN: Setting = Setting::new("upstream-token", "TFR_UPSTREAM_TOKEN");
/// `--upstream-timeout-secs` / `TFR_UPSTREAM_TIMEOUT_SECS`.
pub const TIMEOUT_SECS: Setting =
    Setting::new("upstream-timeout-secs", "TFR_UPSTREAM_TIMEOUT_SECS");
/// `--upstream-cache-ttl-secs` / `TFR_UPSTREAM_CACHE_TTL_SECS`.
pub const CACHE_TTL_SECS: Setting =
    Setting::new("upstream-cache-ttl-secs", "TFR_UPSTREAM_CACHE_TTL_SECS");
/// `--upstream-ca-file` / `TFR_UPSTREAM_CA_FILE`.
pub const CA_FILE: Setting = Setting::new("upstream-ca-file", "TFR_UPSTREAM_CA_FILE");
/// `--github-tarball-url` / `TFR_GITHUB_TARBALL_URL`.
pub const GITHUB_TARBALL_URL: Setting =
    Setting::new("github-tarball-url", "TFR_GITHUB_TARBALL_URL");

/// What the registry does about modules not published here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// No upstream: only modules published here are served.
    Off,
    /// `POST /v1/pins/...` copies vetted upstream versions into this registry;
    /// nothing else is fetched.
    Pin,
    /// Modules with no local version are also served live from the upstream
    /// registry (and pinning works).
    Proxy,
    /// Modules with no local version are served from GitHub repositories'
    /// SemVer tags, archives through the registry.
    Github,
}

/// The upstream modes of a server with no GitHub upstream (local-server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistryMode {
    /// No upstream: only modules published here are served.
    Off,
    /// `POST /v1/pins/...` copies vetted upstream versions into this registry;
    /// nothing else is fetched.
    Pin,
    /// Modules with no local version are also served live from the upstream
    /// (and pinning works).
    Proxy,
}

impl From<RegistryMode> for Mode {
    fn from(mode: RegistryMode) -> Self {
        match mode {
            RegistryMode::Off => Self::Off,
            RegistryMode::Pin => Self::Pin,
            RegistryMode::Proxy => Self::Proxy,
        }
    }
}

/// `--upstream off|pin|proxy` (local-server).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Upstream")]
pub struct RegistryModeArgs {
    /// Whether to pin from or proxy to an upstream registry. A module with any
    /// version published here is never mixed with upstream versions.
    #[arg(
        long = MODE.long(),
        env = MODE.env(),
        ignore_case = true,
        value_parser = Trimmed(EnumValueParser::<RegistryMode>::new()),
        default_value = "off"
    )]
    upstream_mode: RegistryMode,
}

impl RegistryModeArgs {
    /// The mode chosen.
    pub fn mode(&self) -> Mode {
        self.upstream_mode.into()
    }
}

/// `--upstream off|pin|proxy|github` (the Lambda function).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Upstream")]
pub struct ModeArgs {
    /// Where modules not published here come from. A module with any version
    /// published here is never mixed with upstream versions.
    #[arg(
        long = MODE.long(),
        env = MODE.env(),
        ignore_case = true,
        value_parser = Trimmed(EnumValueParser::<Mode>::new()),
        default_value = "off"
    )]
    upstream_mode: Mode,
}

impl ModeArgs {
    /// The mode chosen.
    pub fn mode(&self) -> Mode {
        self.upstream_mode
    }
}

/// Which modules may come from the upstream (registry or GitHub).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Upstream")]
pub struct ProxyArgs {
    /// Only these modules may come from the upstream: prefixes by whole
    /// segments (`namespace`, `namespace/name` or `namespace/name/system`),
    /// repeated or comma-separated [default: all modules].
    #[arg(
        long = PROXY_ALLOW.long(),
        visible_alias = "allow",
        env = PROXY_ALLOW.env(),
        value_name = "PATTERNS",
        value_delimiter = ','
    )]
    proxy_allow: Vec<String>,

    /// Modules that never come from the upstream, as for --proxy-allow; wins over it.
    #[arg(
        long = PROXY_DENY.long(),
        visible_alias = "deny",
        env = PROXY_DENY.env(),
        value_name = "PATTERNS",
        value_delimiter = ','
    )]
    proxy_deny: Vec<String>,
}

/// The upstream registry client, for `--upstream pin|proxy`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Upstream registry (--upstream pin|proxy)")]
pub struct RegistryUpstreamArgs {
    /// The upstream registry's base URL.
    #[arg(
        long = URL.long(),
        env = URL.env(),
        value_name = "URL",
        help = "The upstream registry's base URL; its service discovery is read from \
                `/.well-known/terraform.json` there [default: https://registry.terraform.io]"
    )]
    upstream_url: Option<String>,

    /// Bearer token for the upstream registry's API (never sent to archive hosts).
    /// Prefer the environment variable.
    #[arg(long = TOKEN.long(), env = TOKEN.env(), hide_env_values = true)]
    upstream_token: Option<String>,

    /// Per-request timeout for the upstream, in seconds, 1 to 3600 [default: 10].
    #[arg(long = TIMEOUT_SECS.long(), env = TIMEOUT_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    upstream_timeout_secs: Option<u64>,

    /// How long upstream version lists and download locations are cached, in
    /// seconds, 0 to 86400 [default: 300].
    #[arg(long = CACHE_TTL_SECS.long(), env = CACHE_TTL_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    upstream_cache_ttl_secs: Option<u64>,

    /// Extra CA certificates (PEM) to trust for the upstream and archive hosts.
    #[arg(long = CA_FILE.long(), env = CA_FILE.env(), value_name = "FILE")]
    upstream_ca_file: Option<PathBuf>,

    /// Where GitHub repository tarballs are fetched when pinning GitHub sources.
    #[arg(
        long = GITHUB_TARBALL_URL.long(),
        env = GITHUB_TARBALL_URL.env(),
        value_name = "URL",
        help = "Where GitHub repository tarballs are fetched when pinning \
                `git::https://github.com/...` sources [default: https://codeload.github.com/]"
    )]
    github_tarball_url: Option<String>,
}

/// The validated upstream choice.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpstreamSettings {
    /// Which modules may come from the upstream, in every mode
    /// ([`RegistryConfig::with_proxy`](registry_core::RegistryConfig::with_proxy)).
    pub proxy: ProxyConfig,
    /// The upstream client's configuration; `None` with `--upstream off`.
    pub upstream: Option<Upstream>,
}

/// The upstream chosen, with its client's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Upstream {
    /// `--upstream pin|proxy`: another module registry.
    Registry {
        /// The registry client's configuration.
        config: Box<RegistryUpstreamConfig>,
        /// `--upstream proxy`: modules with no local version are served live
        /// from it (else versions are only pinned).
        proxy: bool,
    },
    /// `--upstream github`: GitHub repositories' tags, proxied.
    Github {
        /// The GitHub client's configuration.
        config: Box<GithubConfig>,
        /// Keep every archive fetched from GitHub (`--cache-archives`).
        cache_archives: bool,
        /// Archives go through the registry's signed URLs (not
        /// `--redirect-archives`).
        archives_through_registry: bool,
    },
}

impl UpstreamSettings {
    /// Whether upstream archives are served through the registry's own
    /// signed URLs (GitHub's, unless redirected).
    pub fn archives_through_registry(&self) -> bool {
        matches!(
            self.upstream,
            Some(Upstream::Github {
                archives_through_registry: true,
                ..
            })
        )
    }
}

impl Upstream {
    /// The registry's [`UpstreamMode`] over `client` (the client this
    /// upstream's configuration built), the one composition the servers share:
    /// `--upstream pin` pins into `pins`; `proxy` also proxies; `github`
    /// proxies with archives through the registry unless redirected, kept in
    /// `archive_cache`, which the server opens when [`Upstream::Github`]'s
    /// `cache_archives` is set (and passes `None` otherwise). A server without
    /// pinning passes no `pins`.
    ///
    /// # Errors
    /// What [`UpstreamModeBuilder::build`](registry_core::UpstreamModeBuilder::build)
    /// refuses, naming the settings: an archive cache with redirected archives
    /// (which [`GithubArgs::github`] refuses first), or no pin store for
    /// `--upstream pin` (a server that offers pinning must give one).
    pub fn mode(
        &self,
        client: Arc<dyn registry_core::Upstream>,
        pins: Option<Arc<dyn PinStore>>,
        archive_cache: Option<Arc<dyn Storage>>,
    ) -> Result<UpstreamMode, SettingsError> {
        let mut mode = UpstreamMode::builder(client);
        if let Some(pins) = pins {
            mode = mode.pins(pins);
        }
        match self {
            Self::Registry { proxy: true, .. } => mode = mode.proxy(),
            Self::Registry { proxy: false, .. } => {}
            Self::Github {
                archives_through_registry,
                ..
            } => {
                mode = mode.proxy();
                if *archives_through_registry {
                    mode = mode.archives_through_registry();
                }
            }
        }
        if let Some(cache) = archive_cache {
            mode = mode.archive_cache(cache);
        }
        mode.build().map_err(|e| match e {
            UpstreamModeError::CacheWithoutThroughRegistry => SettingsError::Conflict {
                first: crate::github::CACHE_ARCHIVES,
                second: crate::github::REDIRECT_ARCHIVES,
                advice: "only archives served through the registry are cached: choose one",
            },
            UpstreamModeError::Unused => SettingsError::Invalid {
                setting: MODE,
                problem: "is pin, but this server keeps no pin store: use --upstream proxy or off"
                    .into(),
            },
            other => SettingsError::Other(Box::new(other)),
        })
    }
}

/// The upstream that `mode` chooses, from the groups the server offers
/// (`registry` for pin/proxy, `github` for GitHub), under the lists. Archives
/// fetched from the upstream may be as large as an upload (`max_archive_bytes`,
/// the registry's `max_body_bytes`).
///
/// # Errors
/// A setting of a group `mode` does not choose is given (so a forgotten or
/// mistyped `--upstream` does not go unnoticed), or a setting is invalid.
pub fn select(
    mode: Mode,
    lists: &ProxyArgs,
    registry: Option<&RegistryUpstreamArgs>,
    github: Option<&GithubArgs>,
    max_archive_bytes: usize,
) -> Result<UpstreamSettings, SettingsError> {
    let registry_given = registry
        .map(RegistryUpstreamArgs::given)
        .unwrap_or_default();
    let github_given = github.map(GithubArgs::given).unwrap_or_default();
    let registry_modes = "--upstream pin or --upstream proxy (TFR_UPSTREAM)";
    match mode {
        Mode::Off => {
            let mut all = given(&[
                (PROXY_ALLOW, !lists.proxy_allow.is_empty()),
                (PROXY_DENY, !lists.proxy_deny.is_empty()),
            ]);
            all.extend(registry_given);
            all.extend(github_given);
            let needs = match (registry.is_some(), github.is_some()) {
                (true, true) => "--upstream pin, proxy or github (TFR_UPSTREAM)",
                (false, true) => "--upstream github (TFR_UPSTREAM)",
                _ => registry_modes,
            };
            refuse_unused(all, needs)?;
            return Ok(UpstreamSettings {
                proxy: ProxyConfig::default(),
                upstream: None,
            });
        }
        Mode::Pin | Mode::Proxy => {
            refuse_unused(github_given, "--upstream github (TFR_UPSTREAM=github)")?
        }
        Mode::Github => refuse_unused(registry_given, registry_modes)?,
    }
    let proxy = ProxyConfig::new(
        patterns(PROXY_ALLOW, &lists.proxy_allow)?,
        patterns(PROXY_DENY, &lists.proxy_deny)?,
    );
    let max_archive_bytes = max_archive_bytes as u64;
    match mode {
        Mode::Off => unreachable!("returned above"),
        Mode::Pin | Mode::Proxy => {
            let config = match registry {
                Some(args) => args.config(max_archive_bytes)?,
                None => RegistryUpstreamConfig::default().with_max_archive_bytes(max_archive_bytes),
            };
            Ok(UpstreamSettings {
                proxy,
                upstream: Some(Upstream::Registry {
                    config: Box::new(config),
                    proxy: mode == Mode::Proxy,
                }),
            })
        }
        Mode::Github => {
            let GithubSettings {
                config,
                cache_archives,
                archives_through_registry,
            } = match github {
                Some(args) => args.github(max_archive_bytes)?,
                None => GithubSettings::defaults(max_archive_bytes),
            };
            Ok(UpstreamSettings {
                proxy,
                upstream: Some(Upstream::Github {
                    config: Box::new(config),
                    cache_archives,
                    archives_through_registry,
                }),
            })
        }
    }
}

impl RegistryUpstreamArgs {
    /// The settings given, for [`select`]'s refusals.
    fn given(&self) -> Vec<Setting> {
        given(&[
            (URL, self.upstream_url.is_some()),
            (TOKEN, self.upstream_token.is_some()),
            (TIMEOUT_SECS, self.upstream_timeout_secs.is_some()),
            (CACHE_TTL_SECS, self.upstream_cache_ttl_secs.is_some()),
            (CA_FILE, self.upstream_ca_file.is_some()),
            (GITHUB_TARBALL_URL, self.github_tarball_url.is_some()),
        ])
    }

    /// The upstream registry client's configuration.
    fn config(&self, max_archive_bytes: u64) -> Result<RegistryUpstreamConfig, SettingsError> {
        let mut config = match self.upstream_url.as_deref().map(str::trim) {
            Some(url) => RegistryUpstreamConfig::new(base_url(
                URL,
                url,
                upstream_registry::DEFAULT_BASE_URL,
            )?),
            None => RegistryUpstreamConfig::default(),
        };
        config = config.with_max_archive_bytes(max_archive_bytes);
        if let Some(url) = self.github_tarball_url.as_deref().map(str::trim) {
            config = config.with_github_tarball_base(base_url(
                GITHUB_TARBALL_URL,
                url,
                upstream_registry::DEFAULT_GITHUB_TARBALL_BASE,
            )?);
        }
        match self.upstream_token.as_deref().map(str::trim) {
            None => {}
            Some("") => {
                return Err(SettingsError::invalid(
                    TOKEN,
                    "is empty: give the token, or leave it unset for no credentials",
                ))
            }
            Some(token) => config = config.with_token(token),
        }
        if let Some(timeout) = secs(TIMEOUT_SECS, self.upstream_timeout_secs, 1..=3600, "")? {
            config = config.with_timeout(timeout);
        }
        if let Some(ttl) = secs(CACHE_TTL_SECS, self.upstream_cache_ttl_secs, 0..=86_400, "")? {
            config = config.with_versions_ttl(ttl);
        }
        if let Some(path) = &self.upstream_ca_file {
            config = config.with_extra_root_certificates(vec![read(CA_FILE, path)?]);
        }
        Ok(config)
    }
}

/// upstream-registry's refusal when its client is built, naming the setting
/// instead of the field: `RegistryUpstream::new(config).map_err(registry_client_error)`.
pub fn registry_client_error(e: upstream_registry::ConfigError) -> SettingsError {
    match e {
        upstream_registry::ConfigError::Invalid { field, reason } => {
            let setting = match field {
                "base_url" => URL,
                "token" => TOKEN,
                "extra_root_certificates" => CA_FILE,
                "github_tarball_base" => GITHUB_TARBALL_URL,
                _ => {
                    return SettingsError::Other(Box::new(
                        upstream_registry::ConfigError::Invalid { field, reason },
                    ))
                }
            };
            SettingsError::invalid(setting, format!("is invalid: {reason}"))
        }
        other => SettingsError::Other(Box::new(other)),
    }
}

/// A base URL (http(s), a host, no credentials, query or fragment); the
/// message never shows credentials or a query the text may hold.
pub(crate) fn base_url(setting: Setting, value: &str, example: &str) -> Result<Url, SettingsError> {
    upstream_http::parse_base_url(value, example).map_err(|reason| {
        SettingsError::invalid(
            setting,
            format!(
                "{:?} is invalid: {reason}",
                upstream_http::shown_url_text(value)
            ),
        )
    })
}

/// A comma-separated list of module patterns; empty items are skipped.
fn patterns(setting: Setting, items: &[String]) -> Result<Vec<ModulePattern>, SettingsError> {
    items
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.parse()
                .map_err(|e| SettingsError::invalid(setting, format!("is invalid: {e}")))
        })
        .collect()
}
