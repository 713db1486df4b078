//! `Registry::handle` end to end on the in-memory fakes (no sockets).

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
use registry_core::{
    ArchiveAccess, ArchiveFormat, ArchiveInfo, ArchiveLocation, MockStorage, Registry,
    RegistryConfig, Sha256Digest, SigningKey, Storage, StorageError, TokenHash,
};
use serde_json::Value;

const MASTER: &str = "tfr_master-token-for-tests-only-0000000000000000";

/// A `.tar.gz` whose `main.tf` outputs `version`.
fn module_tgz(version: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let body = format!("output \"version\" {{ value = \"{version}\" }}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "main.tf", body.as_bytes())
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

struct Harness {
    registry: Registry,
    storage: Arc<InMemoryStorage>,
    now: Arc<Mutex<SystemTime>>,
}

fn harness_with(config: impl FnOnce(RegistryConfig) -> RegistryConfig) -> Harness {
    let storage = Arc::new(InMemoryStorage::new());
    let now = Arc::new(Mutex::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let clock_now = now.clone();
    let config = config(
        RegistryConfig::new(SigningKey::from_bytes([42u8; 32]).unwrap())
            .with_master_token_hash(TokenHash::of(MASTER)),
    );
    let registry = Registry::new(storage.clone(), Arc::new(InMemoryTokenStore::new()), config)
        .with_clock(Arc::new(move || *clock_now.lock().unwrap()));
    Harness {
        registry,
        storage,
        now,
    }
}

fn harness() -> Harness {
    harness_with(|c| c)
}

fn req(method: Method, uri: &str, token: Option<&str>, body: impl Into<Bytes>) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(body.into()).unwrap()
}

fn body_json(r: &Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.body()))
}

fn error_message(r: &Response<Bytes>) -> String {
    let v = body_json(r);
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {v}"));
    assert_eq!(errors.len(), 1, "{v}");
    errors[0].as_str().unwrap().to_owned()
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Response<Bytes> {
        self.registry.handle(req(method, uri, token, body)).await
    }

    async fn publish(&self, module: &str, version: &str) -> Response<Bytes> {
        self.call(
            Method::PUT,
            &format!("/v1/modules/{module}/{version}"),
            Some(MASTER),
            module_tgz(version),
        )
        .await
    }

    async fn token(&self, name: &str, tier: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v1/tokens",
                Some(MASTER),
                format!(r#"{{"name":"{name}","tier":"{tier}"}}"#),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
        body_json(&r)["token"].as_str().unwrap().to_owned()
    }

    /// The `X-Terraform-Get` of a download.
    async fn download_url(&self, module: &str, version: &str) -> String {
        let r = self
            .call(
                Method::GET,
                &format!("/v1/modules/{module}/{version}/download"),
                Some(MASTER),
                "",
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.body());
        r.headers()["x-terraform-get"].to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn discovery_is_open_and_exact() {
    let h = harness();
    let r = h
        .call(Method::GET, "/.well-known/terraform.json", None, "")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        body_json(&r),
        serde_json::json!({"modules.v1": "/v1/modules/"})
    );
    let head = h
        .call(Method::HEAD, "/.well-known/terraform.json", None, "")
        .await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.body().is_empty());
    assert_eq!(
        head.headers()["content-length"],
        r.body().len().to_string().as_str()
    );
}

#[tokio::test]
async fn unknown_routes_404_and_wrong_methods_405_with_allow() {
    let h = harness();
    for path in [
        "/",
        "/v1/modules/a/b/c",
        "/v1/modules/a/b/c/versions/",
        "/nope",
        "/v1/modules/a/b/c/1.0.0/download/x",
    ] {
        let r = h.call(Method::GET, path, Some(MASTER), "").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(error_message(&r).contains("no such route"), "{path}");
    }
    for (method, path, allow) in [
        (Method::POST, "/.well-known/terraform.json", "GET, HEAD"),
        (Method::PUT, "/v1/modules/a/b/c/versions", "GET, HEAD"),
        (Method::GET, "/v1/modules/a/b/c/1.0.0", "PUT, DELETE"),
        (Method::DELETE, "/v1/tokens", "GET, HEAD, POST"),
        (Method::GET, "/v1/tokens/ci", "DELETE"),
    ] {
        let r = h.call(method.clone(), path, Some(MASTER), "").await;
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        error_message(&r);
    }
}

#[tokio::test]
async fn publish_then_versions_sorted_by_semver() {
    let h = harness();
    for v in [
        "1.10.0",
        "1.2.0",
        "2.0.0-rc.1",
        "1.2.0-beta",
        "2.0.0",
        "1.9.9",
    ] {
        let r = h.publish("acme/vpc/aws", v).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{v}: {:?}", r.body());
        let b = body_json(&r);
        let expected = Sha256Digest::of(&module_tgz(v)).to_hex();
        assert_eq!(b["sha256"], expected.as_str());
        assert_eq!(b["size"], module_tgz(v).len());
        assert_eq!(
            (
                b["namespace"].as_str(),
                b["name"].as_str(),
                b["system"].as_str(),
                b["version"].as_str()
            ),
            (Some("acme"), Some("vpc"), Some("aws"), Some(v))
        );
    }
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        body_json(&r),
        serde_json::json!({"modules": [{"source": "acme/vpc/aws", "versions": [
            {"version": "1.2.0-beta"}, {"version": "1.2.0"}, {"version": "1.9.9"},
            {"version": "1.10.0"}, {"version": "2.0.0-rc.1"}, {"version": "2.0.0"}
        ]}]})
    );
}

