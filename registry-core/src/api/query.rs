//! The query string of the list and search routes: `q`, `namespace`,
//! `provider`, `offset`, `limit`.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::ApiError;
use crate::registry::{ModuleFilter, MAX_PAGE_LIMIT};

/// The longest `q` taken, in bytes.
const MAX_QUERY_LEN: usize = 1000;
/// The largest `offset` taken: more modules than any catalogue holds.
const MAX_OFFSET: usize = 100_000_000;

/// What a list or search asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageQuery {
    pub(crate) q: Option<String>,
    pub(crate) filter: ModuleFilter,
}

impl PageQuery {
    /// Parses `a=b&c=d` (`+` is a space, `%XX` escapes). Unknown keys are
    /// ignored (clients send `verified=false` and the like); the first of
    /// a repeated key counts.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut parsed = PageQuery::default();
        let (mut offset, mut limit, mut namespace, mut provider) = (None, None, None, None);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "the query parameter {key:?} is not valid percent-encoded UTF-8"
                ))
            })?;
            match key {
                "q" if parsed.q.is_none() => {
                    if value.len() > MAX_QUERY_LEN {
                        return Err(ApiError::BadRequest(format!(
                            "q is {} bytes long; search with at most {MAX_QUERY_LEN}",
                            value.len()
                        )));
                    }
                    parsed.q = Some(value);
                }
                "offset" if offset.is_none() => offset = Some(number("offset", &value)?),
                "limit" if limit.is_none() => limit = Some(number("limit", &value)?),
                "namespace" if namespace.is_none() => namespace = Some(value),
                "provider" if provider.is_none() => provider = Some(value),
                _ => {}
            }
        }
        let offset = offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::BadRequest(format!(
                "offset {offset} is past any page; use at most {MAX_OFFSET}"
            )));
        }
        // Explicit limits are clamped to 1..=100; none is the default (15).
        let limit = limit.map_or(0, |l: usize| l.clamp(1, MAX_PAGE_LIMIT));
        parsed.filter = ModuleFilter::new(
            namespace.filter(|n| !n.is_empty()),
            provider.filter(|p| !p.is_empty()),
            offset,
            limit,
        );
        Ok(parsed)
    }

    /// The URL of the page at `offset` of the same query on `path`.
    pub(crate) fn url_at(&self, path: &str, limit: usize, offset: usize) -> String {
        let mut url = format!("{path}?");
        if let Some(q) = &self.q {
            url.push_str(&format!("q={}&", encode(q)));
        }
        if let Some(ns) = &self.filter.namespace {
            url.push_str(&format!("namespace={}&", encode(ns)));
        }
        if let Some(p) = &self.filter.provider {
            url.push_str(&format!("provider={}&", encode(p)));
        }
        url.push_str(&format!("limit={limit}&offset={offset}"));
        url
    }
}

fn number(key: &str, value: &str) -> Result<usize, ApiError> {
    value.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "{key} must be a whole number of at least 0, not {:?}",
            shorten(value)
        ))
    })
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

fn decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Unreserved characters stay; everything else is escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_clamps() {
        let q = PageQuery::parse(Some(
            "q=aws+vpc%21&limit=500&offset=30&provider=aws&verified=true&q=other",
        ))
        .unwrap();
        assert_eq!(q.q.as_deref(), Some("aws vpc!"));
        assert_eq!(
            q.filter,
            ModuleFilter::new(None, Some("aws".into()), 30, 100)
        );
        assert_eq!(PageQuery::parse(Some("limit=0")).unwrap().filter.limit, 1);
        assert_eq!(PageQuery::parse(None).unwrap().filter.limit, 0);
        assert_eq!(
            q.url_at("/v1/modules/search", 100, 130),
            "/v1/modules/search?q=aws%20vpc%21&provider=aws&limit=100&offset=130"
        );
    }

    #[test]
    fn refuses_bad_numbers_and_encodings() {
        for bad in [
            "offset=-1",
            "limit=ten",
            "offset=99999999999999999999999",
            "q=%ff",
            "offset=100000001",
        ] {
            assert!(
                matches!(PageQuery::parse(Some(bad)), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(PageQuery::parse(Some(&format!("q={}", "a".repeat(1001)))).is_err());
    }
}
