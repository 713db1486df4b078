//! The registry's telemetry as CloudWatch Embedded Metric Format lines.

use std::fmt;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry_core::telemetry::{RequestRecord, StorageOperation, Telemetry, UpstreamOutcome};
use serde_json::{json, Value};

/// The CloudWatch namespace the metrics go to unless configured otherwise.
pub const DEFAULT_EMF_NAMESPACE: &str = "TerraformRegistry";

/// The metrics of each line, with their units, in the order they are declared.
const METRICS: [(&str, &str); 15] = [
    ("Requests", "Count"),
    ("Latency", "Microseconds"),
    ("BytesIn", "Bytes"),
    ("BytesOut", "Bytes"),
    ("ClientErrors", "Count"),
    ("ServerErrors", "Count"),
    ("StorageCalls", "Count"),
    ("StorageFailures", "Count"),
    ("StorageLatency", "Microseconds"),
    ("CacheHits", "Count"),
    ("CacheMisses", "Count"),
    ("UpstreamRequests", "Count"),
    ("UpstreamFailures", "Count"),
    ("TokenExchanges", "Count"),
    ("TokenExchangesRefused", "Count"),
];

/// What happened since the last line.
#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    storage_calls: u64,
    storage_failures: u64,
    storage_latency_us: u64,
    cache_hits: u64,
    cache_misses: u64,
    upstream_requests: u64,
    upstream_failures: u64,
    exchanges: u64,
    exchanges_refused: u64,
}

