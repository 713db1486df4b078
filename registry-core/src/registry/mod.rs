//! The registry and its use cases: typed methods that return domain values
//! and [`RegistryError`], with no HTTP in them. The HTTP API (`crate::api`)
//! is a layer on top.
//!
//! - `modules`: versions, download locations and archives (local or from the upstream);
//! - `publish`: publishing and deleting versions;
//! - `pins`: pinning upstream versions and listing pins;
//! - `tokens`: creating, listing and deleting tokens.

mod catalogued;
mod discovery;
mod error;
pub(crate) mod exchange;
mod modules;
pub use modules::ArchiveHead;
mod pins;
mod proxied_details;
mod publish;
mod tokens;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use catalogued::RESERVED_WORDS;
pub(crate) use discovery::latest_version;
pub use discovery::{ModuleDetails, ModuleFilter, ModulePage, MAX_PAGE_LIMIT};
pub use error::RegistryError;
pub use exchange::{ExchangeFailure, Exchanged, EXPIRED_EXCHANGED_TOKENS_KEPT};
pub use pins::Pinned;
pub use publish::Published;
pub use tokens::{CreatedToken, TokenSpec, MAX_NAMESPACE_PATTERNS};

use crate::catalogue::{Catalogue, CatalogueStore, InMemoryCatalogueStore, DEFAULT_PENDING_GRACE};
use crate::config::RegistryConfig;
use crate::signing::UrlSigner;
use crate::storage::{ArchiveFormat, Sha256Digest, Storage, StorageError};
use crate::tokens::TokenStore;
use crate::upstream_mode::UpstreamMode;
use crate::{ModuleAddress, Version};

/// The prefix of signed archive URLs.
pub(crate) const ARCHIVES_PREFIX: &str = "/v1/archives/";

