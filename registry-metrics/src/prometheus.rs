//! The registry's telemetry as Prometheus metrics.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use registry_core::telemetry::{RequestRecord, StorageOperation, Telemetry, UpstreamOutcome};

/// The `Content-Type` of [`PrometheusTelemetry::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Latency bucket bounds in seconds, 100 µs to 10 s: registry answers from
/// memory take well under a millisecond, storage and upstream calls up to
/// seconds.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
    outcome: &'static str,
    /// The status answered, or `none` (timeout, transport failure).
    status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StorageLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExchangeLabels {
    method: &'static str,
    outcome: &'static str,
}

/// Makes latency histograms with [`LATENCY_BUCKETS`].
#[derive(Debug, Clone, Copy)]
struct LatencyHistogram;

impl MetricConstructor<Histogram> for LatencyHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

/// The registry's [`Telemetry`] kept as Prometheus metrics, rendered in
/// the Prometheus text format (0.0.4) by [`render`](Self::render):
///
/// | metric | type | labels |
/// |---|---|---|
/// | `tfr_http_requests_total` | counter | `route` (template), `method`, `status` |
/// | `tfr_http_request_duration_seconds` | histogram | `route` |
/// | `tfr_http_request_body_bytes_total` | counter | `route` |
/// | `tfr_http_response_body_bytes_total` | counter | `route` |
/// | `tfr_cache_lookups_total` | counter | `cache`, `result` (`hit`, `miss`) |
/// | `tfr_upstream_requests_total` | counter | `upstream`, `outcome` (`answered`, `timeout`, `transport`), `status` (or `none`) |
/// | `tfr_storage_operations_total` | counter | `operation`, `outcome` (`ok`, `error`) |
/// | `tfr_storage_operation_duration_seconds` | histogram | `operation` |
/// | `tfr_uploads_in_flight` | gauge | |
/// | `tfr_token_exchanges_total` | counter | `method` (`oidc`, `aws`), `outcome` |
///
/// Latency buckets run from 100 µs to 10 s. Label values come from
/// registry-core's bounded sets (see [`registry_core::telemetry`]), so the
/// number of series is bounded whatever clients send.
pub struct PrometheusTelemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram, LatencyHistogram>,
    request_bytes: Family<RouteLabels, Counter>,
    response_bytes: Family<RouteLabels, Counter>,
    cache_lookups: Family<CacheLabels, Counter>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    storage_operations: Family<StorageLabels, Counter>,
    storage_duration: Family<OperationLabels, Histogram, LatencyHistogram>,
    uploads_in_flight: Gauge,
    exchanges: Family<ExchangeLabels, Counter>,
}

impl fmt::Debug for PrometheusTelemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusTelemetry")
            .finish_non_exhaustive()
    }
}

impl Default for PrometheusTelemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusTelemetry {
    /// Every metric, at zero.
    pub fn new() -> Self {
        let mut telemetry = Self {
            registry: Registry::with_prefix("tfr"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(LatencyHistogram),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            cache_lookups: Family::default(),
            upstream_requests: Family::default(),
            storage_operations: Family::default(),
            storage_duration: Family::new_with_constructor(LatencyHistogram),
            uploads_in_flight: Gauge::default(),
            exchanges: Family::default(),
        };
        telemetry.register();
        telemetry
    }

    /// The metrics in the Prometheus text format (see [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

impl PrometheusTelemetry {
    /// Registers every family with `self.registry`, once.
    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer, by route template",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register_with_unit(
            "http_request_body",
            "Request body bytes read, by route template",
            Unit::Bytes,
            self.request_bytes.clone(),
        );
        registry.register_with_unit(
            "http_response_body",
            "Response body bytes sent, by route template",
            Unit::Bytes,
            self.response_bytes.clone(),
        );
        registry.register(
            "cache_lookups",
            "Read cache lookups, by cache and result (a miss fetched from the backend)",
            self.cache_lookups.clone(),
        );
        registry.register(
            "upstream_requests",
            "HTTP attempts to an upstream, by upstream, outcome and status",
            self.upstream_requests.clone(),
        );
        registry.register(
            "storage_operations",
            "Calls to the registry's storage, by operation and outcome (not found is ok)",
            self.storage_operations.clone(),
        );
        registry.register_with_unit(
            "storage_operation_duration",
            "Time a storage call took, by operation",
            Unit::Seconds,
            self.storage_duration.clone(),
        );
        registry.register(
            "uploads_in_flight",
            "Uploads admitted and not yet answered",
            self.uploads_in_flight.clone(),
        );
        registry.register(
            "token_exchanges",
            "Token exchanges, by method and outcome",
            self.exchanges.clone(),
        );
    }
}

impl Telemetry for PrometheusTelemetry {
    fn request(&self, request: &RequestRecord) {
        let route = RouteLabels {
            route: request.route,
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: request.route,
                method: request.method,
                status: request.status,
            })
            .inc();
        self.request_duration
            .get_or_create(&route)
            .observe(request.latency.as_secs_f64());
        if request.bytes_in > 0 {
            self.request_bytes
                .get_or_create(&route)
                .inc_by(request.bytes_in);
        }
        self.response_bytes
            .get_or_create(&route)
            .inc_by(request.bytes_out);
    }

    fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache_lookups
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    fn upstream_request(&self, upstream: &str, outcome: UpstreamOutcome) {
        let (outcome, status) = match outcome {
            UpstreamOutcome::Answered(status) => ("answered", status.to_string()),
            UpstreamOutcome::Timeout => ("timeout", "none".to_owned()),
            UpstreamOutcome::Transport => ("transport", "none".to_owned()),
        };
        self.upstream_requests
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
                outcome,
                status,
            })
            .inc();
    }

    fn storage_call(&self, operation: StorageOperation, ok: bool, latency: Duration) {
        let operation = operation.as_str();
        self.storage_operations
            .get_or_create(&StorageLabels {
                operation,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        self.storage_duration
            .get_or_create(&OperationLabels { operation })
            .observe(latency.as_secs_f64());
    }

    fn uploads_in_flight(&self, delta: i64) {
        self.uploads_in_flight.inc_by(delta);
    }

    fn exchange(&self, method: &'static str, outcome: &'static str) {
        self.exchanges
            .get_or_create(&ExchangeLabels { method, outcome })
            .inc();
    }
}
