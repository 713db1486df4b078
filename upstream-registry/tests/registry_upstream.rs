//! `RegistryUpstream` against the in-process `FakeRegistry`: protocol,
//! caching, retries, credentials and pinning. No internet.

use std::error::Error as StdError;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use registry_core::archive::extract_module;
use registry_core::version::parse_version;
use registry_core::{ModuleAddress, Upstream, UpstreamError, Version};
use sha2::{Digest, Sha256};
use upstream_registry::fake::{tar_gz, Failure, FakeRegistry, Location};
use upstream_registry::{RegistryUpstream, RegistryUpstreamConfig};

const CONSUL: &str = "hashicorp/consul/aws";
const VERSIONS_PATH: &str = "/v1/modules/hashicorp/consul/aws/versions";
const DOWNLOAD_PATH: &str = "/v1/modules/hashicorp/consul/aws/0.1.0/download";

fn consul() -> ModuleAddress {
    ModuleAddress::new("hashicorp", "consul", "aws").unwrap()
}

fn v(s: &str) -> Version {
    parse_version(s).unwrap()
}

fn upstream(config: RegistryUpstreamConfig) -> RegistryUpstream {
    RegistryUpstream::new(config).unwrap()
}

/// The error and all its sources, for assertions on messages.
fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(" | ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn sorted(mut versions: Vec<Version>) -> Vec<String> {
    versions.sort();
    versions.iter().map(ToString::to_string).collect()
}

/// The file paths in a `.tar.gz`.
fn tar_files(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| e.path().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn tar_file(bytes: &[u8], name: &str) -> String {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == name {
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            return s;
        }
    }
    panic!("{name} not in the archive");
}

fn module_tgz(text: &str) -> Bytes {
    tar_gz(&[("main.tf", text.as_bytes())])
}

// ---------------------------------------------------------------- protocol

#[tokio::test]
async fn lists_versions_skipping_non_semver() {
    let fake = FakeRegistry::start().await;
    fake.add_module(
        CONSUL,
        &["0.2.0", "0.1.0", "v1.0.0", "1.0", "latest", "1.0.0-rc.1"],
    );
    let up = upstream(fake.config());
    let versions = up.list_versions(&consul()).await.unwrap();
    assert_eq!(sorted(versions), ["0.1.0", "0.2.0", "1.0.0-rc.1"]);
    assert_eq!(
        up.name(),
        format!("127.0.0.1:{}", fake.url().port().unwrap())
    );
}

#[tokio::test]
async fn relative_locations_resolve_against_the_download_url() {
    let fake = FakeRegistry::start().await;
    let up = upstream(fake.config());
    let root = fake.url();
    fake.set_location(
        CONSUL,
        "0.1.0",
        Location::Relative("./../../../../../../archives/a.tar.gz".into()),
    );
    fake.set_location(
        CONSUL,
        "0.2.0",
        Location::Relative("/archives/b.tgz?archive=tgz".into()),
    );
    fake.set_location(CONSUL, "0.3.0", Location::Relative("../x.zip".into()));
    assert_eq!(
        up.download_location(&consul(), &v("0.1.0")).await.unwrap(),
        format!("{root}archives/a.tar.gz")
    );
    assert_eq!(
        up.download_location(&consul(), &v("0.2.0")).await.unwrap(),
        format!("{root}archives/b.tgz?archive=tgz")
    );
    assert_eq!(
        up.download_location(&consul(), &v("0.3.0")).await.unwrap(),
        format!("{root}v1/modules/hashicorp/consul/aws/x.zip")
    );
}

#[tokio::test]
async fn absolute_and_go_getter_locations_are_returned_unchanged() {
    let fake = FakeRegistry::start().await;
    let up = upstream(fake.config());
    fake.set_location(
        CONSUL,
        "0.1.0",
        Location::Absolute("/archives/a.tar.gz".into()),
    );
    fake.set_location(
        CONSUL,
        "0.2.0",
        Location::Raw("git::https://github.com/o/r?ref=v0.2.0".into()),
    );
    assert_eq!(
        up.download_location(&consul(), &v("0.1.0")).await.unwrap(),
        format!("{}archives/a.tar.gz", fake.url())
    );
    assert_eq!(
        up.download_location(&consul(), &v("0.2.0")).await.unwrap(),
        "git::https://github.com/o/r?ref=v0.2.0"
    );
}

