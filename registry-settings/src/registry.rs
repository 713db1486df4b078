//! The registry's own settings: who may read, the master token, the URL
//! signing key, the limits on uploads, URL lifetimes and the read cache.

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgAction;
use registry_core::cache::DEFAULT_READ_CACHE_TTL;
use registry_core::{ArchiveLimits, RegistryConfig, SigningKey, TokenHash};
use storage_s3::S3Config;

use crate::error::{Setting, SettingsError};
use crate::parse::{boolish, number, secs};
use crate::upstream::{UpstreamSettings, MODE};

/// `--master-token-sha256` / `TFR_MASTER_TOKEN_SHA256`.
pub const MASTER_TOKEN_SHA256: Setting =
    Setting::new("master-token-sha256", "TFR_MASTER_TOKEN_SHA256");
/// `--master-token` / `TFR_MASTER_TOKEN` (local-server only).
pub const MASTER_TOKEN: Setting = Setting::new("master-token", "TFR_MASTER_TOKEN");
/// `--signing-key` / `TFR_SIGNING_KEY`.
pub const SIGNING_KEY: Setting = Setting::new("signing-key", "TFR_SIGNING_KEY");
/// `--anonymous-reads` / `TFR_ANONYMOUS_READS`.
pub const ANONYMOUS_READS: Setting = Setting::new("anonymous-reads", "TFR_ANONYMOUS_READS");
/// `--max-body-bytes` / `TFR_MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: Setting = Setting::new("max-body-bytes", "TFR_MAX_BODY_BYTES");
/// `--max-unpacked-bytes` / `TFR_MAX_UNPACKED_BYTES`.
pub const MAX_UNPACKED_BYTES: Setting =
    Setting::new("max-unpacked-bytes", "TFR_MAX_UNPACKED_BYTES");
/// `--max-archive-entries` / `TFR_MAX_ARCHIVE_ENTRIES`.
pub const MAX_ARCHIVE_ENTRIES: Setting =
    Setting::new("max-archive-entries", "TFR_MAX_ARCHIVE_ENTRIES");
/// `--archive-url-ttl-secs` / `TFR_ARCHIVE_URL_TTL_SECS`.
pub const ARCHIVE_URL_TTL_SECS: Setting =
    Setting::new("archive-url-ttl-secs", "TFR_ARCHIVE_URL_TTL_SECS");
/// `--read-cache-ttl-ms` / `TFR_READ_CACHE_TTL_MS`.
pub const READ_CACHE_TTL_MS: Setting = Setting::new("read-cache-ttl-ms", "TFR_READ_CACHE_TTL_MS");
/// `--max-concurrent-uploads` / `TFR_MAX_CONCURRENT_UPLOADS`.
pub const MAX_CONCURRENT_UPLOADS: Setting =
    Setting::new("max-concurrent-uploads", "TFR_MAX_CONCURRENT_UPLOADS");
/// `--spool-dir` / `TFR_SPOOL_DIR`.
pub const SPOOL_DIR: Setting = Setting::new("spool-dir", "TFR_SPOOL_DIR");

/// The longest archive URL lifetime: 7 days, the longest a presigned S3 URL
/// may live (SigV4).
pub const MAX_ARCHIVE_URL_TTL_SECS: u64 = 604_800;

/// The longest read-cache lifetime, in milliseconds: a minute. Other servers
/// sharing the storage see a write (a deleted token included) within it.
pub const MAX_READ_CACHE_TTL_MS: u64 = 60_000;

/// Lambda refuses request payloads over 6 MB (6,291,456 bytes); a binary body
/// travels base64, 4/3 of its size: no upload over 3/4 of that can arrive.
pub const LAMBDA_MAX_BODY_BYTES: usize = 6_291_456 / 4 * 3;

/// The Lambda function's default upload limit, 4 MiB: base64 5.6 MB, leaving
/// room for the event's headers and context.
pub const LAMBDA_DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The shortest time list and search answer from the catalogue before
/// checking for other servers' writes: each check reads the snapshot's file
/// or makes one S3 request.
pub const MIN_CATALOGUE_TTL: Duration = Duration::from_millis(100);

/// How long list and search answer from the catalogue before checking for
/// other servers' writes (`Registry::with_catalogue`): the read cache's
/// TTL, at least [`MIN_CATALOGUE_TTL`].
pub fn catalogue_ttl(read_cache_ttl: Duration) -> Duration {
    read_cache_ttl.max(MIN_CATALOGUE_TTL)
}

