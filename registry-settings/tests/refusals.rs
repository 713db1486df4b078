//! One test per refusal the servers make, through the server that makes it
//! (or, for a shared group, the first server that offers it: `tests/servers.rs`
//! checks that the others refuse the same values).

mod common;

use std::time::Duration;

use common::{github, lambda, local, HASH};
use registry_settings::SettingsError;

/// The Lambda function's required settings, plus `extra`.
fn lambda_with(extra: &[&str]) -> Result<common::Validated, String> {
    let mut args = vec!["--s3-bucket", "b", "--master-token-sha256", HASH];
    args.extend(extra);
    lambda(&args)
}

/// github-server's required choices, plus `extra`.
fn github_with(extra: &[&str]) -> Result<common::Validated, String> {
    let mut args = vec!["--plain-http", "--anonymous-reads"];
    args.extend(extra);
    github(&args)
}

/// `result` is a refusal whose message holds every one of `needles`.
#[track_caller]
fn refused(result: Result<common::Validated, String>, needles: &[&str]) -> String {
    let message = result.expect_err("refused");
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    message
}

// --- Listen and TLS

#[test]
fn a_certificate_needs_its_key() {
    refused(local(&["--tls-cert", "c.pem"]), &["--tls-key"]);
}

#[test]
fn a_key_needs_its_certificate() {
    refused(local(&["--tls-key", "k.pem"]), &["--tls-cert"]);
}

#[test]
fn tls_files_exclude_plain_http() {
    let args = ["--tls-cert", "c.pem", "--tls-key", "k.pem", "--plain-http"];
    refused(local(&args), &["--plain-http"]);
}

#[test]
fn github_server_needs_tls_or_plain_http() {
    refused(
        github(&["--anonymous-reads"]),
        &["no TLS", "--tls-cert", "--tls-key", "--plain-http"],
    );
}

// --- Registry

#[test]
fn a_master_token_hash_that_is_not_one_is_refused_without_repeating_it() {
    let token = "tfr_the-master-token-given-by-mistake";
    let message = refused(
        local(&["--master-token-sha256", token]),
        &[
            "--master-token-sha256 (TFR_MASTER_TOKEN_SHA256)",
            "must be 64 hex digits",
            "sha256sum",
        ],
    );
    assert!(!message.contains(token), "{message}");
}

#[test]
fn the_hash_of_an_empty_master_token_is_refused() {
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    refused(
        local(&["--master-token-sha256", empty]),
        &["TFR_MASTER_TOKEN_SHA256", "empty string"],
    );
}

#[test]
fn lambda_needs_a_master_token_hash() {
    refused(
        lambda(&["--s3-bucket", "b", "--anonymous-reads"]),
        &[
            "TFR_MASTER_TOKEN_SHA256",
            "is not set",
            "never the token itself",
        ],
    );
}

#[test]
fn github_server_needs_a_master_token_hash_or_anonymous_reads() {
    refused(
        github(&["--plain-http"]),
        &[
            "no client auth chosen",
            "--master-token-sha256",
            "--anonymous-reads",
        ],
    );
}

#[test]
fn an_empty_master_token_is_refused() {
    refused(
        local(&["--master-token", " "]),
        &["--master-token (TFR_MASTER_TOKEN) is empty"],
    );
}

#[test]
fn a_master_token_and_its_hash_exclude_each_other() {
    refused(
        local(&["--master-token", "tfr_x", "--master-token-sha256", HASH]),
        &["--master-token", "--master-token-sha256"],
    );
}

#[test]
fn a_signing_key_that_is_not_one_is_refused_without_repeating_it() {
    for key in ["ab".repeat(31), "not hex".to_owned()] {
        let message = refused(
            local(&["--signing-key", &key]),
            &[
                "--signing-key (TFR_SIGNING_KEY) is not a key",
                "openssl rand",
            ],
        );
        assert!(!message.contains(&key), "{message}");
    }
}

#[test]
fn lambda_needs_a_shared_signing_key_for_github_archives() {
    refused(
        lambda_with(&["--upstream", "github"]),
        &[
            "TFR_SIGNING_KEY",
            "is not set",
            "TFR_UPSTREAM=github",
            "openssl rand",
        ],
    );
}

