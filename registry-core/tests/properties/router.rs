//! `Registry::handle` on the in-memory fakes, fed arbitrary requests: paths
//! (percent-encoding, `..`, empty and very long segments, non-UTF-8 escapes),
//! methods, headers (Authorization garbage) and bodies.
//!
//! Properties, for every response:
//! - never a panic and never a 5xx (the fakes never fail);
//! - every 4xx to a non-`HEAD` request is JSON `{"errors":["..."]}`; `HEAD`
//!   answers as `GET` would (status, `Content-Length`) with an empty body;
//! - a rejected request changes nothing: storage, tokens and pins are as before;
//! - only the documented methods change state, and only with the documented
//!   tier (no token, no write; no master token, no delete or token change);
//! - a valid module published under a valid, arbitrarily percent-encoded
//!   address goes through the whole lifecycle.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use proptest::prelude::*;
use registry_core::memory::InMemoryStorage;
use registry_core::testing::{
    ArchiveBuilder, CountingStorage, InMemoryUpstream, StorageCall, TestRegistry,
    MASTER_TOKEN as MASTER,
};
use registry_core::{
    ArchiveLimits, FetchedArchive, ModuleAddress, ProxyConfig, Sha256Digest, Tier, Version,
};
use serde_json::Value;

use super::support::{block_on, config};

const UPLOADER: &str = "tfr_uploader-token-for-property-tests-0000000";
const DOWNLOADER: &str = "tfr_downloader-token-for-property-tests-00000";

// -- fixture -----------------------------------------------------------------

/// An upstream with one module, `hashicorp/consul/aws`, served as a
/// repository tarball; everything else is not found.
fn consul_upstream() -> InMemoryUpstream {
    let consul = "hashicorp/consul/aws";
    let tarball = ArchiveBuilder::new()
        .top_dir("consul-abc")
        .file("main.tf", "# consul\n")
        .file("README.md", "readme")
        .tar_gz();
    let archive = FetchedArchive::new(tarball, "fake", "git::https://example.invalid/consul")
        .with_strip_top_dir(true);
    let mut upstream =
        InMemoryUpstream::new("fake").with_versions(consul, &["1.0.0", "2.0.0-rc.1"]);
    for version in ["1.0.0", "2.0.0-rc.1"] {
        let location = format!("git::https://example.invalid/consul?ref=v{version}");
        upstream = upstream
            .with_location(consul, version, &location)
            .with_archive(consul, version, archive.clone());
    }
    upstream
}