/// The registry's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Hex SHA-256 of the master token (`printf %s "$TOKEN" | sha256sum`),
    /// never the token itself: requests with the master token manage tokens
    /// (`POST /v1/tokens`) and delete versions.
    // Checked by `settings`, not by clap, whose errors repeat the value: that
    // could be the token itself, given by mistake.
    #[arg(
        long = MASTER_TOKEN_SHA256.long(),
        env = MASTER_TOKEN_SHA256.env(),
        hide_env_values = true,
        value_name = "HEX"
    )]
    master_token_sha256: Option<String>,

    /// Hex key (at least 32 bytes, `openssl rand -hex 32`) that signs archive
    /// URLs; give every instance serving one registry the same key
    /// [default: local-server keeps one in its data directory; otherwise
    /// random per start].
    // Checked by `settings`: clap's errors would repeat the key.
    #[arg(
        long = SIGNING_KEY.long(),
        env = SIGNING_KEY.env(),
        hide_env_values = true,
        value_name = "HEX"
    )]
    signing_key: Option<String>,

    /// Let requests without a token list versions and download modules.
    #[arg(long = ANONYMOUS_READS.long(), env = ANONYMOUS_READS.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    anonymous_reads: bool,

    /// Largest request body (module upload) in bytes; larger gets 413 unread
    /// [default: 52428800, 50 MiB; on Lambda 4194304, at most 4718592].
    #[arg(long = MAX_BODY_BYTES.long(), env = MAX_BODY_BYTES.env(), value_name = "N", value_parser = number::<usize>())]
    max_body_bytes: Option<usize>,

    /// Largest total size an uploaded archive may unpack to, in bytes
    /// [default: 104857600, 100 MiB].
    #[arg(long = MAX_UNPACKED_BYTES.long(), env = MAX_UNPACKED_BYTES.env(), value_name = "N", value_parser = number::<u64>())]
    max_unpacked_bytes: Option<u64>,

    /// Most entries (files, directories, links) an uploaded archive may hold
    /// [default: 10000].
    #[arg(long = MAX_ARCHIVE_ENTRIES.long(), env = MAX_ARCHIVE_ENTRIES.env(), value_name = "N", value_parser = number::<u64>())]
    max_archive_entries: Option<u64>,

    /// How many uploads are validated and stored at once; more wait their
    /// turn [default: 4].
    #[arg(long = MAX_CONCURRENT_UPLOADS.long(), env = MAX_CONCURRENT_UPLOADS.env(), value_name = "N", value_parser = number::<usize>())]
    max_concurrent_uploads: Option<usize>,

    /// Where upload bodies past a few hundred KiB are written while they are
    /// validated (removed when done) [default: the system's temporary directory].
    #[arg(long = SPOOL_DIR.long(), env = SPOOL_DIR.env(), value_name = "DIR")]
    spool_dir: Option<PathBuf>,

    /// How long a signed archive download URL (or presigned S3 URL) stays
    /// valid, in seconds, 1 to 604800 (7 days, the longest a presigned S3 URL
    /// may live) [default: 300].
    #[arg(long = ARCHIVE_URL_TTL_SECS.long(), env = ARCHIVE_URL_TTL_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    archive_url_ttl_secs: Option<u64>,

    /// How long token lookups, version lists and archive locations are kept in
    /// memory, in milliseconds, 0 (off) to 60000 [default: 1000]. Writes through
    /// this server are seen at once; other servers sharing the storage see
    /// them (a deleted token included) within this time.
    #[arg(long = READ_CACHE_TTL_MS.long(), env = READ_CACHE_TTL_MS.env(), value_name = "MS", value_parser = number::<u64>())]
    read_cache_ttl_ms: Option<u64>,
}

/// `--master-token`: local-server's alternative to `--master-token-sha256`.
#[derive(Debug, Clone, clap::Args)]
pub struct MasterTokenArgs {
    /// Use this master token instead of the generated one. Prefer the
    /// environment variable: command lines are visible to other users in `ps`.
    #[arg(
        long = MASTER_TOKEN.long(),
        env = MASTER_TOKEN.env(),
        hide_env_values = true,
        value_name = "TOKEN",
        conflicts_with = "master_token_sha256"
    )]
    master_token: Option<String>,
}

impl MasterTokenArgs {
    /// The hash of the `--master-token` given, if any.
    ///
    /// # Errors
    /// The token is empty.
    pub fn hash(&self) -> Result<Option<TokenHash>, SettingsError> {
        match &self.master_token {
            None => Ok(None),
            Some(token) if token.trim().is_empty() => Err(SettingsError::invalid(
                MASTER_TOKEN,
                "is empty; set a token or leave it unset to use the generated one",
            )),
            Some(token) => Ok(Some(TokenHash::of(token.trim()))),
        }
    }
}

