//! End to end with the real Terraform CLI and a real S3 server: starts the
//! `local-server` binary with `--storage s3` on a fresh bucket of
//! `$TFR_TEST_S3_ENDPOINT` (moto's S3 server, which `scripts/test` starts),
//! publishes a module over the HTTP API, then lets `terraform init` / `apply`
//! install it through the presigned S3 URL the download endpoint hands out, with
//! the `checksum=sha256:` Terraform verifies.
//!
//! Needs Terraform as `terraform_e2e.rs` does, and `TFR_TEST_S3_ENDPOINT` with
//! AWS credentials in the environment (moto takes any, e.g.
//! `AWS_ACCESS_KEY_ID=testing`). Without `TFR_TEST_S3_ENDPOINT` this test says
//! so and passes, except under `CI=true`, where it fails.

mod common;

use std::collections::BTreeMap;
use std::env;
use std::time::Duration;

use rand::RngCore as _;
use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use sha2::{Digest as _, Sha256};

use common::{
    create_token, find_terraform, https_client, module_archive, publish, send, text, Server,
    Terraform, MODULE,
};

/// `--archive-url-ttl-secs`: also the lifetime of the presigned S3 URLs.
const ARCHIVE_URL_TTL_SECS: u64 = 120;
/// `--s3-prefix`: the registry's keys start with it.
const S3_PREFIX: &str = "e2e-registry";

#[test]
fn terraform_installs_a_module_from_the_local_server_on_s3() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let terraform = find_terraform();
    let s3 = plain_client();
    let bucket = create_bucket(&s3, &endpoint);

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let server = Server::start(
        &data_dir,
        &[
            "--storage",
            "s3",
            "--s3-endpoint-url",
            &endpoint,
            "--s3-force-path-style",
            "--s3-bucket",
            &bucket,
            "--s3-prefix",
            S3_PREFIX,
            "--archive-url-ttl-secs",
            &ARCHIVE_URL_TTL_SECS.to_string(),
        ],
    );
    let base = format!("https://127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);

    // The token goes to the bucket too (S3TokenStore), and Terraform uses it below.
    let downloader = create_token(
        &http,
        &base,
        &server.master_token,
        "e2e-downloader",
        "downloader",
    );
    let mut published = BTreeMap::new();
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        let archive = module_archive(version, None);
        publish(&http, &base, &server.master_token, version, &archive);
        published.insert(version, archive);
    }
    // TLS files and keys stay in the data directory; modules and tokens do not.
    for kept in ["tls/cert.pem", "signing-key", "master-token.sha256"] {
        assert!(
            data_dir.join(kept).is_file(),
            "{kept} should be in the data directory with --storage s3"
        );
    }
    for absent in ["modules", "tokens"] {
        assert!(
            !data_dir.join(absent).exists(),
            "with --storage s3 nothing should be stored in {}",
            data_dir.join(absent).display()
        );
    }

    check_presigned_archive_url(
        &http,
        &s3,
        &base,
        &downloader,
        &format!("{endpoint}/{bucket}/"),
        &published["1.2.0"],
    );

    // `terraform init` + `apply` with the downloader token resolves `~> 1.0` to 1.2.0,
    // fetching the archive from the S3 server through the presigned URL.
    let tf = Terraform::new(terraform, tmp.path().join("home"), server.cert_path.clone());
    let host = format!("127.0.0.1:{}", server.port);
    let workspace = tf.workspace(
        &tmp.path().join("with-token"),
        &host,
        &format!("credentials \"{host}\" {{\n  token = \"{downloader}\"\n}}\n"),
    );
    tf.run_ok(&workspace, &["init", "-input=false", "-no-color"]);
    let installed = workspace.dir.join(".terraform/modules/greeting/main.tf");
    assert!(
        installed.is_file(),
        "terraform init installed no {}",
        installed.display()
    );
    tf.run_ok(
        &workspace,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    let output = tf.run_ok(&workspace, &["output", "-raw", "v"]);
    assert_eq!(
        output.stdout.trim(),
        "1.2.0",
        "`~> 1.0` should pick 1.2.0\n{output}"
    );
}