/// A module archive holding `main.tf`, at the root or under the directory
/// `top` (in a zip, without an entry of its own).
fn module_archive(zip: bool, top: Option<&str>, main_tf: &'static [u8]) -> Bytes {
    match (zip, top) {
        (true, Some(top)) => ArchiveBuilder::new()
            .file(&format!("{top}/main.tf"), main_tf)
            .zip(),
        (true, None) => ArchiveBuilder::module(main_tf).zip(),
        (false, Some(top)) => ArchiveBuilder::module(main_tf).top_dir(top).tar_gz(),
        (false, None) => ArchiveBuilder::module(main_tf).tar_gz(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Tokens required everywhere.
    Plain,
    /// Reads open to everyone.
    Anonymous,
    /// Proxying through the registry's archive route, pinning, an archive cache.
    Proxy,
    /// Small body and archive limits.
    Small,
}

struct Fixture {
    registry: TestRegistry,
    storage: Arc<CountingStorage>,
    anonymous_reads: bool,
}

/// What a request may have changed.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    storage_writes: usize,
    tokens: Vec<(String, Tier)>,
    pins: Vec<(ModuleAddress, Version)>,
}

impl Fixture {
    fn new(setup: Setup) -> Self {
        let storage = Arc::new(CountingStorage::default());
        let mut builder = TestRegistry::builder()
            .storage(storage.clone())
            .config(|c| c.with_anonymous_reads(setup == Setup::Anonymous));
        if setup == Setup::Small {
            builder = builder.config(|c| {
                c.with_max_body_bytes(600)
                    .with_archive_limits(ArchiveLimits::new(300, 3))
            });
        }
        if setup == Setup::Proxy {
            let deny = vec!["evil".parse().unwrap()];
            builder = builder
                .config(|c| c.with_proxy(ProxyConfig::new(vec![], deny)))
                .upstream(Arc::new(consul_upstream()))
                .through_registry()
                .archive_cache(Arc::new(InMemoryStorage::new()));
        }
        let registry = builder.build();
        block_on(async {
            registry.insert_token("up", Tier::Uploader, UPLOADER).await;
            registry
                .insert_token("down", Tier::Downloader, DOWNLOADER)
                .await;
            let seed = ArchiveBuilder::module("# seed\n").tar_gz();
            registry.insert_version("acme/vpc/aws", "1.0.0", seed).await;
        });
        storage.counts().reset();
        Self {
            registry,
            storage,
            anonymous_reads: setup == Setup::Anonymous,
        }
    }

    fn snapshot(&self) -> Snapshot {
        let counts = self.storage.counts();
        Snapshot {
            storage_writes: counts.succeeded(StorageCall::Publish)
                + counts.succeeded(StorageCall::DeleteVersion),
            tokens: block_on(self.registry.stored_tokens()),
            pins: block_on(self.registry.stored_pins()),
        }
    }
}

// -- request model -------------------------------------------------------------

#[derive(Debug, Clone)]
enum Auth {
    Master,
    Uploader,
    Downloader,
    /// `Bearer <random>` and near misses.
    Text(String),
    /// Any bytes a header value may hold (including obs-text).
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Body {
    Empty,
    Random(Vec<u8>),
    Module { zip: bool, top_dir: bool },
    TokenJson { name: String, tier: String },
    Text(String),
    Zeros(usize),
}

#[derive(Debug, Clone)]
enum Target {
    /// A request target as a client could send it (path and query).
    Path {
        path: String,
        query: Option<String>,
        absolute: bool,
    },
    /// The `X-Terraform-Get` of the previous response, if it had one,
    /// optionally with one byte replaced.
    FollowDownload { tamper: Option<(usize, u8)> },
}

#[derive(Debug, Clone)]
struct Req {
    method: Method,
    target: Target,
    auth: Vec<Auth>,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        6 => prop::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
        ]),
        1 => prop::sample::select(vec![
            Method::PATCH,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ]),
        1 => "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
            .prop_filter_map("a method token", |m| Method::from_bytes(m.as_bytes()).ok()),
    ]
}

fn segment() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "v1", "modules", "tokens", "pins", "archives", "versions", "download", "acme", "vpc",
            "aws", "hashicorp", "consul", "evil", "1.0.0", "2.0.0-rc.1", "1.0.0.tar.gz",
            "1.0.0.zip", "2.0.0-rc.1.tar.gz", "up", "down", "ci", ".well-known", "terraform.json",
        ])
        .prop_map(String::from),
        3 => prop::sample::select(vec![
            "", ".", "..", "%2e%2e", "%2E", "%2F", "%2f..%2f", "%00", "%ff", "%FE%FF", "%c3%28",
            "%e2%82", "%f0%9f%98", "%ed%a0%80", "%", "%zz", "%2", "%25", "é", "%C3%A9", "~", "+",
            "v1.0.0", "1.0", "1.0.0+build.1", "1.0.0%2Bbuild", "AWS", "-x", "x_", "a%20b",
        ])
        .prop_map(String::from),
        3 => "[a-zA-Z0-9._~-]{0,12}",
        1 => "[!$&'()*+,;=:@a-zA-Z0-9._~%-]{0,16}",
        1 => prop::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect()),
        1 => (60usize..9000).prop_map(|n| "a".repeat(n)),
        1 => "\\PC{0,6}",
    ]
    .boxed()
}