#[tokio::test]
async fn location_from_a_json_body() {
    let fake = FakeRegistry::start().await;
    let up = upstream(fake.config());
    fake.set_location(CONSUL, "0.1.0", Location::Body("/archives/a.zip".into()));
    assert_eq!(
        up.download_location(&consul(), &v("0.1.0")).await.unwrap(),
        format!("{}archives/a.zip", fake.url())
    );
}

#[tokio::test]
async fn discovery_with_an_absolute_modules_v1() {
    let fake = FakeRegistry::start().await;
    fake.set_modules_v1(Some(&format!("{}custom/api/v1", fake.url())));
    fake.add_module(CONSUL, &["1.0.0"]);
    let up = upstream(fake.config());
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["1.0.0"]
    );
    assert_eq!(fake.requests("/.well-known/terraform.json"), 1);
    assert_eq!(
        fake.requests("/custom/api/v1/hashicorp/consul/aws/versions"),
        1
    );
    assert_eq!(fake.requests("/v1/modules/"), 0);
    // Discovery is cached too.
    fake.set_location(
        CONSUL,
        "1.0.0",
        Location::Relative("/archives/a.tgz".into()),
    );
    up.download_location(&consul(), &v("1.0.0")).await.unwrap();
    assert_eq!(fake.requests("/.well-known/terraform.json"), 1);
}

#[tokio::test]
async fn a_host_without_modules_v1_offers_no_module_registry() {
    let fake = FakeRegistry::start().await;
    fake.set_modules_v1(None);
    let up = upstream(fake.config());
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(text.contains("offers no module registry"), "{text}");
    assert!(text.contains(up.name()), "{text}");
    // A failed discovery is not cached.
    fake.set_modules_v1(Some("/v1/modules/"));
    fake.add_module(CONSUL, &["1.0.0"]);
    up.list_versions(&consul()).await.unwrap();
    assert_eq!(fake.requests("/.well-known/terraform.json"), 2);
}

