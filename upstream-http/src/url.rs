//! Base URLs, path segments, and URLs as messages and logs show them.

use percent_encoding::{AsciiSet, CONTROLS};
use reqwest::Url;

/// The characters percent-encoded in one URL path segment: controls, space,
/// `"`, `#`, `%`, `/`, `<`, `>`, `?`, `\`, `^`, `` ` ``, `{`, `|` and `}`
/// (WHATWG's path-segment set, plus `%` so that the text is taken as is).
/// Build narrower or wider sets from it with `add` and `remove`.
///
/// ```
/// use percent_encoding::utf8_percent_encode;
/// use upstream_http::PATH_SEGMENT;
///
/// let segment = utf8_percent_encode("a/b c%", PATH_SEGMENT).to_string();
/// assert_eq!(segment, "a%2Fb%20c%25");
/// ```
pub const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Parses a base URL and checks it with [`check_base_url`].
///
/// # Errors
/// What is wrong, as a sentence; for text that is not a URL, "not a URL
/// (...); use e.g. {example}".
pub fn parse_base_url(s: &str, example: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL ({e}); use e.g. {example}"))?;
    check_base_url(&url)?;
    Ok(url)
}

/// Checks that `url` can be a base URL: http(s), with a host, no
/// credentials, query or fragment.
///
/// # Errors
/// What is wrong, as a sentence for the caller's error ("the URL has no
/// host").
pub fn check_base_url(url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be https (or http), not {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none() {
        return Err("the URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in the token, not in the URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query or fragment".to_owned());
    }
    Ok(())
}

/// Appends `/` to `url`'s path unless it ends in one, so that relative
/// references join below it.
pub fn with_trailing_slash(url: &mut Url) {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
}

/// `host[:port]` of `url` (empty if it has no host): an upstream's name.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// A URL for messages and logs: scheme, host, port and path only, never
/// credentials or a query string (which may hold a token or a signature).
pub fn shown_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// A configured URL, as text, for messages: [`shown_url`] when it is an
/// http(s) URL; otherwise the text without any query or fragment and with
/// everything up to an `@` masked (it may be a password), so a typo such as
/// a missing scheme still shows.
pub fn shown_url_text(value: &str) -> String {
    let value = value.trim();
    if let Ok(url) = Url::parse(value) {
        if matches!(url.scheme(), "http" | "https") {
            return shown_url(&url);
        }
    }
    let value = value.split(['?', '#']).next().unwrap_or_default();
    match value.rfind('@') {
        Some(at) => format!("***@{}", &value[at + 1..]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn base_urls() {
        let parsed = parse_base_url("https://h.example/api/v3", "https://h.example").unwrap();
        assert_eq!(parsed.as_str(), "https://h.example/api/v3");
        let e = parse_base_url("h.example", "https://h.example").unwrap_err();
        assert!(
            e.starts_with("not a URL (") && e.ends_with("; use e.g. https://h.example"),
            "{e}"
        );
        assert!(parse_base_url("ftp://h.example/", "x").is_err());
        assert_eq!(check_base_url(&url("https://h.example/api/v3")), Ok(()));
        assert_eq!(check_base_url(&url("http://127.0.0.1:8080/")), Ok(()));
        for bad in [
            "ftp://h.example/",
            "file:///tmp",
            "https://u:p@h.example/",
            "https://h.example/?x=1",
            "https://h.example/#top",
        ] {
            assert!(check_base_url(&url(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn trailing_slashes() {
        let mut u = url("https://h.example/prefix");
        with_trailing_slash(&mut u);
        assert_eq!(u.as_str(), "https://h.example/prefix/");
        with_trailing_slash(&mut u);
        assert_eq!(u.as_str(), "https://h.example/prefix/");
    }

    #[test]
    fn configured_urls_are_shown_without_secrets() {
        for (given, shown) in [
            (
                "https://u:hunter2@h.example/x?token=t",
                "https://h.example/x",
            ),
            ("h.example", "h.example"),
            ("u:hunter2@h.example", "***@h.example"),
            ("ftp://u:hunter2@h.example/x?token=t", "***@h.example/x"),
        ] {
            assert_eq!(shown_url_text(given), shown, "{given}");
        }
    }

    #[test]
    fn names_and_shown_urls_hide_secrets() {
        assert_eq!(host_port(&url("https://h.example/x")), "h.example");
        assert_eq!(host_port(&url("http://127.0.0.1:8080/")), "127.0.0.1:8080");
        let u = url("https://u:p@h.example:8443/a/b?sig=x");
        assert_eq!(shown_url(&u), "https://h.example:8443/a/b");
    }
}