/// Whether a server needs a master token hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterTokenRule {
    /// Optional: without one the server makes its own (local-server).
    Optional,
    /// Required unless `--anonymous-reads`: the server never serves everyone
    /// by accident (github-server).
    UnlessAnonymousReads,
    /// Always required: there is no other way to create tokens (Lambda).
    Required,
}

/// What differs between the servers in the registry group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryRules {
    /// Whether the master token hash must be given.
    pub master_token: MasterTokenRule,
    /// `--max-body-bytes` when not given.
    pub default_max_body_bytes: usize,
    /// The largest `--max-body-bytes` accepted, and why, if it is limited.
    pub max_body_bytes_limit: Option<(usize, &'static str)>,
    /// Whether archive URLs signed by the registry must be verifiable by
    /// other instances, so a random signing key is refused where the
    /// registry signs them (Lambda, where every request may meet another
    /// instance).
    pub shared_signing_key: bool,
}

impl RegistryRules {
    /// local-server: a generated master token, registry-core's limits.
    pub const LOCAL_SERVER: Self = Self {
        master_token: MasterTokenRule::Optional,
        default_max_body_bytes: 50 * 1024 * 1024,
        max_body_bytes_limit: None,
        shared_signing_key: false,
    };

    /// github-server: a master token or anonymous reads, registry-core's limits.
    pub const GITHUB_SERVER: Self = Self {
        master_token: MasterTokenRule::UnlessAnonymousReads,
        default_max_body_bytes: 50 * 1024 * 1024,
        max_body_bytes_limit: None,
        shared_signing_key: false,
    };

    /// The Lambda function: a master token, uploads Lambda can carry, one
    /// signing key for every instance.
    pub const LAMBDA: Self = Self {
        master_token: MasterTokenRule::Required,
        default_max_body_bytes: LAMBDA_DEFAULT_MAX_BODY_BYTES,
        max_body_bytes_limit: Some((
            LAMBDA_MAX_BODY_BYTES,
            " (Lambda refuses larger payloads once base64-encoded)",
        )),
        shared_signing_key: true,
    };
}

/// The validated registry settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistrySettings {
    /// The registry's configuration: the given signing key (or a random one:
    /// see `signing_key_given`), the master token hash if given, the limits
    /// and lifetimes. No proxying: see
    /// [`UpstreamSettings::proxy`](crate::upstream::UpstreamSettings::proxy).
    pub config: RegistryConfig,
    /// `false` when no `--signing-key` was given and `config` holds a random one.
    pub signing_key_given: bool,
    /// How long token lookups, version lists and archive locations are kept
    /// in memory (`Registry::with_read_cache`).
    pub read_cache_ttl: Duration,
    rules: RegistryRules,
}

