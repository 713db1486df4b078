//! Upstream proxying and pinning through `Registry::handle`, on the in-memory
//! fakes and an in-memory upstream with a fixed catalogue (no sockets).

use std::io::Read as _;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use registry_core::testing::{
    error_message, json, ArchiveBuilder, InMemoryUpstream, TestRegistry, TestRegistryBuilder,
    UpstreamCall,
};
use registry_core::version::parse_version;
use registry_core::{
    FetchedArchive, ModuleAddress, ModulePattern, ProxyConfig, UpstreamError, Version,
};

const UPSTREAM: &str = "registry.example.com";

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

/// The upstream of these tests, with nothing in it yet.
fn upstream() -> InMemoryUpstream {
    InMemoryUpstream::new(UPSTREAM)
}

/// A GitHub-style tarball of `hashicorp/terraform-aws-consul` at `v{version}`,
/// with the module in `modules/cluster`.
fn consul_tarball(version: &str) -> FetchedArchive {
    consul_tarball_with(
        version,
        &[(
            "main.tf",
            format!("output \"version\" {{ value = \"{version}\" }}\n"),
        )],
    )
}

/// [`consul_tarball`] whose module (at `modules/cluster`) holds `files`.
fn consul_tarball_with(version: &str, files: &[(&str, String)]) -> FetchedArchive {
    let builder = ArchiveBuilder::new()
        .top_dir(&format!("hashicorp-terraform-aws-consul-{version}"))
        .file("main.tf", "# root module\n")
        .dir("modules/")
        .dir("modules/cluster/");
    let bytes = files
        .iter()
        .fold(builder, |b, (path, contents)| {
            b.file(&format!("modules/cluster/{path}"), contents.clone())
        })
        .tar_gz();
    FetchedArchive::new(
        bytes,
        UPSTREAM,
        format!("git::https://github.com/hashicorp/terraform-aws-consul//modules/cluster?ref=v{version}"),
    )
    .with_strip_top_dir(true)
    .with_subdir("modules/cluster")
    .with_git_ref(format!("v{version}"))
}

/// A registry proxying and pinning from an in-memory upstream.
struct Harness {
    registry: TestRegistry,
    upstream: Arc<InMemoryUpstream>,
}

impl Deref for Harness {
    type Target = TestRegistry;

    fn deref(&self) -> &TestRegistry {
        &self.registry
    }
}

/// What a harness does with its upstream, and which modules it may fetch.
#[derive(Debug, Clone, Default)]
struct Setup {
    /// Proxy modules with no local version (else pin only).
    proxy: bool,
    /// Serve proxied archives through the registry (needs `proxy`).
    through_registry: bool,
    lists: ProxyConfig,
}

impl Setup {
    /// Serves proxied archives through the registry.
    fn through_registry(self) -> Self {
        Self {
            through_registry: true,
            ..self
        }
    }
}

/// Pinning only: nothing is served live from the upstream.
fn pin_only() -> Setup {
    Setup::default()
}

/// Proxying (and pinning) every module.
fn proxy_on() -> Setup {
    proxy_with(Vec::new(), Vec::new())
}

/// Proxying (and pinning) what these lists allow.
fn proxy_with(allow: Vec<ModulePattern>, deny: Vec<ModulePattern>) -> Setup {
    Setup {
        proxy: true,
        through_registry: false,
        lists: ProxyConfig::new(allow, deny),
    }
}

fn harness(upstream: InMemoryUpstream, setup: Setup) -> Harness {
    harness_with(upstream, setup, |b| b)
}

/// [`harness`] with more set up, e.g. an archive cache.
fn harness_with(
    upstream: InMemoryUpstream,
    setup: Setup,
    more: impl FnOnce(TestRegistryBuilder) -> TestRegistryBuilder,
) -> Harness {
    let upstream = Arc::new(upstream);
    let mut builder = TestRegistry::builder()
        .config(|c| c.with_proxy(setup.lists))
        .upstream(upstream.clone());
    if setup.through_registry {
        builder = builder.through_registry();
    } else if setup.proxy {
        builder = builder.proxy();
    }
    Harness {
        registry: more(builder).build(),
        upstream,
    }
}

