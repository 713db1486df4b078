//! GitHub's rate-limit headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// How long a `403` or `429` answer asks to wait, GitHub's way: `retry-after`
/// if present (secondary rate limits), else, when `x-ratelimit-remaining` is
/// `0` (the primary rate limit is used up), until `x-ratelimit-reset` (epoch
/// seconds; a reset in the past means "now"). `None` when neither applies:
/// the answer is not a rate limit.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(after) = upstream_http::retry_after(headers, now) {
        return Some(after);
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text("x-ratelimit-remaining").map(str::trim) != Some("0") {
        return None;
    }
    let reset = text("x-ratelimit-reset")?.trim().parse::<u64>().ok()?;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
