//! Upstream proxying and pinning through `Registry::handle`, on the in-memory
//! fakes and a scripted in-process upstream (no sockets).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use registry_core::memory::{InMemoryPinStore, InMemoryStorage, InMemoryTokenStore};
use registry_core::version::parse_version;
use registry_core::{
    FetchedArchive, MockUpstream, ModuleAddress, ModulePattern, PinStore, ProxyConfig, Registry,
    RegistryConfig, SigningKey, Storage, TokenHash, Upstream, UpstreamArchives, UpstreamError,
    Version,
};
use serde_json::Value;

const MASTER: &str = "tfr_master-token-for-proxy-tests-000000000000000";
const UPSTREAM: &str = "registry.example.com";

/// A `.tar.gz` of `entries` (path, contents); a path ending in `/` is a directory.
fn targz(entries: &[(&str, &str)]) -> Bytes {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in entries {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else {
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, path, body.as_bytes()).unwrap();
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    Bytes::from(gz.finish().unwrap())
}

/// Paths and contents of a `.tar.gz`, sorted.
fn untar(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut body = String::new();
        entry.read_to_string(&mut body).unwrap();
        out.push((path, body));
    }
    out.sort();
    out
}

fn addr(s: &str) -> ModuleAddress {
    let p: Vec<&str> = s.split('/').collect();
    ModuleAddress::new(p[0], p[1], p[2]).unwrap()
}

fn ver(s: &str) -> Version {
    parse_version(s).unwrap()
}

/// An upstream with a fixed catalogue that counts every call.
#[derive(Debug, Default)]
struct FakeUpstream {
    versions: HashMap<ModuleAddress, Vec<Version>>,
    archives: HashMap<(ModuleAddress, Version), FetchedArchive>,
    calls: AtomicUsize,
}

impl FakeUpstream {
    fn with(mut self, module: &str, versions: &[&str]) -> Self {
        self.versions
            .insert(addr(module), versions.iter().map(|v| ver(v)).collect());
        self
    }

    fn with_archive(mut self, module: &str, version: &str, archive: FetchedArchive) -> Self {
        self.archives.insert((addr(module), ver(version)), archive);
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn not_found() -> UpstreamError {
        UpstreamError::NotFound {
            upstream: UPSTREAM.into(),
        }
    }
}

#[async_trait]
impl Upstream for FakeUpstream {
    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.versions
            .get(module)
            .cloned()
            .ok_or_else(Self::not_found)
    }

    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.versions.get(module) {
            Some(vs) if vs.contains(version) => Ok(format!(
                "git::https://github.com/{}/terraform-{}-{}?ref=v{version}",
                module.namespace(),
                module.system(),
                module.name()
            )),
            _ => Err(Self::not_found()),
        }
    }

    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.archives
            .get(&(module.clone(), version.clone()))
            .cloned()
            .ok_or_else(Self::not_found)
    }
}

/// A GitHub-style tarball of `hashicorp/terraform-aws-consul` at `v{version}`,
/// with the module in `modules/cluster`.
fn consul_tarball(version: &str) -> FetchedArchive {
    let top = format!("hashicorp-terraform-aws-consul-{version}");
    let bytes = targz(&[
        (&format!("{top}/"), ""),
        (&format!("{top}/main.tf"), "# root module\n"),
        (&format!("{top}/modules/"), ""),
        (&format!("{top}/modules/cluster/"), ""),
        (
            &format!("{top}/modules/cluster/main.tf"),
            &format!("output \"version\" {{ value = \"{version}\" }}\n"),
        ),
    ]);
    FetchedArchive::new(
        bytes,
        UPSTREAM,
        format!("git::https://github.com/hashicorp/terraform-aws-consul//modules/cluster?ref=v{version}"),
    )
    .with_strip_top_dir(true)
    .with_subdir("modules/cluster")
    .with_git_ref(format!("v{version}"))
}

struct Harness {
    registry: Registry,
    storage: Arc<InMemoryStorage>,
    pins: Arc<InMemoryPinStore>,
    upstream: Arc<FakeUpstream>,
    /// Set by [`Harness::with_archive_cache`].
    cache: Option<Arc<InMemoryStorage>>,
}

