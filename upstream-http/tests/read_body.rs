//! `read_body` against a real loopback server: the cap, both overflow modes.

use bytes::Bytes;
use upstream_http::fake::{body, Loopback};
use upstream_http::{read_body, AttemptError, Fail, Overflow};

/// A server answering every request with `len` bytes of `x` in one body.
async fn answering(len: usize) -> (upstream_http::fake::Server, reqwest::Url) {
    let loopback = Loopback::bind("read_body").await;
    let url = loopback.url();
    let server = loopback
        .serve(move |_| async move { Ok(body(200, "text/plain", Bytes::from(vec![b'x'; len]))) });
    (server, url)
}

async fn read(len: usize, cap: u64, overflow: Overflow) -> Result<Bytes, AttemptError> {
    let (_server, url) = answering(len).await;
    let response = reqwest::get(url).await.unwrap();
    read_body(response, cap, overflow, || {
        Fail::other("too large".to_owned())
    })
    .await
}

#[tokio::test]
async fn a_body_at_the_cap_is_read_whole() {
    let bytes = read(100, 100, Overflow::Refuse).await.unwrap();
    assert_eq!(bytes.len(), 100);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    match read(101, 100, Overflow::Refuse).await {
        Err(AttemptError::Fatal(fail)) => assert!(format!("{fail:?}").contains("too large")),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn truncation_keeps_the_first_cap_bytes() {
    let bytes = read(5000, 100, Overflow::Truncate).await.unwrap();
    assert_eq!(bytes.len(), 100);
    assert!(bytes.iter().all(|b| *b == b'x'));
}
