//! What the client and the verifier agree on about STS requests.

use reqwest::Url;

/// The only body the registry accepts: the `GetCallerIdentity` action of the
/// STS API version 2011-06-15.
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The content type of a signed STS form body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The SigV4 service name of STS (the credential scope's service).
pub(crate) const STS_SERVICE: &str = "sts";

/// `host[:port]` of `url` as a `Host` header carries it: the port only when
/// it is not the scheme's default.
pub(crate) fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}
