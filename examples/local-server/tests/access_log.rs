//! The real server's access log: one line per request with the route
//! template, the caller, the request id (the client's, or a fresh one the
//! answer carries) and an integer latency in microseconds; never a token,
//! an archive URL's signature or any query string.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{create_token, https_client, module_archive, publish, send, text, Server, MODULE};
use reqwest::StatusCode;

/// The access log lines the server printed so far.
fn access_lines(server: &Server) -> Vec<String> {
    server
        .output()
        .lines()
        .filter(|l| l.contains("adapter_hyper::access"))
        .map(str::to_owned)
        .collect()
}

/// The value of `key=` in a log line (quotes removed).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    rest.split(' ').next()
}

#[test]
fn access_log_lines_carry_route_caller_request_id_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let reader = create_token(
        &http,
        &base,
        &server.master_token,
        "ci-reader",
        "downloader",
    );
    publish(
        &http,
        &base,
        &server.master_token,
        "1.0.0",
        &module_archive("1.0.0", None),
    );

    let (status, headers, _) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/1.0.0/download"))
            .bearer_auth(&reader)
            .header("x-request-id", "build-77.step-3"),
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["x-request-id"], "build-77.step-3");
    let location = headers["x-terraform-get"].to_str().unwrap().to_owned();
    let archive_url = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.clone()
    };
    let (status, _, _) = send(http.get(&archive_url));
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/versions?x=1"))
            .bearer_auth("tfr_forged-token-forged-token-forged-token-00"),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let issued = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(error["request_id"], issued.as_str(), "{}", text(&body));

    // The lines of those three requests, once the workers have written them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = access_lines(&server);
        if lines.iter().any(|l| l.contains(&issued)) || Instant::now() > deadline {
            break lines;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let download = lines
        .iter()
        .find(|l| field(l, "request_id") == Some("build-77.step-3"))
        .unwrap_or_else(|| {
            panic!(
                "no line with the client's request id:\n{}",
                lines.join("\n")
            )
        });
    assert_eq!(
        field(download, "route"),
        Some("/v1/modules/{namespace}/{name}/{system}/{version}/download"),
        "{download}"
    );
    assert_eq!(field(download, "caller"), Some("ci-reader"), "{download}");
    assert_eq!(field(download, "status"), Some("204"), "{download}");
    let latency = field(download, "latency_us").unwrap_or_default();
    assert!(
        !latency.is_empty() && latency.bytes().all(|b| b.is_ascii_digit()),
        "latency in whole microseconds: {download}"
    );
    let refused = lines
        .iter()
        .find(|l| field(l, "request_id") == Some(issued.as_str()))
        .unwrap();
    assert_eq!(field(refused, "caller"), Some("invalid token"), "{refused}");
    assert!(
        lines
            .iter()
            .any(|l| field(l, "route") == Some("/v1/archives/{namespace}/{name}/{system}/{file}")),
        "{}",
        lines.join("\n")
    );

    // The log is stderr (stdout shows the master token once, by design).
    let log: String = server
        .output()
        .lines()
        .filter(|l| l.starts_with("[stderr]"))
        .collect::<Vec<_>>()
        .join("\n");
    let signature = location.split("signature=").nth(1).unwrap_or_default();
    assert!(!signature.is_empty(), "{location}");
    for secret in [
        reader.as_str(),
        server.master_token.as_str(),
        "tfr_forged-token",
        signature,
        "?x=1",
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

#[test]
fn json_log_lines_parse_and_carry_the_access_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--log-format", "json"]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let (status, _, _) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/versions?q=1"))
            .bearer_auth(&server.master_token)
            .header("x-request-id", "json-check-1"),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = server
            .output()
            .lines()
            .filter_map(|l| l.strip_prefix("[stderr] "))
            .find(|l| l.contains("json-check-1"))
            .map(str::to_owned);
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no access line:\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(50));
    };
    let event: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(event["target"], "adapter_hyper::access", "{event}");
    assert_eq!(
        event["route"],
        "/v1/modules/{namespace}/{name}/{system}/versions"
    );
    assert_eq!(event["method"], "GET");
    assert_eq!(event["status"], 404);
    assert_eq!(event["caller"], "master");
    assert_eq!(event["request_id"], "json-check-1");
    assert!(event["latency_us"].is_u64(), "{event}");
    assert!(event["bytes"].is_u64(), "{event}");
    assert!(event["timestamp"].is_string(), "{event}");
    // Every stderr line is JSON.
    for l in server
        .output()
        .lines()
        .filter_map(|l| l.strip_prefix("[stderr] "))
    {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}"));
    }
    assert!(
        !server.output().contains("q=1"),
        "no query string in the log"
    );
}
