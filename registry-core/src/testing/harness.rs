//! [`TestRegistry`]: a registry on the in-memory stores, and request helpers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde_json::Value;

use crate::archive::detect_format;
use crate::catalogue::CatalogueStore;
use crate::memory::{InMemoryPinStore, InMemoryStorage, InMemoryTokenStore};
use crate::pins::PinStore;
use crate::storage::{Archive, Storage};
use crate::tokens::{Tier, TokenHash, TokenRecord, TokenStore};
use crate::upstream::Upstream;
use crate::upstream_mode::UpstreamMode;
use crate::version::parse_version;
use crate::{ModuleAddress, Registry, RegistryConfig, SigningKey, Version};

/// The master token of every [`TestRegistry`] (unless
/// [`TestRegistryBuilder::master_token`] says otherwise).
pub const MASTER_TOKEN: &str = "tfr_test-master-token-for-tests-only-000000000";

/// Where a [`TestRegistry`]'s clock starts, in seconds since the Unix epoch
/// (2027-01-15T08:00:00Z).
pub const CLOCK_START_SECS: u64 = 1_800_000_000;

/// The signing key of every [`TestRegistry`], so signed URLs are reproducible.
const SIGNING_KEY: [u8; 32] = [42; 32];

/// A [`Registry`] for tests: on the in-memory stores (or the ones given to
/// [`TestRegistry::builder`]), with the master token [`MASTER_TOKEN`], a fixed
/// signing key and a clock that stands still at [`CLOCK_START_SECS`] until
/// [`advance`](Self::advance)d.
///
/// The request helpers act as the master unless they take a token, and
/// answer the registry's `http::Response<Bytes>`; [`json`],
/// [`error_message`] and [`text`] read it. The helpers that return a value
/// ([`download_url`](Self::download_url), [`token`](Self::token), ...) panic
/// with the response when the registry refuses.
///
/// ```
/// use std::time::Duration;
/// use registry_core::testing::{error_message, TestRegistry};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = TestRegistry::builder()
///     .config(|c| c.with_anonymous_reads(true))
///     .build();
/// let r = registry.get_as("/v1/modules/acme/vpc/aws/versions", None).await;
/// assert_eq!(r.status(), 404);
/// assert!(error_message(&r).contains("acme/vpc/aws"));
/// registry.advance(Duration::from_secs(60));
/// # });
/// ```
#[derive(Debug)]
pub struct TestRegistry {
    registry: Arc<Registry>,
    master: String,
    storage: Arc<dyn Storage>,
    tokens: Arc<dyn TokenStore>,
    pins: Arc<dyn PinStore>,
    archive_cache: Option<Arc<dyn Storage>>,
    now: Arc<Mutex<SystemTime>>,
    tokens_made: AtomicUsize,
}

/// Sets up a [`TestRegistry`]: other stores, an upstream, configuration.
#[derive(Debug)]
pub struct TestRegistryBuilder {
    config: RegistryConfig,
    master: String,
    storage: Arc<dyn Storage>,
    tokens: Arc<dyn TokenStore>,
    pins: Arc<dyn PinStore>,
    upstream: Option<Arc<dyn Upstream>>,
    proxy: bool,
    through_registry: bool,
    archive_cache: Option<Arc<dyn Storage>>,
    read_cache: Option<Duration>,
    catalogue: Option<(Arc<dyn CatalogueStore>, Duration)>,
    exchange: Option<crate::exchange::ExchangeConfig>,
    audit: Option<Arc<dyn crate::audit::AuditLog>>,
}

impl Default for TestRegistryBuilder {
    fn default() -> Self {
        let key = SigningKey::from_bytes(SIGNING_KEY).expect("32 bytes");
        Self {
            config: RegistryConfig::new(key).with_master_token_hash(TokenHash::of(MASTER_TOKEN)),
            master: MASTER_TOKEN.to_owned(),
            storage: Arc::new(InMemoryStorage::new()),
            tokens: Arc::new(InMemoryTokenStore::new()),
            pins: Arc::new(InMemoryPinStore::new()),
            upstream: None,
            proxy: false,
            through_registry: false,
            archive_cache: None,
            read_cache: None,
            catalogue: None,
            exchange: None,
            audit: None,
        }
    }
}

impl TestRegistryBuilder {
    /// Changes the configuration, which starts as [`RegistryConfig::new`]
    /// with the test signing key and the master token's hash:
    /// `.config(|c| c.with_anonymous_reads(true))`.
    pub fn config(mut self, change: impl FnOnce(RegistryConfig) -> RegistryConfig) -> Self {
        self.config = change(self.config);
        self
    }

