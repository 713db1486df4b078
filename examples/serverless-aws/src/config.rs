//! The function's configuration, from environment variables only.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `TFR_S3_BUCKET` | bucket holding modules and tokens (required) | |
//! | `TFR_S3_PREFIX` | key prefix, e.g. `terraform/` | none |
//! | `TFR_S3_REGION` | the bucket's region | the function's (`AWS_REGION`) |
//! | `TFR_S3_ENDPOINT_URL` | S3-compatible endpoint | AWS |
//! | `TFR_S3_FORCE_PATH_STYLE` | path-style addressing | `false` |
//! | `TFR_S3_SERVE_THROUGH_REGISTRY` | serve archive bytes through the function instead of presigned S3 URLs | `false` |
//! | `TFR_MASTER_TOKEN_SHA256` | hex SHA-256 of the master token (required; never the token) | |
//! | `TFR_SIGNING_KEY` | hex archive-URL signing key, ≥ 32 bytes; required with `TFR_S3_SERVE_THROUGH_REGISTRY=true` or `TFR_UPSTREAM=github` | random per instance |
//! | `TFR_ARCHIVE_URL_TTL_SECS` | lifetime of download URLs (registry-signed or S3-presigned), 1 to 604800 | `300` |
//! | `TFR_READ_CACHE_TTL_MS` | how long an instance keeps token lookups, version lists and archive locations in memory, 0 to 60000 (0: off); other instances see a publish, a delete or a revoked token within this time | `1000` |
//! | `TFR_ANONYMOUS_READS` | let requests without a token list and download | `false` |
//! | `TFR_MAX_BODY_BYTES` | largest upload, 1 to 4718592 | `4194304` (4 MiB) |
//! | `TFR_UPSTREAM` | `off`; `pin` (the master token copies vetted upstream versions in); `proxy` (modules with no version here are also served from the upstream); `github` (modules with no version here are served from GitHub repositories' tags, archives through the function) | `off` |
//! | `TFR_PROXY_ALLOW` | modules that may come from the upstream: comma-separated prefixes `namespace[/name[/system]]` | all |
//! | `TFR_PROXY_DENY` | modules that never come from the upstream; wins over `TFR_PROXY_ALLOW` | none |
//! | `TFR_UPSTREAM_URL`, `TFR_UPSTREAM_TOKEN`, `TFR_UPSTREAM_TIMEOUT_SECS`, `TFR_UPSTREAM_CACHE_TTL_SECS`, `TFR_UPSTREAM_CA_FILE`, `TFR_GITHUB_TARBALL_URL` | with `pin`/`proxy`: the upstream registry client, read by `upstream_registry::RegistryUpstreamConfig::from_env` | `https://registry.terraform.io`, ... |
//! | `TFR_GITHUB_API_URL`, `TFR_GITHUB_TOKEN`, `TFR_GITHUB_APP_ID`, `TFR_GITHUB_APP_PRIVATE_KEY`, `TFR_GITHUB_APP_PRIVATE_KEY_FILE`, `TFR_GITHUB_APP_INSTALLATION_ID`, `TFR_GITHUB_REPO_TEMPLATE`, `TFR_GITHUB_REPOS`, `TFR_GITHUB_CACHE_TTL_SECS`, `TFR_GITHUB_TIMEOUT_SECS`, `TFR_GITHUB_CA_FILE` | with `github`: the GitHub client, read by `upstream_github::GithubConfig::from_env` | `https://api.github.com/`, no credentials, ... |
//! | `TFR_GITHUB_CACHE_ARCHIVES` | with `github`: keep each archive fetched from GitHub in the bucket under `{prefix}github-cache/`, so it is fetched once | `false` |
//!
//! Variables of an upstream that `TFR_UPSTREAM` does not choose are refused, so
//! a forgotten or mistyped `TFR_UPSTREAM` does not go unnoticed.
//!
//! `TFR_S3_PRESIGN_TTL_SECS` is refused in favour of `TFR_ARCHIVE_URL_TTL_SECS`.
//! Empty values count as unset.

