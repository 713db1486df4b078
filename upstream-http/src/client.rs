//! The HTTP client, and reading its answers.

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{AttemptError, Fail};

/// Why [`build_client`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An extra root certificate is unusable; the message says which
    /// (`#1` for the first) and why.
    #[error("{0}")]
    Certificate(String),
    /// The client could not be built.
    #[error(transparent)]
    Build(reqwest::Error),
}

/// Builds the client `builder` describes (timeouts, user agent, redirect
/// policy: the caller's) on rustls with *ring*, trusting the webpki roots plus
/// every certificate of `extra_root_certificates` (each item PEM text holding
/// one or more certificates).
///
/// # Errors
/// [`ClientError::Certificate`] for an item that is not PEM or holds no
/// certificate; [`ClientError::Build`] if reqwest cannot build the client.
///
/// ```
/// use upstream_http::{build_client, ClientError};
///
/// assert!(build_client(reqwest::Client::builder(), &[]).is_ok());
/// let e = build_client(reqwest::Client::builder(), &[b"not PEM".to_vec()]).unwrap_err();
/// assert!(matches!(e, ClientError::Certificate(_)), "{e}");
/// ```
pub fn build_client(
    builder: reqwest::ClientBuilder,
    extra_root_certificates: &[Vec<u8>],
) -> Result<reqwest::Client, ClientError> {
    let mut builder = builder.use_rustls_tls();
    for (i, pem) in extra_root_certificates.iter().enumerate() {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            ClientError::Certificate(format!("extra root certificate #{}: {e}", i + 1))
        })?;
        if certs.is_empty() {
            return Err(ClientError::Certificate(format!(
                "extra root certificate #{} holds no PEM certificate",
                i + 1
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(ClientError::Build)
}

/// `Bearer {secret}`, marked sensitive (never shown by `Debug`, and kept out
/// of HTTP/2 header compression); `None` if the secret is empty or blank, or
/// an HTTP header cannot carry it.
pub fn bearer(secret: &str) -> Option<HeaderValue> {
    if secret.trim().is_empty() {
        return None;
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {secret}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// An answer that was not retried: its status, headers and (capped) body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as far as it was read (see [`read_body`]).
    pub body: Bytes,
}

/// What [`read_body`] does with a body longer than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Fail (as soon as `Content-Length` or the bytes read pass the cap).
    Refuse,
    /// Keep what was read before the chunk that passed the cap, and stop
    /// (enough of an error body for its message).
    Truncate,
}

/// Reads `response`'s body in chunks, never holding more than `cap` bytes.
///
/// # Errors
/// [`AttemptError::Fatal`] with `too_large()` when the body passes `cap`
/// and `overflow` is [`Overflow::Refuse`]; [`AttemptError::from_reqwest`] of
/// a failure while reading.
pub async fn read_body(
    mut response: reqwest::Response,
    cap: u64,
    overflow: Overflow,
    too_large: impl FnOnce() -> Fail,
) -> Result<Bytes, AttemptError> {
    if overflow == Overflow::Refuse && response.content_length().is_some_and(|len| len > cap) {
        return Err(AttemptError::Fatal(too_large()));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(AttemptError::from_reqwest)? {
        if (body.len() as u64).saturating_add(chunk.len() as u64) > cap {
            match overflow {
                Overflow::Truncate => {
                    // What fits of this chunk, so a large one-chunk body keeps its start.
                    let room = usize::try_from(cap).unwrap_or(usize::MAX) - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
                Overflow::Refuse => return Err(AttemptError::Fatal(too_large())),
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses `body` as JSON.
///
/// # Errors
/// [`Fail::Other`] "`{shown}` answered malformed JSON: ...", `shown` being
/// the URL as messages may show it ([`shown_url`](crate::shown_url)).
pub fn json<T: DeserializeOwned>(shown: &str, body: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(body)
        .map_err(|e| Fail::other(format!("{shown} answered malformed JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_are_sensitive() {
        let v = bearer("tok").unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer tok");
        assert!(v.is_sensitive());
        assert!(bearer("a\nb").is_none());
        assert!(bearer("").is_none() && bearer("  ").is_none());
    }

    #[test]
    fn malformed_json_names_the_url() {
        let v: serde_json::Value = json("https://h.example/x", br#"{"a":1}"#).unwrap();
        assert_eq!(v["a"], 1);
        let Err(Fail::Other(e)) = json::<serde_json::Value>("https://h.example/x", b"{") else {
            panic!("not a failure")
        };
        assert!(
            e.to_string()
                .starts_with("https://h.example/x answered malformed JSON"),
            "{e}"
        );
    }
}
