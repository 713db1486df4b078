//! [`S3Config`]: which bucket, where in it, and how downloads are served.

use std::time::Duration;

/// The longest presigned URL lifetime S3 accepts (SigV4): 7 days.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The default presigned URL lifetime: 300 seconds.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(300);

/// Where [`S3Storage`](crate::S3Storage) and [`S3TokenStore`](crate::S3TokenStore)
/// keep their objects, and how downloads are served.
///
/// Plain data: build it with [`S3Config::new`] and the `with_*` methods, or read it
/// with [`S3Config::from_env`]. Credentials are not part of it: they come from the
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
    /// Prepended to every key: `""` or a string ending in `/` (the `with_prefix`
    /// and `from_env` constructors normalise it). Never starts with `/`.
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

    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `TFR_S3_BUCKET` | bucket name (required) | |
    /// | `TFR_S3_PREFIX` | key prefix, e.g. `terraform/` (no leading `/`) | none |
    /// | `TFR_S3_REGION` | the bucket's region | the SDK's: `AWS_REGION`, the profile, IMDS |
    /// | `TFR_S3_ENDPOINT_URL` | S3-compatible endpoint, e.g. `http://127.0.0.1:9000` | AWS |
    /// | `TFR_S3_FORCE_PATH_STYLE` | `true`/`false` (also `1`/`0`, `yes`/`no`) | `false` |
    /// | `TFR_S3_PRESIGN_TTL_SECS` | presigned URL lifetime in seconds, 1 to 604800 | `300` |
    /// | `TFR_S3_SERVE_THROUGH_REGISTRY` | `true`: serve bytes through the registry | `false` |
    ///
    /// Empty values count as unset. Credentials are not read here: the standard AWS
    /// credential chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
    /// `AWS_PROFILE`, web identity, ECS/EC2 roles) is used when connecting.
    ///
    /// # Errors
    /// [`S3ConfigError`] naming the variable and what is wrong with it.
    pub fn from_env() -> Result<Self, S3ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any variable lookup (for tests).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, S3ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let bucket = get("TFR_S3_BUCKET").ok_or(S3ConfigError::Missing("TFR_S3_BUCKET"))?;
        let mut config = Self::new(bucket.trim());
        if let Some(prefix) = get("TFR_S3_PREFIX") {
            if prefix.starts_with('/') {
                return Err(S3ConfigError::Invalid {
                    var: "TFR_S3_PREFIX",
                    value: prefix,
                    reason: "S3 keys do not start with '/': drop the leading '/'",
                });
            }
            config = config.with_prefix(prefix);
        }
        config.region = get("TFR_S3_REGION");
        config.endpoint_url = get("TFR_S3_ENDPOINT_URL");
        if let Some(v) = get("TFR_S3_FORCE_PATH_STYLE") {
            config.force_path_style = parse_bool("TFR_S3_FORCE_PATH_STYLE", v)?;
        }
        if let Some(v) = get("TFR_S3_PRESIGN_TTL_SECS") {
            let secs = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_PRESIGN_TTL.as_secs()).contains(s))
                .ok_or(S3ConfigError::Invalid {
                    var: "TFR_S3_PRESIGN_TTL_SECS",
                    value: v,
                    reason: "use a whole number of seconds from 1 to 604800 (7 days)",
                })?;
            config.presign_ttl = Duration::from_secs(secs);
        }
        if let Some(v) = get("TFR_S3_SERVE_THROUGH_REGISTRY") {
            config.serve_through_registry = parse_bool("TFR_S3_SERVE_THROUGH_REGISTRY", v)?;
        }
        Ok(config)
    }

    /// Checks what `from_env` checks, for configurations built in code.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.bucket.is_empty() {
            return Err("the bucket name is empty: set TFR_S3_BUCKET".into());
        }
        if self.presign_ttl.is_zero() || self.presign_ttl > MAX_PRESIGN_TTL {
            return Err(format!(
                "presigned URL lifetime {:?} is out of range: use 1 s to 7 days \
                 (TFR_S3_PRESIGN_TTL_SECS)",
                self.presign_ttl
            ));
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

fn parse_bool(var: &'static str, value: String) -> Result<bool, S3ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(S3ConfigError::Invalid {
            var,
            value,
            reason: "use true or false",
        }),
    }
}

/// Why [`S3Config::from_env`] failed. The message names the variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum S3ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set: set it to the name of the S3 bucket that holds the registry")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What to do instead.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<S3Config, S3ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        S3Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_every_variable() {
        let c = from(&[
            ("TFR_S3_BUCKET", "b"),
            ("TFR_S3_PREFIX", "tf/registry"),
            ("TFR_S3_REGION", "eu-west-1"),
            ("TFR_S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("TFR_S3_FORCE_PATH_STYLE", "true"),
            ("TFR_S3_PRESIGN_TTL_SECS", "60"),
            ("TFR_S3_SERVE_THROUGH_REGISTRY", "1"),
        ])
        .unwrap();
        let expected = S3Config::new("b")
            .with_prefix("tf/registry/")
            .with_region("eu-west-1")
            .with_endpoint_url("http://127.0.0.1:9000")
            .with_force_path_style(true)
            .with_presign_ttl(Duration::from_secs(60))
            .with_serve_through_registry(true);
        assert_eq!(c, expected);
    }

    #[test]
    fn defaults() {
        let c = from(&[("TFR_S3_BUCKET", "b"), ("TFR_S3_PREFIX", "")]).unwrap();
        assert_eq!(c, S3Config::new("b"));
        assert_eq!(c.presign_ttl, Duration::from_secs(300));
        assert!(!c.force_path_style && !c.serve_through_registry);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = from(&[]).unwrap_err();
        assert_eq!(e, S3ConfigError::Missing("TFR_S3_BUCKET"));
        assert!(e.to_string().contains("TFR_S3_BUCKET"), "{e}");
        for (var, value) in [
            ("TFR_S3_PREFIX", "/x"),
            ("TFR_S3_FORCE_PATH_STYLE", "maybe"),
            ("TFR_S3_PRESIGN_TTL_SECS", "0"),
            ("TFR_S3_PRESIGN_TTL_SECS", "604801"),
            ("TFR_S3_PRESIGN_TTL_SECS", "5m"),
            ("TFR_S3_SERVE_THROUGH_REGISTRY", "2"),
        ] {
            let e = from(&[("TFR_S3_BUCKET", "b"), (var, value)]).unwrap_err();
            assert!(
                matches!(&e, S3ConfigError::Invalid { var: v, .. } if *v == var),
                "{var}={value}: {e:?}"
            );
            assert!(e.to_string().contains(var), "{e}");
        }
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
        }
    }
}