#[test]
fn lambda_needs_a_shared_signing_key_to_serve_s3_archives_itself() {
    refused(
        lambda_with(&["--s3-serve-through-registry"]),
        &[
            "TFR_SIGNING_KEY",
            "is not set",
            "TFR_S3_SERVE_THROUGH_REGISTRY",
        ],
    );
}

#[test]
fn an_upload_limit_of_zero_is_refused() {
    refused(
        local(&["--max-body-bytes", "0"]),
        &[
            "--max-body-bytes (TFR_MAX_BODY_BYTES) is invalid",
            "at least 1",
        ],
    );
}

#[test]
fn lambda_refuses_uploads_it_cannot_carry() {
    refused(
        lambda_with(&["--max-body-bytes", "4718593"]),
        &["TFR_MAX_BODY_BYTES", "from 1 to 4718592", "base64"],
    );
}

#[test]
fn archive_url_lifetimes_are_bounded() {
    // 0 would make every download URL expired, and the read cache off.
    for bad in ["0", "604801"] {
        refused(
            local(&["--archive-url-ttl-secs", bad]),
            &[
                "--archive-url-ttl-secs (TFR_ARCHIVE_URL_TTL_SECS)",
                "from 1 to 604800",
            ],
        );
    }
}

#[test]
fn the_read_cache_lives_a_minute_at_most() {
    refused(
        local(&["--read-cache-ttl-ms", "60001"]),
        &[
            "--read-cache-ttl-ms (TFR_READ_CACHE_TTL_MS)",
            "from 0 (no cache) to 60000",
        ],
    );
}

#[test]
fn at_least_one_upload_at_a_time() {
    refused(
        local(&["--max-concurrent-uploads", "0"]),
        &[
            "--max-concurrent-uploads (TFR_MAX_CONCURRENT_UPLOADS)",
            "at least 1",
        ],
    );
}

#[test]
fn the_spool_directory_must_exist() {
    refused(
        local(&["--spool-dir", "/nonexistent/spool"]),
        &[
            "--spool-dir (TFR_SPOOL_DIR)",
            "/nonexistent/spool",
            "not a directory",
        ],
    );
}

#[test]
fn numbers_must_be_numbers() {
    refused(
        local(&["--max-unpacked-bytes", "ten"]),
        &["--max-unpacked-bytes"],
    );
}

#[test]
fn booleans_must_be_booleans() {
    refused(
        common::parse::<common::Local>(&["--anonymous-reads=maybe"])
            .map(|_| unreachable!())
            .map_err(|e| e.to_string()),
        &["--anonymous-reads"],
    );
}

// --- S3

#[test]
fn s3_storage_needs_a_bucket() {
    refused(
        local(&["--storage-s3"]),
        &["--s3-bucket (TFR_S3_BUCKET) is not set"],
    );
    refused(lambda(&["--master-token-sha256", HASH]), &["TFR_S3_BUCKET"]);
}

#[test]
fn s3_keys_do_not_start_with_a_slash() {
    refused(
        lambda_with(&["--s3-prefix", "/registry"]),
        &["--s3-prefix (TFR_S3_PREFIX)", "drop the leading '/'"],
    );
}

#[test]
fn the_presigned_url_lifetime_is_the_archive_url_lifetime() {
    refused(
        lambda_with(&["--s3-presign-ttl-secs", "60"]),
        &["TFR_S3_PRESIGN_TTL_SECS", "TFR_ARCHIVE_URL_TTL_SECS"],
    );
}

#[test]
fn s3_settings_need_s3_storage() {
    for flags in [
        &["--s3-bucket", "modules"][..],
        &["--s3-prefix", "registry/"],
        &["--s3-region", "eu-west-1"],
        &["--s3-endpoint-url", "http://127.0.0.1:9000"],
        &["--s3-force-path-style"],
        &["--s3-serve-through-registry"],
    ] {
        refused(local(flags), &[flags[0], "only applies with --storage s3"]);
        // The same flags with --storage s3 (and a bucket) are fine.
        let mut with_s3 = vec!["--storage-s3"];
        if flags[0] != "--s3-bucket" {
            with_s3.extend(["--s3-bucket", "b"]);
        }
        with_s3.extend(flags);
        assert!(local(&with_s3).is_ok(), "{with_s3:?}");
    }
}