#[tokio::test]
async fn not_found_for_unknown_modules_and_versions() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let up = upstream(fake.config());
    let other = ModuleAddress::new("acme", "nope", "aws").unwrap();
    let e = up.list_versions(&other).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::NotFound { upstream } if upstream == up.name()),
        "{e:?}"
    );
    let e = up
        .download_location(&consul(), &v("9.9.9"))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    let e = up.fetch_archive(&consul(), &v("9.9.9")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn malformed_json_is_other() {
    let fake = FakeRegistry::start().await;
    fake.add_archive(
        "/bad/hashicorp/consul/aws/versions",
        Bytes::from_static(b"{not json"),
    );
    fake.set_modules_v1(Some("/bad/"));
    let up = upstream(fake.config());
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    assert!(chain(&e).contains("malformed JSON"), "{}", chain(&e));
}

// ---------------------------------------------------------------- caching

#[tokio::test]
async fn second_calls_are_cached() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.set_location(
        CONSUL,
        "0.1.0",
        Location::Relative("/archives/a.tgz".into()),
    );
    let up = upstream(fake.config());
    for _ in 0..3 {
        up.list_versions(&consul()).await.unwrap();
        up.download_location(&consul(), &v("0.1.0")).await.unwrap();
    }
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
    assert_eq!(fake.requests(DOWNLOAD_PATH), 1);
    assert_eq!(fake.requests("/.well-known/"), 1);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let up = upstream(fake.config().with_versions_ttl(Duration::from_millis(150)));
    up.list_versions(&consul()).await.unwrap();
    up.list_versions(&consul()).await.unwrap();
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
    fake.add_module(CONSUL, &["0.2.0"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let versions = up.list_versions(&consul()).await.unwrap();
    assert_eq!(sorted(versions), ["0.1.0", "0.2.0"]);
    assert_eq!(fake.requests(VERSIONS_PATH), 2);
}

#[tokio::test]
async fn not_found_is_cached_for_its_own_ttl() {
    let fake = FakeRegistry::start().await;
    let up = upstream(
        fake.config()
            .with_not_found_ttl(Duration::from_millis(150))
            .with_versions_ttl(Duration::from_secs(60)),
    );
    for _ in 0..3 {
        let e = up.list_versions(&consul()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    }
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
    fake.add_module(CONSUL, &["0.1.0"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
    assert_eq!(fake.requests(VERSIONS_PATH), 2);
}

#[tokio::test]
async fn concurrent_misses_make_one_request() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0", "0.2.0"]);
    // The upstream is slow, so all callers overlap with the first request.
    fake.fail_next(
        "/.well-known/",
        Failure::Delay(Duration::from_millis(200)),
        1,
    );
    fake.fail_next(VERSIONS_PATH, Failure::Delay(Duration::from_millis(300)), 1);
    let up = Arc::new(upstream(fake.config()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let up = up.clone();
        tasks.spawn(async move { up.list_versions(&consul()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(sorted(result.unwrap().unwrap()), ["0.1.0", "0.2.0"]);
    }
    assert_eq!(fake.requests("/.well-known/"), 1);
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
}

#[tokio::test]
async fn concurrent_misses_share_a_failure_too() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(VERSIONS_PATH, Failure::Status(500), 3);
    let up = Arc::new(upstream(
        fake.config().with_backoff(Duration::from_millis(100)),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let up = up.clone();
        tasks.spawn(async move { up.list_versions(&consul()).await });
    }
    while let Some(result) = tasks.join_next().await {
        let e = result.unwrap().unwrap_err();
        assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    }
    assert_eq!(fake.requests(VERSIONS_PATH), 3);
    // The failure was not cached.
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let up = upstream(fake.config());
    up.list_versions(&ModuleAddress::new("warm", "up", "aws").unwrap())
        .await
        .unwrap_err();
    fake.fail_next(
        VERSIONS_PATH,
        Failure::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let start = Instant::now();
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950),
        "retried after {elapsed:?}, not after Retry-After: 1"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(fake.requests(VERSIONS_PATH), 2);
}

#[tokio::test]
async fn a_long_retry_after_is_passed_on_without_waiting() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(
        VERSIONS_PATH,
        Failure::TooManyRequests {
            retry_after_secs: 3600,
        },
        1,
    );
    let up = upstream(fake.config());
    let start = Instant::now();
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let UpstreamError::Unavailable {
        upstream,
        retry_after,
        message,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(upstream, up.name());
    assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
    assert!(message.contains("429"), "{message}");
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
}

#[tokio::test]
async fn service_unavailable_with_an_http_date() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let later = std::time::SystemTime::now() + Duration::from_secs(7200);
    fake.fail_next(
        VERSIONS_PATH,
        Failure::RetryAfter {
            status: 503,
            retry_after: httpdate::fmt_http_date(later),
        },
        1,
    );
    let up = upstream(fake.config());
    let e = up.list_versions(&consul()).await.unwrap_err();
    let UpstreamError::Unavailable { retry_after, .. } = e else {
        panic!("{e:?}")
    };
    let after = retry_after.unwrap();
    assert!(
        after > Duration::from_secs(7000) && after <= Duration::from_secs(7200),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_hanging_upstream_times_out_once_without_retrying() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let up = upstream(fake.config().with_timeout(Duration::from_secs(1)));
    up.list_versions(&ModuleAddress::new("warm", "up", "aws").unwrap())
        .await
        .unwrap_err();
    fake.fail_next(VERSIONS_PATH, Failure::Hang, 5);
    let start = Instant::now();
    let e = up.list_versions(&consul()).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(&e, UpstreamError::Timeout { upstream } if upstream == up.name()),
        "{e:?}"
    );
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_other() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(VERSIONS_PATH, Failure::Status(500), 3);
    let up = upstream(fake.config());
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(text.contains("500") && text.contains(up.name()), "{text}");
    assert_eq!(fake.requests(VERSIONS_PATH), 3);
}

#[tokio::test]
async fn a_server_error_then_success_succeeds() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(VERSIONS_PATH, Failure::Status(500), 1);
    let up = upstream(fake.config());
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
    assert_eq!(fake.requests(VERSIONS_PATH), 2);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(VERSIONS_PATH, Failure::Close, 2);
    let up = upstream(fake.config());
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
    assert_eq!(fake.requests(VERSIONS_PATH), 3);
}

#[tokio::test]
async fn too_many_requests_on_every_attempt_is_unavailable() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.fail_next(VERSIONS_PATH, Failure::Status(429), 3);
    let up = upstream(fake.config());
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(
        matches!(
            e,
            UpstreamError::Unavailable {
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(fake.requests(VERSIONS_PATH), 3);
}

#[tokio::test]
async fn refused_credentials_are_other_and_not_retried() {
    let fake = FakeRegistry::start().await;
    fake.fail_next(VERSIONS_PATH, Failure::Status(401), 1);
    let up = upstream(fake.config().with_token("wrong"));
    let e = up.list_versions(&consul()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(
        text.contains("refused the registry's credentials"),
        "{text}"
    );
    assert!(!text.contains("wrong"), "{text}");
    assert_eq!(fake.requests(VERSIONS_PATH), 1);
}

#[tokio::test]
async fn a_stopped_upstream_fails_but_cached_answers_remain() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let up = upstream(fake.config());
    up.list_versions(&consul()).await.unwrap();
    fake.shutdown().await;
    assert_eq!(
        sorted(up.list_versions(&consul()).await.unwrap()),
        ["0.1.0"]
    );
    let e = up
        .download_location(&consul(), &v("0.1.0"))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
}

// ---------------------------------------------------------------- credentials

#[tokio::test]
async fn the_token_goes_to_the_registry_api_only() {
    let fake = FakeRegistry::start().await;
    fake.publish(CONSUL, "0.1.0", module_tgz("# a\n"));
    fake.add_module(CONSUL, &["0.2.0"]);
    fake.set_location(
        CONSUL,
        "0.2.0",
        Location::Raw("git::https://github.com/o/r?ref=v0.2.0".into()),
    );
    fake.add_tarball("o", "r", "v0.2.0", tar_gz(&[("r-0.2.0/main.tf", b"# b\n")]));
    let up = upstream(fake.config().with_token("s3cr3t"));
    up.list_versions(&consul()).await.unwrap();
    up.fetch_archive(&consul(), &v("0.1.0")).await.unwrap();
    up.fetch_archive(&consul(), &v("0.2.0")).await.unwrap();

    assert_eq!(fake.authorized_requests("/.well-known/"), 1);
    assert_eq!(fake.authorized_requests("/v1/modules/"), 3);
    assert_eq!(fake.requests("/v1/modules/"), 3);
    assert_eq!(fake.requests("/archives/"), 1);
    assert_eq!(fake.authorized_requests("/archives/"), 0);
    assert_eq!(fake.requests("/codeload/"), 1);
    assert_eq!(fake.authorized_requests("/codeload/"), 0);
    let sent: Vec<_> = fake
        .request_log()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    assert!(sent.iter().all(|a| a == "Bearer s3cr3t"), "{sent:?}");
    assert!(!format!("{up:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn errors_never_show_query_strings() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    fake.set_location(
        CONSUL,
        "0.1.0",
        Location::Relative("/archives/missing.tar.gz?X-Amz-Signature=topsecret".into()),
    );
    let up = upstream(fake.config());
    let e = up.fetch_archive(&consul(), &v("0.1.0")).await.unwrap_err();
    let text = chain(&e);
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    assert!(
        text.contains("/archives/missing.tar.gz") && text.contains("404"),
        "{text}"
    );
    assert!(!text.contains("topsecret"), "{text}");
    // The query was sent as it was.
    let log = fake.request_log();
    let fetched = log
        .iter()
        .find(|r| r.path == "/archives/missing.tar.gz")
        .unwrap();
    assert_eq!(fetched.query.as_deref(), Some("X-Amz-Signature=topsecret"));
}

// ---------------------------------------------------------------- pinning

#[tokio::test]
async fn pins_an_archive_behind_a_relative_location() {
    let fake = FakeRegistry::start().await;
    let archive = module_tgz("# consul 0.1.0\n");
    let path = fake.publish(CONSUL, "0.1.0", archive.clone());
    let up = upstream(fake.config());
    let fetched = up.fetch_archive(&consul(), &v("0.1.0")).await.unwrap();
    assert_eq!(fetched.bytes, archive);
    assert!(!fetched.strip_top_dir);
    assert_eq!(fetched.subdir, None);
    assert_eq!(fetched.git_ref, None);
    assert_eq!(fetched.upstream, up.name());
    assert_eq!(
        fetched.source,
        format!("{}{}", fake.url(), path.trim_start_matches('/'))
    );
}

#[tokio::test]
async fn a_pinned_archive_s_signature_is_masked_in_its_source() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["0.1.0"]);
    let archive = module_tgz("# signed\n");
    fake.add_archive("/archives/signed.tar.gz", archive.clone());
    let location = format!(
        "{}archives/signed.tar.gz?archive=tar.gz&X-Amz-Signature=hunter2",
        fake.url()
    );
    fake.set_location(CONSUL, "0.1.0", Location::Raw(location));
    let up = upstream(fake.config());
    let fetched = up.fetch_archive(&consul(), &v("0.1.0")).await.unwrap();
    assert_eq!(fetched.bytes, archive);
    // The registry logs it, shows it in errors and keeps it in pin records.
    assert_eq!(
        fetched.source,
        format!(
            "{}archives/signed.tar.gz?archive=tar.gz&X-Amz-Signature=***",
            fake.url()
        )
    );
}

#[tokio::test]
async fn pinning_asks_for_a_fresh_location() {
    let fake = FakeRegistry::start().await;
    fake.publish(CONSUL, "0.1.0", module_tgz("# old\n"));
    let up = upstream(fake.config());
    let cached = up.download_location(&consul(), &v("0.1.0")).await.unwrap();
    fake.add_archive("/archives/new.tar.gz", module_tgz("# new\n"));
    fake.set_location(
        CONSUL,
        "0.1.0",
        Location::Relative("/archives/new.tar.gz".into()),
    );
    let fetched = up.fetch_archive(&consul(), &v("0.1.0")).await.unwrap();
    assert!(
        fetched.source.ends_with("/archives/new.tar.gz"),
        "{}",
        fetched.source
    );
    assert_eq!(tar_file(&fetched.bytes, "main.tf"), "# new\n");
    // The proxy's cached answer is untouched.
    assert_eq!(
        up.download_location(&consul(), &v("0.1.0")).await.unwrap(),
        cached
    );
}

#[tokio::test]
async fn pins_a_github_source_through_codeload() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["1.0.0"]);
    let location = "git::https://github.com/o/r?ref=v1.0.0";
    fake.set_location(CONSUL, "1.0.0", Location::Raw(location.into()));
    let tarball = tar_gz(&[("r-1.0.0/main.tf", b"# r\n")]);
    fake.add_tarball("o", "r", "v1.0.0", tarball.clone());
    let up = upstream(fake.config());
    let fetched = up.fetch_archive(&consul(), &v("1.0.0")).await.unwrap();
    assert_eq!(fetched.bytes, tarball);
    assert!(fetched.strip_top_dir);
    assert_eq!(fetched.git_ref.as_deref(), Some("v1.0.0"));
    assert_eq!(fetched.subdir, None);
    assert_eq!(fetched.source, location);
    assert_eq!(fake.requests("/codeload/o/r/tar.gz/v1.0.0"), 1);
}

#[tokio::test]
async fn pins_a_github_subdirectory_and_the_module_ends_up_flat() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["1.0.0"]);
    fake.set_location(
        CONSUL,
        "1.0.0",
        Location::Raw("git::https://github.com/o/r.git//modules/x?ref=release/1.x".into()),
    );
    fake.add_tarball(
        "o",
        "r",
        "release/1.x",
        tar_gz(&[
            ("r-abc123/main.tf", b"# root module\n"),
            ("r-abc123/modules/x/main.tf", b"# module x\n"),
            ("r-abc123/modules/x/variables.tf", b"variable \"a\" {}\n"),
            ("r-abc123/modules/y/main.tf", b"# module y\n"),
        ]),
    );
    let up = upstream(fake.config());
    let fetched = up.fetch_archive(&consul(), &v("1.0.0")).await.unwrap();
    assert!(fetched.strip_top_dir);
    assert_eq!(fetched.subdir.as_deref(), Some("modules/x"));
    assert_eq!(fetched.git_ref.as_deref(), Some("release/1.x"));
    assert_eq!(fake.requests("/codeload/o/r/tar.gz/release/1.x"), 1);

    let module = extract_module(
        fetched.bytes.clone(),
        fetched.strip_top_dir,
        fetched.subdir.as_deref(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        tar_files(&module.to_bytes().unwrap()),
        ["main.tf", "variables.tf"]
    );
    assert_eq!(
        tar_file(&module.to_bytes().unwrap(), "main.tf"),
        "# module x\n"
    );
}

#[tokio::test]
async fn a_pinned_archive_ends_up_flat_too() {
    let fake = FakeRegistry::start().await;
    fake.add_module(CONSUL, &["1.0.0"]);
    fake.add_archive(
        "/archives/bundle.tgz",
        tar_gz(&[("top/main.tf", b"# top\n"), ("top/sub/main.tf", b"# sub\n")]),
    );
    fake.set_location(
        CONSUL,
        "1.0.0",
        Location::Relative("/archives/bundle.tgz//top/sub".into()),
    );
    let up = upstream(fake.config());
    let fetched = up.fetch_archive(&consul(), &v("1.0.0")).await.unwrap();
    assert_eq!(fetched.subdir.as_deref(), Some("top/sub"));
    assert!(!fetched.strip_top_dir);
    let module = extract_module(
        fetched.bytes,
        false,
        fetched.subdir.as_deref(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(tar_files(&module.to_bytes().unwrap()), ["main.tf"]);
    assert_eq!(tar_file(&module.to_bytes().unwrap(), "main.tf"), "# sub\n");
}

#[tokio::test]
async fn checksums_are_verified() {
    let fake = FakeRegistry::start().await;
    let archive = module_tgz("# checked\n");
    fake.add_archive("/archives/c.tar.gz", archive.clone());
    let good = hex::encode(Sha256::digest(&archive));
    let bad = hex::encode(Sha256::digest(b"something else"));
    fake.add_module(CONSUL, &["1.0.0", "2.0.0", "3.0.0"]);
    fake.set_location(
        CONSUL,
        "1.0.0",
        Location::Relative(format!("/archives/c.tar.gz?checksum=sha256:{good}")),
    );
    fake.set_location(
        CONSUL,
        "2.0.0",
        Location::Relative(format!("/archives/c.tar.gz?checksum={good}")),
    );
    fake.set_location(
        CONSUL,
        "3.0.0",
        Location::Relative(format!("/archives/c.tar.gz?checksum=sha256:{bad}")),
    );
    let up = upstream(fake.config());
    assert_eq!(
        up.fetch_archive(&consul(), &v("1.0.0"))
            .await
            .unwrap()
            .bytes,
        archive
    );
    assert_eq!(
        up.fetch_archive(&consul(), &v("2.0.0"))
            .await
            .unwrap()
            .bytes,
        archive
    );
    let e = up.fetch_archive(&consul(), &v("3.0.0")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(
        text.contains("checksum mismatch") && text.contains("/archives/c.tar.gz"),
        "{text}"
    );
    // `checksum=` is not sent to the archive host.
    assert!(fake
        .request_log()
        .iter()
        .filter(|r| r.path == "/archives/c.tar.gz")
        .all(|r| r.query.is_none()));
}

#[tokio::test]
async fn oversized_archives_are_refused() {
    let fake = FakeRegistry::start().await;
    fake.publish(CONSUL, "1.0.0", Bytes::from(vec![7u8; 10_000]));
    let up = upstream(fake.config().with_max_archive_bytes(1000));
    let e = up.fetch_archive(&consul(), &v("1.0.0")).await.unwrap_err();
    let UpstreamError::Unsupported { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(message.contains("1000 bytes"), "{message}");
    assert_eq!(fake.requests("/archives/"), 1);
}

#[tokio::test]
async fn unsupported_sources_are_refused_naming_the_source() {
    let fake = FakeRegistry::start().await;
    let cases = [
        (
            "1.0.0",
            "s3::https://s3.amazonaws.com/bucket/m.zip",
            "s3::https://s3.amazonaws.com/bucket/m.zip",
        ),
        (
            "1.0.1",
            "git::ssh://git@github.com/o/r.git?ref=v1",
            "git::ssh://github.com/o/r.git?ref=v1",
        ),
        (
            "1.0.2",
            "git::https://gitlab.com/o/r?ref=x",
            "git::https://gitlab.com/o/r?ref=x",
        ),
        (
            "1.0.3",
            "git::https://github.com/o/r",
            "git::https://github.com/o/r",
        ),
        ("1.0.4", "git@github.com:o/r.git", "git@github.com:o/r.git"),
        (
            "1.0.5",
            "gcs::https://www.googleapis.com/storage/v1/b/m.zip",
            "gcs::",
        ),
        (
            "1.0.6",
            "hg::https://example.com/r",
            "hg::https://example.com/r",
        ),
        (
            "1.0.7",
            "https://example.com/module",
            "https://example.com/module",
        ),
    ];
    for (version, location, _) in &cases {
        fake.add_module(CONSUL, &[version]);
        fake.set_location(CONSUL, version, Location::Raw((*location).into()));
    }
    let up = upstream(fake.config());
    for (version, location, named) in cases {
        let e = up.fetch_archive(&consul(), &v(version)).await.unwrap_err();
        let UpstreamError::Unsupported { message, upstream } = &e else {
            panic!("{location}: {e:?}")
        };
        assert_eq!(upstream, up.name());
        assert!(message.contains(named), "{location}: {message}");
    }
    let e = up.fetch_archive(&consul(), &v("1.0.3")).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("has no ?ref=; a pin needs a fixed tag or commit"),
        "{e}"
    );
    // Nothing was fetched from anywhere but the registry API.
    assert_eq!(fake.requests("/archives/") + fake.requests("/codeload/"), 0);
}

#[tokio::test]
async fn archive_host_errors_are_retried_like_the_api() {
    let fake = FakeRegistry::start().await;
    let archive = module_tgz("# retried\n");
    fake.publish(CONSUL, "0.1.0", archive.clone());
    fake.fail_next("/archives/", Failure::Status(502), 1);
    fake.fail_next("/archives/", Failure::Close, 1);
    let up = upstream(fake.config());
    assert_eq!(
        up.fetch_archive(&consul(), &v("0.1.0"))
            .await
            .unwrap()
            .bytes,
        archive
    );
    assert_eq!(fake.requests("/archives/"), 3);
}

/// The readiness probe fetches the discovery document each time (never the
/// cached endpoint) and fails when the upstream does.
#[tokio::test]
async fn the_probe_fetches_discovery_afresh_and_fails_with_the_upstream() {
    let fake = FakeRegistry::start().await;
    let up = upstream(fake.config().with_max_attempts(1));
    up.probe().await.unwrap();
    up.probe().await.unwrap();
    assert_eq!(fake.requests("/.well-known/terraform.json"), 2);
    fake.fail_next("/.well-known/terraform.json", Failure::Status(503), 1);
    assert!(up.probe().await.is_err());
    fake.set_modules_v1(None);
    assert!(up.probe().await.is_err(), "a host with no module registry");
}
