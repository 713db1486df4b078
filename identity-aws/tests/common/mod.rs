//! What the integration tests share: moto's endpoint (from
//! `TFR_TEST_S3_ENDPOINT`), signing and sending AWS query-API calls on the
//! wire, and a stand-in STS on loopback that checks SigV4 signatures.
#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::BodyExt;
use identity_aws::{AwsIdentityVerifier, AwsVerifierConfig, FORM_CONTENT_TYPE};
use registry_core::exchange::SignedRequest;
use upstream_http::fake::{body, Loopback, Server};

/// The server id every test's verifier is configured with.
pub(crate) const SERVER_ID: &str = "registry.test";

/// moto's endpoint, `http://127.0.0.1:PORT/`, from `TFR_TEST_S3_ENDPOINT`
/// (moto serves every service there); `None`, after a note, when it is
/// unset outside CI.
///
/// # Panics
/// When it is unset under `CI=true`: CI must run these tests.
pub(crate) fn moto_endpoint() -> Option<String> {
    match std::env::var("TFR_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            Some(format!("{}/", endpoint.trim().trim_end_matches('/')))
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("TFR_TEST_S3_ENDPOINT is not set: run scripts/test, which starts moto")
        }
        _ => {
            eprintln!(
                "note: TFR_TEST_S3_ENDPOINT is not set, so this test does not run against moto's \
                 STS (scripts/test starts moto and sets it)"
            );
            None
        }
    }
}

/// moto's root credentials (`testing`/`testing`, as scripts/test exports).
pub(crate) fn moto_root() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

/// A name no earlier run used (moto keeps its state while it runs).
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

/// A verifier for [`SERVER_ID`] allowing exactly `endpoint`, with a short
/// timeout.
pub(crate) fn verifier(endpoint: &str) -> AwsIdentityVerifier {
    AwsIdentityVerifier::new(
        AwsVerifierConfig::new(SERVER_ID)
            .with_sts_endpoints([endpoint])
            .with_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

/// Signs a form `POST` of `body` to `url` for `service` in us-east-1 with
/// aws-sigv4, over `host`, `content-type` and `headers`; answers every header
/// to send, `authorization` included.
pub(crate) fn sign_for(
    service: &str,
    credentials: &Credentials,
    region: &str,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
    time: SystemTime,
) -> BTreeMap<String, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut all: BTreeMap<String, String> = headers.iter().cloned().collect();
    for (name, value) in instructions.headers() {
        all.insert(name.to_owned(), value.to_owned());
    }
    all
}

/// Sends `request` as it is (a test client calling STS itself).
pub(crate) async fn send(request: &SignedRequest) -> (u16, String) {
    let mut builder = reqwest::Client::new().post(&request.url);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("host") {
            builder = builder.header(name, value);
        }
    }
    let response = builder.body(request.body.clone()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Calls `service`'s query API at moto with `credentials`: a signed form
/// `POST` of `body`. Answers the XML.
///
/// # Panics
/// Unless moto answers 200.
pub(crate) async fn moto_call(
    endpoint: &str,
    service: &str,
    credentials: &Credentials,
    body: &str,
) -> String {
    let host = reqwest::Url::parse(endpoint).unwrap();
    let host = format!("{}:{}", host.host_str().unwrap(), host.port().unwrap());
    let headers = sign_for(
        service,
        credentials,
        "us-east-1",
        endpoint,
        body.as_bytes(),
        &[
            ("host".to_owned(), host),
            ("content-type".to_owned(), FORM_CONTENT_TYPE.to_owned()),
        ],
        SystemTime::now(),
    );
    let request = SignedRequest {
        method: "POST".to_owned(),
        url: endpoint.to_owned(),
        headers,
        body: body.to_owned(),
    };
    let (status, text) = send(&request).await;
    assert_eq!(status, 200, "moto's {service} answered: {text}");
    text
}

/// The text of the first element named `tag` in `xml`.
pub(crate) fn xml_text(xml: &str, tag: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == tag)
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        .trim()
        .to_owned()
}

/// `sts:AssumeRole` of `role_arn` at moto, on the wire: the role's temporary
/// credentials (with a session token).
pub(crate) async fn assume_role(endpoint: &str, role_arn: &str, session: &str) -> Credentials {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", session)
        .finish();
    let xml = moto_call(endpoint, "sts", &moto_root(), &body).await;
    Credentials::new(
        xml_text(&xml, "AccessKeyId"),
        xml_text(&xml, "SecretAccessKey"),
        Some(xml_text(&xml, "SessionToken")),
        None,
        "moto-assume-role",
    )
}

// ---- the stand-in STS

/// The only access key the stand-in knows.
pub(crate) const STAND_IN_KEY: &str = "ASIASTANDINEXAMPLE01";
/// Its secret.
pub(crate) const STAND_IN_SECRET: &str = "stand-in/secret/key/EXAMPLEKEY0123456789ab";
/// Its session token.
pub(crate) const STAND_IN_TOKEN: &str = "FwoGZXIvYXdzEStandInSessionTokenEXAMPLE//////////wEaDA==";
/// The caller the stand-in answers for a good signature.
pub(crate) const STAND_IN_ARN: &str =
    "arn:aws:sts::210987654321:assumed-role/deploy/stand-in-session";

/// The stand-in's credentials.
pub(crate) fn stand_in_credentials() -> Credentials {
    Credentials::new(
        STAND_IN_KEY,
        STAND_IN_SECRET,
        Some(STAND_IN_TOKEN.to_owned()),
        None,
        "stand-in",
    )
}

/// How the stand-in answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// As STS: checks the SigV4 signature with the stand-in's credentials
    /// and answers the caller, or STS's 403 `SignatureDoesNotMatch`.
    Sts,
    /// With this status and an `InternalFailure` error body.
    Status(u16),
    /// Never (holds the connection).
    Hang,
}

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// Header names (lowercase) and values, as received.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: String,
}

