//! Reading configuration variables.

use std::time::Duration;

/// `lookup` as every `from_env` reads variables: values trimmed, and empty
/// ones counted as unset.
///
/// ```
/// let get = upstream_http::env_lookup(|name| match name {
///     "SET" => Some(" x ".to_owned()),
///     "BLANK" => Some("  ".to_owned()),
///     _ => None,
/// });
/// assert_eq!(get("SET").as_deref(), Some("x"));
/// assert_eq!(get("BLANK"), None);
/// assert_eq!(get("UNSET"), None);
/// ```
pub fn env_lookup(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Parses a whole number of seconds from `min` to `max`.
///
/// # Errors
/// The reason, for the caller's error: "use a whole number of seconds from
/// {min} to {max}".
pub fn parse_secs(value: &str, min: u64, max: u64) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!("use a whole number of seconds from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range() {
        assert_eq!(parse_secs("0", 0, 10), Ok(Duration::ZERO));
        assert_eq!(parse_secs("10", 1, 10), Ok(Duration::from_secs(10)));
        for bad in ["0", "11", "-1", "ten", "1.5", ""] {
            assert_eq!(
                parse_secs(bad, 1, 10),
                Err("use a whole number of seconds from 1 to 10".to_owned()),
                "{bad:?}"
            );
        }
    }
}
