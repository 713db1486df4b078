//! Retries: `Retry-After`, exponential backoff with jitter, and the loop that
//! runs a request's attempts.

use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;
use registry_core::telemetry::UpstreamOutcome;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;

use crate::client::Answer;
use crate::error::{transport_fail, AttemptError, Fail};

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (relative to
/// `now`; a date in the past means "now"). `None` if it is neither.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than fail: they still mean "later".
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` header of `headers`: delta-seconds or an HTTP-date
/// (IMF-fixdate, RFC 850 or asctime, relative to `now`; a date in the past
/// means "now"). Absurdly long delays saturate. `None` if the header is
/// missing or is neither.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use reqwest::header::{HeaderMap, RETRY_AFTER};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, "120".parse().unwrap());
/// let wait = upstream_http::retry_after(&headers, SystemTime::now());
/// assert_eq!(wait, Some(Duration::from_secs(120)));
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

/// The delay before retry number `retry` (1 for the first retry):
/// `base * 2^(retry-1)`, capped at `cap` (but never below `base`), then
/// jittered to between half and all of it ("equal jitter"). Never panics or
/// overflows.
fn backoff(base: Duration, retry: u32, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let full = base.saturating_mul(factor).min(cap.max(base));
    let half = full / 2;
    let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
    half.saturating_add(Duration::from_millis(
        rand::thread_rng().gen_range(0..=spread),
    ))
}

/// What an answer means for the request that got it (see [`Retries::run`]).
#[derive(Debug)]
pub enum Verdict {
    /// The answer is the request's result.
    Accept,
    /// The request fails with this, at once.
    Fail(Fail),
    /// Worth another attempt, after `wait` (`None`: the backoff, see
    /// [`Retries::backoff`]); the request fails with `fail` if no attempt is
    /// left.
    Retry {
        /// The failure if this was the last attempt.
        fail: Fail,
        /// How long the upstream asked to wait, if it did.
        wait: Option<Duration>,
    },
}

/// How one request is retried, and what its logs say.
#[derive(Debug, Clone, Copy)]
pub struct Retries<'a> {
    /// The upstream's name (the `upstream` field of every log line).
    pub upstream: &'a str,
    /// What the log messages call the server, e.g. `upstream` ("upstream
    /// timed out", "retrying upstream request") or `GitHub`.
    pub peer: &'a str,
    /// Attempts, the first one included (0 counts as 1).
    pub max_attempts: u32,
    /// The first retry's base delay, doubled per retry (capped at
    /// `max_retry_wait`), with "equal" jitter: between half and all of it.
    pub backoff: Duration,
    /// The backoff's cap.
    pub max_retry_wait: Duration,
    /// The client's per-attempt timeout (logged when an attempt times out).
    pub timeout: Duration,
}

impl Retries<'_> {
    /// Runs `attempt` until an answer is accepted or refused, or no attempt
    /// is left; `shown` is the URL as logs may show it, `method` the
    /// request's method (for messages).
    ///
    /// - An answer goes to `judge` with the attempt number (1 for the
    ///   first): [`Verdict::Accept`] returns it, [`Verdict::Fail`] fails,
    ///   [`Verdict::Retry`] tries again (after its `wait`, or the backoff).
    /// - [`AttemptError::Timeout`] fails at once with [`Fail::Timeout`]: a
    ///   hanging server costs one timeout, not one per attempt.
    /// - [`AttemptError::Fatal`] fails at once with its failure.
    /// - Every attempt is reported to the process's telemetry
    ///   ([`Telemetry::upstream_request`](registry_core::telemetry::Telemetry::upstream_request))
    ///   under [`upstream`](Self::upstream): its status, or a timeout or
    ///   transport failure.
    /// - [`AttemptError::Transport`] is retried; after the last attempt it is
    ///   a [`Fail::Other`] "`{method} {shown}` failed after N attempt(s)".
    ///
    /// # Errors
    /// The [`Fail`] the last attempt ended with, as above.
    pub async fn run<A, Fut>(
        &self,
        method: &Method,
        shown: &str,
        mut attempt: A,
        mut judge: impl FnMut(&Answer, u32) -> Verdict,
    ) -> Result<Answer, Fail>
    where
        A: FnMut() -> Fut,
        Fut: Future<Output = Result<Answer, AttemptError>>,
    {
        let (upstream, peer) = (self.upstream, self.peer);
        let attempts = self.max_attempts.max(1);
        let mut number = 0;
        loop {
            number += 1;
            let result = attempt().await;
            registry_core::telemetry::current().upstream_request(
                upstream,
                match &result {
                    Ok(answer) => UpstreamOutcome::Answered(answer.status.as_u16()),
                    Err(AttemptError::Timeout) => UpstreamOutcome::Timeout,
                    Err(AttemptError::Transport(_) | AttemptError::Fatal(_)) => {
                        UpstreamOutcome::Transport
                    }
                },
            );
            let (fail, wait) = match result {
                Ok(answer) => match judge(&answer, number) {
                    Verdict::Accept => return Ok(answer),
                    Verdict::Fail(fail) => return Err(fail),
                    Verdict::Retry { fail, wait } => (fail, wait),
                },
                Err(AttemptError::Timeout) => {
                    tracing::warn!(upstream = %upstream, url = %shown, attempt = number, timeout_ms = self.timeout.as_millis() as u64, "{peer} timed out");
                    return Err(Fail::Timeout);
                }
                Err(AttemptError::Fatal(fail)) => return Err(fail),
                Err(AttemptError::Transport(e)) => {
                    tracing::debug!(upstream = %upstream, url = %shown, attempt = number, error = %e, "{peer} connection failed");
                    let message = format!("{method} {shown} failed after {number} attempt(s)");
                    (transport_fail(message, e), None)
                }
            };
            if number >= attempts {
                tracing::warn!(upstream = %upstream, url = %shown, attempts, "{peer} failed on every attempt");
                return Err(fail);
            }
            let wait = wait.unwrap_or_else(|| backoff(self.backoff, number, self.max_retry_wait));
            tracing::info!(upstream = %upstream, url = %shown, attempt = number, wait_ms = wait.as_millis() as u64, "retrying {peer} request");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "fake")]
    #[tokio::test]
    async fn runs_attempts_until_accepted_refused_or_exhausted() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        use crate::fake::{status, Loopback};

        let calls = Arc::new(AtomicUsize::new(0));
        let port = Loopback::bind("the test server").await;
        let url = port.url();
        let server = {
            let calls = calls.clone();
            port.serve(move |_request| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok(status(if n % 3 < 2 { 503 } else { 200 })) }
            })
        };
        let client = reqwest::Client::new();
        let (client, url) = (&client, &url);
        let attempt = move || async move {
            let r = client
                .get(url.clone())
                .send()
                .await
                .map_err(AttemptError::from_reqwest)?;
            Ok(Answer {
                status: r.status(),
                headers: r.headers().clone(),
                body: bytes::Bytes::new(),
            })
        };
        let judge = |answer: &Answer, n: u32| {
            if answer.status.is_server_error() {
                Verdict::Retry {
                    fail: Fail::other(format!("attempt {n}")),
                    wait: None,
                }
            } else {
                Verdict::Accept
            }
        };
        let retries = Retries {
            upstream: "test",
            peer: "test",
            max_attempts: 3,
            backoff: Duration::from_millis(1),
            max_retry_wait: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
        };
        let shown = "http://127.0.0.1/";

        // 503, 503, 200: accepted on the third attempt.
        let answer = retries.run(&Method::GET, shown, attempt, judge).await;
        assert_eq!(answer.unwrap().status, 200);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // 503, 503 and no attempt left: the last failure.
        let two = Retries {
            max_attempts: 2,
            ..retries
        };
        let Err(Fail::Other(e)) = two.run(&Method::GET, shown, attempt, judge).await else {
            panic!("accepted")
        };
        assert_eq!(e.to_string(), "attempt 2");
        assert_eq!(calls.load(Ordering::SeqCst), 5);

        // A refusal stops at once.
        let refuse = |_: &Answer, _: u32| Verdict::Fail(Fail::Unsupported("no".into()));
        let result = retries.run(&Method::GET, shown, attempt, refuse).await;
        assert!(matches!(result, Err(Fail::Unsupported(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 6);

        // Connections refused: retried, then a failure naming the request.
        server.shutdown().await;
        let Err(Fail::Other(e)) = retries.run(&Method::POST, shown, attempt, judge).await else {
            panic!("not a transport failure")
        };
        assert_eq!(
            e.to_string(),
            "POST http://127.0.0.1/ failed after 3 attempt(s)"
        );
        assert!(std::error::Error::source(&*e).is_some());
    }

    #[test]
    fn delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "-1", "1.5", "soon", "1e3"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        // IMF-fixdate, RFC 850 and asctime, as RFC 9110 requires.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 09:49:37 1994", now),
            Some(Duration::from_secs(3600))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 32 Nov 1994 08:00:00 GMT", now),
            None
        );
    }

    #[test]
    fn the_retry_after_header() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "later".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_cap() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(5);
        for _ in 0..100 {
            let d1 = backoff(base, 1, cap);
            assert!(d1 >= Duration::from_millis(100) && d1 <= base, "{d1:?}");
            let d2 = backoff(base, 2, cap);
            assert!(
                d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400),
                "{d2:?}"
            );
            let d30 = backoff(base, 30, cap);
            assert!(d30 >= cap / 2 && d30 <= cap, "{d30:?}");
            let d_huge = backoff(base, u32::MAX, cap);
            assert!(d_huge <= cap, "{d_huge:?}");
            let _ = backoff(Duration::MAX, u32::MAX, Duration::MAX);
        }
        assert_eq!(backoff(Duration::ZERO, 3, cap), Duration::ZERO);
    }
}
