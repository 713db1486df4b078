//! `GET /healthz` and `GET /readyz`: the answers of [`crate::health`].

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL};
use http::{Response, StatusCode};

use super::error::json;
use crate::health::ReadinessReport;

/// `200 {"status": "ok"}`: the process answers.
pub(super) fn live() -> Response<Bytes> {
    no_store(json(StatusCode::OK, &serde_json::json!({ "status": "ok" })))
}

/// `200` with the report when ready, `503` with it when not.
pub(super) fn ready(report: &ReadinessReport) -> Response<Bytes> {
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store(json(status, report))
}

/// Probes must see the registry's answer, not a cache's.
fn no_store(mut response: Response<Bytes>) -> Response<Bytes> {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
