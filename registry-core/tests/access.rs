//! What every answer tells the adapter's access log (`AccessInfo` in the
//! response's extensions) and the client (`X-Request-Id`, and the id in
//! error bodies).

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use registry_core::testing::{json, TestRegistry};
use registry_core::{AccessInfo, Tier};

async fn send(
    h: &TestRegistry,
    method: Method,
    uri: &str,
    token: Option<&str>,
    request_id: Option<&str>,
) -> http::Response<Bytes> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    h.handle(request.body(Bytes::new()).unwrap()).await
}

fn info(r: &http::Response<Bytes>) -> AccessInfo {
    r.extensions()
        .get::<AccessInfo>()
        .cloned()
        .expect("every answer carries its AccessInfo")
}

#[tokio::test]
async fn answers_name_the_route_template_the_caller_and_the_request_id() {
    let h = TestRegistry::new();
    let reader = h.named_token("ci-reader", Tier::Downloader).await;

    let ok = send(
        &h,
        Method::GET,
        "/v1/modules/acme/vpc/aws/versions",
        Some(&reader),
        Some("trace-1234"),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::NOT_FOUND, "no such module yet");
    let i = info(&ok);
    assert_eq!(i.route, "/v1/modules/{namespace}/{name}/{system}/versions");
    assert_eq!(i.caller, "ci-reader");
    assert_eq!(i.request_id, "trace-1234");
    assert_eq!(ok.headers()["x-request-id"], "trace-1234");

    // Refused on the head: the caller as admission saw it, the id in the body.
    let refused = send(
        &h,
        Method::PUT,
        "/v1/modules/acme/vpc/aws/1.0.0",
        Some("tfr_not-a-real-token-at-all-000000000000000000"),
        None,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let i = info(&refused);
    assert_eq!(i.route, "/v1/modules/{namespace}/{name}/{system}/{version}");
    assert_eq!(i.caller, "invalid token");
    assert_eq!(i.request_id.len(), 16, "{i:?}");
    assert_eq!(json(&refused)["request_id"], i.request_id.as_str());
    assert_eq!(refused.headers()["x-request-id"], i.request_id.as_str());

    // No route: a bounded label, never the raw path.
    let lost = send(&h, Method::GET, "/no/such/acme-secret-path", None, None).await;
    assert_eq!(lost.status(), StatusCode::NOT_FOUND);
    assert_eq!(info(&lost).route, "unmatched");
    assert_eq!(info(&lost).caller, "anonymous");

    // An archive URL: the template, not the signature.
    let master = h.master_token().to_owned();
    let r = send(&h, Method::GET, "/v1/tokens", Some(&master), None).await;
    assert_eq!(info(&r).caller, "master");
    let archive = send(
        &h,
        Method::GET,
        "/v1/archives/acme/vpc/aws/1.0.0.tar.gz?expires=1&signature=abc",
        None,
        None,
    )
    .await;
    let i = info(&archive);
    assert_eq!(i.route, "/v1/archives/{namespace}/{name}/{system}/{file}");
    assert!(!format!("{i:?}").contains("signature"), "{i:?}");
}

#[tokio::test]
async fn a_request_id_that_is_not_plain_is_replaced() {
    let h = TestRegistry::new();
    let long = "a".repeat(65);
    for bad in ["two words", "<script>", long.as_str()] {
        let r = send(
            &h,
            Method::GET,
            "/.well-known/terraform.json",
            None,
            Some(bad),
        )
        .await;
        let id = info(&r).request_id;
        assert_ne!(id, bad);
        assert_eq!(id.len(), 16);
        assert_eq!(r.headers()["x-request-id"], id.as_str());
    }
}
