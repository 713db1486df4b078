//! What the registry reports to the process's telemetry: storage calls
//! (with failures), read cache hits and misses by cache, uploads in flight,
//! token exchanges by outcome, and a request record per answer. One test:
//! the telemetry is process-wide, and this binary installs it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::Method;
use registry_core::exchange::{
    ExchangeConfig, ExchangeError, ExchangeRules, OidcExchange, OidcVerifier, VerifiedIdentity,
};
use registry_core::telemetry::{RequestRecord, StorageOperation, Telemetry};
use registry_core::testing::{ArchiveBuilder, FailingStorage, StorageCall, TestRegistry};
use registry_core::StorageError;

const ISSUER: &str = "https://issuer.test";

#[derive(Debug, Default)]
struct Recorder {
    storage: Mutex<HashMap<(StorageOperation, bool), usize>>,
    cache: Mutex<HashMap<(&'static str, bool), usize>>,
    uploads: Mutex<Vec<i64>>,
    exchanges: Mutex<Vec<(&'static str, &'static str)>>,
    requests: Mutex<Vec<RequestRecord>>,
}

impl Telemetry for Recorder {
    fn request(&self, request: &RequestRecord) {
        self.requests.lock().unwrap().push(*request);
    }
    fn cache(&self, cache: &'static str, hit: bool) {
        *self.cache.lock().unwrap().entry((cache, hit)).or_default() += 1;
    }
    fn storage_call(&self, operation: StorageOperation, ok: bool, _latency: Duration) {
        *self
            .storage
            .lock()
            .unwrap()
            .entry((operation, ok))
            .or_default() += 1;
    }
    fn uploads_in_flight(&self, delta: i64) {
        self.uploads.lock().unwrap().push(delta);
    }
    fn exchange(&self, method: &'static str, outcome: &'static str) {
        self.exchanges.lock().unwrap().push((method, outcome));
    }
}

impl Recorder {
    fn storage(&self, operation: StorageOperation, ok: bool) -> usize {
        self.storage
            .lock()
            .unwrap()
            .get(&(operation, ok))
            .copied()
            .unwrap_or(0)
    }
    fn cache(&self, cache: &'static str, hit: bool) -> usize {
        self.cache
            .lock()
            .unwrap()
            .get(&(cache, hit))
            .copied()
            .unwrap_or(0)
    }
}

/// `good` verifies (and a rule grants it), `nobody` verifies (no rule),
/// `malformed` is not a JWT, `down` finds the issuer unreachable, anything
/// else is rejected.
#[derive(Debug)]
struct Scripted;

#[async_trait]
impl OidcVerifier for Scripted {
    async fn verify(&self, jwt: &str) -> Result<VerifiedIdentity, ExchangeError> {
        let identity = |team: &str| {
            let serde_json::Value::Object(claims) = serde_json::json!({"team": team}) else {
                unreachable!()
            };
            VerifiedIdentity::new(ISSUER, team, claims)
        };
        match jwt {
            "good" => Ok(identity("platform")),
            "nobody" => Ok(identity("sales")),
            "malformed" => Err(ExchangeError::Malformed("not a JWT".into())),
            "down" => Err(ExchangeError::Unavailable("issuer unreachable".into())),
            _ => Err(ExchangeError::Rejected("bad signature".into())),
        }
    }
}

#[tokio::test]
async fn the_registry_reports_storage_caches_uploads_and_exchanges() {
    let recorder = Arc::new(Recorder::default());
    assert!(registry_core::telemetry::install(recorder.clone()));

    let mut exchange = ExchangeConfig::default();
    exchange.oidc = Some(OidcExchange {
        verifier: Arc::new(Scripted),
        rules: vec![(
            ISSUER.to_owned(),
            ExchangeRules::from_json(
                r#"[{"when": {"team": "platform"}, "tier": "downloader", "lifetime": "1h"}]"#,
            )
            .unwrap(),
        )],
    });
    let storage: Arc<FailingStorage> = Arc::default();
    let h = TestRegistry::builder()
        .storage(storage.clone())
        .read_cache(Duration::from_secs(60))
        .exchange(exchange)
        .build();

    // A publish: one upload in flight and back, one storage publish.
    let archive = ArchiveBuilder::module("output \"x\" { value = 1 }\n").tar_gz();
    assert_eq!(
        h.publish("acme/app/aws", "1.0.0", archive).await.status(),
        201
    );
    assert_eq!(*recorder.uploads.lock().unwrap(), [1, -1]);
    assert_eq!(recorder.storage(StorageOperation::Publish, true), 1);

    // Version lists: the first read misses and calls storage, the next hit.
    let before = recorder.storage(StorageOperation::ListVersions, true);
    for _ in 0..3 {
        assert_eq!(
            h.get("/v1/modules/acme/other/aws/versions").await.status(),
            404
        );
    }
    assert_eq!(
        recorder.cache("versions", false),
        1,
        "the first read of acme/other/aws"
    );
    assert_eq!(
        recorder.storage(StorageOperation::ListVersions, true) - before,
        1,
        "one storage call for three reads of a fresh module"
    );
    assert!(recorder.cache("versions", true) >= 2);

    // A failing storage call is reported as failed.
    storage
        .faults()
        .fail(StorageCall::ListVersions, || StorageError::Unavailable {
            backend: "test",
            message: "down".into(),
        });
    assert_eq!(
        h.get("/v1/modules/acme/third/aws/versions").await.status(),
        503
    );
    assert_eq!(recorder.storage(StorageOperation::ListVersions, false), 1);
    storage.faults().heal();

    // Exchanges by outcome.
    for jwt in ["good", "nobody", "malformed", "down", "forged"] {
        h.call(
            Method::POST,
            "/v1/exchange/oidc",
            None,
            serde_json::json!({ "token": jwt }).to_string(),
        )
        .await;
    }
    assert_eq!(
        *recorder.exchanges.lock().unwrap(),
        [
            ("oidc", "issued"),
            ("oidc", "forbidden"),
            ("oidc", "invalid"),
            ("oidc", "unavailable"),
            ("oidc", "rejected"),
        ]
    );

    // Adapters report requests with what the response says.
    let response = h.get("/v1/modules/acme/app/aws/versions").await;
    registry_core::telemetry::request_finished(&Method::GET, &response, 0, 42, Instant::now());
    let requests = recorder.requests.lock().unwrap();
    let last = requests.last().unwrap();
    assert_eq!(
        last.route,
        "/v1/modules/{namespace}/{name}/{system}/versions"
    );
    assert_eq!((last.method, last.status, last.bytes_out), ("GET", 200, 42));
    assert_eq!(
        registry_core::telemetry::method_label(&Method::from_bytes(b"BREW").unwrap()),
        "other"
    );
}