use std::time::Duration;

use registry_core::proxy::InvalidPattern;
use registry_core::{
    ModulePattern, ProxyConfig, RegistryConfig, SigningKey, TokenHash, UpstreamArchives,
};
use storage_s3::{S3Config, S3ConfigError, MAX_PRESIGN_TTL};
use upstream_github::GithubConfig;
use upstream_registry::RegistryUpstreamConfig;

/// The proxy lists, for any upstream.
const LIST_VARS: &[&str] = &["TFR_PROXY_ALLOW", "TFR_PROXY_DENY"];

/// The upstream registry client's variables (`TFR_UPSTREAM=pin|proxy`).
const REGISTRY_VARS: &[&str] = &[
    "TFR_UPSTREAM_URL",
    "TFR_UPSTREAM_TOKEN",
    "TFR_UPSTREAM_TIMEOUT_SECS",
    "TFR_UPSTREAM_CACHE_TTL_SECS",
    "TFR_UPSTREAM_CA_FILE",
    "TFR_GITHUB_TARBALL_URL",
];

/// The GitHub client's variables (`TFR_UPSTREAM=github`).
const GITHUB_VARS: &[&str] = &[
    "TFR_GITHUB_API_URL",
    "TFR_GITHUB_TOKEN",
    "TFR_GITHUB_APP_ID",
    "TFR_GITHUB_APP_PRIVATE_KEY",
    "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
    "TFR_GITHUB_APP_INSTALLATION_ID",
    "TFR_GITHUB_REPO_TEMPLATE",
    "TFR_GITHUB_REPOS",
    "TFR_GITHUB_CACHE_TTL_SECS",
    "TFR_GITHUB_TIMEOUT_SECS",
    "TFR_GITHUB_CA_FILE",
    "TFR_GITHUB_CACHE_ARCHIVES",
];

/// Which upstream the function uses, with its client's configuration.
#[derive(Debug)]
pub(crate) enum UpstreamChoice {
    /// `TFR_UPSTREAM=pin|proxy`: another module registry.
    Registry(Box<RegistryUpstreamConfig>),
    /// `TFR_UPSTREAM=github`: GitHub repositories' tags; with `cache_archives`,
    /// fetched archives are kept in the bucket.
    Github {
        config: Box<GithubConfig>,
        cache_archives: bool,
    },
}

/// Lambda refuses request payloads over 6 MB (6,291,456 bytes); a binary body
/// travels base64, 4/3 of its size: no upload over 3/4 of that can arrive.
pub(crate) const LAMBDA_MAX_BODY_BYTES: usize = 6_291_456 / 4 * 3;

/// 4 MiB: base64 5.6 MB, leaving room for the event's headers and context.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Everything the function needs, read from the environment.
#[derive(Debug)]
pub(crate) struct Config {
    /// Bucket, prefix, how downloads are served.
    pub(crate) s3: S3Config,
    /// The registry's settings.
    pub(crate) registry: RegistryConfig,
    /// How long token lookups, version lists and archive locations are kept in memory.
    pub(crate) read_cache_ttl: Duration,
    /// `false` when no `TFR_SIGNING_KEY` was given and one was generated.
    pub(crate) signing_key_given: bool,
    /// The upstream, unless `TFR_UPSTREAM=off`.
    pub(crate) upstream: Option<UpstreamChoice>,
}

