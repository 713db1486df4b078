//! Command-line flags, each with a `TFR_` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use registry_core::{ArchiveLimits, RegistryConfig, SigningKey, TokenHash};

/// A private Terraform module registry in one binary.
///
/// On first start it creates the data directory with a self-signed TLS
/// certificate, a signing key and a master token (printed once).
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TFR_LISTEN", default_value = "127.0.0.1:8443")]
    pub(crate) listen: SocketAddr,

    /// Where modules, tokens, TLS files and keys are kept.
    #[arg(long, env = "TFR_DATA_DIR", default_value = "./registry-data")]
    pub(crate) data_dir: PathBuf,

    /// Your own certificate chain (PEM) instead of the generated self-signed one.
    #[arg(
        long,
        env = "TFR_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key (PEM) for --tls-cert.
    #[arg(
        long,
        env = "TFR_TLS_KEY",
        requires = "tls_cert",
        conflicts_with = "plain_http"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve plain HTTP (HTTP/1.1 and h2c), e.g. behind a TLS-terminating proxy.
    /// Terraform itself only talks to registries over HTTPS.
    #[arg(long, env = "TFR_PLAIN_HTTP", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) plain_http: bool,

    /// Let requests without a token list versions and download modules.
    #[arg(long, env = "TFR_ANONYMOUS_READS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) anonymous_reads: bool,

    /// Largest request body (module upload) in bytes [default: 52428800, 50 MiB].
    #[arg(long, env = "TFR_MAX_BODY_BYTES")]
    pub(crate) max_body_bytes: Option<usize>,

    /// Largest total size an uploaded archive may unpack to, in bytes
    /// [default: 104857600, 100 MiB].
    #[arg(long, env = "TFR_MAX_UNPACKED_BYTES")]
    pub(crate) max_unpacked_bytes: Option<u64>,

    /// Most entries (files, directories, links) an uploaded archive may hold
    /// [default: 10000].
    #[arg(long, env = "TFR_MAX_ARCHIVE_ENTRIES")]
    pub(crate) max_archive_entries: Option<u64>,

    /// How long a signed archive download URL stays valid, in seconds
    /// [default: 300].
    #[arg(long, env = "TFR_ARCHIVE_URL_TTL_SECS")]
    pub(crate) archive_url_ttl_secs: Option<u64>,

    /// Use this master token instead of the generated one. Prefer the environment
    /// variable: command lines are visible to other users in `ps`.
    #[arg(
        long,
        env = "TFR_MASTER_TOKEN",
        hide_env_values = true,
        conflicts_with = "master_token_sha256"
    )]
    pub(crate) master_token: Option<String>,

    /// Use the master token whose SHA-256 (64 hex digits) this is, instead of the
    /// generated one, e.g. `printf %s "$TOKEN" | sha256sum`.
    #[arg(long, env = "TFR_MASTER_TOKEN_SHA256")]
    pub(crate) master_token_sha256: Option<String>,

    /// Once listening, write the bound port to this file (for scripts using port 0).
    #[arg(long, env = "TFR_PORT_FILE")]
    pub(crate) port_file: Option<PathBuf>,
}

impl Args {
    /// The registry configuration: registry-core's defaults, overridden by the flags given.
    pub(crate) fn registry_config(
        &self,
        signing_key: SigningKey,
        master_token: TokenHash,
    ) -> RegistryConfig {
        let defaults = RegistryConfig::new(signing_key);
        let limits = ArchiveLimits::new(
            self.max_unpacked_bytes
                .unwrap_or(defaults.archive_limits.max_unpacked_bytes),
            self.max_archive_entries
                .unwrap_or(defaults.archive_limits.max_entries),
        );
        let max_body_bytes = self.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        let ttl = self
            .archive_url_ttl_secs
            .map_or(defaults.archive_url_ttl, Duration::from_secs);
        defaults
            .with_master_token_hash(master_token)
            .with_anonymous_reads(self.anonymous_reads)
            .with_max_body_bytes(max_body_bytes)
            .with_archive_limits(limits)
            .with_archive_url_ttl(ttl)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Args;

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_serve_https_on_8443_from_registry_data() {
        let args = Args::try_parse_from(["local-server"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(args.data_dir, std::path::Path::new("./registry-data"));
        assert!(!args.plain_http && !args.anonymous_reads);
        assert!(args.tls_cert.is_none() && args.max_body_bytes.is_none());
    }

    #[test]
    fn own_certificate_needs_its_key_and_excludes_plain_http() {
        assert!(Args::try_parse_from(["local-server", "--tls-cert", "c.pem"]).is_err());
        assert!(Args::try_parse_from([
            "local-server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--plain-http"
        ])
        .is_err());
        let args =
            Args::try_parse_from(["local-server", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
                .unwrap();
        assert_eq!(args.tls_key.as_deref(), Some(std::path::Path::new("k.pem")));
    }

    #[test]
    fn limits_default_to_the_core_and_flags_override_them() {
        let key = registry_core::SigningKey::generate();
        let hash = registry_core::TokenHash::of("tfr_test");
        let core = registry_core::RegistryConfig::new(key.clone());

        let config = Args::try_parse_from(["local-server"])
            .unwrap()
            .registry_config(key.clone(), hash);
        assert_eq!(config.max_body_bytes, core.max_body_bytes);
        assert_eq!(config.archive_limits, core.archive_limits);
        assert_eq!(config.archive_url_ttl, core.archive_url_ttl);
        assert!(!config.anonymous_reads);
        assert_eq!(config.master_token_hash, Some(hash));

        let config = Args::try_parse_from([
            "local-server",
            "--max-body-bytes=10",
            "--max-unpacked-bytes=20",
            "--max-archive-entries=30",
            "--archive-url-ttl-secs=40",
            "--anonymous-reads",
        ])
        .unwrap()
        .registry_config(key, hash);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(
            config.archive_limits,
            registry_core::ArchiveLimits::new(20, 30)
        );
        assert_eq!(config.archive_url_ttl, std::time::Duration::from_secs(40));
        assert!(config.anonymous_reads);
    }
}
