//! Limited tokens on the real `local-server` binary with its fs token store.
//! A token created with `expires_in` works until then and is refused after
//! with a `401` naming it and its expiry; a token without an expiry is stored
//! as before tokens could expire, plus its creator (records written by older
//! versions keep working without a migration: the token-store conformance
//! suite and registry-core's API tests load them). A token limited to
//! namespaces reaches and lists only those.

mod common;

use std::fs;
use std::thread;
use std::time::Duration;

use reqwest::StatusCode;

use common::{https_client, module_archive, publish, send, text, Server, MODULE};

#[test]
fn an_expiring_token_works_until_its_expiry_and_is_refused_after() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let master = server.master_token.clone();
    publish(
        &http,
        &base,
        &master,
        "1.0.0",
        &module_archive("1.0.0", None),
    );

    let create = |body: serde_json::Value| {
        let (status, _, bytes) = send(
            http.post(format!("{base}/v1/tokens"))
                .bearer_auth(&master)
                .header("content-type", "application/json")
                .body(body.to_string()),
        );
        assert_eq!(status, StatusCode::CREATED, "{}", text(&bytes));
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let short = create(serde_json::json!({"name": "short", "tier": "downloader", "expires_in": 2}));
    let forever = create(serde_json::json!({"name": "forever", "tier": "downloader"}));
    assert!(short["expires_at"].is_string(), "{short}");
    assert!(forever["expires_at"].is_null(), "{forever}");

    // The fs records: the expiry in Unix seconds, and no key at all for a
    // token that does not expire or is not limited to namespaces: the layout
    // older versions wrote, plus who created it.
    let record = |name: &str| {
        let path = data
            .join("tokens")
            .join("by-name")
            .join(format!("{name}.json"));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    assert!(
        record("short")["expires_at"].is_u64(),
        "{}",
        record("short")
    );
    let old_shape = record("forever");
    let mut keys: Vec<_> = old_shape.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["created_at", "created_by", "name", "sha256", "tier"],
        "{old_shape}"
    );
    assert_eq!(old_shape["created_by"], "master");

    let versions = format!("{base}/v1/modules/{MODULE}/versions");
    let get = |token: &serde_json::Value| {
        send(
            http.get(&versions)
                .bearer_auth(token["token"].as_str().unwrap()),
        )
    };
    assert_eq!(get(&short).0, StatusCode::OK);
    assert_eq!(get(&forever).0, StatusCode::OK);

    // Expiries are whole seconds: two seconds from creation at the latest.
    thread::sleep(Duration::from_millis(2_200));
    let (status, headers, body) = get(&short);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", text(&body));
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["errors"][0].as_str().unwrap(),
        format!(
            "the token \"short\" expired at {}; ask a registry admin for a new one (POST /v1/tokens with the master token)",
            short["expires_at"].as_str().unwrap()
        )
    );
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_eq!(get(&forever).0, StatusCode::OK);
    let log = server.output();
    for token in [&short, &forever] {
        assert!(
            !log.contains(token["token"].as_str().unwrap()),
            "a token in the log"
        );
    }
}

#[test]
fn a_namespace_limited_token_reaches_and_lists_only_its_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let master = server.master_token.clone();
    for module in ["acme/greeting/null", "other/greeting/null"] {
        let (status, _, body) = send(
            http.put(format!("{base}/v1/modules/{module}/1.0.0"))
                .bearer_auth(&master)
                .header("content-type", "application/gzip")
                .body(module_archive("1.0.0", None)),
        );
        assert_eq!(status, StatusCode::CREATED, "{}", text(&body));
    }
    let (status, _, body) = send(
        http.post(format!("{base}/v1/tokens"))
            .bearer_auth(&master)
            .header("content-type", "application/json")
            .body(r#"{"name":"acme-ci","tier":"downloader","namespaces":["acme"]}"#),
    );
    assert_eq!(status, StatusCode::CREATED, "{}", text(&body));
    let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let token = created["token"].as_str().unwrap();

    let get = |path: &str| send(http.get(format!("{base}{path}")).bearer_auth(token));
    assert_eq!(
        get("/v1/modules/acme/greeting/null/versions").0,
        StatusCode::OK
    );
    let (status, _, body) = get("/v1/modules/other/greeting/null/versions");
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", text(&body));
    assert!(
        text(&body).contains("limited to the namespaces acme"),
        "{}",
        text(&body)
    );
    let (status, _, body) = get("/v1/modules");
    assert_eq!(status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme/greeting/null/1.0.0"], "{list}");
}
