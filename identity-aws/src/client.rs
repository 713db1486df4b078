//! The client side: signing the `sts:GetCallerIdentity` request that a client
//! hands to the registry instead of sending it to STS.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use registry_core::exchange::{SignedRequest, BINDING_HEADER};
use reqwest::Url;

use crate::sts::{authority, FORM_CONTENT_TYPE, GET_CALLER_IDENTITY_BODY, STS_SERVICE};

/// Why a request could not be signed. The message says what to fix; it never
/// holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The endpoint is not an STS endpoint URL (`https://sts.amazonaws.com/`).
    #[error("STS endpoint: {0}")]
    Endpoint(String),
    /// The region is empty or not a region name (`eu-west-1`).
    #[error("AWS region: {0}")]
    Region(String),
    /// An extra header is unusable (the server id included).
    #[error("header: {0}")]
    Header(String),
    /// The signer refused (e.g. credentials it cannot use).
    #[error("signing the STS request failed: {0}")]
    Signing(String),
}

/// The regional STS endpoint of `region`: `https://sts.{region}.amazonaws.com/`,
/// or `https://sts.{region}.amazonaws.com.cn/` for a China region (`cn-*`).
///
/// The global endpoint is `https://sts.amazonaws.com/` (signed for
/// `us-east-1`); regional endpoints answer from the region itself and are what
/// AWS recommends.
///
/// ```
/// use identity_aws::sts_endpoint;
///
/// assert_eq!(sts_endpoint("eu-west-1"), "https://sts.eu-west-1.amazonaws.com/");
/// assert_eq!(sts_endpoint("cn-north-1"), "https://sts.cn-north-1.amazonaws.com.cn/");
/// ```
pub fn sts_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sts.{region}.{suffix}/")
}

/// Signs an `sts:GetCallerIdentity` call with `credentials` for the registry
/// whose server id is `server_id`: a `POST` of
/// [`GET_CALLER_IDENTITY_BODY`] to `endpoint` (e.g.
/// `https://sts.eu-west-1.amazonaws.com/`, see [`sts_endpoint`]) in `region`
/// (the credential scope: the endpoint's region, `us-east-1` for the global
/// endpoint), at `time`.
///
/// The headers are `host`, `content-type`, `x-amz-date`,
/// [`BINDING_HEADER`] (`x-tfr-server-id: {server_id}`), the
/// `x-amz-security-token` when the credentials have a session token, and the
/// `authorization` holding the SigV4 signature over all of them and the body.
/// The answer is valid for 15 minutes from `time` (STS's limit) and only at
/// the registry with that server id; send it as the body of
/// `POST /v1/exchange/aws`.
///
/// # Errors
/// [`SignError`] when `endpoint` is not an http(s) URL with path `/` and no
/// credentials, query or fragment, when `region` is not a region name, when
/// `server_id` is empty or cannot be a header value, or when the signer
/// refuses.
///
/// ```
/// use std::time::SystemTime;
/// use aws_credential_types::Credentials;
/// use identity_aws::{sign_get_caller_identity, sts_endpoint};
///
/// let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "example");
/// let request = sign_get_caller_identity(
///     &credentials,
///     "eu-west-1",
///     &sts_endpoint("eu-west-1"),
///     "registry.example.com",
///     SystemTime::now(),
/// )
/// .unwrap();
/// assert_eq!(request.method, "POST");
/// assert_eq!(request.headers["x-tfr-server-id"], "registry.example.com");
/// assert!(request.headers["authorization"].contains("x-tfr-server-id"));
/// ```
pub fn sign_get_caller_identity(
    credentials: &Credentials,
    region: &str,
    endpoint: &str,
    server_id: &str,
    time: SystemTime,
) -> Result<SignedRequest, SignError> {
    if server_id.trim().is_empty() {
        return Err(SignError::Header(format!(
            "the server id is empty; give the registry's server id (its {BINDING_HEADER} value)"
        )));
    }
    sign_sts_request(
        credentials,
        region,
        endpoint,
        GET_CALLER_IDENTITY_BODY,
        &[(BINDING_HEADER, server_id)],
        time,
    )
}

/// The lower level of [`sign_get_caller_identity`]: signs a `POST` of the
/// form `body` (any STS action, e.g. `Action=AssumeRole&...`) to `endpoint`
/// with the headers `host`, `content-type` ([`FORM_CONTENT_TYPE`]),
/// `x-amz-date`, the session token if any, and every one of `extra_headers`
/// (name, value), all signed.
///
/// The registry accepts only what [`sign_get_caller_identity`] signs; this is
/// for clients that call STS themselves, and for tests of what the registry
/// refuses.
///
/// # Errors
/// As [`sign_get_caller_identity`]; also [`SignError::Header`] for an extra
/// header that is not a valid header, or that repeats `host`, `content-type`,
/// a header the signer sets or another extra header (names compare
/// whatever their case).
pub fn sign_sts_request(
    credentials: &Credentials,
    region: &str,
    endpoint: &str,
    body: &str,
    extra_headers: &[(&str, &str)],
    time: SystemTime,
) -> Result<SignedRequest, SignError> {
    let url = endpoint_url(endpoint)?;
    check_region(region)?;
    let host = authority(&url);
    let mut headers: Vec<(String, String)> = vec![
        ("host".to_owned(), host),
        ("content-type".to_owned(), FORM_CONTENT_TYPE.to_owned()),
    ];
    for (name, value) in extra_headers {
        let name = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(SignError::Header(format!("{name:?} is not a header name")));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(SignError::Header(format!(
                "the value of {name} cannot be a header value (control characters or non-ASCII)"
            )));
        }
        let set_by_signer = [
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
        ];
        if set_by_signer.contains(&name.as_str()) || headers.iter().any(|(n, _)| *n == name) {
            return Err(SignError::Header(format!(
                "{name} is given twice, or is one the signer sets; give it once"
            )));
        }
        headers.push((name, (*value).to_owned()));
    }

    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(STS_SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| SignError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into_parts();
    let (added, _params) = instructions.into_parts();

    let mut signed: std::collections::BTreeMap<String, String> = headers.into_iter().collect();
    for header in added {
        signed.insert(header.name().to_owned(), header.value().to_owned());
    }
    Ok(SignedRequest {
        method: "POST".to_owned(),
        url: url.to_string(),
        headers: signed,
        body: body.to_owned(),
    })
}