    /// Uses `token` as the master token (e.g. the one recorded requests carry).
    pub fn master_token(mut self, token: &str) -> Self {
        self.master = token.to_owned();
        self.config = self.config.with_master_token_hash(TokenHash::of(token));
        self
    }

    /// The registry's storage, instead of an [`InMemoryStorage`].
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// The registry's token store, instead of an [`InMemoryTokenStore`].
    pub fn tokens(mut self, tokens: Arc<dyn TokenStore>) -> Self {
        self.tokens = tokens;
        self
    }

    /// The pin store, instead of an [`InMemoryPinStore`]. The registry gets it
    /// together with an [`upstream`](Self::upstream): pinning needs both.
    pub fn pins(mut self, pins: Arc<dyn PinStore>) -> Self {
        self.pins = pins;
        self
    }

    /// The upstream to pin from (into the [`pins`](Self::pins) store):
    /// [`UpstreamMode::Pin`](crate::UpstreamMode::Pin) unless
    /// [`proxy`](Self::proxy) is called too. Which modules may be fetched is
    /// the configuration's [`ProxyConfig`](crate::ProxyConfig).
    pub fn upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Also proxies modules with no local version from the
    /// [`upstream`](Self::upstream), redirecting to its archive locations
    /// ([`UpstreamModeBuilder::proxy`](crate::UpstreamModeBuilder::proxy)).
    pub fn proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    /// Proxies with archives served through the registry
    /// ([`UpstreamModeBuilder::archives_through_registry`](crate::UpstreamModeBuilder::archives_through_registry)); implies
    /// [`proxy`](Self::proxy).
    pub fn through_registry(mut self) -> Self {
        self.proxy = true;
        self.through_registry = true;
        self
    }

    /// The archive cache for archives served through the registry
    /// ([`UpstreamModeBuilder::archive_cache`](crate::UpstreamModeBuilder::archive_cache)).
    pub fn archive_cache(mut self, cache: Arc<dyn Storage>) -> Self {
        self.archive_cache = Some(cache);
        self
    }

    /// Puts the storage and token store behind read caches
    /// ([`Registry::with_read_cache`]); [`TestRegistry::storage`] and
    /// [`TestRegistry::tokens`] stay the stores under them.
    pub fn read_cache(mut self, ttl: Duration) -> Self {
        self.read_cache = Some(ttl);
        self
    }

    /// Keeps the catalogue in `store`, reloaded after `ttl`
    /// ([`Registry::with_catalogue`]); share one store between two
    /// harnesses on one storage to test processes that share a backend.
    pub fn catalogue(mut self, store: Arc<dyn CatalogueStore>, ttl: Duration) -> Self {
        self.catalogue = Some((store, ttl));
        self
    }

