//! The verifier against a stand-in STS on loopback that checks SigV4
//! signatures as STS does (recomputing them with aws-sigv4 from known test
//! credentials) and answers as STS does: what is forwarded still verifies,
//! a tampered request gets STS's 403 `SignatureDoesNotMatch`, and every
//! refusal before forwarding leaves the stand-in unasked. Always runs.
mod common;

use std::time::{Duration, SystemTime};

use common::{
    stand_in_credentials, verifier, Mode, StandIn, SERVER_ID, STAND_IN_ARN, STAND_IN_TOKEN,
};
use identity_aws::{
    sign_get_caller_identity, sign_sts_request, AwsIdentityVerifier, AwsVerifierConfig,
    GET_CALLER_IDENTITY_BODY, MAX_HEADERS,
};
use registry_core::exchange::{CallerIdentityVerifier, ExchangeError, SignedRequest};
use upstream_http::fake::Loopback;

/// A change made to a good signed request.
type Mutation = dyn Fn(&mut SignedRequest);

fn signed(url: &str) -> SignedRequest {
    sign_get_caller_identity(
        &stand_in_credentials(),
        "eu-west-1",
        url,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap()
}

fn signature(request: &SignedRequest) -> String {
    let auth = &request.headers["authorization"];
    auth[auth.find("Signature=").unwrap() + "Signature=".len()..].to_owned()
}

/// Asserts `e` says nothing secret of `request`.
fn assert_no_secret(e: &ExchangeError, request: &SignedRequest) {
    let text = format!("{e} {e:?}");
    for secret in [
        signature(request).as_str(),
        STAND_IN_TOKEN,
        request.headers["authorization"].as_str(),
        common::STAND_IN_SECRET,
    ] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn a_good_signature_is_verified_and_only_signed_headers_are_forwarded() {
    let sts = StandIn::start(Mode::Sts).await;
    let mut request = signed(&sts.url);
    // Unsigned headers the client (or a proxy) added: not forwarded.
    request
        .headers
        .insert("X-Unsigned-Extra".into(), "1".into());
    request
        .headers
        .insert("User-Agent".into(), "client/1".into());

    let identity = verifier(&sts.url).verify(&request).await.unwrap();
    assert_eq!(identity.issuer, "aws");
    assert_eq!(identity.subject, STAND_IN_ARN);
    assert_eq!(identity.claims["type"], "assumed-role");
    assert_eq!(identity.claims["name"], "deploy");
    assert_eq!(identity.claims["session"], "stand-in-session");
    assert_eq!(identity.claims["account"], "210987654321");
    assert_eq!(
        identity.claims["user_id"],
        "AROASTANDINEXAMPLE:stand-in-session"
    );

    let received = sts.received.lock().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, GET_CALLER_IDENTITY_BODY);
    let names: Vec<&str> = received[0]
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    for name in &names {
        assert!(
            [
                "authorization",
                "content-type",
                "content-length",
                "host",
                "x-amz-date",
                "x-amz-security-token",
                "x-tfr-server-id",
                // reqwest's own.
                "accept",
                "user-agent",
            ]
            .contains(name),
            "forwarded {name}: {names:?}"
        );
    }
    let user_agent = &received[0]
        .headers
        .iter()
        .find(|(n, _)| n == "user-agent")
        .unwrap()
        .1;
    assert!(
        user_agent.starts_with("terraform-registry-identity-aws/"),
        "{user_agent}"
    );
}

#[tokio::test]
async fn a_tampered_signature_is_rejected_with_stss_code() {
    let sts = StandIn::start(Mode::Sts).await;
    let good = signed(&sts.url);
    let sig = signature(&good);
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { '1' } else { '0' },
        &sig[1..]
    );
    let mut tampered = good.clone();
    tampered.headers.insert(
        "authorization".into(),
        good.headers["authorization"].replace(&sig, &flipped),
    );

    let e = verifier(&sts.url).verify(&tampered).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("SignatureDoesNotMatch")),
        "{e:?}"
    );
    assert_no_secret(&e, &tampered);
    assert!(!e.to_string().contains(&flipped), "{e}");
    assert!(
        !e.to_string().contains("we calculated"),
        "STS's message is not echoed: {e}"
    );
    assert_eq!(sts.count(), 1);

    // A signed value changed after signing: the same refusal, from STS.
    let mut changed = good.clone();
    changed
        .headers
        .insert("x-amz-date".into(), "20200101T000000Z".into());
    let e = verifier(&sts.url).verify(&changed).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("SignatureDoesNotMatch")),
        "{e:?}"
    );

    // Other credentials: STS does not know the key.
    let stranger = aws_credential_types::Credentials::new("AKIASTRANGER", "x", None, None, "t");
    let request = sign_get_caller_identity(
        &stranger,
        "eu-west-1",
        &sts.url,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    let e = verifier(&sts.url).verify(&request).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("InvalidClientTokenId")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_binding_header_must_be_present_signed_and_ours() {
    let sts = StandIn::start(Mode::Sts).await;
    let v = verifier(&sts.url);
    let creds = stand_in_credentials();
    let now = SystemTime::now();

    // Missing (signed without it).
    let missing = sign_sts_request(
        &creds,
        "eu-west-1",
        &sts.url,
        GET_CALLER_IDENTITY_BODY,
        &[],
        now,
    )
    .unwrap();
    let e = v.verify(&missing).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("x-tfr-server-id")),
        "{e:?}"
    );

    // Present but added after signing.
    let mut unsigned = missing.clone();
    unsigned
        .headers
        .insert("x-tfr-server-id".into(), SERVER_ID.into());
    let e = v.verify(&unsigned).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("does not sign the x-tfr-server-id")),
        "{e:?}"
    );

    // Signed but removed.
    let mut removed = signed(&sts.url);
    removed.headers.remove("x-tfr-server-id");
    let e = v.verify(&removed).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("no x-tfr-server-id")),
        "{e:?}"
    );

    // Signed for another registry: neither value is shown.
    let other =
        sign_get_caller_identity(&creds, "eu-west-1", &sts.url, "other-registry.example", now)
            .unwrap();
    let e = v.verify(&other).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("not this registry's server id")),
        "{e:?}"
    );
    assert!(
        !e.to_string().contains("other-registry") && !e.to_string().contains(SERVER_ID),
        "{e}"
    );

    // Not the case of the name that counts, the value.
    let mut upper = signed(&sts.url);
    let value = upper.headers.remove("x-tfr-server-id").unwrap();
    upper.headers.insert("X-TFR-Server-Id".into(), value);
    assert!(v.verify(&upper).await.is_ok());

    assert_eq!(sts.count(), 1, "only the good request was forwarded");
}

