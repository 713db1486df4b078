//! Recorded events of each kind (API Gateway REST v1, HTTP API v2, function URL,
//! ALB) through lambda_http and the adapter to the registry and back.

mod common;

use bytes::Bytes;
use common::{
    body, data, get_event, harness, header, invoke, json, module_tar_gz, put_event, status, Kind,
};
use lambda_http::Body;
use registry_core::version::parse_version;
use registry_core::ModuleAddress;

const DISCOVERY: &str = "/.well-known/terraform.json";
const VERSIONS: &str = "/v1/modules/acme/vpc/aws/versions";
const DOWNLOAD: &str = "/v1/modules/acme/vpc/aws/1.0.0/download";

async fn discovery(kind: Kind) {
    let h = harness(1 << 20);
    let response = invoke(h.registry(), &get_event(kind, DISCOVERY, "", false)).await;
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        json(&response),
        serde_json::json!({"modules.v1": "/v1/modules/"})
    );
}

async fn missing_token_is_401(kind: Kind) {
    let h = harness(1 << 20);
    let response = invoke(h.registry(), &get_event(kind, VERSIONS, "", false)).await;
    assert_eq!(status(&response), 401, "{response}");
    let challenge = header(&response, "www-authenticate").expect("WWW-Authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(json(&response)["errors"][0].is_string());
}

/// Upload (base64 in the event) → exact bytes stored → versions → download
/// (`204` + `X-Terraform-Get`) → the signed archive URL (path + query) answers
/// the exact bytes, base64 in the Lambda response.
async fn publish_then_fetch(kind: Kind) {
    let h = harness(1 << 20);
    let archive = module_tar_gz();

    let response = invoke(h.registry(), &put_event(kind, &archive)).await;
    assert_eq!(status(&response), 201, "{response}");
    assert_eq!(json(&response)["version"], "1.0.0");
    let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
    let version = parse_version("1.0.0").unwrap();
    let stored = h.storage().read_archive(&module, &version).await.unwrap();
    assert_eq!(
        stored.to_bytes().unwrap()[..],
        archive[..],
        "stored bytes are the uploaded bytes"
    );

    let response = invoke(h.registry(), &get_event(kind, VERSIONS, "", true)).await;
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(
        json(&response)["modules"][0]["versions"][0]["version"],
        "1.0.0"
    );

    let response = invoke(h.registry(), &get_event(kind, DOWNLOAD, "", true)).await;
    assert_eq!(status(&response), 204, "{response}");
    assert_eq!(body(&response), b"");
    let location = header(&response, "x-terraform-get").expect("X-Terraform-Get");
    let (path, query) = location.split_once('?').expect("a signed URL has a query");
    assert!(
        path.starts_with("/v1/archives/acme/vpc/aws/1.0.0.tar.gz"),
        "{path}"
    );
    assert!(query.contains("signature="), "{query}");

    // Terraform sends no token for the archive: the signature is the credential.
    let response = invoke(h.registry(), &get_event(kind, path, query, false)).await;
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(response["isBase64Encoded"], true, "{response}");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/gzip")
    );
    assert_eq!(
        body(&response),
        archive,
        "downloaded bytes are the uploaded bytes"
    );

    // The signature must survive the trip: a tampered one is refused.
    let tampered = query.replace("signature=", "signature=x");
    let response = invoke(h.registry(), &get_event(kind, path, &tampered, false)).await;
    assert_eq!(status(&response), 403, "{response}");
}

/// The same admission as on a server: an upload without a token, or with an
/// unknown one, is refused on its head (an oversized one too: 401, not
/// 413), and nothing is stored.
async fn refused_uploads_store_nothing(kind: Kind) {
    let h = harness(1024);
    let archive = module_tar_gz();
    for (token, expected) in [(None, 401), (Some("tfr_not_a_token"), 401)] {
        for body in [archive.clone(), vec![0x1f; 4096]] {
            let event = put_event(kind, &body);
            let mut event: serde_json::Value = serde_json::from_str(&event).unwrap();
            for headers in ["headers", "multiValueHeaders"] {
                if let Some(map) = event[headers].as_object_mut() {
                    map.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
                    if let Some(token) = token {
                        let value = format!("Bearer {token}");
                        let value = if headers == "headers" {
                            serde_json::json!(value)
                        } else {
                            serde_json::json!([value])
                        };
                        map.insert("authorization".into(), value);
                    }
                }
            }
            let response = invoke(h.registry(), &event.to_string()).await;
            assert_eq!(status(&response), expected, "{token:?}: {response}");
        }
    }
    let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
    assert!(h.storage().list_versions(&module).await.unwrap().is_empty());
}

