//! Telemetry: what the registry counts and times, for an exporter to turn
//! into metrics (Prometheus text, CloudWatch Embedded Metric Format...).
//!
//! The registry reports events to one process-wide [`Telemetry`], installed
//! once with [`install`] by the binary that composes the registry (like
//! `tracing`'s global subscriber); until then every event goes nowhere, at
//! the cost of a virtual call. The events:
//!
//! | event | reported by |
//! |---|---|
//! | [`request`](Telemetry::request) | the adapter, through [`request_finished`], once per answered request |
//! | [`cache`](Telemetry::cache) | every read [`Cache`](crate::cache::Cache) lookup, and the upstream archive cache |
//! | [`upstream_request`](Telemetry::upstream_request) | the upstream clients, once per HTTP attempt |
//! | [`storage_call`](Telemetry::storage_call) | every call to the registry's [`Storage`] (under its read cache) |
//! | [`uploads_in_flight`](Telemetry::uploads_in_flight) | an upload's admission and its answer |
//! | [`exchange`](Telemetry::exchange) | every `POST /v1/exchange/{oidc,aws}` |
//!
//! Cardinality is bounded by construction: every label an event carries is
//! a `&'static str` chosen by the registry (route templates, cache and
//! operation names) or a number from a small set (status codes), except the
//! upstream's name, which the operator configures. No path, module name,
//! token or query string ever reaches a [`Telemetry`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Response};

use crate::storage::{Archive, ArchiveLocation, Storage, StorageError};
use crate::{AccessInfo, ModuleAddress, Version};

/// One answered request, as [`Telemetry::request`] sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The route template matched, or [`UNMATCHED_ROUTE`](crate::api::UNMATCHED_ROUTE).
    pub route: &'static str,
    /// The method, one of `GET HEAD PUT POST DELETE OPTIONS PATCH`, or `other`.
    pub method: &'static str,
    /// The response's status code.
    pub status: u16,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// From the request's arrival to its answer.
    pub latency: Duration,
}

impl RequestRecord {
    /// A `GET` of `route` answered `200` at once with no body either way
    /// (set the public fields for the rest): for exporters' tests.
    pub fn new(route: &'static str) -> Self {
        Self {
            route,
            method: "GET",
            status: 200,
            bytes_in: 0,
            bytes_out: 0,
            latency: Duration::ZERO,
        }
    }
}

/// What an upstream HTTP attempt ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// The upstream answered with this status.
    Answered(u16),
    /// The attempt timed out.
    Timeout,
    /// The connection failed (refused, reset, TLS...).
    Transport,
}

/// A [`Storage`] method, as [`Telemetry::storage_call`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageOperation {
    /// [`Storage::publish`].
    Publish,
    /// [`Storage::list_versions`].
    ListVersions,
    /// [`Storage::read_archive`].
    ReadArchive,
    /// [`Storage::locate_archive`].
    LocateArchive,
    /// [`Storage::delete_version`].
    DeleteVersion,
    /// [`Storage::write_metadata`].
    WriteMetadata,
    /// [`Storage::read_metadata`].
    ReadMetadata,
    /// [`Storage::list_modules`].
    ListModules,
    /// [`Storage::probe`].
    Probe,
}

impl StorageOperation {
    /// Every operation, for exporters that register their series up front.
    pub const ALL: [Self; 9] = [
        Self::Publish,
        Self::ListVersions,
        Self::ReadArchive,
        Self::LocateArchive,
        Self::DeleteVersion,
        Self::WriteMetadata,
        Self::ReadMetadata,
        Self::ListModules,
        Self::Probe,
    ];

    /// The label: `publish`, `list_versions`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::ListVersions => "list_versions",
            Self::ReadArchive => "read_archive",
            Self::LocateArchive => "locate_archive",
            Self::DeleteVersion => "delete_version",
            Self::WriteMetadata => "write_metadata",
            Self::ReadMetadata => "read_metadata",
            Self::ListModules => "list_modules",
            Self::Probe => "probe",
        }
    }
}

/// Where the registry's events go. Every method has an empty default, so an
/// exporter implements only what it exports. Methods are called on the
/// request path: they must be cheap and never block.
pub trait Telemetry: Send + Sync + std::fmt::Debug {
    /// A request was answered.
    fn request(&self, _request: &RequestRecord) {}