#[tokio::test]
async fn other_actions_methods_and_shapes_are_refused_unforwarded() {
    let sts = StandIn::start(Mode::Sts).await;
    let v = verifier(&sts.url);
    let creds = stand_in_credentials();
    let now = SystemTime::now();
    let bind = [("x-tfr-server-id", SERVER_ID)];

    let assume = sign_sts_request(
        &creds,
        "eu-west-1",
        &sts.url,
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa&RoleSessionName=s1",
        &bind,
        now,
    )
    .unwrap();
    let e = v.verify(&assume).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Malformed(m) if m.contains("sts:AssumeRole")),
        "{e:?}"
    );

    let extra = sign_sts_request(
        &creds,
        "eu-west-1",
        &sts.url,
        "Action=GetCallerIdentity&Version=2011-06-15&Extra=1",
        &bind,
        now,
    )
    .unwrap();
    assert!(matches!(
        v.verify(&extra).await,
        Err(ExchangeError::Malformed(_))
    ));

    let mut get = signed(&sts.url);
    get.method = "GET".into();
    assert!(matches!(v.verify(&get).await, Err(ExchangeError::Malformed(m)) if m.contains("POST")));

    let mut no_auth = signed(&sts.url);
    no_auth.headers.remove("authorization");
    assert!(
        matches!(v.verify(&no_auth).await, Err(ExchangeError::Malformed(m)) if m.contains("Authorization"))
    );

    let mut json = signed(&sts.url);
    json.headers
        .insert("content-type".into(), "application/json".into());
    assert!(
        matches!(v.verify(&json).await, Err(ExchangeError::Malformed(m)) if m.contains("content-type"))
    );

    let mut host = signed(&sts.url);
    host.headers
        .insert("host".into(), "sts.amazonaws.com".into());
    assert!(
        matches!(v.verify(&host).await, Err(ExchangeError::Rejected(m)) if m.contains("host header"))
    );

    // A signed hop-by-hop header.
    let hop = sign_sts_request(
        &creds,
        "eu-west-1",
        &sts.url,
        GET_CALLER_IDENTITY_BODY,
        &[("x-tfr-server-id", SERVER_ID), ("connection", "close")],
        now,
    )
    .unwrap();
    assert!(
        matches!(v.verify(&hop).await, Err(ExchangeError::Malformed(m)) if m.contains("hop-by-hop"))
    );

    assert_eq!(sts.count(), 0);
}