#[test]
fn an_s3_configuration_storage_s3_refuses_names_the_setting() {
    // storage-s3 refuses a lifetime S3 does not accept; the settings crate
    // names the setting that sets it.
    let s3: registry_settings::s3::S3Args = s3_group(&["--s3-bucket", "b"]);
    let message = s3.s3_config(Duration::ZERO).unwrap_err().to_string();
    assert!(
        message.starts_with("--archive-url-ttl-secs (TFR_ARCHIVE_URL_TTL_SECS) is invalid"),
        "{message}"
    );
}

fn s3_group(args: &[&str]) -> registry_settings::s3::S3Args {
    #[derive(clap::Parser)]
    struct Only {
        #[command(flatten)]
        s3: registry_settings::s3::S3Args,
    }
    common::parse::<Only>(args).unwrap().s3
}

// --- Upstream

#[test]
fn the_upstream_mode_is_one_of_the_offered() {
    refused(
        local(&["--upstream", "github"]),
        &["--upstream", "off, pin, proxy"],
    );
    refused(
        lambda_with(&["--upstream", "on"]),
        &["off, pin, proxy, github"],
    );
}

#[test]
fn upstream_registry_settings_need_pin_or_proxy() {
    for flags in [
        &["--upstream-url", "https://registry.example.com"][..],
        &["--upstream-token", "t"],
        &["--upstream-timeout-secs", "3"],
        &["--upstream-cache-ttl-secs", "3"],
        &["--upstream-ca-file", "ca.pem"],
        &["--github-tarball-url", "http://127.0.0.1:1/"],
    ] {
        refused(
            local(flags),
            &[
                flags[0],
                "only applies with --upstream pin or --upstream proxy",
            ],
        );
        let mut with = vec!["--upstream", "pin"];
        with.extend(flags);
        let ok = local(&with);
        // Only the CA file is read: it does not exist here.
        assert!(
            ok.is_ok() || flags[0] == "--upstream-ca-file",
            "{with:?}: {ok:?}"
        );
    }
    refused(
        lambda_with(&["--signing-key", &common::key(), "--upstream", "github", "--upstream-url", "https://r.example.com"]),
        &["--upstream-url (TFR_UPSTREAM_URL) only applies with --upstream pin or --upstream proxy"],
    );
}

#[test]
fn the_lists_need_an_upstream() {
    refused(
        local(&["--proxy-allow", "hashicorp", "--proxy-deny", "acme"]),
        &["--proxy-allow (TFR_PROXY_ALLOW), --proxy-deny (TFR_PROXY_DENY) only apply with"],
    );
}

#[test]
fn github_settings_need_the_github_upstream() {
    refused(
        lambda_with(&["--upstream", "proxy", "--github-app-id", "1"]),
        &["--github-app-id (TFR_GITHUB_APP_ID) only applies with --upstream github"],
    );
    refused(
        lambda_with(&["--github-token", "t"]),
        &["TFR_GITHUB_TOKEN", "--upstream pin, proxy or github"],
    );
}

#[test]
fn upstream_urls_must_be_base_urls_and_credentials_are_never_shown() {
    for (flag, bad) in [
        ("--upstream-url", "registry.example.com"),
        ("--upstream-url", "ftp://registry.example.com"),
        ("--upstream-url", "https://u:p@registry.example.com"),
        (
            "--upstream-url",
            "https://registry.example.com/?token=secret",
        ),
        ("--upstream-url", ""),
        ("--github-tarball-url", "codeload.github.com"),
    ] {
        let message = refused(
            local(&["--upstream", "proxy", flag, bad]),
            &[flag, "is invalid"],
        );
        assert!(
            !message.contains("u:p") && !message.contains("secret"),
            "{message}"
        );
    }
}

#[test]
fn an_empty_upstream_token_is_refused() {
    refused(
        local(&["--upstream", "pin", "--upstream-token", " "]),
        &["--upstream-token (TFR_UPSTREAM_TOKEN) is empty"],
    );
}

#[test]
fn upstream_timeouts_are_bounded() {
    for bad in ["0", "3601"] {
        refused(
            local(&["--upstream", "pin", "--upstream-timeout-secs", bad]),
            &[
                "--upstream-timeout-secs (TFR_UPSTREAM_TIMEOUT_SECS)",
                "from 1 to 3600",
            ],
        );
    }
}