fn path() -> impl Strategy<Value = String> {
    let s = segment;
    prop_oneof![
        2 => prop::sample::select(vec![
            "/.well-known/terraform.json",
            "/openapi.json",
            "/v1/tokens",
            "/v1/pins",
            "/",
            "",
            "//",
            "/v1",
            "/v1/modules/",
            "/.well-known/terraform.json/",
            "/v1/tokens/",
            "/v1//tokens",
            "/v1/./tokens",
            "/v1/modules/../tokens",
        ])
        .prop_map(String::from),
        2 => (s(), s(), s()).prop_map(|(a, b, c)| format!("/v1/modules/{a}/{b}/{c}/versions")),
        2 => (s(), s(), s(), s())
            .prop_map(|(a, b, c, d)| format!("/v1/modules/{a}/{b}/{c}/{d}/download")),
        2 => (s(), s(), s(), s()).prop_map(|(a, b, c, d)| format!("/v1/modules/{a}/{b}/{c}/{d}")),
        1 => (s(), s(), s(), s()).prop_map(|(a, b, c, d)| format!("/v1/archives/{a}/{b}/{c}/{d}")),
        1 => (s(), s(), s(), s()).prop_map(|(a, b, c, d)| format!("/v1/pins/{a}/{b}/{c}/{d}")),
        1 => s().prop_map(|a| format!("/v1/tokens/{a}")),
        2 => prop::collection::vec(s(), 0..9).prop_map(|v| format!("/{}", v.join("/"))),
        1 => prop::collection::vec(s(), 1..4).prop_map(|v| v.join("/")),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "expires=[0-9]{0,12}&signature=[A-Za-z0-9_-]{0,44}",
        "expires=18446744073709551616&signature=",
        "[a-z=&%0-9]{0,24}",
        "\\PC{0,10}",
    ])
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        2 => Just(Auth::Master),
        2 => Just(Auth::Uploader),
        2 => Just(Auth::Downloader),
        2 => prop_oneof![
            "(Bearer|bearer|BEARER|Basic|Token) ?[ -~]{0,20}",
            Just(format!("Bearer  {MASTER} ")),
            Just(format!("Bearer {MASTER}x")),
            Just(format!("Basic {MASTER}")),
            Just(MASTER.to_owned()),
            Just(format!("Bearer\t{UPLOADER}")),
            Just("Bearer ".to_owned()),
            Just(String::new()),
        ]
        .prop_map(Auth::Text),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Auth::Raw),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        2 => Just(Body::Empty),
        2 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Body::Random),
        3 => (any::<bool>(), any::<bool>())
            .prop_map(|(zip, top_dir)| Body::Module { zip, top_dir }),
        2 => (
            prop_oneof!["[a-z0-9._-]{0,10}", "\\PC{0,70}"],
            prop_oneof![
                Just("uploader".to_owned()),
                Just("downloader".to_owned()),
                Just("master".to_owned()),
                "\\PC{0,10}",
            ],
        )
            .prop_map(|(name, tier)| Body::TokenJson { name, tier }),
        1 => prop_oneof![
            Just("{}".to_owned()),
            Just("null".to_owned()),
            Just(r#"{"name":"x","tier":"uploader","extra":1}"#.to_owned()),
            Just(r#"{"name":1,"tier":[]}"#.to_owned()),
            "\\PC{0,40}",
        ]
        .prop_map(Body::Text),
        1 => (0usize..4096).prop_map(Body::Zeros),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        8 => (path(), query(), prop::bool::weighted(0.1)).prop_map(|(path, query, absolute)| {
            Target::Path {
                path,
                query,
                absolute,
            }
        }),
        1 => prop::option::of((any::<usize>(), any::<u8>()))
            .prop_map(|tamper| Target::FollowDownload { tamper }),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        method(),
        target(),
        prop::collection::vec(auth(), 0..3),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("content-type".to_owned()),
                    Just("content-length".to_owned()),
                    Just("host".to_owned()),
                    Just("if-none-match".to_owned()),
                    "[a-zA-Z0-9-]{1,16}",
                ],
                prop::collection::vec(any::<u8>(), 0..24),
            ),
            0..3,
        ),
        body(),
    )
        .prop_map(|(method, target, auth, headers, body)| Req {
            method,
            target,
            auth,
            headers,
            body,
        })
}