#[tokio::test]
async fn urls_outside_the_allowed_endpoints_are_refused_unforwarded() {
    let sts = StandIn::start(Mode::Sts).await;
    let v = verifier(&sts.url);
    let good = reqwest::Url::parse(&sts.url).unwrap();
    let port = good.port().unwrap();
    let mut other_port = Loopback::bind("another port").await.url();
    other_port.set_path("/");
    for (url, malformed) in [
        (format!("https://127.0.0.1:{port}/"), false),
        (format!("http://localhost:{port}/"), false),
        (other_port.to_string(), false),
        ("https://sts.amazonaws.com/".to_owned(), false),
        ("https://sts.amazonaws.com.evil.test/".to_owned(), false),
        (format!("http://127.0.0.1:{port}@evil.test/"), true),
        ("https://sts.amazonaws.com@evil/".to_owned(), true),
        (format!("http://u:p@127.0.0.1:{port}/"), true),
        (format!("http://127.0.0.1:{port}/x"), true),
        (format!("http://127.0.0.1:{port}/?Action=AssumeRole"), true),
        (format!("http://127.0.0.1:{port}/#f"), true),
        ("not a url".to_owned(), true),
    ] {
        // Signed for the stand-in, then pointed elsewhere (the verifier
        // refuses before any signature matters).
        let mut request = signed(&sts.url);
        request.url = url.clone();
        let e = v.verify(&request).await.expect_err(&url);
        match (&e, malformed) {
            (ExchangeError::Malformed(_), true) | (ExchangeError::Rejected(_), false) => {}
            _ => panic!("{url}: {e:?}"),
        }
        assert!(!e.to_string().contains("u:p"), "{e}");
        assert_no_secret(&e, &request);
    }
    assert_eq!(sts.count(), 0);

    // The default allow-list: AWS's own STS hosts only.
    let default = AwsIdentityVerifier::new(AwsVerifierConfig::new(SERVER_ID)).unwrap();
    for url in [
        "https://sts.amazonaws.com.evil.test/",
        "https://sts.amazonaws.com@evil.test/",
        "http://sts.amazonaws.com/",
        "https://sts.amazonaws.com:8443/",
        "https://sts.eu-west-1.amazonaws.com.evil.test/",
        &sts.url,
    ] {
        let mut request = signed(&sts.url);
        request.url = url.to_owned();
        assert!(default.verify(&request).await.is_err(), "{url}");
    }
    assert_eq!(sts.count(), 0);
}

