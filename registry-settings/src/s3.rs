//! The S3 bucket holding modules, tokens and pin records.

use std::time::Duration;

use clap::ArgAction;
use storage_s3::{S3Config, S3ConfigError};

use crate::error::{given, refuse_unused, Setting, SettingsError};
use crate::parse::{boolish, text};
use crate::registry::ARCHIVE_URL_TTL_SECS;

/// `--s3-bucket` / `TFR_S3_BUCKET`.
pub const BUCKET: Setting = Setting::new("s3-bucket", "TFR_S3_BUCKET");
/// `--s3-prefix` / `TFR_S3_PREFIX`.
pub const PREFIX: Setting = Setting::new("s3-prefix", "TFR_S3_PREFIX");
/// `--s3-region` / `TFR_S3_REGION`.
pub const REGION: Setting = Setting::new("s3-region", "TFR_S3_REGION");
/// `--s3-endpoint-url` / `TFR_S3_ENDPOINT_URL`.
pub const ENDPOINT_URL: Setting = Setting::new("s3-endpoint-url", "TFR_S3_ENDPOINT_URL");
/// `--s3-force-path-style` / `TFR_S3_FORCE_PATH_STYLE`.
pub const FORCE_PATH_STYLE: Setting =
    Setting::new("s3-force-path-style", "TFR_S3_FORCE_PATH_STYLE");
/// `--s3-serve-through-registry` / `TFR_S3_SERVE_THROUGH_REGISTRY`.
pub const SERVE_THROUGH_REGISTRY: Setting =
    Setting::new("s3-serve-through-registry", "TFR_S3_SERVE_THROUGH_REGISTRY");
/// `TFR_S3_PRESIGN_TTL_SECS`: refused, `--archive-url-ttl-secs` sets every
/// download URL's lifetime.
pub const PRESIGN_TTL_SECS: Setting =
    Setting::new("s3-presign-ttl-secs", "TFR_S3_PRESIGN_TTL_SECS");

/// The bucket and how to reach it. Credentials come from the standard AWS
/// chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, an
/// instance or task role, ...).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "S3 storage")]
pub struct S3Args {
    /// The bucket holding modules, tokens and pin records.
    #[arg(long = BUCKET.long(), env = BUCKET.env(), value_name = "NAME")]
    s3_bucket: Option<String>,

    /// Key prefix for everything the registry stores in the bucket, e.g.
    /// `terraform/` (no leading `/`) [default: none].
    #[arg(long = PREFIX.long(), env = PREFIX.env())]
    s3_prefix: Option<String>,

    /// AWS region of the bucket [default: from the AWS configuration, e.g. AWS_REGION].
    #[arg(long = REGION.long(), env = REGION.env())]
    s3_region: Option<String>,

    /// S3 endpoint URL instead of AWS's, for S3-compatible servers (MinIO, moto, ...).
    #[arg(long = ENDPOINT_URL.long(), env = ENDPOINT_URL.env(), value_name = "URL")]
    s3_endpoint_url: Option<String>,

    /// Address the bucket in the path (`endpoint/bucket/key`) rather than the host name;
    /// most S3-compatible servers need it.
    #[arg(long = FORCE_PATH_STYLE.long(), env = FORCE_PATH_STYLE.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    s3_force_path_style: bool,

    /// Serve archives through the registry's own signed URLs instead of handing
    /// Terraform presigned S3 URLs (when clients cannot reach the bucket).
    #[arg(long = SERVE_THROUGH_REGISTRY.long(), env = SERVE_THROUGH_REGISTRY.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    s3_serve_through_registry: bool,

    /// Refused: --archive-url-ttl-secs sets the presigned URLs' lifetime too.
    #[arg(long = PRESIGN_TTL_SECS.long(), env = PRESIGN_TTL_SECS.env(), hide = true)]
    s3_presign_ttl_secs: Option<String>,
}

impl S3Args {
    /// The S3 configuration, whose presigned URLs live `presign_ttl` (the
    /// registry's archive URL lifetime).
    ///
    /// # Errors
    /// No bucket; a prefix starting with `/`; `TFR_S3_PRESIGN_TTL_SECS`.
    pub fn s3_config(&self, presign_ttl: Duration) -> Result<S3Config, SettingsError> {
        self.refuse_presign_ttl()?;
        let bucket = text(&self.s3_bucket).ok_or_else(|| {
            SettingsError::missing(
                BUCKET,
                "is not set: set it to the name of the S3 bucket that holds the registry",
            )
        })?;
        let mut config = S3Config::new(bucket)
            .with_force_path_style(self.s3_force_path_style)
            .with_serve_through_registry(self.s3_serve_through_registry)
            .with_presign_ttl(presign_ttl);
        if let Some(prefix) = text(&self.s3_prefix) {
            if prefix.starts_with('/') {
                return Err(SettingsError::invalid(
                    PREFIX,
                    format!(
                        "{prefix:?} is invalid: S3 keys do not start with '/': drop the leading '/'"
                    ),
                ));
            }
            config = config.with_prefix(prefix);
        }
        if let Some(region) = text(&self.s3_region) {
            config = config.with_region(region);
        }
        if let Some(url) = text(&self.s3_endpoint_url) {
            config = config.with_endpoint_url(url);
        }
        config.validate().map_err(|e| config_error(&e))?;
        Ok(config)
    }

    /// Refuses every S3 setting given, for a server that does not store in S3
    /// now: `needs` is what would make it, e.g. `--storage s3 (TFR_STORAGE=s3)`.
    /// A forgotten `--storage s3` then never silently stores on disk.
    ///
    /// # Errors
    /// Any S3 setting is given.
    pub fn refuse_unused(&self, needs: &str) -> Result<(), SettingsError> {
        self.refuse_presign_ttl()?;
        refuse_unused(
            given(&[
                (BUCKET, self.s3_bucket.is_some()),
                (PREFIX, self.s3_prefix.is_some()),
                (REGION, self.s3_region.is_some()),
                (ENDPOINT_URL, self.s3_endpoint_url.is_some()),
                (FORCE_PATH_STYLE, self.s3_force_path_style),
                (SERVE_THROUGH_REGISTRY, self.s3_serve_through_registry),
            ]),
            needs,
        )
    }

    fn refuse_presign_ttl(&self) -> Result<(), SettingsError> {
        match text(&self.s3_presign_ttl_secs) {
            None => Ok(()),
            Some(_) => Err(SettingsError::invalid(
                PRESIGN_TTL_SECS,
                format!("is not read: set {ARCHIVE_URL_TTL_SECS} instead (it covers presigned S3 URLs too)"),
            )),
        }
    }
}

/// storage-s3's refusal, naming the setting instead of the field.
fn config_error(e: &S3ConfigError) -> SettingsError {
    let setting = match e.field() {
        "bucket" => BUCKET,
        "prefix" => PREFIX,
        "region" => REGION,
        "endpoint_url" => ENDPOINT_URL,
        _ => ARCHIVE_URL_TTL_SECS,
    };
    let reason = match e {
        S3ConfigError::Invalid { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    SettingsError::invalid(setting, format!("is invalid: {reason}"))
}
