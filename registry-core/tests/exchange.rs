//! Token exchange through `Registry::handle`, with verifiers that answer as
//! configured (the real ones, identity-oidc and identity-aws, are tested
//! against a real issuer and STS in their crates and on the real server).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use registry_core::audit::{AuditAction, AuditLog, AuditOutcome, InMemoryAuditLog};
use registry_core::exchange::{
    AwsExchange, CallerIdentityVerifier, ExchangeConfig, ExchangeError, ExchangeRules,
    OidcExchange, OidcVerifier, SignedRequest, VerifiedIdentity,
};
use registry_core::testing::{error_message, json, ArchiveBuilder, TestRegistry};

const GITHUB: &str = "https://token.actions.githubusercontent.com";

/// Answers per presented JWT: `good-main`, `good-branch`, `evil`, `other-issuer`,
/// `rejected`, `down`.
#[derive(Debug)]
struct ScriptedOidc;

#[async_trait]
impl OidcVerifier for ScriptedOidc {
    async fn verify(&self, jwt: &str) -> Result<VerifiedIdentity, ExchangeError> {
        let github = |owner: &str, git_ref: &str| {
            let claims = serde_json::json!({
                "iss": GITHUB, "sub": format!("repo:{owner}/app:ref:{git_ref}"),
                "repository_owner": owner, "ref": git_ref,
            });
            let serde_json::Value::Object(claims) = claims else {
                unreachable!()
            };
            VerifiedIdentity::new(GITHUB, format!("repo:{owner}/app:ref:{git_ref}"), claims)
        };
        match jwt {
            "good-main" => Ok(github("acme", "refs/heads/main")),
            "good-branch" => Ok(github("acme", "refs/heads/feature")),
            "evil" => Ok(github("evil", "refs/heads/main")),
            "other-issuer" => Ok(VerifiedIdentity::new(
                "https://gitlab.com",
                "x",
                Default::default(),
            )),
            "down" => Err(ExchangeError::Unavailable(
                "the issuer https://example.test is unreachable".into(),
            )),
            _ => Err(ExchangeError::Rejected(
                "the token's signature does not verify".into(),
            )),
        }
    }
}

/// Answers per the request's URL: `.../ci` is the `ci` role of 111111111111.
#[derive(Debug)]
struct ScriptedSts;

#[async_trait]
impl CallerIdentityVerifier for ScriptedSts {
    async fn verify(&self, request: &SignedRequest) -> Result<VerifiedIdentity, ExchangeError> {
        let arn = match request.url.as_str() {
            "https://sts.test/ci" => "arn:aws:sts::111111111111:assumed-role/ci/run-1",
            "https://sts.test/dev" => "arn:aws:sts::111111111111:assumed-role/dev/alice",
            _ => {
                return Err(ExchangeError::Rejected(
                    "STS refused the request: SignatureDoesNotMatch".into(),
                ))
            }
        };
        let (_, rest) = arn.split_once("assumed-role/").unwrap();
        let (name, session) = rest.split_once('/').unwrap();
        let serde_json::Value::Object(claims) = serde_json::json!({
            "arn": arn, "account": "111111111111", "type": "assumed-role", "name": name, "session": session,
        }) else {
            unreachable!()
        };
        Ok(VerifiedIdentity::new("aws", arn, claims))
    }
}

fn exchange() -> ExchangeConfig {
    let mut config = ExchangeConfig::default();
    config.oidc = Some(OidcExchange {
        verifier: Arc::new(ScriptedOidc),
        rules: vec![(
            GITHUB.to_owned(),
            ExchangeRules::from_json(
                r#"[{"when": {"repository_owner": "acme", "ref": "refs/heads/main"},
                     "tier": "uploader", "namespaces": ["{repository_owner}"], "lifetime": "15m"},
                    {"when": {"repository_owner": "acme"}, "tier": "downloader", "lifetime": "1h"}]"#,
            )
            .unwrap(),
        )],
    });
    config.aws = Some(AwsExchange {
        verifier: Arc::new(ScriptedSts),
        rules: ExchangeRules::from_json(
            r#"[{"when": {"account": "111111111111", "type": "assumed-role", "name": "ci"},
                 "tier": "uploader", "namespaces": ["platform-*"], "lifetime": "30m"}]"#,
        )
        .unwrap(),
    });
    config
}

fn harness(log: &Arc<InMemoryAuditLog>) -> TestRegistry {
    TestRegistry::builder()
        .exchange(exchange())
        .audit_log(Arc::clone(log) as Arc<dyn AuditLog>)
        .build()
}