    /// A read cache lookup: `cache` is its name (`versions`,
    /// `archive_locations`, `metadata`, `tokens`, `upstream_archives`);
    /// `hit` is false when this lookup fetched from the backend (a lookup
    /// that joined another's fetch is a hit: it cost the backend nothing).
    fn cache(&self, _cache: &'static str, _hit: bool) {}

    /// One HTTP attempt to the upstream named `upstream` (as configured).
    fn upstream_request(&self, _upstream: &str, _outcome: UpstreamOutcome) {}

    /// A call to the registry's storage, `ok` unless it failed (a "not
    /// found" answer is ok), and how long it took.
    fn storage_call(&self, _operation: StorageOperation, _ok: bool, _latency: Duration) {}

    /// Uploads admitted and not yet answered went up (`+1`) or down (`-1`).
    fn uploads_in_flight(&self, _delta: i64) {}

    /// A token exchange: `method` is `oidc` or `aws`; `outcome` is
    /// `issued`, `invalid` (400), `rejected` (401), `forbidden` (no rule,
    /// 403), `unavailable` (the verifier's peer failed) or `error`.
    fn exchange(&self, _method: &'static str, _outcome: &'static str) {}
}

/// The telemetry that drops every event (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}

static INSTALLED: OnceLock<Arc<dyn Telemetry>> = OnceLock::new();

/// Makes `telemetry` the process's telemetry. Only the first call takes
/// effect: answers `false` (and drops `telemetry`) if one was installed
/// already. Install before serving, so no event is lost.
pub fn install(telemetry: Arc<dyn Telemetry>) -> bool {
    INSTALLED.set(telemetry).is_ok()
}

/// The process's telemetry ([`NoTelemetry`] until [`install`]).
pub fn current() -> &'static dyn Telemetry {
    match INSTALLED.get() {
        Some(telemetry) => telemetry.as_ref(),
        None => &NoTelemetry,
    }
}

/// The method label of `method` (see [`RequestRecord::method`]).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Reports an answered request to the process's telemetry: adapters call it
/// once per request, with the method, the body bytes they read and the time
/// since the request arrived. The route comes from the response's
/// [`AccessInfo`].
pub fn request_finished<B>(
    method: &Method,
    response: &Response<B>,
    bytes_in: u64,
    bytes_out: u64,
    started: Instant,
) {
    let route = response
        .extensions()
        .get::<AccessInfo>()
        .map_or(crate::api::UNMATCHED_ROUTE, |access| access.route);
    current().request(&RequestRecord {
        route,
        method: method_label(method),
        status: response.status().as_u16(),
        bytes_in,
        bytes_out,
        latency: started.elapsed(),
    });
}

/// Counts an upload from its admission to its answer (held by the admitted
/// request).
#[derive(Debug)]
pub(crate) struct UploadInFlight(());

impl UploadInFlight {
    pub(crate) fn start() -> Self {
        current().uploads_in_flight(1);
        Self(())
    }
}

impl Drop for UploadInFlight {
    fn drop(&mut self) {
        current().uploads_in_flight(-1);
    }
}

/// A [`Storage`] whose every call is reported to the process's telemetry
/// ([`Telemetry::storage_call`]), then answered by `inner` unchanged.
/// [`Registry::new`](crate::Registry::new) puts the registry's storage
/// behind one, under the read cache, so cache hits are not storage calls.
#[derive(Debug)]
pub struct MeteredStorage {
    inner: Arc<dyn Storage>,
}

impl MeteredStorage {
    /// Reports the calls to `inner`.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self { inner }
    }
}

/// Times `call` as `operation`; "not found" counts as a success.
async fn timed<T>(
    operation: StorageOperation,
    call: impl std::future::Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let started = Instant::now();
    let result = call.await;
    let ok = matches!(result, Ok(_) | Err(StorageError::NotFound));
    current().storage_call(operation, ok, started.elapsed());
    result
}

#[async_trait]
impl Storage for MeteredStorage {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        timed(
            StorageOperation::Publish,
            self.inner.publish(module, version, archive),
        )
        .await
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        timed(
            StorageOperation::ListVersions,
            self.inner.list_versions(module),
        )
        .await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        timed(
            StorageOperation::ReadArchive,
            self.inner.read_archive(module, version),
        )
        .await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        timed(
            StorageOperation::LocateArchive,
            self.inner.locate_archive(module, version),
        )
        .await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        timed(
            StorageOperation::DeleteVersion,
            self.inner.delete_version(module, version),
        )
        .await
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        timed(
            StorageOperation::WriteMetadata,
            self.inner.write_metadata(module, version, document),
        )
        .await
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        timed(
            StorageOperation::ReadMetadata,
            self.inner.read_metadata(module, version),
        )
        .await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        timed(StorageOperation::ListModules, self.inner.list_modules()).await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        timed(StorageOperation::Probe, self.inner.probe()).await
    }
}