/// Requests the 1.2.0 download with `token` and checks `X-Terraform-Get`: an absolute,
/// presigned URL of the object under `bucket_url`, valid `ARCHIVE_URL_TTL_SECS`,
/// ending in `&checksum=sha256:<hex of archive>`, that serves exactly `archive`
/// without any token.
fn check_presigned_archive_url(
    http: &Client,
    s3: &Client,
    base: &str,
    token: &str,
    bucket_url: &str,
    archive: &[u8],
) {
    let download = format!("{base}/v1/modules/{MODULE}/1.2.0/download");
    let (status, headers, body) = send(http.get(&download).bearer_auth(token));
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "GET {download}: {}",
        text(&body)
    );
    let location = headers
        .get("x-terraform-get")
        .unwrap_or_else(|| panic!("GET {download} has no X-Terraform-Get header: {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with(&format!("{bucket_url}{S3_PREFIX}")),
        "X-Terraform-Get should be an absolute URL of an object under {bucket_url}{S3_PREFIX}, got {location:?}"
    );
    let url = Url::parse(&location).unwrap();
    assert!(
        url.path().ends_with("1.2.0.tar.gz"),
        "the archive URL's path should end in the version's file name (go-getter picks the unpacker by extension): {location}"
    );
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(
        query.contains_key("X-Amz-Signature"),
        "the archive URL should be presigned (X-Amz-Signature=): {location}"
    );
    assert_eq!(
        query.get("X-Amz-Expires").map(String::as_str),
        Some(ARCHIVE_URL_TTL_SECS.to_string().as_str()),
        "the presigned URL should live --archive-url-ttl-secs: {location}"
    );
    let checksum = format!("sha256:{}", hex::encode(Sha256::digest(archive)));
    assert!(
        location.ends_with(&format!("&checksum={checksum}")),
        "the archive URL should end in `&checksum={checksum}` (the published archive's SHA-256): {location}"
    );

    // As Terraform fetches it: unmodified, no token, straight from the S3 server.
    let (status, _, served) = send(s3.get(location.as_str()));
    assert_eq!(
        status,
        StatusCode::OK,
        "GET {location} (presigned): {}",
        text(&served)
    );
    assert!(
        served == archive,
        "the presigned URL served {} bytes that differ from the {} published",
        served.len(),
        archive.len()
    );
}

/// `$TFR_TEST_S3_ENDPOINT` without a trailing `/`; `None` (after saying so) when it
/// is not set, and a failure instead under `CI=true`.
fn s3_endpoint() -> Option<String> {
    const MISSING: &str = "TFR_TEST_S3_ENDPOINT is not set: run scripts/test, which starts moto";
    match env::var("TFR_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            Some(endpoint.trim().trim_end_matches('/').to_owned())
        }
        _ if env::var("CI").is_ok_and(|ci| ci == "true") => panic!("{MISSING}"),
        _ => {
            eprintln!("skipped: {MISSING}");
            None
        }
    }
}

/// A client for the S3 server: plain HTTP, no proxy, no redirects.
fn plain_client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Creates a bucket with a fresh random name, so every run starts empty. moto takes an
/// unsigned `PUT /{bucket}` (path style, us-east-1: no location body needed).
fn create_bucket(s3: &Client, endpoint: &str) -> String {
    let mut raw = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let bucket = format!("tfr-e2e-{}", hex::encode(raw));
    let (status, _, body) = send(s3.put(format!("{endpoint}/{bucket}")));
    assert!(
        status.is_success(),
        "creating bucket {bucket} with an unsigned PUT {endpoint}/{bucket} answered {status} \
         (moto's server accepts it; is TFR_TEST_S3_ENDPOINT moto?): {}",
        text(&body)
    );
    bucket
}