/// A request a client might well send: a route with one of its methods,
/// plausible parameters, mostly a real token and a matching body.
fn coherent_request() -> impl Strategy<Value = Req> {
    let module = prop_oneof![
        3 => Just("acme/vpc/aws".to_owned()),
        3 => Just("hashicorp/consul/aws".to_owned()),
        1 => Just("evil/x/aws".to_owned()),
        2 => ("[a-z][a-z0-9-]{0,6}[a-z0-9]", "[a-z][a-z0-9_]{0,6}", "[a-z0-9]{1,5}")
            .prop_map(|(a, b, c)| format!("{a}/{b}/{c}")),
        1 => (segment(), segment(), segment()).prop_map(|(a, b, c)| format!("{a}/{b}/{c}")),
    ];
    let version = prop_oneof![
        3 => Just("1.0.0".to_owned()),
        2 => Just("2.0.0-rc.1".to_owned()),
        2 => "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9])?(\\+[a-z0-9]{1,4})?",
        1 => segment(),
    ];
    let token_name = prop_oneof![
        Just("up".to_owned()),
        Just("down".to_owned()),
        Just("ci".to_owned()),
        segment(),
    ];
    let route = (module, version, token_name, 0..10u8).prop_map(|(m, v, t, which)| {
        let (method, path, body) = match which {
            0 => (Method::GET, format!("/v1/modules/{m}/versions"), None),
            1 => (Method::GET, format!("/v1/modules/{m}/{v}/download"), None),
            2 => (Method::PUT, format!("/v1/modules/{m}/{v}"), Some(true)),
            3 => (Method::DELETE, format!("/v1/modules/{m}/{v}"), None),
            4 => (Method::POST, "/v1/tokens".to_owned(), Some(false)),
            5 => (Method::GET, "/v1/tokens".to_owned(), None),
            6 => (Method::DELETE, format!("/v1/tokens/{t}"), None),
            7 => (Method::POST, format!("/v1/pins/{m}/{v}"), None),
            8 => (Method::GET, "/v1/pins".to_owned(), None),
            _ => (Method::HEAD, format!("/v1/modules/{m}/versions"), None),
        };
        (method, path, body)
    });
    (
        route,
        prop::bool::weighted(0.2),
        prop_oneof![6 => auth().prop_map(Some), 1 => Just(None)],
        prop_oneof![
            4 => (any::<bool>(), any::<bool>())
                .prop_map(|(zip, top_dir)| Body::Module { zip, top_dir }),
            2 => (
                "[a-z][a-z0-9._-]{0,8}",
                prop::sample::select(vec!["uploader", "downloader", "master"]),
            )
                .prop_map(|(name, tier)| Body::TokenJson {
                    name,
                    tier: tier.to_owned()
                }),
            1 => body(),
        ],
        prop::option::weighted(0.15, (any::<usize>(), any::<u8>())),
    )
        .prop_map(|((method, path, wants), follow, auth, body, tamper)| {
            let target = if follow {
                Target::FollowDownload { tamper }
            } else {
                Target::Path {
                    path,
                    query: None,
                    absolute: false,
                }
            };
            let method = if follow { Method::GET } else { method };
            let body = match (wants, body) {
                (Some(true), b @ Body::Module { .. })
                | (Some(false), b @ Body::TokenJson { .. }) => b,
                (Some(true), _) => Body::Module {
                    zip: false,
                    top_dir: false,
                },
                (Some(false), _) => Body::TokenJson {
                    name: "new".into(),
                    tier: "uploader".into(),
                },
                (None, b) => b,
            };
            Req {
                method,
                target,
                auth: auth.into_iter().collect(),
                headers: Vec::new(),
                body,
            }
        })
}