#[tokio::test]
async fn invalid_addresses_and_versions_are_400_stating_the_rule() {
    let h = harness();
    for (path, needle) in [
        ("/v1/modules/acme/vpc/aws/v1.0.0", "drop the leading 'v'"),
        ("/v1/modules/acme/vpc/aws/1.0", "SemVer"),
        ("/v1/modules/acme/vpc/AWS/1.0.0", "lowercase"),
        (
            "/v1/modules/-acme/vpc/aws/1.0.0",
            "starting and ending with a letter or digit",
        ),
        ("/v1/modules/acme/v%2Fpc/aws/1.0.0", "invalid module name"),
    ] {
        let r = h
            .call(Method::PUT, path, Some(MASTER), module_tgz("1.0.0"))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let m = error_message(&r);
        assert!(m.contains(needle), "{path}: {m}");
    }
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/v1.0.0/download",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .call(
            Method::GET,
            "/v1/modules/ac.me/vpc/aws/versions",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(h
        .storage
        .list_versions(&registry_core::ModuleAddress::new("acme", "vpc", "aws").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn second_publish_is_409_and_keeps_the_first_bytes() {
    let h = harness();
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0").await.status(),
        StatusCode::CREATED
    );
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            module_tgz("other"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let message = error_message(&r);
    assert!(
        message.contains("immutable") && message.contains("other content"),
        "{message}"
    );
    // The same bytes again (a retry after a lost answer): still 409, saying so.
    let r = h.publish("acme/vpc/aws", "1.0.0").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let message = error_message(&r);
    assert!(message.contains("exactly this content"), "{message}");
    let url = h.download_url("acme/vpc/aws", "1.0.0").await;
    let r = h.call(Method::GET, &url, None, "").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&r.body()[..], &module_tgz("1.0.0")[..]);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_store_nothing() {
    let h = harness_with(|c| c.with_max_body_bytes(64 * 1024));
    let big = vec![0x1f_u8; 64 * 1024 + 1];
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            big,
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_message(&r).contains("65536"));
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_message(&r).contains("empty"));
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            "resource \"x\" {}",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_message(&r).contains(".tar.gz or .zip"));
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn adapter_errors_map_to_json_statuses() {
    let h = harness();
    for (e, status) in [
        (
            registry_core::AdapterError::BodyTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            registry_core::AdapterError::BodyReadTimeout,
            StatusCode::REQUEST_TIMEOUT,
        ),
        (
            registry_core::AdapterError::BodyReadFailed,
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = h.registry.adapter_error(e);
        assert_eq!(r.status(), status);
        error_message(&r);
    }
}

#[tokio::test]
async fn download_answers_a_signed_relative_url_with_checksum() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.2.0").await;
    let url = h.download_url("acme/vpc/aws", "1.2.0").await;
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(path, "/v1/archives/acme/vpc/aws/1.2.0.tar.gz");
    let sha = Sha256Digest::of(&module_tgz("1.2.0")).to_hex();
    assert!(query.contains(&format!("checksum=sha256:{sha}")), "{url}");
    assert!(
        query.contains("expires=1800000300&"),
        "default lifetime 300 s: {url}"
    );

    let r = h.call(Method::GET, &url, None, "").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    assert_eq!(&r.body()[..], &module_tgz("1.2.0")[..]);
    assert_eq!(Sha256Digest::of(r.body()).to_hex(), sha);
    let head = h.call(Method::HEAD, &url, None, "").await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.body().is_empty());
    assert_eq!(
        head.headers()["content-length"],
        module_tgz("1.2.0").len().to_string().as_str()
    );
}