#[test]
fn upstream_cache_lifetimes_are_bounded() {
    refused(
        local(&["--upstream", "pin", "--upstream-cache-ttl-secs", "86401"]),
        &[
            "--upstream-cache-ttl-secs (TFR_UPSTREAM_CACHE_TTL_SECS)",
            "from 0 to 86400",
        ],
    );
}

#[test]
fn an_unreadable_upstream_ca_file_is_refused() {
    refused(
        local(&[
            "--upstream",
            "pin",
            "--upstream-ca-file",
            "/nonexistent/ca.pem",
        ]),
        &["cannot read --upstream-ca-file (TFR_UPSTREAM_CA_FILE) /nonexistent/ca.pem"],
    );
}

#[test]
fn module_patterns_are_whole_segments() {
    for (flag, bad) in [("--proxy-allow", "hashi*"), ("--proxy-deny", "a/b/c/d")] {
        refused(
            local(&["--upstream", "proxy", flag, bad]),
            &[flag, "namespace/name/system"],
        );
    }
}

#[test]
fn the_upstream_registry_clients_refusals_name_the_setting() {
    let config = upstream_registry::RegistryUpstreamConfig::default().with_token("a\nb");
    let e = upstream_registry::RegistryUpstream::new(config).unwrap_err();
    let e = registry_settings::upstream::registry_client_error(e);
    assert!(matches!(e, SettingsError::Invalid { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("--upstream-token (TFR_UPSTREAM_TOKEN) is invalid"),
        "{e}"
    );
}

// --- GitHub

#[test]
fn the_github_api_url_must_be_a_base_url() {
    let message = refused(
        github_with(&["--github-api-url", "https://u:p@api.github.com"]),
        &["--github-api-url (TFR_GITHUB_API_URL)", "credentials"],
    );
    assert!(!message.contains("u:p"), "{message}");
}

#[test]
fn a_github_token_and_an_app_exclude_each_other() {
    let message = refused(
        github_with(&["--github-token", "ghp_tok", "--github-app-id", "1"]),
        &["--github-token (TFR_GITHUB_TOKEN) and --github-app-id (TFR_GITHUB_APP_ID) are both set"],
    );
    assert!(!message.contains("ghp_tok"), "{message}");
}

#[test]
fn the_app_key_is_given_once() {
    refused(
        github_with(&[
            "--github-app-id",
            "1",
            "--github-app-private-key",
            "pem",
            "--github-app-private-key-file",
            "k.pem",
        ]),
        &["--github-app-private-key (TFR_GITHUB_APP_PRIVATE_KEY) and --github-app-private-key-file"],
    );
}

#[test]
fn app_settings_need_the_app_id() {
    for flag in [
        "--github-app-private-key",
        "--github-app-private-key-file",
        "--github-app-installation-id",
    ] {
        refused(
            github_with(&[flag, "x"]),
            &["--github-app-id (TFR_GITHUB_APP_ID) is not set", flag],
        );
    }
}

#[test]
fn the_app_id_needs_a_key() {
    refused(
        github_with(&["--github-app-id", "1"]),
        &["--github-app-private-key-file (TFR_GITHUB_APP_PRIVATE_KEY_FILE) is not set"],
    );
}

#[test]
fn an_unreadable_app_key_file_is_refused() {
    refused(
        github_with(&["--github-app-id", "1", "--github-app-private-key-file", "/nonexistent/key.pem"]),
        &["cannot read --github-app-private-key-file (TFR_GITHUB_APP_PRIVATE_KEY_FILE) /nonexistent/key.pem"],
    );
}

#[test]
fn an_unusable_app_key_is_refused_without_showing_it() {
    let garbage = "-----BEGIN RSA PRIVATE KEY-----\\nc2VjcmV0LWtleS1ieXRlcw==\\n-----END RSA PRIVATE KEY-----";
    let message = refused(
        github_with(&["--github-app-id", "1", "--github-app-private-key", garbage]),
        &[
            "--github-app-private-key (TFR_GITHUB_APP_PRIVATE_KEY) is invalid",
            "App's settings page",
        ],
    );
    assert!(!message.contains("c2VjcmV0"), "{message}");
}

#[test]
fn an_app_id_with_spaces_is_refused() {
    refused(
        github_with(&[
            "--github-app-id",
            "12 345",
            "--github-app-private-key",
            common::app_key(),
        ]),
        &[
            "--github-app-id (TFR_GITHUB_APP_ID) is invalid",
            "client ID",
        ],
    );
}

#[test]
fn the_installation_id_is_a_positive_number() {
    for bad in ["abc", "0"] {
        refused(
            github_with(&[
                "--github-app-id",
                "1",
                "--github-app-private-key",
                common::app_key(),
                "--github-app-installation-id",
                bad,
            ]),
            &[
                "--github-app-installation-id (TFR_GITHUB_APP_INSTALLATION_ID)",
                "installations/NUMBER",
            ],
        );
    }
}

#[test]
fn repository_templates_are_checked() {
    for bad in ["{namespace}-{name}", "{owner}/{name}"] {
        refused(
            github_with(&["--repo-template", bad]),
            &["--repo-template (TFR_GITHUB_REPO_TEMPLATE) is invalid"],
        );
    }
}

#[test]
fn repository_mappings_need_an_equals_sign() {
    refused(
        github_with(&["--repo", "acme/vpc/aws"]),
        &[
            "--repo (TFR_GITHUB_REPOS) is invalid",
            "ns/name/system=owner/repo",
        ],
    );
}

#[test]
fn repository_mappings_are_checked() {
    for bad in ["acme/vpc=o/r", "acme/vpc/aws=o"] {
        refused(
            github_with(&["--repo", bad]),
            &["--repo (TFR_GITHUB_REPOS) is invalid"],
        );
    }
}

#[test]
fn github_cache_lifetimes_are_bounded() {
    refused(
        github_with(&["--github-cache-ttl-secs", "86401"]),
        &[
            "--github-cache-ttl-secs (TFR_GITHUB_CACHE_TTL_SECS)",
            "from 0 to 86400",
        ],
    );
}

#[test]
fn github_timeouts_are_bounded() {
    refused(
        github_with(&["--github-timeout-secs", "0"]),
        &[
            "--github-timeout-secs (TFR_GITHUB_TIMEOUT_SECS)",
            "from 1 to 3600",
        ],
    );
}

#[test]
fn an_unreadable_github_ca_file_is_refused() {
    refused(
        github_with(&["--github-ca-file", "/nonexistent/ca.pem"]),
        &["cannot read --github-ca-file (TFR_GITHUB_CA_FILE)"],
    );
}

#[test]
fn redirected_archives_are_not_cached() {
    refused(
        github_with(&["--cache-archives", "--redirect-archives"]),
        &["--cache-archives (TFR_GITHUB_CACHE_ARCHIVES) and --redirect-archives"],
    );
}

#[test]
fn an_empty_github_token_is_refused() {
    refused(
        github_with(&["--github-token", ""]),
        &["--github-token (TFR_GITHUB_TOKEN) is empty"],
    );
}

#[test]
fn the_github_clients_refusals_name_the_setting() {
    let config = upstream_github::GithubConfig::new()
        .with_extra_root_certificates(vec![b"not a certificate".to_vec()]);
    let e = upstream_github::GithubUpstream::new(config).unwrap_err();
    let e = registry_settings::github::github_client_error(e);
    assert!(
        e.to_string()
            .starts_with("--github-ca-file (TFR_GITHUB_CA_FILE) is invalid"),
        "{e}"
    );
}

// --- Usage errors

#[test]
fn refusals_are_usage_errors_of_the_right_kind() {
    use clap::error::ErrorKind;
    use clap::CommandFactory as _;
    let kind = |args: &[&str]| {
        let e = common::parse::<common::Local>(args)
            .unwrap()
            .validate()
            .unwrap_err();
        let usage = e.usage(&mut common::Local::command());
        assert!(usage.to_string().contains(&e.to_string()), "{usage}");
        usage.kind()
    };
    assert_eq!(kind(&["--storage-s3"]), ErrorKind::MissingRequiredArgument);
    assert_eq!(kind(&["--s3-region", "x"]), ErrorKind::ArgumentConflict);
    assert_eq!(kind(&["--max-body-bytes", "0"]), ErrorKind::ValueValidation);
}
