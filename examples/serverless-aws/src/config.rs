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
//! | `TFR_SIGNING_KEY` | hex archive-URL signing key, ≥ 32 bytes; required with `TFR_S3_SERVE_THROUGH_REGISTRY=true` | random per instance |
//! | `TFR_ARCHIVE_URL_TTL_SECS` | lifetime of download URLs (registry-signed or S3-presigned), 1 to 604800 | `300` |
//! | `TFR_ANONYMOUS_READS` | let requests without a token list and download | `false` |
//! | `TFR_MAX_BODY_BYTES` | largest upload, 1 to 4718592 | `4194304` (4 MiB) |
//!
//! `TFR_S3_PRESIGN_TTL_SECS` is refused in favour of `TFR_ARCHIVE_URL_TTL_SECS`.
//! Empty values count as unset.

use std::time::Duration;

use registry_core::{RegistryConfig, SigningKey, TokenHash};
use storage_s3::{S3Config, S3ConfigError, MAX_PRESIGN_TTL};

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
    /// `false` when no `TFR_SIGNING_KEY` was given and one was generated.
    pub(crate) signing_key_given: bool,
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
}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, ConfigError> {
        let get = |name: &str| std::env::var(name).ok();
        check_no_presign_ttl(get)?;
        Self::from_lookup(S3Config::from_env()?, get)
    }

    /// [`Config::from_env`] after the `TFR_S3_*` variables, over any variable
    /// lookup (for tests).
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
                hex::decode(&hex_key)
                    .ok()
                    .and_then(|raw| SigningKey::from_bytes(raw).ok())
                    .ok_or(err(
                        "TFR_SIGNING_KEY",
                        "is invalid: use at least 32 random bytes in hex (`openssl rand -hex 32`)",
                    ))?,
            ),
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

        let registry = RegistryConfig::new(signing_key.unwrap_or_else(SigningKey::generate))
            .with_master_token_hash(master)
            .with_archive_url_ttl(ttl)
            .with_anonymous_reads(anonymous_reads)
            .with_max_body_bytes(max_body_bytes);
        Ok(Self {
            s3,
            registry,
            signing_key_given,
        })
    }
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
            ConfigError::Var { var, .. } => var,
            ConfigError::S3(_) => "TFR_S3_*",
        }
    }

    #[test]
    fn defaults() {
        let c = from(S3Config::new("b"), &[("TFR_MASTER_TOKEN_SHA256", HASH)]).unwrap();
        assert_eq!(c.registry.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.registry.archive_url_ttl, Duration::from_secs(300));
        assert_eq!(c.s3.presign_ttl, Duration::from_secs(300));
        assert!(!c.registry.anonymous_reads);
        assert!(!c.signing_key_given);
        assert_eq!(c.registry.master_token_hash.unwrap().to_hex(), HASH);
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
            ],
        )
        .unwrap();
        assert!(c.signing_key_given);
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
