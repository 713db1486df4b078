//! The Lambda function's settings come from the environment only, through the
//! same definitions the servers read their flags (and variables) with. The
//! variables are set in this test binary's own process, one test at a time.

mod common;

use std::sync::Mutex;

use clap::Parser as _;
use common::{key, Lambda, Local, HASH};
use registry_settings::{parse_env_only, SettingsError};

static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with exactly `vars` as the `TFR_*` variables.
fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    let _guard = ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TFR_") {
            std::env::remove_var(name);
        }
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    let result = f();
    for (name, _) in vars {
        std::env::remove_var(name);
    }
    result
}

#[test]
fn variables_are_read_as_the_flags_are() {
    let key = key();
    let vars = [
        ("TFR_S3_BUCKET", " modules "),
        ("TFR_S3_PREFIX", "registry"),
        ("TFR_MASTER_TOKEN_SHA256", HASH),
        ("TFR_SIGNING_KEY", key.as_str()),
        ("TFR_ANONYMOUS_READS", "yes"),
        ("TFR_MAX_BODY_BYTES", " 1000 "),
        ("TFR_ARCHIVE_URL_TTL_SECS", "60"),
        ("TFR_READ_CACHE_TTL_MS", "250"),
        ("TFR_MAX_CONCURRENT_UPLOADS", "2"),
        ("TFR_UPSTREAM", "Proxy"),
        ("TFR_PROXY_ALLOW", "hashicorp, terraform-aws-modules/vpc,"),
        ("TFR_UPSTREAM_URL", "https://registry.example.com"),
        ("TFR_UPSTREAM_TIMEOUT_SECS", "20"),
    ];
    let from_env = with_env(&vars, || common::lambda_from_env().unwrap());
    let from_flags = common::lambda(&[
        "--s3-bucket=modules",
        "--s3-prefix=registry",
        "--master-token-sha256",
        HASH,
        "--signing-key",
        &key,
        "--anonymous-reads",
        "--max-body-bytes=1000",
        "--archive-url-ttl-secs=60",
        "--read-cache-ttl-ms=250",
        "--max-concurrent-uploads=2",
        "--upstream=proxy",
        "--proxy-allow=hashicorp,terraform-aws-modules/vpc",
        "--upstream-url=https://registry.example.com",
        "--upstream-timeout-secs=20",
    ])
    .unwrap();
    assert_eq!(from_env.s3, from_flags.s3);
    assert_eq!(from_env.upstream.proxy, from_flags.upstream.proxy);
    assert_eq!(
        format!("{:?}", from_env.upstream.upstream),
        format!("{:?}", from_flags.upstream.upstream)
    );
    let c = &from_env.registry.config;
    assert!(c.anonymous_reads && from_env.registry.signing_key_given);
    assert_eq!(c.max_body_bytes, 1000);
    assert_eq!(c.max_concurrent_uploads, 2);
    assert_eq!(c.archive_url_ttl, std::time::Duration::from_secs(60));
    assert_eq!(
        from_env.registry.read_cache_ttl,
        std::time::Duration::from_millis(250)
    );

    // The servers read the same variables the same way.
    let local = with_env(
        &[("TFR_MAX_BODY_BYTES", "1000"), ("TFR_UPSTREAM", "pin")],
        || {
            Local::try_parse_from(["local-server"])
                .unwrap()
                .validate()
                .unwrap()
        },
    );
    assert_eq!(local.registry.config.max_body_bytes, 1000);
    assert!(local.upstream.upstream.is_some());
}

#[test]
fn blank_variables_count_as_unset() {
    let config = with_env(
        &[
            ("TFR_S3_BUCKET", "b"),
            ("TFR_MASTER_TOKEN_SHA256", HASH),
            ("TFR_S3_PREFIX", ""),
            ("TFR_MAX_BODY_BYTES", "  "),
            ("TFR_UPSTREAM_URL", ""),
            ("TFR_GITHUB_TOKEN", ""),
            ("TFR_ANONYMOUS_READS", ""),
        ],
        || common::lambda_from_env().unwrap(),
    );
    assert_eq!(config.registry.config.max_body_bytes, 4 * 1024 * 1024);
    assert!(config.upstream.upstream.is_none());
    assert_eq!(config.s3.unwrap().prefix, "");
}

#[test]
fn refusals_name_the_variable_not_the_flag() {
    for (vars, expected) in [
        (
            &[("TFR_MAX_BODY_BYTES", "ten")][..],
            "invalid value 'ten' for TFR_MAX_BODY_BYTES",
        ),
        (
            &[("TFR_ANONYMOUS_READS", "maybe")],
            "invalid value 'maybe' for TFR_ANONYMOUS_READS",
        ),
        (
            &[("TFR_UPSTREAM", "on")],
            "invalid value 'on' for TFR_UPSTREAM",
        ),
    ] {
        let e = with_env(vars, || parse_env_only::<Lambda>().unwrap_err());
        assert!(matches!(e, SettingsError::Environment(_)), "{e:?}");
        assert!(e.to_string().starts_with(expected), "{e}");
        assert!(!e.to_string().contains("--"), "{e}");
    }
    // The settings' own refusals name the variable too.
    let e = with_env(&[("TFR_S3_BUCKET", "b")], || {
        common::lambda_from_env().unwrap_err()
    });
    assert!(e.to_string().contains("TFR_MASTER_TOKEN_SHA256"), "{e}");
}
