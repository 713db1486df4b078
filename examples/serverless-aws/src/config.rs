//! The function's configuration, from environment variables only: the shared
//! groups of `registry-settings` (see its README and
//! `examples/serverless-aws/README.md` for every variable), parsed with no
//! command line. Blank variables count as unset.
//!
//! Variables of an upstream that `TFR_UPSTREAM` does not choose are refused,
//! so a forgotten or mistyped `TFR_UPSTREAM` does not go unnoticed.
//! `TFR_S3_PRESIGN_TTL_SECS` is refused in favour of `TFR_ARCHIVE_URL_TTL_SECS`.

use registry_core::RegistryConfig;
use registry_settings::servers::{LambdaArgs, LambdaSettings};
use registry_settings::upstream::Upstream;
use registry_settings::SettingsError;
use storage_s3::S3Config;

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
    /// The token exchanges and the audit log.
    pub(crate) identity: registry_settings::identity::IdentitySettings,
    /// The CloudWatch namespace of the EMF metric lines; `None`: none.
    pub(crate) emf_namespace: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, SettingsError> {
        LambdaArgs::from_env().map(Self::from)
    }
}

impl From<LambdaSettings> for Config {
    fn from(settings: LambdaSettings) -> Self {
        let LambdaSettings {
            registry,
            s3,
            upstream,
            identity,
            operations,
            ..
        } = settings;
        Self {
            s3,
            registry: registry.config.clone().with_proxy(upstream.proxy),
            read_cache_ttl: registry.read_cache_ttl,
            signing_key_given: registry.signing_key_given,
            upstream: upstream.upstream,
            identity,
            emf_namespace: operations.emf_namespace,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};
    use registry_settings::servers::LambdaArgs;

    use super::Config;

    #[test]
    fn settings_are_consistent() {
        LambdaArgs::command().debug_assert();
    }

    #[test]
    fn the_defaults_fit_lambda() {
        let hash = registry_core::TokenHash::of("tfr_test").to_hex();
        let parse = |args: &[&str]| {
            LambdaArgs::try_parse_from(
                std::iter::once("serverless-aws").chain(args.iter().copied()),
            )
            .unwrap()
            .settings()
            .map(Config::from)
        };
        assert!(
            parse(&["--s3-bucket=b"]).is_err(),
            "the master token hash is required"
        );
        let config = parse(&["--s3-bucket=b", &format!("--master-token-sha256={hash}")]).unwrap();
        assert_eq!(config.registry.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(config.s3.presign_ttl, config.registry.archive_url_ttl);
        assert!(!config.signing_key_given && config.upstream.is_none());
    }
}
