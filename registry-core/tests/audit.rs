//! The audit log through `Registry::handle`: one event per request to a
//! mutating route, whatever its outcome, and `GET /v1/audit`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use registry_core::audit::{AuditAction, AuditLog, AuditOutcome, InMemoryAuditLog};
use registry_core::testing::{error_message, json, ArchiveBuilder, TestRegistry, MASTER_TOKEN};
use registry_core::Tier;

fn tgz(v: &str) -> Bytes {
    ArchiveBuilder::module(format!("output \"v\" {{ value = \"{v}\" }}\n")).tar_gz()
}

/// (method, path, token, body, status, action, actor, target)
type Case<'a> = (
    Method,
    &'a str,
    Option<&'a str>,
    Bytes,
    u16,
    AuditAction,
    &'a str,
    &'a str,
);

fn audited() -> (TestRegistry, Arc<InMemoryAuditLog>) {
    let log = Arc::new(InMemoryAuditLog::new());
    let h = TestRegistry::builder()
        .config(|c| c.with_max_body_bytes(64 * 1024))
        .audit_log(Arc::clone(&log) as Arc<dyn AuditLog>)
        .build();
    (h, log)
}

#[tokio::test]
async fn every_mutating_request_is_one_event_success_or_failure() {
    let (h, log) = audited();
    let uploader = h.named_token("ci", Tier::Uploader).await;
    let downloader = h.named_token("reader", Tier::Downloader).await;
    // The two token creations (named_token posts to /v1/tokens).
    let before = log.events().len();
    assert_eq!(before, 2);
    let huge = Bytes::from(vec![0u8; 65 * 1024]);
    // (method, path, token, body, status, action, actor, target)
    let cases: Vec<Case> = vec![
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(&uploader),
            tgz("1"),
            201,
            AuditAction::Publish,
            "ci",
            "acme/vpc/aws/1.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(&uploader),
            tgz("1"),
            409,
            AuditAction::Publish,
            "ci",
            "acme/vpc/aws/1.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/2.0.0",
            Some(&downloader),
            tgz("2"),
            403,
            AuditAction::Publish,
            "reader",
            "acme/vpc/aws/2.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/2.0.0",
            None,
            tgz("2"),
            401,
            AuditAction::Publish,
            "anonymous",
            "acme/vpc/aws/2.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/2.0.0",
            Some("tfr_nope"),
            tgz("2"),
            401,
            AuditAction::Publish,
            "invalid token",
            "acme/vpc/aws/2.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/not-a-version",
            Some(&uploader),
            tgz("2"),
            400,
            AuditAction::Publish,
            "ci",
            "acme/vpc/aws/not-a-version",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/3.0.0",
            Some(&uploader),
            Bytes::from_static(b"not an archive"),
            400,
            AuditAction::Publish,
            "ci",
            "acme/vpc/aws/3.0.0",
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/3.0.0",
            Some(&uploader),
            huge,
            413,
            AuditAction::Publish,
            "ci",
            "acme/vpc/aws/3.0.0",
        ),
        (
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER_TOKEN),
            Bytes::new(),
            204,
            AuditAction::Delete,
            "master",
            "acme/vpc/aws/1.0.0",
        ),
        (
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER_TOKEN),
            Bytes::new(),
            404,
            AuditAction::Delete,
            "master",
            "acme/vpc/aws/1.0.0",
        ),
        (
            Method::POST,
            "/v1/tokens",
            Some(MASTER_TOKEN),
            r#"{"name":"t1","tier":"uploader"}"#.into(),
            201,
            AuditAction::CreateToken,
            "master",
            "t1",
        ),
        (
            Method::POST,
            "/v1/tokens",
            Some(MASTER_TOKEN),
            r#"{"name":"t1","tier":"uploader"}"#.into(),
            409,
            AuditAction::CreateToken,
            "master",
            "t1",
        ),
        (
            Method::POST,
            "/v1/tokens",
            Some(&uploader),
            r#"{"name":"t2","tier":"uploader"}"#.into(),
            403,
            AuditAction::CreateToken,
            "ci",
            "",
        ),
        (
            Method::POST,
            "/v1/tokens",
            Some(MASTER_TOKEN),
            "{".into(),
            400,
            AuditAction::CreateToken,
            "master",
            "",
        ),
        (
            Method::DELETE,
            "/v1/tokens/t1",
            Some(MASTER_TOKEN),
            Bytes::new(),
            204,
            AuditAction::DeleteToken,
            "master",
            "t1",
        ),
        (
            Method::DELETE,
            "/v1/tokens/t1",
            Some(MASTER_TOKEN),
            Bytes::new(),
            404,
            AuditAction::DeleteToken,
            "master",
            "t1",
        ),
        (
            Method::POST,
            "/v1/pins/hashicorp/consul/aws/0.1.0",
            Some(MASTER_TOKEN),
            Bytes::new(),
            404,
            AuditAction::Pin,
            "master",
            "hashicorp/consul/aws/0.1.0",
        ),
        (
            Method::POST,
            "/v1/exchange/oidc",
            None,
            r#"{"token":"x"}"#.into(),
            404,
            AuditAction::ExchangeOidc,
            "anonymous",
            "",
        ),
        (
            Method::POST,
            "/v1/exchange/aws",
            None,
            Bytes::new(),
            404,
            AuditAction::ExchangeAws,
            "anonymous",
            "",
        ),
    ];
    let n = cases.len();
    for (i, (method, path, token, body, status, action, actor, target)) in
        cases.into_iter().enumerate()
    {
        // Audit ids order events by time: a millisecond between requests.
        h.advance(Duration::from_millis(1));
        let r = h.call(method.clone(), path, token, body).await;
        assert_eq!(
            r.status().as_u16(),
            status,
            "{method} {path}: {:?}",
            r.body()
        );
        let events = log.events();
        assert_eq!(
            events.len(),
            before + i + 1,
            "{method} {path}: exactly one event"
        );
        let e = &events[0];
        assert_eq!(
            (e.action, e.status, e.actor.as_str(), e.target.as_str()),
            (action, status, actor, target),
            "{method} {path}"
        );
        assert_eq!(
            e.outcome == AuditOutcome::Success,
            (200..300).contains(&status)
        );
        if e.outcome == AuditOutcome::Failure {
            assert_eq!(
                e.detail.as_deref(),
                Some(error_message(&r).as_str()),
                "{method} {path}"
            );
        }
    }
    // Reads, discovery and 404/405s of no route write nothing.
    for path in [
        "/v1/modules",
        "/v1/tokens",
        "/v1/audit",
        "/nope",
        "/.well-known/terraform.json",
    ] {
        h.get(path).await;
    }
    h.call(Method::PATCH, "/v1/tokens", Some(MASTER_TOKEN), "")
        .await;
    assert_eq!(log.events().len(), before + n);
    // No secret anywhere.
    for e in log.events() {
        let text = e.to_json().to_string();
        for secret in [
            uploader.as_str(),
            downloader.as_str(),
            MASTER_TOKEN,
            "tfr_nope",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn the_master_reads_the_log_in_pages_newest_first() {
    let (h, _log) = audited();
    let uploader = h.named_token("ci", Tier::Uploader).await;
    for v in 1..=7 {
        h.advance(Duration::from_millis(1));
        let r = h
            .put(
                &format!("/v1/modules/acme/vpc/aws/{v}.0.0"),
                tgz(&v.to_string()),
                Some(&uploader),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut url = "/v1/audit?limit=3".to_owned();
    loop {
        let page = json(&h.get(&url).await);
        for e in page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "publish")
        {
            seen.push(e["target"].as_str().unwrap().to_owned());
        }
        match page["meta"]["next_url"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<_> = (1..=7)
        .rev()
        .map(|v| format!("acme/vpc/aws/{v}.0.0"))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        h.get_as("/v1/audit", Some(&uploader)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.get_as("/v1/audit", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for bad in ["/v1/audit?limit=0", "/v1/audit?after=zzz", "/v1/audit?x=1"] {
        assert_eq!(h.get(bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // A cursor of an id's shape past every id any event can have (its
    // digits above u64::MAX) is an empty page, not an error.
    let past = json(
        &h.get("/v1/audit?after=99999999999999999999-0123456789abcdef")
            .await,
    );
    assert_eq!(past["events"], serde_json::json!([]), "{past}");
    assert!(past["meta"]["next_url"].is_null(), "{past}");
}

#[tokio::test]
async fn concurrent_requests_lose_no_event() {
    let (h, log) = audited();
    let uploader = h.named_token("ci", Tier::Uploader).await;
    let h = Arc::new(h);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (h, token) = (Arc::clone(&h), uploader.clone());
            tokio::spawn(async move {
                // Half of them race for the same version: one wins, the rest 409.
                let v = if i % 2 == 0 {
                    "1.0.0".to_owned()
                } else {
                    format!("2.0.{i}")
                };
                h.put(
                    &format!("/v1/modules/acme/vpc/aws/{v}"),
                    tgz("x"),
                    Some(&token),
                )
                .await
                .status()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let events: Vec<_> = log
        .events()
        .into_iter()
        .filter(|e| e.action == AuditAction::Publish)
        .collect();
    assert_eq!(events.len(), 40);
    assert_eq!(events.iter().filter(|e| e.status == 201).count(), 21);
    assert_eq!(events.iter().filter(|e| e.status == 409).count(), 19);
}
