//! The three servers' group sets accept the same values for the same settings
//! and build the same configurations from them; they refuse the same values.

mod common;

use std::time::Duration;

use common::{github, key, lambda, local, Validated, HASH};
use registry_settings::upstream::Upstream;

/// The registry settings every server offers, and what they must become.
fn registry_flags(spool: &str) -> Vec<String> {
    [
        "--master-token-sha256",
        HASH,
        "--signing-key",
        &key(),
        "--anonymous-reads",
        "--max-body-bytes",
        "1000",
        "--max-unpacked-bytes",
        "2000",
        "--max-archive-entries",
        "30",
        "--max-concurrent-uploads",
        "2",
        "--spool-dir",
        spool,
        "--archive-url-ttl-secs",
        "60",
        "--read-cache-ttl-ms",
        "250",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn with(base: &[&str], flags: &[String]) -> Vec<String> {
    base.iter()
        .map(|s| (*s).to_owned())
        .chain(flags.iter().cloned())
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// What of a registry setting must agree between the servers.
fn registry_view(v: &Validated) -> String {
    let c = &v.registry.config;
    format!(
        "hash={:?} key_given={} anonymous={} body={} limits={:?} uploads={} spool={:?} ttl={:?} cache={:?}",
        c.master_token_hash.map(|h| h.to_hex()),
        v.registry.signing_key_given,
        c.anonymous_reads,
        c.max_body_bytes,
        c.archive_limits,
        c.max_concurrent_uploads,
        c.spool_dir,
        c.archive_url_ttl,
        v.registry.read_cache_ttl,
    )
}

#[test]
fn the_registry_group_builds_the_same_configuration_everywhere() {
    let spool = tempfile::tempdir().unwrap();
    let flags = registry_flags(spool.path().to_str().unwrap());
    let local = local(&strs(&flags)).unwrap();
    let github = github(&strs(&with(&["--plain-http"], &flags))).unwrap();
    let lambda = lambda(&strs(&with(&["--s3-bucket", "b"], &flags))).unwrap();
    let expected = format!(
        "hash=Some({HASH:?}) key_given=true anonymous=true body=1000 limits={:?} uploads=2 spool={:?} ttl=60s cache=250ms",
        registry_core::ArchiveLimits::new(2000, 30),
        Some(spool.path()),
    );
    for (server, v) in [("local", &local), ("github", &github), ("lambda", &lambda)] {
        assert_eq!(registry_view(v), expected, "{server}");
    }
    // The S3 presigned URLs live as long as the archive URLs.
    assert_eq!(
        lambda.s3.as_ref().unwrap().presign_ttl,
        Duration::from_secs(60)
    );
}

#[test]
fn registry_defaults_are_the_cores_except_lambdas_upload_limit() {
    let core = registry_core::RegistryConfig::new(registry_core::SigningKey::generate());
    let local = local(&[]).unwrap();
    let github = github(&["--plain-http", "--anonymous-reads"]).unwrap();
    let lambda = lambda(&["--s3-bucket", "b", "--master-token-sha256", HASH]).unwrap();
    for (server, v) in [("local", &local), ("github", &github), ("lambda", &lambda)] {
        let c = &v.registry.config;
        assert_eq!(c.archive_limits, core.archive_limits, "{server}");
        assert_eq!(c.archive_url_ttl, core.archive_url_ttl, "{server}");
        assert_eq!(c.max_concurrent_uploads, 4, "{server}");
        assert_eq!(c.spool_dir, None, "{server}");
        assert_eq!(
            v.registry.read_cache_ttl,
            Duration::from_secs(1),
            "{server}"
        );
        assert!(!v.registry.signing_key_given, "{server}");
    }
    assert_eq!(local.registry.config.max_body_bytes, core.max_body_bytes);
    assert_eq!(github.registry.config.max_body_bytes, core.max_body_bytes);
    assert_eq!(lambda.registry.config.max_body_bytes, 4 * 1024 * 1024);
    // The default upload fits Lambda: base64 of it, plus room for the event.
    let limit = registry_settings::registry::LAMBDA_MAX_BODY_BYTES;
    assert!(lambda.registry.config.max_body_bytes.div_ceil(3) * 4 + 64 * 1024 <= 6_291_456);
    assert!(limit.div_ceil(3) * 4 <= 6_291_456);
}

#[test]
fn every_server_refuses_the_same_registry_values() {
    let empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let short_key = "ab".repeat(31);
    for bad in [
        &["--max-body-bytes", "0"][..],
        &["--archive-url-ttl-secs", "0"],
        &["--archive-url-ttl-secs", "604801"],
        &["--read-cache-ttl-ms", "60001"],
        &["--max-concurrent-uploads", "0"],
        &["--spool-dir", "/nonexistent/spool"],
        &["--master-token-sha256", empty_hash],
        &["--master-token-sha256", "tfr_not-a-hash"],
        &["--signing-key", &short_key],
    ] {
        let local = local(bad).unwrap_err();
        let github = github(&strs(&with(
            &["--plain-http", "--anonymous-reads"],
            &bad.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )))
        .unwrap_err();
        let mut lambda_args = vec!["--s3-bucket", "b"];
        if bad[0] != "--master-token-sha256" {
            lambda_args.extend(["--master-token-sha256", HASH]);
        }
        lambda_args.extend(bad);
        let lambda = lambda(&lambda_args).unwrap_err();
        // The same refusal (Lambda's upload limit says its own ceiling).
        let head = |m: &str| m.split(':').next().unwrap().to_owned();
        assert_eq!(local, github, "{bad:?}");
        assert_eq!(head(&local), head(&lambda), "{bad:?}");
    }
}

#[test]
fn local_server_and_lambda_build_the_same_s3_configuration() {
    let s3 = [
        "--s3-bucket=modules",
        "--s3-prefix=registry",
        "--s3-region=eu-west-1",
        "--s3-endpoint-url=http://127.0.0.1:9000",
        "--s3-force-path-style",
        "--s3-serve-through-registry",
        "--archive-url-ttl-secs=40",
    ];
    let local = local(&[&["--storage-s3"][..], &s3].concat()).unwrap();
    let lambda = lambda(
        &[
            &["--master-token-sha256", HASH, "--signing-key", &key()][..],
            &s3,
        ]
        .concat(),
    )
    .unwrap();
    let expected = storage_s3::S3Config::new("modules")
        .with_prefix("registry/")
        .with_region("eu-west-1")
        .with_endpoint_url("http://127.0.0.1:9000")
        .with_force_path_style(true)
        .with_serve_through_registry(true)
        .with_presign_ttl(Duration::from_secs(40));
    assert_eq!(local.s3, Some(expected.clone()));
    assert_eq!(lambda.s3, Some(expected));
}

#[test]
fn local_server_and_lambda_build_the_same_upstream_registry() {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    let flags = [
        "--upstream=proxy",
        "--proxy-allow=hashicorp, terraform-aws-modules/vpc",
        "--proxy-allow=cloudposse/label/null",
        "--proxy-deny=hashicorp/vault",
        "--upstream-url=https://registry.example.com",
        "--upstream-token=tok",
        "--upstream-timeout-secs=20",
        "--upstream-cache-ttl-secs=0",
        &format!("--upstream-ca-file={}", ca.path().display()),
        "--github-tarball-url=http://127.0.0.1:9/codeload/",
        "--max-body-bytes=1000",
    ];
    let local = local(&flags).unwrap();
    let lambda = lambda(
        &[
            &["--s3-bucket=b", "--master-token-sha256", HASH][..],
            &flags,
        ]
        .concat(),
    )
    .unwrap();
    let upstream = |v: &Validated| match &v.upstream.upstream {
        Some(Upstream::Registry {
            config,
            proxy: true,
        }) => (**config).clone(),
        other => panic!("{other:?}"),
    };
    let expected = upstream_registry::RegistryUpstreamConfig::new(
        "https://registry.example.com".parse().unwrap(),
    )
    .with_token("tok")
    .with_timeout(Duration::from_secs(20))
    .with_versions_ttl(Duration::ZERO)
    .with_extra_root_certificates(vec![b"-----BEGIN CERTIFICATE-----\n".to_vec()])
    .with_github_tarball_base("http://127.0.0.1:9/codeload/".parse().unwrap())
    .with_max_archive_bytes(1000);
    assert_eq!(upstream(&local), expected);
    assert_eq!(upstream(&lambda), expected);
    assert_eq!(local.upstream.proxy, lambda.upstream.proxy);
    let proxy = &local.upstream.proxy;
    let shown: Vec<String> = proxy.allow.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "hashicorp",
            "terraform-aws-modules/vpc",
            "cloudposse/label/null"
        ]
    );
    assert_eq!(proxy.deny.len(), 1);
    assert!(!local.upstream.archives_through_registry());

    // Pin: an upstream, no live proxying.
    let pin = common::local(&["--upstream", "PIN"]).unwrap();
    assert!(matches!(
        pin.upstream.upstream,
        Some(Upstream::Registry { proxy: false, .. })
    ));
    let pin = common::lambda(&[
        "--s3-bucket=b",
        "--master-token-sha256",
        HASH,
        "--upstream",
        "pin",
    ])
    .unwrap();
    assert!(matches!(
        pin.upstream.upstream,
        Some(Upstream::Registry { proxy: false, .. })
    ));
}

#[test]
fn github_server_and_lambda_build_the_same_github_upstream() {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    let escaped = common::app_key().trim().replace('\n', "\\n");
    let flags = [
        "--github-api-url=https://github.example.com/api/v3",
        "--github-app-id=12345",
        &format!("--github-app-private-key={escaped}"),
        "--github-app-installation-id=777",
        "--repo-template=platform/tf-{system}-{name}",
        "--repo=acme/vpc/aws=netops/vpc , acme/dns/aws = netops/dns,",
        "--github-cache-ttl-secs=0",
        "--github-timeout-secs=20",
        &format!("--github-ca-file={}", ca.path().display()),
        "--cache-archives",
        "--proxy-deny=acme/secret",
        "--max-body-bytes=1000",
    ];
    let github = github(&[&["--plain-http", "--anonymous-reads"][..], &flags].concat()).unwrap();
    let lambda = lambda(
        &[
            &[
                "--s3-bucket=b",
                "--master-token-sha256",
                HASH,
                "--signing-key",
                &key(),
                "--upstream=github",
            ][..],
            &flags,
        ]
        .concat(),
    )
    .unwrap();
    let shown = |v: &Validated| match &v.upstream.upstream {
        Some(Upstream::Github {
            config,
            cache_archives,
            archives_through_registry,
        }) => format!(
            "{config:?} cache_archives={cache_archives} through={archives_through_registry}"
        ),
        other => panic!("{other:?}"),
    };
    assert_eq!(shown(&github), shown(&lambda));
    assert_eq!(github.upstream.proxy, lambda.upstream.proxy);
    assert!(github.upstream.archives_through_registry());
    let Some(Upstream::Github {
        config,
        cache_archives: true,
        archives_through_registry: true,
    }) = &github.upstream.upstream
    else {
        panic!("{:?}", github.upstream.upstream)
    };
    assert_eq!(
        config.api_base.as_str(),
        "https://github.example.com/api/v3"
    );
    let upstream_github::GithubAuth::App(app) = &config.auth else {
        panic!("{:?}", config.auth)
    };
    assert_eq!((app.app_id(), app.installation_id()), ("12345", Some(777)));
    let module = |n: &str| registry_core::ModuleAddress::new("acme", n, "aws").unwrap();
    assert_eq!(
        config.repos.repo_for(&module("vpc")),
        ("netops".into(), "vpc".into())
    );
    assert_eq!(
        config.repos.repo_for(&module("dns")),
        ("netops".into(), "dns".into())
    );
    assert_eq!(
        config.repos.repo_for(&module("s3")),
        ("platform".into(), "tf-aws-s3".into())
    );
    assert_eq!(config.tags_ttl, Duration::ZERO);
    assert_eq!(config.timeout, Duration::from_secs(20));
    assert_eq!(config.max_archive_bytes, 1000);
    assert_eq!(config.extra_root_certificates.len(), 1);

    // A token, a key file, redirected archives.
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key_file.path(), common::app_key()).unwrap();
    let file = format!(
        "--github-app-private-key-file={}",
        key_file.path().display()
    );
    for flags in [
        vec![
            "--github-token= ghp_tok ",
            "--redirect-archives",
            "--max-body-bytes=1000",
        ],
        vec![
            "--github-app-id=Iv23liABCDEF",
            &file,
            "--max-body-bytes=1000",
        ],
    ] {
        let github =
            common::github(&[&["--plain-http", "--anonymous-reads"][..], &flags].concat()).unwrap();
        let lambda = common::lambda(
            &[
                &[
                    "--s3-bucket=b",
                    "--master-token-sha256",
                    HASH,
                    "--upstream=github",
                    "--signing-key",
                    &key(),
                ][..],
                &flags,
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(shown(&github), shown(&lambda), "{flags:?}");
        assert_eq!(github.upstream.proxy, lambda.upstream.proxy);
    }
    let redirected = common::github(&[
        "--plain-http",
        "--anonymous-reads",
        "--github-token=t",
        "--redirect-archives",
    ])
    .unwrap();
    assert!(!redirected.upstream.archives_through_registry());
    // Redirected GitHub archives are not signed by the registry: no shared key needed.
    assert!(common::lambda(&[
        "--s3-bucket=b",
        "--master-token-sha256",
        HASH,
        "--upstream=github",
        "--redirect-archives"
    ])
    .is_ok());
}

#[test]
fn every_setting_constant_names_its_argument() {
    use clap::CommandFactory as _;
    use registry_settings::{
        github as g, identity as id, listen as l, registry as r, s3, upstream as u,
    };
    let commands = [
        common::Local::command(),
        common::Github::command(),
        common::Lambda::command(),
    ];
    for command in &commands {
        command.clone().debug_assert();
    }
    let all = [
        l::LISTEN,
        l::TLS_CERT,
        l::TLS_KEY,
        l::PLAIN_HTTP,
        l::PORT_FILE,
        r::MASTER_TOKEN_SHA256,
        r::MASTER_TOKEN,
        r::SIGNING_KEY,
        r::ANONYMOUS_READS,
        r::MAX_BODY_BYTES,
        r::MAX_UNPACKED_BYTES,
        r::MAX_ARCHIVE_ENTRIES,
        r::ARCHIVE_URL_TTL_SECS,
        r::READ_CACHE_TTL_MS,
        r::MAX_CONCURRENT_UPLOADS,
        r::SPOOL_DIR,
        s3::BUCKET,
        s3::PREFIX,
        s3::REGION,
        s3::ENDPOINT_URL,
        s3::FORCE_PATH_STYLE,
        s3::SERVE_THROUGH_REGISTRY,
        s3::PRESIGN_TTL_SECS,
        u::MODE,
        u::PROXY_ALLOW,
        u::PROXY_DENY,
        u::URL,
        u::TOKEN,
        u::TIMEOUT_SECS,
        u::CACHE_TTL_SECS,
        u::CA_FILE,
        u::GITHUB_TARBALL_URL,
        g::API_URL,
        g::TOKEN,
        g::APP_ID,
        g::APP_PRIVATE_KEY,
        g::APP_PRIVATE_KEY_FILE,
        g::APP_INSTALLATION_ID,
        g::REPO_TEMPLATE,
        g::REPOS,
        g::CACHE_TTL_SECS,
        g::TIMEOUT_SECS,
        g::CA_FILE,
        g::CACHE_ARCHIVES,
        g::REDIRECT_ARCHIVES,
        id::EXCHANGE_CONFIG,
        id::NO_AUDIT_LOG,
        registry_settings::LOG_FORMAT,
        registry_settings::operations::METRICS_LISTEN,
        registry_settings::operations::METRICS_PORT_FILE,
        registry_settings::operations::READINESS_INTERVAL_SECS,
        registry_settings::operations::EMF_NAMESPACE,
        registry_settings::operations::NO_EMF_METRICS,
    ];
    let mut seen = std::collections::HashSet::new();
    for setting in all {
        assert!(setting.env().starts_with("TFR_"), "{setting}");
        assert!(seen.insert(setting.env()), "{setting} twice");
        let arg = commands
            .iter()
            .flat_map(|c| c.get_arguments())
            .find(|a| a.get_long() == Some(setting.long()))
            .unwrap_or_else(|| panic!("no argument {setting}"));
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(setting.env()),
            "{setting}"
        );
    }
    // Every argument with a variable is one of them.
    for arg in commands.iter().flat_map(|c| c.get_arguments()) {
        if let Some(env) = arg.get_env() {
            assert!(
                seen.contains(env.to_str().unwrap()),
                "{env:?} has no Setting"
            );
        }
    }
}

/// The one composition of the servers: each `--upstream` gives its mode, and
/// a contradiction the builder refuses names the settings.
#[test]
fn each_upstream_setting_composes_its_registry_mode() {
    use registry_core::memory::{InMemoryPinStore, InMemoryStorage};
    use registry_core::{NoUpstream, PinStore, ProxiedArchives, Storage, UpstreamMode};
    use std::sync::Arc;

    let pins = || Some(Arc::new(InMemoryPinStore::new()) as Arc<dyn PinStore>);
    let cache = || Some(Arc::new(InMemoryStorage::new()) as Arc<dyn Storage>);
    let upstream = |v: Validated| v.upstream.upstream.expect("an upstream");

    let pin = upstream(common::local(&["--upstream", "pin"]).unwrap());
    let mode = pin.mode(Arc::new(NoUpstream), pins(), None).unwrap();
    assert!(matches!(mode, UpstreamMode::Pin { .. }), "{mode:?}");
    let refused = pin.mode(Arc::new(NoUpstream), None, None).unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("--upstream (TFR_UPSTREAM) is pin"),
        "{refused}"
    );

    let proxy = upstream(common::local(&["--upstream", "proxy"]).unwrap());
    let mode = proxy.mode(Arc::new(NoUpstream), pins(), None).unwrap();
    assert!(
        matches!(
            mode,
            UpstreamMode::Proxy {
                pins: Some(_),
                archives: ProxiedArchives::Redirect,
                ..
            }
        ),
        "{mode:?}"
    );

    let github = upstream(
        common::github(&["--plain-http", "--anonymous-reads", "--cache-archives"]).unwrap(),
    );
    let mode = github.mode(Arc::new(NoUpstream), None, cache()).unwrap();
    assert!(
        matches!(
            mode,
            UpstreamMode::Proxy {
                pins: None,
                archives: ProxiedArchives::ThroughRegistry { cache: Some(_) },
                ..
            }
        ),
        "{mode:?}"
    );
    let redirected = upstream(
        common::github(&["--plain-http", "--anonymous-reads", "--redirect-archives"]).unwrap(),
    );
    let refused = redirected
        .mode(Arc::new(NoUpstream), None, cache())
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("--cache-archives") && refused.contains("--redirect-archives"),
        "{refused}"
    );
}
