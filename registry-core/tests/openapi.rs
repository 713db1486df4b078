//! The OpenAPI document the registry serves at `/openapi.json`, held against the
//! registry's real answers (on the in-memory fakes): each documented operation's
//! `401`, `403` and `404` (and its successes) are statuses the document lists
//! for it, with the headers it requires and bodies its schemas describe. That its
//! paths and methods are exactly the router's is the router's own unit test.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use registry_core::testing::{ArchiveBuilder, TestRegistry, MASTER_TOKEN as MASTER};
use registry_core::Tier;
use serde_json::Value;

/// A `.tar.gz` holding one `main.tf`.
fn module_tgz() -> Bytes {
    ArchiveBuilder::module("variable \"name\" {}\n").tar_gz()
}

async fn call(
    registry: &TestRegistry,
    method: &Method,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    registry.call(method.clone(), uri, token, body).await
}

/// The document, as the registry serves it.
struct Doc(Value);

/// One documented operation.
struct Op<'a> {
    path: &'a str,
    method: Method,
    spec: &'a Value,
    /// The tier its description says it needs; `None` for open operations.
    tier: Option<&'static str>,
}

impl Doc {
    async fn served(registry: &TestRegistry) -> Self {
        let r = call(registry, &Method::GET, "/openapi.json", None, "").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        Self(serde_json::from_slice(r.body()).expect("the document is JSON"))
    }

    /// `value`, or what its `$ref` points at (`#/components/...`).
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("local $ref");
                self.resolve(self.0.pointer(pointer).unwrap_or_else(|| panic!("no {r}")))
            }
            None => value,
        }
    }

    fn operations(&self) -> Vec<Op<'_>> {
        let mut ops = Vec::new();
        for (path, item) in self.0["paths"].as_object().unwrap() {
            for (method, spec) in item.as_object().unwrap() {
                // Besides operations, a path item holds e.g. `parameters`.
                const METHODS: [&str; 8] = [
                    "get", "put", "post", "delete", "patch", "options", "head", "trace",
                ];
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let method = method.to_uppercase().parse::<Method>().unwrap();
                let open = spec
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty);
                let description = spec["description"].as_str().unwrap_or("");
                let tier = if open {
                    None
                } else if description.contains("Needs the master token") {
                    Some("master")
                } else if description.contains("Needs an uploader token") {
                    Some("uploader")
                } else if description.contains("Needs a downloader token") {
                    Some("downloader")
                } else {
                    panic!("{method} {path}: the description says which tier it needs");
                };
                ops.push(Op {
                    path,
                    method,
                    spec,
                    tier,
                });
            }
        }
        ops
    }

    /// Checks `r` against what `op` documents for its status: listed, the
    /// required headers there, the content type and the body's schema.
    fn check(&self, op: &Op<'_>, r: &Response<Bytes>) {
        let what = format!("{} {} answered {}", op.method, op.path, r.status());
        let documented = op.spec["responses"]
            .get(r.status().as_str())
            .unwrap_or_else(|| panic!("{what}, which the document does not list: {:?}", r.body()));
        let documented = self.resolve(documented);
        if let Some(headers) = documented.get("headers").and_then(Value::as_object) {
            for (name, header) in headers {
                if self.resolve(header)["required"] == Value::Bool(true) {
                    assert!(
                        r.headers().contains_key(name.as_str()),
                        "{what} without {name}"
                    );
                }
            }
        }
        let Some(content) = documented.get("content").and_then(Value::as_object) else {
            assert!(
                r.body().is_empty(),
                "{what} with a body it documents none for"
            );
            return;
        };
        let content_type = r.headers()["content-type"].to_str().unwrap();
        let media = content
            .get(content_type)
            .unwrap_or_else(|| panic!("{what} with content-type {content_type}"));
        if content_type == "application/json" && op.method != Method::HEAD {
            let body: Value = serde_json::from_slice(r.body()).expect("a JSON body");
            if let Err(e) = self.validate(&media["schema"], &body, "body") {
                panic!("{what}: {e}: {body}");
            }
        }
        if r.status().as_u16() >= 400 {
            assert_eq!(
                media["schema"]["$ref"], "#/components/schemas/Error",
                "{what}: errors are documented as the Error schema"
            );
        }
    }

    /// The subset of JSON Schema the document uses, patterns and formats aside.
    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if value.is_null() && schema["nullable"] == Value::Bool(true) {
            return Ok(());
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.validate(s, value, at)?;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                return Err(format!("{at} is {value}, not one of {allowed:?}"));
            }
        }
        let ok = match schema.get("type").and_then(Value::as_str) {
            None => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_u64() || value.is_i64(),
            Some("boolean") => value.is_boolean(),
            Some(other) => panic!("type {other} is not checked here"),
        };
        if !ok {
            return Err(format!("{at} is {value}, not of type {}", schema["type"]));
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap();
                if !object.contains_key(key) {
                    return Err(format!("{at} lacks {key:?}"));
                }
            }
            for (key, v) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => self.validate(s, v, &format!("{at}.{key}"))?,
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        return Err(format!("{at} has {key:?}, which the schema does not allow"))
                    }
                    None => {}
                }
            }
        }
        if let Some(items) = value.as_array() {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    return Err(format!("{at} has {len} items, fewer than {min}"));
                }
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    return Err(format!("{at} has {len} items, more than {max}"));
                }
            }
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.validate(s, item, &format!("{at}[{i}]"))?;
                }
            }
        }
        Ok(())
    }
}

