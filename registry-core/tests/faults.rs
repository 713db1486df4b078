//! Failing backends through `Registry::handle` (no sockets): every route that
//! touches the `Storage`, `TokenStore` or `PinStore` answers a backend failure
//! with something a client can act on, and never with the backend's own words.
//!
//! - temporarily unavailable (throttling, timeouts) -> `503` + `Retry-After`;
//! - anything else (misconfiguration, I/O errors) -> `500`;
//! - either way a JSON `{"errors":["..."]}` body naming no path, bucket, host
//!   or backend, and no partial state: a failed publish is not listed, and
//!   succeeds when retried once the backend is back.
//!
//! The fakes are the in-memory ones behind `registry_core::testing`'s failing
//! decorators, told which calls fail;
//! mockall mocks check the interactions (one storage call per publish, no
//! fallback to the upstream when local storage fails).

use std::io;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use registry_core::testing::{
    text, ArchiveBuilder, FailingPinStore, FailingStorage, FailingTokenStore, InMemoryUpstream,
    StorageCall, TestRegistry, MASTER_TOKEN as MASTER,
};
use registry_core::{
    FetchedArchive, MockStorage, MockTokenStore, MockUpstream, PinStore, Sha256Digest,
    StorageError, Tier, Upstream,
};
use serde_json::Value;

/// What the fakes' errors carry and no response may show.
const INTERNALS: &[&str] = &[
    "faultfake",
    "/srv/registry-secret",
    "corp-private-bucket",
    "10.66.6.6",
    "SignatureDoesNotMatch",
    "EIO",
    "timed out after",
];

/// How a failing fake fails while it is told to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// `StorageError::Unavailable`: throttled, or a timeout the backend classified.
    Unavailable,
    /// A timeout the backend did not classify: `Other` with an `io::Error` of
    /// kind `TimedOut` as its source.
    UnclassifiedTimeout,
    /// `StorageError::Misconfigured`: credentials, permissions, no such bucket.
    Misconfigured,
    /// `StorageError::Other`: an I/O error.
    Other,
}

const FAULTS: [Fault; 4] = [
    Fault::Unavailable,
    Fault::UnclassifiedTimeout,
    Fault::Misconfigured,
    Fault::Other,
];

