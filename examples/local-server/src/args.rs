//! Command-line flags, each with a `TFR_` environment variable: the shared
//! groups of `registry-settings`, plus where the data lives.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, ValueEnum};
use registry_core::TokenHash;
use registry_settings::listen::Listen;
use registry_settings::registry::RegistrySettings;
use registry_settings::servers::{LocalServerArgs, LocalServerSettings};
use registry_settings::upstream::{Mode, UpstreamSettings};
use registry_settings::SettingsError;
use storage_s3::S3Config;

/// A private Terraform module registry in one binary.
///
/// On first start it creates the data directory with a self-signed TLS
/// certificate, a signing key and a master token (printed once).
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Where TLS files, keys and (with `--storage fs`) modules and tokens are kept.
    #[arg(long, env = "TFR_DATA_DIR", default_value = "./registry-data")]
    data_dir: PathBuf,

    /// Where modules and tokens are kept.
    #[arg(long, env = "TFR_STORAGE", value_enum, default_value_t = StorageKind::Fs)]
    storage: StorageKind,

    /// Instead of serving: derive the metadata (README, inputs, outputs...)
    /// of every stored version that has none, rebuild the catalogue that
    /// list and search answer from out of storage, print what was done and
    /// exit. For versions stored before this registry kept metadata, and to
    /// cure a catalogue that disagrees with storage. Safe while servers run
    /// on the same storage.
    #[arg(long)]
    rebuild_catalogue: bool,

    #[command(flatten)]
    server: LocalServerArgs,
}

/// Where modules and tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StorageKind {
    /// In `modules/` and `tokens/` under --data-dir.
    Fs,
    /// In the S3 bucket --s3-bucket; AWS credentials come from the standard chain
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance role, ...).
    S3,
}

/// The validated settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) listen: Listen,
    /// How the log is written.
    pub(crate) log_format: registry_settings::LogFormat,
    /// Metrics and readiness.
    pub(crate) operations: registry_settings::operations::ServerOperations,
    pub(crate) data_dir: PathBuf,
    /// The registry's settings; its signing key and master token come from
    /// the data directory unless given.
    pub(crate) registry: RegistrySettings,
    /// `--master-token` or `--master-token-sha256`, hashed.
    pub(crate) master_token: Option<TokenHash>,
    /// With `--storage s3`.
    pub(crate) s3: Option<S3Config>,
    pub(crate) mode: Mode,
    pub(crate) upstream: UpstreamSettings,
    /// The token exchanges and the audit log.
    pub(crate) identity: registry_settings::identity::IdentitySettings,
    /// `--rebuild-catalogue`: rebuild and exit instead of serving.
    pub(crate) rebuild_catalogue: bool,
}

impl Args {
    /// Parses the command line and the `TFR_*` variables and validates them;
    /// on a usage error, prints it and exits as clap does.
    pub(crate) fn parse_checked() -> Settings {
        Self::parse()
            .settings()
            .unwrap_or_else(|e| e.usage(&mut Self::command()).exit())
    }

    /// The settings: registry-settings' validation of local-server's groups,
    /// plus where the data lives.
    pub(crate) fn settings(&self) -> Result<Settings, SettingsError> {
        let LocalServerSettings {
            listen,
            log_format,
            operations,
            registry,
            master_token,
            s3,
            mode,
            upstream,
            identity,
            ..
        } = self.server.settings(self.storage == StorageKind::S3)?;
        Ok(Settings {
            listen,
            log_format,
            operations,
            data_dir: self.data_dir.clone(),
            registry,
            master_token,
            s3,
            mode,
            upstream,
            identity,
            rebuild_catalogue: self.rebuild_catalogue,
        })
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

    fn parse(args: &[&str]) -> Result<super::Settings, String> {
        Args::try_parse_from(std::iter::once("local-server").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?
            .settings()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_serve_https_on_8443_from_registry_data_on_the_filesystem() {
        let settings = parse(&[]).unwrap();
        assert_eq!(settings.listen.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            settings.listen.transport,
            registry_settings::listen::Transport::SelfSigned
        );
        assert_eq!(settings.data_dir, std::path::Path::new("./registry-data"));
        assert!(settings.s3.is_none() && settings.master_token.is_none());
        assert!(settings.upstream.upstream.is_none());
    }

    #[test]
    fn storage_s3_needs_its_bucket_and_the_s3_flags_need_it() {
        assert!(parse(&["--storage", "gcs"]).is_err());
        let error = parse(&["--storage", "s3"]).unwrap_err();
        assert!(error.contains("--s3-bucket"), "{error}");
        let error = parse(&["--s3-bucket", "modules"]).unwrap_err();
        assert!(error.contains("--storage s3"), "{error}");
        let settings = parse(&["--storage", "s3", "--s3-bucket", "modules"]).unwrap();
        assert_eq!(settings.s3.unwrap().bucket, "modules");
    }

    #[test]
    fn a_master_token_or_its_hash_replaces_the_generated_one() {
        let hash = registry_core::TokenHash::of("tfr_test");
        let settings = parse(&["--master-token", "tfr_test"]).unwrap();
        assert_eq!(settings.master_token, Some(hash));
        let settings = parse(&["--master-token-sha256", &hash.to_hex()]).unwrap();
        assert_eq!(settings.master_token, Some(hash));
        assert!(parse(&[
            "--master-token",
            "tfr_test",
            "--master-token-sha256",
            &hash.to_hex()
        ])
        .is_err());
    }
}