async fn oidc(h: &TestRegistry, jwt: &str) -> http::Response<Bytes> {
    h.call(
        http::Method::POST,
        "/v1/exchange/oidc",
        None,
        serde_json::json!({"token": jwt}).to_string(),
    )
    .await
}

fn signed(url: &str) -> String {
    serde_json::to_string(&SignedRequest {
        method: "POST".into(),
        url: url.into(),
        headers: BTreeMap::from([(
            "authorization".to_owned(),
            "AWS4-HMAC-SHA256 secret-signature".to_owned(),
        )]),
        body: "Action=GetCallerIdentity&Version=2011-06-15".into(),
    })
    .unwrap()
}

fn tgz() -> Bytes {
    ArchiveBuilder::module("output \"x\" { value = 1 }\n").tar_gz()
}

#[tokio::test]
async fn an_oidc_token_becomes_a_scoped_expiring_token_that_works_until_it_expires() {
    let log = Arc::new(InMemoryAuditLog::new());
    let h = harness(&log);
    let r = oidc(&h, "good-main").await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    // Audit ids order events by time: a millisecond between requests.
    h.advance(Duration::from_millis(1));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = json(&r);
    assert_eq!(body["tier"], "uploader");
    assert_eq!(body["namespaces"], serde_json::json!(["acme"]));
    assert_eq!(
        body["created_by"],
        format!("oidc:{GITHUB} repo:acme/app:ref:refs/heads/main")
    );
    assert!(body["name"].as_str().unwrap().starts_with("oidc-"));
    let expires = body["expires_at"].as_str().unwrap();
    let token = body["token"].as_str().unwrap().to_owned();

    // It publishes in its namespace, nowhere else, and shows in the token list.
    let put = |path: &'static str| {
        let (h, token) = (&h, token.clone());
        async move {
            h.advance(Duration::from_millis(1));
            h.put(path, tgz(), Some(&token)).await.status()
        }
    };
    assert_eq!(
        put("/v1/modules/acme/app/aws/1.0.0").await,
        StatusCode::CREATED
    );
    assert_eq!(
        put("/v1/modules/other/app/aws/1.0.0").await,
        StatusCode::FORBIDDEN
    );
    let list = json(&h.get("/v1/tokens").await);
    assert_eq!(list["tokens"][0]["name"], body["name"]);
    assert_eq!(list["tokens"][0]["expires_at"], expires);

    // Fifteen minutes later it is refused, saying it expired.
    h.advance(Duration::from_secs(15 * 60 + 2));
    let r = h
        .put("/v1/modules/acme/app/aws/2.0.0", tgz(), Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        error_message(&r).contains("expired at"),
        "{}",
        error_message(&r)
    );

    // The audit log has the exchange, both publishes and the refusal; never the secret.
    let events = log.events();
    let actions: Vec<_> = events.iter().rev().map(|e| (e.action, e.status)).collect();
    assert_eq!(
        actions,
        [
            (AuditAction::ExchangeOidc, 201),
            (AuditAction::Publish, 201),
            (AuditAction::Publish, 403),
            (AuditAction::Publish, 401),
        ]
    );
    let exchange = events.last().unwrap();
    assert_eq!(exchange.actor, body["created_by"]);
    assert_eq!(exchange.target, body["name"]);
    assert!(exchange
        .detail
        .as_deref()
        .unwrap()
        .starts_with("rule 1 granted uploader on acme until"));
    assert_eq!(
        events[0].actor,
        format!("{} (expired)", body["name"].as_str().unwrap())
    );
    for e in &events {
        assert!(!e.to_json().to_string().contains(&token), "{e:?}");
    }
}