/// A stand-in STS on loopback.
#[derive(Debug)]
pub(crate) struct StandIn {
    /// `http://127.0.0.1:PORT/`.
    pub(crate) url: String,
    /// What it received, in order.
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    _server: Server,
}

impl StandIn {
    /// Starts one answering as `mode` says.
    pub(crate) async fn start(mode: Mode) -> Self {
        let port = Loopback::bind("the stand-in STS").await;
        let url = port.url().to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let server = port.serve(move |request| {
            let seen = seen.clone();
            async move {
                let (parts, incoming) = request.into_parts();
                let bytes = incoming
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                let headers: Vec<(String, String)> = parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            v.to_str().unwrap_or("<bytes>").to_owned(),
                        )
                    })
                    .collect();
                seen.lock().unwrap().push(Received {
                    headers: headers.clone(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                Ok(match mode {
                    Mode::Sts => answer_as_sts(&headers, &bytes),
                    Mode::Status(code) => body(
                        code,
                        "text/xml",
                        sts_error("Receiver", "InternalFailure", "An internal error occurred."),
                    ),
                    Mode::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        body(500, "text/plain", Bytes::new())
                    }
                })
            }
        });
        Self {
            url,
            received,
            _server: server,
        }
    }

    /// How many requests it received.
    pub(crate) fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// STS's error document.
pub(crate) fn sts_error(kind: &str, code: &str, message: &str) -> Bytes {
    Bytes::from(format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>4f1a2b3c-0000-4000-8000-standin00001</RequestId>\n</ErrorResponse>\n"
    ))
}

/// Checks the signature as STS does: recomputes it with aws-sigv4 from the
/// stand-in's credentials over the headers the request says it signed, its
/// body and its `x-amz-date`, and compares the whole `Authorization`.
fn answer_as_sts(headers: &[(String, String)], bytes: &[u8]) -> upstream_http::fake::Reply {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let refuse =
        |code: &str, message: &str| body(403, "text/xml", sts_error("Sender", code, message));
    let Some(authorization) = get("authorization") else {
        return refuse(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        );
    };
    let field = |key: &str| {
        authorization
            .split([' ', ','])
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or_default()
    };
    let credential: Vec<&str> = field("Credential=").split('/').collect();
    if credential.first() != Some(&STAND_IN_KEY)
        || get("x-amz-security-token") != Some(STAND_IN_TOKEN)
    {
        return refuse(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
    }
    let region = credential.get(2).copied().unwrap_or_default();
    let date = get("x-amz-date").unwrap_or_default();
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date.get(0..4).unwrap_or("0"),
        &date.get(4..6).unwrap_or("0"),
        &date.get(6..8).unwrap_or("0"),
        &date.get(9..11).unwrap_or("0"),
        &date.get(11..13).unwrap_or("0"),
        &date.get(13..15).unwrap_or("0"),
    );
    let Ok(time) = humantime::parse_rfc3339(&rfc3339) else {
        return refuse("IncompleteSignature", "x-amz-date is missing or invalid");
    };
    let signed: Vec<(String, String)> = field("SignedHeaders=")
        .split(';')
        .filter(|n| !matches!(*n, "x-amz-date" | "x-amz-security-token"))
        .map(|n| (n.to_owned(), get(n).unwrap_or_default().to_owned()))
        .collect();
    let host = get("host").unwrap_or_default();
    let expected = sign_for(
        "sts",
        &stand_in_credentials(),
        region,
        &format!("http://{host}/"),
        bytes,
        &signed,
        time,
    );
    if expected.get("authorization").map(String::as_str) != Some(authorization) {
        return refuse(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        );
    }
    body(
        200,
        "text/xml",
        Bytes::from(format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{STAND_IN_ARN}</Arn>\n    <UserId>AROASTANDINEXAMPLE:stand-in-session</UserId>\n    <Account>210987654321</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>4f1a2b3c-0000-4000-8000-standin00002</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n"
        )),
    )
}