impl Fault {
    fn error(self) -> StorageError {
        const BACKEND: &str = "faultfake";
        match self {
            Fault::Unavailable => StorageError::Unavailable {
                backend: BACKEND,
                message: "timed out after 30s talking to 10.66.6.6:9000 for s3://corp-private-bucket/srv/registry-secret".into(),
            },
            Fault::UnclassifiedTimeout => StorageError::other(
                BACKEND,
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "read /srv/registry-secret/modules/acme timed out after 30s",
                ),
            ),
            Fault::Misconfigured => StorageError::Misconfigured {
                backend: BACKEND,
                message: "PUT s3://corp-private-bucket/modules: SignatureDoesNotMatch".into(),
            },
            Fault::Other => StorageError::other(
                BACKEND,
                "EIO writing /srv/registry-secret/modules/acme/vpc/aws/1.0.0/archive.tar.gz",
            ),
        }
    }

    /// The status the registry answers this fault with.
    fn status(self) -> StatusCode {
        match self {
            Fault::Unavailable | Fault::UnclassifiedTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Misconfigured | Fault::Other => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A `.tar.gz` whose `main.tf` outputs `version`.
fn module_tgz(version: &str) -> Bytes {
    ArchiveBuilder::module(format!("output \"version\" {{ value = \"{version}\" }}\n")).tar_gz()
}

/// A registry on failing fakes, healthy until told otherwise.
struct Harness {
    registry: TestRegistry,
    storage: Arc<FailingStorage>,
    tokens: Arc<FailingTokenStore>,
    pins: Arc<FailingPinStore>,
}

impl Deref for Harness {
    type Target = TestRegistry;

    fn deref(&self) -> &TestRegistry {
        &self.registry
    }
}

/// A registry on the faulty fakes; `upstream` (for pins) is optional.
fn harness(upstream: Option<Arc<dyn Upstream>>) -> Harness {
    let storage = Arc::new(FailingStorage::default());
    let tokens = Arc::new(FailingTokenStore::default());
    let pins = Arc::new(FailingPinStore::default());
    let mut builder = TestRegistry::builder()
        .storage(storage.clone())
        .tokens(tokens.clone())
        .pins(pins.clone());
    if let Some(upstream) = upstream {
        builder = builder.upstream(upstream);
    }
    Harness {
        registry: builder.build(),
        storage,
        tokens,
        pins,
    }
}

impl Harness {
    async fn publish(&self, version: &str) -> Response<Bytes> {
        self.publish_as(MASTER, version).await
    }

    async fn publish_as(&self, token: &str, version: &str) -> Response<Bytes> {
        let uri = format!("/v1/modules/acme/vpc/aws/{version}");
        self.put(&uri, module_tgz(version), Some(token)).await
    }

    /// The versions listed for acme/vpc/aws; empty on `404`.
    async fn versions(&self) -> Vec<String> {
        self.registry.versions("acme/vpc/aws").await
    }

    /// The signed archive URL of a version (its `X-Terraform-Get`).
    async fn archive_url(&self, version: &str) -> String {
        self.download_url("acme/vpc/aws", version).await
    }
}

/// `r` is the answer to `fault`: its status, `Retry-After` (a whole number of
/// seconds) exactly on `503`, and a JSON `{"errors":[...]}` body (empty for
/// `HEAD`) that shows none of the backend's words.
fn assert_fault_response(r: &Response<Bytes>, fault: Fault, what: &str) {
    assert_eq!(
        r.status(),
        fault.status(),
        "{what} ({fault:?}): {}",
        text(r)
    );
    let retry_after = r.headers().get("retry-after");
    if r.status() == StatusCode::SERVICE_UNAVAILABLE {
        let secs: u64 = retry_after
            .unwrap_or_else(|| panic!("{what} ({fault:?}): 503 without Retry-After"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap_or_else(|e| panic!("{what} ({fault:?}): Retry-After is not seconds: {e}"));
        assert!(secs >= 1, "{what} ({fault:?}): Retry-After {secs}");
    } else {
        assert!(
            retry_after.is_none(),
            "{what} ({fault:?}): Retry-After on {}",
            r.status()
        );
    }
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "{what} ({fault:?})"
    );
    let body = text(r);
    for secret in INTERNALS {
        assert!(
            !body.contains(secret),
            "{what} ({fault:?}): the body shows {secret:?}: {body}"
        );
    }
    if r.body().is_empty() {
        return; // HEAD
    }
    let v: Value = serde_json::from_slice(r.body())
        .unwrap_or_else(|e| panic!("{what} ({fault:?}): not JSON ({e}): {body}"));
    let object = v.as_object().unwrap();
    // `errors`, and the request id quoted in the `X-Request-Id` header.
    assert_eq!(object.len(), 2, "{what} ({fault:?}): {body}");
    assert_eq!(
        v["request_id"].as_str(),
        r.headers()["x-request-id"].to_str().ok(),
        "{what} ({fault:?}): {body}"
    );
    let errors = v["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "{what} ({fault:?}): {body}");
    for e in errors {
        let message = e.as_str().unwrap();
        assert!(message.contains("storage"), "{what} ({fault:?}): {message}");
    }
}

#[tokio::test]
async fn every_storage_route_maps_backend_failures_and_hides_them() {
    for fault in FAULTS {
        let h = harness(None);
        assert_eq!(h.publish("1.0.0").await.status(), StatusCode::CREATED);
        let archive = h.archive_url("1.0.0").await;
        let before = h.get_as(&archive, None).await;
        assert_eq!(before.status(), StatusCode::OK);

        h.storage.faults().fail_all(move || fault.error());
        let versions = "/v1/modules/acme/vpc/aws/versions";
        let download = "/v1/modules/acme/vpc/aws/1.0.0/download";
        let missing = "/v1/modules/acme/vpc/aws/9.9.9/download";
        let routes: [(Method, &str, Bytes); 9] = [
            (Method::GET, versions, Bytes::new()),
            (Method::HEAD, versions, Bytes::new()),
            (Method::GET, download, Bytes::new()),
            (Method::HEAD, download, Bytes::new()),
            (Method::GET, missing, Bytes::new()),
            (Method::GET, &archive, Bytes::new()),
            (Method::HEAD, &archive, Bytes::new()),
            (
                Method::PUT,
                "/v1/modules/acme/vpc/aws/2.0.0",
                module_tgz("2.0.0"),
            ),
            (
                Method::DELETE,
                "/v1/modules/acme/vpc/aws/1.0.0",
                Bytes::new(),
            ),
        ];
        for (method, uri, body) in routes {
            let token = (!uri.starts_with("/v1/archives/")).then_some(MASTER);
            let r = h.call(method.clone(), uri, token, body).await;
            assert_fault_response(&r, fault, &format!("{method} {uri}"));
        }

        // Nothing changed meanwhile: 1.0.0 is whole, 2.0.0 and the delete did not happen.
        h.storage.faults().heal();
        assert_eq!(h.versions().await, ["1.0.0"], "{fault:?}");
        let after = h.get_as(&archive, None).await;
        assert_eq!(after.status(), StatusCode::OK, "{fault:?}");
        assert_eq!(after.body(), before.body(), "{fault:?}");
    }
}

#[tokio::test]
async fn a_failed_publish_leaves_nothing_and_its_retry_succeeds() {
    for fault in FAULTS {
        let h = harness(None);
        // Once with no version of the module yet, once next to an existing one.
        for (existing, version) in [(&[][..], "1.0.0"), (&["1.0.0"][..], "1.1.0")] {
            h.storage.faults().fail_all(move || fault.error());
            assert_fault_response(&h.publish(version).await, fault, "PUT");
            h.storage.faults().heal();

            assert_eq!(h.versions().await, existing, "{fault:?}");
            let download = format!("/v1/modules/acme/vpc/aws/{version}/download");
            let r = h.get(&download).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{fault:?}: {}", text(&r));

            let sent = module_tgz(version);
            let r = h.publish(version).await;
            assert_eq!(r.status(), StatusCode::CREATED, "{fault:?}: {}", text(&r));
            let v: Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(v["sha256"], Sha256Digest::of(&sent).to_hex());
            let archive = h.archive_url(version).await;
            let r = h.get_as(&archive, None).await;
            assert_eq!(r.body(), &sent, "{fault:?}");
        }
        assert_eq!(h.versions().await, ["1.0.0", "1.1.0"], "{fault:?}");
    }
}

/// The write took effect but its answer was lost: the client sees the failure;
/// the version is whole (never partial), and a retry is told it exists.
#[tokio::test]
async fn a_publish_whose_answer_was_lost_is_whole_and_a_retry_is_409() {
    let h = harness(None);
    // The catalogue loaded before the faults, so the publish reaches storage.
    assert_eq!(h.get("/v1/modules").await.status(), StatusCode::OK);
    h.storage.faults().fail_all(|| Fault::Unavailable.error());
    h.storage
        .faults()
        .fail_after(StorageCall::Publish, || Fault::Unavailable.error());
    assert_fault_response(&h.publish("1.0.0").await, Fault::Unavailable, "PUT");
    h.storage.faults().heal();

    assert_eq!(h.versions().await, ["1.0.0"]);
    let archive = h.archive_url("1.0.0").await;
    let sha = archive
        .rsplit_once("checksum=sha256:")
        .unwrap()
        .1
        .to_owned();
    let sent = module_tgz("1.0.0");
    assert_eq!(sha, Sha256Digest::of(&sent).to_hex());
    let r = h.get_as(&archive, None).await;
    assert_eq!(r.body(), &sent);
    let r = h.publish("1.0.0").await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "{}", text(&r));
}

/// One storage call per publish attempt, with the validated archive; no
/// clean-up call the backend did not ask for, and the retry goes through.
#[tokio::test]
async fn publish_calls_storage_once_per_attempt_and_never_cleans_up_behind_it() {
    let sent = module_tgz("1.0.0");
    let sha = Sha256Digest::of(&sent);
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut storage = MockStorage::new();
    let seen = attempts.clone();
    storage
        .expect_publish()
        .withf(move |module, version, archive| {
            module.to_string() == "acme/vpc/aws"
                && version.to_string() == "1.0.0"
                && archive.info().sha256 == sha
        })
        .times(2)
        .returning(move |_, _, _| match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Fault::Unavailable.error()),
            _ => Ok(()),
        });
    storage.expect_delete_version().never();
    // The catalogue is built from storage on first use, and after a failed
    // write asks what storage holds: reads only.
    storage
        .expect_list_modules()
        .times(1)
        .returning(|| Ok(vec![]));
    storage
        .expect_list_versions()
        .times(1)
        .returning(|_| Ok(vec![]));
    storage
        .expect_write_metadata()
        .times(1)
        .returning(|_, _, _| Ok(()));
    let registry = TestRegistry::builder().storage(Arc::new(storage)).build();
    let put = || registry.put("/v1/modules/acme/vpc/aws/1.0.0", sent.clone(), Some(MASTER));
    let r = put().await;
    assert_fault_response(&r, Fault::Unavailable, "PUT");
    let r = put().await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", text(&r));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn token_routes_map_token_store_failures_and_hide_them() {
    for fault in FAULTS {
        let h = harness(None);
        let uploader = h.named_token("ci", Tier::Uploader).await;
        assert_eq!(h.publish("1.0.0").await.status(), StatusCode::CREATED);

        h.tokens.faults().fail_all(move || fault.error());
        let routes = [
            (
                Method::POST,
                "/v1/tokens",
                r#"{"name":"ci2","tier":"downloader"}"#,
            ),
            (Method::GET, "/v1/tokens", ""),
            (Method::HEAD, "/v1/tokens", ""),
            (Method::DELETE, "/v1/tokens/ci", ""),
        ];
        for (method, uri, body) in routes {
            let r = h.call(method.clone(), uri, Some(MASTER), body).await;
            assert_fault_response(&r, fault, &format!("{method} {uri}"));
        }
        // A token the store cannot look up is not "invalid": no 401, which
        // would make clients drop working credentials.
        for (method, uri, body) in [
            (
                Method::GET,
                "/v1/modules/acme/vpc/aws/versions",
                Bytes::new(),
            ),
            (
                Method::PUT,
                "/v1/modules/acme/vpc/aws/2.0.0",
                module_tgz("2.0.0"),
            ),
        ] {
            let r = h.call(method.clone(), uri, Some(&uploader), body).await;
            assert_fault_response(&r, fault, &format!("{method} {uri} with an uploader token"));
            assert!(!r.headers().contains_key("www-authenticate"));
        }
        // The master token comes from the configuration: it still works.
        assert_eq!(h.versions().await, ["1.0.0"], "{fault:?}");

        h.tokens.faults().heal();
        let r = h.get("/v1/tokens").await;
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        let names: Vec<_> = v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["ci"],
            "{fault:?}: the failed create and delete changed nothing"
        );
        let r = h.publish_as(&uploader, "2.0.0").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{fault:?}: {}", text(&r));
        h.named_token("ci2", Tier::Downloader).await;
    }
}