#[tokio::test]
async fn each_refusal_has_its_status_and_names_no_secret() {
    let log = Arc::new(InMemoryAuditLog::new());
    let h = harness(&log);
    // The second rule: any acme branch reads everything, for an hour.
    let branch = json(&oidc(&h, "good-branch").await);
    assert_eq!(
        (branch["tier"].as_str(), branch["namespaces"].is_null()),
        (Some("downloader"), true)
    );

    let cases: [(&str, StatusCode, &str); 4] = [
        (
            "evil",
            StatusCode::FORBIDDEN,
            "no exchange rule grants a token to oidc:",
        ),
        (
            "other-issuer",
            StatusCode::FORBIDDEN,
            "no exchange rules are configured for the issuer",
        ),
        (
            "rejected",
            StatusCode::UNAUTHORIZED,
            "signature does not verify",
        ),
        ("down", StatusCode::SERVICE_UNAVAILABLE, "unreachable"),
    ];
    for (jwt, status, says) in cases {
        let r = oidc(&h, jwt).await;
        assert_eq!(r.status(), status, "{jwt}");
        assert!(
            error_message(&r).contains(says),
            "{jwt}: {}",
            error_message(&r)
        );
    }
    for (body, says) in [
        ("", "invalid JSON body"),
        ("{\"jwt\":\"x\"}", "unknown field"),
        ("{\"token\":\"\"}", "0 bytes long"),
    ] {
        let r = h
            .call(http::Method::POST, "/v1/exchange/oidc", None, body)
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&r).contains(says),
            "{body}: {}",
            error_message(&r)
        );
    }
    let long = format!("{{\"token\":\"{}\"}}", "x".repeat(70_000));
    assert_eq!(
        h.call(http::Method::POST, "/v1/exchange/oidc", None, long)
            .await
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Only the one success made a token.
    assert_eq!(
        json(&h.get("/v1/tokens").await)["tokens"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Every attempt is one event; the identity is named when it was proven.
    let events = log.events();
    assert_eq!(events.len(), 1 + 4 + 3 + 1);
    assert!(events.iter().all(|e| e.action == AuditAction::ExchangeOidc));
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.outcome == AuditOutcome::Failure)
        .collect();
    assert_eq!(failures.len(), 8);
    assert!(failures
        .iter()
        .any(|e| e.actor.starts_with("oidc:") && e.status == 403));
    assert!(failures
        .iter()
        .any(|e| e.actor == "anonymous" && e.status == 401));
}

#[tokio::test]
async fn an_aws_identity_is_exchanged_by_its_arn() {
    let log = Arc::new(InMemoryAuditLog::new());
    let h = harness(&log);
    let post = |url: &str| {
        let (h, body) = (&h, signed(url));
        async move {
            h.call(http::Method::POST, "/v1/exchange/aws", None, body)
                .await
        }
    };
    let r = post("https://sts.test/ci").await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    let body = json(&r);
    assert_eq!(body["namespaces"], serde_json::json!(["platform-*"]));
    assert_eq!(
        body["created_by"],
        "aws:arn:aws:sts::111111111111:assumed-role/ci/run-1"
    );
    assert!(body["name"].as_str().unwrap().starts_with("aws-"));
    let r = post("https://sts.test/dev").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post("https://sts.test/tampered").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!String::from_utf8_lossy(r.body()).contains("secret-signature"));
    let r = h
        .call(
            http::Method::POST,
            "/v1/exchange/aws",
            None,
            "{\"method\":\"POST\"}",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A header given twice (here in two cases) is refused, not guessed at.
    let twice = signed("https://sts.test/ci").replace(
        r#""headers":{"#,
        r#""headers":{"Authorization":"AWS4-HMAC-SHA256 other","#,
    );
    let r = h
        .call(http::Method::POST, "/v1/exchange/aws", None, twice)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_message(&r).contains("is given twice"),
        "{}",
        error_message(&r)
    );
    assert_eq!(log.events().len(), 5);
    for e in log.events() {
        assert!(!e.to_json().to_string().contains("secret-signature"));
    }
}

#[tokio::test]
async fn exchanges_that_are_off_are_refused_on_the_head() {
    let h = TestRegistry::new();
    for route in ["/v1/exchange/oidc", "/v1/exchange/aws"] {
        let r = h
            .call(http::Method::POST, route, None, "not even json")
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(error_message(&r).contains("not configured on this registry"));
        let r = h.call(http::Method::GET, route, None, "").await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn expired_exchanged_tokens_are_swept_a_day_later_and_others_never() {
    let log = Arc::new(InMemoryAuditLog::new());
    let h = harness(&log);
    let first = json(&oidc(&h, "good-main").await)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    // A master-made token that expired long ago stays: only exchanges' go.
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"mine","tier":"downloader","expires_in":60}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Within the day after its expiry the record is kept, even past the hourly sweep.
    h.advance(Duration::from_secs(2 * 60 * 60));
    let second = json(&oidc(&h, "good-main").await)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token_names(&h).await.contains(&first));
    // Over a day after its expiry, the next exchange sweeps it.
    h.advance(registry_core::EXPIRED_EXCHANGED_TOKENS_KEPT + Duration::from_secs(60 * 60));
    let third = json(&oidc(&h, "good-main").await)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = token_names(&h).await;
    assert!(
        !left.contains(&first) && !left.contains(&second),
        "{left:?}"
    );
    assert!(
        left.contains(&third) && left.contains(&"mine".to_owned()),
        "{left:?}"
    );
}

async fn token_names(h: &TestRegistry) -> Vec<String> {
    json(&h.get("/v1/tokens").await)["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}