impl RegistryArgs {
    /// The registry settings under `rules`.
    ///
    /// # Errors
    /// A value that is not usable, or a master token hash `rules` requires
    /// that is not given.
    pub fn settings(&self, rules: &RegistryRules) -> Result<RegistrySettings, SettingsError> {
        let master = self
            .master_token_sha256
            .as_deref()
            .map(parse_token_hash)
            .transpose()?;
        match (rules.master_token, master) {
            (MasterTokenRule::Required, None) => {
                return Err(SettingsError::missing(
                    MASTER_TOKEN_SHA256,
                    "is not set: set it to the hex SHA-256 of the master token \
                     (`printf %s \"$TOKEN\" | sha256sum`), never the token itself",
                ))
            }
            (MasterTokenRule::UnlessAnonymousReads, None) if !self.anonymous_reads => {
                return Err(SettingsError::Unchosen(
                    "no client auth chosen: give --master-token-sha256 HEX (`printf %s \"$TOKEN\" | sha256sum`) \
                     to require tokens, or --anonymous-reads to let everyone list and download",
                ))
            }
            _ => {}
        }
        let signing_key = self
            .signing_key
            .as_deref()
            .map(|hex| {
                SigningKey::from_hex(hex).ok_or_else(|| {
                    SettingsError::invalid(
                        SIGNING_KEY,
                        "is not a key: use at least 32 random bytes in hex (`openssl rand -hex 32`)",
                    )
                })
            })
            .transpose()?;

        let (limit, why) = rules.max_body_bytes_limit.unwrap_or((usize::MAX, ""));
        let max_body_bytes = match self.max_body_bytes {
            None => rules.default_max_body_bytes,
            Some(n) if (1..=limit).contains(&n) => n,
            Some(_) if limit == usize::MAX => {
                return Err(SettingsError::invalid(
                    MAX_BODY_BYTES,
                    "is invalid: use a number of bytes of at least 1",
                ))
            }
            Some(_) => {
                return Err(SettingsError::invalid(
                    MAX_BODY_BYTES,
                    format!("is invalid: use a number of bytes from 1 to {limit}{why}"),
                ))
            }
        };
        let archive_url_ttl = secs(
            ARCHIVE_URL_TTL_SECS,
            self.archive_url_ttl_secs,
            1..=MAX_ARCHIVE_URL_TTL_SECS,
            " (7 days, the longest a presigned S3 URL may live)",
        )?;
        let read_cache_ttl = match self.read_cache_ttl_ms {
            None => DEFAULT_READ_CACHE_TTL,
            Some(ms) if ms <= MAX_READ_CACHE_TTL_MS => Duration::from_millis(ms),
            Some(_) => {
                return Err(SettingsError::invalid(
                    READ_CACHE_TTL_MS,
                    format!(
                        "is invalid: use a whole number of milliseconds from 0 (no cache) to {MAX_READ_CACHE_TTL_MS}"
                    ),
                ))
            }
        };
        if self.max_concurrent_uploads == Some(0) {
            return Err(SettingsError::invalid(
                MAX_CONCURRENT_UPLOADS,
                "is invalid: use at least 1",
            ));
        }
        if let Some(dir) = &self.spool_dir {
            if !dir.is_dir() {
                return Err(SettingsError::invalid(
                    SPOOL_DIR,
                    format!(
                        "{} is not a directory: create it, or leave it unset for the system's temporary directory",
                        dir.display()
                    ),
                ));
            }
        }

        let signing_key_given = signing_key.is_some();
        let mut config = RegistryConfig::new(signing_key.unwrap_or_else(SigningKey::generate));
        let limits = ArchiveLimits::new(
            self.max_unpacked_bytes
                .unwrap_or(config.archive_limits.max_unpacked_bytes),
            self.max_archive_entries
                .unwrap_or(config.archive_limits.max_entries),
        );
        let uploads = self
            .max_concurrent_uploads
            .unwrap_or(config.max_concurrent_uploads);
        config = config
            .with_anonymous_reads(self.anonymous_reads)
            .with_max_body_bytes(max_body_bytes)
            .with_archive_limits(limits)
            .with_max_concurrent_uploads(uploads);
        if let Some(ttl) = archive_url_ttl {
            config = config.with_archive_url_ttl(ttl);
        }
        if let Some(dir) = &self.spool_dir {
            config = config.with_spool_dir(dir.clone());
        }
        if let Some(hash) = master {
            config = config.with_master_token_hash(hash);
        }
        Ok(RegistrySettings {
            config,
            signing_key_given,
            read_cache_ttl,
            rules: *rules,
        })
    }
}

impl RegistrySettings {
    /// With [`RegistryRules::shared_signing_key`], refuses a random signing key
    /// when the registry signs archive URLs: for archives in S3 served
    /// through the registry (`s3.serve_through_registry`), or for upstream
    /// archives served through it (GitHub's, unless redirected).
    ///
    /// # Errors
    /// No `--signing-key`, and the registry signs archive URLs.
    pub fn require_shared_signing_key(
        &self,
        s3: &S3Config,
        upstream: &UpstreamSettings,
    ) -> Result<(), SettingsError> {
        if !self.rules.shared_signing_key || self.signing_key_given {
            return Ok(());
        }
        let because = if upstream.archives_through_registry() {
            format!(
                "--{} github ({}=github) serves archives through signed registry URLs",
                MODE.long(),
                MODE.env()
            )
        } else if s3.serve_through_registry {
            format!("{} is on", crate::s3::SERVE_THROUGH_REGISTRY)
        } else {
            return Ok(());
        };
        Err(SettingsError::missing(
            SIGNING_KEY,
            format!(
                "is not set, but {because}: every instance must verify the others' archive URLs, \
                 so set one shared key (`openssl rand -hex 32`)"
            ),
        ))
    }
}

/// The master token's hash; errors never repeat `hex` (it may be the token).
fn parse_token_hash(hex: &str) -> Result<TokenHash, SettingsError> {
    let hash = TokenHash::from_hex(hex.trim()).ok_or_else(|| {
        SettingsError::invalid(
            MASTER_TOKEN_SHA256,
            "is not a SHA-256: it must be 64 hex digits, e.g. the output of \
             `printf %s \"$TOKEN\" | sha256sum`, never the token itself",
        )
    })?;
    if hash == TokenHash::of("") {
        return Err(SettingsError::invalid(
            MASTER_TOKEN_SHA256,
            "is the SHA-256 of an empty string, which no client can send: \
             was the token's variable set when you hashed it?",
        ));
    }
    Ok(hash)
}