/// `endpoint` parsed, checked to be an http(s) URL with a host, path `/`, and
/// no credentials, query or fragment.
fn endpoint_url(endpoint: &str) -> Result<Url, SignError> {
    let example = "use e.g. https://sts.eu-west-1.amazonaws.com/";
    let url = Url::parse(endpoint)
        .map_err(|e| SignError::Endpoint(format!("not a URL ({e}); {example}")))?;
    upstream_http::check_base_url(&url)
        .map_err(|e| SignError::Endpoint(format!("{e}; {example}")))?;
    if url.path() != "/" {
        return Err(SignError::Endpoint(format!(
            "the path must be `/`, not {:?}; {example}",
            url.path()
        )));
    }
    Ok(url)
}

/// Checks that `region` looks like a region name: lowercase letters, digits
/// and `-`, not empty.
fn check_region(region: &str) -> Result<(), SignError> {
    let valid = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if valid {
        Ok(())
    } else {
        Err(SignError::Region(format!(
            "{region:?} is not a region name; use e.g. eu-west-1 (us-east-1 for the global endpoint)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    const TIME: Duration = Duration::from_secs(1_700_000_000);

    #[test]
    fn signs_every_header_with_the_binding_and_the_token() {
        let r = sign_get_caller_identity(
            &credentials(Some("session-token")),
            "eu-west-1",
            "https://sts.eu-west-1.amazonaws.com",
            "registry.example.com",
            UNIX_EPOCH + TIME,
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "https://sts.eu-west-1.amazonaws.com/");
        assert_eq!(r.body, GET_CALLER_IDENTITY_BODY);
        assert_eq!(r.headers["host"], "sts.eu-west-1.amazonaws.com");
        assert_eq!(r.headers["content-type"], FORM_CONTENT_TYPE);
        assert_eq!(r.headers["x-amz-date"], "20231114T221320Z");
        assert_eq!(r.headers["x-tfr-server-id"], "registry.example.com");
        assert_eq!(r.headers["x-amz-security-token"], "session-token");
        let auth = &r.headers["authorization"];
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/sts/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-tfr-server-id, \
                 Signature="
            ),
            "{auth}"
        );
        // Deterministic: the same inputs sign the same.
        let again = sign_get_caller_identity(
            &credentials(Some("session-token")),
            "eu-west-1",
            "https://sts.eu-west-1.amazonaws.com/",
            "registry.example.com",
            UNIX_EPOCH + TIME,
        )
        .unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn without_a_session_token_there_is_no_token_header() {
        let r = sign_get_caller_identity(
            &credentials(None),
            "us-east-1",
            "http://127.0.0.1:4566/",
            "id",
            UNIX_EPOCH + TIME,
        )
        .unwrap();
        assert!(!r.headers.contains_key("x-amz-security-token"));
        assert_eq!(r.headers["host"], "127.0.0.1:4566");
        assert!(r.headers["authorization"]
            .contains("SignedHeaders=content-type;host;x-amz-date;x-tfr-server-id,"));
    }

    #[test]
    fn bad_inputs_say_what_to_fix() {
        let c = credentials(None);
        let t = UNIX_EPOCH + TIME;
        for (endpoint, region, server_id, says) in [
            ("sts.amazonaws.com", "us-east-1", "id", "not a URL"),
            ("ftp://sts.amazonaws.com/", "us-east-1", "id", "scheme"),
            ("https://sts.amazonaws.com/x", "us-east-1", "id", "path"),
            ("https://sts.amazonaws.com/?a", "us-east-1", "id", "query"),
            (
                "https://u:p@sts.amazonaws.com/",
                "us-east-1",
                "id",
                "credentials",
            ),
            ("https://sts.amazonaws.com/", "", "id", "region name"),
            ("https://sts.amazonaws.com/", "EU", "id", "region name"),
            (
                "https://sts.amazonaws.com/",
                "us-east-1",
                " ",
                "server id is empty",
            ),
            (
                "https://sts.amazonaws.com/",
                "us-east-1",
                "a\nb",
                "header value",
            ),
        ] {
            let e = sign_get_caller_identity(&c, region, endpoint, server_id, t).unwrap_err();
            assert!(e.to_string().contains(says), "{endpoint} {region}: {e}");
        }
        let e = sign_sts_request(
            &c,
            "us-east-1",
            "https://sts.amazonaws.com/",
            GET_CALLER_IDENTITY_BODY,
            &[("Host", "evil")],
            t,
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn regional_endpoints() {
        assert_eq!(
            sts_endpoint("us-gov-west-1"),
            "https://sts.us-gov-west-1.amazonaws.com/"
        );
        assert_eq!(
            sts_endpoint("cn-northwest-1"),
            "https://sts.cn-northwest-1.amazonaws.com.cn/"
        );
    }
}