fn harness(upstream: FakeUpstream, proxy: ProxyConfig) -> Harness {
    let storage = Arc::new(InMemoryStorage::new());
    let pins = Arc::new(InMemoryPinStore::new());
    let upstream = Arc::new(upstream);
    let config = RegistryConfig::new(SigningKey::from_bytes([7u8; 32]).unwrap())
        .with_master_token_hash(TokenHash::of(MASTER))
        .with_proxy(proxy);
    let registry = Registry::new(storage.clone(), Arc::new(InMemoryTokenStore::new()), config)
        .with_upstream(upstream.clone())
        .with_pin_store(pins.clone());
    Harness {
        registry,
        storage,
        pins,
        upstream,
        cache: None,
    }
}

fn proxy_on() -> ProxyConfig {
    ProxyConfig::enabled(Vec::new(), Vec::new())
}

fn patterns(list: &[&str]) -> Vec<ModulePattern> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn body_json(r: &Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.body()))
}

fn error_message(r: &Response<Bytes>) -> String {
    body_json(r)["errors"][0].as_str().unwrap().to_owned()
}

impl Harness {
    /// The same registry with an in-memory archive cache.
    fn with_archive_cache(mut self) -> Self {
        let cache = Arc::new(InMemoryStorage::new());
        self.registry = self.registry.with_archive_cache(cache.clone());
        self.cache = Some(cache);
        self
    }

    /// GET of a download's `X-Terraform-Get` (a path of this registry), without a token.
    async fn fetch_location(&self, location: &str) -> Response<Bytes> {
        let request = Request::get(location).body(Bytes::new()).unwrap();
        self.registry.handle(request).await
    }

    async fn call(&self, method: Method, uri: &str) -> Response<Bytes> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {MASTER}"))
            .body(Bytes::new())
            .unwrap();
        self.registry.handle(request).await
    }

    async fn versions(&self, module: &str) -> Response<Bytes> {
        self.call(Method::GET, &format!("/v1/modules/{module}/versions"))
            .await
    }

    async fn version_list(&self, module: &str) -> Vec<String> {
        let r = self.versions(module).await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
        body_json(&r)["modules"][0]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn download(&self, module: &str, version: &str) -> Response<Bytes> {
        self.call(
            Method::GET,
            &format!("/v1/modules/{module}/{version}/download"),
        )
        .await
    }

    async fn pin(&self, module: &str, version: &str) -> Response<Bytes> {
        self.call(Method::POST, &format!("/v1/pins/{module}/{version}"))
            .await
    }

    async fn publish_local(&self, module: &str, version: &str) {
        let request = Request::put(format!("/v1/modules/{module}/{version}"))
            .header("authorization", format!("Bearer {MASTER}"))
            .body(targz(&[("main.tf", "# private\n")]))
            .unwrap();
        let r = self.registry.handle(request).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    }
}

