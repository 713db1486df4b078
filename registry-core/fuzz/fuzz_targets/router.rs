//! `Registry::handle` on a request built from the bytes, over the in-memory
//! fakes: never a panic, never a 5xx, JSON `{"errors":[...]}` on every 4xx,
//! and nothing stored, deleted or changed by a request that was refused.
//!
//! Input layout (text, so that libFuzzer's mutations stay meaningful):
//!
//! ```text
//! <setup byte><method>\n<request target>\n<name>: <value>\n...\n\n<body>
//! ```
//!
//! The setup byte picks the registry (tokens required, anonymous reads,
//! proxying with pins and an archive cache, small limits). In header values
//! `$M`, `$U` and `$D` stand for the master, uploader and downloader tokens, and
//! a body of `$TGZ` / `$ZIP` for a valid module archive.
//!
//! `handle` needs no runtime of its own: without a tokio runtime the archive
//! work runs inline, so the future is driven by a minimal `block_on`.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use registry_core::memory::InMemoryStorage;
use registry_core::testing::{
    ArchiveBuilder, CountingStorage, InMemoryUpstream, StorageCall, TestRegistry,
    MASTER_TOKEN as MASTER,
};
use registry_core::{
    ArchiveLimits, FetchedArchive, ModuleAddress, ProxyConfig, Tier, Version,
};

const UPLOADER: &str = "tfr_uploader-token-for-fuzzing-000000000000000";
const DOWNLOADER: &str = "tfr_downloader-token-for-fuzzing-0000000000000";

/// Polls `f` to completion. Every future here is ready without waiting (the
/// fakes never block, and no runtime means no spawned work), so a future
/// that stays pending is a bug and fails loudly.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("Registry::handle did not complete without a runtime");
}

/// One upstream module, `hashicorp/consul/aws` 1.0.0, as a repository tarball.
fn consul_upstream() -> InMemoryUpstream {
    let consul = "hashicorp/consul/aws";
    let tarball = ArchiveBuilder::new()
        .file("consul-abc/main.tf", "# consul\n")
        .tar_gz();
    InMemoryUpstream::new("fake")
        .with_versions(consul, &["1.0.0"])
        .with_location(
            consul,
            "1.0.0",
            "git::https://example.invalid/consul?ref=v1.0.0",
        )
        .with_archive(
            consul,
            "1.0.0",
            FetchedArchive::new(tarball, "fake", "git::https://example.invalid/consul")
                .with_strip_top_dir(true),
        )
}

struct Fixture {
    registry: TestRegistry,
    storage: Arc<CountingStorage>,
}

fn fixture(setup: u8) -> Fixture {
    let storage = Arc::new(CountingStorage::default());
    let mut builder = TestRegistry::builder()
        .storage(storage.clone())
        .config(|c| c.with_anonymous_reads(setup % 4 == 1));
    if setup % 4 == 3 {
        builder = builder.config(|c| {
            c.with_max_body_bytes(600)
                .with_archive_limits(ArchiveLimits::new(300, 3))
        });
    }
    if setup % 4 == 2 {
        builder = builder
            .config(|c| c.with_proxy(ProxyConfig::new(vec![], vec!["evil".parse().unwrap()])))
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
    Fixture { registry, storage }
}

type Snapshot = (usize, Vec<(String, Tier)>, Vec<(ModuleAddress, Version)>);

fn snapshot(f: &Fixture) -> Snapshot {
    let counts = f.storage.counts();
    let writes =
        counts.succeeded(StorageCall::Publish) + counts.succeeded(StorageCall::DeleteVersion);
    let tokens = block_on(f.registry.stored_tokens());
    (writes, tokens, block_on(f.registry.stored_pins()))
}

/// Splits off the next `\n`-terminated line.
fn line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let at = rest.iter().position(|&b| b == b'\n')?;
    let (l, r) = rest.split_at(at);
    *rest = &r[1..];
    Some(l)
}

fn substitute(value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    if !text.contains('$') {
        return value.to_vec();
    }
    text.replace("$M", MASTER)
        .replace("$U", UPLOADER)
        .replace("$D", DOWNLOADER)
        .into_bytes()
}

fn request(data: &[u8]) -> Option<(u8, Request<Bytes>)> {
    let (&setup, mut rest) = data.split_first()?;
    let method = Method::from_bytes(line(&mut rest)?).ok()?;
    let uri = http::Uri::try_from(line(&mut rest)?).ok()?;
    let mut headers = Vec::new();
    loop {
        let l = line(&mut rest)?;
        if l.is_empty() {
            break;
        }
        let at = l.iter().position(|&b| b == b':')?;
        let name = HeaderName::from_bytes(l[..at].trim_ascii()).ok()?;
        let value = HeaderValue::from_bytes(&substitute(l[at + 1..].trim_ascii())).ok()?;
        headers.push((name, value));
    }
    let body = match rest {
        b"$TGZ" => ArchiveBuilder::module("# module\n").tar_gz(),
        b"$ZIP" => ArchiveBuilder::new().file("m/main.tf", "# module\n").zip(),
        other => Bytes::copy_from_slice(other),
    };
    let mut r = Request::new(body);
    *r.method_mut() = method;
    *r.uri_mut() = uri;
    for (name, value) in headers {
        r.headers_mut().append(name, value);
    }
    Some((setup, r))
}

fuzz_target!(|data: &[u8]| {
    let Some((setup, request)) = request(data) else {
        return;
    };
    let f = fixture(setup);
    let before = snapshot(&f);
    let head = request.method() == Method::HEAD;
    let uri = request.uri().clone();
    let response = block_on(f.registry.handle(request));
    let after = snapshot(&f);
    let status = response.status();

    assert!(
        !status.is_server_error(),
        "{uri} -> {status}: {:?}",
        response.body()
    );
    if head {
        assert!(response.body().is_empty());
    } else if status.is_client_error() {
        let body: serde_json::Value = serde_json::from_slice(response.body())
            .unwrap_or_else(|e| panic!("{uri} -> {status}: not JSON ({e})"));
        let errors = body
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("errors"))
            .and_then(|e| e.as_array())
            .unwrap_or_else(|| panic!("{uri} -> {status}: {body}"));
        assert!(!errors.is_empty() && errors.iter().all(|e| e.is_string()));
    }
    if !status.is_success() || status == StatusCode::OK {
        // Refused, or a read: nothing changed.
        assert_eq!(before, after, "{uri} -> {status} changed state");
    }
});
