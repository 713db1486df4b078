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
use std::io::Write as _;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use registry_core::memory::{InMemoryPinStore, InMemoryStorage, InMemoryTokenStore};
use registry_core::storage::ArchiveLocation;
use registry_core::{
    Archive, ArchiveFormat, ArchiveLimits, FetchedArchive, ModuleAddress, PinStore, ProxyConfig,
    Registry, RegistryConfig, SigningKey, Storage, StorageError, Tier, TokenHash, TokenRecord,
    TokenStore, Upstream, UpstreamArchives, UpstreamError, Version,
};

const MASTER: &str = "tfr_master-token-for-fuzzing-00000000000000000";
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

#[derive(Debug, Default)]
struct CountingStorage {
    inner: InMemoryStorage,
    writes: AtomicUsize,
}

#[async_trait]
impl Storage for CountingStorage {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        self.inner.publish(module, version, archive).await?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        self.inner.list_versions(module).await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        self.inner.read_archive(module, version).await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        self.inner.locate_archive(module, version).await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        self.inner.delete_version(module, version).await?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One upstream module, `hashicorp/consul/aws` 1.0.0, as a repository tarball.
#[derive(Debug)]
struct FakeUpstream;

#[async_trait]
impl Upstream for FakeUpstream {
    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        if module.to_string() == "hashicorp/consul/aws" {
            Ok(vec!["1.0.0".parse().unwrap()])
        } else {
            Err(UpstreamError::NotFound {
                upstream: "fake".into(),
            })
        }
    }

    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError> {
        if self.list_versions(module).await?.contains(version) {
            Ok("git::https://example.invalid/consul?ref=v1.0.0".into())
        } else {
            Err(UpstreamError::NotFound {
                upstream: "fake".into(),
            })
        }
    }

    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        self.download_location(module, version).await?;
        Ok(FetchedArchive::new(
            targz(&[("consul-abc/main.tf", b"# consul\n")]),
            "fake",
            "git::https://example.invalid/consul",
        )
        .with_strip_top_dir(true))
    }
}

fn targz(files: &[(&str, &[u8])]) -> Bytes {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    Bytes::from(gz.finish().unwrap())
}

fn zip(files: &[(&str, &[u8])]) -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data) in files {
        w.start_file(*path, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    Bytes::from(w.finish().unwrap().into_inner())
}

struct Fixture {
    registry: Registry,
    storage: Arc<CountingStorage>,
    tokens: Arc<InMemoryTokenStore>,
    pins: Arc<InMemoryPinStore>,
}

fn fixture(setup: u8) -> Fixture {
    let storage = Arc::new(CountingStorage::default());
    let tokens = Arc::new(InMemoryTokenStore::new());
    let pins = Arc::new(InMemoryPinStore::new());
    let mut config = RegistryConfig::new(SigningKey::from_bytes([42u8; 32]).unwrap())
        .with_master_token_hash(TokenHash::of(MASTER))
        .with_anonymous_reads(setup % 4 == 1);
    if setup % 4 == 3 {
        config = config
            .with_max_body_bytes(600)
            .with_archive_limits(ArchiveLimits::new(300, 3));
    }
    if setup % 4 == 2 {
        config = config.with_proxy(
            ProxyConfig::enabled(vec![], vec!["evil".parse().unwrap()])
                .with_archives(UpstreamArchives::ThroughRegistry),
        );
    }
    let mut registry = Registry::new(storage.clone(), tokens.clone(), config)
        .with_clock(Arc::new(|| UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
    if setup % 4 == 2 {
        registry = registry
            .with_upstream(Arc::new(FakeUpstream))
            .with_pin_store(pins.clone())
            .with_archive_cache(Arc::new(InMemoryStorage::new()));
    }
    block_on(async {
        for (name, tier, token) in [
            ("up", Tier::Uploader, UPLOADER),
            ("down", Tier::Downloader, DOWNLOADER),
        ] {
            tokens
                .create(&TokenRecord {
                    name: name.into(),
                    tier,
                    hash: TokenHash::of(token),
                    created_at: UNIX_EPOCH,
                })
                .await
                .unwrap();
        }
        let seed = Archive::new(ArchiveFormat::TarGz, targz(&[("main.tf", b"# seed\n")]));
        storage
            .publish(
                &ModuleAddress::new("acme", "vpc", "aws").unwrap(),
                &"1.0.0".parse().unwrap(),
                &seed,
            )
            .await
            .unwrap();
    });
    Fixture {
        registry,
        storage,
        tokens,
        pins,
    }
}

type Snapshot = (usize, Vec<(String, Tier)>, Vec<String>);

fn snapshot(f: &Fixture) -> Snapshot {
    block_on(async {
        let mut tokens: Vec<_> = f
            .tokens
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.tier))
            .collect();
        tokens.sort();
        let mut pins: Vec<_> = f
            .pins
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|p| format!("{}@{}", p.module, p.version))
            .collect();
        pins.sort();
        (f.storage.writes.load(Ordering::SeqCst), tokens, pins)
    })
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
        b"$TGZ" => targz(&[("main.tf", b"# module\n")]),
        b"$ZIP" => zip(&[("m/main.tf", b"# module\n")]),
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
