//! Registry configuration: plain data, read by the binaries in `examples/`.

use std::fmt;
use std::time::Duration;

use rand::RngCore as _;

use crate::archive::ArchiveLimits;
use crate::proxy::ProxyConfig;
use crate::tokens::TokenHash;

/// The server's secret for signing archive URLs (HMAC-SHA256). `Debug` hides it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

/// A signing key shorter than 32 bytes was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the archive URL signing key must be at least 32 bytes; generate one with `openssl rand -hex 32`")]
pub struct WeakSigningKey;

impl SigningKey {
    /// Uses `bytes` as the key.
    ///
    /// # Errors
    /// [`WeakSigningKey`] if it is shorter than 32 bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakSigningKey> {
        let bytes = bytes.into();
        if bytes.len() < 32 {
            return Err(WeakSigningKey);
        }
        Ok(Self(bytes))
    }

    /// Parses a key written as hex (surrounding whitespace ignored), e.g. from
    /// `openssl rand -hex 32`. `None` if it is not hex or shorter than 32 bytes.
    ///
    /// ```
    /// use registry_core::SigningKey;
    /// assert!(SigningKey::from_hex(&"ab".repeat(32)).is_some());
    /// assert!(SigningKey::from_hex(&"ab".repeat(31)).is_none());
    /// assert!(SigningKey::from_hex("not hex").is_none());
    /// ```
    pub fn from_hex(s: &str) -> Option<Self> {
        hex::decode(s.trim())
            .ok()
            .and_then(|raw| Self::from_bytes(raw).ok())
    }

    /// 32 random bytes from the OS RNG. URLs signed with it die with the process,
    /// so persist a key (as the local server does) when URLs must survive restarts
    /// or several replicas serve one registry.
    pub fn generate() -> Self {
        let mut raw = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self(raw)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Everything `Registry` can be configured with. Start from
/// [`RegistryConfig::new`] and change what you need.
///
/// ```
/// use registry_core::{RegistryConfig, SigningKey, TokenHash};
/// let config = RegistryConfig::new(SigningKey::generate())
///     .with_master_token_hash(TokenHash::of("tfr_example"))
///     .with_anonymous_reads(true);
/// assert_eq!(config.archive_url_ttl.as_secs(), 300);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Key for archive URL signatures.
    pub signing_key: SigningKey,
    /// How long a signed archive URL stays valid. Default 300 s.
    pub archive_url_ttl: Duration,
    /// Largest request body accepted, in bytes; larger gets `413`. Default 50 MiB.
    pub max_body_bytes: usize,
    /// Limits on what an uploaded archive may expand to.
    pub archive_limits: ArchiveLimits,
    /// Let requests without a token list versions and download. Default off.
    pub anonymous_reads: bool,
    /// SHA-256 of the master token. Without it no request has master rights
    /// (no token management, no deletes).
    pub master_token_hash: Option<TokenHash>,
    /// Which modules may be fetched from the upstream, whatever the
    /// [`UpstreamMode`](crate::UpstreamMode). Default: empty lists (all).
    pub proxy: ProxyConfig,
    /// How many uploads (publishes) are validated and stored at once; more
    /// wait their turn. Validation reads and decompresses the whole archive, so
    /// this bounds the CPU and disk work of uploads, while each upload's memory
    /// stays bounded by streaming (bodies past a few hundred KiB are spooled to
    /// [`RegistryConfig::spool_dir`]). Default 4; at least 1.
    pub max_concurrent_uploads: usize,
    /// Where upload bodies and rebuilt archives past the in-memory threshold
    /// are written as temporary files (removed when done). `None`: the
    /// system's temporary directory. Default `None`.
    pub spool_dir: Option<std::path::PathBuf>,
    /// Bounds on reading a published module's README, inputs, outputs and
    /// the rest ([`module_metadata::extract`]): a module past them is still
    /// published, with warnings. Default [`ExtractionLimits::default`](module_metadata::ExtractionLimits::default).
    pub metadata_limits: module_metadata::ExtractionLimits,
}

impl RegistryConfig {
    /// Defaults: URLs live 300 s, bodies up to 50 MiB, archives up to 100 MiB /
    /// 10,000 entries unpacked, no anonymous reads, no master token, no proxying.
    pub fn new(signing_key: SigningKey) -> Self {
        Self {
            signing_key,
            archive_url_ttl: Duration::from_secs(300),
            max_body_bytes: 50 * 1024 * 1024,
            archive_limits: ArchiveLimits::default(),
            anonymous_reads: false,
            master_token_hash: None,
            proxy: ProxyConfig::default(),
            max_concurrent_uploads: 4,
            spool_dir: None,
            metadata_limits: module_metadata::ExtractionLimits::default(),
        }
    }

    /// Sets [`RegistryConfig::master_token_hash`].
    pub fn with_master_token_hash(mut self, hash: TokenHash) -> Self {
        self.master_token_hash = Some(hash);
        self
    }

    /// Sets [`RegistryConfig::proxy`].
    pub fn with_proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Sets [`RegistryConfig::anonymous_reads`].
    pub fn with_anonymous_reads(mut self, yes: bool) -> Self {
        self.anonymous_reads = yes;
        self
    }

    /// Sets [`RegistryConfig::archive_url_ttl`].
    pub fn with_archive_url_ttl(mut self, ttl: Duration) -> Self {
        self.archive_url_ttl = ttl;
        self
    }

    /// Sets [`RegistryConfig::max_body_bytes`].
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`RegistryConfig::max_concurrent_uploads`] (0 is taken as 1).
    pub fn with_max_concurrent_uploads(mut self, uploads: usize) -> Self {
        self.max_concurrent_uploads = uploads.max(1);
        self
    }

    /// Sets [`RegistryConfig::spool_dir`].
    pub fn with_spool_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Sets [`RegistryConfig::metadata_limits`].
    pub fn with_metadata_limits(mut self, limits: module_metadata::ExtractionLimits) -> Self {
        self.metadata_limits = limits;
        self
    }

    /// Sets [`RegistryConfig::archive_limits`].
    pub fn with_archive_limits(mut self, limits: ArchiveLimits) -> Self {
        self.archive_limits = limits;
        self
    }
}