/// What a real client can put in a request target: everything else
/// percent-encoded.
const TARGET_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Builds the `http::Request`, or `None` when `FollowDownload` has nothing to follow.
fn build(req: &Req, previous: Option<&Response<Bytes>>) -> Option<Request<Bytes>> {
    let target = match &req.target {
        Target::Path {
            path,
            query,
            absolute,
        } => {
            let mut t = String::new();
            if *absolute {
                t.push_str("http://registry.example");
            }
            t.push_str(path);
            if let Some(q) = query {
                t.push('?');
                t.push_str(q);
            }
            t
        }
        Target::FollowDownload { tamper } => {
            let url = previous?.headers().get("x-terraform-get")?.to_str().ok()?;
            let mut url = url.as_bytes().to_vec();
            if let Some((at, byte)) = tamper.filter(|_| !url.is_empty()) {
                let len = url.len();
                url[at % len] = byte;
            }
            String::from_utf8_lossy(&url).into_owned()
        }
    };
    let uri = http::Uri::try_from(target.as_str())
        .or_else(|_| {
            http::Uri::try_from(percent_encode(target.as_bytes(), TARGET_ESCAPES).to_string())
        })
        .unwrap_or_else(|_| {
            http::Uri::try_from(percent_encode(target.as_bytes(), NON_ALPHANUMERIC).to_string())
                .unwrap_or_else(|_| http::Uri::from_static("/"))
        });
    let body = match &req.body {
        Body::Empty => Bytes::new(),
        Body::Random(b) => Bytes::from(b.clone()),
        Body::Module { zip, top_dir } => {
            module_archive(*zip, top_dir.then_some("m"), b"# module\n")
        }
        Body::TokenJson { name, tier } => {
            Bytes::from(serde_json::json!({ "name": name, "tier": tier }).to_string())
        }
        Body::Text(t) => Bytes::from(t.clone()),
        Body::Zeros(n) => Bytes::from(vec![0u8; *n]),
    };
    let mut request = Request::new(body);
    *request.method_mut() = req.method.clone();
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for a in &req.auth {
        let value = match a {
            Auth::Master => HeaderValue::from_str(&format!("Bearer {MASTER}")).ok(),
            Auth::Uploader => HeaderValue::from_str(&format!("Bearer {UPLOADER}")).ok(),
            Auth::Downloader => HeaderValue::from_str(&format!("Bearer {DOWNLOADER}")).ok(),
            Auth::Text(t) => HeaderValue::from_str(t).ok(),
            Auth::Raw(b) => HeaderValue::from_bytes(b).ok(),
        };
        if let Some(v) = value {
            headers.append(http::header::AUTHORIZATION, v);
        }
    }
    for (name, value) in &req.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            if n != http::header::AUTHORIZATION {
                headers.append(n, v);
            }
        }
    }
    Some(request)
}

// -- checks ------------------------------------------------------------------

/// The token tier the request's first `Authorization` header carries, as the
/// registry reads it (`None` for none or an unknown token).
fn presented_tier(request: &Request<Bytes>) -> Option<Tier> {
    let value = request.headers().get(http::header::AUTHORIZATION)?;
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    match token.trim() {
        MASTER => Some(Tier::Master),
        UPLOADER => Some(Tier::Uploader),
        DOWNLOADER => Some(Tier::Downloader),
        _ => None,
    }
}

