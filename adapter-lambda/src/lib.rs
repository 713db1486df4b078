#![doc = include_str!("../README.md")]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, Response};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, RequestExt as _};
use registry_core::api::UNMATCHED_ROUTE;
use registry_core::{AccessInfo, AdapterError, Registry, RequestBody};

/// Serves `registry` on the Lambda runtime: polls the runtime API for events
/// (API Gateway REST and HTTP APIs, function URLs, ALB) and answers each with
/// [`respond`], until the runtime stops the function.
///
/// # Errors
/// What [`lambda_http::run`] returns: the runtime API could not be reached or
/// the Lambda environment variables are missing (outside Lambda, use
/// `cargo lambda watch`).
pub async fn run(registry: Arc<Registry>) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |event: lambda_http::Request| {
        let registry = Arc::clone(&registry);
        async move { Ok::<_, Infallible>(respond(&registry, event).await) }
    }))
    .await
}

/// Answers one event: `lambda_http::Request` → [`Registry::admit`] on its head →
/// [`Registry::respond`] with its body → `lambda_http::Response<Body>`, plus the
/// access log line.
///
/// - The path the registry routes on is the request path without the API
///   Gateway stage (`/prod/v1/...` → `/v1/...`); the query string is kept as is.
/// - The registry admits the request on its head first, exactly as on a
///   server; a refused one is answered without looking at its body.
/// - The body (`isBase64Encoded` bodies arrive already decoded) is handed over
///   byte for byte; one larger than the admitted request's
///   [`body_limit`](registry_core::Admitted::body_limit) is answered with
///   [`Registry::adapter_error`]`(BodyTooLarge { limit })`.
/// - Text answers (JSON) go back as [`Body::Text`], everything else (archives)
///   as [`Body::Binary`], which lambda_http base64-encodes; empty ones as
///   [`Body::Empty`].
pub async fn respond(registry: &Registry, event: lambda_http::Request) -> Response<Body> {
    let started = Instant::now();
    let method = event.method().clone();
    // The path only: query strings carry archive URL signatures.
    let path = routing_path(&event).to_owned();
    let origin = origin(&event);

    let (head, body) = into_registry_parts(event, &path);
    let mut bytes_in = 0;
    // The same admission as on a server, though the body is already here: a
    // refused request is answered as it would be there, its body never looked at.
    let response = match registry.admit(head).await {
        Err(refused) => refused,
        Ok(admitted) if body.len() > admitted.body_limit() => {
            tracing::debug!(%method, %path, "request body over the limit");
            let limit = admitted.body_limit();
            registry
                .refuse(admitted, AdapterError::BodyTooLarge { limit })
                .await
        }
        Ok(admitted) => {
            bytes_in = body.len() as u64;
            registry.respond(admitted, RequestBody::from(body)).await
        }
    };
    registry_core::telemetry::request_finished(
        &method,
        &response,
        bytes_in,
        response.body().len() as u64,
        started,
    );

    let access = response.extensions().get::<AccessInfo>();
    tracing::info!(
        target: "adapter_lambda::access",
        origin,
        %method,
        route = %access.map_or(UNMATCHED_ROUTE, |a| a.route),
        status = response.status().as_u16(),
        bytes = response.body().len(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        caller = access.map_or("", |a| a.caller.as_str()),
        request_id = access.map_or("", |a| a.request_id.as_str()),
        "request",
    );
    into_lambda_response(response)
}

/// The event's path without the API Gateway stage.
///
/// lambda_http puts the stage in the URI path (`/{stage}/...`) for REST and
/// HTTP APIs unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set, and the raw
/// path of an HTTP API on a named stage holds it too. So one leading `/{stage}`
/// segment is removed whenever it is there, and the registry sees `/v1/...`
/// either way. `$default` stages, function URLs and ALB have no stage.
fn routing_path(event: &lambda_http::Request) -> &str {
    let path = event.uri().path();
    let stage = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.as_deref(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if !stage.is_empty() && stage != "$default" => path
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    }
}

/// Where the event came from, for the access log.
fn origin(event: &lambda_http::Request) -> &'static str {
    match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => "apigw_rest",
        Some(RequestContext::ApiGatewayV2(context)) if is_function_url(context) => "function_url",
        Some(RequestContext::ApiGatewayV2(_)) => "apigw_http",
        Some(RequestContext::Alb(_)) => "alb",
        _ => "other",
    }
}

/// Function URLs send the HTTP API v2 payload from a `*.lambda-url.*` domain.
fn is_function_url(
    context: &lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext,
) -> bool {
    context
        .domain_name
        .as_deref()
        .is_some_and(|domain| domain.contains(".lambda-url."))
}

/// The registry's request head (method, stage-free path + the query,
/// headers) and the body.
fn into_registry_parts(event: lambda_http::Request, path: &str) -> (http::request::Parts, Bytes) {
    let (mut parts, body) = event.into_parts();
    let body = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    // Both halves come from a valid URI, so this only fails if lambda_http
    // built an invalid one; the registry then answers the original URI (404).
    if let Some(uri) = PathAndQuery::try_from(path_and_query)
        .ok()
        .and_then(|pq| Uri::builder().path_and_query(pq).build().ok())
    {
        parts.uri = uri;
    }
    // lambda_http keeps its event context in the extensions; the registry
    // needs none of it.
    parts.extensions = http::Extensions::new();
    (parts, body)
}

/// The registry's answer as lambda_http's: text for text content types,
/// binary (base64 on the wire) for everything else, empty when empty.
fn into_lambda_response(response: Response<Bytes>) -> Response<Body> {
    let (parts, bytes) = response.into_parts();
    let body = if bytes.is_empty() {
        Body::Empty
    } else if is_text(&parts.headers) {
        match String::from_utf8(bytes.into()) {
            Ok(text) => Body::Text(text),
            Err(error) => Body::Binary(error.into_bytes()),
        }
    } else {
        Body::Binary(bytes.into())
    };
    Response::from_parts(parts, body)
}

/// lambda_http's own rule for which content types travel as text.
fn is_text(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    [
        "text/",
        "application/json",
        "application/javascript",
        "application/xml",
        "application/yaml",
    ]
    .iter()
    .any(|prefix| mime.starts_with(prefix))
        || ["+json", "+xml", "+yaml"]
            .iter()
            .any(|suffix| mime.ends_with(suffix))
}
