//! `ApiError` and its one mapping to HTTP status codes and JSON bodies.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Response, StatusCode};

use crate::registry::RegistryError;
use crate::storage::StorageError;
use crate::upstream::UpstreamError;

/// Everything a request can fail with. Mapped to a response in exactly one place,
/// [`ApiError::into_response`].
#[derive(Debug)]
pub(crate) enum ApiError {
    /// `400`: the message says what was wrong and how to fix it.
    BadRequest(String),
    /// `401`: no token, or `invalid` for an unknown/revoked one.
    Unauthorized { invalid: bool },
    /// `401`: the token named `name` expired at `at` (RFC 3339).
    TokenExpired { name: String, at: String },
    /// `401`: a presented credential (not a bearer token) does not prove an
    /// identity; the message says why.
    Unauthenticated(String),
    /// `503` + `Retry-After`: a service the request needs is unreachable.
    Unavailable(String),
    /// `403`: the message says what was missing.
    Forbidden(String),
    /// `404`.
    NotFound(String),
    /// `405` with `Allow`.
    MethodNotAllowed(&'static [Method]),
    /// `408`.
    RequestTimeout,
    /// `409`.
    Conflict(String),
    /// `413`.
    PayloadTooLarge { limit: usize },
    /// `422`: understood, but what the request points at cannot be used.
    Unprocessable(String),
    /// `502`: the upstream answered something unusable; the message says what
    /// (it names the upstream and holds no secrets).
    BadGateway(String),
    /// A storage backend failure; its own mapping below.
    Storage(StorageError),
    /// An upstream failure; its own mapping below.
    Upstream(UpstreamError),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        Self::Upstream(e)
    }
}

/// The one mapping of a use case's error to the HTTP layer's.
impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(m) => Self::BadRequest(m),
            RegistryError::InvalidArchive(e) => Self::BadRequest(e.to_string()),
            RegistryError::TooLarge { limit } => Self::PayloadTooLarge { limit },
            RegistryError::NotFound(m) => Self::NotFound(m),
            RegistryError::Forbidden(m) => Self::Forbidden(m),
            RegistryError::AlreadyExists(m) => Self::Conflict(m),
            RegistryError::Unprocessable(m) => Self::Unprocessable(m),
            RegistryError::BadUpstreamArchive(m) => Self::BadGateway(m),
            RegistryError::Unauthenticated(m) => Self::Unauthenticated(m),
            RegistryError::Unavailable(m) => Self::Unavailable(m),
            RegistryError::Storage(e) => Self::Storage(e),
            RegistryError::Upstream(e) => Self::Upstream(e),
        }
    }
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response<Bytes> {
    // Plain data with string keys: serializing it cannot fail.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes.clear();
    }
    json_bytes(status, bytes)
}

/// A JSON response of `bytes`, already JSON.
pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(bytes));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_body(status: StatusCode, message: &str) -> Response<Bytes> {
    json(status, &serde_json::json!({ "errors": [message] }))
}

const RETRY_SECONDS: u64 = 5;