/// `path` with its parameters filled in: a module, version and token that do
/// not exist.
fn missing(path: &str) -> String {
    path.replace("{namespace}", "acme")
        .replace("{name}", "nothing")
        .replace("{system}", "aws")
        .replace("{version}", "9.9.9")
        .replace("{file}", "9.9.9.tar.gz")
}

#[tokio::test]
async fn every_operation_answers_401_403_404_as_documented() {
    let registry = TestRegistry::new();
    let doc = Doc::served(&registry).await;
    let uploader = registry.named_token("up", Tier::Uploader).await;
    let downloader = registry.named_token("down", Tier::Downloader).await;

    // A signed archive URL whose version is gone: a 404 behind a valid signature.
    let r = call(
        &registry,
        &Method::PUT,
        "/v1/modules/acme/gone/aws/1.0.0",
        Some(MASTER),
        module_tgz(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(
        &registry,
        &Method::GET,
        "/v1/modules/acme/gone/aws/1.0.0/download",
        Some(MASTER),
        "",
    )
    .await;
    let gone_archive = r.headers()["x-terraform-get"].to_str().unwrap().to_owned();
    let r = call(
        &registry,
        &Method::DELETE,
        "/v1/modules/acme/gone/aws/1.0.0",
        Some(MASTER),
        "",
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let ops = doc.operations();
    assert!(ops.len() >= 12, "{} operations", ops.len());
    for op in &ops {
        let uri = missing(op.path);
        let answer = |token: Option<&str>, uri: &str| {
            let (registry, method, uri) = (&registry, &op.method, uri.to_owned());
            let token = token.map(str::to_owned);
            async move { call(registry, method, &uri, token.as_deref(), "").await }
        };
        let what = format!("{} {}", op.method, op.path);

        for token in [None, Some("tfr_unknown")] {
            let r = answer(token, &uri).await;
            doc.check(op, &r);
            if op.tier.is_some() {
                assert_eq!(
                    r.status(),
                    StatusCode::UNAUTHORIZED,
                    "{what} with {token:?}"
                );
            } else {
                assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "{what} is open");
            }
        }
        let below = match op.tier {
            Some("master") => Some(&uploader),
            Some("uploader") => Some(&downloader),
            _ => None,
        };
        if let Some(below) = below {
            let r = answer(Some(below), &uri).await;
            doc.check(op, &r);
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}, a tier too low");
        }
        if op.path.starts_with("/v1/archives/") {
            let r = answer(None, &uri).await;
            doc.check(op, &r);
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what} unsigned");
            let r = answer(None, &gone_archive).await;
            doc.check(op, &r);
            assert_eq!(
                r.status(),
                StatusCode::NOT_FOUND,
                "{what}, a deleted version"
            );
        } else {
            // With the master token, what the path names does not exist: 404
            // (a PUT's empty body is refused first, 400); whatever it is, documented.
            let r = answer(Some(MASTER), &uri).await;
            doc.check(op, &r);
            // A namespace with no modules is an empty list, not a 404.
            if op.path.contains('{')
                && op.method != Method::PUT
                && op.path != "/v1/modules/{namespace}"
            {
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what} of {uri}");
            }
        }
        // HEAD answers wherever GET does, with GET's status and no body.
        if op.method == Method::GET {
            let get = call(&registry, &Method::GET, &uri, Some(MASTER), "").await;
            let head = call(&registry, &Method::HEAD, &uri, Some(MASTER), "").await;
            assert_eq!(head.status(), get.status(), "HEAD {}", op.path);
            assert!(head.body().is_empty(), "HEAD {}", op.path);
        }
    }
}

/// A module with a README, typed inputs, outputs, a provider requirement,
/// a resource, a submodule and an example.
fn rich_tgz() -> Bytes {
    registry_core::testing::ArchiveBuilder::module(
        "terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\", version = \"~> 5.0\" }\n  }\n}\nvariable \"cidr\" {\n  type = string\n  default = \"10.0.0.0/16\"\n}\nresource \"aws_vpc\" \"this\" { cidr_block = var.cidr }\noutput \"id\" { value = aws_vpc.this.id }\n",
    )
    .file("README.md", "# VPC\n\nA VPC.\n")
    .file("modules/sub/main.tf", "variable \"x\" {}\n")
    .file("examples/basic/main.tf", "module \"vpc\" { source = \"../..\" }\n")
    .tar_gz()
}