#[tokio::test]
async fn an_unreachable_token_store_is_asked_once_and_never_means_401() {
    let mut tokens = MockTokenStore::new();
    tokens
        .expect_find_by_hash()
        .times(1)
        .returning(|_| Err(Fault::Unavailable.error()));
    let registry = TestRegistry::builder().tokens(Arc::new(tokens)).build();
    let r = registry
        .get_as(
            "/v1/modules/acme/vpc/aws/versions",
            Some("tfr_some-downloader-token"),
        )
        .await;
    assert_fault_response(&r, Fault::Unavailable, "GET versions");
}

/// An upstream with archives of acme/vpc/aws 1.0.0 and 2.0.0, to pin.
fn upstream_with_archive() -> Arc<dyn Upstream> {
    let archive = |version| {
        FetchedArchive::new(
            module_tgz(version),
            "registry.example.com",
            "https://registry.example.com/acme/vpc/aws.tar.gz",
        )
    };
    Arc::new(
        InMemoryUpstream::new("registry.example.com")
            .with_archive("acme/vpc/aws", "1.0.0", archive("1.0.0"))
            .with_archive("acme/vpc/aws", "2.0.0", archive("2.0.0")),
    )
}

#[tokio::test]
async fn pin_routes_map_pin_store_failures_and_hide_them() {
    for fault in FAULTS {
        let h = harness(Some(upstream_with_archive()));
        h.pins.faults().fail_all(move || fault.error());
        let r = h.get("/v1/pins").await;
        assert_fault_response(&r, fault, "GET /v1/pins");

        // The version is stored before its origin is recorded; when recording
        // fails the client hears so, and the (whole) version stays, as documented.
        let pin = "/v1/pins/acme/vpc/aws/1.0.0";
        let r = h.post(pin, "").await;
        assert_fault_response(&r, fault, "POST pin");
        h.pins.faults().heal();
        assert_eq!(h.versions().await, ["1.0.0"], "{fault:?}");
        let archive = h.archive_url("1.0.0").await;
        let r = h.get_as(&archive, None).await;
        assert_eq!(r.body(), &module_tgz("1.0.0"), "{fault:?}");
        let r = h.post(pin, "").await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{fault:?}: {}", text(&r));

        // Deleting a pinned version whose record cannot be deleted: the version
        // is gone (the stale record only shows in the listing).
        let r = h.post("/v1/pins/acme/vpc/aws/2.0.0", "").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{fault:?}: {}", text(&r));
        h.pins.faults().fail_all(move || fault.error());
        let r = h.delete("/v1/modules/acme/vpc/aws/2.0.0").await;
        assert_eq!(
            r.status(),
            StatusCode::NO_CONTENT,
            "{fault:?}: {}",
            text(&r)
        );
        h.pins.faults().heal();
        assert_eq!(h.versions().await, ["1.0.0"], "{fault:?}");
    }
}