#[tokio::test]
async fn proxying_is_off_by_default() {
    let h = harness(
        FakeUpstream::default().with("hashicorp/consul/aws", &["0.1.0"]),
        ProxyConfig::default(),
    );
    let r = h.versions("hashicorp/consul/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("not found in this registry"));
    let r = h.download("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.upstream.calls(), 0, "the upstream is never asked");
}

#[tokio::test]
async fn unknown_modules_are_proxied_sorted_with_the_upstream_location() {
    let h = harness(
        FakeUpstream::default().with("hashicorp/consul/aws", &["0.10.0", "0.2.0", "0.1.0-beta"]),
        proxy_on(),
    );
    assert_eq!(
        h.version_list("hashicorp/consul/aws").await,
        ["0.1.0-beta", "0.2.0", "0.10.0"]
    );
    let r = h.download("hashicorp/consul/aws", "0.2.0").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.body());
    assert_eq!(
        r.headers()["x-terraform-get"],
        "git::https://github.com/hashicorp/terraform-aws-consul?ref=v0.2.0"
    );
    // Upstream 404s are the registry's own 404s.
    let r = h.versions("hashicorp/nothing/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("module hashicorp/nothing/aws not found"));
    let r = h.download("hashicorp/consul/aws", "9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn allow_and_deny_lists_decide_what_is_proxied() {
    let upstream = || {
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0"])
            .with("hashicorp/vault/aws", &["0.1.0"])
            .with("cloudposse/label/null", &["0.1.0"])
    };
    // (allow, deny, module, proxied?)
    let table: &[(&[&str], &[&str], &str, bool)] = &[
        (&[], &[], "cloudposse/label/null", true),
        (&["hashicorp"], &[], "hashicorp/consul/aws", true),
        (&["hashicorp"], &[], "cloudposse/label/null", false),
        (&[], &["hashicorp/vault"], "hashicorp/vault/aws", false),
        (&[], &["hashicorp/vault"], "hashicorp/consul/aws", true),
        // Deny wins, however specific the allow.
        (
            &["hashicorp/vault/aws"],
            &["hashicorp"],
            "hashicorp/vault/aws",
            false,
        ),
    ];
    for (allow, deny, module, proxied) in table {
        let h = harness(
            upstream(),
            ProxyConfig::enabled(patterns(allow), patterns(deny)),
        );
        for r in [
            h.versions(module).await,
            h.download(module, "0.1.0").await,
            h.pin(module, "0.1.0").await,
        ] {
            if *proxied {
                assert_ne!(
                    r.status(),
                    StatusCode::FORBIDDEN,
                    "{module}: {:?}",
                    r.body()
                );
            } else {
                assert_eq!(
                    r.status(),
                    StatusCode::FORBIDDEN,
                    "{module}: {:?}",
                    r.body()
                );
                let message = error_message(&r);
                assert!(message.contains(module), "{message}");
                assert!(message.contains("proxy"), "{message}");
            }
        }
        if !proxied {
            assert_eq!(h.upstream.calls(), 0, "{module}: refused before asking");
            assert!(h
                .storage
                .list_versions(&addr(module))
                .await
                .unwrap()
                .is_empty());
        }
    }
}

/// An outsider publishes a higher version of a private module's address upstream:
/// the registry never offers it.
#[tokio::test]
async fn local_modules_are_never_mixed_with_upstream_versions() {
    let h = harness(
        FakeUpstream::default().with("acme/vpc/aws", &["1.0.0", "99.0.0"]),
        proxy_on(),
    );
    h.publish_local("acme/vpc/aws", "1.0.0").await;
    assert_eq!(h.version_list("acme/vpc/aws").await, ["1.0.0"]);
    let r = h.download("acme/vpc/aws", "99.0.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("has no version 99.0.0 in this registry"));
    let local = h.download("acme/vpc/aws", "1.0.0").await;
    let location = local.headers()["x-terraform-get"].to_str().unwrap();
    assert!(
        location.starts_with("/v1/archives/acme/vpc/aws/1.0.0.tar.gz?"),
        "{location}"
    );
    assert_eq!(h.upstream.calls(), 0, "the upstream is never asked");
    // Deleting the last local version hands the address back to the proxy.
    let r = h
        .call(Method::DELETE, "/v1/modules/acme/vpc/aws/1.0.0")
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.version_list("acme/vpc/aws").await, ["1.0.0", "99.0.0"]);
}

#[tokio::test]
async fn upstream_failures_map_to_gateway_statuses_naming_the_upstream() {
    let cases: Vec<(UpstreamError, StatusCode, Option<&str>)> = vec![
        (
            UpstreamError::Timeout {
                upstream: UPSTREAM.into(),
            },
            StatusCode::GATEWAY_TIMEOUT,
            None,
        ),
        (
            UpstreamError::Unavailable {
                upstream: UPSTREAM.into(),
                message: "429 Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(7)),
            },
            StatusCode::SERVICE_UNAVAILABLE,
            Some("7"),
        ),
        (
            UpstreamError::Other {
                upstream: UPSTREAM.into(),
                source: "connection reset by 10.1.2.3 (secret detail)".into(),
            },
            StatusCode::BAD_GATEWAY,
            None,
        ),
        (
            UpstreamError::Unsupported {
                upstream: UPSTREAM.into(),
                message: "source s3::https://bucket/x.zip cannot be fetched".into(),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
    ];
    for (error, status, retry_after) in cases {
        let error = Arc::new(Mutex::new(Some(error)));
        let mut upstream = MockUpstream::new();
        let e = error.clone();
        upstream
            .expect_list_versions()
            .times(1)
            .returning(move |_| Err(e.lock().unwrap().take().unwrap()));
        let registry = Registry::new(
            Arc::new(InMemoryStorage::new()),
            Arc::new(InMemoryTokenStore::new()),
            RegistryConfig::new(SigningKey::generate())
                .with_anonymous_reads(true)
                .with_proxy(proxy_on()),
        )
        .with_upstream(Arc::new(upstream));
        let r = registry
            .handle(
                Request::get("/v1/modules/hashicorp/consul/aws/versions")
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status(), status, "{:?}", r.body());
        let message = error_message(&r);
        assert!(message.contains(UPSTREAM), "{message}");
        assert!(
            !message.contains("secret detail"),
            "5xx hides internals: {message}"
        );
        assert_eq!(
            r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
            retry_after
        );
    }
}

#[tokio::test]
async fn pinning_stores_the_flat_module_records_its_origin_and_makes_it_local() {
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        // Pinning works with live proxying off: vetted modules only.
        ProxyConfig::default(),
    );
    let r = h.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    let pin = body_json(&r);
    assert_eq!(pin["version"], "0.1.0");
    assert_eq!(pin["upstream"], UPSTREAM);
    assert_eq!(pin["ref"], "v0.1.0");
    assert_eq!(
        pin["source"],
        "git::https://github.com/hashicorp/terraform-aws-consul//modules/cluster?ref=v0.1.0"
    );

    // Stored flat: the subdirectory's files at the root, nothing else.
    let stored = h
        .storage
        .read_archive(&addr("hashicorp/consul/aws"), &ver("0.1.0"))
        .await
        .unwrap();
    assert_eq!(
        untar(&stored.to_bytes().unwrap()),
        [(
            "main.tf".to_owned(),
            "output \"version\" { value = \"0.1.0\" }\n".to_owned()
        )]
    );
    assert_eq!(pin["sha256"], stored.info().sha256.to_hex());

    // Listed with its origin.
    let r = h.call(Method::GET, "/v1/pins").await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = body_json(&r);
    assert_eq!(list["pins"].as_array().unwrap().len(), 1);
    assert_eq!(list["pins"][0]["source"], pin["source"]);
    assert_eq!(list["pins"][0]["namespace"], "hashicorp");
    assert_eq!(list["pins"][0]["pinned_at"], pin["pinned_at"]);

    // From now on the module is local: served from storage, the upstream not asked.
    let calls = h.upstream.calls();
    assert_eq!(h.version_list("hashicorp/consul/aws").await, ["0.1.0"]);
    let r = h.download("hashicorp/consul/aws", "0.1.0").await;
    let location = r.headers()["x-terraform-get"].to_str().unwrap();
    assert!(location.starts_with("/v1/archives/hashicorp/consul/aws/0.1.0.tar.gz?"));
    assert_eq!(h.upstream.calls(), calls);

    // A second pin of the version is a conflict, decided before fetching.
    let r = h.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(error_message(&r).contains("already exists"));
    assert_eq!(h.upstream.calls(), calls);

    // Deleting the version forgets its origin.
    let r = h
        .call(Method::DELETE, "/v1/modules/hashicorp/consul/aws/0.1.0")
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(h.pins.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn pin_refusals_change_nothing() {
    let broken = FetchedArchive::new(
        targz(&[("README.md", "no terraform here")]),
        UPSTREAM,
        "https://archives.example.com/x.tar.gz",
    );
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.2.0", broken),
        ProxyConfig::enabled(Vec::new(), patterns(&["hashicorp/vault"])),
    );
    let consul = addr("hashicorp/consul/aws");

    // Not in the upstream: 404 naming it.
    let r = h.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_message(&r),
        format!("{UPSTREAM} has no module hashicorp/consul/aws version 0.1.0")
    );

    // An archive that is not a module: 422 naming the source.
    let r = h.pin("hashicorp/consul/aws", "0.2.0").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = error_message(&r);
    assert!(
        message.contains("https://archives.example.com/x.tar.gz"),
        "{message}"
    );
    assert!(message.contains("no .tf or .tf.json file"), "{message}");

    // Denied: 403 before asking the upstream.
    let calls = h.upstream.calls();
    let r = h.pin("hashicorp/vault/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.upstream.calls(), calls);

    // Bad address or version: 400.
    assert_eq!(
        h.pin("hashicorp/consul/AWS", "0.1.0").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.pin("hashicorp/consul/aws", "v0.1.0").await.status(),
        StatusCode::BAD_REQUEST
    );

    // Only POST pins; only GET lists.
    assert_eq!(
        h.call(Method::GET, "/v1/pins/hashicorp/consul/aws/0.1.0")
            .await
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        h.call(Method::POST, "/v1/pins").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    assert!(h.storage.list_versions(&consul).await.unwrap().is_empty());
    assert!(h.pins.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn pinning_without_an_upstream_is_404() {
    let registry = Registry::new(
        Arc::new(InMemoryStorage::new()),
        Arc::new(InMemoryTokenStore::new()),
        RegistryConfig::new(SigningKey::generate()).with_master_token_hash(TokenHash::of(MASTER)),
    );
    let r = registry
        .handle(
            Request::post("/v1/pins/hashicorp/consul/aws/0.1.0")
                .header("authorization", format!("Bearer {MASTER}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("without an upstream"));
    let r = registry
        .handle(
            Request::get("/v1/pins")
                .header("authorization", format!("Bearer {MASTER}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_json(&r), serde_json::json!({ "pins": [] }));
}

/// Pinning one version makes the module local: its other upstream versions are
/// no longer offered until they are pinned too.
#[tokio::test]
async fn a_pinned_module_offers_only_pinned_versions() {
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0"))
            .with_archive("hashicorp/consul/aws", "0.2.0", consul_tarball("0.2.0")),
        proxy_on(),
    );
    assert_eq!(
        h.version_list("hashicorp/consul/aws").await,
        ["0.1.0", "0.2.0"]
    );
    assert_eq!(
        h.pin("hashicorp/consul/aws", "0.1.0").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(h.version_list("hashicorp/consul/aws").await, ["0.1.0"]);
    assert_eq!(
        h.download("hashicorp/consul/aws", "0.2.0").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.pin("hashicorp/consul/aws", "0.2.0").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.version_list("hashicorp/consul/aws").await,
        ["0.1.0", "0.2.0"]
    );
    let r = h.call(Method::GET, "/v1/pins").await;
    let versions: Vec<_> = body_json(&r)["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["0.1.0", "0.2.0"]);
}

fn through_registry() -> ProxyConfig {
    proxy_on().with_archives(UpstreamArchives::ThroughRegistry)
}

fn location_of(r: &Response<Bytes>) -> String {
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.body());
    r.headers()["x-terraform-get"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn through_registry_serves_the_flat_module_from_a_signed_url() {
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
    );
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    assert!(
        location.starts_with("/v1/archives/hashicorp/consul/aws/0.1.0.tar.gz?expires="),
        "{location}"
    );
    assert!(location.contains("&signature="), "{location}");
    // Not fetched yet, so no checksum to promise.
    assert!(!location.contains("checksum="), "{location}");

    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
    assert_eq!(r.headers()["content-type"], "application/gzip");
    assert_eq!(
        untar(r.body()),
        [(
            "main.tf".to_owned(),
            "output \"version\" { value = \"0.1.0\" }\n".to_owned()
        )]
    );
    // Nothing stored: the module stays an upstream one.
    assert!(h
        .storage
        .list_versions(&addr("hashicorp/consul/aws"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        h.version_list("hashicorp/consul/aws").await,
        ["0.1.0", "0.2.0"]
    );

    // Tampered: another version under the same signature.
    let r = h
        .fetch_location(&location.replacen("0.1.0.tar.gz", "0.2.0.tar.gz", 1))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A version the upstream does not have gets no URL.
    let calls = h.upstream.calls();
    let r = h.download("hashicorp/consul/aws", "9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(
        h.upstream.calls(),
        calls + 1,
        "one version lookup, no fetch"
    );
}

#[tokio::test]
async fn the_archive_cache_keeps_fetched_versions_without_making_the_module_local() {
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
    )
    .with_archive_cache();
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    let first = h.fetch_location(&location).await;
    assert_eq!(first.status(), StatusCode::OK, "{:?}", first.body());
    let cache = h.cache.clone().unwrap();
    let cached = cache
        .read_archive(&addr("hashicorp/consul/aws"), &ver("0.1.0"))
        .await
        .unwrap();
    assert_eq!(&cached.to_bytes().unwrap(), first.body());

    // Later downloads: a URL with the checksum, served from the cache.
    let calls = h.upstream.calls();
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    assert!(
        location.ends_with(&format!(
            "&checksum=sha256:{}",
            cached.info().sha256.to_hex()
        )),
        "{location}"
    );
    let again = h.fetch_location(&location).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.body(), first.body());
    assert_eq!(h.upstream.calls(), calls, "served from the cache alone");

    // The upstream still decides the versions: the cache is not a local module.
    assert_eq!(
        h.version_list("hashicorp/consul/aws").await,
        ["0.1.0", "0.2.0"]
    );
    assert!(h
        .storage
        .list_versions(&addr("hashicorp/consul/aws"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn through_registry_keeps_local_modules_local_and_refuses_bad_upstream_archives() {
    let broken = FetchedArchive::new(
        targz(&[("README.md", "no terraform here")]),
        UPSTREAM,
        "https://archives.example.com/broken.tar.gz",
    );
    let h = harness(
        FakeUpstream::default()
            .with("acme/vpc/aws", &["1.0.0", "99.0.0"])
            .with_archive("acme/vpc/aws", "99.0.0", consul_tarball("99.0.0"))
            .with("hashicorp/broken/aws", &["1.0.0"])
            .with_archive("hashicorp/broken/aws", "1.0.0", broken),
        through_registry(),
    )
    .with_archive_cache();

    // A signed URL for acme/vpc/aws 99.0.0, handed out before the private module existed.
    let location = location_of(&h.download("acme/vpc/aws", "99.0.0").await);
    h.publish_local("acme/vpc/aws", "1.0.0").await;
    let calls = h.upstream.calls();
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    let r = h.download("acme/vpc/aws", "99.0.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(
        h.upstream.calls(),
        calls,
        "a local module never asks the upstream"
    );

    // An upstream archive that is not a module: 502 naming the upstream, nothing cached.
    let location = location_of(&h.download("hashicorp/broken/aws", "1.0.0").await);
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{:?}", r.body());
    let message = error_message(&r);
    assert!(
        message.contains(UPSTREAM) && message.contains(".tf"),
        "{message}"
    );
    assert!(h
        .cache
        .as_ref()
        .unwrap()
        .list_versions(&addr("hashicorp/broken/aws"))
        .await
        .unwrap()
        .is_empty());
}

/// A `.zip` holding `main.tf` at its root.
fn zip_module() -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("main.tf", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"# zipped module\n").unwrap();
    Bytes::from(w.finish().unwrap().into_inner())
}

#[tokio::test]
async fn through_registry_refuses_an_upstream_zip_with_502_naming_the_upstream() {
    let zipped = FetchedArchive::new(zip_module(), UPSTREAM, "https://archives.example.com/m.zip");
    let h = harness(
        FakeUpstream::default()
            .with("hashicorp/zipped/aws", &["1.0.0"])
            .with_archive("hashicorp/zipped/aws", "1.0.0", zipped),
        through_registry(),
    )
    .with_archive_cache();
    let location = location_of(&h.download("hashicorp/zipped/aws", "1.0.0").await);
    assert!(location.contains("/1.0.0.tar.gz?"), "{location}");
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{:?}", r.body());
    let message = error_message(&r);
    assert!(
        message.contains(UPSTREAM) && message.contains(".zip"),
        "{message}"
    );
    assert!(h
        .cache
        .as_ref()
        .unwrap()
        .list_versions(&addr("hashicorp/zipped/aws"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_failing_archive_cache_falls_back_to_the_upstream() {
    let unavailable = || registry_core::StorageError::Unavailable {
        backend: "cache",
        message: "down".into(),
    };
    let mut cache = registry_core::MockStorage::new();
    cache
        .expect_locate_archive()
        .returning(move |_, _| Err(unavailable()));
    cache
        .expect_read_archive()
        .returning(move |_, _| Err(unavailable()));
    cache
        .expect_publish()
        .times(1)
        .returning(move |_, _, _| Err(unavailable()));
    let mut h = harness(
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
    );
    h.registry = h.registry.with_archive_cache(Arc::new(cache));
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    assert!(!location.contains("checksum="), "{location}");
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
    assert_eq!(
        untar(r.body()),
        [(
            "main.tf".to_owned(),
            "output \"version\" { value = \"0.1.0\" }\n".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_signed_archive_url_the_upstream_cannot_serve_is_404_naming_it() {
    // The upstream lists 0.1.0 but has no archive for it.
    let h = harness(
        FakeUpstream::default().with("hashicorp/consul/aws", &["0.1.0"]),
        through_registry(),
    );
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    let message = error_message(&r);
    assert!(
        message.contains(UPSTREAM)
            && message.contains("hashicorp/consul/aws")
            && message.contains("0.1.0"),
        "{message}"
    );
}

#[tokio::test]
async fn a_signed_archive_url_is_refused_once_the_lists_forbid_the_module() {
    let upstream = || {
        FakeUpstream::default()
            .with("hashicorp/consul/aws", &["0.1.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0"))
    };
    let before = harness(upstream(), through_registry());
    let location = location_of(&before.download("hashicorp/consul/aws", "0.1.0").await);
    // The same signing key, but the operator has denied the namespace since.
    let after = harness(
        upstream(),
        ProxyConfig::enabled(Vec::new(), patterns(&["hashicorp"]))
            .with_archives(UpstreamArchives::ThroughRegistry),
    );
    let r = after.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(after.upstream.calls(), 0, "the upstream was asked");
    // Where the lists allow it, the same URL serves the module.
    assert_eq!(
        before.fetch_location(&location).await.status(),
        StatusCode::OK
    );
}
