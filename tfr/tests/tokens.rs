//! `tfr tokens create|list|delete` against the real `local-server` over
//! HTTPS (its self-signed certificate through SSL_CERT_FILE), with the
//! master token from TFR_TOKEN.

mod common;

use common::{tfr, Server};

#[test]
fn create_list_and_delete_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let host = server.host();
    let cert = server.cert_path.to_str().unwrap().to_owned();
    let env = [
        ("SSL_CERT_FILE", cert.as_str()),
        ("TFR_TOKEN", server.master_token.as_str()),
    ];
    let run = |args: &[&str]| tfr(&home, args, &env);

    // create: the token alone on stdout, the details on stderr.
    let created = run(&[
        "tokens",
        "create",
        &host,
        "--name",
        "ci",
        "--tier",
        "downloader",
        "--expires-in",
        "15m",
        "--namespace",
        "acme",
        "--namespace",
        "platform-*",
    ]);
    let token = created.ok().trim().to_owned();
    assert!(
        common::find_token(&token).as_deref() == Some(token.as_str()),
        "{created:#?}"
    );
    assert!(
        created.stderr.contains("downloader token \"ci\""),
        "{created:#?}"
    );
    assert!(
        created.stderr.contains("namespaces acme, platform-*"),
        "{created:#?}"
    );
    assert!(created.stderr.contains("expires 20"), "{created:#?}");
    assert!(
        !created.stderr.contains(&token),
        "the token went to stderr: {created:#?}"
    );

    let json = run(&[
        "tokens", "create", &host, "--name", "release", "--tier", "uploader", "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(answer["name"], "release");
    assert_eq!(answer["tier"], "uploader");
    assert!(
        answer["token"].as_str().unwrap().starts_with("tfr_"),
        "{answer}"
    );
    assert!(
        answer["expires_at"].is_null() && answer["namespaces"].is_null(),
        "{answer}"
    );

    // list: a table, and the raw answer.
    let list = run(&["tokens", "list", &host]);
    let table = list.ok();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("NAMESPACES"),
        "{table}"
    );
    let ci = lines
        .iter()
        .find(|l| l.starts_with("ci "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        ci.contains("downloader") && ci.contains("acme,platform-*") && ci.ends_with("master"),
        "{table}"
    );
    assert!(!ci.contains("never"), "{table}");
    let release = lines
        .iter()
        .find(|l| l.starts_with("release "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        release.contains("uploader") && release.contains(" * ") && release.contains("never"),
        "{table}"
    );
    assert!(!table.contains("tfr_"), "a token in the list: {table}");

    let raw: serde_json::Value =
        serde_json::from_str(run(&["tokens", "list", &host, "--json"]).ok()).unwrap();
    let names: Vec<&str> = raw["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"ci") && names.contains(&"release"), "{raw}");

    // A server refusal: its message and status, exit 1.
    let again = run(&[
        "tokens",
        "create",
        &host,
        "--name",
        "ci",
        "--tier",
        "downloader",
    ]);
    let stderr = again.failed();
    assert!(
        stderr.contains(&host) && stderr.contains("409"),
        "{again:#?}"
    );
    assert!(again.stdout.is_empty(), "{again:#?}");

    // delete, then it is gone, and a second delete is a 404.
    let deleted = run(&["tokens", "delete", &host, "ci"]);
    deleted.ok();
    assert!(
        deleted.stderr.contains("deleted token \"ci\""),
        "{deleted:#?}"
    );
    assert!(!run(&["tokens", "list", &host])
        .ok()
        .lines()
        .any(|l| l.starts_with("ci ")));
    let gone = run(&["tokens", "delete", &host, "ci"]);
    assert!(gone.failed().contains("404"), "{gone:#?}");

    // Only the master token manages tokens: the server's 401/403, shown.
    let downloader = tfr(
        &home,
        &["tokens", "list", &host],
        &[("SSL_CERT_FILE", &cert), ("TFR_TOKEN", &token)],
    );
    let stderr = downloader.failed();
    assert!(
        stderr.contains("401") || stderr.contains("403"),
        "{downloader:#?}"
    );
    assert!(!stderr.contains(&token), "{downloader:#?}");
}

#[test]
fn missing_settings_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let host = server.host();
    let cert = server.cert_path.to_str().unwrap().to_owned();

    let no_token = tfr(
        dir.path(),
        &["tokens", "list", &host],
        &[("SSL_CERT_FILE", &cert)],
    );
    assert!(no_token.failed().contains("set TFR_TOKEN"), "{no_token:#?}");

    // No SSL_CERT_FILE: the self-signed certificate is not trusted.
    let untrusted = tfr(
        dir.path(),
        &["tokens", "list", &host],
        &[("TFR_TOKEN", &server.master_token)],
    );
    let stderr = untrusted.failed();
    assert!(
        stderr.contains(&host) && stderr.contains("SSL_CERT_FILE"),
        "{untrusted:#?}"
    );
    assert!(!stderr.contains(&server.master_token), "{untrusted:#?}");

    // Nobody listening: the host is named.
    drop(server);
    let down = tfr(
        dir.path(),
        &["tokens", "list", &host],
        &[("SSL_CERT_FILE", &cert), ("TFR_TOKEN", "tfr_x")],
    );
    let stderr = down.failed();
    assert!(
        stderr.contains(&format!("cannot connect to {host}")),
        "{down:#?}"
    );
}
