//! Where the client may go next, decided without I/O: the next page of a
//! tag listing (`Link: <...>; rel="next"`) and the target of a tarball
//! redirect. Both are security decisions (credentials go to the next page;
//! a redirect must not downgrade or leave HTTP), so they are pure functions
//! with their own tests.

use reqwest::header::HeaderValue;
use reqwest::Url;
use upstream_http::host_port;

/// What to do after a page of tags.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextPage {
    /// Fetch this page, with the API's credentials.
    Follow(Url),
    /// The listing is complete: there is no next page.
    Done,
    /// There are more pages than the client lists: stop with what it has.
    Capped,
}

/// Why a next page is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageRefusal {
    /// The `Link` leaves the API's origin (scheme, host and port): the
    /// credentials would go elsewhere. Holds the other host and port.
    OtherOrigin(String),
    /// The `Link` names a page already listed: following it would loop.
    Loop,
}

/// Judges `next`, the `rel="next"` link of the last of `listed` pages
/// (the URLs fetched so far, in order), against the API's `api_base` and
/// the cap of `max_pages` pages.
///
/// The origin and loop checks come before the cap, so a hostile `Link`
/// is refused even on the last page the client would have fetched.
pub(crate) fn next_page(
    next: Option<&Url>,
    listed: &[&Url],
    api_base: &Url,
    max_pages: usize,
) -> Result<NextPage, PageRefusal> {
    let Some(next) = next else {
        return Ok(NextPage::Done);
    };
    if next.origin() != api_base.origin() {
        return Err(PageRefusal::OtherOrigin(host_port(next)));
    }
    if listed.contains(&next) {
        return Err(PageRefusal::Loop);
    }
    if listed.len() >= max_pages {
        return Ok(NextPage::Capped);
    }
    Ok(NextPage::Follow(next.clone()))
}

/// Why a redirect is not followed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RedirectRefusal {
    /// No `Location`, or one that is not visible ASCII.
    MissingLocation,
    /// A `Location` that is not a URL reference; holds the parser's reason.
    InvalidLocation(String),
    /// A target that is not http(s), or plain http after https; holds its
    /// scheme.
    Scheme(String),
}

