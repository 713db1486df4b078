//! `GithubUpstream` against the in-process `FakeGithub`: tags and pagination,
//! ETags, tarballs through codeload, GitHub App and token auth, rate limits,
//! retries and repository mapping. Real sockets, no internet.

use std::error::Error as StdError;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use registry_core::archive::extract_module;
use registry_core::version::parse_version;
use registry_core::{ModuleAddress, Upstream, UpstreamError, Version};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use upstream_github::fake::{github_tarball, FakeGithub};
use upstream_github::{GithubApp, GithubAuth, GithubConfig, GithubUpstream, RepoMapping};

const OWNER: &str = "acme";
const REPO: &str = "terraform-aws-vpc";
const TAGS_PATH: &str = "/repos/acme/terraform-aws-vpc/tags";
const APP_ID: &str = "12345";
const INSTALLATION: u64 = 777;

fn vpc() -> ModuleAddress {
    ModuleAddress::new(OWNER, "vpc", "aws").unwrap()
}

fn module(name: &str) -> ModuleAddress {
    ModuleAddress::new(OWNER, name, "aws").unwrap()
}

fn v(s: &str) -> Version {
    parse_version(s).unwrap()
}

fn strings(versions: &[Version]) -> Vec<String> {
    let mut versions = versions.to_vec();
    versions.sort();
    versions.iter().map(ToString::to_string).collect()
}

/// A config for `fake`: its API, short backoff so retries are quick.
fn config(fake: &FakeGithub) -> GithubConfig {
    GithubConfig::new()
        .with_api_base(fake.api_url())
        .with_backoff(Duration::from_millis(10))
}

