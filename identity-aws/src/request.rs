//! Checking a [`SignedRequest`] before it is forwarded, and building what is
//! forwarded.

use std::collections::BTreeMap;

use registry_core::exchange::{ExchangeError, SignedRequest, BINDING_HEADER};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;

use crate::authorization::Authorization;
use crate::endpoints::Endpoints;
use crate::sts::{authority, FORM_CONTENT_TYPE};

/// The most headers a signed request may have. What the client signs is
/// seven at most; the rest is room for what SDKs add.
pub const MAX_HEADERS: usize = 32;

/// The most bytes all header names and values of a signed request may add up
/// to (a session token is the largest, typically 1 to 4 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The longest body considered (the one accepted is 43 bytes).
const MAX_BODY_BYTES: usize = 256;

/// Headers about one connection, never forwarded and never accepted as
/// signed.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A checked request, as it is forwarded to STS.
#[derive(Debug)]
pub(crate) struct Forward {
    /// The allowed endpoint, normalised.
    pub(crate) url: Url,
    /// The `authorization`, every signed header but `host` and
    /// `content-length` (the HTTP client sets both, to the checked values),
    /// and the content type. Secrets are marked sensitive.
    pub(crate) headers: HeaderMap,
    /// The body, exactly as signed.
    pub(crate) body: String,
}

/// Checks `request` against `endpoints` and `server_id` (see
/// [`AwsIdentityVerifier`](crate::AwsIdentityVerifier) for the list) and
/// answers what to forward.
///
/// # Errors
/// [`ExchangeError::Malformed`] for a request of the wrong shape;
/// [`ExchangeError::Rejected`] for one that cannot prove an identity here
/// (another endpoint or service, the binding header missing, unsigned or
/// wrong). Messages name headers, never their values.
pub(crate) fn check(
    request: &SignedRequest,
    endpoints: &Endpoints,
    server_id: &str,
) -> Result<Forward, ExchangeError> {
    let malformed = |m: String| ExchangeError::Malformed(m);
    let rejected = |m: String| ExchangeError::Rejected(m);

    if request.method != "POST" {
        return Err(malformed(
            "the signed request's method must be POST (an sts:GetCallerIdentity call)".to_owned(),
        ));
    }
    let headers = header_map(&request.headers)?;
    let url = endpoints.check(&request.url)?;
    check_body(&request.body)?;

    let Some(authorization) = headers.get("authorization") else {
        return Err(malformed(
            "the signed request has no Authorization header; sign it with AWS Signature Version 4"
                .to_owned(),
        ));
    };
    let auth = Authorization::parse(authorization)?;

    let binding_help = format!(
        "sign the request with the header {BINDING_HEADER} set to this registry's server id"
    );
    if !auth.signs(BINDING_HEADER) {
        return Err(rejected(format!(
            "the signed request does not sign the {BINDING_HEADER} header, so it is not bound to this registry; {binding_help}"
        )));
    }
    match headers.get(BINDING_HEADER) {
        None => {
            return Err(rejected(format!(
                "the signed request has no {BINDING_HEADER} header; {binding_help}"
            )))
        }
        Some(value) if *value != server_id => {
            return Err(rejected(format!(
                "the signed request's {BINDING_HEADER} header is not this registry's server id (it was signed for another registry); {binding_help}"
            )))
        }
        Some(_) => {}
    }
    if !auth.signs("host") {
        return Err(rejected(
            "the signed request does not sign the host header; sign it with the host of the STS endpoint".to_owned(),
        ));
    }
    if let Some(host) = headers.get("host") {
        if !host.eq_ignore_ascii_case(&authority(&url)) {
            return Err(rejected(
                "the signed request's host header is not the host of its url; sign it for the endpoint it is sent to".to_owned(),
            ));
        }
    }
    for name in &auth.signed_headers {
        if HOP_BY_HOP.contains(name) {
            return Err(malformed(format!(
                "the signed request signs the hop-by-hop header {name}, which cannot be forwarded; sign only end-to-end headers"
            )));
        }
        if *name != "host" && !headers.contains_key(*name) {
            return Err(malformed(format!(
                "the signed request signs the header {name} but does not have it; send every signed header"
            )));
        }
    }
    if !auth.signs("x-amz-date") {
        return Err(malformed(
            "the signed request does not sign an x-amz-date header; sign it with the time of signing".to_owned(),
        ));
    }
    if let Some(content_type) = headers.get("content-type") {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(malformed(format!(
                "the signed request's content-type must be {FORM_CONTENT_TYPE}"
            )));
        }
    }
    if let Some(length) = headers.get("content-length") {
        if length.trim() != request.body.len().to_string() {
            return Err(malformed(
                "the signed request's content-length is not the length of its body".to_owned(),
            ));
        }
    }

    let mut forwarded = HeaderMap::new();
    // The names and values were checked by `header_map`.
    let put = |map: &mut HeaderMap, name: HeaderName, value: &str, sensitive: bool| {
        if let Ok(mut value) = HeaderValue::from_str(value) {
            value.set_sensitive(sensitive);
            map.insert(name, value);
        }
    };
    put(&mut forwarded, AUTHORIZATION, authorization, true);
    for name in &auth.signed_headers {
        if matches!(*name, "host" | "content-length") {
            continue;
        }
        if let (Ok(header), Some(value)) =
            (HeaderName::from_bytes(name.as_bytes()), headers.get(*name))
        {
            put(
                &mut forwarded,
                header,
                value,
                *name == "x-amz-security-token",
            );
        }
    }
    if !forwarded.contains_key(CONTENT_TYPE) {
        let content_type = headers
            .get("content-type")
            .copied()
            .unwrap_or(FORM_CONTENT_TYPE);
        put(&mut forwarded, CONTENT_TYPE, content_type, false);
    }
    Ok(Forward {
        url,
        headers: forwarded,
        body: request.body.clone(),
    })
}