/// The URL a redirect from `from` with `location` leads to: resolved
/// against `from` (relative references are allowed), and only to `https`,
/// or to `http` when `from` was `http` too (never a downgrade; never
/// `file:`, `ftp:`, `data:` or anything else).
pub(crate) fn redirect_target(
    from: &Url,
    location: Option<&HeaderValue>,
) -> Result<Url, RedirectRefusal> {
    let location = location
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or(RedirectRefusal::MissingLocation)?;
    let next = from
        .join(location.trim())
        .map_err(|e| RedirectRefusal::InvalidLocation(e.to_string()))?;
    let allowed = match next.scheme() {
        "https" => true,
        "http" => from.scheme() == "http",
        _ => false,
    };
    if allowed {
        Ok(next)
    } else {
        Err(RedirectRefusal::Scheme(next.scheme().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const API: &str = "https://api.github.com/";

    #[test]
    fn a_next_page_on_the_api_is_followed_and_none_ends_the_listing() {
        let first = url("https://api.github.com/repos/a/b/tags?per_page=100");
        let second = url("https://api.github.com/repositories/1/tags?per_page=100&page=2");
        assert_eq!(
            next_page(Some(&second), &[&first], &url(API), 100),
            Ok(NextPage::Follow(second.clone()))
        );
        assert_eq!(
            next_page(None, &[&first, &second], &url(API), 100),
            Ok(NextPage::Done)
        );
    }

    #[test]
    fn a_next_page_elsewhere_is_refused_naming_the_host() {
        let first = url("https://api.github.com/repos/a/b/tags");
        for (other, shown) in [
            ("https://evil.example/steal?page=2", "evil.example"),
            (
                "https://api.github.com.evil.example/tags",
                "api.github.com.evil.example",
            ),
            (
                "https://api.github.com:8443/repos/a/b/tags",
                "api.github.com:8443",
            ),
            (
                "http://api.github.com/repos/a/b/tags?page=2",
                "api.github.com",
            ),
        ] {
            assert_eq!(
                next_page(Some(&url(other)), &[&first], &url(API), 100),
                Err(PageRefusal::OtherOrigin(shown.to_owned())),
                "{other}"
            );
        }
        // GitHub Enterprise: the API under a path; the origin is what counts.
        let ghes = url("https://github.corp.example/api/v3/");
        let first = url("https://github.corp.example/api/v3/repos/a/b/tags");
        let next = url("https://github.corp.example/api/v3/repositories/9/tags?page=2");
        assert_eq!(
            next_page(Some(&next), &[&first], &ghes, 100),
            Ok(NextPage::Follow(next.clone()))
        );
    }

    #[test]
    fn a_link_back_to_a_listed_page_is_a_loop() {
        let first = url("https://api.github.com/repos/a/b/tags");
        let second = url("https://api.github.com/repos/a/b/tags?page=2");
        for back in [&first, &second] {
            assert_eq!(
                next_page(Some(back), &[&first, &second], &url(API), 100),
                Err(PageRefusal::Loop)
            );
        }
    }

    #[test]
    fn the_page_cap_stops_the_listing_after_the_checks() {
        let pages: Vec<Url> = (1..=3)
            .map(|n| url(&format!("https://api.github.com/repos/a/b/tags?page={n}")))
            .collect();
        let listed: Vec<&Url> = pages.iter().collect();
        let fourth = url("https://api.github.com/repos/a/b/tags?page=4");
        assert_eq!(
            next_page(Some(&fourth), &listed, &url(API), 3),
            Ok(NextPage::Capped)
        );
        assert_eq!(
            next_page(Some(&fourth), &listed, &url(API), 4),
            Ok(NextPage::Follow(fourth.clone()))
        );
        // At the cap, a hostile link is still refused, not silently dropped.
        assert_eq!(
            next_page(Some(&url("https://evil.example/")), &listed, &url(API), 3),
            Err(PageRefusal::OtherOrigin("evil.example".into()))
        );
        assert_eq!(
            next_page(Some(&pages[0]), &listed, &url(API), 3),
            Err(PageRefusal::Loop)
        );
    }

    fn location(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn redirects_go_to_https_or_from_http_to_http_only() {
        let api = url("https://api.github.com/repos/a/b/tarball/v1");
        let codeload = "https://codeload.github.com/a/b/legacy.tar.gz/refs/tags/v1?token=x";
        assert_eq!(
            redirect_target(&api, Some(&location(codeload))),
            Ok(url(codeload))
        );
        // Relative references resolve against the current URL.
        assert_eq!(
            redirect_target(&api, Some(&location("/repos/a/b/tarball/v1.0"))),
            Ok(url("https://api.github.com/repos/a/b/tarball/v1.0"))
        );
        // Plain http stays allowed for a plain-http API (a test or a lab GHES).
        let plain = url("http://127.0.0.1:8080/repos/a/b/tarball/v1");
        assert_eq!(
            redirect_target(&plain, Some(&location("http://127.0.0.1:8081/t.tgz"))),
            Ok(url("http://127.0.0.1:8081/t.tgz"))
        );
        assert_eq!(
            redirect_target(&plain, Some(&location("https://codeload.example/t.tgz"))),
            Ok(url("https://codeload.example/t.tgz"))
        );
    }

    #[test]
    fn downgrades_and_other_schemes_are_refused() {
        let api = url("https://api.github.com/repos/a/b/tarball/v1");
        for (target, scheme) in [
            ("http://codeload.github.com/a/b/legacy.tar.gz", "http"),
            ("file:///etc/passwd", "file"),
            ("ftp://example.com/t.tgz", "ftp"),
            ("data:application/gzip;base64,AAAA", "data"),
            ("javascript:alert(1)", "javascript"),
            ("gopher://example.com/", "gopher"),
        ] {
            assert_eq!(
                redirect_target(&api, Some(&location(target))),
                Err(RedirectRefusal::Scheme(scheme.into())),
                "{target}"
            );
        }
        let plain = url("http://127.0.0.1:8080/t");
        assert_eq!(
            redirect_target(&plain, Some(&location("file:///etc/passwd"))),
            Err(RedirectRefusal::Scheme("file".into()))
        );
    }

    #[test]
    fn a_redirect_without_a_usable_location_is_refused() {
        let api = url("https://api.github.com/repos/a/b/tarball/v1");
        assert_eq!(
            redirect_target(&api, None),
            Err(RedirectRefusal::MissingLocation)
        );
        assert_eq!(
            redirect_target(&api, Some(&location("  "))),
            Err(RedirectRefusal::MissingLocation)
        );
        let not_ascii = HeaderValue::from_bytes(b"https://exa\xffmple.com/").unwrap();
        assert_eq!(
            redirect_target(&api, Some(&not_ascii)),
            Err(RedirectRefusal::MissingLocation)
        );
        assert!(matches!(
            redirect_target(&api, Some(&location("https://[::1/"))),
            Err(RedirectRefusal::InvalidLocation(_))
        ));
    }
}