/// The clock the registry reads (URL expiry, token creation times).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The Terraform module registry, independent of any server or cloud.
///
/// Two ways in: the HTTP API ([`Registry::handle`], or [`Registry::admit`] +
/// [`Registry::respond`] for adapters that stream bodies), and the use cases
/// it is built on, typed methods callable without HTTP from a CLI, a job or
/// an embedding service: [`versions`](Registry::versions),
/// [`download_location`](Registry::download_location),
/// [`archive`](Registry::archive), [`publish`](Registry::publish),
/// [`delete`](Registry::delete), [`pin`](Registry::pin),
/// [`pins`](Registry::pins), [`create_token`](Registry::create_token),
/// [`tokens`](Registry::tokens) and [`delete_token`](Registry::delete_token).
/// They fail with [`RegistryError`]. Use cases do not check tokens: that is
/// the HTTP layer's job, so call them only on behalf of someone allowed to.
///
/// Share it between connections as `Arc<Registry>`; every method takes `&self`.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::sync::Arc;
/// use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
/// use registry_core::{Registry, RegistryConfig, SigningKey};
///
/// let registry = Registry::new(
///     Arc::new(InMemoryStorage::new()),
///     Arc::new(InMemoryTokenStore::new()),
///     RegistryConfig::new(SigningKey::generate()),
/// );
/// let request = http::Request::get("/.well-known/terraform.json")
///     .body(bytes::Bytes::new())
///     .unwrap();
/// let response = registry.handle(request).await;
/// assert_eq!(response.status(), 200);
/// assert_eq!(&response.body()[..], br#"{"modules.v1":"/v1/modules/"}"#);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct Registry {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) upstream: UpstreamMode,
    pub(crate) config: RegistryConfig,
    pub(crate) signer: UrlSigner,
    clock: Clock,
    /// Permits for uploads being validated and stored at once
    /// ([`RegistryConfig::max_concurrent_uploads`]).
    pub(crate) uploads: Arc<tokio::sync::Semaphore>,
    /// The list and search index, kept in step with storage.
    pub(crate) catalogue: Arc<Catalogue>,
    /// Metadata documents decoded once, for the details routes.
    pub(crate) documents: Arc<crate::catalogue::DecodedDocuments>,
    /// The token exchanges that are on.
    pub(crate) exchange: crate::exchange::ExchangeConfig,
    /// Where mutating requests are recorded; `None`: nowhere.
    pub(crate) audit: Option<Arc<dyn crate::audit::AuditLog>>,
    /// When this process last swept expired exchanged tokens (Unix
    /// seconds; 0: never).
    pub(crate) last_token_sweep: std::sync::atomic::AtomicU64,
    /// The readiness check and its last result.
    pub(crate) readiness: crate::health::Readiness,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("storage", &self.storage)
            .field("tokens", &self.tokens)
            .field("upstream", &self.upstream)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `storage` and `tokens`, with no upstream. Every call
    /// to `storage` is reported to the process's [telemetry](crate::telemetry).
    pub fn new(
        storage: Arc<dyn Storage>,
        tokens: Arc<dyn TokenStore>,
        config: RegistryConfig,
    ) -> Self {
        Self {
            storage: Arc::new(crate::telemetry::MeteredStorage::new(storage)),
            tokens,
            upstream: UpstreamMode::Off,
            signer: UrlSigner::new(config.signing_key.clone()),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_uploads.max(1),
            )),
            config,
            clock: Arc::new(SystemTime::now),
            catalogue: Arc::new(Catalogue::new(
                Arc::new(InMemoryCatalogueStore::new()),
                crate::cache::DEFAULT_READ_CACHE_TTL,
                DEFAULT_PENDING_GRACE,
            )),
            documents: Arc::default(),
            exchange: crate::exchange::ExchangeConfig::default(),
            audit: None,
            last_token_sweep: std::sync::atomic::AtomicU64::new(0),
            readiness: crate::health::Readiness::new(crate::health::DEFAULT_READINESS_INTERVAL),
        }
    }

    /// Reuses a readiness result for `interval` (default
    /// [`DEFAULT_READINESS_INTERVAL`](crate::health::DEFAULT_READINESS_INTERVAL)):
    /// the storage is probed at most once per interval, however many
    /// `GET /readyz` arrive.
    pub fn with_readiness_interval(mut self, interval: Duration) -> Self {
        self.readiness = crate::health::Readiness::new(interval);
        self
    }

    /// Whether requests can be served now (see [`crate::health`]): the
    /// last result if younger than the readiness interval, else a fresh
    /// probe of the storage and of the upstream, if there is one.
    pub async fn readiness(&self) -> crate::health::ReadinessReport {
        let upstream = self
            .upstream
            .upstream()
            .map(|u| &**u as &dyn crate::Upstream);
        self.readiness
            .check(&self.storage, upstream, || self.now())
            .await
    }

    /// Turns on the token exchanges `exchange` configures (each is off
    /// until configured).
    pub fn with_exchange(mut self, exchange: crate::exchange::ExchangeConfig) -> Self {
        self.exchange = exchange;
        self
    }

    /// Records every request to a mutating route in `log` (see
    /// [`crate::audit`]), readable with the master token at `GET /v1/audit`.
    pub fn with_audit_log(mut self, log: Arc<dyn crate::audit::AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// Keeps the catalogue (what list and search answer from) in `store`,
    /// shared by every process serving this registry, and reloads it when it
    /// is older than `ttl` (other processes' publishes show within it). The
    /// default is a store in this process's memory, built from storage on
    /// first use: right for one process, blind to others' writes. See
    /// [`Catalogue`] for the protocol.
    pub fn with_catalogue(mut self, store: Arc<dyn CatalogueStore>, ttl: Duration) -> Self {
        self.catalogue = Arc::new(Catalogue::new(store, ttl, DEFAULT_PENDING_GRACE));
        self
    }

    /// Rebuilds the catalogue from storage, replacing the stored snapshot,
    /// after deriving the metadata document of every version that has none:
    /// the backfill for versions published before metadata was kept, and
    /// the cure for a catalogue that disagrees with storage. Lists the whole
    /// store: an operator's command, not a request handler. Answers the
    /// number of modules and of documents derived.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn rebuild_catalogue(&self) -> Result<(usize, usize), RegistryError> {
        let mut derived = 0;
        for module in self.storage.list_modules().await? {
            for version in self.storage.list_versions(&module).await? {
                match self.storage.read_metadata(&module, &version).await {
                    Ok(bytes) if crate::catalogue::VersionDocument::decode(&bytes).is_some() => {}
                    Ok(_) | Err(StorageError::NotFound) => {
                        self.version_document(&module, &version, None).await?;
                        derived += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let modules = self.catalogue.rebuild(&self.storage).await?;
        Ok((modules, derived))
    }

    /// Sets what the registry takes from an upstream registry: nothing (the
    /// default), pins, or proxied modules (see [`UpstreamMode`]). Which
    /// modules it may take is [`RegistryConfig::proxy`]'s lists.
    pub fn with_upstream_mode(mut self, mode: UpstreamMode) -> Self {
        self.upstream = mode;
        self
    }

    /// Puts the registry's own storage and token store behind in-process read
    /// caches kept for `ttl` ([`CachedStorage`](crate::cache::CachedStorage),
    /// [`CachedTokenStore`](crate::cache::CachedTokenStore)): token lookups,
    /// version lists and archive locations then cost a hash-map lookup
    /// instead of a backend read. Writes through this registry are seen at
    /// once; writes by other processes sharing the backend (a deleted token
    /// included) within `ttl`. `Duration::ZERO` leaves the stores as they are.
    /// The archive cache and the pin store of the [`UpstreamMode`] are not wrapped.
    ///
    /// `ttl` is capped at half of [`RegistryConfig::archive_url_ttl`]. URLs this
    /// registry signs are signed afresh for every download; a storage's
    /// presigned URLs, cached with its archive locations, keep at least half
    /// their lifetime if the storage presigns for `archive_url_ttl`, as the
    /// servers in `examples/` configure storage-s3 to.
    pub fn with_read_cache(mut self, ttl: Duration) -> Self {
        let ttl = ttl.min(self.config.archive_url_ttl / 2);
        if !ttl.is_zero() {
            self.storage = Arc::new(crate::cache::CachedStorage::new(self.storage, ttl));
            self.tokens = Arc::new(crate::cache::CachedTokenStore::new(self.tokens, ttl));
        }
        self
    }

    /// Replaces the system clock (for tests of URL expiry).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The largest request body the registry accepts. Adapters stop reading
    /// beyond it and answer with [`Registry::adapter_error`]`(BodyTooLarge { limit })`.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }

    pub(crate) fn unix_now(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// `/v1/archives/...{suffix}?expires=..&signature=..[&checksum=sha256:..]`,
    /// valid for [`RegistryConfig::archive_url_ttl`].
    pub(crate) fn signed_archive_url(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
        sha256: Option<&Sha256Digest>,
    ) -> String {
        let path = format!("{ARCHIVES_PREFIX}{module}/{version}{}", format.suffix());
        let expires = self
            .unix_now()
            .saturating_add(self.config.archive_url_ttl.as_secs());
        let signature = self.signer.sign(&path, expires);
        match sha256 {
            Some(sha) => format!(
                "{path}?expires={expires}&signature={signature}&checksum=sha256:{}",
                sha.to_hex()
            ),
            None => format!("{path}?expires={expires}&signature={signature}"),
        }
    }
}

/// Runs CPU-heavy or blocking work (archive validation, spool files) off the
/// async runtime's worker threads when there is a runtime.
pub(crate) async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RegistryError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(work)
            .await
            .map_err(|e| RegistryError::Storage(StorageError::other("archive validation", e))),
        Err(_) => Ok(work()),
    }
}