/// The registry's [`Telemetry`] written as one CloudWatch Embedded Metric
/// Format (EMF) JSON line per answered request, for Lambda: CloudWatch Logs
/// extracts the metrics from the function's output, with no AWS API call and
/// no extra latency.
///
/// Each line has the dimension `Route` (the route template) and the metrics
/// `Requests` (1), `Latency` (µs), `BytesIn`, `BytesOut`, `ClientErrors` and
/// `ServerErrors` (1 for a 4xx or 5xx answer), then what happened since the
/// previous line: `StorageCalls`, `StorageFailures`, `StorageLatency` (µs,
/// summed), `CacheHits`, `CacheMisses`, `UpstreamRequests`,
/// `UpstreamFailures` (timeouts, transport failures and 5xx answers),
/// `TokenExchanges` and `TokenExchangesRefused`. (Uploads in flight are not
/// among them: a Lambda process serves one request at a time, so at the end
/// of each it is always 0.) `Method`, `Status` and `RequestId` are properties
/// (searchable in Logs Insights, not dimensions). A Lambda process handles
/// one request at a time, so "since the previous line" is "during this
/// request"; elsewhere, concurrent requests' calls land on whichever line
/// comes next (the sums stay right).
pub struct EmfTelemetry {
    namespace: String,
    pending: Mutex<Pending>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for EmfTelemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmfTelemetry")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl EmfTelemetry {
    /// Lines for `namespace`, on standard output (where Lambda's log
    /// capture reads them).
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::new(namespace, Box::new(std::io::stdout()))
    }

    /// Lines for `namespace`, written to `out`, each followed by `\n`.
    pub fn new(namespace: impl Into<String>, out: Box<dyn Write + Send>) -> Self {
        Self {
            namespace: namespace.into(),
            pending: Mutex::default(),
            out: Mutex::new(out),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The EMF document for `request`, with `pending` since the last one.
    fn line(&self, request: &RequestRecord, pending: Pending, now: SystemTime) -> Value {
        let timestamp = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let metrics: Vec<Value> = METRICS
            .iter()
            .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Route"]],
                    "Metrics": metrics,
                }],
            },
            "Route": request.route,
            "Method": request.method,
            "Status": request.status,
            "Requests": 1,
            "Latency": micros(request.latency),
            "BytesIn": request.bytes_in,
            "BytesOut": request.bytes_out,
            "ClientErrors": u8::from((400..500).contains(&request.status)),
            "ServerErrors": u8::from(request.status >= 500),
            "StorageCalls": pending.storage_calls,
            "StorageFailures": pending.storage_failures,
            "StorageLatency": pending.storage_latency_us,
            "CacheHits": pending.cache_hits,
            "CacheMisses": pending.cache_misses,
            "UpstreamRequests": pending.upstream_requests,
            "UpstreamFailures": pending.upstream_failures,
            "TokenExchanges": pending.exchanges,
            "TokenExchangesRefused": pending.exchanges_refused,
        })
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Telemetry for EmfTelemetry {
    fn request(&self, request: &RequestRecord) {
        let pending = std::mem::take(&mut *self.pending());
        let mut line = self.line(request, pending, SystemTime::now()).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // A lost metrics line must not fail the request it describes.
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }

    fn cache(&self, _cache: &'static str, hit: bool) {
        let mut pending = self.pending();
        if hit {
            pending.cache_hits += 1;
        } else {
            pending.cache_misses += 1;
        }
    }

    fn upstream_request(&self, _upstream: &str, outcome: UpstreamOutcome) {
        let mut pending = self.pending();
        pending.upstream_requests += 1;
        if !matches!(outcome, UpstreamOutcome::Answered(status) if status < 500) {
            pending.upstream_failures += 1;
        }
    }

    fn storage_call(&self, _operation: StorageOperation, ok: bool, latency: Duration) {
        let mut pending = self.pending();
        pending.storage_calls += 1;
        pending.storage_failures += u64::from(!ok);
        pending.storage_latency_us = pending.storage_latency_us.saturating_add(micros(latency));
    }

    fn exchange(&self, _method: &'static str, outcome: &'static str) {
        let mut pending = self.pending();
        pending.exchanges += 1;
        pending.exchanges_refused += u64::from(outcome != "issued");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(status: u16) -> RequestRecord {
        let mut record = RequestRecord::new("/v1/modules/{namespace}/{name}/{system}/versions");
        record.method = "GET";
        record.status = status;
        record.bytes_out = 120;
        record.latency = Duration::from_micros(250);
        record
    }

    #[test]
    fn each_request_is_one_line_with_what_happened_since_the_last() {
        let out = Shared::default();
        let emf = EmfTelemetry::new("Registry/Test", Box::new(out.clone()));
        emf.storage_call(
            StorageOperation::ListVersions,
            true,
            Duration::from_micros(40),
        );
        emf.storage_call(
            StorageOperation::LocateArchive,
            false,
            Duration::from_micros(60),
        );
        emf.cache("versions", false);
        emf.cache("tokens", true);
        emf.upstream_request("registry.example.com", UpstreamOutcome::Answered(503));
        emf.upstream_request("registry.example.com", UpstreamOutcome::Answered(200));
        emf.exchange("oidc", "rejected");
        emf.request(&record(200));
        emf.request(&record(503));

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        let directive = &first["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Registry/Test");
        assert_eq!(directive["Dimensions"], json!([["Route"]]));
        // Every declared metric is a number at the top level (EMF's rule).
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(first[name].is_u64(), "{name} in {first}");
        }
        assert!(first["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(
            first["Route"],
            "/v1/modules/{namespace}/{name}/{system}/versions"
        );
        let expect = [
            ("Requests", 1),
            ("Latency", 250),
            ("BytesOut", 120),
            ("ServerErrors", 0),
            ("StorageCalls", 2),
            ("StorageFailures", 1),
            ("StorageLatency", 100),
            ("CacheHits", 1),
            ("CacheMisses", 1),
            ("UpstreamRequests", 2),
            ("UpstreamFailures", 1),
            ("TokenExchanges", 1),
            ("TokenExchangesRefused", 1),
        ];
        for (name, value) in expect {
            assert_eq!(first[name], value, "{name} in {first}");
        }
        // The second line carries only what came after the first.
        let second = &lines[1];
        for (name, value) in [
            ("StorageCalls", 0),
            ("CacheHits", 0),
            ("UpstreamRequests", 0),
            ("ServerErrors", 1),
        ] {
            assert_eq!(second[name], value, "{name} in {second}");
        }
        assert_eq!(second["Status"], 503);
    }
}