#[tokio::test]
async fn tampered_expired_or_unsigned_archive_urls_are_403() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0").await;
    h.publish("acme/vpc/aws", "1.2.0").await;
    let url = h.download_url("acme/vpc/aws", "1.2.0").await;
    let sig_start = url.find("signature=").unwrap() + "signature=".len();
    let mut tampered_sig = url.clone().into_bytes();
    tampered_sig[sig_start] = if tampered_sig[sig_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered_sig = String::from_utf8(tampered_sig).unwrap();
    let other_version = url.replace("1.2.0.tar.gz", "1.0.0.tar.gz");
    let other_expiry = url.replace("expires=1800000300", "expires=1900000300");
    let unsigned = url.split('?').next().unwrap().to_owned();
    for (bad, needle) in [
        (&tampered_sig, "signature is invalid"),
        (&other_version, "signature is invalid"),
        (&other_expiry, "signature is invalid"),
        (&unsigned, "not signed"),
    ] {
        let r = h.call(Method::GET, bad, None, "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
        assert!(error_message(&r).contains(needle), "{bad}");
    }
    *h.now.lock().unwrap() += Duration::from_secs(300);
    assert_eq!(
        h.call(Method::GET, &url, None, "").await.status(),
        StatusCode::OK,
        "valid through its last second"
    );
    *h.now.lock().unwrap() += Duration::from_secs(1);
    let r = h.call(Method::GET, &url, None, "").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(error_message(&r).contains("expired"));
}

#[tokio::test]
async fn signed_url_of_a_deleted_version_is_404() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0").await;
    let url = h.download_url("acme/vpc/aws", "1.0.0").await;
    let r = h
        .call(
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.call(Method::GET, &url, None, "").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unknown_modules_and_versions_are_404() {
    let h = harness();
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/nothing/aws/versions",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("acme/nothing/aws"));
    h.publish("acme/vpc/aws", "1.0.0").await;
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/9.9.9/download",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("9.9.9"));
    let r = h
        .call(
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/9.9.9",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_then_republish() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0").await;
    assert_eq!(
        h.call(
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            ""
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            Some(MASTER),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn token_lifecycle() {
    let h = harness();
    let r = h
        .call(
            Method::POST,
            "/v1/tokens",
            Some(MASTER),
            r#"{"name":"ci","tier":"uploader"}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let b = body_json(&r);
    assert_eq!(
        (b["name"].as_str(), b["tier"].as_str()),
        (Some("ci"), Some("uploader"))
    );
    assert_eq!(b["created_at"], "2027-01-15T08:00:00Z");
    let token = b["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tfr_"));

    // The token publishes; the name is taken.
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(&token),
            module_tgz("1.0.0"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h
        .call(
            Method::POST,
            "/v1/tokens",
            Some(MASTER),
            r#"{"name":"ci","tier":"downloader"}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(error_message(&r).contains("already exists"));

    // Listing shows no secrets.
    h.token("reader", "downloader").await;
    let r = h.call(Method::GET, "/v1/tokens", Some(MASTER), "").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = std::str::from_utf8(r.body()).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(&TokenHash::of(&token).to_hex()),
        "{text}"
    );
    assert_eq!(
        body_json(&r),
        serde_json::json!({"tokens": [
            {"name": "ci", "tier": "uploader", "created_at": "2027-01-15T08:00:00Z"},
            {"name": "reader", "tier": "downloader", "created_at": "2027-01-15T08:00:00Z"},
        ]})
    );

    // Deleting revokes at once.
    assert_eq!(
        h.call(Method::DELETE, "/v1/tokens/ci", Some(MASTER), "")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions",
            Some(&token),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.call(Method::DELETE, "/v1/tokens/ci", Some(MASTER), "")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.call(Method::DELETE, "/v1/tokens/..", Some(MASTER), "")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn malformed_token_requests_are_400() {
    let h = harness();
    for (body, needle) in [
        ("", "invalid JSON"),
        ("{", "invalid JSON"),
        (r#"{"name":"ci"}"#, "invalid JSON"),
        (
            r#"{"name":"ci","tier":"uploader","extra":1}"#,
            "invalid JSON",
        ),
        (r#"{"name":"ci","tier":"admin"}"#, "invalid tier"),
        (r#"{"name":"ci","tier":"master"}"#, "invalid tier"),
        (r#"{"name":"../x","tier":"uploader"}"#, "invalid token name"),
        (r#"{"name":"","tier":"uploader"}"#, "invalid token name"),
    ] {
        let r = h.call(Method::POST, "/v1/tokens", Some(MASTER), body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&r).contains(needle),
            "{body}: {}",
            error_message(&r)
        );
    }
    let r = h.call(Method::GET, "/v1/tokens", Some(MASTER), "").await;
    assert_eq!(
        body_json(&r),
        serde_json::json!({"tokens": []}),
        "nothing was created"
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_a_bearer_challenge() {
    let h = harness();
    let r = h
        .call(Method::GET, "/v1/modules/acme/vpc/aws/versions", None, "")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="terraform-registry""#
    );
    assert!(error_message(&r).contains("credentials"));
    for auth in [
        "Bearer tfr_unknown",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "bearer  ",
    ] {
        let request = Request::get("/v1/modules/acme/vpc/aws/versions")
            .header("authorization", auth)
            .body(Bytes::new())
            .unwrap();
        let r = h.registry.handle(request).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(
            r.headers()["www-authenticate"],
            r#"Bearer realm="terraform-registry", error="invalid_token""#,
            "{auth}"
        );
    }
    // The scheme is case-insensitive.
    let request = Request::get("/v1/modules/acme/vpc/aws/versions")
        .header("authorization", format!("bearer {MASTER}"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(
        h.registry.handle(request).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn anonymous_reads_open_reads_only() {
    let h = harness_with(|c| c.with_anonymous_reads(true));
    h.publish("acme/vpc/aws", "1.0.0").await;
    assert_eq!(
        h.call(Method::GET, "/v1/modules/acme/vpc/aws/versions", None, "")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        h.call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            None,
            ""
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .call(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/2.0.0",
            None,
            module_tgz("2"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.call(Method::GET, "/v1/tokens", None, "").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A bad token is still refused, even where anonymous reads are allowed.
    let r = h
        .call(
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions",
            Some("tfr_nope"),
            "",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Every route x every kind of caller.
#[tokio::test]
async fn auth_matrix() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0").await;
    let downloader = h.token("d", "downloader").await;
    let uploader = h.token("u", "uploader").await;
    let archive_url = h.download_url("acme/vpc/aws", "1.0.0").await;

    #[derive(Clone, Copy, Debug)]
    enum Who {
        Nobody,
        Unknown,
        Downloader,
        Uploader,
        Master,
    }
    use StatusCode as S;
    const U: S = S::UNAUTHORIZED;
    const F: S = S::FORBIDDEN;
    // (method, path, body, [nobody, unknown, downloader, uploader, master])
    let rows: Vec<(Method, String, Bytes, [S; 5])> = vec![
        (
            Method::GET,
            "/.well-known/terraform.json".into(),
            Bytes::new(),
            [S::OK; 5],
        ),
        (Method::GET, archive_url.clone(), Bytes::new(), [S::OK; 5]),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions".into(),
            Bytes::new(),
            [U, U, S::OK, S::OK, S::OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/1.0.0/download".into(),
            Bytes::new(),
            [U, U, S::NO_CONTENT, S::NO_CONTENT, S::NO_CONTENT],
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/{n}.0.0".into(),
            module_tgz("x").into(),
            [U, U, F, S::CREATED, S::CREATED],
        ),
        (
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/{n}.0.0".into(),
            Bytes::new(),
            [U, U, F, F, S::NO_CONTENT],
        ),
        (
            Method::GET,
            "/v1/tokens".into(),
            Bytes::new(),
            [U, U, F, F, S::OK],
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            r#"{"name":"t{n}","tier":"downloader"}"#.into(),
            [U, U, F, F, S::CREATED],
        ),
        (
            Method::DELETE,
            "/v1/tokens/t{n}".into(),
            Bytes::new(),
            [U, U, F, F, S::NO_CONTENT],
        ),
        (
            Method::GET,
            "/v1/pins".into(),
            Bytes::new(),
            [U, U, F, F, S::OK],
        ),
        // No upstream in this harness: the master gets past auth to a 404.
        (
            Method::POST,
            "/v1/pins/hashicorp/consul/aws/0.1.0".into(),
            Bytes::new(),
            [U, U, F, F, S::NOT_FOUND],
        ),
    ];
    for (method, path, body, expected) in rows {
        for (i, who) in [
            Who::Nobody,
            Who::Unknown,
            Who::Downloader,
            Who::Uploader,
            Who::Master,
        ]
        .into_iter()
        .enumerate()
        {
            let token = match who {
                Who::Nobody => None,
                Who::Unknown => Some("tfr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                Who::Downloader => Some(downloader.as_str()),
                Who::Uploader => Some(uploader.as_str()),
                Who::Master => Some(MASTER),
            };
            // `{n}` lets the PUT/DELETE/POST rows act on distinct objects per caller;
            // the master's DELETE rows remove what the master's PUT and POST rows created.
            let n = if matches!(method, Method::DELETE) {
                5
            } else {
                i + 1
            };
            let path = path.replace("{n}", &n.to_string());
            let body = Bytes::from(
                String::from_utf8_lossy(&body)
                    .replace("{n}", &n.to_string())
                    .into_bytes(),
            );
            let body = if method == Method::PUT {
                Bytes::from(module_tgz("x"))
            } else {
                body
            };
            let r = h.call(method.clone(), &path, token, body).await;
            assert_eq!(
                r.status(),
                expected[i],
                "{method} {path} as {who:?}: {:?}",
                r.body()
            );
            if r.status() == U {
                assert!(r.headers().contains_key("www-authenticate"));
            }
            if r.status() == F {
                assert!(error_message(&r).contains("or higher is required"));
            }
        }
    }
}

fn mock_registry(storage: MockStorage) -> Registry {
    Registry::new(
        Arc::new(storage),
        Arc::new(InMemoryTokenStore::new()),
        RegistryConfig::new(SigningKey::from_bytes([1u8; 32]).unwrap())
            .with_master_token_hash(TokenHash::of(MASTER)),
    )
}

#[tokio::test]
async fn storage_unavailable_is_503_with_retry_after() {
    let mut storage = MockStorage::new();
    storage.expect_list_versions().returning(|_| {
        Err(StorageError::Unavailable {
            backend: "test",
            message: "throttled by backend-internal-host-7".into(),
        })
    });
    let r = mock_registry(storage)
        .handle(req(
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions",
            Some(MASTER),
            "",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(!error_message(&r).contains("backend-internal-host-7"));
}

#[tokio::test]
async fn storage_failures_are_500_without_internals_and_store_nothing() {
    let mut storage = MockStorage::new();
    storage
        .expect_publish()
        .times(1)
        .returning(|_, _, _| Err(StorageError::other("test", "disk /secret/path exploded")));
    let r = mock_registry(storage)
        .handle(req(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            module_tgz("1"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let m = error_message(&r);
    assert!(!m.contains("/secret/path") && m.contains("log"), "{m}");
}

#[tokio::test]
async fn invalid_upload_never_reaches_storage() {
    let mut storage = MockStorage::new();
    storage.expect_publish().never();
    let r = mock_registry(storage)
        .handle(req(
            Method::PUT,
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(MASTER),
            "not an archive",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn presigned_storage_urls_get_the_checksum_appended() {
    let sha = Sha256Digest::of(b"archive");
    for (url, expected) in [
        ("https://bucket.s3.example/k/1.0.0.tar.gz?X-Amz-Signature=abc", format!("https://bucket.s3.example/k/1.0.0.tar.gz?X-Amz-Signature=abc&checksum=sha256:{sha}")),
        ("https://cdn.example/k/1.0.0.zip", format!("https://cdn.example/k/1.0.0.zip?checksum=sha256:{sha}")),
    ] {
        let mut storage = MockStorage::new();
        let url = url.to_owned();
        storage.expect_locate_archive().returning(move |_, _| {
            Ok(ArchiveLocation {
                info: ArchiveInfo { format: ArchiveFormat::TarGz, sha256: sha, size: 7 },
                access: ArchiveAccess::Presigned { url: url.clone() },
            })
        });
        let r = mock_registry(storage)
            .handle(req(Method::GET, "/v1/modules/acme/vpc/aws/1.0.0/download", Some(MASTER), ""))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["x-terraform-get"], expected.as_str());
    }
}

/// Regression (found probing the bounds of the OpenAPI document's version
/// parameter for schemathesis): a valid SemVer version too long for a file name
/// made the filesystem storage fail, so publishing, downloading or deleting it
/// answered 500. The API now refuses versions over 100 characters with a 400
/// stating the limit, before storage sees them.
#[tokio::test]
async fn overlong_versions_are_400_before_storage() {
    let h = harness();
    let longest = format!("1.0.0-{}", "a".repeat(94));
    assert_eq!(longest.len(), 100);
    let too_long = format!("{longest}b");
    assert_eq!(
        h.publish("acme/vpc/aws", &longest).await.status(),
        StatusCode::CREATED
    );
    for (method, path) in [
        (Method::PUT, format!("/v1/modules/acme/vpc/aws/{too_long}")),
        (
            Method::GET,
            format!("/v1/modules/acme/vpc/aws/{too_long}/download"),
        ),
        (
            Method::DELETE,
            format!("/v1/modules/acme/vpc/aws/{too_long}"),
        ),
        (Method::POST, format!("/v1/pins/acme/vpc/aws/{too_long}")),
    ] {
        let r = h
            .call(method.clone(), &path, Some(MASTER), module_tgz(&too_long))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        let m = error_message(&r);
        assert!(m.contains("at most 100"), "{method}: {m}");
        assert!(!m.contains(&too_long), "the message does not echo it: {m}");
    }
    let versions = h
        .storage
        .list_versions(&registry_core::ModuleAddress::new("acme", "vpc", "aws").unwrap())
        .await
        .unwrap();
    assert_eq!(
        versions.len(),
        1,
        "only the 100-character version is stored"
    );
}

#[tokio::test]
async fn read_cache_sees_own_writes_at_once_and_others_within_half_the_url_lifetime() {
    let Harness {
        registry,
        storage,
        now,
    } = harness_with(|c| c.with_archive_url_ttl(Duration::from_secs(1)));
    // Asked for an hour; capped at half the 1 s archive URL lifetime.
    let h = Harness {
        registry: registry.with_read_cache(Duration::from_secs(3600)),
        storage,
        now,
    };
    let h = &h;
    let versions = |token: String| async move {
        let r = h
            .call(
                Method::GET,
                "/v1/modules/acme/vpc/aws/versions",
                Some(&token),
                "",
            )
            .await;
        let listed =
            (r.status() == StatusCode::OK).then(|| body_json(&r)["modules"][0]["versions"].clone());
        (r.status(), listed)
    };
    let reader = h.token("reader", "downloader").await;

    // This registry's own writes are seen at once.
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0").await.status(),
        StatusCode::CREATED
    );
    let one = serde_json::json!([{ "version": "1.0.0" }]);
    assert_eq!(
        versions(reader.clone()).await,
        (StatusCode::OK, Some(one.clone()))
    );

    // A write by "another process" (straight to the shared storage) is not
    // seen while the list is cached...
    let archive = registry_core::Archive::new(ArchiveFormat::TarGz, module_tgz("2.0.0").into());
    let (module, v2) = (
        registry_core::ModuleAddress::new("acme", "vpc", "aws").unwrap(),
        "2.0.0".parse().unwrap(),
    );
    h.storage.publish(&module, &v2, &archive).await.unwrap();
    assert_eq!(versions(reader.clone()).await, (StatusCode::OK, Some(one)));
    // ...and is after half the URL lifetime, not after the hour asked for.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        versions(reader.clone()).await,
        (
            StatusCode::OK,
            Some(serde_json::json!([{ "version": "1.0.0" }, { "version": "2.0.0" }]))
        )
    );

    // A token deleted through this registry stops working at once.
    let r = h
        .call(Method::DELETE, "/v1/tokens/reader", Some(MASTER), "")
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(versions(reader).await, (StatusCode::UNAUTHORIZED, None));
}
