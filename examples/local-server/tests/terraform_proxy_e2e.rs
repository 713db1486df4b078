//! End to end with the real Terraform CLI through an upstream: `local-server
//! --upstream proxy` in front of upstream-registry's in-process fake registry
//! (plain HTTP on loopback, no internet).
//!
//! 1. `terraform init` installs a module the registry does not host, proxied:
//!    versions from the upstream, the archive straight from the upstream's host.
//! 2. The master token pins that version, and a second module whose upstream
//!    answer is a `git::https://github.com/...//subdir?ref=...` source (fetched
//!    from the fake's codeload-like tarball host). `GET /v1/pins` shows both.
//! 3. The upstream is stopped. `terraform init` in a fresh directory still
//!    installs both, now from the registry's own storage; the proxied module's
//!    other upstream versions are no longer listed (the module is local now),
//!    and the git module holds only `modules/vpc`, at its root.
//!
//! Needs Terraform like `terraform_e2e.rs`; never skips.

mod common;

use reqwest::blocking::Client;
use reqwest::StatusCode;
use upstream_registry::fake::{tar_gz, FakeRegistry, Location};

use common::{
    create_token, find_terraform, https_client, list_files, send, text, Server, Terraform,
};

/// Proxied, then pinned: served by the fake as archives behind relative locations.
const PROXIED: &str = "vetted/consul/null";
/// Pinned from a GitHub source only (Terraform cannot reach GitHub here).
const FROM_GIT: &str = "vetted/network/null";

#[test]
fn terraform_installs_proxied_then_pinned_modules_with_the_upstream_down() {
    let terraform = find_terraform();
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeRegistry::start());

    // vetted/consul/null: 1.0.0 and 1.1.0 within `~> 1.0`, 2.0.0 outside it.
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let main_tf = module_tf(PROXIED, version);
        fake.publish(PROXIED, version, tar_gz(&[("main.tf", main_tf.as_bytes())]));
    }
    // vetted/network/null 3.0.0: the module sits in `modules/vpc` of a GitHub repo.
    fake.add_module(FROM_GIT, &["3.0.0"]);
    fake.set_location(
        FROM_GIT,
        "3.0.0",
        Location::Raw(
            "git::https://github.com/vetted/terraform-null-network.git//modules/vpc?ref=v3.0.0"
                .into(),
        ),
    );
    let network_tf = module_tf(FROM_GIT, "3.0.0");
    fake.add_tarball(
        "vetted",
        "terraform-null-network",
        "v3.0.0",
        tar_gz(&[
            (
                "vetted-terraform-null-network-abc1234/README.md",
                b"# repo root\n",
            ),
            (
                "vetted-terraform-null-network-abc1234/modules/vpc/main.tf",
                network_tf.as_bytes(),
            ),
        ]),
    );

    let upstream_url = fake.url().to_string();
    let codeload_url = fake.codeload_url().to_string();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "--upstream",
            "proxy",
            "--upstream-url",
            &upstream_url,
            "--github-tarball-url",
            &codeload_url,
            "--proxy-allow",
            "vetted",
            "--proxy-deny",
            "vetted/secret",
        ],
    );
    let base = format!("https://127.0.0.1:{}", server.port);
    let host = format!("127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);
    let downloader = create_token(&http, &base, &server.master_token, "tf", "downloader");
    let credentials = format!("credentials \"{host}\" {{\n  token = \"{downloader}\"\n}}\n");
    let tf = Terraform::new(terraform, tmp.path().join("home"), server.cert_path.clone());

    // The lists apply: a denied module is refused naming the rule, without asking the
    // upstream.
    let (status, _, body) = send(
        http.get(format!("{base}/v1/modules/vetted/secret/null/versions"))
            .bearer_auth(&downloader),
    );
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "denied module: {}",
        text(&body)
    );
    assert!(text(&body).contains("vetted/secret"), "{}", text(&body));
    assert_eq!(fake.requests("/v1/modules/vetted/secret"), 0);

    // --- 1. proxied
    let proxied = tf.workspace_with(
        &tmp.path().join("proxied"),
        &root_module(&host, &[("consul", PROXIED, "~> 1.0")]),
        &credentials,
    );
    tf.run_ok(&proxied, &["init", "-input=false", "-no-color"]);
    tf.run_ok(
        &proxied,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    assert_eq!(output(&tf, &proxied, "consul"), "vetted/consul/null 1.1.0");
    // go-getter may send a HEAD first; one GET fetched the archive.
    let archive_gets = fake
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/archives/vetted/consul/null/1.1.0.tar.gz")
        .count();
    assert_eq!(
        archive_gets,
        1,
        "Terraform should have fetched the proxied archive from the upstream's host: {:?}",
        fake.request_log()
    );
    assert_eq!(
        versions(&http, &base, &downloader, PROXIED),
        ["1.0.0", "1.1.0", "2.0.0"]
    );

    // --- 2. pinned (master token only)
    let pin_url = format!("{base}/v1/pins/{PROXIED}/1.1.0");
    let (status, _, body) = send(http.post(&pin_url).bearer_auth(&downloader));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "pin with a downloader token: {}",
        text(&body)
    );
    let pinned = pin(&http, &base, &server.master_token, PROXIED, "1.1.0");
    assert_eq!(pinned["ref"], serde_json::Value::Null);
    assert!(
        pinned["source"]
            .as_str()
            .unwrap()
            .ends_with("/archives/vetted/consul/null/1.1.0.tar.gz"),
        "{pinned}"
    );
    let pinned = pin(&http, &base, &server.master_token, FROM_GIT, "3.0.0");
    assert_eq!(pinned["ref"], "v3.0.0", "{pinned}");
    assert_eq!(
        fake.requests("/codeload/vetted/terraform-null-network/tar.gz/v3.0.0"),
        1
    );
    let (status, _, body) = send(http.post(&pin_url).bearer_auth(&server.master_token));
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "second pin of 1.1.0: {}",
        text(&body)
    );
    let (status, _, body) = send(
        http.post(format!("{base}/v1/pins/vetted/secret/null/1.0.0"))
            .bearer_auth(&server.master_token),
    );
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "pin of a denied module: {}",
        text(&body)
    );

    let (status, _, body) = send(
        http.get(format!("{base}/v1/pins"))
            .bearer_auth(&server.master_token),
    );
    assert_eq!(status, StatusCode::OK, "GET /v1/pins: {}", text(&body));
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let shown: Vec<String> = listing["pins"]
        .as_array()
        .unwrap_or_else(|| panic!("GET /v1/pins has no `pins` list: {listing}"))
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{} {} from {}",
                p["namespace"], p["name"], p["system"], p["version"], p["upstream"]
            )
            .replace('"', "")
        })
        .collect();
    let upstream_name = format!("127.0.0.1:{}", fake.url().port().unwrap());
    assert_eq!(
        shown,
        [
            format!("vetted/consul/null 1.1.0 from {upstream_name}"),
            format!("vetted/network/null 3.0.0 from {upstream_name}"),
        ]
    );

    // --- 3. the upstream is gone; the pins install from local storage
    rt.block_on(fake.shutdown());
    // Pinned means local: only the pinned version is listed, never the upstream's others.
    assert_eq!(versions(&http, &base, &downloader, PROXIED), ["1.1.0"]);
    let fresh = tf.workspace_with(
        &tmp.path().join("fresh"),
        &root_module(
            &host,
            &[
                ("consul", PROXIED, "~> 1.0"),
                ("network", FROM_GIT, "3.0.0"),
            ],
        ),
        &credentials,
    );
    tf.run_ok(&fresh, &["init", "-input=false", "-no-color"]);
    let network = fresh.dir.join(".terraform/modules/network");
    assert!(
        network.join("main.tf").is_file() && !network.join("README.md").exists(),
        "the pinned git module should hold modules/vpc at its root, it holds:\n{}",
        list_files(&network).join("\n")
    );
    let consul = fresh.dir.join(".terraform/modules/consul");
    assert!(
        consul.join("main.tf").is_file(),
        "the pinned 1.1.0 should hold main.tf at its root, it holds:\n{}",
        list_files(&consul).join("\n")
    );
    tf.run_ok(
        &fresh,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    assert_eq!(output(&tf, &fresh, "consul"), "vetted/consul/null 1.1.0");
    assert_eq!(output(&tf, &fresh, "network"), "vetted/network/null 3.0.0");

    // A module that was neither pinned nor is in storage now fails as the upstream does
    // (connection refused: 502, naming the upstream).
    let (status, _, body) = send(
        http.get(format!("{base}/v1/modules/vetted/other/null/versions"))
            .bearer_auth(&downloader),
    );
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "upstream down: {}",
        text(&body)
    );
    assert!(
        text(&body).contains(&upstream_name),
        "the 502 should name the upstream: {}",
        text(&body)
    );
}

