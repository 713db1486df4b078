//! The real server's Prometheus metrics: a scripted session against the
//! public port, then `GET /metrics` on the metrics listener, read by the
//! Prometheus project's own parser (Python's `prometheus_client`), and every
//! counter checked against what the session implies. Metrics are never on
//! the public port, and no label carries a path, a module name or a token.
//!
//! Needs the parser: `$TFR_TEST_PROMETHEUS_PARSER`, a command that reads the
//! text on stdin and prints one JSON sample per line
//! (`scripts/lib/prometheus_parse.py`; `scripts/test` installs the pinned
//! `prometheus-client` and sets it). Without it this test says so and
//! passes, except under `CI=true`, where it fails.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{create_token, https_client, module_archive, publish, send, Server, MODULE};
use reqwest::StatusCode;
use serde_json::Value;

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// The parser command, or `None` (after saying so) outside CI.
fn parser() -> Option<String> {
    const MISSING: &str = "TFR_TEST_PROMETHEUS_PARSER is not set: run scripts/test, which \
                           installs prometheus-client (scripts/lib/venv.sh) and sets it";
    match std::env::var("TFR_TEST_PROMETHEUS_PARSER") {
        Ok(command) if !command.is_empty() => Some(command),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!("{MISSING}"),
        _ => {
            eprintln!("skipped: {MISSING}");
            None
        }
    }
}

/// `text` through the Prometheus parser; a malformed exposition fails.
fn parse(parser: &str, text: &str) -> Vec<Sample> {
    let mut child = Command::new(parser)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {parser}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).unwrap();
            Sample {
                name: sample["name"].as_str().unwrap().to_owned(),
                labels: sample["labels"].as_object().unwrap().clone(),
                value: sample["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

const VERSIONS: &str = "/v1/modules/{namespace}/{name}/{system}/versions";
const DOWNLOAD: &str = "/v1/modules/{namespace}/{name}/{system}/{version}/download";
const PUBLISH: &str = "/v1/modules/{namespace}/{name}/{system}/{version}";
const ARCHIVE: &str = "/v1/archives/{namespace}/{name}/{system}/{file}";

#[test]
fn metrics_count_a_scripted_session_and_stay_off_the_public_port() {
    let Some(parser) = parser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("metrics.port");
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-port-file",
            port_file.to_str().unwrap(),
        ],
    );
    let metrics_port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let plain = reqwest::blocking::Client::new();
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);

    // The session.
    let reader = create_token(
        &http,
        &base,
        &server.master_token,
        "ci-reader",
        "downloader",
    );
    let archive = module_archive("1.0.0", None);
    publish(&http, &base, &server.master_token, "1.0.0", &archive);
    for _ in 0..3 {
        let (status, _, _) = send(
            http.get(format!("{base}/v1/modules/{MODULE}/versions"))
                .bearer_auth(&reader),
        );
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/versions"))
            .bearer_auth("tfr_forged-token-forged-token-forged-token-00"),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/1.0.0/download"))
            .bearer_auth(&reader),
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let location = headers["x-terraform-get"].to_str().unwrap();
    let archive_url = format!("{base}{location}");
    // Terraform's downloader: HEAD, then GET.
    let (status, _, _) = send(http.head(&archive_url));
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(http.get(&archive_url));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, archive);
    let (status, _, _) = send(http.get(format!("{base}/no/such/acme/route")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Metrics are not on the public port.
    let (status, _, _) = send(http.get(format!("{base}/metrics")));
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The scrape.
    let response = plain.get(&metrics_url).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let text = response.text().unwrap();
    let samples = parse(&parser, &text);

    let requests = |route: &str, method: &str, status: &str| {
        value(
            &samples,
            "tfr_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/v1/tokens", "POST", "201"), 1.0, "{text}");
    assert_eq!(requests(PUBLISH, "PUT", "201"), 1.0, "{text}");
    assert_eq!(requests(VERSIONS, "GET", "200"), 3.0, "{text}");
    assert_eq!(requests(VERSIONS, "GET", "401"), 1.0, "{text}");
    assert_eq!(requests(DOWNLOAD, "GET", "204"), 1.0, "{text}");
    assert_eq!(requests(ARCHIVE, "HEAD", "200"), 1.0, "{text}");
    assert_eq!(requests(ARCHIVE, "GET", "200"), 1.0, "{text}");
    assert_eq!(requests("unmatched", "GET", "404"), 2.0, "{text}");
    // Nothing else was asked (the scrape itself is not on the public port).
    assert_eq!(
        value(&samples, "tfr_http_requests_total", &[]),
        11.0,
        "{text}"
    );

    // Latency histograms count the same requests, by route.
    let histogram_count = |route: &str| {
        value(
            &samples,
            "tfr_http_request_duration_seconds_count",
            &[("route", route)],
        )
    };
    assert_eq!(histogram_count(VERSIONS), 4.0, "{text}");
    assert_eq!(histogram_count(ARCHIVE), 2.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "tfr_http_request_duration_seconds_bucket",
            &[("route", VERSIONS), ("le", "+Inf")]
        ),
        4.0,
        "{text}"
    );

    // Bytes: the upload in, the archive out once (HEAD has no body).
    assert_eq!(
        value(
            &samples,
            "tfr_http_request_body_bytes_total",
            &[("route", PUBLISH)]
        ),
        archive.len() as f64,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tfr_http_response_body_bytes_total",
            &[("route", ARCHIVE)]
        ),
        archive.len() as f64,
        "{text}"
    );

    // Storage: one publish, stored once, nothing failed.
    let storage = |operation: &str, outcome: &str| {
        value(
            &samples,
            "tfr_storage_operations_total",
            &[("operation", operation), ("outcome", outcome)],
        )
    };
    assert_eq!(storage("publish", "ok"), 1.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "tfr_storage_operations_total",
            &[("outcome", "error")]
        ),
        0.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tfr_storage_operation_duration_seconds_count",
            &[("operation", "publish")]
        ),
        1.0,
        "{text}"
    );

    // The token cache: the reader's token is looked up for 3 versions and
    // 1 download (fetched once, then served from memory); the forged one
    // once. The master token is checked against its hash, not the store.
    let cache = |cache: &str, result: &str| {
        value(
            &samples,
            "tfr_cache_lookups_total",
            &[("cache", cache), ("result", result)],
        )
    };
    assert_eq!(cache("tokens", "miss"), 2.0, "{text}");
    assert_eq!(cache("tokens", "hit"), 3.0, "{text}");
    // Version lists: every versions answer and download reads them through
    // the cache; a miss is a storage call.
    assert_eq!(
        cache("versions", "miss"),
        storage("list_versions", "ok"),
        "{text}"
    );
    assert!(cache("versions", "hit") >= 2.0, "{text}");

    // No upload is in flight; no exchange or upstream was configured.
    assert_eq!(value(&samples, "tfr_uploads_in_flight", &[]), 0.0, "{text}");
    assert_eq!(
        value(&samples, "tfr_token_exchanges_total", &[]),
        0.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "tfr_upstream_requests_total", &[]),
        0.0,
        "{text}"
    );

    // Bounded labels: no module name, path or token in any of them.
    for sample in &samples {
        for label in sample.labels.values() {
            let label = label.as_str().unwrap();
            for secret in ["acme", "greeting", "no/such", &reader, "forged"] {
                assert!(!label.contains(secret), "{secret} in {sample:?}");
            }
        }
    }

    // The metrics listener serves nothing else.
    let other = plain
        .get(format!("http://127.0.0.1:{metrics_port}/v1/modules"))
        .send()
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let post = plain.post(&metrics_url).send().unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}
