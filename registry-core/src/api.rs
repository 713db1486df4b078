//! The HTTP API: `Registry::handle(http::Request<Bytes>) -> http::Response<Bytes>`.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response};

use crate::config::RegistryConfig;
use crate::storage::Storage;
use crate::tokens::TokenStore;
use crate::upstream::{NoUpstream, Upstream};

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
}

/// The clock the registry reads (for URL expiry and token creation times).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The Terraform module registry, independent of any server or cloud.
pub struct Registry {
    storage: Arc<dyn Storage>,
    tokens: Arc<dyn TokenStore>,
    upstream: Arc<dyn Upstream>,
    config: RegistryConfig,
    clock: Clock,
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
    /// A registry over `storage` and `tokens`, with no upstream.
    pub fn new(storage: Arc<dyn Storage>, tokens: Arc<dyn TokenStore>, config: RegistryConfig) -> Self {
        Self {
            storage,
            tokens,
            upstream: Arc::new(NoUpstream),
            config,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Sets the upstream consulted for modules that are not stored locally.
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = upstream;
        self
    }

    /// Replaces the system clock (tests of URL expiry).
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
        let _ = error;
        Response::new(Bytes::new())
    }

    /// Answers one request. Never panics on any input; every error is a JSON
    /// body `{"errors":["..."]}`.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let _ = request;
        Response::new(Bytes::new())
    }
}