/// A module whose `id` output says which module and version it is.
fn module_tf(module: &str, version: &str) -> String {
    format!("output \"id\" {{\n  value = \"{module} {version}\"\n}}\n")
}

/// A root module calling each `(name, module, constraint)` and outputting its `id`.
fn root_module(host: &str, modules: &[(&str, &str, &str)]) -> String {
    modules
        .iter()
        .map(|(name, module, constraint)| {
            format!(
                "module \"{name}\" {{\n  source  = \"{host}/{module}\"\n  version = \"{constraint}\"\n}}\n\n\
                 output \"{name}\" {{\n  value = module.{name}.id\n}}\n\n"
            )
        })
        .collect()
}

fn output(tf: &Terraform, workspace: &common::Workspace, name: &str) -> String {
    tf.run_ok(workspace, &["output", "-raw", name])
        .stdout
        .trim()
        .to_owned()
}

fn versions(http: &Client, base: &str, token: &str, module: &str) -> Vec<String> {
    let url = format!("{base}/v1/modules/{module}/versions");
    let (status, _, body) = send(http.get(&url).bearer_auth(token));
    assert_eq!(status, StatusCode::OK, "GET {url}: {}", text(&body));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    doc["modules"][0]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {url}: not a versions document: {doc}"))
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}

fn pin(http: &Client, base: &str, master: &str, module: &str, version: &str) -> serde_json::Value {
    let url = format!("{base}/v1/pins/{module}/{version}");
    let (status, _, body) = send(http.post(&url).bearer_auth(master));
    assert_eq!(status, StatusCode::CREATED, "POST {url}: {}", text(&body));
    let pinned: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(pinned["version"], version, "{pinned}");
    assert_eq!(
        pinned["sha256"].as_str().map(str::len),
        Some(64),
        "{pinned}"
    );
    pinned
}
