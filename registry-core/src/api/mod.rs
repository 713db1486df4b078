//! The HTTP API: `Registry::handle(http::Request<Bytes>) -> http::Response<Bytes>`.
//!
//! | route | method | who |
//! |---|---|---|
//! | `/.well-known/terraform.json` | GET | anyone |
//! | `/openapi.json` | GET | anyone |
//! | `/v1/modules/{ns}/{name}/{system}/versions` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}/download` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}` | PUT | uploader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}` | DELETE | master |
//! | `/v1/archives/{ns}/{name}/{system}/{version}.{tar.gz,zip}` | GET | a valid URL signature |
//! | `/v1/tokens` | GET, POST | master |
//! | `/v1/tokens/{name}` | DELETE | master |
//! | `/v1/pins` | GET | master |
//! | `/v1/pins/{ns}/{name}/{system}/{version}` | POST | master |
//!
//! `HEAD` is answered wherever `GET` is. "downloader" routes are open to
//! everyone when [`RegistryConfig::anonymous_reads`] is set. `/openapi.json`
//! is this API's OpenAPI 3 document (`src/api/openapi.json`): every route,
//! method, parameter rule, status and body schema; a test keeps it and the
//! router's route table in step.
//!
//! # Upstream proxy and pinning
//!
//! With an upstream ([`Registry::with_upstream`]) and [`ProxyConfig::enabled`](crate::ProxyConfig::enabled),
//! `versions` and `download` of a module that has **no local version** are
//! answered from the upstream, if [`RegistryConfig::proxy`]'s allow and deny
//! lists permit the module (`403` otherwise). A module with any local version
//! is never mixed with upstream versions: this blocks dependency confusion (an
//! outsider publishing a higher public version under a private module's
//! address).
//!
//! With [`UpstreamArchives::ThroughRegistry`]
//! (e.g. for a GitHub-backed registry, whose clients have no GitHub access),
//! `download` of such a module answers a signed archive URL of this registry
//! instead of the upstream's location, and the archive route fetches the
//! version from the upstream, cuts the module out like a pin and serves it as a
//! flat `.tar.gz`, keeping it in the archive cache
//! ([`Registry::with_archive_cache`]) if there is one.
//!
//! `POST /v1/pins/...` fetches a version from the upstream (the lists apply;
//! [`ProxyConfig::enabled`](crate::ProxyConfig::enabled) does not need to be on), cuts the module out of
//! the archive ([`crate::archive::extract_module`]), publishes it locally
//! and records its origin in the [`PinStore`]. From then on the module is
//! local. Deleting a pinned version forgets its origin too.

mod admission;
mod body;
mod error;
mod router;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use crate::archive::{extract_module, validate_archive, ArchiveError};
use crate::config::RegistryConfig;
use crate::pins::{PinRecord, PinStore};
use crate::proxy::UpstreamArchives;
use crate::signing::UrlSigner;
use crate::storage::{Archive, ArchiveAccess, ArchiveFormat, Sha256Digest, Storage, StorageError};
use crate::tokens::{validate_token_name, NewToken, Tier, TokenRecord, TokenStore};
use crate::upstream::{Upstream, UpstreamError};
use crate::version::{parse_version, sort_versions};
use crate::{ModuleAddress, Version};

#[cfg(test)]
pub(crate) use error::is_transient;
use error::{json, ApiError};
use router::{ARCHIVES_PREFIX, MODULES_PREFIX};

pub use admission::Admitted;
use admission::Call;
use body::BodyContent;
pub use body::{BodySpool, RequestBody};

/// The OpenAPI 3 document of this API, served at `GET /openapi.json`.
const OPENAPI_JSON: &str = include_str!("openapi.json");

/// A failure an adapter meets before it has a whole request to hand over. The
/// registry, not the adapter, decides the status code and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterError {
    /// The body is larger than [`Registry::max_body_bytes`] (`413`).
    BodyTooLarge,
    /// The client was too slow sending the body (`408`).
    BodyReadTimeout,
    /// The body could not be read (connection reset, bad chunking) (`400`).
    BodyReadFailed,
    /// The upload could not be written to its temporary file (disk full,
    /// unwritable spool directory) (`503`).
    BodySpoolFailed,
}

