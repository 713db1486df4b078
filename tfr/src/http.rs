//! The HTTPS client, and reading the registry's answers.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::host::Host;
use crate::secret::Secret;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer's body read.
const MAX_BODY: usize = 1 << 20;
/// The most of a non-JSON error body shown.
const MAX_SHOWN: usize = 300;

/// Why a request got no usable answer. Messages name the host and never
/// contain a credential.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// `SSL_CERT_FILE` is unreadable or holds no certificate.
    #[error("SSL_CERT_FILE={path}: {reason}")]
    CertFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The client could not be built.
    #[error("cannot set up the HTTPS client: {0}")]
    Build(String),
    /// No answer: connection, TLS, timeout.
    #[error("{what}: {reason}")]
    Unreachable {
        /// `cannot connect to HOST`, ...
        what: String,
        /// Why, with a hint.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{host} answered {status}: {message}")]
    Status {
        /// The host.
        host: String,
        /// The status.
        status: StatusCode,
        /// The server's `errors`, joined; or a part of its body.
        message: String,
    },
    /// The answer is not the JSON expected.
    #[error("{host} answered {status} with a body tfr does not understand ({reason}); is it a terraform-registry server of a version with this route?")]
    Unexpected {
        /// The host.
        host: String,
        /// The status.
        status: StatusCode,
        /// The decoding error.
        reason: String,
    },
}

/// An answer: status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status.
    pub(crate) status: StatusCode,
    /// The body, at most 1 MiB.
    pub(crate) body: Vec<u8>,
}

/// The HTTPS client every command uses.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    inner: reqwest::Client,
}

impl Client {
    /// A client trusting the platform's roots, the public (webpki) roots
    /// and, if `ssl_cert_file` is given, every certificate in it; with
    /// timeouts, no redirects (a bearer token never follows one), and
    /// `tfr/VERSION` as its user agent.
    ///
    /// The platform's roots are read as OpenSSL does: from `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR` when set, otherwise from the system store.
    ///
    /// # Errors
    /// [`HttpError::CertFile`] if `ssl_cert_file` cannot be read or holds no
    /// PEM certificate; [`HttpError::Build`] if the client cannot be built.
    pub(crate) fn new(ssl_cert_file: Option<PathBuf>) -> Result<Self, HttpError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tfr/", env!("CARGO_PKG_VERSION")));
        // Unreadable system certificates are skipped: the public roots and
        // SSL_CERT_FILE still apply.
        for der in rustls_native_certs::load_native_certs().certs {
            if let Ok(cert) = reqwest::Certificate::from_der(&der) {
                builder = builder.add_root_certificate(cert);
            }
        }
        let mut extra = Vec::new();
        if let Some(path) = ssl_cert_file {
            let pem = std::fs::read(&path).map_err(|e| HttpError::CertFile {
                path: path.clone(),
                reason: format!("cannot read it: {e}"),
            })?;
            extra.push(pem);
            return upstream_http::build_client(builder, &extra)
                .map(|inner| Self { inner })
                .map_err(|e| match e {
                    upstream_http::ClientError::Certificate(reason) => HttpError::CertFile {
                        path,
                        reason: reason.replace("extra root certificate #1", "the file"),
                    },
                    other => HttpError::Build(other.to_string()),
                });
        }
        upstream_http::build_client(builder, &extra)
            .map(|inner| Self { inner })
            .map_err(|e| HttpError::Build(e.to_string()))
    }

    /// Sends `method` to `https://host{path}` with `bearer` (if any) and the
    /// JSON `body` (if any); answers any status the server gave.
    ///
    /// # Errors
    /// [`HttpError::Unreachable`] if there is no answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        host: &Host,
        path: &str,
        bearer: Option<&Secret>,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, HttpError> {
        self.send_url(method, &host.url(path), &host.to_string(), bearer, body)
            .await
    }

    /// [`send`](Self::send) to any URL; `name` is how errors call its host.
    ///
    /// # Errors
    /// [`HttpError::Unreachable`] if there is no answer.
    pub(crate) async fn send_url(
        &self,
        method: Method,
        url: &str,
        name: &str,
        bearer: Option<&Secret>,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, HttpError> {
        let mut request = self
            .inner
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(secret) = bearer {
            let value = upstream_http::bearer(secret.expose()).ok_or_else(|| {
                HttpError::Build("the token is empty or not valid in an HTTP header".into())
            })?;
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| unreachable(name, &e))?;
        let status = response.status();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(name, &e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                body.truncate(MAX_BODY);
                break;
            }
        }
        Ok(Answer { status, body })
    }
}