#[tokio::test]
async fn duplicate_and_oversized_headers_are_refused_unforwarded() {
    let sts = StandIn::start(Mode::Sts).await;
    let v = verifier(&sts.url);

    let mut twice = signed(&sts.url);
    twice
        .headers
        .insert("X-Amz-Date".into(), "20200101T000000Z".into());
    let e = v.verify(&twice).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Malformed(m) if m.contains("x-amz-date more than once")),
        "{e:?}"
    );

    let mut binding_twice = signed(&sts.url);
    binding_twice
        .headers
        .insert("X-Tfr-Server-Id".into(), "other".into());
    assert!(matches!(
        v.verify(&binding_twice).await,
        Err(ExchangeError::Malformed(_))
    ));

    let mut many = signed(&sts.url);
    for i in 0..MAX_HEADERS {
        many.headers.insert(format!("x-pad-{i}"), "1".into());
    }
    let e = v.verify(&many).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Malformed(m) if m.contains("headers")),
        "{e:?}"
    );

    let mut large = signed(&sts.url);
    large.headers.insert("x-pad".into(), "a".repeat(20_000));
    let e = v.verify(&large).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Malformed(m) if m.contains("bytes")),
        "{e:?}"
    );

    let mut control = signed(&sts.url);
    control
        .headers
        .insert("x-pad".into(), format!("{STAND_IN_TOKEN}\r\nx-injected: 1"));
    let e = v.verify(&control).await.unwrap_err();
    assert!(matches!(&e, ExchangeError::Malformed(_)), "{e:?}");
    assert_no_secret(&e, &control);

    assert_eq!(sts.count(), 0);
}

#[tokio::test]
async fn an_sts_outage_is_unavailable() {
    for code in [500, 503] {
        let sts = StandIn::start(Mode::Status(code)).await;
        let request = signed(&sts.url);
        let e = verifier(&sts.url).verify(&request).await.unwrap_err();
        assert!(
            matches!(&e, ExchangeError::Unavailable(m) if m.contains(&code.to_string())),
            "{e:?}"
        );
        assert_no_secret(&e, &request);
    }

    // Nothing listening.
    let closed = Loopback::bind("a closed port").await.url().to_string();
    let request = signed(&closed);
    let e = verifier(&closed).verify(&request).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Unavailable(m) if m.contains("could not be reached")),
        "{e:?}"
    );

    // No answer within the timeout.
    let sts = StandIn::start(Mode::Hang).await;
    let request = signed(&sts.url);
    let v = AwsIdentityVerifier::new(
        AwsVerifierConfig::new(SERVER_ID)
            .with_sts_endpoints([sts.url.as_str()])
            .with_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let e = v.verify(&request).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Unavailable(m) if m.contains("in time")),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn no_refusal_shows_the_signature_or_session_token() {
    let sts = StandIn::start(Mode::Sts).await;
    let v = verifier(&sts.url);
    let good = signed(&sts.url);
    let sig = signature(&good);
    let mutations: Vec<Box<Mutation>> = vec![
        Box::new(|r| r.method = "PUT".into()),
        Box::new(|r| r.body = "Action=AssumeRole".into()),
        Box::new(|r| r.url = "https://evil.test/".into()),
        Box::new(|r| {
            r.headers.insert("x-tfr-server-id".into(), "x".into());
        }),
        Box::new(|r| {
            let a = r.headers["authorization"].replace("/sts/", "/s3/");
            r.headers.insert("authorization".into(), a);
        }),
        Box::new(|r| {
            let a = r.headers["authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1");
            r.headers.insert("authorization".into(), a);
        }),
        Box::new(|r| {
            let a = format!("{}0", r.headers["authorization"]);
            r.headers.insert("authorization".into(), a);
        }),
        Box::new(|r| {
            let t = r.headers["x-amz-security-token"].clone();
            r.headers.insert("X-Amz-Security-Token".into(), t);
        }),
        Box::new(|r| {
            let t = format!("{}x", r.headers["x-amz-security-token"]);
            r.headers.insert("x-amz-security-token".into(), t);
        }),
        Box::new(|r| {
            let a = r.headers["authorization"].replace(";x-amz-security-token", "");
            r.headers.insert("authorization".into(), a);
        }),
    ];
    for (i, mutate) in mutations.iter().enumerate() {
        let mut request = good.clone();
        mutate(&mut request);
        let e = v
            .verify(&request)
            .await
            .expect_err(&format!("mutation {i}"));
        let text = format!("{e} {e:?}");
        assert!(!text.contains(&sig), "mutation {i}: {text}");
        assert!(!text.contains(STAND_IN_TOKEN), "mutation {i}: {text}");
        assert!(!text.contains("Credential="), "mutation {i}: {text}");
    }
    // The request's Debug shows header names only.
    let shown = format!("{good:?}");
    assert!(
        !shown.contains(&sig) && !shown.contains(STAND_IN_TOKEN),
        "{shown}"
    );
}
