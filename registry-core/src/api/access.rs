//! What an adapter's access log line needs from the registry, and request
//! ids.
//!
//! Every response the registry makes carries an [`AccessInfo`] in its
//! extensions (the route template, who asked, the request id), and an
//! `X-Request-Id` header; error bodies carry the id too
//! (`{"errors": [...], "request_id": "..."}`), so a user can quote it and
//! an operator find the log line. None of it holds a token, a signature or
//! a query string.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response};
use rand::RngCore as _;

/// The request id header, accepted from the client and always answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id accepted from a client.
const MAX_REQUEST_ID: usize = 64;

/// The route template (`/v1/modules/{namespace}/{name}/{system}/versions`)
/// of a path that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// What the registry says of an answered request, in the response's
/// extensions (`response.extensions().get::<AccessInfo>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessInfo {
    /// The route template matched, or [`UNMATCHED_ROUTE`]: bounded, never
    /// a raw path.
    pub route: &'static str,
    /// Who asked: `anonymous`, `invalid token`, `master`, a token's name or
    /// `NAME (expired)`. Never a secret.
    pub caller: String,
    /// The client's `X-Request-Id` when it is 1 to 64 characters of
    /// `A-Z a-z 0-9 . _ : -`; otherwise 16 random hex digits.
    pub request_id: String,
}

/// The request id for a request with `headers` (see [`AccessInfo::request_id`]).
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        })
        .map_or_else(
            || {
                let mut random = [0u8; 8];
                rand::rngs::OsRng.fill_bytes(&mut random);
                hex::encode(random)
            },
            str::to_owned,
        )
}

/// Marks `response` with `info`: the header, the extension, and for a JSON
/// error body, its `request_id`.
pub(crate) fn mark(mut response: Response<Bytes>, info: AccessInfo) -> Response<Bytes> {
    if response.status().as_u16() >= 400 && is_json(response.headers()) {
        if let Ok(serde_json::Value::Object(mut body)) =
            serde_json::from_slice::<serde_json::Value>(response.body())
        {
            if body.contains_key("errors") {
                body.insert(
                    "request_id".to_owned(),
                    serde_json::Value::String(info.request_id.clone()),
                );
                if let Ok(bytes) = serde_json::to_vec(&body) {
                    *response.body_mut() = Bytes::from(bytes);
                }
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&info.request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response.extensions_mut().insert(info);
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_str(id).unwrap());
        h
    }

    #[test]
    fn a_clients_id_is_kept_when_it_is_plain_and_short() {
        assert_eq!(request_id(&headers("req-42.a_b:c")), "req-42.a_b:c");
        let long = "a".repeat(65);
        for bad in ["", "has space", "quote\"", "tfr_\u{7f}", long.as_str()] {
            let Ok(value) = HeaderValue::from_str(bad) else {
                continue;
            };
            let mut h = HeaderMap::new();
            h.insert(REQUEST_ID_HEADER, value);
            let id = request_id(&h);
            assert_eq!(id.len(), 16, "{bad:?} -> {id}");
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }
}