/// Pinning over failing storage: the check for an existing version fails
/// first, so the upstream is never fetched; a failing publish stores nothing
/// and records no origin; the retry pins.
#[tokio::test]
async fn a_pin_over_failing_storage_fetches_nothing_and_records_nothing() {
    for fault in FAULTS {
        let mut upstream = MockUpstream::new();
        upstream.expect_fetch_archive().never();
        let h = harness(Some(Arc::new(upstream)));
        h.storage.faults().fail_all(move || fault.error());
        let r = h.post("/v1/pins/acme/vpc/aws/1.0.0", "").await;
        assert_fault_response(&r, fault, "POST pin");
    }

    for fault in FAULTS {
        let h = harness(Some(upstream_with_archive()));
        // The lookup succeeds (absent), the publish fails.
        h.storage
            .faults()
            .fail(StorageCall::Publish, move || fault.error());
        let pin = "/v1/pins/acme/vpc/aws/1.0.0";
        let r = h.post(pin, "").await;
        assert_fault_response(&r, fault, "POST pin");
        h.storage.faults().heal();
        assert!(h.versions().await.is_empty(), "{fault:?}");
        assert!(h.pins.list().await.unwrap().is_empty(), "{fault:?}");
        let r = h.post(pin, "").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{fault:?}: {}", text(&r));
        assert_eq!(h.pins.list().await.unwrap().len(), 1, "{fault:?}");
    }
}