fn check_response(
    fixture: &Fixture,
    request: &Request<Bytes>,
    response: &Response<Bytes>,
    before: &Snapshot,
    after: &Snapshot,
) -> Result<(), TestCaseError> {
    let status = response.status();
    let method = request.method();
    let path = request.uri().path();
    let context = || format!("{method} {} -> {status}", request.uri());
    prop_assert!(
        !status.is_server_error(),
        "{}: {:?}",
        context(),
        response.body()
    );
    if method == Method::HEAD {
        prop_assert!(response.body().is_empty(), "{}", context());
        prop_assert!(
            response
                .headers()
                .contains_key(http::header::CONTENT_LENGTH),
            "{}",
            context()
        );
    } else if status.is_client_error() {
        prop_assert_eq!(
            response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            Some(&b"application/json"[..]),
            "{}",
            context()
        );
        let body: Value = serde_json::from_slice(response.body()).map_err(|e| {
            TestCaseError::fail(format!(
                "{}: not JSON ({e}): {:?}",
                context(),
                response.body()
            ))
        })?;
        // `errors`, and the request id the `X-Request-Id` header carries.
        let object = body.as_object().filter(|o| {
            o.len() == 2
                && o.get("request_id").and_then(Value::as_str)
                    == response
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
        });
        let errors = object
            .and_then(|o| o.get("errors"))
            .and_then(Value::as_array);
        prop_assert!(
            errors
                .is_some_and(|e| !e.is_empty()
                    && e.iter().all(|m| m.as_str().is_some_and(|m| !m.is_empty()))),
            "{}: {body}",
            context()
        );
    }
    if status.is_success()
        && response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t == "application/json")
        && method != Method::HEAD
    {
        prop_assert!(
            serde_json::from_slice::<Value>(response.body()).is_ok(),
            "{}: not JSON",
            context()
        );
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        prop_assert!(
            response.headers().contains_key(http::header::ALLOW),
            "{}",
            context()
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        prop_assert!(
            response
                .headers()
                .contains_key(http::header::WWW_AUTHENTICATE),
            "{}",
            context()
        );
    }

    // Rejected: nothing changed.
    if !status.is_success() {
        prop_assert_eq!(before, after, "{}", context());
    }
    // Reads change nothing (the archive cache is not the registry's storage).
    if method == Method::GET || method == Method::HEAD {
        prop_assert_eq!(before, after, "{}", context());
    }
    let wrote = before.storage_writes != after.storage_writes;
    let pinned = before.pins != after.pins;
    let tokens_changed = before.tokens != after.tokens;
    prop_assert!(
        !wrote
            || (method == Method::PUT && status == StatusCode::CREATED)
            || (method == Method::DELETE && status == StatusCode::NO_CONTENT)
            || (method == Method::POST && status == StatusCode::CREATED && pinned),
        "{}: storage written",
        context()
    );
    prop_assert!(
        !tokens_changed
            || (method == Method::POST && status == StatusCode::CREATED)
            || (method == Method::DELETE && status == StatusCode::NO_CONTENT),
        "{}: tokens changed",
        context()
    );

    // Authorization: what a success needed.
    let tier = presented_tier(request);
    if status.is_success() {
        // The router matches percent-decoded segments.
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .take(2)
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let under = |prefix: &str| segments == ["v1", prefix];
        let open =
            path == "/.well-known/terraform.json" || path == "/openapi.json" || under("archives");
        let read = method == Method::GET || method == Method::HEAD;
        let needed = if open {
            None
        } else if read && under("modules") {
            (!fixture.anonymous_reads).then_some(Tier::Downloader)
        } else if method == Method::PUT {
            Some(Tier::Uploader)
        } else {
            Some(Tier::Master)
        };
        if let Some(needed) = needed {
            prop_assert!(
                tier.is_some_and(|t| t >= needed),
                "{}: succeeded with {tier:?}, needs {needed:?}",
                context()
            );
        }
    }
    Ok(())
}

fn setup() -> impl Strategy<Value = Setup> {
    prop::sample::select(vec![
        Setup::Plain,
        Setup::Anonymous,
        Setup::Proxy,
        Setup::Small,
    ])
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn arbitrary_requests_get_sane_answers(
        setup in setup(),
        requests in prop::collection::vec(prop_oneof![request(), coherent_request()], 1..7),
    ) {
        let fixture = Fixture::new(setup);
        let mut previous: Option<Response<Bytes>> = None;
        for req in &requests {
            let Some(request) = build(req, previous.as_ref()) else {
                continue;
            };
            let before = fixture.snapshot();
            let response = block_on(fixture.registry.handle(request.clone()));
            let after = fixture.snapshot();
            check_response(&fixture, &request, &response, &before, &after)?;
            if request.method() == Method::HEAD {
                // HEAD answers as GET would, without the body.
                let mut get = request.clone();
                *get.method_mut() = Method::GET;
                let got = block_on(fixture.registry.handle(get));
                prop_assert_eq!(got.status(), response.status(), "HEAD vs GET {}", request.uri());
                prop_assert_eq!(
                    response.headers().get(http::header::CONTENT_LENGTH),
                    Some(&HeaderValue::from(got.body().len())),
                    "HEAD vs GET {}",
                    request.uri()
                );
                prop_assert_eq!(fixture.snapshot(), after, "GET changed something");
            }
            previous = Some(response);
        }
    }
}

// -- the lifecycle of a valid module -------------------------------------------

fn valid_module() -> impl Strategy<Value = (String, String, String)> {
    (
        "[0-9A-Za-z]([0-9A-Za-z_-]{0,20}[0-9A-Za-z])?",
        "[0-9A-Za-z]([0-9A-Za-z_-]{0,20}[0-9A-Za-z])?",
        "[0-9a-z]{1,12}",
    )
}

