//! `GET /healthz` and `GET /readyz` on the real server: both open to
//! anonymous callers; readiness turns `503` while the data directory's
//! modules folder is gone and `200` once it is back (each after the 5 s
//! readiness interval), liveness stays `200` throughout.

mod common;

use std::fs;
use std::thread;
use std::time::Duration;

use common::{https_client, send, text, Server};
use registry_core::health::DEFAULT_READINESS_INTERVAL;
use reqwest::StatusCode;

#[test]
fn readiness_follows_the_data_directory_and_liveness_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let get = |path: &str| send(http.get(format!("{base}{path}")));

    let (status, headers, body) = get("/healthz");
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = get("/readyz");
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let ready: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["checks"]["storage"], "ok", "{ready}");

    let modules = data.join("modules");
    let away = data.join("modules.away");
    fs::rename(&modules, &away).unwrap();
    thread::sleep(DEFAULT_READINESS_INTERVAL + Duration::from_millis(300));
    let (status, _, body) = get("/readyz");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", text(&body));
    let down: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(down["status"], "unavailable", "{down}");
    assert_eq!(down["checks"]["storage"], "failing", "{down}");
    assert!(
        !text(&body).contains(data.to_str().unwrap()),
        "the public answer names no path: {}",
        text(&body)
    );
    assert_eq!(
        get("/healthz").0,
        StatusCode::OK,
        "liveness does not follow storage"
    );
    assert!(
        server
            .output()
            .contains("readiness: the storage probe failed"),
        "the reason is logged:\n{}",
        server.output()
    );

    fs::rename(&away, &modules).unwrap();
    thread::sleep(DEFAULT_READINESS_INTERVAL + Duration::from_millis(300));
    assert_eq!(get("/readyz").0, StatusCode::OK);
}