/// The clock the registry reads (URL expiry, token creation times).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The Terraform module registry, independent of any server or cloud.
///
/// Share it between connections as `Arc<Registry>`; `handle` takes `&self`.
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
    storage: Arc<dyn Storage>,
    tokens: Arc<dyn TokenStore>,
    upstream: Option<Arc<dyn Upstream>>,
    pins: Option<Arc<dyn PinStore>>,
    archive_cache: Option<Arc<dyn Storage>>,
    config: RegistryConfig,
    signer: UrlSigner,
    clock: Clock,
    /// Permits for uploads being validated and stored at once
    /// ([`RegistryConfig::max_concurrent_uploads`]).
    uploads: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("storage", &self.storage)
            .field("tokens", &self.tokens)
            .field("upstream", &self.upstream)
            .field("pins", &self.pins)
            .field("archive_cache", &self.archive_cache)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `storage` and `tokens`, with no upstream.
    pub fn new(
        storage: Arc<dyn Storage>,
        tokens: Arc<dyn TokenStore>,
        config: RegistryConfig,
    ) -> Self {
        Self {
            storage,
            tokens,
            upstream: None,
            pins: None,
            archive_cache: None,
            signer: UrlSigner::new(config.signing_key.clone()),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_uploads.max(1),
            )),
            config,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Sets the upstream that modules with no local version are proxied from
    /// (when [`ProxyConfig::enabled`](crate::ProxyConfig::enabled)) and that versions are pinned from.
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Sets where archives served from the upstream through this registry
    /// ([`UpstreamArchives::ThroughRegistry`])
    /// are kept, so that a version is fetched from the upstream once and later
    /// downloads are served from here.
    ///
    /// A separate store from the registry's own: a cached version does not make
    /// its module local (the upstream stays the source of its versions, so new
    /// upstream versions keep appearing), and it is never listed by itself.
    pub fn with_archive_cache(mut self, cache: Arc<dyn Storage>) -> Self {
        self.archive_cache = Some(cache);
        self
    }

    /// Sets where the origins of pinned versions are recorded. Pinning needs
    /// both this and an upstream; without either, the pin routes answer `404`.
    pub fn with_pin_store(mut self, pins: Arc<dyn PinStore>) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Puts the registry's own storage and token store behind in-process read
    /// caches kept for `ttl` ([`CachedStorage`](crate::cache::CachedStorage),
    /// [`CachedTokenStore`](crate::cache::CachedTokenStore)): token lookups,
    /// version lists and archive locations then cost a hash-map lookup
    /// instead of a backend read. Writes through this registry are seen at
    /// once; writes by other processes sharing the backend (a deleted token
    /// included) within `ttl`. `Duration::ZERO` leaves the stores as they are.
    /// The archive cache and the pin store are not wrapped.
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
    /// beyond it and answer with [`Registry::adapter_error`]`(BodyTooLarge)`.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// The response for a failure an adapter met while reading a request.
    pub fn adapter_error(&self, error: AdapterError) -> Response<Bytes> {
        match error {
            AdapterError::BodyTooLarge => ApiError::PayloadTooLarge {
                limit: self.config.max_body_bytes,
            },
            AdapterError::BodyReadTimeout => ApiError::RequestTimeout,
            AdapterError::BodyReadFailed => {
                ApiError::BadRequest("the request body could not be read; send it again".into())
            }
            AdapterError::BodySpoolFailed => ApiError::Storage(StorageError::Unavailable {
                backend: "upload spool",
                message: "the upload could not be written to a temporary file".into(),
            }),
        }
        .into_response()
    }

    /// Answers one request whose body is already in memory: [`admit`](Self::admit),
    /// then [`respond`](Self::respond). The simple entry point for embedders
    /// and tests. Never panics on any input; every error body is JSON
    /// `{"errors":["..."]}`, and 5xx bodies hide internals (they are logged).
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (head, body) = request.into_parts();
        let admitted = match self.admit(head).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        if body.len() > admitted.body_limit() {
            let head_only = admitted.head.method == Method::HEAD;
            return head_response(
                ApiError::PayloadTooLarge {
                    limit: admitted.body_limit(),
                }
                .into_response(),
                head_only,
            );
        }
        self.respond(admitted, RequestBody::from(body)).await
    }

    /// Decides on a request from its head alone, before any of its body is
    /// read: the route (`404`), the method (`405`), the caller's token or the
    /// archive URL's signature (`401`, `403`), the path's module and version
    /// (`400`), and a declared `Content-Length` over the route's limit
    /// (`413`). A refused request is answered with the returned response and
    /// its body must not be read (an adapter closes the connection instead);
    /// an admitted one may carry at most [`Admitted::body_limit`] bytes, read
    /// into [`Registry::body_spool`], then handed to [`Registry::respond`].
    ///
    /// # Errors
    /// The refusal, ready to send (empty for `HEAD`).
    pub async fn admit(&self, head: http::request::Parts) -> Result<Admitted, Response<Bytes>> {
        let head_only = head.method == Method::HEAD;
        self.try_admit(head)
            .await
            .map_err(|e| head_response(e.into_response(), head_only))
    }

    /// Where an adapter that streams bodies reads an admitted request's body:
    /// within its limit, and for uploads spooled to a temporary file past
    /// 256 KiB (see [`BodySpool`]).
    pub fn body_spool(&self, admitted: &Admitted) -> BodySpool {
        BodySpool::new(
            admitted.body_limit(),
            admitted.body_kind,
            self.config.spool_dir.clone(),
        )
    }

    /// Answers an [`Admitted`] request with its body. Never panics; errors
    /// are JSON as for [`handle`](Self::handle).
    pub async fn respond(&self, admitted: Admitted, body: RequestBody) -> Response<Bytes> {
        let head_only = admitted.head.method == Method::HEAD;
        let response = match self.dispatch(admitted, body).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        head_response(response, head_only)
    }

    async fn dispatch(
        &self,
        admitted: Admitted,
        body: RequestBody,
    ) -> Result<Response<Bytes>, ApiError> {
        match admitted.call {
            Call::Discovery => Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "modules.v1": MODULES_PREFIX }),
            )),
            Call::OpenApi => {
                let mut r = Response::new(Bytes::from_static(OPENAPI_JSON.as_bytes()));
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok(r)
            }
            Call::Archive {
                module,
                version,
                format,
                path,
            } => self.archive(&module, &version, format, &path).await,
            Call::Versions(module) => self.versions(&module).await,
            Call::Download(module, version) => self.download(&module, &version).await,
            Call::Publish(module, version) => self.publish(&module, &version, body).await,
            Call::Delete(module, version) => self.delete_version(&module, &version).await,
            Call::ListTokens => self.list_tokens().await,
            Call::CreateToken => match body.into_content() {
                BodyContent::Memory(bytes) => self.create_token(&bytes).await,
                BodyContent::File(_) => Err(ApiError::PayloadTooLarge {
                    limit: admitted.body_limit,
                }),
            },
            Call::DeleteToken(name) => self.delete_token(&name).await,
            Call::ListPins => self.list_pins().await,
            Call::Pin(module, version) => self.pin(&module, &version).await,
        }
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn unix_now(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    async fn versions(&self, module: &ModuleAddress) -> Result<Response<Bytes>, ApiError> {
        let mut versions = self.storage.list_versions(module).await?;
        if versions.is_empty() {
            // A module with any local version is never mixed with upstream ones.
            let not_found = || format!("module {module} not found in this registry");
            versions = self
                .proxy_for(module, not_found)?
                .list_versions(module)
                .await
                .map_err(|e| not_found_as(e, not_found))?;
        }
        sort_versions(&mut versions);
        Ok(json(
            StatusCode::OK,
            &VersionsBody {
                modules: [ModuleVersions {
                    source: module,
                    versions: versions
                        .iter()
                        .map(|version| VersionEntry { version })
                        .collect(),
                }],
            },
        ))
    }

    async fn download(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Response<Bytes>, ApiError> {
        let location = match self.storage.locate_archive(module, version).await {
            Ok(location) => location,
            Err(StorageError::NotFound) => {
                if !self.storage.list_versions(module).await?.is_empty() {
                    return Err(ApiError::NotFound(format!(
                        "module {module} has no version {version} in this registry"
                    )));
                }
                return self.upstream_download(module, version).await;
            }
            Err(e) => return Err(e.into()),
        };
        let url = match location.access {
            ArchiveAccess::Presigned { url } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!(
                    "{url}{sep}checksum=sha256:{}",
                    location.info.sha256.to_hex()
                )
            }
            ArchiveAccess::ThroughRegistry => self.signed_archive_url(
                module,
                version,
                location.info.format,
                Some(&location.info.sha256),
            ),
        };
        Ok(terraform_get(&url))
    }

    /// `download` of a module with no local version: the upstream's location,
    /// or with [`UpstreamArchives::ThroughRegistry`] a signed URL of this
    /// registry's archive route (with the checksum once the archive cache has it).
    async fn upstream_download(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Response<Bytes>, ApiError> {
        let not_found = || format!("module {module} version {version} not found in this registry");
        let upstream = self.proxy_for(module, not_found)?;
        if self.config.proxy.archives == UpstreamArchives::Redirect {
            let url = upstream
                .download_location(module, version)
                .await
                .map_err(|e| not_found_as(e, not_found))?;
            return Ok(terraform_get(&url));
        }
        if let Some(cache) = &self.archive_cache {
            match cache.locate_archive(module, version).await {
                Ok(cached) => {
                    let url = self.signed_archive_url(
                        module,
                        version,
                        cached.info.format,
                        Some(&cached.info.sha256),
                    );
                    return Ok(terraform_get(&url));
                }
                Err(StorageError::NotFound) => {}
                // The upstream can still serve it.
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "archive cache lookup failed")
                }
            }
        }
        let versions = upstream
            .list_versions(module)
            .await
            .map_err(|e| not_found_as(e, not_found))?;
        if !versions.contains(version) {
            return Err(ApiError::NotFound(not_found()));
        }
        let url = self.signed_archive_url(module, version, ArchiveFormat::TarGz, None);
        Ok(terraform_get(&url))
    }

    /// `/v1/archives/...{suffix}?expires=..&signature=..[&checksum=sha256:..]`,
    /// valid for [`RegistryConfig::archive_url_ttl`].
    fn signed_archive_url(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
        sha256: Option<&Sha256Digest>,
    ) -> String {
        let path = archive_path(module, version, format);
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

    /// A signed archive URL (verified at admission): the stored archive, or
    /// one served from the upstream through this registry.
    async fn archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
        path: &str,
    ) -> Result<Response<Bytes>, ApiError> {
        let (module, version) = (module.clone(), version.clone());
        let not_found = || ApiError::NotFound(format!("no archive at {path}"));
        let archive = match self.storage.read_archive(&module, &version).await {
            Err(StorageError::NotFound) => {
                return self
                    .upstream_archive(&module, &version, format)
                    .await?
                    .map(|archive| archive_response(&archive))
                    .ok_or_else(not_found);
            }
            other => other?,
        };
        if archive.info().format != format {
            return Err(not_found());
        }
        Ok(archive_response(&archive))
    }

    /// The archive route for a version that is not in storage: with
    /// [`UpstreamArchives::ThroughRegistry`], from the archive cache, else
    /// fetched from the upstream, cut out like a pin and written to the cache.
    /// `None` when the registry does not serve this module from its upstream.
    async fn upstream_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
    ) -> Result<Option<Archive>, ApiError> {
        let proxy = &self.config.proxy;
        let Some(upstream) = self
            .upstream
            .as_ref()
            .filter(|_| proxy.enabled && proxy.archives == UpstreamArchives::ThroughRegistry)
        else {
            return Ok(None);
        };
        // The URL was signed when the rules allowed it; they may have changed since.
        if proxy.check(module).is_err() || !self.storage.list_versions(module).await?.is_empty() {
            return Ok(None);
        }
        if let Some(cache) = &self.archive_cache {
            match cache.read_archive(module, version).await {
                Ok(archive) => return Ok(Some(archive).filter(|a| a.info().format == format)),
                Err(StorageError::NotFound) => {}
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "archive cache read failed")
                }
            }
        }
        let fetched = upstream
            .fetch_archive(module, version)
            .await
            .map_err(|e| match e {
                UpstreamError::NotFound { upstream } => ApiError::NotFound(format!(
                    "{upstream} has no module {module} version {version}"
                )),
                other => ApiError::Upstream(other),
            })?;
        let limits = self.config.archive_limits;
        let (bytes, strip, subdir) = (
            fetched.bytes.clone(),
            fetched.strip_top_dir,
            fetched.subdir.clone(),
        );
        let archive = off_runtime(move || extract_module(bytes, strip, subdir.as_deref(), &limits))
            .await?
            .map_err(|e| {
                tracing::error!(%module, %version, upstream = %fetched.upstream, source = %fetched.source, error = %e, "the upstream's archive is not a valid module");
                ApiError::BadGateway(format!(
                    "the archive {} serves for module {module} version {version} is not a valid module: {e}",
                    fetched.upstream
                ))
            })?;
        if archive.info().format != format {
            return Err(ApiError::BadGateway(format!(
                "{} serves module {module} version {version} as a {} archive, which this registry only proxies through its own URLs as .tar.gz; pin the version instead (POST /v1/pins/{module}/{version} with the master token), which stores it as it is",
                fetched.upstream,
                archive.info().format.suffix()
            )));
        }
        if let Some(cache) = &self.archive_cache {
            match cache.publish(module, version, &archive).await {
                Ok(()) => {
                    tracing::info!(%module, %version, sha256 = %archive.info().sha256, "cached from the upstream")
                }
                // A concurrent download cached it first.
                Err(StorageError::AlreadyExists) => {}
                Err(e) => tracing::warn!(%module, %version, error = %e, "archive not cached"),
            }
        }
        Ok(Some(archive))
    }

    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        body: RequestBody,
    ) -> Result<Response<Bytes>, ApiError> {
        if body.len() > self.config.max_body_bytes as u64 {
            return Err(ApiError::PayloadTooLarge {
                limit: self.config.max_body_bytes,
            });
        }
        if body.is_empty() {
            return Err(ApiError::BadRequest(
                "the request body is empty: send the module as a .tar.gz or .zip archive (e.g. `curl --upload-file module.tar.gz`)".into(),
            ));
        }
        // Validation reads and decompresses the whole archive: a bounded number
        // at once, the others wait here (their bodies are already spooled).
        let _permit = self
            .uploads
            .acquire()
            .await
            .map_err(|e| ApiError::Storage(StorageError::other("upload queue", e)))?;
        let archive = self.validate(body).await?;
        match self.storage.publish(module, version, &archive).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => {
                // Say whether it holds these very bytes, so a client whose earlier
                // publish succeeded without it seeing the answer can tell.
                let stored = self
                    .storage
                    .locate_archive(module, version)
                    .await
                    .ok()
                    .map(|l| l.info.sha256);
                let same = stored == Some(archive.info().sha256);
                return Err(ApiError::Conflict(match stored {
                    Some(sha) if same => format!(
                        "module {module} version {version} already exists with exactly this content (sha256 {}): an earlier publish of it succeeded; nothing to do",
                        sha.to_hex()
                    ),
                    Some(sha) => format!(
                        "module {module} version {version} already exists with other content (sha256 {}); published versions are immutable, so publish a new version",
                        sha.to_hex()
                    ),
                    None => format!(
                        "module {module} version {version} already exists; published versions are immutable, so publish a new version"
                    ),
                }));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(%module, %version, sha256 = %archive.info().sha256, size = archive.info().size, "published");
        Ok(json(
            StatusCode::CREATED,
            &serde_json::json!({
                "namespace": module.namespace(),
                "name": module.name(),
                "system": module.system(),
                "version": version.to_string(),
                "sha256": archive.info().sha256.to_hex(),
                "size": archive.info().size,
            }),
        ))
    }

    /// Validates an upload off the async runtime's worker threads: in memory,
    /// or from its spool file (bounded memory).
    async fn validate(&self, body: RequestBody) -> Result<Archive, ApiError> {
        let limits = self.config.archive_limits;
        let spool_dir = self
            .config
            .spool_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let result = match body.into_content() {
            BodyContent::Memory(bytes) => {
                off_runtime(move || validate_archive(bytes, &limits)).await?
            }
            BodyContent::File(path) => {
                off_runtime(move || validate_archive_file(path, &limits, &spool_dir))
                    .await?
                    .map_err(|e| {
                        tracing::warn!(error = %e, "spooled upload could not be validated");
                        ApiError::Storage(StorageError::Unavailable {
                            backend: "upload spool",
                            message: e.to_string(),
                        })
                    })?
            }
        };
        result.map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Response<Bytes>, ApiError> {
        match self.storage.delete_version(module, version).await {
            Ok(()) => {
                tracing::info!(%module, %version, "deleted");
                if let Some(pins) = &self.pins {
                    match pins.delete(module, version).await {
                        Ok(()) => tracing::info!(%module, %version, "pin record deleted"),
                        Err(StorageError::NotFound) => {}
                        // The version is gone; a stale record only shows in the listing.
                        Err(e) => {
                            tracing::warn!(%module, %version, error = %e, "pin record not deleted")
                        }
                    }
                }
                Ok(no_content())
            }
            Err(StorageError::NotFound) => Err(ApiError::NotFound(format!(
                "module {module} has no version {version} in this registry"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The upstream to proxy `module` from, if proxying is on and the rules
    /// allow it; `not_found` words the 404 when there is nothing to proxy from.
    fn proxy_for(
        &self,
        module: &ModuleAddress,
        not_found: impl FnOnce() -> String,
    ) -> Result<&dyn Upstream, ApiError> {
        let upstream = match &self.upstream {
            Some(u) if self.config.proxy.enabled => u,
            _ => return Err(ApiError::NotFound(not_found())),
        };
        self.config.proxy.check(module).map_err(|refusal| {
            ApiError::Forbidden(format!(
                "module {module} is not in this registry and is not proxied from its upstream: {refusal}; ask the registry's operator"
            ))
        })?;
        Ok(upstream.as_ref())
    }

    async fn pin(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Response<Bytes>, ApiError> {
        let (Some(upstream), Some(pins)) = (&self.upstream, &self.pins) else {
            return Err(ApiError::NotFound(
                "pinning is off: this registry was started without an upstream registry to pin from".into(),
            ));
        };
        self.config.proxy.check(module).map_err(|refusal| {
            ApiError::Forbidden(format!("module {module} cannot be pinned: {refusal}"))
        })?;
        match self.storage.locate_archive(module, version).await {
            Ok(_) => return Err(already_local(module, version)),
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let fetched = upstream
            .fetch_archive(module, version)
            .await
            .map_err(|e| match e {
                UpstreamError::NotFound { upstream } => ApiError::NotFound(format!(
                    "{upstream} has no module {module} version {version}"
                )),
                other => ApiError::Upstream(other),
            })?;
        let limits = self.config.archive_limits;
        let (bytes, strip, subdir) = (
            fetched.bytes.clone(),
            fetched.strip_top_dir,
            fetched.subdir.clone(),
        );
        let archive = off_runtime(move || extract_module(bytes, strip, subdir.as_deref(), &limits))
            .await?
            .map_err(|e: ArchiveError| {
                ApiError::Unprocessable(format!(
                    "the archive {} serves for module {module} version {version} (from {}) cannot be stored: {e}",
                    fetched.upstream, fetched.source
                ))
            })?;
        match self.storage.publish(module, version, &archive).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => return Err(already_local(module, version)),
            Err(e) => return Err(e.into()),
        }
        let record = PinRecord::new(
            module.clone(),
            version.clone(),
            fetched.upstream,
            fetched.source,
            fetched.git_ref,
            archive.info().sha256,
            self.now(),
        );
        // The version is published; if recording its origin fails, the caller
        // gets the storage error and the version stays (re-pinning says 409).
        pins.put(&record).await?;
        tracing::info!(%module, %version, upstream = %record.upstream, source = %record.source, sha256 = %record.sha256, "pinned");
        let mut body = pin_json(&record);
        body["size"] = archive.info().size.into();
        Ok(json(StatusCode::CREATED, &body))
    }

    async fn list_pins(&self) -> Result<Response<Bytes>, ApiError> {
        let mut records = match &self.pins {
            Some(pins) => pins.list().await?,
            None => Vec::new(),
        };
        records.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
        let list: Vec<_> = records.iter().map(pin_json).collect();
        Ok(json(StatusCode::OK, &serde_json::json!({ "pins": list })))
    }

    async fn create_token(&self, body: &Bytes) -> Result<Response<Bytes>, ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct CreateToken {
            name: String,
            tier: String,
        }
        let request: CreateToken = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "invalid JSON body ({e}); send {{\"name\":\"ci\",\"tier\":\"uploader\"}} with tier \"uploader\" or \"downloader\""
            ))
        })?;
        validate_token_name(&request.name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let tier = match Tier::parse(&request.tier) {
            Some(t @ (Tier::Uploader | Tier::Downloader)) => t,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid tier {:?}: use \"uploader\" or \"downloader\" (the master token comes from the server's configuration)",
                    request.tier
                )))
            }
        };
        let token = NewToken::generate();
        let created_at = UNIX_EPOCH + Duration::from_secs(self.unix_now());
        let record = TokenRecord {
            name: request.name,
            tier,
            hash: token.hash(),
            created_at,
        };
        match self.tokens.create(&record).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => {
                return Err(ApiError::Conflict(format!(
                "a token named {:?} already exists; pick another name or delete that token first",
                record.name
            )))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(name = %record.name, %tier, "token created");
        let mut r = json(
            StatusCode::CREATED,
            &serde_json::json!({
                "name": record.name,
                "tier": tier,
                "token": token.expose_secret(),
                "created_at": rfc3339(created_at),
            }),
        );
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(r)
    }

    async fn list_tokens(&self) -> Result<Response<Bytes>, ApiError> {
        let mut records = self.tokens.list().await?;
        records.sort_by(|a, b| a.name.cmp(&b.name));
        let list: Vec<_> = records
            .iter()
            .map(|r| serde_json::json!({ "name": r.name, "tier": r.tier, "created_at": rfc3339(r.created_at) }))
            .collect();
        Ok(json(StatusCode::OK, &serde_json::json!({ "tokens": list })))
    }

    async fn delete_token(&self, name: &str) -> Result<Response<Bytes>, ApiError> {
        validate_token_name(name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        match self.tokens.delete(name).await {
            Ok(()) => {
                tracing::info!(name, "token deleted");
                Ok(no_content())
            }
            Err(StorageError::NotFound) => {
                Err(ApiError::NotFound(format!("no token named {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `GET .../versions`: `{"modules":[{"source":"ns/name/system","versions":[{"version":"1.0.0"}]}]}`.
#[derive(serde::Serialize)]
struct VersionsBody<'a> {
    modules: [ModuleVersions<'a>; 1],
}

#[derive(serde::Serialize)]
struct ModuleVersions<'a> {
    #[serde(serialize_with = "as_display")]
    source: &'a ModuleAddress,
    versions: Vec<VersionEntry<'a>>,
}

#[derive(serde::Serialize)]
struct VersionEntry<'a> {
    #[serde(serialize_with = "as_display")]
    version: &'a Version,
}

/// Serializes a value as the string its `Display` writes, without an
/// intermediate `String`.
fn as_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Runs CPU-heavy archive work off the async runtime's worker threads when
/// there is a runtime.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Storage(StorageError::other("archive validation", e))),
        Err(_) => Ok(work()),
    }
}

fn already_local(module: &ModuleAddress, version: &Version) -> ApiError {
    ApiError::Conflict(format!(
        "module {module} version {version} already exists in this registry; delete it first to pin it again"
    ))
}

fn pin_json(p: &PinRecord) -> serde_json::Value {
    serde_json::json!({
        "namespace": p.module.namespace(),
        "name": p.module.name(),
        "system": p.module.system(),
        "version": p.version.to_string(),
        "upstream": p.upstream,
        "source": p.source,
        "ref": p.git_ref,
        "sha256": p.sha256.to_hex(),
        "pinned_at": rfc3339(p.pinned_at),
    })
}

fn parse_module([ns, name, system]: &[String; 3]) -> Result<ModuleAddress, ApiError> {
    ModuleAddress::new(ns.as_str(), name.as_str(), system.as_str())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The longest version the API takes. Storage puts a version in file names, with
/// the module's name and system (up to 64 characters each): at most 100 keeps
/// those within the usual 255-byte limit (a longer one failed there with a 500).
const MAX_VERSION_LEN: usize = 100;

fn parse_ver(s: &str) -> Result<Version, ApiError> {
    if s.len() > MAX_VERSION_LEN {
        return Err(ApiError::BadRequest(format!(
            "invalid version: it is {} characters long; this registry takes versions of at most {MAX_VERSION_LEN}",
            s.len()
        )));
    }
    parse_version(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Upstream "not found" becomes a 404 with the registry's own wording.
fn not_found_as(e: UpstreamError, message: impl FnOnce() -> String) -> ApiError {
    match e {
        UpstreamError::NotFound { .. } => ApiError::NotFound(message()),
        other => ApiError::Upstream(other),
    }
}

/// The path of a version's signed archive URL.
fn archive_path(module: &ModuleAddress, version: &Version, format: ArchiveFormat) -> String {
    format!("{ARCHIVES_PREFIX}{module}/{version}{}", format.suffix())
}

/// `200` with the archive, its content type, and its SHA-256 as the `ETag`.
fn archive_response(archive: &Archive) -> Response<Bytes> {
    // Archives served here come from `read_archive` or an upstream, in memory.
    let bytes = match archive.to_bytes() {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::Storage(StorageError::other("archive", e)).into_response(),
    };
    let mut r = Response::new(bytes);
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(archive.info().format.content_type()),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300, immutable"),
    );
    if let Ok(etag) =
        HeaderValue::from_str(&format!("\"sha256:{}\"", archive.info().sha256.to_hex()))
    {
        h.insert(ETAG, etag);
    }
    r
}

fn terraform_get(url: &str) -> Response<Bytes> {
    let mut r = no_content();
    match HeaderValue::from_str(url) {
        Ok(v) => {
            r.headers_mut().insert("x-terraform-get", v);
            r
        }
        Err(_) => {
            tracing::error!("download location is not a valid header value");
            ApiError::Storage(StorageError::other("download", "invalid download location"))
                .into_response()
        }
    }
}

/// A `HEAD` answer is the `GET` answer without its body (and with its length).
fn head_response(mut response: Response<Bytes>, head_only: bool) -> Response<Bytes> {
    if head_only {
        let len = response.body().len();
        *response.body_mut() = Bytes::new();
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

fn no_content() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Stand-in until `archive::validate_archive_file` (streaming) lands: reads the
/// spooled upload back into memory.
fn validate_archive_file(
    path: tempfile::TempPath,
    limits: &crate::ArchiveLimits,
    _spool_dir: &std::path::Path,
) -> std::io::Result<Result<Archive, ArchiveError>> {
    let bytes = std::fs::read(&path)?;
    Ok(validate_archive(Bytes::from(bytes), limits))
}
