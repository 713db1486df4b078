//! One request: `hyper::Request<Incoming>` → `http::Request<Bytes>` → `Registry::handle`
//! → `hyper::Response<Full<Bytes>>`, plus the access log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use registry_core::{AdapterError, Registry};

/// Answers `request` from `registry` and logs it.
pub(crate) async fn respond(
    registry: &Registry,
    request: Request<Incoming>,
    body_read_timeout: Duration,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: query strings carry archive URL signatures.
    let path = request.uri().path().to_owned();
    let version = request.version();

    let response = match read_request(request, registry.max_body_bytes(), body_read_timeout).await {
        Ok(request) => registry.handle(request).await,
        Err(error) => {
            tracing::debug!(%peer, %method, %path, ?error, "request body not read");
            registry.adapter_error(error)
        }
    };

    tracing::info!(
        target: "adapter_hyper::access",
        %peer,
        %method,
        %path,
        ?version,
        status = response.status().as_u16(),
        bytes = response.body().len(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request",
    );
    response.map(Full::new)
}

/// Collects the body, refusing early when it is declared or turns out larger
/// than `limit`, so an oversized upload is never buffered.
async fn read_request(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Request<Bytes>, AdapterError> {
    let (mut parts, body) = request.into_parts();

    // Content-Length (HTTP/1.1 and HTTP/2 alike) is the body's exact size hint.
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if body.size_hint().lower() > limit_u64 {
        return Err(AdapterError::BodyTooLarge);
    }

    let body = match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_elapsed) => return Err(AdapterError::BodyReadTimeout),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return Err(AdapterError::BodyTooLarge),
        Ok(Err(error)) => {
            tracing::debug!(error, "request body read failed");
            return Err(AdapterError::BodyReadFailed);
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };

    // HTTP/2 carries the host in the `:authority` pseudo-header, which hyper puts
    // in the URI; give the registry the `Host` header an HTTP/1.1 request has.
    if !parts.headers.contains_key(HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(HOST, host);
            }
        }
    }

    Ok(Request::from_parts(parts, body))
}

/// Shared, cheaply cloned state of the per-connection service.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) registry: Arc<Registry>,
    pub(crate) body_read_timeout: Duration,
}
