//! Reading STS's answer to a forwarded `GetCallerIdentity`: the caller
//! identity, or STS's error classified into an [`ExchangeError`].

use registry_core::exchange::ExchangeError;

/// The caller identity STS answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallerIdentity {
    /// `Arn`.
    pub(crate) arn: String,
    /// `Account`.
    pub(crate) account: String,
    /// `UserId`.
    pub(crate) user_id: String,
}

/// Error codes that mean STS is refusing for now, not refusing the request.
const TRANSIENT_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
];

/// Reads STS's answer: `status` and `body` (XML).
///
/// # Errors
/// - [`ExchangeError::Rejected`] for a 4xx answer, naming STS's error code
///   (`SignatureDoesNotMatch`, `ExpiredToken`, `InvalidClientTokenId`...) and
///   what to do; never STS's message, which may quote the request;
/// - [`ExchangeError::Unavailable`] for a 5xx, a throttling code, another
///   status, or a 200 without a caller identity.
pub(crate) fn read(status: u16, body: &[u8]) -> Result<CallerIdentity, ExchangeError> {
    let text = std::str::from_utf8(body).unwrap_or_default();
    let document = roxmltree::Document::parse(text).ok();
    if status == 200 {
        return document.as_ref().and_then(caller_identity).ok_or_else(|| {
            ExchangeError::Unavailable(
                "STS answered 200 without a GetCallerIdentityResult; try again later".to_owned(),
            )
        });
    }
    let (code, request_id) = document.as_ref().map(error_code).unwrap_or_default();
    let request_id = request_id
        .map(|id| format!(" (STS request id {id})"))
        .unwrap_or_default();
    let transient = code
        .as_deref()
        .is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if (400..500).contains(&status) && status != 429 && !transient {
        let message = match code.as_deref() {
            Some(code) => format!("STS refused the signed request: {code}{request_id}; {}", hint(code)),
            None => format!(
                "STS refused the signed request (HTTP {status}){request_id}; sign it again with current credentials"
            ),
        };
        return Err(ExchangeError::Rejected(message));
    }
    let what = match code {
        Some(code) => format!("HTTP {status}, {code}"),
        None => format!("HTTP {status}"),
    };
    Err(ExchangeError::Unavailable(format!(
        "STS could not check the signed request ({what}){request_id}; try again later"
    )))
}

/// What to do about STS error `code`.
fn hint(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "sign the request again with the caller's current credentials, for the endpoint's region, and send it unchanged (a signed request is valid for 15 minutes)"
        }
        "InvalidClientTokenId" | "UnrecognizedClientException" => {
            "the access key (or session token) is not known to AWS in this partition; use current credentials"
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            "the credentials or the signed request expired; refresh the credentials and sign again"
        }
        "RegionDisabledException" => {
            "STS is not enabled in that region for the account; sign for the global endpoint or another region"
        }
        _ => "sign the request again with current credentials",
    }
}

/// `Arn`, `Account` and `UserId` of a `GetCallerIdentityResponse`.
fn caller_identity(document: &roxmltree::Document<'_>) -> Option<CallerIdentity> {
    let root = document.root_element();
    if root.tag_name().name() != "GetCallerIdentityResponse" {
        return None;
    }
    let result = child(root, "GetCallerIdentityResult")?;
    let field =
        |name| Some(child(result, name)?.text()?.trim().to_owned()).filter(|s| !s.is_empty());
    Some(CallerIdentity {
        arn: field("Arn")?,
        account: field("Account")?,
        user_id: field("UserId")?,
    })
}

/// The `Code` and `RequestId` of an `ErrorResponse`, each kept only if it is
/// a short token (letters, digits, `.`, `-`, `_`), so that nothing the
/// request held is shown.
fn error_code(document: &roxmltree::Document<'_>) -> (Option<String>, Option<String>) {
    let root = document.root_element();
    if root.tag_name().name() != "ErrorResponse" {
        return (None, None);
    }
    let token = |node: Option<roxmltree::Node<'_, '_>>| {
        let text = node?.text()?.trim();
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
        ok.then(|| text.to_owned())
    };
    let code = token(child(root, "Error").and_then(|e| child(e, "Code")));
    (code, token(child(root, "RequestId")))
}

/// The first child element of `node` named `name` (any namespace).
fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/ci-role/build-1</Arn>
    <UserId>AROAEXAMPLE:build-1</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

    fn error(code: &str, message: &str) -> String {
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
        )
    }

    #[test]
    fn a_caller_identity_is_read() {
        let id = read(200, OK.as_bytes()).unwrap();
        assert_eq!(
            id.arn,
            "arn:aws:sts::123456789012:assumed-role/ci-role/build-1"
        );
        assert_eq!(id.account, "123456789012");
        assert_eq!(id.user_id, "AROAEXAMPLE:build-1");
        for bad in [
            "",
            "<x/>",
            "not xml",
            "<GetCallerIdentityResponse/>",
            &OK.replace("<Arn>", "<Arn/><X>"),
        ] {
            let e = read(200, bad.as_bytes()).unwrap_err();
            assert!(matches!(e, ExchangeError::Unavailable(_)), "{bad}: {e:?}");
        }
    }

    #[test]
    fn refusals_name_the_code_not_the_message() {
        let body = error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match: secret-echo",
        );
        let e = read(403, body.as_bytes()).unwrap_err();
        let ExchangeError::Rejected(m) = &e else {
            panic!("{e:?}")
        };
        assert!(
            m.contains("SignatureDoesNotMatch") && m.contains("req-1"),
            "{m}"
        );
        assert!(!m.contains("secret-echo"), "{m}");
        let e = read(403, error("ExpiredToken", "x").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("refresh the credentials"), "{e}");
        let e = read(400, error("InvalidAction <script>", "x").as_bytes()).unwrap_err();
        assert!(
            matches!(&e, ExchangeError::Rejected(m) if m.contains("HTTP 400") && !m.contains("script")),
            "{e:?}"
        );
        let e = read(403, b"").unwrap_err();
        assert!(
            matches!(&e, ExchangeError::Rejected(m) if m.contains("HTTP 403")),
            "{e:?}"
        );
    }

    #[test]
    fn outages_and_throttling_are_unavailable() {
        for (status, body) in [
            (500, error("InternalFailure", "x")),
            (503, String::new()),
            (400, error("Throttling", "Rate exceeded")),
            (429, String::new()),
            (302, String::new()),
        ] {
            let e = read(status, body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, ExchangeError::Unavailable(_)),
                "{status}: {e:?}"
            );
        }
    }
}
