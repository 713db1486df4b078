//! Retry timing: `Retry-After`, GitHub's rate-limit headers and exponential
//! backoff with jitter (the first and last as in upstream-registry).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (relative to
/// `now`; a date in the past means "now"). `None` if it is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
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

/// How long a `403` or `429` answer asks to wait, GitHub's way: `retry-after`
/// if present (secondary rate limits), else, when `x-ratelimit-remaining` is
/// `0` (the primary rate limit is used up), until `x-ratelimit-reset` (epoch
/// seconds; a reset in the past means "now"). `None` when neither applies:
/// the answer is not a rate limit.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(after) = text(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(after);
    }
    if text("x-ratelimit-remaining").map(str::trim) != Some("0") {
        return None;
    }
    let reset = text("x-ratelimit-reset")?.trim().parse::<u64>().ok()?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

/// The delay before retry number `retry` (1 for the first retry):
/// `base * 2^(retry-1)`, capped at `cap`, then jittered to between half and
/// all of it ("equal jitter").
pub(crate) fn backoff(base: Duration, retry: u32, cap: Duration) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rate_limits_the_github_way() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        // Primary: remaining 0, reset in epoch seconds.
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000120"),
        ]);
        assert_eq!(
            rate_limit_wait(&primary, now),
            Some(Duration::from_secs(120))
        );
        // A reset in the past: now.
        let past = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "999000"),
        ]);
        assert_eq!(rate_limit_wait(&past, now), Some(Duration::ZERO));
        // Secondary: retry-after wins over the reset.
        let secondary = headers(&[
            ("retry-after", "60"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000120"),
        ]);
        assert_eq!(
            rate_limit_wait(&secondary, now),
            Some(Duration::from_secs(60))
        );
        // Requests left, or no headers at all: not a rate limit.
        let left = headers(&[
            ("x-ratelimit-remaining", "17"),
            ("x-ratelimit-reset", "1000120"),
        ]);
        assert_eq!(rate_limit_wait(&left, now), None);
        assert_eq!(rate_limit_wait(&HeaderMap::new(), now), None);
        let garbled = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "soon"),
        ]);
        assert_eq!(rate_limit_wait(&garbled, now), None);
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