    /// Turns on the token exchanges `exchange` configures
    /// ([`Registry::with_exchange`]).
    pub fn exchange(mut self, exchange: crate::exchange::ExchangeConfig) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// Records mutating requests in `log` ([`Registry::with_audit_log`]).
    pub fn audit_log(mut self, log: Arc<dyn crate::audit::AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// The registry. Needs no runtime.
    pub fn build(self) -> TestRegistry {
        let now = Arc::new(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(CLOCK_START_SECS),
        ));
        let clock = Arc::clone(&now);
        let mut registry = Registry::new(
            Arc::clone(&self.storage),
            Arc::clone(&self.tokens),
            self.config,
        )
        .with_clock(Arc::new(move || *clock.lock().expect("not poisoned")));
        if let Some(upstream) = self.upstream {
            let mut mode = UpstreamMode::builder(upstream).pins(Arc::clone(&self.pins));
            if self.proxy {
                mode = mode.proxy();
            }
            if self.through_registry {
                mode = mode.archives_through_registry();
            }
            if let Some(cache) = &self.archive_cache {
                mode = mode.archive_cache(Arc::clone(cache));
            }
            let mode = mode
                .build()
                .unwrap_or_else(|e| panic!("TestRegistryBuilder: {e}"));
            registry = registry.with_upstream_mode(mode);
        } else {
            assert!(
                !self.proxy && self.archive_cache.is_none(),
                "TestRegistryBuilder: proxy and archive_cache need an upstream"
            );
        }
        if let Some(ttl) = self.read_cache {
            registry = registry.with_read_cache(ttl);
        }
        if let Some((store, ttl)) = self.catalogue {
            registry = registry.with_catalogue(store, ttl);
        }
        if let Some(exchange) = self.exchange {
            registry = registry.with_exchange(exchange);
        }
        if let Some(log) = self.audit {
            registry = registry.with_audit_log(log);
        }
        TestRegistry {
            registry: Arc::new(registry),
            master: self.master,
            storage: self.storage,
            tokens: self.tokens,
            pins: self.pins,
            archive_cache: self.archive_cache,
            now,
            tokens_made: AtomicUsize::new(0),
        }
    }
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRegistry {
    /// A registry on fresh in-memory stores, with no upstream.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Sets up one with other stores, an upstream or other configuration.
    pub fn builder() -> TestRegistryBuilder {
        TestRegistryBuilder::default()
    }

    /// The registry itself (e.g. for an adapter to serve).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The master token.
    pub fn master_token(&self) -> &str {
        &self.master
    }

    /// The storage the registry was built on (under any read cache): writes
    /// made here directly are another process's writes.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The token store the registry was built on (under any read cache).
    pub fn tokens(&self) -> &Arc<dyn TokenStore> {
        &self.tokens
    }

    /// The pin store (the registry's only when it has an upstream).
    pub fn pins(&self) -> &Arc<dyn PinStore> {
        &self.pins
    }

    /// The archive cache, if one was set.
    pub fn archive_cache(&self) -> Option<&Arc<dyn Storage>> {
        self.archive_cache.as_ref()
    }

    /// What the registry's clock says.
    pub fn now(&self) -> SystemTime {
        *self.now.lock().expect("not poisoned")
    }

    /// Moves the registry's clock forward (signed URLs expire, tokens are
    /// created later).
    pub fn advance(&self, by: Duration) {
        *self.now.lock().expect("not poisoned") += by;
    }

    /// [`Registry::handle`].
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        self.registry.handle(request).await
    }

