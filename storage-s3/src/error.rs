//! Maps S3 SDK errors into the core's [`StorageError`], in one place.
//!
//! [`classify`] takes an SDK error apart into what the mapping needs (an HTTP
//! status and S3 error code, or the kind of transport failure) and hands that to
//! [`classify_response`] / [`classify_transport`], which are plain functions of
//! their inputs so the mapping is tested without constructing SDK errors.

use std::error::Error as StdError;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use registry_core::StorageError;

/// The `backend` named in every [`StorageError`] this crate returns.
pub(crate) const BACKEND: &str = "s3";

/// What a request was doing when it failed, for [`classify`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The S3 operation, e.g. `"PutObject"`.
    op: &'static str,
    /// The bucket.
    bucket: &'a str,
    /// The object key, or `""` for bucket-level calls.
    key: &'a str,
    /// Whether a missing object means "the version or token does not exist"
    /// ([`StorageError::NotFound`]) rather than a backend failure.
    missing_means_not_found: bool,
}

impl<'a> Context<'a> {
    /// A call whose object must exist (or a write): a missing key is a failure.
    pub(crate) fn op(op: &'static str, bucket: &'a str, key: &'a str) -> Self {
        Self {
            op,
            bucket,
            key,
            missing_means_not_found: false,
        }
    }

    /// A lookup: a missing key means the thing looked up does not exist.
    pub(crate) fn lookup(op: &'static str, bucket: &'a str, key: &'a str) -> Self {
        Self {
            op,
            bucket,
            key,
            missing_means_not_found: true,
        }
    }
}

impl fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s3://{}/{}", self.op, self.bucket, self.key)
    }
}

/// A failure that produced no HTTP response, as far as [`classify_transport`] cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// No credentials could be found or loaded.
    Credentials,
    /// A timeout (connect, read, or the whole operation).
    Timeout,
    /// The connection failed or broke (refused, reset, DNS, TLS).
    Io,
    /// The request could not be built (a bug or an invalid parameter).
    Construction,
    /// Anything else.
    Other,
}

/// Classifies an SDK error. The only place this crate turns an S3 error into a
/// [`StorageError`]; see [`classify_response`] and [`classify_transport`] for the table.
pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>, cx: Context<'_>) -> StorageError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    if let Some(response) = err.raw_response() {
        let status = response.status().as_u16();
        return classify_response(status, err.code(), &detail, cx);
    }
    let transport = if mentions_credentials(&err) {
        Transport::Credentials
    } else {
        match &err {
            SdkError::TimeoutError(_) => Transport::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => Transport::Timeout,
            SdkError::DispatchFailure(d) if d.is_io() => Transport::Io,
            SdkError::ConstructionFailure(_) => Transport::Construction,
            _ => Transport::Other,
        }
    };
    classify_transport(transport, &detail, cx)
}