/// The headers by lowercase name, checked: at most [`MAX_HEADERS`] of at
/// most [`MAX_HEADER_BYTES`] in all, valid names and values, each name once
/// whatever its case.
fn header_map(headers: &BTreeMap<String, String>) -> Result<BTreeMap<String, &str>, ExchangeError> {
    let malformed = |m: String| ExchangeError::Malformed(m);
    if headers.len() > MAX_HEADERS {
        return Err(malformed(format!(
            "the signed request has {} headers, more than {MAX_HEADERS}; send only the headers it was signed with",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(malformed(format!(
            "the signed request's headers are {bytes} bytes, more than {MAX_HEADER_BYTES}; send only the headers it was signed with"
        )));
    }
    let mut map = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(malformed(
                "the signed request has a header whose name is not a header name".to_owned(),
            ));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(malformed(format!(
                "the signed request's {lower} header has a value no header can carry (control characters or non-ASCII)"
            )));
        }
        if map.insert(lower.clone(), value.as_str()).is_some() {
            return Err(malformed(format!(
                "the signed request has the header {lower} more than once (names differing in case); send each header once"
            )));
        }
    }
    Ok(map)
}

/// Checks that `body` is exactly the `GetCallerIdentity` action: the form
/// fields `Action=GetCallerIdentity` and `Version=2011-06-15` (either
/// order, percent-encoded or not), nothing else.
fn check_body(body: &str) -> Result<(), ExchangeError> {
    let exactly =
        "the signed request's body must be exactly Action=GetCallerIdentity&Version=2011-06-15";
    if body.len() > MAX_BODY_BYTES {
        return Err(ExchangeError::Malformed(format!(
            "{exactly} (it is longer)"
        )));
    }
    let mut fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some((_, action)) = fields
        .iter()
        .find(|(k, v)| k == "Action" && v != "GetCallerIdentity")
    {
        let shown = if !action.is_empty()
            && action.len() <= 64
            && action.bytes().all(|c| c.is_ascii_alphanumeric())
        {
            format!("sts:{action}")
        } else {
            "another action".to_owned()
        };
        return Err(ExchangeError::Malformed(format!(
            "the signed request calls {shown}; only sts:GetCallerIdentity proves an identity here ({exactly})"
        )));
    }
    fields.sort();
    let expected = [
        ("Action".to_owned(), "GetCallerIdentity".to_owned()),
        ("Version".to_owned(), "2011-06-15".to_owned()),
    ];
    if fields != expected || body.split('&').count() != 2 {
        return Err(ExchangeError::Malformed(exactly.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_get_caller_identity_body_passes() {
        for ok in [
            "Action=GetCallerIdentity&Version=2011-06-15",
            "Version=2011-06-15&Action=GetCallerIdentity",
            "Action=GetCaller%49dentity&Version=2011-06-15",
        ] {
            check_body(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (no, says) in [
            ("", "exactly"),
            (
                "Action=AssumeRole&Version=2011-06-15&RoleArn=x",
                "sts:AssumeRole",
            ),
            (
                "Action=Get%0ACallerIdentity&Version=2011-06-15",
                "another action",
            ),
            ("Action=GetCallerIdentity", "exactly"),
            (
                "Action=GetCallerIdentity&Version=2011-06-15&Extra=1",
                "exactly",
            ),
            (
                "Action=GetCallerIdentity&Action=GetCallerIdentity&Version=2011-06-15",
                "exactly",
            ),
            ("Action=GetCallerIdentity&&Version=2011-06-15", "exactly"),
            (
                "Action=GetCallerIdentity&Version=2011-06-15;Action=AssumeRole",
                "exactly",
            ),
            (
                "Action=GetCallerIdentity&Version=2011-06-15&Action=AssumeRole",
                "sts:AssumeRole",
            ),
            ("action=GetCallerIdentity&version=2011-06-15", "exactly"),
        ] {
            let e = check_body(no).expect_err(no);
            assert!(
                matches!(&e, ExchangeError::Malformed(m) if m.contains(says)),
                "{no}: {e:?}"
            );
        }
        assert!(check_body(&format!(
            "Action=GetCallerIdentity&Version=2011-06-15&{}",
            "a".repeat(300)
        ))
        .is_err());
    }

    #[test]
    fn header_names_are_unique_whatever_their_case() {
        let mut h = BTreeMap::new();
        h.insert("X-Amz-Date".to_owned(), "1".to_owned());
        h.insert("x-amz-date".to_owned(), "2".to_owned());
        let e = header_map(&h).unwrap_err();
        assert!(e.to_string().contains("x-amz-date more than once"), "{e}");
        let mut h = BTreeMap::new();
        h.insert("bad name".to_owned(), "1".to_owned());
        assert!(header_map(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("x-a".to_owned(), "secret\r\nx: y".to_owned());
        let e = header_map(&h).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
