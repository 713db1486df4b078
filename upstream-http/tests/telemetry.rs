//! Every HTTP attempt `Retries::run` makes is reported to the process's
//! telemetry under the upstream's name: the status answered, a timeout, or
//! a transport failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registry_core::telemetry::{Telemetry, UpstreamOutcome};
use reqwest::Method;
use upstream_http::fake::{status, Loopback};
use upstream_http::{Answer, AttemptError, Fail, Retries, Verdict};

/// Records what it is told.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(String, UpstreamOutcome)>>);

impl Telemetry for Recorder {
    fn upstream_request(&self, upstream: &str, outcome: UpstreamOutcome) {
        self.0.lock().unwrap().push((upstream.to_owned(), outcome));
    }
}

#[tokio::test]
async fn each_attempt_is_reported_with_its_outcome() {
    let recorder = Arc::new(Recorder::default());
    assert!(registry_core::telemetry::install(recorder.clone()));

    let calls = Arc::new(AtomicUsize::new(0));
    let port = Loopback::bind("the test server").await;
    let url = port.url();
    let server = {
        let calls = calls.clone();
        port.serve(move |_request| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 2 {
                    // Longer than the client's timeout.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Ok(status(if n == 0 { 503 } else { 200 }))
            }
        })
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let (client, url) = (&client, &url);
    let attempt = move || async move {
        let r = client
            .get(url.clone())
            .send()
            .await
            .map_err(AttemptError::from_reqwest)?;
        Ok(Answer {
            status: r.status(),
            headers: r.headers().clone(),
            body: bytes::Bytes::new(),
        })
    };
    let judge = |answer: &Answer, _: u32| {
        if answer.status.is_server_error() {
            Verdict::Retry {
                fail: Fail::other("server error".to_owned()),
                wait: None,
            }
        } else {
            Verdict::Accept
        }
    };
    let retries = Retries {
        upstream: "registry.example.com",
        peer: "upstream",
        max_attempts: 2,
        backoff: Duration::from_millis(1),
        max_retry_wait: Duration::from_millis(5),
        timeout: Duration::from_millis(300),
    };
    let shown = "http://127.0.0.1/";

    // 503 then 200.
    retries
        .run(&Method::GET, shown, attempt, judge)
        .await
        .unwrap();
    // A timeout (not retried).
    assert!(matches!(
        retries.run(&Method::GET, shown, attempt, judge).await,
        Err(Fail::Timeout)
    ));
    // Connections refused, twice.
    server.shutdown().await;
    assert!(retries
        .run(&Method::GET, shown, attempt, judge)
        .await
        .is_err());

    let seen = recorder.0.lock().unwrap().clone();
    let outcomes: Vec<UpstreamOutcome> = seen.iter().map(|(_, o)| *o).collect();
    assert_eq!(
        outcomes,
        [
            UpstreamOutcome::Answered(503),
            UpstreamOutcome::Answered(200),
            UpstreamOutcome::Timeout,
            UpstreamOutcome::Transport,
            UpstreamOutcome::Transport,
        ]
    );
    assert!(seen.iter().all(|(name, _)| name == "registry.example.com"));
}