/// [`HttpError::Unreachable`] for `error`, with a hint by its kind. The
/// source chain is shown: reqwest's messages carry the URL, never a header.
fn unreachable(name: &str, error: &reqwest::Error) -> HttpError {
    let mut reason = error_chain(error);
    let what = if error.is_timeout() {
        format!(
            "{name} did not answer within {}s",
            REQUEST_TIMEOUT.as_secs()
        )
    } else if error.is_connect() {
        format!("cannot connect to {name}")
    } else {
        format!("the request to {name} failed")
    };
    if reason.contains("certificate") || reason.contains("UnknownIssuer") {
        reason.push_str(
            "; if the registry's certificate comes from a private CA (or is self-signed), set SSL_CERT_FILE to that CA's PEM file",
        );
    } else if error.is_connect() {
        reason.push_str("; check the host name and port, and that the registry is running");
    }
    HttpError::Unreachable { what, reason }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

impl Answer {
    /// The body as `T` if the status is `expected`.
    ///
    /// # Errors
    /// [`HttpError::Status`] with the server's message for any other
    /// status; [`HttpError::Unexpected`] if the body is not a `T`.
    pub(crate) fn expect<T: serde::de::DeserializeOwned>(
        self,
        host: &str,
        expected: StatusCode,
    ) -> Result<T, HttpError> {
        self.check(host, expected)?;
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Unexpected {
            host: host.to_owned(),
            status: self.status,
            reason: e.to_string(),
        })
    }

    /// `Ok` if the status is `expected`.
    ///
    /// # Errors
    /// [`HttpError::Status`] with the server's message otherwise.
    pub(crate) fn check(&self, host: &str, expected: StatusCode) -> Result<(), HttpError> {
        if self.status == expected {
            return Ok(());
        }
        Err(HttpError::Status {
            host: host.to_owned(),
            status: self.status,
            message: error_message(self.status, &self.body),
        })
    }
}

/// The message of an error answer: the `errors` of a
/// `{"errors": ["..."]}` body joined with `; `; otherwise the start of the
/// body as text (control characters escaped), or the status's reason.
pub(crate) fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<serde_json::Value>,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let messages: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match e {
                serde_json::Value::String(s) => printable(s),
                other => printable(&other.to_string()),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !messages.is_empty() {
            return messages.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status.canonical_reason().unwrap_or("no message").to_owned();
    }
    let mut shown: String = text.chars().take(MAX_SHOWN).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    printable(&shown)
}

/// `s` with control characters escaped, so a server's text cannot drive
/// the terminal.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_show_the_servers_messages() {
        let body = br#"{"errors": ["no exchange rule matches", "second"]}"#;
        assert_eq!(
            error_message(StatusCode::FORBIDDEN, body),
            "no exchange rule matches; second"
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>proxy error</html>"),
            "<html>proxy error</html>"
        );
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, br#"{"errors": []}"#),
            r#"{"errors": []}"#
        );
        let long = "x".repeat(1000);
        let shown = error_message(StatusCode::BAD_GATEWAY, long.as_bytes());
        assert_eq!(shown.chars().count(), MAX_SHOWN + 1);
        assert_eq!(
            error_message(
                StatusCode::FORBIDDEN,
                "{\"errors\": [\"a\\u001b[31mb\"]}".as_bytes()
            ),
            "a\\u{1b}[31mb"
        );
    }

    #[test]
    fn an_error_status_is_an_error_with_the_host() {
        let answer = Answer {
            status: StatusCode::NOT_FOUND,
            body: br#"{"errors": ["the AWS exchange is not configured"]}"#.to_vec(),
        };
        let e = answer
            .check("registry.example.com", StatusCode::CREATED)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "registry.example.com answered 404 Not Found: the AWS exchange is not configured"
        );
    }

    #[test]
    fn a_bad_cert_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = Client::new(Some(missing.clone())).unwrap_err().to_string();
        assert!(
            e.contains("SSL_CERT_FILE=") && e.contains("cannot read"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = Client::new(Some(junk)).unwrap_err().to_string();
        assert!(e.contains("junk.pem") && e.contains("the file"), "{e}");
        assert!(Client::new(None).is_ok());
    }
}
