//! Exporters of [registry-core's telemetry](registry_core::telemetry).
//!
//! - [`PrometheusTelemetry`]: counters, gauges and histograms (with the
//!   Prometheus project's `prometheus-client`), rendered for `GET /metrics`
//!   on the servers' metrics listener.
//! - [`EmfTelemetry`]: on Lambda, one CloudWatch Embedded Metric Format line
//!   per request on standard output, which CloudWatch Logs turns into
//!   metrics with no AWS API call from the function.
//!
//! Install one per process with [`registry_core::telemetry::install`].

mod emf;
mod prometheus;

pub use emf::{EmfTelemetry, DEFAULT_EMF_NAMESPACE};
pub use prometheus::{PrometheusTelemetry, CONTENT_TYPE};
