//! [`S3Config`]: which bucket, where in it, and how downloads are served.

use std::time::Duration;

/// The longest presigned URL lifetime S3 accepts (SigV4): 7 days.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The default presigned URL lifetime: 300 seconds.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(300);

/// Where [`S3Storage`](crate::S3Storage) and [`S3TokenStore`](crate::S3TokenStore)
/// keep their objects, and how downloads are served.
///
/// Plain data: build it with [`S3Config::new`] and the `with_*` methods (the
/// binaries' settings layer, `registry-settings`, maps flags and environment
/// variables to them). Credentials are not part of it: they come from the
/// standard AWS credential chain.
///
/// ```
/// use std::time::Duration;
/// use storage_s3::S3Config;
///
/// let config = S3Config::new("my-registry")
///     .with_prefix("terraform")
///     .with_region("eu-west-1")
///     .with_presign_ttl(Duration::from_secs(60));
/// assert_eq!(config.prefix, "terraform/");
/// assert!(!config.serve_through_registry);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket name.
    pub bucket: String,
    /// Prepended to every key: `""` or a string ending in `/` ([`with_prefix`](Self::with_prefix)
    /// normalises it). Never starts with `/`.
    pub prefix: String,
    /// The bucket's region; `None` uses the SDK's (`AWS_REGION`, the profile, IMDS).
    pub region: Option<String>,
    /// An S3-compatible endpoint (MinIO, a test server), e.g. `http://127.0.0.1:9000`;
    /// `None` for AWS.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`{endpoint}/{bucket}/{key}`) instead of virtual-hosted
    /// (`{bucket}.{endpoint}/{key}`); most S3-compatible servers need it.
    pub force_path_style: bool,
    /// How long a presigned download URL stays valid (default 300 s, at most 7 days).
    pub presign_ttl: Duration,
    /// Serve archive bytes through the registry instead of redirecting clients to a
    /// presigned S3 URL (for clients that cannot reach S3). Default `false`.
    pub serve_through_registry: bool,
}

impl S3Config {
    /// A configuration for `bucket` with no prefix, the SDK's region, AWS's
    /// endpoint, virtual-hosted addressing, 300 s presigned URLs, presigned downloads.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            region: None,
            endpoint_url: None,
            force_path_style: false,
            presign_ttl: DEFAULT_PRESIGN_TTL,
            serve_through_registry: false,
        }
    }

    /// Sets the key prefix, normalised: leading `/` removed, a trailing `/` added
    /// unless empty (`"tf"` and `"/tf/"` both become `"tf/"`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.prefix = normalize_prefix(prefix.as_ref());
        self
    }

    /// Sets the region.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets an S3-compatible endpoint URL.
    #[must_use]
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Chooses path-style addressing.
    #[must_use]
    pub fn with_force_path_style(mut self, force_path_style: bool) -> Self {
        self.force_path_style = force_path_style;
        self
    }

    /// Sets the presigned URL lifetime.
    #[must_use]
    pub fn with_presign_ttl(mut self, ttl: Duration) -> Self {
        self.presign_ttl = ttl;
        self
    }

    /// Chooses serving archive bytes through the registry instead of presigned URLs.
    #[must_use]
    pub fn with_serve_through_registry(mut self, through_registry: bool) -> Self {
        self.serve_through_registry = through_registry;
        self
    }

    /// Checks what [`connect`](crate::S3Storage::connect) needs: a bucket
    /// name, and a presigned URL lifetime S3 accepts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use storage_s3::S3Config;
    ///
    /// assert!(S3Config::new("b").validate().is_ok());
    /// let e = S3Config::new("").validate().unwrap_err();
    /// assert_eq!(e.field(), "bucket");
    /// let e = S3Config::new("b").with_presign_ttl(Duration::ZERO).validate().unwrap_err();
    /// assert_eq!(e.field(), "presign_ttl");
    /// ```
    ///
    /// # Errors
    /// [`S3ConfigError`] naming the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), S3ConfigError> {
        if self.bucket.trim().is_empty() {
            return Err(S3ConfigError::Invalid {
                field: "bucket",
                reason: "the bucket name is empty: name the S3 bucket that holds the registry"
                    .to_owned(),
            });
        }
        if self.presign_ttl.is_zero() || self.presign_ttl > MAX_PRESIGN_TTL {
            return Err(S3ConfigError::Invalid {
                field: "presign_ttl",
                reason: format!(
                    "the presigned URL lifetime {:?} is out of range: use 1 s to 7 days",
                    self.presign_ttl
                ),
            });
        }
        Ok(())
    }
}

/// `""` stays empty; otherwise leading `/`s are removed and one trailing `/` ensured.
pub(crate) fn normalize_prefix(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_owned()
    } else {
        format!("{p}/")
    }
}

/// Why [`S3Config::validate`] refused a configuration. The message names the
/// field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum S3ConfigError {
    /// A field has a value that cannot be used.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field of [`S3Config`], e.g. `bucket`.
        field: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
}

impl S3ConfigError {
    /// The field of [`S3Config`] that is wrong, e.g. `bucket`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert_eq!(S3Config::new("b").validate(), Ok(()));
        for (config, field) in [
            (S3Config::new(" "), "bucket"),
            (
                S3Config::new("b").with_presign_ttl(Duration::ZERO),
                "presign_ttl",
            ),
            (
                S3Config::new("b").with_presign_ttl(MAX_PRESIGN_TTL + Duration::from_secs(1)),
                "presign_ttl",
            ),
        ] {
            let e = config.validate().unwrap_err();
            assert_eq!(e.field(), field, "{e}");
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
            assert!(!e.to_string().contains("TFR_"), "{e}");
        }
        assert!(S3Config::new("b")
            .with_presign_ttl(MAX_PRESIGN_TTL)
            .validate()
            .is_ok());
    }

    #[test]
    fn prefixes_are_normalised() {
        for (given, expected) in [
            ("", ""),
            ("/", ""),
            ("a", "a/"),
            ("a/", "a/"),
            ("/a/b", "a/b/"),
        ] {
            assert_eq!(normalize_prefix(given), expected, "{given:?}");
            assert_eq!(S3Config::new("b").with_prefix(given).prefix, expected);
        }
    }
}