/// Why the configuration could not be read: names the variable and the fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// An `TFR_S3_*` variable.
    #[error(transparent)]
    S3(#[from] S3ConfigError),
    /// Any other variable.
    #[error("{var} {problem}")]
    Var {
        var: &'static str,
        problem: &'static str,
    },
    /// A `TFR_PROXY_*` list.
    #[error("{var}: {source}")]
    Pattern {
        var: &'static str,
        #[source]
        source: InvalidPattern,
    },
    /// A variable of another upstream than `TFR_UPSTREAM` chooses is set.
    #[error("{var} is set, but TFR_UPSTREAM={mode} does not read it: {fix}, or unset {var}")]
    OtherUpstream {
        var: &'static str,
        mode: &'static str,
        fix: &'static str,
    },
    /// A `TFR_UPSTREAM_*` variable of the upstream registry client.
    #[error(transparent)]
    Upstream(#[from] upstream_registry::ConfigError),
    /// A `TFR_GITHUB_*` variable of the GitHub client.
    #[error(transparent)]
    Github(#[from] upstream_github::ConfigError),
}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, ConfigError> {
        let get = |name: &str| std::env::var(name).ok();
        check_no_presign_ttl(get)?;
        let mut config = Self::from_lookup(S3Config::from_env()?, get)?;
        match &mut config.upstream {
            None => {}
            Some(UpstreamChoice::Registry(registry)) => {
                **registry = RegistryUpstreamConfig::from_env()?;
            }
            Some(UpstreamChoice::Github { config, .. }) => {
                **config = GithubConfig::from_env()?;
            }
        }
        config.cap_upstream_archives();
        Ok(config)
    }

    /// Archives fetched from the upstream may be as large as an upload
    /// (`TFR_MAX_BODY_BYTES`), as in local-server: GitHub archives go back
    /// through the function, whose responses Lambda caps, so a larger tag is
    /// refused with the registry's own error rather than failing at Lambda's
    /// response limit.
    fn cap_upstream_archives(&mut self) {
        let cap = self.registry.max_body_bytes as u64;
        match &mut self.upstream {
            None => {}
            Some(UpstreamChoice::Registry(registry)) => registry.max_archive_bytes = cap,
            Some(UpstreamChoice::Github { config, .. }) => config.max_archive_bytes = cap,
        }
    }

    /// [`Config::from_env`] after the `TFR_S3_*` variables, over any variable
    /// lookup (for tests). With an upstream, `upstream` holds its client's
    /// defaults: `from_env` reads the client's own variables.
    pub(crate) fn from_lookup(
        s3: S3Config,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let err = |var, problem| ConfigError::Var { var, problem };
        let mut s3 = s3;

        let master = get("TFR_MASTER_TOKEN_SHA256").ok_or(err(
            "TFR_MASTER_TOKEN_SHA256",
            "is not set: set it to the hex SHA-256 of the master token (`printf %s \"$TOKEN\" | sha256sum`), never the token itself",
        ))?;
        let master = TokenHash::from_hex(&master).ok_or(err(
            "TFR_MASTER_TOKEN_SHA256",
            "is not a SHA-256: use 64 hex digits (`printf %s \"$TOKEN\" | sha256sum`)",
        ))?;

        let signing_key = match get("TFR_SIGNING_KEY") {
            Some(hex_key) => Some(
                SigningKey::from_hex(&hex_key).ok_or(err(
                        "TFR_SIGNING_KEY",
                        "is invalid: use at least 32 random bytes in hex (`openssl rand -hex 32`)",
                    ))?,
            ),
            None if get("TFR_UPSTREAM").is_some_and(|m| m.eq_ignore_ascii_case("github")) => {
                return Err(err(
                    "TFR_SIGNING_KEY",
                    "is not set, but TFR_UPSTREAM=github serves archives through signed registry URLs: every instance must verify the others' URLs, so set one shared key (`openssl rand -hex 32`)",
                ))
            }
            None if s3.serve_through_registry => {
                return Err(err(
                    "TFR_SIGNING_KEY",
                    "is not set, but TFR_S3_SERVE_THROUGH_REGISTRY is on: every instance must verify the others' archive URLs, so set one shared key (`openssl rand -hex 32`)",
                ))
            }
            None => None,
        };
        let signing_key_given = signing_key.is_some();

        let mut ttl = Duration::from_secs(300);
        if let Some(v) = get("TFR_ARCHIVE_URL_TTL_SECS") {
            let secs = v
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_PRESIGN_TTL.as_secs()).contains(s))
                .ok_or(err(
                    "TFR_ARCHIVE_URL_TTL_SECS",
                    "is invalid: use a whole number of seconds from 1 to 604800 (7 days)",
                ))?;
            ttl = Duration::from_secs(secs);
        }
        s3 = s3.with_presign_ttl(ttl);

        let mut read_cache_ttl = registry_core::cache::DEFAULT_READ_CACHE_TTL;
        if let Some(v) = get("TFR_READ_CACHE_TTL_MS") {
            let ms = v.parse::<u64>().ok().filter(|ms| *ms <= 60_000).ok_or(err(
                "TFR_READ_CACHE_TTL_MS",
                "is invalid: use a whole number of milliseconds from 0 (no cache) to 60000",
            ))?;
            read_cache_ttl = Duration::from_millis(ms);
        }

        let anonymous_reads = match get("TFR_ANONYMOUS_READS").as_deref() {
            None => false,
            Some(v) => {
                parse_bool(v).ok_or(err("TFR_ANONYMOUS_READS", "is invalid: use true or false"))?
            }
        };

        let mut max_body_bytes = DEFAULT_MAX_BODY_BYTES;
        if let Some(v) = get("TFR_MAX_BODY_BYTES") {
            max_body_bytes = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=LAMBDA_MAX_BODY_BYTES).contains(n))
                .ok_or(err(
                    "TFR_MAX_BODY_BYTES",
                    "is invalid: use a number of bytes from 1 to 4718592 (Lambda refuses larger payloads once base64-encoded)",
                ))?;
        }

        let (proxy, upstream) = upstream_config(get)?;
        let registry = RegistryConfig::new(signing_key.unwrap_or_else(SigningKey::generate))
            .with_master_token_hash(master)
            .with_archive_url_ttl(ttl)
            .with_anonymous_reads(anonymous_reads)
            .with_max_body_bytes(max_body_bytes)
            .with_proxy(proxy);
        Ok(Self {
            s3,
            registry,
            read_cache_ttl,
            signing_key_given,
            upstream,
        })
    }
}

