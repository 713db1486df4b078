//! One request: `hyper::Request<Incoming>` → `Registry::admit` on the head → the body
//! into a `BodySpool` → `Registry::respond`
//! → `hyper::Response<Full<Bytes>>`, plus the access log line and the
//! request's [telemetry](registry_core::telemetry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use registry_core::api::UNMATCHED_ROUTE;
use registry_core::{AccessInfo, AdapterError, BodySpool, Registry, RequestBody};

/// Answers `request` from `registry` and logs it.
///
/// The registry first decides on the head alone ([`Registry::admit`]). A
/// refused request is answered without reading any of its body, so hyper sends
/// no `100 Continue` and an unauthenticated upload costs no memory; on HTTP/1
/// the answer then carries `Connection: close`, since the client may still be
/// sending. An admitted request's body is read into the registry's
/// [`BodySpool`](registry_core::BodySpool) (uploads past 256 KiB go to a
/// temporary file) within its limit and the body read timeout.
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

    let (mut head, body) = request.into_parts();
    // HTTP/2 carries the host in the `:authority` pseudo-header, which hyper puts
    // in the URI; give the registry the `Host` header an HTTP/1.1 request has.
    if !head.headers.contains_key(HOST) {
        if let Some(authority) = head.uri.authority() {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                head.headers.insert(HOST, host);
            }
        }
    }
    let body_pending = !body.is_end_stream();

    let mut bytes_in = 0;
    let response = match registry.admit(head).await {
        Err(mut refused) => {
            if body_pending && version < http::Version::HTTP_2 {
                refused
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            refused
        }
        Ok(admitted) => {
            let spool = registry.body_spool(&admitted);
            match read_body(body, spool, body_read_timeout).await {
                Ok(body) => {
                    bytes_in = body.len();
                    registry.respond(admitted, body).await
                }
                Err(error) => {
                    tracing::debug!(%peer, %method, %path, ?error, "request body not read");
                    let mut response = registry.refuse(admitted, error).await;
                    if version < http::Version::HTTP_2 {
                        response
                            .headers_mut()
                            .insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    response
                }
            }
        }
    };

    let bytes_out = response.body().len();
    registry_core::telemetry::request_finished(
        &method,
        &response,
        bytes_in,
        bytes_out as u64,
        started,
    );
    let access = response.extensions().get::<AccessInfo>();
    tracing::info!(
        target: "adapter_hyper::access",
        %peer,
        %method,
        route = %access.map_or(UNMATCHED_ROUTE, |a| a.route),
        ?version,
        status = response.status().as_u16(),
        bytes = bytes_out,
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        caller = access.map_or("", |a| a.caller.as_str()),
        request_id = access.map_or("", |a| a.request_id.as_str()),
        "request",
    );
    response.map(Full::new)
}

/// Reads an admitted request's body into `spool`, frame by frame, within the
/// limit the spool enforces and `timeout` for the whole body.
async fn read_body(
    mut body: Incoming,
    mut spool: BodySpool,
    timeout: Duration,
) -> Result<RequestBody, AdapterError> {
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| {
                tracing::debug!(%error, "request body read failed");
                AdapterError::BodyReadFailed
            })?;
            if let Some(data) = frame.data_ref() {
                spool.push(data).await?;
            }
        }
        spool.finish().await
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(AdapterError::BodyReadTimeout))
}

/// Shared, cheaply cloned state of the per-connection service.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) registry: Arc<Registry>,
    pub(crate) body_read_timeout: Duration,
}
