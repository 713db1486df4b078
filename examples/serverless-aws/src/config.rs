//! The function's configuration, from environment variables only: the shared
//! groups of `registry-settings` (see its README and
//! `examples/serverless-aws/README.md` for every variable), parsed with no
//! command line. Blank variables count as unset.
//!
//! Variables of an upstream that `TFR_UPSTREAM` does not choose are refused,
//! so a forgotten or mistyped `TFR_UPSTREAM` does not go unnoticed.
//! `TFR_S3_PRESIGN_TTL_SECS` is refused in favour of `TFR_ARCHIVE_URL_TTL_SECS`.

use clap::Parser;
use registry_core::RegistryConfig;
use registry_settings::github::GithubArgs;
use registry_settings::registry::{RegistryArgs, RegistryRules};
use registry_settings::s3::S3Args;
use registry_settings::upstream::{self, ModeArgs, ProxyArgs, RegistryUpstreamArgs, Upstream};
use registry_settings::SettingsError;
use storage_s3::S3Config;

/// The function's settings (never from a command line: see [`Config::from_env`]).
#[derive(Debug, Parser)]
#[command(name = "serverless-aws")]
pub(crate) struct Settings {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    mode: ModeArgs,
    #[command(flatten)]
    lists: ProxyArgs,
    #[command(flatten)]
    upstream: RegistryUpstreamArgs,
    #[command(flatten)]
    github: GithubArgs,
}

/// Everything the function needs, read from the environment.
#[derive(Debug)]
pub(crate) struct Config {
    /// Bucket, prefix, how downloads are served.
    pub(crate) s3: S3Config,
    /// The registry's settings, proxy rules included.
    pub(crate) registry: RegistryConfig,
    /// How long token lookups, version lists and archive locations are kept in memory.
    pub(crate) read_cache_ttl: std::time::Duration,
    /// `false` when no `TFR_SIGNING_KEY` was given and one was generated.
    pub(crate) signing_key_given: bool,
    /// The upstream, unless `TFR_UPSTREAM=off`.
    pub(crate) upstream: Option<Upstream>,
}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, SettingsError> {
        registry_settings::parse_env_only::<Settings>()?.config()
    }
}

impl Settings {
    fn config(&self) -> Result<Config, SettingsError> {
        let registry = self.registry.settings(&RegistryRules::LAMBDA)?;
        let s3 = self.s3.s3_config(registry.config.archive_url_ttl)?;
        // Archives fetched from the upstream may be as large as an upload:
        // GitHub archives go back through the function, whose responses Lambda
        // caps, so a larger tag is refused with the registry's own error.
        let upstream = upstream::select(
            self.mode.mode(),
            &self.lists,
            Some(&self.upstream),
            Some(&self.github),
            registry.config.max_body_bytes,
        )?;
        registry.require_shared_signing_key(&s3, &upstream)?;
        Ok(Config {
            s3,
            registry: registry.config.clone().with_proxy(upstream.proxy),
            read_cache_ttl: registry.read_cache_ttl,
            signing_key_given: registry.signing_key_given,
            upstream: upstream.upstream,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Settings;

    #[test]
    fn settings_are_consistent() {
        Settings::command().debug_assert();
    }

    #[test]
    fn the_defaults_fit_lambda() {
        let hash = registry_core::TokenHash::of("tfr_test").to_hex();
        let config = Settings::try_parse_from(["serverless-aws", "--s3-bucket=b"])
            .unwrap()
            .config();
        assert!(config.is_err(), "the master token hash is required");
        let config = Settings::try_parse_from([
            "serverless-aws",
            "--s3-bucket=b",
            &format!("--master-token-sha256={hash}"),
        ])
        .unwrap()
        .config()
        .unwrap();
        assert_eq!(config.registry.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(config.s3.presign_ttl, config.registry.archive_url_ttl);
        assert!(!config.signing_key_given && config.upstream.is_none());
    }
}
