//! Shared by the event tests: a registry over in-memory stores, recorded events
//! (`tests/data/`) adjusted per test, and the adapter driven the way
//! `lambda_http::run` drives it, down to the serialized Lambda response.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Context, LambdaEvent, Service as _};
use registry_core::testing::{ArchiveBuilder, TestRegistry};
use registry_core::Registry;
use serde_json::Value;

/// The master token the recorded events carry.
pub const MASTER: &str = "tfr_lambda_test_master_token";

/// The event kinds, each with its recorded events `tests/data/{prefix}_*.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// API Gateway REST API (payload v1), stage `prod`.
    Rest,
    /// API Gateway HTTP API (payload v2), stage `$default`.
    Http,
    /// Lambda function URL (payload v2).
    FunctionUrl,
    /// Application Load Balancer.
    Alb,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Rest => "apigw_rest",
            Kind::Http => "apigw_http",
            Kind::FunctionUrl => "function_url",
            Kind::Alb => "alb",
        }
    }
}

/// A recorded event from `tests/data/`.
pub fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A registry over in-memory stores (its storage to read back from), with
/// the recorded events' master token.
pub fn harness(max_body_bytes: usize) -> TestRegistry {
    TestRegistry::builder()
        .master_token(MASTER)
        .config(|c| c.with_max_body_bytes(max_body_bytes))
        .build()
}

/// Runs `event` (JSON text, as Lambda delivers it) through lambda_http's own
/// event → `Request` → handler → Lambda response path, with
/// [`adapter_lambda::respond`] as the handler, and returns the response JSON
/// that would go back to API Gateway / ALB.
pub async fn invoke(registry: &Arc<Registry>, event: &str) -> Value {
    let payload: LambdaRequest = serde_json::from_str(event).expect("event deserializes");
    let registry = Arc::clone(registry);
    let mut adapter = Adapter::from(service_fn(move |request: lambda_http::Request| {
        let registry = Arc::clone(&registry);
        async move { Ok::<_, Infallible>(adapter_lambda::respond(&registry, request).await) }
    }));
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(&response).unwrap()
}

/// The response's status code.
pub fn status(response: &Value) -> u64 {
    response["statusCode"].as_u64().expect("statusCode")
}

/// A response header (case-insensitive), from `headers` or `multiValueHeaders`.
pub fn header(response: &Value, name: &str) -> Option<String> {
    for field in ["headers", "multiValueHeaders"] {
        if let Some(map) = response[field].as_object() {
            for (key, value) in map {
                if key.eq_ignore_ascii_case(name) {
                    let value = value.as_array().and_then(|a| a.first()).unwrap_or(value);
                    return value.as_str().map(str::to_owned);
                }
            }
        }
    }
    None
}

/// The response body's bytes, base64-decoded when `isBase64Encoded`.
pub fn body(response: &Value) -> Vec<u8> {
    let text = response["body"].as_str().unwrap_or_default();
    if response["isBase64Encoded"].as_bool().unwrap_or(false) {
        BASE64.decode(text).expect("base64 body")
    } else {
        text.as_bytes().to_vec()
    }
}

/// The response body as JSON.
pub fn json(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false, "JSON travels as text");
    serde_json::from_slice(&body(response)).expect("JSON body")
}

/// The kind's recorded GET event, retargeted at `path` and `query` (raw, e.g.
/// `expires=1&signature=x`), with or without its `Authorization` header.
pub fn get_event(kind: Kind, path: &str, query: &str, authorized: bool) -> String {
    let mut event: Value =
        serde_json::from_str(&data(&format!("{}_get.json", kind.prefix()))).unwrap();
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect();
    let single: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let multi: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(vec![*v])))
        .collect();
    let or_null = |m: serde_json::Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    match kind {
        Kind::Rest => {
            event["path"] = path.into();
            event["requestContext"]["path"] = format!("/prod{path}").into();
            event["pathParameters"]["proxy"] = path.trim_start_matches('/').into();
            event["queryStringParameters"] = or_null(single);
            event["multiValueQueryStringParameters"] = or_null(multi);
        }
        Kind::Http | Kind::FunctionUrl => {
            event["rawPath"] = path.into();
            event["requestContext"]["http"]["path"] = path.into();
            event["rawQueryString"] = query.into();
            if !single.is_empty() {
                event["queryStringParameters"] = Value::Object(single);
            }
        }
        Kind::Alb => {
            event["path"] = path.into();
            event["queryStringParameters"] = Value::Object(single);
        }
    }
    if !authorized {
        for field in ["headers", "multiValueHeaders"] {
            if let Some(map) = event[field].as_object_mut() {
                map.retain(|k, _| !k.eq_ignore_ascii_case("authorization"));
            }
        }
    }
    serde_json::to_string_pretty(&event).unwrap()
}

/// The kind's recorded `.tar.gz` upload with `body` substituted, base64.
pub fn put_event(kind: Kind, body: &[u8]) -> String {
    data(&format!("{}_put_tar_gz.json", kind.prefix()))
        .replace("__BODY_BASE64__", &BASE64.encode(body))
        .replace("__CONTENT_LENGTH__", &body.len().to_string())
}

/// A small module: a `.tar.gz` holding `main.tf`.
pub fn module_tar_gz() -> Vec<u8> {
    let main_tf =
        "variable \"cidr\" {\n  type = string\n}\n\noutput \"cidr\" {\n  value = var.cidr\n}\n";
    ArchiveBuilder::module(main_tf).tar_gz().to_vec()
}