/// `TFR_UPSTREAM` and the proxy lists: the core's rules, and the upstream
/// client's defaults unless `TFR_UPSTREAM` is `off`.
fn upstream_config(
    get: impl Fn(&str) -> Option<String>,
) -> Result<(ProxyConfig, Option<UpstreamChoice>), ConfigError> {
    let mode = get("TFR_UPSTREAM").map(|m| m.to_ascii_lowercase());
    let (mode, refused, fix): (&'static str, &[&[&'static str]], &'static str) =
        match mode.as_deref() {
            None | Some("off") => (
                "off",
                &[LIST_VARS, REGISTRY_VARS, GITHUB_VARS],
                "set TFR_UPSTREAM to pin, proxy or github",
            ),
            Some("pin") => ("pin", &[GITHUB_VARS], "set TFR_UPSTREAM=github"),
            Some("proxy") => ("proxy", &[GITHUB_VARS], "set TFR_UPSTREAM=github"),
            Some("github") => (
                "github",
                &[REGISTRY_VARS],
                "set TFR_UPSTREAM=pin or TFR_UPSTREAM=proxy",
            ),
            Some(_) => {
                return Err(ConfigError::Var {
                    var: "TFR_UPSTREAM",
                    problem: "is invalid: use off, pin, proxy or github",
                })
            }
        };
    if let Some(var) = refused
        .iter()
        .flat_map(|vars| vars.iter())
        .find(|v| get(v).is_some())
    {
        return Err(ConfigError::OtherUpstream { var, mode, fix });
    }
    if mode == "off" {
        return Ok((ProxyConfig::default(), None));
    }
    let patterns = |var: &'static str| -> Result<Vec<ModulePattern>, ConfigError> {
        get(var)
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|source| ConfigError::Pattern { var, source })
            })
            .collect()
    };
    let proxy = ProxyConfig::enabled(patterns("TFR_PROXY_ALLOW")?, patterns("TFR_PROXY_DENY")?);
    if mode == "github" {
        let cache_archives = match get("TFR_GITHUB_CACHE_ARCHIVES").as_deref() {
            None => false,
            Some(v) => parse_bool(v).ok_or(ConfigError::Var {
                var: "TFR_GITHUB_CACHE_ARCHIVES",
                problem: "is invalid: use true or false",
            })?,
        };
        let choice = UpstreamChoice::Github {
            config: Box::default(),
            cache_archives,
        };
        return Ok((
            proxy.with_archives(UpstreamArchives::ThroughRegistry),
            Some(choice),
        ));
    }
    Ok((
        proxy.with_enabled(mode == "proxy"),
        Some(UpstreamChoice::Registry(Box::default())),
    ))
}