    /// `method uri` with `Authorization: Bearer <token>` when there is a token.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Response<Bytes> {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(body.into())
            .unwrap_or_else(|e| panic!("request to {uri:?}: {e}"));
        self.handle(request).await
    }

    /// `GET uri` as the master.
    pub async fn get(&self, uri: &str) -> Response<Bytes> {
        self.get_as(uri, Some(&self.master)).await
    }

    /// `GET uri` with `token`, or none (e.g. a signed archive URL, as Terraform fetches it).
    pub async fn get_as(&self, uri: &str, token: Option<&str>) -> Response<Bytes> {
        self.call(Method::GET, uri, token, Bytes::new()).await
    }

    /// `PUT uri` with `body` and `token`, or none.
    pub async fn put(
        &self,
        uri: &str,
        body: impl Into<Bytes>,
        token: Option<&str>,
    ) -> Response<Bytes> {
        self.call(Method::PUT, uri, token, body).await
    }

    /// `POST uri` with `body` as the master.
    pub async fn post(&self, uri: &str, body: impl Into<Bytes>) -> Response<Bytes> {
        self.call(Method::POST, uri, Some(&self.master), body).await
    }

    /// `DELETE uri` as the master.
    pub async fn delete(&self, uri: &str) -> Response<Bytes> {
        self.call(Method::DELETE, uri, Some(&self.master), Bytes::new())
            .await
    }

    /// Publishes `archive` as `version` of `module` (`namespace/name/system`)
    /// as the master: `201` with the stored archive's digest, or the refusal.
    pub async fn publish(
        &self,
        module: &str,
        version: &str,
        archive: impl Into<Bytes>,
    ) -> Response<Bytes> {
        let uri = format!("/v1/modules/{module}/{version}");
        self.put(&uri, archive, Some(&self.master)).await
    }

    /// Pins `version` of `module` from the upstream, as the master.
    pub async fn pin(&self, module: &str, version: &str) -> Response<Bytes> {
        self.post(&format!("/v1/pins/{module}/{version}"), Bytes::new())
            .await
    }

    /// Asks for the download of `version` of `module` as the master.
    pub async fn download(&self, module: &str, version: &str) -> Response<Bytes> {
        self.get(&format!("/v1/modules/{module}/{version}/download"))
            .await
    }

    /// The `X-Terraform-Get` of a download.
    ///
    /// # Panics
    /// Unless the registry answers `204` with one.
    pub async fn download_url(&self, module: &str, version: &str) -> String {
        let r = self.download(module, version).await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "download of {module} {version}: {}",
            text(&r)
        );
        r.headers()["x-terraform-get"]
            .to_str()
            .expect("an ASCII location")
            .to_owned()
    }

    /// The versions listed for `module`, in the registry's order; empty when
    /// it answers `404`.
    ///
    /// # Panics
    /// On any other answer than `200` or `404`.
    pub async fn versions(&self, module: &str) -> Vec<String> {
        let r = self.get(&format!("/v1/modules/{module}/versions")).await;
        if r.status() == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "versions of {module}: {}",
            text(&r)
        );
        json(&r)["modules"][0]["versions"]
            .as_array()
            .expect("a versions array")
            .iter()
            .map(|v| v["version"].as_str().expect("a version string").to_owned())
            .collect()
    }

    /// Creates a token of `tier` through the API, under a fresh name, and
    /// returns its secret.
    ///
    /// # Panics
    /// Unless the registry answers `201`.
    pub async fn token(&self, tier: Tier) -> String {
        let n = self.tokens_made.fetch_add(1, Ordering::Relaxed);
        self.named_token(&format!("test-{tier}-{n}"), tier).await
    }

    /// Creates a token named `name` of `tier` through the API and returns its secret.
    ///
    /// # Panics
    /// Unless the registry answers `201`.
    pub async fn named_token(&self, name: &str, tier: Tier) -> String {
        let body = serde_json::json!({ "name": name, "tier": tier.as_str() }).to_string();
        let r = self.post("/v1/tokens", body).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "token {name}: {}",
            text(&r)
        );
        json(&r)["token"]
            .as_str()
            .expect("a token string")
            .to_owned()
    }

    /// Stores a token with a known `secret` straight into the token store
    /// (a token another process created).
    ///
    /// # Panics
    /// If the store refuses it.
    pub async fn insert_token(&self, name: &str, tier: Tier, secret: &str) {
        let record = TokenRecord {
            name: name.to_owned(),
            tier,
            hash: TokenHash::of(secret),
            created_at: self.now(),
            expires_at: None,
            namespaces: None,
            created_by: None,
        };
        self.tokens
            .create(&record)
            .await
            .unwrap_or_else(|e| panic!("token {name}: {e}"));
    }

    /// Stores `archive` as `version` of `module` straight into the storage,
    /// unchecked (a version another process published).
    ///
    /// # Panics
    /// On an invalid address or version, bytes that are neither `.tar.gz`
    /// nor `.zip`, or if the storage refuses.
    pub async fn insert_version(&self, module: &str, version: &str, archive: impl Into<Bytes>) {
        let bytes = archive.into();
        let format = detect_format(&bytes).expect("a .tar.gz or .zip archive");
        let parsed = parse_version(version).unwrap_or_else(|e| panic!("{e}"));
        self.storage
            .publish(&address(module), &parsed, &Archive::new(format, bytes))
            .await
            .unwrap_or_else(|e| panic!("{module} {version}: {e}"));
    }

    /// The tokens the token store holds, as (name, tier), sorted: compare
    /// them before and after a request to see what it changed.
    ///
    /// # Panics
    /// If the store fails.
    pub async fn stored_tokens(&self) -> Vec<(String, Tier)> {
        let records = self.tokens.list().await.expect("the token store lists");
        let mut tokens: Vec<_> = records.into_iter().map(|r| (r.name, r.tier)).collect();
        tokens.sort();
        tokens
    }

    /// The versions the pin store holds a record of, sorted.
    ///
    /// # Panics
    /// If the store fails.
    pub async fn stored_pins(&self) -> Vec<(ModuleAddress, Version)> {
        let records = self.pins.list().await.expect("the pin store lists");
        let mut pins: Vec<_> = records.into_iter().map(|p| (p.module, p.version)).collect();
        pins.sort();
        pins
    }
}

/// The body as JSON.
///
/// # Panics
/// If it is not JSON.
pub fn json(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(response)))
}

/// The one message of a `{"errors":["..."]}` body.
///
/// # Panics
/// If the body is not such a body with exactly one message.
pub fn error_message(response: &Response<Bytes>) -> String {
    let body = json(response);
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {body}"))
        .to_owned()
}

/// The body as text (lossy UTF-8), for assertion messages.
pub fn text(response: &Response<Bytes>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

/// Parses `namespace/name/system`.
///
/// # Panics
/// If it is not a valid address.
pub(super) fn address(module: &str) -> ModuleAddress {
    let parts: Vec<&str> = module.split('/').collect();
    match parts[..] {
        [namespace, name, system] => ModuleAddress::new(namespace, name, system)
            .unwrap_or_else(|e| panic!("{module:?}: {e}")),
        _ => panic!("{module:?} is not namespace/name/system"),
    }
}