async fn oversized_body_is_413(kind: Kind) {
    let h = harness(1024);
    let response = invoke(h.registry(), &put_event(kind, &[0x1f; 2048])).await;
    assert_eq!(status(&response), 413, "{response}");
    assert!(json(&response)["errors"][0]
        .as_str()
        .unwrap()
        .contains("1024"));
    // At the limit is fine as far as size goes (then refused as no archive).
    let response = invoke(h.registry(), &put_event(kind, &[0x1f; 1024])).await;
    assert_ne!(status(&response), 413, "{response}");
}

macro_rules! per_kind {
    ($($module:ident => $kind:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn discovery_is_200_json() {
                discovery($kind).await;
            }

            #[tokio::test]
            async fn missing_token_is_401_with_challenge() {
                missing_token_is_401($kind).await;
            }

            #[tokio::test]
            async fn base64_upload_stores_exact_bytes_and_download_returns_them() {
                publish_then_fetch($kind).await;
            }

            #[tokio::test]
            async fn refused_uploads_are_answered_on_their_head() {
                refused_uploads_store_nothing($kind).await;
            }

            #[tokio::test]
            async fn oversized_body_is_413_json() {
                oversized_body_is_413($kind).await;
            }
        }
    )*};
}

per_kind! {
    apigw_rest => Kind::Rest,
    apigw_http => Kind::Http,
    function_url => Kind::FunctionUrl,
    alb => Kind::Alb,
}

#[tokio::test]
async fn rest_stage_in_path_routes_without_it() {
    let h = harness(1 << 20);
    let event = data("apigw_rest_stage_in_path.json");
    assert!(event.contains(r#""path": "/prod/.well-known/terraform.json""#));
    let response = invoke(h.registry(), &event).await;
    assert_eq!(status(&response), 200, "{response}");
    assert_eq!(
        json(&response),
        serde_json::json!({"modules.v1": "/v1/modules/"})
    );
}

#[tokio::test]
async fn http_api_named_stage_in_raw_path_routes_without_it() {
    let h = harness(1 << 20);
    let mut event: serde_json::Value = serde_json::from_str(&data("apigw_http_get.json")).unwrap();
    event["rawPath"] = "/prod/.well-known/terraform.json".into();
    event["requestContext"]["http"]["path"] = "/prod/.well-known/terraform.json".into();
    event["requestContext"]["stage"] = "prod".into();
    let response = invoke(h.registry(), &event.to_string()).await;
    assert_eq!(status(&response), 200, "{response}");
}

#[tokio::test]
async fn a_path_that_is_not_the_stage_is_left_alone() {
    // Stage `prod`; `/production/...` merely starts with the same letters.
    let h = harness(1 << 20);
    let event = get_event(
        Kind::Rest,
        "/production/.well-known/terraform.json",
        "",
        true,
    );
    let response = invoke(h.registry(), &event).await;
    assert_eq!(status(&response), 404, "{response}");
}

/// `respond` itself: JSON as text, archives as binary, `204` empty.
#[tokio::test]
async fn respond_chooses_text_binary_or_empty_bodies() {
    let h = harness(1 << 20);
    let archive = module_tar_gz();
    let request = |event: String| lambda_http::request::from_str(&event).unwrap();

    let response =
        adapter_lambda::respond(h.registry(), request(put_event(Kind::Http, &archive))).await;
    assert_eq!(response.status(), 201);
    assert!(matches!(response.body(), Body::Text(t) if t.contains("\"sha256\"")));

    let response = adapter_lambda::respond(
        h.registry(),
        request(get_event(Kind::Http, DOWNLOAD, "", true)),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.body(), &Body::Empty);
    let location = response.headers()["x-terraform-get"]
        .to_str()
        .unwrap()
        .to_owned();
    let (path, query) = location.split_once('?').unwrap();

    let response = adapter_lambda::respond(
        h.registry(),
        request(get_event(Kind::Http, path, query, false)),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), &Body::Binary(archive.clone()));
    assert_eq!(Bytes::from(archive).len(), response.body().len());
}

#[test]
fn recorded_events_are_the_kinds_they_claim() {
    use lambda_http::request::{LambdaRequest, RequestOrigin};
    for (file, expected) in [
        ("apigw_rest_get.json", "ApiGatewayV1"),
        ("apigw_rest_put_tar_gz.json", "ApiGatewayV1"),
        ("apigw_rest_stage_in_path.json", "ApiGatewayV1"),
        ("apigw_http_get.json", "ApiGatewayV2"),
        ("apigw_http_put_tar_gz.json", "ApiGatewayV2"),
        ("function_url_get.json", "ApiGatewayV2"),
        ("function_url_put_tar_gz.json", "ApiGatewayV2"),
        ("alb_get.json", "Alb"),
        ("alb_put_tar_gz.json", "Alb"),
    ] {
        let event = data(file)
            .replace("__BODY_BASE64__", "")
            .replace("__CONTENT_LENGTH__", "0");
        let request: LambdaRequest = serde_json::from_str(&event).unwrap();
        let origin: RequestOrigin = request.request_origin();
        assert_eq!(format!("{origin:?}"), expected, "{file}");
    }
}