#[tokio::test]
async fn successes_are_as_documented() {
    let registry = TestRegistry::new();
    let doc = Doc::served(&registry).await;
    let ops = doc.operations();
    let op = |method: Method, path: &str| {
        ops.iter()
            .find(|o| o.method == method && o.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    };
    let module = "/v1/modules/{namespace}/{name}/{system}/{version}";
    let check = |method: Method, template: &str, r: &Response<Bytes>, status: StatusCode| {
        assert_eq!(r.status(), status, "{method} {template}: {:?}", r.body());
        doc.check(op(method, template), r);
    };

    let r = call(
        &registry,
        &Method::PUT,
        "/v1/modules/acme/vpc/aws/1.0.0",
        Some(MASTER),
        module_tgz(),
    )
    .await;
    check(Method::PUT, module, &r, StatusCode::CREATED);
    let r = call(
        &registry,
        &Method::GET,
        "/v1/modules/acme/vpc/aws/versions",
        Some(MASTER),
        "",
    )
    .await;
    check(
        Method::GET,
        "/v1/modules/{namespace}/{name}/{system}/versions",
        &r,
        StatusCode::OK,
    );
    let r = call(
        &registry,
        &Method::GET,
        "/v1/modules/acme/vpc/aws/1.0.0/download",
        Some(MASTER),
        "",
    )
    .await;
    check(
        Method::GET,
        "/v1/modules/{namespace}/{name}/{system}/{version}/download",
        &r,
        StatusCode::NO_CONTENT,
    );
    let archive = r.headers()["x-terraform-get"].to_str().unwrap().to_owned();
    let r = call(&registry, &Method::GET, &archive, None, "").await;
    check(
        Method::GET,
        "/v1/archives/{namespace}/{name}/{system}/{file}",
        &r,
        StatusCode::OK,
    );
    for (path, status) in [
        ("/.well-known/terraform.json", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
        ("/v1/pins", StatusCode::OK),
        ("/v1/modules", StatusCode::OK),
    ] {
        let r = call(&registry, &Method::GET, path, Some(MASTER), "").await;
        check(Method::GET, path, &r, status);
    }
    // The discovery routes, with a module that has a README, inputs and outputs.
    let r = call(
        &registry,
        &Method::PUT,
        "/v1/modules/acme/vpc/aws/1.1.0",
        Some(MASTER),
        rich_tgz(),
    )
    .await;
    check(Method::PUT, module, &r, StatusCode::CREATED);
    for (uri, template, status) in [
        ("/v1/modules?limit=1", "/v1/modules", StatusCode::OK),
        (
            "/v1/modules/search?q=vpc",
            "/v1/modules/search",
            StatusCode::OK,
        ),
        (
            "/v1/modules/search?q=!!",
            "/v1/modules/search",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/modules/acme?provider=aws",
            "/v1/modules/{namespace}",
            StatusCode::OK,
        ),
        (
            "/v1/modules/acme/vpc",
            "/v1/modules/{namespace}/{name}",
            StatusCode::OK,
        ),
        (
            "/v1/modules/acme/vpc/aws",
            "/v1/modules/{namespace}/{name}/{system}",
            StatusCode::OK,
        ),
        ("/v1/modules/acme/vpc/aws/1.1.0", module, StatusCode::OK),
        (
            "/v1/modules/acme/vpc/aws/download",
            "/v1/modules/{namespace}/{name}/{system}/download",
            StatusCode::FOUND,
        ),
    ] {
        let r = call(&registry, &Method::GET, uri, Some(MASTER), "").await;
        check(Method::GET, template, &r, status);
    }
    let body = r#"{"name":"ci","tier":"downloader"}"#;
    let r = call(&registry, &Method::POST, "/v1/tokens", Some(MASTER), body).await;
    check(Method::POST, "/v1/tokens", &r, StatusCode::CREATED);
    let r = call(&registry, &Method::POST, "/v1/tokens", Some(MASTER), body).await;
    check(Method::POST, "/v1/tokens", &r, StatusCode::CONFLICT);
    let r = call(&registry, &Method::POST, "/v1/tokens", Some(MASTER), "{}").await;
    check(Method::POST, "/v1/tokens", &r, StatusCode::BAD_REQUEST);
    let r = call(&registry, &Method::GET, "/v1/tokens", Some(MASTER), "").await;
    check(Method::GET, "/v1/tokens", &r, StatusCode::OK);
    let r = call(
        &registry,
        &Method::DELETE,
        "/v1/tokens/ci",
        Some(MASTER),
        "",
    )
    .await;
    check(
        Method::DELETE,
        "/v1/tokens/{name}",
        &r,
        StatusCode::NO_CONTENT,
    );
    let r = call(
        &registry,
        &Method::DELETE,
        "/v1/modules/acme/vpc/aws/1.0.0",
        Some(MASTER),
        "",
    )
    .await;
    check(Method::DELETE, module, &r, StatusCode::NO_CONTENT);
}