/// Whether a [`CredentialsError`] is among the causes of `err`.
fn mentions_credentials(err: &(dyn StdError + 'static)) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// How to fix credentials, appended to every credential-related message.
const CREDENTIALS_HINT: &str = "the registry uses the standard AWS credential chain: set \
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary \
credentials), or AWS_PROFILE, or run with an IAM role (instance profile, ECS task role, \
EKS web identity, Lambda execution role)";

/// The IAM permissions the registry needs on `bucket`.
fn permissions_hint(bucket: &str) -> String {
    format!(
        "the credentials need s3:GetObject, s3:PutObject and s3:DeleteObject on \
         arn:aws:s3:::{bucket}/<prefix>* and s3:ListBucket on arn:aws:s3:::{bucket}"
    )
}

/// Maps an S3 error response (HTTP `status` and S3 error `code`):
///
/// | status / code | `StorageError` |
/// |---|---|
/// | 412, `PreconditionFailed` (a conditional put lost) | `AlreadyExists` |
/// | 404 `NoSuchKey` / `NotFound` (lookups) | `NotFound` (otherwise `Other`) |
/// | 404 `NoSuchBucket` | `Misconfigured`: create the bucket or fix [`S3Config::bucket`](crate::S3Config::bucket) |
/// | `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `ExpiredToken`, `InvalidToken`, ... | `Misconfigured`: fix the credentials |
/// | 403 `AccessDenied` (and other 403s) | `Misconfigured`: grant the IAM permissions |
/// | 403 without a code (`HEAD` answers) | `Misconfigured`: fix the credentials or the permissions |
/// | 301 / `PermanentRedirect`, `AuthorizationHeaderMalformed`, `IllegalLocationConstraintException` | `Misconfigured`: fix the region |
/// | `RequestTimeTooSkewed` | `Misconfigured`: fix the clock |
/// | 501 `NotImplemented` | `Misconfigured`: the server lacks a needed feature |
/// | 503 `SlowDown`, 429, any `Throttling*`, `RequestTimeout`, 409 `ConditionalRequestConflict`, other 5xx | `Unavailable` |
/// | anything else | `Other` |
pub(crate) fn classify_response(
    status: u16,
    code: Option<&str>,
    detail: &str,
    cx: Context<'_>,
) -> StorageError {
    let code_str = code.unwrap_or("");
    let misconfigured = |what: &str| StorageError::Misconfigured {
        backend: BACKEND,
        message: format!("{cx}: {what} (HTTP {status} {code_str}: {detail})"),
    };
    let unavailable = || StorageError::Unavailable {
        backend: BACKEND,
        message: format!("{cx}: HTTP {status} {code_str}: {detail}"),
    };
    match (status, code_str) {
        (412, _) | (_, "PreconditionFailed") => StorageError::AlreadyExists,
        (_, "NoSuchBucket") => misconfigured(&format!(
            "bucket {:?} does not exist: create it, or configure an existing bucket \
             (`bucket`, and `region` / `endpoint_url`)",
            cx.bucket
        )),
        (404, "NoSuchKey" | "NotFound" | "") if cx.missing_means_not_found => {
            StorageError::NotFound
        }
        (
            _,
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "InvalidSecurity"
            | "MissingSecurityHeader"
            | "AccountProblem"
            | "NotSignedUp"
            | "InvalidClientTokenId",
        ) => misconfigured(&format!("S3 rejected the credentials; {CREDENTIALS_HINT}")),
        (_, "RequestTimeTooSkewed") => {
            misconfigured("the clock of this machine is too far off S3's: synchronise it (NTP)")
        }
        (
            _,
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException",
        )
        | (301, _) => misconfigured(
            "the bucket is in another region: set `region` (or AWS_REGION) to the \
             bucket's region",
        ),
        (_, "InvalidBucketName") => misconfigured("invalid bucket name: fix `bucket`"),
        (403, "") => misconfigured(&format!(
            "access denied, or the credentials were rejected (this answer carries no error \
             code); {CREDENTIALS_HINT}; {}",
            permissions_hint(cx.bucket)
        )),
        (403, _) | (_, "AccessDenied" | "AllAccessDisabled") => {
            misconfigured(&format!("access denied: {}", permissions_hint(cx.bucket)))
        }
        (501, _) | (_, "NotImplemented") => misconfigured(
            "the S3 server does not implement this request; the registry needs conditional \
             writes (PutObject with If-None-Match: *), ListObjectsV2 and presigned GetObject",
        ),
        (429 | 500..=599, _)
        | (_, "SlowDown" | "RequestTimeout" | "ServiceUnavailable" | "InternalError")
        | (409, "ConditionalRequestConflict") => unavailable(),
        (_, c) if c.starts_with("Throttl") => unavailable(),
        _ => StorageError::other(BACKEND, format!("{cx}: HTTP {status} {code_str}: {detail}")),
    }
}

/// Maps a failure without an HTTP response:
///
/// | failure | `StorageError` |
/// |---|---|
/// | no credentials found or loadable | `Misconfigured`, naming the ways to provide them |
/// | timeout, connection failure | `Unavailable` |
/// | anything else | `Other` |
pub(crate) fn classify_transport(kind: Transport, detail: &str, cx: Context<'_>) -> StorageError {
    match kind {
        Transport::Credentials => StorageError::Misconfigured {
            backend: BACKEND,
            message: format!("{cx}: no usable AWS credentials ({detail}); {CREDENTIALS_HINT}"),
        },
        Transport::Timeout | Transport::Io => StorageError::Unavailable {
            backend: BACKEND,
            message: format!(
                "{cx}: {detail} (check `endpoint_url` / the network if this persists)"
            ),
        },
        Transport::Construction | Transport::Other => {
            StorageError::other(BACKEND, format!("{cx}: {detail}"))
        }
    }
}

/// A stored object that exists but cannot be understood (or disagrees with itself).
pub(crate) fn corrupt(bucket: &str, key: &str, problem: impl fmt::Display) -> StorageError {
    StorageError::other(
        BACKEND,
        format!("s3://{bucket}/{key} is corrupt: {problem}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &StorageError) -> &'static str {
        match e {
            StorageError::NotFound => "not-found",
            StorageError::AlreadyExists => "exists",
            StorageError::Unavailable { .. } => "unavailable",
            StorageError::Misconfigured { .. } => "misconfigured",
            _ => "other",
        }
    }

    #[test]
    fn response_table() {
        let lookup = Context::lookup("GetObject", "b", "k");
        let op = Context::op("PutObject", "b", "k");
        let cases: &[(u16, Option<&str>, Context<'_>, &str)] = &[
            (404, Some("NoSuchKey"), lookup, "not-found"),
            (404, Some("NotFound"), lookup, "not-found"),
            (404, None, lookup, "not-found"),
            (404, Some("NoSuchKey"), op, "other"),
            (404, Some("NoSuchBucket"), lookup, "misconfigured"),
            (412, Some("PreconditionFailed"), op, "exists"),
            (412, None, op, "exists"),
            (503, Some("SlowDown"), op, "unavailable"),
            (503, Some("ServiceUnavailable"), op, "unavailable"),
            (500, Some("InternalError"), op, "unavailable"),
            (400, Some("ThrottlingException"), op, "unavailable"),
            (429, None, op, "unavailable"),
            (400, Some("RequestTimeout"), op, "unavailable"),
            (409, Some("ConditionalRequestConflict"), op, "unavailable"),
            (403, Some("InvalidAccessKeyId"), op, "misconfigured"),
            (403, Some("SignatureDoesNotMatch"), op, "misconfigured"),
            (400, Some("ExpiredToken"), op, "misconfigured"),
            (403, Some("AccessDenied"), lookup, "misconfigured"),
            (403, None, lookup, "misconfigured"),
            (301, Some("PermanentRedirect"), op, "misconfigured"),
            (
                400,
                Some("AuthorizationHeaderMalformed"),
                op,
                "misconfigured",
            ),
            (403, Some("RequestTimeTooSkewed"), op, "misconfigured"),
            (501, Some("NotImplemented"), op, "misconfigured"),
            (400, Some("InvalidArgument"), op, "other"),
            (409, Some("BucketAlreadyExists"), op, "other"),
        ];
        for (status, code, cx, expected) in cases {
            let got = classify_response(*status, *code, "detail", *cx);
            assert_eq!(kind(&got), *expected, "{status} {code:?} ({cx}): {got:?}");
        }
    }

    #[test]
    fn messages_say_what_to_fix() {
        let cx = Context::op("PutObject", "my-bucket", "p/k");
        let msg = |e: StorageError| e.to_string();
        let creds = msg(classify_response(403, Some("InvalidAccessKeyId"), "d", cx));
        assert!(creds.contains("AWS_ACCESS_KEY_ID"), "{creds}");
        assert!(creds.contains("s3://my-bucket/p/k"), "{creds}");
        let bucket = msg(classify_response(404, Some("NoSuchBucket"), "d", cx));
        assert!(bucket.contains("\"my-bucket\" does not exist"), "{bucket}");
        assert!(bucket.contains("`bucket`"), "{bucket}");
        let denied = msg(classify_response(403, Some("AccessDenied"), "d", cx));
        assert!(denied.contains("s3:PutObject"), "{denied}");
        let region = msg(classify_response(301, None, "d", cx));
        assert!(region.contains("`region`"), "{region}");
        let none = msg(classify_transport(Transport::Credentials, "d", cx));
        assert!(none.contains("AWS_PROFILE"), "{none}");
    }

    #[test]
    fn transport_table() {
        let cx = Context::op("GetObject", "b", "k");
        for (t, expected) in [
            (Transport::Credentials, "misconfigured"),
            (Transport::Timeout, "unavailable"),
            (Transport::Io, "unavailable"),
            (Transport::Construction, "other"),
            (Transport::Other, "other"),
        ] {
            assert_eq!(kind(&classify_transport(t, "d", cx)), expected, "{t:?}");
        }
    }

    #[test]
    fn finds_credentials_errors_among_causes() {
        #[derive(Debug)]
        struct Wrapper(CredentialsError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl StdError for Wrapper {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        assert!(mentions_credentials(&Wrapper(
            CredentialsError::not_loaded_no_source()
        )));
        assert!(!mentions_credentials(&std::io::Error::other("x")));
    }
}
