//! [`Fail`]: a failure shared between the callers of one fetch, and how it
//! becomes an [`UpstreamError`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use registry_core::UpstreamError;
use reqwest::StatusCode;

/// A failure, cloneable so that the callers sharing one fetch all get it.
///
/// It does not name the upstream: [`into_error`](Self::into_error) adds the
/// name when it becomes the port's [`UpstreamError`].
#[derive(Debug, Clone)]
pub enum Fail {
    /// The upstream did not answer in time: [`UpstreamError::Timeout`].
    Timeout,
    /// The upstream refused for now: [`UpstreamError::Unavailable`].
    Unavailable {
        /// What it said, for the error message.
        message: String,
        /// When to retry, if it said.
        retry_after: Option<Duration>,
    },
    /// The upstream answered something this registry cannot use:
    /// [`UpstreamError::Unsupported`].
    Unsupported(String),
    /// Anything else: [`UpstreamError::Other`].
    Other(Arc<OtherError>),
}

impl Fail {
    /// [`Fail::Other`] with `message` and no source.
    pub fn other(message: String) -> Self {
        Self::Other(Arc::new(OtherError {
            message,
            source: None,
        }))
    }

    /// The failure an HTTP `status` stands for, once retrying stops:
    /// [`Fail::Unavailable`] (with `retry_after`) for `429` and `503`, else
    /// [`Fail::Other`]. `message` says what happened.
    pub fn from_status(status: StatusCode, message: String, retry_after: Option<Duration>) -> Self {
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            Self::Unavailable {
                message,
                retry_after,
            }
        } else {
            Self::other(message)
        }
    }

    /// The port's error for this failure of the upstream named `upstream`
    /// (variant for variant; [`Fail::Other`]'s cause, and its source, become
    /// the [`UpstreamError::Other`]'s source).
    pub fn into_error(self, upstream: &str) -> UpstreamError {
        let upstream = upstream.to_owned();
        match self {
            Self::Timeout => UpstreamError::Timeout { upstream },
            Self::Unavailable {
                message,
                retry_after,
            } => UpstreamError::Unavailable {
                upstream,
                message,
                retry_after,
            },
            Self::Unsupported(message) => UpstreamError::Unsupported { upstream, message },
            Self::Other(e) => UpstreamError::Other {
                upstream,
                source: Box::new(SharedError(e)),
            },
        }
    }
}

/// The cause behind [`Fail::Other`]: a message, and the HTTP client's error
/// if there was one (never holding a URL: see [`AttemptError::from_reqwest`]).
#[derive(Debug)]
pub struct OtherError {
    message: String,
    source: Option<reqwest::Error>,
}

impl fmt::Display for OtherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for OtherError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// An [`OtherError`] shared between the callers of one fetch.
#[derive(Debug)]
struct SharedError(Arc<OtherError>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for SharedError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// How one HTTP attempt failed, before any answer: what
/// [`Retries::run`](crate::Retries::run) decides on.
#[derive(Debug)]
pub enum AttemptError {
    /// Connecting or the whole attempt took too long: never retried.
    Timeout,
    /// A connection-level failure: retried.
    Transport(reqwest::Error),
    /// Not worth retrying.
    Fatal(Fail),
}

impl AttemptError {
    /// Classifies the HTTP client's error: a timeout is
    /// [`Timeout`](Self::Timeout); a request that could not be built, a
    /// redirect error or a status error is [`Fatal`](Self::Fatal); anything
    /// else (refused, reset, closed early, TLS) is
    /// [`Transport`](Self::Transport). The error's URL is dropped: it may
    /// carry a token or a presigned query string.
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        let e = e.without_url();
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_builder() || e.is_redirect() || e.is_status() {
            Self::Fatal(Fail::Other(Arc::new(OtherError {
                message: "the request could not be made".to_owned(),
                source: Some(e),
            })))
        } else {
            Self::Transport(e)
        }
    }
}

/// [`Fail::Other`] with `message` and the transport error behind it.
pub(crate) fn transport_fail(message: String, e: reqwest::Error) -> Fail {
    Fail::Other(Arc::new(OtherError {
        message,
        source: Some(e),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_the_ports_errors() {
        let e = Fail::Timeout.into_error("up.example");
        assert!(matches!(e, UpstreamError::Timeout { upstream } if upstream == "up.example"));
        let e = Fail::from_status(
            StatusCode::TOO_MANY_REQUESTS,
            "slow down".into(),
            Some(Duration::from_secs(3)),
        )
        .into_error("up.example");
        assert!(matches!(
            e,
            UpstreamError::Unavailable { message, retry_after: Some(d), .. }
                if message == "slow down" && d == Duration::from_secs(3)
        ));
        let e = Fail::from_status(StatusCode::BAD_GATEWAY, "broken".into(), None)
            .into_error("up.example");
        assert!(matches!(&e, UpstreamError::Other { .. }), "{e:?}");
        let source = StdError::source(&e).unwrap();
        assert_eq!(source.to_string(), "broken");
        let e = Fail::Unsupported("too big".into()).into_error("up.example");
        assert!(matches!(e, UpstreamError::Unsupported { message, .. } if message == "too big"));
    }
}