/// With proxying on, a local storage failure is answered as such: the
/// registry does not take "cannot tell" for "no local version" and serve the
/// address from the upstream (which would reopen dependency confusion).
#[tokio::test]
async fn failing_local_storage_never_falls_back_to_the_upstream() {
    for through_registry in [false, true] {
        for fault in FAULTS {
            let mut upstream = MockUpstream::new();
            upstream.expect_list_versions().never();
            upstream.expect_download_location().never();
            upstream.expect_fetch_archive().never();
            let storage: Arc<FailingStorage> = Arc::default();
            let mut builder = TestRegistry::builder()
                .storage(storage.clone())
                .upstream(Arc::new(upstream))
                .proxy();
            if through_registry {
                builder = builder
                    .through_registry()
                    .archive_cache(Arc::<FailingStorage>::default());
            }
            let registry = builder.build();
            let publish = registry.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"));
            assert_eq!(publish.await.status(), StatusCode::CREATED);
            let r = registry.download("acme/vpc/aws", "1.0.0").await;
            let archive = r.headers()["x-terraform-get"].to_str().unwrap().to_owned();

            storage.faults().fail_all(move || fault.error());
            for (uri, token) in [
                ("/v1/modules/acme/vpc/aws/versions", Some(MASTER)),
                ("/v1/modules/acme/vpc/aws/1.0.0/download", Some(MASTER)),
                ("/v1/modules/acme/vpc/aws/2.0.0/download", Some(MASTER)),
                (archive.as_str(), None),
            ] {
                let r = registry.get_as(uri, token).await;
                assert_fault_response(
                    &r,
                    fault,
                    &format!("GET {uri} (through registry: {through_registry})"),
                );
            }
        }
    }
}