impl ApiError {
    pub(crate) fn into_response(self) -> Response<Bytes> {
        match self {
            Self::BadRequest(m) => error_body(StatusCode::BAD_REQUEST, &m),
            Self::Unauthorized { invalid } => {
                let (message, challenge) = if invalid {
                    (
                        "the token is not valid (unknown or revoked); ask a registry admin for a new one",
                        r#"Bearer realm="terraform-registry", error="invalid_token""#,
                    )
                } else {
                    (
                        "authentication required: send `Authorization: Bearer <token>`; for Terraform, add a `credentials \"<this host>\" { token = \"...\" }` block to the CLI config",
                        r#"Bearer realm="terraform-registry""#,
                    )
                };
                let mut r = error_body(StatusCode::UNAUTHORIZED, message);
                r.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                r
            }
            Self::TokenExpired { name, at } => {
                let message = format!(
                    "the token {name:?} expired at {at}; ask a registry admin for a new one (POST /v1/tokens with the master token)"
                );
                let mut r = error_body(StatusCode::UNAUTHORIZED, &message);
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="terraform-registry", error="invalid_token", error_description="the token expired""#,
                    ),
                );
                r
            }
            Self::Unauthenticated(m) => error_body(StatusCode::UNAUTHORIZED, &m),
            Self::Unavailable(m) => {
                tracing::warn!(error = %m, "a service the request needs is unavailable");
                unavailable(&m, Duration::from_secs(RETRY_SECONDS))
            }
            Self::Forbidden(m) => error_body(StatusCode::FORBIDDEN, &m),
            Self::NotFound(m) => error_body(StatusCode::NOT_FOUND, &m),
            Self::MethodNotAllowed(allowed) => {
                let list = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                let mut r = error_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("method not allowed here; use one of: {list}"),
                );
                if let Ok(v) = HeaderValue::from_str(&list) {
                    r.headers_mut().insert(ALLOW, v);
                }
                r
            }
            Self::RequestTimeout => error_body(
                StatusCode::REQUEST_TIMEOUT,
                "the request body arrived too slowly; retry on a faster connection",
            ),
            Self::Conflict(m) => error_body(StatusCode::CONFLICT, &m),
            Self::PayloadTooLarge { limit } => error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than this route's limit of {limit} bytes; send a smaller body (an archive: shrink it, or ask the operator to raise the upload limit)"),
            ),
            Self::Unprocessable(m) => error_body(StatusCode::UNPROCESSABLE_ENTITY, &m),
            Self::BadGateway(m) => error_body(StatusCode::BAD_GATEWAY, &m),
            Self::Storage(e) => storage_response(e),
            Self::Upstream(e) => upstream_response(e),
        }
    }
}

fn unavailable(message: &str, retry_after: Duration) -> Response<Bytes> {
    let mut r = error_body(StatusCode::SERVICE_UNAVAILABLE, message);
    let secs = retry_after.as_secs().max(1);
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn storage_response(e: StorageError) -> Response<Bytes> {
    match e {
        // Handlers turn these into messages naming the module; this is the fallback.
        StorageError::NotFound => error_body(StatusCode::NOT_FOUND, "not found"),
        StorageError::AlreadyExists => error_body(StatusCode::CONFLICT, "already exists"),
        _ if is_transient(&e) => {
            tracing::warn!(error = %e, "storage unavailable");
            unavailable(
                "the registry's storage is temporarily unavailable; retry shortly",
                Duration::from_secs(RETRY_SECONDS),
            )
        }
        _ => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage failure");
            error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error in the registry's storage; the operator can find the cause in the registry's log",
            )
        }
    }
}

/// Whether retrying may work (`503` + `Retry-After`): [`StorageError::Unavailable`],
/// or a timeout the backend did not classify as such, i.e. an [`std::io::Error`]
/// of kind `TimedOut` in the error's source chain (e.g.
/// `StorageError::other("nfs", io_error)`).
pub(crate) fn is_transient(e: &StorageError) -> bool {
    // A conflict that outlived its retries: others were writing; try again.
    if matches!(e, StorageError::Unavailable { .. } | StorageError::Conflict) {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

fn upstream_response(e: UpstreamError) -> Response<Bytes> {
    match e {
        UpstreamError::NotFound { .. } => error_body(StatusCode::NOT_FOUND, &e.to_string()),
        UpstreamError::Timeout { .. } => {
            tracing::warn!(error = %e, "upstream timeout");
            error_body(StatusCode::GATEWAY_TIMEOUT, &e.to_string())
        }
        UpstreamError::Unavailable { retry_after, .. } => {
            tracing::warn!(error = %e, "upstream unavailable");
            unavailable(
                &e.to_string(),
                retry_after.unwrap_or(Duration::from_secs(RETRY_SECONDS)),
            )
        }
        UpstreamError::Unsupported { .. } => {
            error_body(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        UpstreamError::Other { ref upstream, .. } => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "upstream failure");
            error_body(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "{upstream} failed; the operator can find the cause in the registry's log"
                ),
            )
        }
    }
}