/// Refuses `TFR_S3_PRESIGN_TTL_SECS`: one variable, `TFR_ARCHIVE_URL_TTL_SECS`,
/// sets the lifetime of every download URL.
fn check_no_presign_ttl(get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match get("TFR_S3_PRESIGN_TTL_SECS") {
        Some(v) if !v.trim().is_empty() => Err(ConfigError::Var {
            var: "TFR_S3_PRESIGN_TTL_SECS",
            problem: "is not read by this function: set TFR_ARCHIVE_URL_TTL_SECS instead (it covers presigned S3 URLs too)",
        }),
        _ => Ok(()),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn from(s3: S3Config, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        check_no_presign_ttl(|k| map.get(k).cloned())?;
        Config::from_lookup(s3, |k| map.get(k).cloned())
    }

    type Case<'a> = (S3Config, &'a [(&'a str, &'a str)], &'a str);

    fn var_of(e: &ConfigError) -> &'static str {
        match e {
            ConfigError::Var { var, .. }
            | ConfigError::Pattern { var, .. }
            | ConfigError::OtherUpstream { var, .. } => var,
            ConfigError::S3(_) => "TFR_S3_*",
            ConfigError::Upstream(_) => "TFR_UPSTREAM_*",
            ConfigError::Github(_) => "TFR_GITHUB_*",
        }
    }

    #[test]
    fn defaults() {
        let c = from(S3Config::new("b"), &[("TFR_MASTER_TOKEN_SHA256", HASH)]).unwrap();
        assert_eq!(c.registry.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.registry.archive_url_ttl, Duration::from_secs(300));
        assert_eq!(c.read_cache_ttl, Duration::from_secs(1));
        assert_eq!(c.s3.presign_ttl, Duration::from_secs(300));
        assert!(!c.registry.anonymous_reads);
        assert!(!c.signing_key_given);
        assert_eq!(c.registry.master_token_hash.unwrap().to_hex(), HASH);
        assert!(c.upstream.is_none() && !c.registry.proxy.enabled);
    }

    #[test]
    fn upstream_modes_and_lists() {
        let c = from(
            S3Config::new("b"),
            &[
                ("TFR_MASTER_TOKEN_SHA256", HASH),
                ("TFR_UPSTREAM", "proxy"),
                ("TFR_PROXY_ALLOW", "hashicorp, terraform-aws-modules/vpc"),
                ("TFR_PROXY_DENY", "hashicorp/vault"),
            ],
        )
        .unwrap();
        assert!(c.registry.proxy.enabled);
        let allow: Vec<String> = c
            .registry
            .proxy
            .allow
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(allow, ["hashicorp", "terraform-aws-modules/vpc"]);
        assert_eq!(c.registry.proxy.deny.len(), 1);
        assert!(matches!(
            c.upstream,
            Some(UpstreamChoice::Registry(ref r)) if r.base_url.as_str() == upstream_registry::DEFAULT_BASE_URL
        ));
        let pin = from(
            S3Config::new("b"),
            &[("TFR_MASTER_TOKEN_SHA256", HASH), ("TFR_UPSTREAM", "PIN")],
        )
        .unwrap();
        assert!(pin.upstream.is_some() && !pin.registry.proxy.enabled);
        assert!(pin.registry.proxy.allow.is_empty());
        let github = from(
            S3Config::new("b"),
            &[
                ("TFR_MASTER_TOKEN_SHA256", HASH),
                ("TFR_UPSTREAM", "github"),
                ("TFR_SIGNING_KEY", &"ab".repeat(32)),
                ("TFR_PROXY_DENY", "acme/secret"),
                ("TFR_GITHUB_CACHE_ARCHIVES", "true"),
            ],
        )
        .unwrap();
        assert!(github.registry.proxy.enabled);
        assert_eq!(
            github.registry.proxy.archives,
            UpstreamArchives::ThroughRegistry
        );
        assert!(matches!(
            github.upstream,
            Some(UpstreamChoice::Github {
                cache_archives: true,
                ..
            })
        ));
    }

    #[test]
    fn upstream_archives_are_capped_at_the_upload_limit() {
        for mode in ["github", "proxy"] {
            let mut c = from(
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_SIGNING_KEY", &"ab".repeat(32)),
                    ("TFR_UPSTREAM", mode),
                    ("TFR_MAX_BODY_BYTES", "1000"),
                ],
            )
            .unwrap();
            c.cap_upstream_archives();
            let cap = match &c.upstream {
                Some(UpstreamChoice::Registry(r)) => r.max_archive_bytes,
                Some(UpstreamChoice::Github { config, .. }) => config.max_archive_bytes,
                None => panic!("{mode}: no upstream"),
            };
            assert_eq!(cap, 1000, "{mode}");
        }
    }

    #[test]
    fn reads_every_variable() {
        let key = "ab".repeat(32);
        let c = from(
            S3Config::new("b").with_serve_through_registry(true),
            &[
                ("TFR_MASTER_TOKEN_SHA256", &HASH.to_uppercase()),
                ("TFR_SIGNING_KEY", &key),
                ("TFR_ARCHIVE_URL_TTL_SECS", "60"),
                ("TFR_ANONYMOUS_READS", "yes"),
                ("TFR_MAX_BODY_BYTES", "1000"),
                ("TFR_READ_CACHE_TTL_MS", "250"),
            ],
        )
        .unwrap();
        assert!(c.signing_key_given);
        assert_eq!(c.read_cache_ttl, Duration::from_millis(250));
        assert_eq!(c.registry.archive_url_ttl, Duration::from_secs(60));
        assert_eq!(c.s3.presign_ttl, Duration::from_secs(60));
        assert!(c.registry.anonymous_reads);
        assert_eq!(c.registry.max_body_bytes, 1000);
    }

    #[test]
    fn errors_name_the_variable() {
        let short_key = "ab".repeat(31);
        let cases: &[Case<'_>] = &[
            (S3Config::new("b"), &[], "TFR_MASTER_TOKEN_SHA256"),
            (
                S3Config::new("b"),
                &[("TFR_MASTER_TOKEN_SHA256", "tfr_plaintext")],
                "TFR_MASTER_TOKEN_SHA256",
            ),
            (
                S3Config::new("b").with_serve_through_registry(true),
                &[("TFR_MASTER_TOKEN_SHA256", HASH)],
                "TFR_SIGNING_KEY",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_SIGNING_KEY", &short_key),
                ],
                "TFR_SIGNING_KEY",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_SIGNING_KEY", "not hex"),
                ],
                "TFR_SIGNING_KEY",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_ARCHIVE_URL_TTL_SECS", "0"),
                ],
                "TFR_ARCHIVE_URL_TTL_SECS",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_ARCHIVE_URL_TTL_SECS", "604801"),
                ],
                "TFR_ARCHIVE_URL_TTL_SECS",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_READ_CACHE_TTL_MS", "60001"),
                ],
                "TFR_READ_CACHE_TTL_MS",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_ANONYMOUS_READS", "maybe"),
                ],
                "TFR_ANONYMOUS_READS",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_MAX_BODY_BYTES", "6291456"),
                ],
                "TFR_MAX_BODY_BYTES",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_MAX_BODY_BYTES", "0"),
                ],
                "TFR_MAX_BODY_BYTES",
            ),
            (
                S3Config::new("b"),
                &[
                    ("TFR_MASTER_TOKEN_SHA256", HASH),
                    ("TFR_S3_PRESIGN_TTL_SECS", "60"),
                ],
                "TFR_S3_PRESIGN_TTL_SECS",
            ),
        ];
        let key = "ab".repeat(32);
        let key = key.as_str();
        let upstream_cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TFR_UPSTREAM", "on")], "TFR_UPSTREAM"),
            (
                &[("TFR_UPSTREAM_URL", "https://r.example.com")],
                "TFR_UPSTREAM_URL",
            ),
            (
                &[("TFR_UPSTREAM", "off"), ("TFR_PROXY_DENY", "acme")],
                "TFR_PROXY_DENY",
            ),
            (&[("TFR_GITHUB_TOKEN", "t")], "TFR_GITHUB_TOKEN"),
            (&[("TFR_UPSTREAM", "github")], "TFR_SIGNING_KEY"),
            (
                &[("TFR_UPSTREAM", "proxy"), ("TFR_GITHUB_APP_ID", "1")],
                "TFR_GITHUB_APP_ID",
            ),
            (
                &[
                    ("TFR_UPSTREAM", "github"),
                    ("TFR_SIGNING_KEY", key),
                    ("TFR_UPSTREAM_URL", "https://r.example.com"),
                ],
                "TFR_UPSTREAM_URL",
            ),
            (
                &[
                    ("TFR_UPSTREAM", "github"),
                    ("TFR_SIGNING_KEY", key),
                    ("TFR_GITHUB_CACHE_ARCHIVES", "sure"),
                ],
                "TFR_GITHUB_CACHE_ARCHIVES",
            ),
            (
                &[("TFR_UPSTREAM", "proxy"), ("TFR_PROXY_ALLOW", "hashi*")],
                "TFR_PROXY_ALLOW",
            ),
            (
                &[("TFR_UPSTREAM", "pin"), ("TFR_PROXY_DENY", "a/b/c/d")],
                "TFR_PROXY_DENY",
            ),
        ];
        for (vars, expected) in upstream_cases {
            let mut vars = vars.to_vec();
            vars.push(("TFR_MASTER_TOKEN_SHA256", HASH));
            let e = from(S3Config::new("b"), &vars).unwrap_err();
            assert_eq!(var_of(&e), *expected, "{vars:?}: {e}");
            assert!(e.to_string().starts_with(expected), "{e}");
        }
        for (s3, vars, expected) in cases {
            let e = from(s3.clone(), vars).unwrap_err();
            assert_eq!(var_of(&e), *expected, "{vars:?}: {e}");
            assert!(e.to_string().starts_with(expected), "{e}");
        }
    }

    #[test]
    fn the_signing_key_is_never_printed() {
        let secret = "cd".repeat(20);
        let e = from(
            S3Config::new("b"),
            &[
                ("TFR_MASTER_TOKEN_SHA256", HASH),
                ("TFR_SIGNING_KEY", &secret[..30]),
            ],
        )
        .unwrap_err();
        assert!(!e.to_string().contains(&secret[..30]), "{e}");
    }

    #[test]
    fn the_default_body_limit_fits_lambdas_payload_limit() {
        // base64 of the largest body, plus room for the event around it.
        assert!(DEFAULT_MAX_BODY_BYTES.div_ceil(3) * 4 + 64 * 1024 <= 6_291_456);
        assert!(LAMBDA_MAX_BODY_BYTES.div_ceil(3) * 4 <= 6_291_456);
    }
}