fn valid_version() -> impl Strategy<Value = String> {
    (
        0u64..1000,
        0u64..1000,
        0u64..1000,
        prop::option::of("(alpha|beta|rc)(\\.[1-9][0-9]{0,2})?"),
        prop::option::of("[0-9A-Za-z-]{1,8}"),
    )
        .prop_map(|(a, b, c, pre, build)| {
            let mut v = format!("{a}.{b}.{c}");
            if let Some(pre) = pre {
                v = format!("{v}-{pre}");
            }
            if let Some(build) = build {
                v = format!("{v}+{build}");
            }
            v
        })
}

/// `s` with the characters whose flag is set percent-encoded (as `%XX`).
fn encode_some(s: &str, flags: &[bool]) -> String {
    s.bytes()
        .enumerate()
        .map(|(i, b)| {
            if flags.get(i).copied().unwrap_or(false) {
                format!("%{b:02X}")
            } else {
                char::from(b).to_string()
            }
        })
        .collect()
}

fn send(
    registry: &TestRegistry,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Bytes,
) -> Response<Bytes> {
    block_on(registry.call(method, uri, token, body))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_modules_go_through_the_whole_lifecycle(
        (ns, name, system) in valid_module(),
        version in valid_version(),
        encode in prop::collection::vec(prop::bool::weighted(0.2), 0..160),
        use_zip in any::<bool>(),
        top_dir in any::<bool>(),
    ) {
        let fixture = Fixture::new(Setup::Plain);
        let registry = &fixture.registry;
        let module = format!("{ns}/{name}/{system}");
        let encoded: Vec<String> = [&ns, &name, &system, &version]
            .iter()
            .map(|s| encode_some(s, &encode))
            .collect();
        let base = format!("/v1/modules/{}/{}/{}", encoded[0], encoded[1], encoded[2]);
        let body = module_archive(use_zip, top_dir.then_some("top"), b"# m\n");

        let put = format!("{base}/{}", encoded[3]);
        let r = send(registry, Method::PUT, &put, Some(DOWNLOADER), body.clone());
        prop_assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = send(registry, Method::PUT, &put, Some(UPLOADER), body.clone());
        prop_assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
        let created: Value = serde_json::from_slice(r.body()).unwrap();
        prop_assert_eq!(created["version"].as_str(), Some(version.as_str()));
        prop_assert_eq!(created["namespace"].as_str(), Some(ns.as_str()));
        let sha = created["sha256"].as_str().unwrap().to_owned();

        let r = send(registry, Method::PUT, &put, Some(UPLOADER), body);
        prop_assert_eq!(r.status(), StatusCode::CONFLICT);

        let r = send(registry, Method::GET, &format!("{base}/versions"), Some(DOWNLOADER), Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::OK);
        let listed: Value = serde_json::from_slice(r.body()).unwrap();
        prop_assert_eq!(listed["modules"][0]["source"].as_str(), Some(module.as_str()));
        prop_assert_eq!(listed["modules"][0]["versions"][0]["version"].as_str(), Some(version.as_str()));

        let r = send(registry, Method::GET, &format!("{put}/download"), Some(DOWNLOADER), Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let url = r.headers()["x-terraform-get"].to_str().unwrap().to_owned();
        prop_assert!(url.starts_with("/v1/archives/"), "{url}");
        prop_assert!(url.ends_with(&format!("&checksum=sha256:{sha}")), "{url}");

        let r = send(registry, Method::GET, &url, None, Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::OK);
        prop_assert_eq!(Sha256Digest::of(r.body()).to_hex(), sha.clone());
        let flat = registry_core::archive::validate_archive(r.body().clone(), &ArchiveLimits::default()).unwrap();
        prop_assert_eq!(&flat.to_bytes().unwrap(), r.body(), "served archives are flat");

        let r = send(registry, Method::DELETE, &put, Some(UPLOADER), Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = send(registry, Method::DELETE, &put, Some(MASTER), Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = send(registry, Method::GET, &format!("{base}/versions"), Some(DOWNLOADER), Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = send(registry, Method::GET, &url, None, Bytes::new());
        prop_assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