fn upstream(config: GithubConfig) -> GithubUpstream {
    GithubUpstream::new(config).unwrap()
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

fn tarball(repo: &str, tag: &str, main_tf: &str) -> Bytes {
    github_tarball(
        &format!("{OWNER}-{repo}-{tag}"),
        &[("main.tf", main_tf.as_bytes())],
    )
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

/// An RSA key pair made in the test: private PKCS#1 and PKCS#8 PEM, public SPKI PEM.
struct KeyPair {
    pkcs1: String,
    pkcs8: String,
    public: String,
}

fn key_pair() -> KeyPair {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    KeyPair {
        pkcs1: key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
        pkcs8: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public: key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    }
}

/// The App's key pair, made once per test binary (key generation is slow).
fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(key_pair)
}

fn app() -> GithubApp {
    GithubApp::new(APP_ID, keys().pkcs1.as_bytes()).unwrap()
}

// ---------------------------------------------------------------- tags

#[tokio::test]
async fn lists_paginated_tags_skipping_non_semver() {
    let fake = FakeGithub::start().await;
    fake.set_per_page_limit(40);
    for i in 0..250 {
        if i % 2 == 0 {
            fake.add_tag(
                OWNER,
                REPO,
                &format!("v1.{i}.0"),
                tarball(REPO, "x", "# x\n"),
            );
        } else {
            fake.add_plain_tag(OWNER, REPO, &format!("1.{i}.0"));
        }
        if i % 50 == 0 {
            for other in ["latest", "release-2020", "v1.0", "stable"] {
                fake.add_plain_tag(OWNER, REPO, &format!("{other}-{i}"));
            }
            fake.add_plain_tag(OWNER, REPO, "v2");
        }
    }
    let up = upstream(config(&fake));
    let versions = up.list_versions(&vpc()).await.unwrap();
    assert_eq!(versions.len(), 250);
    let listed = strings(&versions);
    assert_eq!(listed[0], "1.0.0");
    assert_eq!(listed[249], "1.249.0");
    // 250 versions + 21 other tags, 40 a page.
    assert_eq!(fake.requests(TAGS_PATH), 7);
    assert_eq!(
        up.name(),
        format!("127.0.0.1:{}", fake.api_url().port().unwrap())
    );

    // The version -> tag mapping: `v` where the tag has one, bare where not.
    let web = format!("git::http://127.0.0.1:{}", fake.api_url().port().unwrap());
    assert_eq!(
        up.download_location(&vpc(), &v("1.0.0")).await.unwrap(),
        format!("{web}/acme/terraform-aws-vpc?ref=v1.0.0")
    );
    assert_eq!(
        up.download_location(&vpc(), &v("1.1.0")).await.unwrap(),
        format!("{web}/acme/terraform-aws-vpc?ref=1.1.0")
    );
    let e = up
        .download_location(&vpc(), &v("1.250.0"))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    // All from the cache.
    assert_eq!(fake.requests(TAGS_PATH), 7);
    assert_eq!(up.api_requests(), 7);
}

#[tokio::test]
async fn v_prefixed_and_bare_tags_the_bare_one_wins() {
    let fake = FakeGithub::start().await;
    fake.add_tag(
        OWNER,
        REPO,
        "v1.2.0",
        tarball(REPO, "v1.2.0", "# v-prefixed\n"),
    );
    fake.add_tag(OWNER, REPO, "1.2.0", tarball(REPO, "1.2.0", "# bare\n"));
    fake.add_tag(
        OWNER,
        REPO,
        "v1.3.0-rc.1",
        tarball(REPO, "v1.3.0-rc.1", "# rc\n"),
    );
    let up = upstream(config(&fake));
    assert_eq!(
        strings(&up.list_versions(&vpc()).await.unwrap()),
        ["1.2.0", "1.3.0-rc.1"]
    );
    let location = up.download_location(&vpc(), &v("1.2.0")).await.unwrap();
    assert!(
        location.ends_with("/acme/terraform-aws-vpc?ref=1.2.0"),
        "{location}"
    );

    let fetched = up.fetch_archive(&vpc(), &v("1.2.0")).await.unwrap();
    assert_eq!(fetched.git_ref.as_deref(), Some("1.2.0"));
    assert_eq!(fetched.source, location);
    let module = extract_module(fetched.bytes, true, None, &Default::default()).unwrap();
    assert_eq!(tar_file(&module.to_bytes().unwrap(), "main.tf"), "# bare\n");

    let rc = up.fetch_archive(&vpc(), &v("1.3.0-rc.1")).await.unwrap();
    assert_eq!(rc.git_ref.as_deref(), Some("v1.3.0-rc.1"));
    assert_eq!(
        fake.requests("/repos/acme/terraform-aws-vpc/tarball/v1.3.0-rc.1"),
        1
    );
}

#[tokio::test]
async fn a_repository_without_tags_has_no_versions() {
    let fake = FakeGithub::start().await;
    fake.add_repo(OWNER, REPO);
    fake.add_plain_tag(OWNER, REPO, "latest");
    let up = upstream(config(&fake));
    assert!(up.list_versions(&vpc()).await.unwrap().is_empty());
}

#[tokio::test]
async fn not_found_repositories_and_versions() {
    let fake = FakeGithub::start().await;
    fake.add_tag(OWNER, REPO, "v1.0.0", tarball(REPO, "v1.0.0", "# a\n"));
    // Listed, but its tarball is gone.
    fake.add_plain_tag(OWNER, REPO, "v2.0.0");
    let up = upstream(config(&fake).with_not_found_ttl(Duration::from_secs(60)));
    let missing = module("nope");
    for _ in 0..3 {
        let e = up.list_versions(&missing).await.unwrap_err();
        assert!(
            matches!(&e, UpstreamError::NotFound { upstream } if upstream == up.name()),
            "{e:?}"
        );
    }
    // "Not found" is cached.
    assert_eq!(fake.requests("/repos/acme/terraform-aws-nope/tags"), 1);
    let e = up
        .download_location(&missing, &v("1.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    let e = up.fetch_archive(&vpc(), &v("9.9.9")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    let e = up.fetch_archive(&vpc(), &v("2.0.0")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    assert_eq!(fake.codeload_requests(), 0);
}

#[tokio::test]
async fn concurrent_misses_share_one_listing() {
    let fake = FakeGithub::start().await;
    fake.set_per_page_limit(10);
    for i in 0..25 {
        fake.add_plain_tag(OWNER, REPO, &format!("v0.{i}.0"));
    }
    let up = Arc::new(upstream(config(&fake)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let up = up.clone();
        tasks.spawn(async move { up.list_versions(&vpc()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().len(), 25);
    }
    assert_eq!(fake.requests(TAGS_PATH), 3);
}

// ---------------------------------------------------------------- ETags

#[tokio::test]
async fn after_the_ttl_pages_are_revalidated_with_if_none_match() {
    let fake = FakeGithub::start().await;
    for i in 0..250 {
        fake.add_plain_tag(OWNER, REPO, &format!("v1.{i}.0"));
    }
    let ttl = Duration::from_millis(200);
    let up = upstream(config(&fake).with_tags_ttl(ttl));
    assert_eq!(up.list_versions(&vpc()).await.unwrap().len(), 250);
    assert_eq!(fake.requests(TAGS_PATH), 3);
    assert_eq!(fake.not_modified(), 0);
    assert!(fake.request_log().iter().all(|r| r.if_none_match.is_none()));

    // Within the TTL: the cache, no request.
    up.list_versions(&vpc()).await.unwrap();
    assert_eq!(fake.requests(TAGS_PATH), 3);

    // After it: every page asked again, conditionally; all unchanged.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let again = up.list_versions(&vpc()).await.unwrap();
    assert_eq!(again.len(), 250);
    assert_eq!(fake.requests(TAGS_PATH), 6);
    assert_eq!(fake.not_modified(), 3);
    let log = fake.request_log();
    assert!(
        log[3..].iter().all(|r| r.if_none_match.is_some()),
        "{log:?}"
    );
    // Each page is asked with its own ETag.
    let etags: std::collections::BTreeSet<_> =
        log[3..].iter().map(|r| r.if_none_match.clone()).collect();
    assert_eq!(etags.len(), 3);

    // A new tag lands on the last page: only that page is answered in full.
    fake.add_plain_tag(OWNER, REPO, "v9.0.0");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let versions = up.list_versions(&vpc()).await.unwrap();
    assert_eq!(versions.len(), 251);
    assert!(versions.contains(&v("9.0.0")));
    assert_eq!(fake.requests(TAGS_PATH), 9);
    assert_eq!(fake.not_modified(), 5);
    // 304s are API requests too.
    assert_eq!(up.api_requests(), 9);
}

#[tokio::test]
async fn a_new_page_after_a_full_last_page_is_followed() {
    let fake = FakeGithub::start().await;
    fake.set_per_page_limit(10);
    for i in 0..20 {
        fake.add_plain_tag(OWNER, REPO, &format!("0.{i}.0"));
    }
    let ttl = Duration::from_millis(200);
    let up = upstream(config(&fake).with_tags_ttl(ttl));
    assert_eq!(up.list_versions(&vpc()).await.unwrap().len(), 20);
    assert_eq!(fake.requests(TAGS_PATH), 2);

    // Page 2 keeps its tags but gains a Link to page 3: its ETag changes.
    fake.add_plain_tag(OWNER, REPO, "1.0.0");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let versions = up.list_versions(&vpc()).await.unwrap();
    assert_eq!(versions.len(), 21);
    assert!(versions.contains(&v("1.0.0")));
    // Every page's Link changed (`rel="last"` now names page 3): no 304 here.
    assert_eq!(fake.requests(TAGS_PATH), 5);
    assert_eq!(fake.not_modified(), 0);
}

// ---------------------------------------------------------------- tarballs

#[tokio::test]
async fn tarballs_come_through_codeload_without_credentials() {
    let fake = FakeGithub::start().await;
    fake.require_token("ghp_s3cr3t");
    let served = github_tarball(
        "acme-terraform-aws-vpc-1a2b3c4",
        &[
            ("main.tf", b"# vpc\n"),
            ("variables.tf", b"variable \"cidr\" {}\n"),
            ("modules/subnet/main.tf", b"# subnet\n"),
        ],
    );
    fake.add_tag(OWNER, REPO, "v1.0.0", served.clone());
    let up = upstream(config(&fake).with_auth(GithubAuth::Token("ghp_s3cr3t".into())));
    let fetched = up.fetch_archive(&vpc(), &v("1.0.0")).await.unwrap();
    assert_eq!(fetched.bytes, served);
    assert!(fetched.strip_top_dir);
    assert_eq!(fetched.subdir, None);
    assert_eq!(fetched.git_ref.as_deref(), Some("v1.0.0"));
    assert_eq!(fetched.upstream, up.name());
    assert_eq!(
        fetched.source,
        format!(
            "git::http://127.0.0.1:{}/acme/terraform-aws-vpc?ref=v1.0.0",
            fake.api_url().port().unwrap()
        )
    );
    assert_eq!(
        fetched.source,
        up.download_location(&vpc(), &v("1.0.0")).await.unwrap()
    );

    // One tarball request to the API, whose 302 led to codeload (another
    // port: another host to the client), and no credentials went along.
    assert_eq!(
        fake.requests("/repos/acme/terraform-aws-vpc/tarball/v1.0.0"),
        1
    );
    assert_eq!(fake.codeload_requests(), 1);
    assert_eq!(fake.codeload_authorized_requests(), 0);
    // Every API request carried the token, and GitHub's headers.
    let log = fake.request_log();
    assert!(
        log.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer ghp_s3cr3t")),
        "{log:?}"
    );
    assert_eq!(up.api_requests(), log.len() as u64);
    assert!(!format!("{up:?}").contains("s3cr3t"));

    // registry-core strips GitHub's top directory.
    let module = extract_module(fetched.bytes, true, None, &Default::default()).unwrap();
    assert_eq!(
        tar_files(&module.to_bytes().unwrap()),
        ["main.tf", "modules/subnet/main.tf", "variables.tf"]
    );
}

#[tokio::test]
async fn oversized_tarballs_are_refused_without_showing_the_link_token() {
    let fake = FakeGithub::start().await;
    // Random bytes: gzip cannot shrink them.
    let big: Vec<u8> = (0..20_000).map(|_| rand::random::<u8>()).collect();
    fake.add_tag(OWNER, REPO, "v1.0.0", big);
    let up = upstream(config(&fake).with_max_archive_bytes(1000));
    let e = up.fetch_archive(&vpc(), &v("1.0.0")).await.unwrap_err();
    let UpstreamError::Unsupported { message, upstream } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(upstream, up.name());
    assert!(message.contains("1000 bytes"), "{message}");
    assert!(
        message.contains("/legacy.tar.gz/refs/tags/v1.0.0"),
        "{message}"
    );
    assert!(!message.contains("token="), "{message}");
    assert!(!message.contains('?'), "{message}");
    assert_eq!(fake.codeload_requests(), 1);
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn no_auth_reads_public_repositories_without_credentials() {
    let fake = FakeGithub::start().await;
    fake.add_tag(OWNER, REPO, "v1.0.0", tarball(REPO, "v1.0.0", "# a\n"));
    let up = upstream(config(&fake));
    up.list_versions(&vpc()).await.unwrap();
    up.fetch_archive(&vpc(), &v("1.0.0")).await.unwrap();
    let log = fake.request_log();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.authorization.is_none()), "{log:?}");
    assert_eq!(fake.codeload_authorized_requests(), 0);
}

#[tokio::test]
async fn refused_tokens_say_which_credentials_and_never_show_them() {
    let fake = FakeGithub::start().await;
    fake.require_token("right-token");
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");

    let anonymous = upstream(config(&fake));
    let e = anonymous.list_versions(&vpc()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(
        text.contains("401") && text.contains("none are configured"),
        "{text}"
    );

    let wrong = upstream(config(&fake).with_auth(GithubAuth::Token("wrong-token".into())));
    let e = wrong.list_versions(&vpc()).await.unwrap_err();
    let text = chain(&e);
    assert!(text.contains("the token (`auth`)"), "{text}");
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
    // Not retried, not cached.
    assert_eq!(fake.requests(TAGS_PATH), 2);
    assert!(wrong.list_versions(&vpc()).await.is_err());
    assert_eq!(fake.requests(TAGS_PATH), 3);

    let right = upstream(config(&fake).with_auth(GithubAuth::Token("right-token".into())));
    assert_eq!(
        strings(&right.list_versions(&vpc()).await.unwrap()),
        ["1.0.0"]
    );
}

#[tokio::test]
async fn app_one_token_exchange_for_a_hundred_concurrent_calls() {
    let fake = Arc::new(FakeGithub::start().await);
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    for i in 0..100 {
        let repo = format!("terraform-aws-m{i}");
        fake.add_tag(
            OWNER,
            &repo,
            "v1.0.0",
            tarball(&repo, "v1.0.0", &format!("# m{i}\n")),
        );
    }
    let up = Arc::new(upstream(config(&fake).with_auth(GithubAuth::App(app()))));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let up = up.clone();
        tasks.spawn(async move {
            let m = module(&format!("m{i}"));
            if i % 2 == 0 {
                up.list_versions(&m).await.map(|versions| {
                    assert_eq!(strings(&versions), ["1.0.0"]);
                })
            } else {
                up.fetch_archive(&m, &v("1.0.0")).await.map(|fetched| {
                    assert!(fetched.strip_top_dir);
                    assert_eq!(fetched.git_ref.as_deref(), Some("v1.0.0"));
                })
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(fake.token_exchanges(), 1);
    let log = fake.request_log();
    let discoveries: Vec<_> = log
        .iter()
        .filter(|r| r.path.ends_with("/installation"))
        .collect();
    assert_eq!(discoveries.len(), 1, "{discoveries:?}");
    assert_eq!(fake.requests("/app/installations/777/access_tokens"), 1);
    // The JWT went to the App endpoints only; the installation token everywhere else.
    for r in &log {
        let auth = r.authorization.as_deref().unwrap_or_default();
        if r.path.ends_with("/installation") || r.path.starts_with("/app/") {
            assert!(auth.starts_with("Bearer ey"), "{} {auth}", r.path);
        } else {
            assert!(auth.starts_with("Bearer ghs_"), "{} {auth}", r.path);
        }
    }
    assert_eq!(fake.codeload_requests(), 50);
    assert_eq!(fake.codeload_authorized_requests(), 0);
    let shown = format!("{up:?}");
    assert!(
        !shown.contains("BEGIN") && !shown.contains("ghs_"),
        "{shown}"
    );
}

#[tokio::test]
async fn app_with_a_configured_installation_id_and_a_pkcs8_key() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    fake.add_tag(OWNER, REPO, "v1.0.0", tarball(REPO, "v1.0.0", "# a\n"));
    let app = GithubApp::new(APP_ID, keys().pkcs8.as_bytes())
        .unwrap()
        .with_installation_id(INSTALLATION);
    let up = upstream(config(&fake).with_auth(GithubAuth::App(app)));
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
    up.fetch_archive(&vpc(), &v("1.0.0")).await.unwrap();
    assert_eq!(fake.token_exchanges(), 1);
    assert_eq!(
        fake.requests("/repos/acme/terraform-aws-vpc/installation"),
        0
    );

    // An installation id the App does not have.
    let wrong = GithubApp::new(APP_ID, keys().pkcs1.as_bytes())
        .unwrap()
        .with_installation_id(INSTALLATION + 1);
    let up = upstream(config(&fake).with_auth(GithubAuth::App(wrong)));
    let e = up.list_versions(&vpc()).await.unwrap_err();
    let text = chain(&e);
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    assert!(text.contains("has no installation 778"), "{text}");
    assert!(text.contains("`installation_id`"), "{text}");
}

#[tokio::test]
async fn app_discovery_is_per_owner() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.add_plain_tag(OWNER, "terraform-aws-dns", "v2.0.0");
    // Another owner's repository: no installation can see it.
    fake.add_plain_tag("other", "terraform-aws-vpc", "v1.0.0");
    let up = upstream(config(&fake).with_auth(GithubAuth::App(app())));
    up.list_versions(&vpc()).await.unwrap();
    up.list_versions(&module("dns")).await.unwrap();
    assert_eq!(
        fake.request_log()
            .iter()
            .filter(|r| r.path.ends_with("/installation"))
            .count(),
        1
    );
    let e = up
        .list_versions(&ModuleAddress::new("other", "vpc", "aws").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::NotFound { .. }), "{e:?}");
    assert_eq!(
        fake.requests("/repos/other/terraform-aws-vpc/installation"),
        1
    );
    assert_eq!(fake.requests("/repos/other/terraform-aws-vpc/tags"), 0);
    assert_eq!(fake.token_exchanges(), 1);
}

#[tokio::test]
async fn app_tokens_are_refreshed_before_they_expire() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    // Usable for 1 to 2 seconds: refreshed 5 minutes before `expires_at`.
    fake.set_token_lifetime(Duration::from_secs(5 * 60 + 2));
    for name in ["a", "b", "c", "d"] {
        fake.add_plain_tag(OWNER, &format!("terraform-aws-{name}"), "v1.0.0");
    }
    let up = upstream(
        config(&fake).with_auth(GithubAuth::App(app().with_installation_id(INSTALLATION))),
    );
    up.list_versions(&module("a")).await.unwrap();
    up.list_versions(&module("b")).await.unwrap();
    assert_eq!(fake.token_exchanges(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    up.list_versions(&module("c")).await.unwrap();
    assert_eq!(fake.token_exchanges(), 2);

    // A token that would expire within 5 minutes is never reused.
    fake.set_token_lifetime(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    up.list_versions(&module("d")).await.unwrap();
    assert_eq!(fake.token_exchanges(), 3);
    let e = module("e");
    fake.add_plain_tag(OWNER, "terraform-aws-e", "v1.0.0");
    up.list_versions(&e).await.unwrap();
    assert_eq!(fake.token_exchanges(), 4);
}

#[tokio::test]
async fn a_revoked_installation_token_is_replaced_on_the_next_call() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.add_plain_tag(OWNER, "terraform-aws-dns", "v1.0.0");
    let up = upstream(config(&fake).with_auth(GithubAuth::App(app())));
    up.list_versions(&vpc()).await.unwrap();
    fake.revoke_tokens();
    let e = up.list_versions(&module("dns")).await.unwrap_err();
    let text = chain(&e);
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    assert!(
        text.contains("installation token of GitHub App 12345 installation 777"),
        "{text}"
    );
    assert!(!text.contains("ghs_"), "{text}");
    up.list_versions(&module("dns")).await.unwrap();
    assert_eq!(fake.token_exchanges(), 2);
}

#[tokio::test]
async fn build_metadata_tags_survive_urls() {
    let fake = FakeGithub::start().await;
    fake.add_tag(OWNER, REPO, "v1.0.0+build.5", tarball(REPO, "b5", "# b5\n"));
    let up = upstream(config(&fake));
    assert_eq!(
        strings(&up.list_versions(&vpc()).await.unwrap()),
        ["1.0.0+build.5"]
    );
    let fetched = up.fetch_archive(&vpc(), &v("1.0.0+build.5")).await.unwrap();
    assert_eq!(fetched.git_ref.as_deref(), Some("v1.0.0+build.5"));
    // `+` is not a space in go-getter's query.
    assert!(
        fetched.source.ends_with("?ref=v1.0.0%2Bbuild.5"),
        "{}",
        fetched.source
    );
    assert_eq!(
        fake.requests("/repos/acme/terraform-aws-vpc/tarball/v1.0.0%2Bbuild.5"),
        1
    );
}

#[tokio::test]
async fn a_jwt_from_another_key_is_refused() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    let other = key_pair();
    let impostor = GithubApp::new(APP_ID, other.pkcs1.as_bytes()).unwrap();
    let up = upstream(config(&fake).with_auth(GithubAuth::App(impostor)));
    let e = up.list_versions(&vpc()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(
        text.contains("401") && text.contains("JWT of GitHub App 12345"),
        "{text}"
    );
    assert!(text.contains("`app_id`"), "{text}");
    assert!(!text.contains("BEGIN") && !text.contains("eyJ"), "{text}");
    assert_eq!(fake.token_exchanges(), 0);

    // The right key, the wrong App id: `iss` is checked too.
    let wrong_id = GithubApp::new("54321", keys().pkcs1.as_bytes()).unwrap();
    let up = upstream(config(&fake).with_auth(GithubAuth::App(wrong_id)));
    let e = up.list_versions(&vpc()).await.unwrap_err();
    assert!(
        chain(&e).contains("JWT of GitHub App 54321"),
        "{}",
        chain(&e)
    );
}

// ---------------------------------------------------------------- rate limits, retries

#[tokio::test]
async fn primary_rate_limit_403_is_unavailable_until_the_reset() {
    let fake = FakeGithub::start().await;
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.rate_limit_next(TAGS_PATH, 1, 403, 120);
    let up = upstream(config(&fake));
    let start = Instant::now();
    let e = up.list_versions(&vpc()).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let UpstreamError::Unavailable {
        upstream,
        message,
        retry_after,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(upstream, up.name());
    let after = retry_after.unwrap();
    assert!(
        after >= Duration::from_secs(118) && after <= Duration::from_secs(121),
        "{after:?}"
    );
    assert!(
        message.contains("403") && message.contains("rate limit"),
        "{message}"
    );
    // Without credentials, the way to a higher limit.
    assert!(message.contains("for a higher limit"), "{message}");
    assert_eq!(fake.requests(TAGS_PATH), 1);
    // Not cached: once the limit is over, it works.
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
}

#[tokio::test]
async fn secondary_rate_limit_429_passes_retry_after_on() {
    let fake = FakeGithub::start().await;
    fake.add_tag(OWNER, REPO, "v1.0.0", tarball(REPO, "v1.0.0", "# a\n"));
    fake.rate_limit_next("/repos/acme/terraform-aws-vpc/tarball/", 1, 429, 60);
    let up = upstream(config(&fake));
    let e = up.fetch_archive(&vpc(), &v("1.0.0")).await.unwrap_err();
    let UpstreamError::Unavailable {
        retry_after,
        message,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(60)));
    assert_eq!(fake.codeload_requests(), 0);

    // With a token, no advice to configure one.
    fake.rate_limit_next("/repos/acme/terraform-aws-vpc/tarball/", 1, 429, 60);
    let with_token = upstream(config(&fake).with_auth(GithubAuth::Token("ghp_t".into())));
    let e = with_token
        .fetch_archive(&vpc(), &v("1.0.0"))
        .await
        .unwrap_err();
    let UpstreamError::Unavailable {
        message: with_token,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(message.contains("for a higher limit"), "{message}");
    assert!(!with_token.contains("for a higher limit"), "{with_token}");
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out() {
    let fake = FakeGithub::start().await;
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.rate_limit_next(TAGS_PATH, 1, 429, 1);
    let up = upstream(config(&fake));
    let start = Instant::now();
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert_eq!(fake.requests(TAGS_PATH), 2);
}

#[tokio::test]
async fn rate_limited_token_exchanges_are_unavailable() {
    let fake = FakeGithub::start().await;
    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.rate_limit_next("/app/installations/", 1, 403, 600);
    let up = upstream(
        config(&fake).with_auth(GithubAuth::App(app().with_installation_id(INSTALLATION))),
    );
    let e = up.list_versions(&vpc()).await.unwrap_err();
    let UpstreamError::Unavailable {
        retry_after,
        message,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(
        retry_after.unwrap() > Duration::from_secs(590),
        "{retry_after:?}"
    );
    assert!(message.contains("JWT of GitHub App 12345"), "{message}");
    assert_eq!(fake.token_exchanges(), 0);
    up.list_versions(&vpc()).await.unwrap();
    assert_eq!(fake.token_exchanges(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_other() {
    let fake = FakeGithub::start().await;
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    fake.fail_next(TAGS_PATH, 2, 502);
    let up = upstream(config(&fake));
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
    assert_eq!(fake.requests(TAGS_PATH), 3);

    let other = module("dns");
    fake.add_plain_tag(OWNER, "terraform-aws-dns", "v1.0.0");
    fake.fail_next("/repos/acme/terraform-aws-dns/", 3, 500);
    let e = up.list_versions(&other).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(text.contains("500") && text.contains(up.name()), "{text}");
    assert_eq!(fake.requests("/repos/acme/terraform-aws-dns/tags"), 3);
    // 503 on every attempt: unavailable.
    fake.fail_next("/repos/acme/terraform-aws-dns/", 3, 503);
    let e = up.list_versions(&other).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");
}

#[tokio::test]
async fn a_hanging_api_times_out_once() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let up = upstream(
        GithubConfig::new()
            .with_api_base(format!("http://{addr}/").parse().unwrap())
            .with_timeout(Duration::from_millis(500)),
    );
    let start = Instant::now();
    let e = up.list_versions(&vpc()).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Timeout { upstream } if upstream == up.name()),
        "{e:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(up.api_requests(), 1);
    hold.abort();
}

#[tokio::test]
async fn a_stopped_api_is_other_after_retries_and_cached_lists_remain() {
    let fake = FakeGithub::start().await;
    fake.add_plain_tag(OWNER, REPO, "v1.0.0");
    let up = upstream(config(&fake));
    up.list_versions(&vpc()).await.unwrap();
    fake.shutdown().await;
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
    let e = up.list_versions(&module("dns")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Other { .. }), "{e:?}");
    let text = chain(&e);
    assert!(text.contains("failed after 3 attempt(s)"), "{text}");
    assert_eq!(up.api_requests(), 4);
}

// ---------------------------------------------------------------- mapping

#[tokio::test]
async fn modules_map_to_repositories_by_template_and_table() {
    let fake = FakeGithub::start().await;
    fake.add_plain_tag("acme-infra", "tf-vpc", "v1.0.0");
    fake.add_plain_tag("netops", "dns-module", "v2.0.0");
    fake.add_plain_tag(OWNER, "terraform-aws-vpc", "v3.0.0");
    let mapping = RepoMapping::template("acme-infra/tf-{name}")
        .unwrap()
        .with_repo("acme/dns/aws", "netops/dns-module")
        .unwrap();
    let up = upstream(config(&fake).with_repos(mapping));
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["1.0.0"]);
    assert_eq!(
        strings(&up.list_versions(&module("dns")).await.unwrap()),
        ["2.0.0"]
    );
    let location = up
        .download_location(&module("dns"), &v("2.0.0"))
        .await
        .unwrap();
    assert!(
        location.ends_with("/netops/dns-module?ref=v2.0.0"),
        "{location}"
    );
    assert_eq!(fake.requests("/repos/acme-infra/tf-vpc/tags"), 1);
    assert_eq!(fake.requests("/repos/netops/dns-module/tags"), 1);
    assert_eq!(fake.requests("/repos/acme/"), 0);

    // The default: the Terraform Registry's convention.
    let up = upstream(config(&fake));
    assert_eq!(strings(&up.list_versions(&vpc()).await.unwrap()), ["3.0.0"]);
}

#[test]
fn bad_templates_and_entries_are_refused() {
    for bad in [
        "{namespace}-{name}",
        "{namespace}/{system}",
        "{org}/{name}",
        "a/b/{name}",
    ] {
        let e = RepoMapping::template(bad).unwrap_err().to_string();
        assert!(e.contains("invalid repository template"), "{bad}: {e}");
    }
    assert!(RepoMapping::default().with_repo("acme/vpc", "o/r").is_err());
    assert!(RepoMapping::default()
        .with_repo("acme/vpc/aws", "o")
        .is_err());
}

#[test]
fn app_keys_are_checked_up_front_and_never_shown() {
    let e = GithubApp::new(
        APP_ID,
        b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("private key"), "{e}");
    let e = GithubApp::new(APP_ID, keys().public.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("it is a public key"), "{e}");
    assert!(GithubApp::new("", keys().pkcs1.as_bytes()).is_err());
    assert!(GithubApp::new("12 34", keys().pkcs1.as_bytes()).is_err());
    let app = app().with_installation_id(9);
    assert_eq!(app.app_id(), APP_ID);
    assert_eq!(app.installation_id(), Some(9));
    let shown = format!("{:?}", GithubConfig::new().with_auth(GithubAuth::App(app)));
    assert!(
        shown.contains("<redacted>") && !shown.contains("BEGIN"),
        "{shown}"
    );
    let pkcs1_body = keys().pkcs1.lines().nth(1).unwrap();
    assert!(!shown.contains(pkcs1_body), "{shown}");
}

// ---------------------------------------------------------------- readiness

/// The readiness probe: `GET /rate_limit` with the token (free of GitHub's
/// rate limit), `GET /app` with the App's JWT; refused credentials and an
/// unreachable API fail it.
#[tokio::test]
async fn the_probe_asks_what_costs_no_rate_limit_with_the_configured_credentials() {
    let fake = FakeGithub::start().await;
    fake.require_token("right-token");
    let right = upstream(config(&fake).with_auth(GithubAuth::Token("right-token".into())));
    right.probe().await.unwrap();
    assert_eq!(fake.requests("/rate_limit"), 1);
    let wrong = upstream(config(&fake).with_auth(GithubAuth::Token("wrong-token".into())));
    assert!(wrong.probe().await.is_err());

    fake.require_app(APP_ID, &keys().public, OWNER, INSTALLATION);
    let app = upstream(config(&fake).with_auth(GithubAuth::App(app())));
    app.probe().await.unwrap();
    assert_eq!(
        fake.requests("/app"),
        1,
        "the App's own endpoint, no installation token"
    );
    assert_eq!(fake.requests("/app/installations"), 0);
    let other_key = GithubApp::new(APP_ID, key_pair().pkcs1.as_bytes()).unwrap();
    let forged = upstream(config(&fake).with_auth(GithubAuth::App(other_key)));
    assert!(forged.probe().await.is_err());

    let api = fake.api_url();
    drop(fake);
    let gone = upstream(GithubConfig::new().with_api_base(api).with_max_attempts(1));
    assert!(gone.probe().await.is_err());
}
