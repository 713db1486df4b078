//! `Registry::handle` end to end on the in-memory fakes (no sockets).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use registry_core::testing::{
    error_message, json, ArchiveBuilder, TestRegistry, MASTER_TOKEN as MASTER,
};
use registry_core::{
    ArchiveAccess, ArchiveFormat, ArchiveInfo, ArchiveLocation, MockStorage, RegistryConfig,
    Sha256Digest, StorageError, Tier, TokenHash,
};

/// A `.tar.gz` whose `main.tf` outputs `version`.
fn module_tgz(version: &str) -> Bytes {
    ArchiveBuilder::module(format!("output \"version\" {{ value = \"{version}\" }}\n")).tar_gz()
}

fn harness_with(config: impl FnOnce(RegistryConfig) -> RegistryConfig) -> TestRegistry {
    TestRegistry::builder().config(config).build()
}

fn harness() -> TestRegistry {
    TestRegistry::new()
}

/// Publishes `version` of acme/vpc/aws with `token`.
async fn publish_as(h: &TestRegistry, version: &str, token: &str) -> http::Response<Bytes> {
    let uri = format!("/v1/modules/acme/vpc/aws/{version}");
    h.put(&uri, module_tgz(version), Some(token)).await
}

#[tokio::test]
async fn discovery_is_open_and_exact() {
    let h = harness();
    let r = h.get_as("/.well-known/terraform.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(json(&r), serde_json::json!({"modules.v1": "/v1/modules/"}));
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
        "/v1/modules/",
        "/v1/modules/a/b/c/versions/",
        "/nope",
        "/v1/modules/a/b/c/1.0.0/download/x",
    ] {
        let r = h.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(error_message(&r).contains("no such route"), "{path}");
    }
    for (method, path, allow) in [
        (Method::POST, "/.well-known/terraform.json", "GET, HEAD"),
        (Method::PUT, "/v1/modules/a/b/c/versions", "GET, HEAD"),
        (
            Method::POST,
            "/v1/modules/a/b/c/1.0.0",
            "GET, HEAD, PUT, DELETE",
        ),
        (Method::PUT, "/v1/modules", "GET, HEAD"),
        (Method::POST, "/v1/modules/search", "GET, HEAD"),
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
        let r = h.publish("acme/vpc/aws", v, module_tgz(v)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{v}: {:?}", r.body());
        let b = json(&r);
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
    let r = h.get("/v1/modules/acme/vpc/aws/versions").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json(&r),
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
        let r = h.put(path, module_tgz("1.0.0"), Some(MASTER)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let m = error_message(&r);
        assert!(m.contains(needle), "{path}: {m}");
    }
    let r = h.get("/v1/modules/acme/vpc/aws/v1.0.0/download").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h.get("/v1/modules/ac.me/vpc/aws/versions").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(h
        .storage()
        .list_versions(&registry_core::ModuleAddress::new("acme", "vpc", "aws").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn second_publish_is_409_and_keeps_the_first_bytes() {
    let h = harness();
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = h
        .put(
            "/v1/modules/acme/vpc/aws/1.0.0",
            module_tgz("other"),
            Some(MASTER),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let message = error_message(&r);
    assert!(
        message.contains("immutable") && message.contains("other content"),
        "{message}"
    );
    // The same bytes again (a retry after a lost answer): still 409, saying so.
    let r = h
        .publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let message = error_message(&r);
    assert!(message.contains("exactly this content"), "{message}");
    let url = h.download_url("acme/vpc/aws", "1.0.0").await;
    let r = h.get_as(&url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&r.body()[..], &module_tgz("1.0.0")[..]);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_store_nothing() {
    let h = harness_with(|c| c.with_max_body_bytes(64 * 1024));
    let big = vec![0x1f_u8; 64 * 1024 + 1];
    let r = h
        .put("/v1/modules/acme/vpc/aws/1.0.0", big, Some(MASTER))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_message(&r).contains("65536"));
    let r = h
        .put("/v1/modules/acme/vpc/aws/1.0.0", "", Some(MASTER))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_message(&r).contains("empty"));
    let r = h
        .put(
            "/v1/modules/acme/vpc/aws/1.0.0",
            "resource \"x\" {}",
            Some(MASTER),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(error_message(&r).contains(".tar.gz or .zip"));
    let r = h.get("/v1/modules/acme/vpc/aws/versions").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn adapter_errors_map_to_json_statuses() {
    let h = harness();
    for (e, status) in [
        (
            registry_core::AdapterError::BodyTooLarge { limit: 1000 },
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
        let r = h.registry().adapter_error(e);
        assert_eq!(r.status(), status);
        error_message(&r);
    }
}

#[tokio::test]
async fn download_answers_a_signed_relative_url_with_checksum() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.2.0", module_tgz("1.2.0"))
        .await;
    let url = h.download_url("acme/vpc/aws", "1.2.0").await;
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(path, "/v1/archives/acme/vpc/aws/1.2.0.tar.gz");
    let sha = Sha256Digest::of(&module_tgz("1.2.0")).to_hex();
    assert!(query.contains(&format!("checksum=sha256:{sha}")), "{url}");
    assert!(
        query.contains("expires=1800000300&"),
        "default lifetime 300 s: {url}"
    );

    let r = h.get_as(&url, None).await;
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
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    h.publish("acme/vpc/aws", "1.2.0", module_tgz("1.2.0"))
        .await;
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
        let r = h.get_as(bad, None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
        assert!(error_message(&r).contains(needle), "{bad}");
    }
    h.advance(Duration::from_secs(300));
    assert_eq!(
        h.get_as(&url, None).await.status(),
        StatusCode::OK,
        "valid through its last second"
    );
    h.advance(Duration::from_secs(1));
    let r = h.get_as(&url, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(error_message(&r).contains("expired"));
}

#[tokio::test]
async fn signed_url_of_a_deleted_version_is_404() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    let url = h.download_url("acme/vpc/aws", "1.0.0").await;
    let r = h.delete("/v1/modules/acme/vpc/aws/1.0.0").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.get_as(&url, None).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_modules_and_versions_are_404() {
    let h = harness();
    let r = h.get("/v1/modules/acme/nothing/aws/versions").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("acme/nothing/aws"));
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    let r = h.get("/v1/modules/acme/vpc/aws/9.9.9/download").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("9.9.9"));
    let r = h.delete("/v1/modules/acme/vpc/aws/9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_then_republish() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    assert_eq!(
        h.delete("/v1/modules/acme/vpc/aws/1.0.0").await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h.get("/v1/modules/acme/vpc/aws/1.0.0/download").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn token_lifecycle() {
    let h = harness();
    let r = h
        .post("/v1/tokens", r#"{"name":"ci","tier":"uploader"}"#)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let b = json(&r);
    assert_eq!(
        (b["name"].as_str(), b["tier"].as_str()),
        (Some("ci"), Some("uploader"))
    );
    assert_eq!(b["created_at"], "2027-01-15T08:00:00Z");
    let token = b["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tfr_"));

    // The token publishes; the name is taken.
    assert_eq!(
        publish_as(&h, "1.0.0", &token).await.status(),
        StatusCode::CREATED
    );
    let r = h
        .post("/v1/tokens", r#"{"name":"ci","tier":"downloader"}"#)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(error_message(&r).contains("already exists"));

    // Listing shows no secrets.
    h.named_token("reader", Tier::Downloader).await;
    let r = h.get("/v1/tokens").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = std::str::from_utf8(r.body()).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(&TokenHash::of(&token).to_hex()),
        "{text}"
    );
    assert_eq!(
        json(&r),
        serde_json::json!({"tokens": [
            {"name": "ci", "tier": "uploader", "created_at": "2027-01-15T08:00:00Z", "expires_at": null, "created_by": "master", "namespaces": null},
            {"name": "reader", "tier": "downloader", "created_at": "2027-01-15T08:00:00Z", "expires_at": null, "created_by": "master", "namespaces": null},
        ]})
    );

    // Deleting revokes at once.
    assert_eq!(
        h.delete("/v1/tokens/ci").await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .get_as("/v1/modules/acme/vpc/aws/versions", Some(&token))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.delete("/v1/tokens/ci").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.delete("/v1/tokens/..").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn expiring_tokens_work_until_their_expiry_then_answer_401_saying_so() {
    // A read cache far longer than the token's life: the expiry is checked on
    // every request, whatever the cache kept.
    let h = TestRegistry::builder()
        .read_cache(Duration::from_secs(3600))
        .build();
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"ci","tier":"uploader","expires_in":900}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", error_message(&r));
    let b = json(&r);
    assert_eq!(b["created_at"], "2027-01-15T08:00:00Z");
    assert_eq!(b["expires_at"], "2027-01-15T08:15:00Z");
    let ci = b["token"].as_str().unwrap().to_owned();
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"reader","tier":"downloader","expires_at":"2027-01-15T10:00:00.750+01:00"}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", error_message(&r));
    let reader = json(&r)["token"].as_str().unwrap().to_owned();
    let r = h.get("/v1/tokens").await;
    assert_eq!(
        json(&r)["tokens"],
        serde_json::json!([
            {"name": "ci", "tier": "uploader", "created_at": "2027-01-15T08:00:00Z", "expires_at": "2027-01-15T08:15:00Z", "created_by": "master", "namespaces": null},
            {"name": "reader", "tier": "downloader", "created_at": "2027-01-15T08:00:00Z", "expires_at": "2027-01-15T09:00:00Z", "created_by": "master", "namespaces": null},
        ])
    );

    let versions = "/v1/modules/acme/vpc/aws/versions";
    assert_eq!(
        publish_as(&h, "1.0.0", &ci).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.get_as(versions, Some(&reader)).await.status(),
        StatusCode::OK
    );

    // One second before its expiry the token works; at its expiry it does not.
    h.advance(Duration::from_secs(899));
    assert_eq!(h.get_as(versions, Some(&ci)).await.status(), StatusCode::OK);
    h.advance(Duration::from_secs(1));
    let r = h.get_as(versions, Some(&ci)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_message(&r),
        "the token \"ci\" expired at 2027-01-15T08:15:00Z; ask a registry admin for a new one (POST /v1/tokens with the master token)"
    );
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(r#"error="invalid_token""#));
    assert_eq!(
        publish_as(&h, "1.1.0", &ci).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.get("/v1/modules/acme/vpc/aws/versions").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        json(&h.get(versions).await)["modules"][0]["versions"],
        serde_json::json!([{"version": "1.0.0"}]),
        "the expired token published nothing"
    );
    // The other token lives on until its own expiry, answered from the read
    // cache: its record is gone from the store (as another process would
    // delete it) and it still works within the cache's TTL...
    h.tokens().delete("reader").await.unwrap();
    assert_eq!(
        h.get_as(versions, Some(&reader)).await.status(),
        StatusCode::OK,
        "the cached record"
    );
    // ...but the cached record is never served past its expiry.
    h.advance(Duration::from_secs(45 * 60));
    let r = h.get_as(versions, Some(&reader)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_message(&r).contains("\"reader\" expired at 2027-01-15T09:00:00Z"));

    // An expired token's record stays listed until deleted, its name taken.
    let r = h.get("/v1/tokens").await;
    assert_eq!(json(&r)["tokens"][0]["name"], "ci");
    let r = h
        .post("/v1/tokens", r#"{"name":"ci","tier":"uploader"}"#)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        h.delete("/v1/tokens/ci").await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn records_without_a_creator_or_scope_load_and_work_everywhere() {
    let h = harness();
    // As stored before creators and scopes were kept (another process, an
    // older version).
    h.insert_token("legacy", Tier::Uploader, "tfr_legacy-secret")
        .await;
    let r = h.get("/v1/tokens").await;
    assert_eq!(json(&r)["tokens"][0]["created_by"], serde_json::Value::Null);
    assert_eq!(json(&r)["tokens"][0]["namespaces"], serde_json::Value::Null);
    assert_eq!(
        publish_as(&h, "1.0.0", "tfr_legacy-secret").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn namespace_limited_tokens_reach_only_their_namespaces_on_every_route() {
    let h = harness();
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"team","tier":"uploader","namespaces":["acme","platform-*"],"expires_in":600}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", error_message(&r));
    assert_eq!(
        json(&r)["namespaces"],
        serde_json::json!(["acme", "platform-*"])
    );
    let team = json(&r)["token"].as_str().unwrap().to_owned();
    for module in [
        "acme/vpc/aws",
        "platform-net/dns/aws",
        "other/vpc/aws",
        "platformx/vpc/aws",
    ] {
        let r = h.publish(module, "1.0.0", module_tgz("1.0.0")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let outside = |r: &http::Response<Bytes>, namespace: &str| {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{namespace}");
        assert_eq!(
            error_message(r),
            format!("this token is limited to the namespaces acme, platform-*; namespace \"{namespace}\" is outside them")
        );
    };
    // Module routes: in scope as for any uploader, outside it 403.
    for (inside, namespace) in [
        ("acme/vpc/aws", "other"),
        ("platform-net/dns/aws", "platformx"),
    ] {
        let out = inside.replacen(inside.split('/').next().unwrap(), namespace, 1);
        let out = out.replace("dns", "vpc");
        for path in [
            format!("/v1/modules/{inside}/versions"),
            format!("/v1/modules/{inside}/1.0.0/download"),
            format!("/v1/modules/{inside}"),
            format!("/v1/modules/{inside}/1.0.0"),
        ] {
            let r = h.get_as(&path, Some(&team)).await;
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
        for path in [
            format!("/v1/modules/{out}/versions"),
            format!("/v1/modules/{out}/1.0.0/download"),
            format!("/v1/modules/{out}"),
            format!("/v1/modules/{out}/1.0.0"),
            format!("/v1/modules/{out}/download"),
            format!("/v1/modules/{namespace}/vpc"),
            format!("/v1/modules/{namespace}"),
            format!("/v1/modules/search?q=vpc&namespace={namespace}"),
        ] {
            outside(&h.get_as(&path, Some(&team)).await, namespace);
        }
    }
    assert_eq!(
        publish_as(&h, "2.0.0", &team).await.status(),
        StatusCode::CREATED,
        "acme is in scope"
    );
    let r = h
        .put(
            "/v1/modules/other/vpc/aws/2.0.0",
            module_tgz("2.0.0"),
            Some(&team),
        )
        .await;
    outside(&r, "other");
    assert_eq!(
        json(&h.get("/v1/modules/other/vpc/aws/versions").await)["modules"][0]["versions"],
        serde_json::json!([{"version": "1.0.0"}]),
        "nothing published outside the scope"
    );
    // Lists and searches answer from inside the scope only, and count only it.
    let ids = |r: http::Response<Bytes>| -> Vec<String> {
        json(&r)["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(h.get_as("/v1/modules", Some(&team)).await),
        ["acme/vpc/aws/2.0.0", "platform-net/dns/aws/1.0.0"]
    );
    assert_eq!(
        ids(h.get_as("/v1/modules/search?q=aws", Some(&team)).await),
        ["acme/vpc/aws/2.0.0", "platform-net/dns/aws/1.0.0"]
    );
    let page = json(&h.get_as("/v1/modules?limit=1", Some(&team)).await);
    assert_eq!(page["meta"]["next_offset"], 1);
    let last = json(&h.get_as("/v1/modules?limit=1&offset=1", Some(&team)).await);
    assert_eq!(
        last["meta"].get("next_offset"),
        None,
        "two modules in scope"
    );
    assert_eq!(
        ids(h.get("/v1/modules").await).len(),
        4,
        "the master sees all"
    );
    // Token management stays the master's; the scope expires with the token.
    assert_eq!(
        h.get_as("/v1/tokens", Some(&team)).await.status(),
        StatusCode::FORBIDDEN
    );
    h.advance(Duration::from_secs(600));
    let r = h
        .get_as("/v1/modules/acme/vpc/aws/versions", Some(&team))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_message(&r).contains("expired"));
}

#[tokio::test]
async fn bad_namespace_patterns_are_400_and_create_nothing() {
    let h = harness();
    for (namespaces, needle) in [
        ("[]", "give 1 to 100"),
        (r#"["a*b"]"#, "invalid namespace pattern"),
        (r#"["**"]"#, "invalid namespace pattern"),
        (r#"["-acme"]"#, "invalid namespace pattern"),
        (r#"["acme-"]"#, "invalid namespace pattern"),
        (r#"["ac me"]"#, "invalid namespace pattern"),
        (r#"["-*"]"#, "invalid namespace pattern"),
        (r#"[""]"#, "invalid namespace pattern"),
        (r#""acme""#, "invalid JSON"),
        (r#"[1]"#, "invalid JSON"),
    ] {
        let body = format!(r#"{{"name":"t","tier":"downloader","namespaces":{namespaces}}}"#);
        let r = h.post("/v1/tokens", body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&r).contains(needle),
            "{body}: {}",
            error_message(&r)
        );
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("ns{i}")).collect();
    let body = serde_json::json!({"name": "t", "tier": "downloader", "namespaces": too_many});
    let r = h.post("/v1/tokens", body.to_string()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json(&h.get("/v1/tokens").await),
        serde_json::json!({"tokens": []})
    );
    // `*` alone is every namespace; `acme-*` a prefix ending in '-'.
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"t","tier":"downloader","namespaces":["*","acme-*"]}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", error_message(&r));
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
        (
            r#"{"name":"a","tier":"uploader","expires_in":0}"#,
            "at least 1 second",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_in":-5}"#,
            "invalid JSON",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_in":1.5}"#,
            "invalid JSON",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_in":"60"}"#,
            "invalid JSON",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_in":18446744073709551615}"#,
            "longest lifetime",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_in":60,"expires_at":"2027-02-01T00:00:00Z"}"#,
            "not both",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":"tomorrow"}"#,
            "RFC 3339",
        ),
        (
            // 06:00 UTC, two hours before the registry's clock.
            r#"{"name":"a","tier":"uploader","expires_at":"2027-01-15T08:00:00+02:00"}"#,
            "not in the future",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":"2027-01-15 09:00:00"}"#,
            "RFC 3339",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":"2027-01-15T08:00:00Z"}"#,
            "not in the future",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":"2020-01-01T00:00:00Z"}"#,
            "not in the future",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":"2099-01-01T00:00:00Z"}"#,
            "longest lifetime",
        ),
        (
            r#"{"name":"a","tier":"uploader","expires_at":null,"expires_in":null,"x":1}"#,
            "invalid JSON",
        ),
    ] {
        let r = h.post("/v1/tokens", body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&r).contains(needle),
            "{body}: {}",
            error_message(&r)
        );
    }
    let r = h.get("/v1/tokens").await;
    assert_eq!(
        json(&r),
        serde_json::json!({"tokens": []}),
        "nothing was created"
    );
    // Explicit nulls mean no expiry.
    let r = h
        .post(
            "/v1/tokens",
            r#"{"name":"a","tier":"uploader","expires_in":null,"expires_at":null}"#,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(json(&r)["expires_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn unauthenticated_requests_get_a_bearer_challenge() {
    let h = harness();
    let r = h.get_as("/v1/modules/acme/vpc/aws/versions", None).await;
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
        let r = h.handle(request).await;
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
    assert_eq!(h.handle(request).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn anonymous_reads_open_reads_only() {
    let h = harness_with(|c| c.with_anonymous_reads(true));
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    assert_eq!(
        h.get_as("/v1/modules/acme/vpc/aws/versions", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        h.get_as("/v1/modules/acme/vpc/aws/1.0.0/download", None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .put("/v1/modules/acme/vpc/aws/2.0.0", module_tgz("2"), None)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get_as("/v1/tokens", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A bad token is still refused, even where anonymous reads are allowed.
    let r = h
        .get_as("/v1/modules/acme/vpc/aws/versions", Some("tfr_nope"))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Every route x every kind of caller.
#[tokio::test]
async fn auth_matrix() {
    let h = harness();
    h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
        .await;
    let downloader = h.named_token("d", Tier::Downloader).await;
    let uploader = h.named_token("u", Tier::Uploader).await;
    let archive_url = h.download_url("acme/vpc/aws", "1.0.0").await;
    let scoped = |name: &str, namespaces: &str| {
        let h = &h;
        let body = format!(r#"{{"name":"{name}","tier":"uploader","namespaces":{namespaces}}}"#);
        async move {
            json(&h.post("/v1/tokens", body).await)["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let scoped_in = scoped("in", r#"["ac*"]"#).await;
    let scoped_out = scoped("out", r#"["other","acme-*"]"#).await;
    // An uploader whose expiry has passed, and one stored before tokens had
    // expiries, scopes or creators (another process, an older version).
    h.tokens()
        .create(&registry_core::TokenRecord {
            name: "expired".into(),
            tier: Tier::Uploader,
            hash: TokenHash::of("tfr_expired-secret"),
            created_at: h.now() - Duration::from_secs(120),
            expires_at: Some(h.now() - Duration::from_secs(60)),
            namespaces: None,
            created_by: Some("master".into()),
        })
        .await
        .unwrap();
    h.insert_token("legacy", Tier::Uploader, "tfr_legacy-secret")
        .await;

    #[derive(Clone, Copy, Debug)]
    enum Who {
        Nobody,
        Unknown,
        Downloader,
        Uploader,
        Master,
        /// An uploader limited to `ac*`: acme is in scope.
        ScopedIn,
        /// An uploader limited to `other` and `acme-*`: acme is not.
        ScopedOut,
        Expired,
        Legacy,
    }
    const WHO: [Who; 9] = [
        Who::Nobody,
        Who::Unknown,
        Who::Downloader,
        Who::Uploader,
        Who::Master,
        Who::ScopedIn,
        Who::ScopedOut,
        Who::Expired,
        Who::Legacy,
    ];
    use StatusCode as S;
    const U: S = S::UNAUTHORIZED;
    const F: S = S::FORBIDDEN;
    const OK: S = S::OK;
    // (method, path, body, [nobody, unknown, downloader, uploader, master,
    //  scoped in, scoped out, expired, legacy])
    let rows: Vec<(Method, String, Bytes, [S; 9])> = vec![
        (
            Method::GET,
            "/.well-known/terraform.json".into(),
            Bytes::new(),
            [OK; 9],
        ),
        (Method::GET, archive_url.clone(), Bytes::new(), [OK; 9]),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/versions".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, F, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/1.0.0/download".into(),
            Bytes::new(),
            {
                let n = S::NO_CONTENT;
                [U, U, n, n, n, n, F, U, n]
            },
        ),
        // Lists and searches: a scope outside acme answers an empty page.
        (
            Method::GET,
            "/v1/modules".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, OK, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/search?q=vpc".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, OK, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, F, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, F, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, F, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/1.0.0".into(),
            Bytes::new(),
            [U, U, OK, OK, OK, OK, F, U, OK],
        ),
        (
            Method::GET,
            "/v1/modules/acme/vpc/aws/download".into(),
            Bytes::new(),
            {
                let r = S::FOUND;
                [U, U, r, r, r, r, F, U, r]
            },
        ),
        (
            Method::PUT,
            "/v1/modules/acme/vpc/aws/{n}.0.0".into(),
            module_tgz("x"),
            {
                let c = S::CREATED;
                [U, U, F, c, c, c, F, U, c]
            },
        ),
        (
            Method::DELETE,
            "/v1/modules/acme/vpc/aws/{n}.0.0".into(),
            Bytes::new(),
            [U, U, F, F, S::NO_CONTENT, F, F, U, F],
        ),
        (
            Method::GET,
            "/v1/tokens".into(),
            Bytes::new(),
            [U, U, F, F, OK, F, F, U, F],
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            r#"{"name":"t{n}","tier":"downloader"}"#.into(),
            [U, U, F, F, S::CREATED, F, F, U, F],
        ),
        (
            Method::DELETE,
            "/v1/tokens/t{n}".into(),
            Bytes::new(),
            [U, U, F, F, S::NO_CONTENT, F, F, U, F],
        ),
        (
            Method::GET,
            "/v1/pins".into(),
            Bytes::new(),
            [U, U, F, F, OK, F, F, U, F],
        ),
        // No audit log in this harness: the master gets past auth to a 404.
        (
            Method::GET,
            "/v1/audit".into(),
            Bytes::new(),
            [U, U, F, F, S::NOT_FOUND, F, F, U, F],
        ),
        // Exchanges are open (the credential is the body) and off here:
        // refused on the head, whoever asks.
        (
            Method::POST,
            "/v1/exchange/oidc".into(),
            r#"{"token":"x"}"#.into(),
            [S::NOT_FOUND; 9],
        ),
        (
            Method::POST,
            "/v1/exchange/aws".into(),
            Bytes::new(),
            [S::NOT_FOUND; 9],
        ),
        // No upstream in this harness: the master gets past auth to a 404.
        (
            Method::POST,
            "/v1/pins/hashicorp/consul/aws/0.1.0".into(),
            Bytes::new(),
            [U, U, F, F, S::NOT_FOUND, F, F, U, F],
        ),
    ];
    for (method, path, body, expected) in rows {
        for (i, who) in WHO.into_iter().enumerate() {
            let token = match who {
                Who::Nobody => None,
                Who::Unknown => Some("tfr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                Who::Downloader => Some(downloader.as_str()),
                Who::Uploader => Some(uploader.as_str()),
                Who::Master => Some(MASTER),
                Who::ScopedIn => Some(scoped_in.as_str()),
                Who::ScopedOut => Some(scoped_out.as_str()),
                Who::Expired => Some("tfr_expired-secret"),
                Who::Legacy => Some("tfr_legacy-secret"),
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
                module_tgz("x")
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
                let message = error_message(&r);
                assert!(
                    message.contains("or higher is required")
                        || message.contains("is limited to the namespaces"),
                    "{method} {path} as {who:?}: {message}"
                );
            }
            if matches!(who, Who::Expired) && r.status() == U {
                assert!(error_message(&r).contains("\"expired\" expired at"));
            }
            if matches!(who, Who::ScopedOut) && r.status() == OK && path.starts_with("/v1/modules")
            {
                assert_eq!(json(&r)["modules"], serde_json::json!([]), "{path}");
            }
        }
    }
}

fn mock_registry(storage: MockStorage) -> TestRegistry {
    TestRegistry::builder().storage(Arc::new(storage)).build()
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
        .get("/v1/modules/acme/vpc/aws/versions")
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
    storage.expect_list_modules().returning(|| Ok(vec![]));
    storage.expect_list_versions().returning(|_| Ok(vec![]));
    let r = mock_registry(storage)
        .put(
            "/v1/modules/acme/vpc/aws/1.0.0",
            module_tgz("1"),
            Some(MASTER),
        )
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
        .put(
            "/v1/modules/acme/vpc/aws/1.0.0",
            "not an archive",
            Some(MASTER),
        )
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
        let r = mock_registry(storage).get("/v1/modules/acme/vpc/aws/1.0.0/download")
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
        h.publish("acme/vpc/aws", &longest, module_tgz(&longest))
            .await
            .status(),
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
        .storage()
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
    let h = TestRegistry::builder()
        .config(|c| c.with_archive_url_ttl(Duration::from_secs(1)))
        // Asked for an hour; capped at half the 1 s archive URL lifetime.
        .read_cache(Duration::from_secs(3600))
        .build();
    let h = &h;
    let versions = |token: String| async move {
        let r = h
            .get_as("/v1/modules/acme/vpc/aws/versions", Some(&token))
            .await;
        let listed =
            (r.status() == StatusCode::OK).then(|| json(&r)["modules"][0]["versions"].clone());
        (r.status(), listed)
    };
    let reader = h.named_token("reader", Tier::Downloader).await;

    // This registry's own writes are seen at once.
    assert_eq!(
        h.publish("acme/vpc/aws", "1.0.0", module_tgz("1.0.0"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let one = serde_json::json!([{ "version": "1.0.0" }]);
    assert_eq!(
        versions(reader.clone()).await,
        (StatusCode::OK, Some(one.clone()))
    );

    // A write by "another process" (straight to the shared storage) is not
    // seen while the list is cached...
    h.insert_version("acme/vpc/aws", "2.0.0", module_tgz("2.0.0"))
        .await;
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
    let r = h.delete("/v1/tokens/reader").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(versions(reader).await, (StatusCode::UNAUTHORIZED, None));
}