/// [`harness`] with an in-memory archive cache.
fn cached_harness(upstream: InMemoryUpstream, setup: Setup) -> Harness {
    harness_with(upstream, setup, |b| {
        b.archive_cache(Arc::new(registry_core::memory::InMemoryStorage::new()))
    })
}

fn patterns(list: &[&str]) -> Vec<ModulePattern> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

impl Harness {
    /// How often the upstream was asked anything.
    fn calls(&self) -> usize {
        self.upstream.counts().total()
    }

    /// GET of a download's `X-Terraform-Get` (a path of this registry), without a token.
    async fn fetch_location(&self, location: &str) -> Response<Bytes> {
        self.get_as(location, None).await
    }

    /// The answer to listing `module`'s versions.
    async fn listing(&self, module: &str) -> Response<Bytes> {
        self.get(&format!("/v1/modules/{module}/versions")).await
    }

    async fn publish_local(&self, module: &str, version: &str) {
        let archive = ArchiveBuilder::module("# private\n").tar_gz();
        let r = self.publish(module, version, archive).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    }
}

#[tokio::test]
async fn proxying_is_off_by_default() {
    let h = harness(
        upstream().with_versions("hashicorp/consul/aws", &["0.1.0"]),
        pin_only(),
    );
    let r = h.listing("hashicorp/consul/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("not found in this registry"));
    let r = h.download("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.calls(), 0, "the upstream is never asked");
}

#[tokio::test]
async fn unknown_modules_are_proxied_sorted_with_the_upstream_location() {
    let h = harness(
        upstream().with_versions("hashicorp/consul/aws", &["0.10.0", "0.2.0", "0.1.0-beta"]),
        proxy_on(),
    );
    assert_eq!(
        h.versions("hashicorp/consul/aws").await,
        ["0.1.0-beta", "0.2.0", "0.10.0"]
    );
    let r = h.download("hashicorp/consul/aws", "0.2.0").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.body());
    assert_eq!(
        r.headers()["x-terraform-get"],
        "git::https://github.com/hashicorp/terraform-aws-consul?ref=v0.2.0"
    );
    // Upstream 404s are the registry's own 404s.
    let r = h.listing("hashicorp/nothing/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("module hashicorp/nothing/aws not found"));
    let r = h.download("hashicorp/consul/aws", "9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn allow_and_deny_lists_decide_what_is_proxied() {
    let upstream = || {
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0"])
            .with_versions("hashicorp/vault/aws", &["0.1.0"])
            .with_versions("cloudposse/label/null", &["0.1.0"])
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
        let h = harness(upstream(), proxy_with(patterns(allow), patterns(deny)));
        for r in [
            h.listing(module).await,
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
            assert_eq!(h.calls(), 0, "{module}: refused before asking");
            assert!(h
                .storage()
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
        upstream().with_versions("acme/vpc/aws", &["1.0.0", "99.0.0"]),
        proxy_on(),
    );
    h.publish_local("acme/vpc/aws", "1.0.0").await;
    assert_eq!(h.versions("acme/vpc/aws").await, ["1.0.0"]);
    let r = h.download("acme/vpc/aws", "99.0.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("has no version 99.0.0 in this registry"));
    let local = h.download("acme/vpc/aws", "1.0.0").await;
    let location = local.headers()["x-terraform-get"].to_str().unwrap();
    assert!(
        location.starts_with("/v1/archives/acme/vpc/aws/1.0.0.tar.gz?"),
        "{location}"
    );
    assert_eq!(h.calls(), 0, "the upstream is never asked");
    // Deleting the last local version hands the address back to the proxy.
    let r = h.delete("/v1/modules/acme/vpc/aws/1.0.0").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.versions("acme/vpc/aws").await, ["1.0.0", "99.0.0"]);
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
        let upstream = Arc::new(upstream());
        upstream
            .faults()
            .fail_once(UpstreamCall::ListVersions, error);
        let registry = TestRegistry::builder()
            .config(|c| c.with_anonymous_reads(true))
            .upstream(upstream.clone())
            .proxy()
            .build();
        let r = registry
            .get_as("/v1/modules/hashicorp/consul/aws/versions", None)
            .await;
        assert_eq!(upstream.counts().total(), 1, "asked once");
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
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        // Pinning works with live proxying off: vetted modules only.
        pin_only(),
    );
    let r = h.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
    let pin = json(&r);
    assert_eq!(pin["version"], "0.1.0");
    assert_eq!(pin["upstream"], UPSTREAM);
    assert_eq!(pin["ref"], "v0.1.0");
    assert_eq!(
        pin["source"],
        "git::https://github.com/hashicorp/terraform-aws-consul//modules/cluster?ref=v0.1.0"
    );

    // Stored flat: the subdirectory's files at the root, nothing else.
    let stored = h
        .storage()
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
    let r = h.get("/v1/pins").await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = json(&r);
    assert_eq!(list["pins"].as_array().unwrap().len(), 1);
    assert_eq!(list["pins"][0]["source"], pin["source"]);
    assert_eq!(list["pins"][0]["namespace"], "hashicorp");
    assert_eq!(list["pins"][0]["pinned_at"], pin["pinned_at"]);

    // From now on the module is local: served from storage, the upstream not asked.
    let calls = h.calls();
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0"]);
    let r = h.download("hashicorp/consul/aws", "0.1.0").await;
    let location = r.headers()["x-terraform-get"].to_str().unwrap();
    assert!(location.starts_with("/v1/archives/hashicorp/consul/aws/0.1.0.tar.gz?"));
    assert_eq!(h.calls(), calls);

    // A second pin of the version is a conflict, decided before fetching.
    let r = h.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(error_message(&r).contains("already exists"));
    assert_eq!(h.calls(), calls);

    // Deleting the version forgets its origin.
    let r = h.delete("/v1/modules/hashicorp/consul/aws/0.1.0").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(h.pins().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn pin_refusals_change_nothing() {
    let broken = FetchedArchive::new(
        ArchiveBuilder::new()
            .file("README.md", "no terraform here")
            .tar_gz(),
        UPSTREAM,
        "https://archives.example.com/x.tar.gz",
    );
    let h = harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.2.0", broken),
        proxy_with(Vec::new(), patterns(&["hashicorp/vault"])),
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
    let calls = h.calls();
    let r = h.pin("hashicorp/vault/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.calls(), calls);

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
        h.get("/v1/pins/hashicorp/consul/aws/0.1.0").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        h.post("/v1/pins", "").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    assert!(h.storage().list_versions(&consul).await.unwrap().is_empty());
    assert!(h.pins().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn pinning_without_an_upstream_is_404() {
    let registry = TestRegistry::new();
    let r = registry.pin("hashicorp/consul/aws", "0.1.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(error_message(&r).contains("without an upstream"));
    let r = registry.get("/v1/pins").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(&r), serde_json::json!({ "pins": [] }));
}

/// Pinning one version makes the module local: its other upstream versions are
/// no longer offered until they are pinned too.
#[tokio::test]
async fn a_pinned_module_offers_only_pinned_versions() {
    let h = harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0"))
            .with_archive("hashicorp/consul/aws", "0.2.0", consul_tarball("0.2.0")),
        proxy_on(),
    );
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0", "0.2.0"]);
    assert_eq!(
        h.pin("hashicorp/consul/aws", "0.1.0").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0"]);
    assert_eq!(
        h.download("hashicorp/consul/aws", "0.2.0").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.pin("hashicorp/consul/aws", "0.2.0").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0", "0.2.0"]);
    let r = h.get("/v1/pins").await;
    let versions: Vec<_> = json(&r)["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["0.1.0", "0.2.0"]);
}

fn through_registry() -> Setup {
    proxy_on().through_registry()
}

fn location_of(r: &Response<Bytes>) -> String {
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.body());
    r.headers()["x-terraform-get"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn through_registry_serves_the_flat_module_from_a_signed_url() {
    let h = harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
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
        .storage()
        .list_versions(&addr("hashicorp/consul/aws"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0", "0.2.0"]);

    // Tampered: another version under the same signature.
    let r = h
        .fetch_location(&location.replacen("0.1.0.tar.gz", "0.2.0.tar.gz", 1))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A version the upstream does not have gets no URL.
    let calls = h.calls();
    let r = h.download("hashicorp/consul/aws", "9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(h.calls(), calls + 1, "one version lookup, no fetch");
}

#[tokio::test]
async fn the_archive_cache_keeps_fetched_versions_without_making_the_module_local() {
    let h = cached_harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
    );
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    let first = h.fetch_location(&location).await;
    assert_eq!(first.status(), StatusCode::OK, "{:?}", first.body());
    let cache = h.archive_cache().unwrap().clone();
    let cached = cache
        .read_archive(&addr("hashicorp/consul/aws"), &ver("0.1.0"))
        .await
        .unwrap();
    assert_eq!(&cached.to_bytes().unwrap(), first.body());

    // Later downloads: a URL with the checksum, served from the cache.
    let calls = h.calls();
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
    assert_eq!(h.calls(), calls, "served from the cache alone");

    // The upstream still decides the versions: the cache is not a local module.
    assert_eq!(h.versions("hashicorp/consul/aws").await, ["0.1.0", "0.2.0"]);
    assert!(h
        .storage()
        .list_versions(&addr("hashicorp/consul/aws"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn through_registry_keeps_local_modules_local_and_refuses_bad_upstream_archives() {
    let broken = FetchedArchive::new(
        ArchiveBuilder::new()
            .file("README.md", "no terraform here")
            .tar_gz(),
        UPSTREAM,
        "https://archives.example.com/broken.tar.gz",
    );
    let h = cached_harness(
        upstream()
            .with_versions("acme/vpc/aws", &["1.0.0", "99.0.0"])
            .with_archive("acme/vpc/aws", "99.0.0", consul_tarball("99.0.0"))
            .with_versions("hashicorp/broken/aws", &["1.0.0"])
            .with_archive("hashicorp/broken/aws", "1.0.0", broken),
        through_registry(),
    );

    // A signed URL for acme/vpc/aws 99.0.0, handed out before the private module existed.
    let location = location_of(&h.download("acme/vpc/aws", "99.0.0").await);
    h.publish_local("acme/vpc/aws", "1.0.0").await;
    let calls = h.calls();
    let r = h.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    let r = h.download("acme/vpc/aws", "99.0.0").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(h.calls(), calls, "a local module never asks the upstream");

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
        .archive_cache()
        .unwrap()
        .list_versions(&addr("hashicorp/broken/aws"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn through_registry_refuses_an_upstream_zip_with_502_naming_the_upstream() {
    let zipped = FetchedArchive::new(
        ArchiveBuilder::new()
            .file("main.tf", "# zipped module\n")
            .zip(),
        UPSTREAM,
        "https://archives.example.com/m.zip",
    );
    let h = cached_harness(
        upstream()
            .with_versions("hashicorp/zipped/aws", &["1.0.0"])
            .with_archive("hashicorp/zipped/aws", "1.0.0", zipped),
        through_registry(),
    );
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
        .archive_cache()
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
    let h = harness_with(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
        |b| b.archive_cache(Arc::new(cache)),
    );
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
        upstream().with_versions("hashicorp/consul/aws", &["0.1.0"]),
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
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0"))
    };
    let before = harness(upstream(), through_registry());
    let location = location_of(&before.download("hashicorp/consul/aws", "0.1.0").await);
    // The same signing key, but the operator has denied the namespace since.
    let after = harness(
        upstream(),
        proxy_with(Vec::new(), patterns(&["hashicorp"])).through_registry(),
    );
    let r = after.fetch_location(&location).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{:?}", r.body());
    assert_eq!(after.calls(), 0, "the upstream was asked");
    // Where the lists allow it, the same URL serves the module.
    assert_eq!(
        before.fetch_location(&location).await.status(),
        StatusCode::OK
    );
}

/// [`consul_tarball`] with an input, an output and a README.
fn described_tarball(version: &str) -> FetchedArchive {
    consul_tarball_with(
        version,
        &[
            (
                "main.tf",
                format!(
                    "variable \"size\" {{\n  type        = number\n  default     = 3\n  description = \"Servers.\"\n}}\n\noutput \"version\" {{ value = \"{version}\" }}\n"
                ),
            ),
            ("README.md", "# Consul\n\nA Consul cluster.\n".to_owned()),
        ],
    )
}

#[tokio::test]
async fn proxied_modules_through_the_archive_cache_are_described_from_their_archive_once() {
    let h = cached_harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0", "0.3.0-rc.1"])
            .with_archive("hashicorp/consul/aws", "0.1.0", described_tarball("0.1.0"))
            .with_archive("hashicorp/consul/aws", "0.2.0", described_tarball("0.2.0")),
        through_registry(),
    );
    let module = addr("hashicorp/consul/aws");
    let cache = h.archive_cache().unwrap().clone();

    // The latest release: its archive fetched once, its document derived and
    // kept in the cache beside it.
    let r = h.get("/v1/modules/hashicorp/consul/aws").await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.body());
    let details = json(&r);
    assert_eq!(details["id"], "hashicorp/consul/aws/0.2.0");
    assert_eq!(
        details["versions"],
        serde_json::json!(["0.1.0", "0.2.0", "0.3.0-rc.1"])
    );
    assert_eq!(details["description"], "A Consul cluster.");
    assert_eq!(details["published_at"], serde_json::Value::Null);
    assert_eq!(details["root"]["name"], "consul");
    assert_eq!(details["root"]["inputs"][0]["name"], "size");
    assert_eq!(details["root"]["inputs"][0]["default"], "3");
    assert_eq!(details["root"]["outputs"][0]["name"], "version");
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 1);
    assert!(cache.read_metadata(&module, &ver("0.2.0")).await.is_ok());
    assert!(cache.read_archive(&module, &ver("0.2.0")).await.is_ok());

    // Again: from the cache, no fetch; the module is still not local.
    let again = h.get("/v1/modules/hashicorp/consul/aws/0.2.0").await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(&again), details);
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 1);
    assert!(h.storage().list_versions(&module).await.unwrap().is_empty());

    // A version Terraform downloads through the registry gets its document
    // when it is cached: its details need no fetch.
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    assert_eq!(h.fetch_location(&location).await.status(), StatusCode::OK);
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 2);
    assert!(cache.read_metadata(&module, &ver("0.1.0")).await.is_ok());
    let r = h.get("/v1/modules/hashicorp/consul/aws/0.1.0").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(&r)["root"]["outputs"][0]["name"], "version");
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 2);

    // An unreadable cached document is derived again from the cached
    // archive, fetching nothing, and replaced.
    cache
        .write_metadata(&module, &ver("0.2.0"), Bytes::from_static(b"{"))
        .await
        .unwrap();
    let r = h.get("/v1/modules/hashicorp/consul/aws/0.2.0").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(&r), details);
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 2);
    let rewritten = cache.read_metadata(&module, &ver("0.2.0")).await.unwrap();
    assert!(rewritten.starts_with(b"{\"schema\""), "{rewritten:?}");

    // A version the upstream does not have, and a module it does not have.
    let r = h.get("/v1/modules/hashicorp/consul/aws/9.9.9").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        error_message(&r).contains("no version 9.9.9"),
        "{}",
        error_message(&r)
    );
    let r = h.get("/v1/modules/hashicorp/nomad/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn proxied_modules_without_archives_through_the_registry_have_no_details_here() {
    let h = harness(
        upstream().with_versions("hashicorp/consul/aws", &["0.1.0"]),
        proxy_on(),
    );
    let r = h.get("/v1/modules/hashicorp/consul/aws").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        error_message(&r).contains("pin the version (POST /v1/pins/hashicorp/consul/aws/VERSION)"),
        "{}",
        error_message(&r)
    );
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 0);
}

/// Terraform's downloader sends `HEAD` before `GET` to an archive URL: the
/// `HEAD` is answered without fetching from the upstream, so an install
/// costs one upstream fetch; with the archive cache, a cached archive's
/// `HEAD` carries its size and digest.
#[tokio::test]
async fn head_of_an_archive_url_fetches_nothing_upstream() {
    use registry_core::testing::UpstreamCall;
    let h = cached_harness(
        upstream()
            .with_versions("hashicorp/consul/aws", &["0.1.0"])
            .with_archive("hashicorp/consul/aws", "0.1.0", consul_tarball("0.1.0")),
        through_registry(),
    );
    let location = location_of(&h.download("hashicorp/consul/aws", "0.1.0").await);
    let h = &h;
    let head = |location: String| async move {
        h.call(http::Method::HEAD, &location, None, Bytes::new())
            .await
    };
    let cold = head(location.clone()).await;
    assert_eq!(cold.status(), StatusCode::OK, "{:?}", cold.body());
    assert_eq!(cold.headers()["content-type"], "application/gzip");
    assert!(cold.body().is_empty());
    assert!(
        !cold.headers().contains_key("content-length"),
        "the size is unknown before the fetch, so none is claimed: {:?}",
        cold.headers()
    );
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 0);

    let got = h.fetch_location(&location).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 1);

    // Cached now: HEAD says its size and digest, still without the upstream.
    let warm = head(location.clone()).await;
    assert_eq!(warm.status(), StatusCode::OK);
    assert_eq!(
        warm.headers()["content-length"],
        got.body().len().to_string().as_str()
    );
    assert_eq!(warm.headers()["etag"], got.headers()["etag"]);
    assert_eq!(h.upstream.counts().calls(UpstreamCall::FetchArchive), 1);

    // A tampered URL is refused on HEAD as on GET; a .zip URL is not served.
    let tampered = head(location.replacen("0.1.0.tar.gz", "0.2.0.tar.gz", 1)).await;
    assert_eq!(tampered.status(), StatusCode::FORBIDDEN);
}

/// A stored archive's `HEAD` comes from storage's location (size, digest),
/// not from reading it.
#[tokio::test]
async fn head_of_a_stored_archive_answers_its_size_without_reading_it() {
    use registry_core::testing::{CountingStorage, StorageCall};
    let storage = Arc::new(CountingStorage::wrap(
        registry_core::memory::InMemoryStorage::new(),
    ));
    let h = TestRegistry::builder()
        .storage(storage.clone() as Arc<dyn registry_core::Storage>)
        .through_registry()
        .upstream(Arc::new(upstream()))
        .build();
    let archive = ArchiveBuilder::module("# stored\n").tar_gz();
    assert_eq!(
        h.put(
            "/v1/modules/acme/vpc/aws/1.0.0",
            archive.clone(),
            Some(h.master_token())
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let location = h.download_url("acme/vpc/aws", "1.0.0").await;
    let reads = storage.counts().calls(StorageCall::ReadArchive);
    let head = h
        .call(http::Method::HEAD, &location, None, Bytes::new())
        .await;
    assert_eq!(head.status(), StatusCode::OK, "{location}");
    assert_eq!(
        head.headers()["content-length"],
        archive.len().to_string().as_str()
    );
    assert_eq!(storage.counts().calls(StorageCall::ReadArchive), reads);
    let get = h.get_as(&location, None).await;
    assert_eq!(get.body().len(), archive.len());
    assert_eq!(head.headers()["etag"], get.headers()["etag"]);
}
