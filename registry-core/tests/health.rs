//! `GET /healthz` and `GET /readyz`: liveness never depends on storage;
//! readiness follows the storage probe (fault injection), reuses a result
//! for the readiness interval, and probes storage once per interval however
//! many callers arrive at once; with an upstream, readiness follows it too.

use std::sync::Arc;

use http::header::CACHE_CONTROL;
use http::StatusCode;
use registry_core::health::{DEFAULT_READINESS_INTERVAL, READINESS_CHECK_TIMEOUT};
use registry_core::memory::InMemoryStorage;
use registry_core::storage::{Storage, StorageError};
use registry_core::testing::{
    json, CountingStorage, FailingStorage, Forward, InMemoryUpstream, StorageCall,
    StorageOverrides, TestRegistry, UpstreamCall,
};
use registry_core::UpstreamError;

type Probed = CountingStorage<FailingStorage>;

/// A registry whose storage can be failed and whose probes are counted.
fn registry() -> (TestRegistry, Arc<Probed>) {
    let storage = Arc::new(CountingStorage::wrap(FailingStorage::wrap(
        InMemoryStorage::new(),
    )));
    let h = TestRegistry::builder()
        .storage(storage.clone() as Arc<dyn Storage>)
        .build();
    (h, storage)
}

fn unavailable() -> StorageError {
    StorageError::Unavailable {
        backend: "s3",
        message: "connect timeout to s3.secret-bucket.example".into(),
    }
}

#[tokio::test]
async fn readiness_follows_the_upstream_when_there_is_one() {
    // No upstream: no upstream check.
    let (h, _) = registry();
    let body = json(&h.get_as("/readyz", None).await);
    assert!(body["checks"].get("upstream").is_none(), "{body}");

    let upstream = Arc::new(InMemoryUpstream::new("registry.example.com"));
    let h = TestRegistry::builder()
        .upstream(upstream.clone())
        .proxy()
        .build();
    let body = json(&h.get_as("/readyz", None).await);
    assert_eq!(body["checks"]["upstream"], "ok", "{body}");
    assert_eq!(upstream.counts().calls(UpstreamCall::Probe), 1);

    upstream
        .faults()
        .fail(UpstreamCall::Probe, || UpstreamError::Unavailable {
            upstream: "registry.example.com".into(),
            message: "connection refused to 10.1.2.3".into(),
            retry_after: None,
        });
    h.advance(DEFAULT_READINESS_INTERVAL);
    let down = h.get_as("/readyz", None).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&down);
    assert_eq!(body["checks"]["storage"], "ok", "{body}");
    assert_eq!(body["checks"]["upstream"], "failing", "{body}");
    assert!(!body.to_string().contains("10.1.2.3"), "{body}");

    upstream.faults().heal();
    h.advance(DEFAULT_READINESS_INTERVAL);
    assert_eq!(h.get_as("/readyz", None).await.status(), StatusCode::OK);
    assert_eq!(upstream.counts().calls(UpstreamCall::Probe), 3);
}

#[tokio::test]
async fn liveness_needs_nothing_but_the_process() {
    let (h, storage) = registry();
    storage.inner().faults().fail_all(unavailable);
    let r = h.get_as("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(json(&r), serde_json::json!({"status": "ok"}));
    assert_eq!(storage.counts().total(), 0, "liveness touches no storage");
    // Tokens are not looked at: a bad one does not make it fail.
    assert_eq!(
        h.get_as("/healthz", Some("tfr_not-a-token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn readiness_follows_the_storage_and_names_no_reason() {
    let (h, storage) = registry();
    let ready = h.get_as("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.headers()[CACHE_CONTROL], "no-store");
    let body = json(&ready);
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["storage"], "ok", "{body}");
    assert!(body["checked_at"].is_string(), "{body}");

    // The storage fails: still ready until the result is older than the interval.
    storage
        .inner()
        .faults()
        .fail(StorageCall::Probe, unavailable);
    h.advance(DEFAULT_READINESS_INTERVAL / 2);
    assert_eq!(h.get_as("/readyz", None).await.status(), StatusCode::OK);
    h.advance(DEFAULT_READINESS_INTERVAL);
    let down = h.get_as("/readyz", None).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(down.body().to_vec()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["storage"], "failing", "{body}");
    assert!(
        !text.contains("secret-bucket") && !text.contains("timeout"),
        "a public answer names no reason: {text}"
    );
    // HEAD says the same, without a body.
    let head = h
        .call(http::Method::HEAD, "/readyz", None, bytes::Bytes::new())
        .await;
    assert_eq!(head.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(head.body().is_empty());

    // It heals: ready again once the failed result is older than the interval.
    storage.inner().faults().heal();
    assert_eq!(
        h.get_as("/readyz", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the failed result is reused within the interval"
    );
    h.advance(DEFAULT_READINESS_INTERVAL);
    assert_eq!(h.get_as("/readyz", None).await.status(), StatusCode::OK);
    assert_eq!(storage.counts().calls(StorageCall::Probe), 3);
    assert_eq!(
        storage.counts().total(),
        3,
        "readiness calls nothing but the probe"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_probes_check_the_storage_once_per_interval() {
    let (h, storage) = registry();
    let h = Arc::new(h);
    for round in 1..=3 {
        let probes: Vec<_> = (0..100)
            .map(|_| {
                let h = Arc::clone(&h);
                tokio::spawn(async move { h.get_as("/readyz", None).await.status() })
            })
            .collect();
        for probe in probes {
            assert_eq!(probe.await.unwrap(), StatusCode::OK);
        }
        assert_eq!(
            storage.counts().calls(StorageCall::Probe),
            round,
            "round {round}: one storage probe for 100 readiness probes"
        );
        h.advance(DEFAULT_READINESS_INTERVAL);
    }
}

/// Storage whose probe never answers.
#[derive(Debug)]
struct HangingProbe;

#[async_trait::async_trait]
impl StorageOverrides for HangingProbe {
    async fn probe(&self, _inner: &dyn Storage) -> Result<(), StorageError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_never_answers_is_failing_after_the_check_timeout() {
    let storage = Arc::new(Forward::new(InMemoryStorage::new(), HangingProbe));
    let h = TestRegistry::builder()
        .storage(storage as Arc<dyn Storage>)
        .build();
    let started = tokio::time::Instant::now();
    let r = h.get_as("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&r)["checks"]["storage"], "failing");
    assert_eq!(started.elapsed(), READINESS_CHECK_TIMEOUT);
}
