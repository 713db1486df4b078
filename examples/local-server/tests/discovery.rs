//! The discovery API (list, search, providers, details, latest download) on the
//! real `local-server` binary over HTTPS; two servers on one data directory
//! seeing each other's publishes and deletes in list and search within the
//! read-cache TTL; and `--rebuild-catalogue` recovering a deleted catalogue and
//! versions stored without metadata.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use flate2::write::GzEncoder;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;

use common::{create_token, https_client, send, text, Server};

/// The read-cache (and catalogue) TTL the two-server test runs with.
const TTL: Duration = Duration::from_millis(400);
/// Slack on top of the TTL for the one reload a request after it makes.
const RELOAD_SLACK: Duration = Duration::from_millis(300);

/// A `.tar.gz` of a module at the archive's root: `README.md` (first paragraph
/// `description`), one required and one optional input, an output, a provider
/// requirement and a resource.
fn rich_module(description: &str) -> Vec<u8> {
    let files = [
        (
            "README.md",
            format!("# Module\n\n{description}\n\n```hcl\nmodule \"x\" {{}}\n```\n"),
        ),
        (
            "main.tf",
            r#"terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "cidr_block" {
  description = "The VPC's IPv4 range."
  type        = string
}

variable "tags" {
  type    = map(string)
  default = { team = "net" }
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr_block
  tags       = var.tags
}

output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}
"#
            .to_owned(),
        ),
    ];
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn get_json(http: &Client, url: &str, token: &str) -> Value {
    let (status, _, body) = send(http.get(url).bearer_auth(token));
    assert_eq!(status, StatusCode::OK, "GET {url}: {}", text(&body));
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {}", text(&body)))
}

fn publish(http: &Client, base: &str, token: &str, module: &str, version: &str, archive: &[u8]) {
    let url = format!("{base}/v1/modules/{module}/{version}");
    let request = http
        .put(&url)
        .bearer_auth(token)
        .header("content-type", "application/gzip")
        .body(archive.to_vec());
    let (status, _, body) = send(request);
    assert_eq!(status, StatusCode::CREATED, "PUT {url}: {}", text(&body));
}

/// The `id`s of a list or search answer's modules.
fn ids(page: &Value) -> Vec<String> {
    page["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("no `modules` array: {page}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn discovery_api_answers_on_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let base = format!("https://127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);
    let master = &server.master_token;
    let reader = create_token(&http, &base, master, "reader", "downloader");

    let archive = rich_module("Creates one VPC with tags.");
    publish(&http, &base, master, "acme/vpc/aws", "1.0.0", &archive);
    publish(&http, &base, master, "acme/vpc/aws", "1.2.0", &archive);
    publish(&http, &base, master, "acme/vpc/google", "0.1.0", &archive);
    for i in 0..5 {
        publish(
            &http,
            &base,
            master,
            &format!("team{i}/dns/aws"),
            "2.0.0",
            &rich_module("Manages DNS zones."),
        );
    }

    // Details: the latest version, its README-derived description, the root's
    // inputs, outputs, providers and resources, and every version.
    let details = get_json(&http, &format!("{base}/v1/modules/acme/vpc/aws"), &reader);
    assert_eq!(details["id"], "acme/vpc/aws/1.2.0", "{details}");
    assert_eq!(details["version"], "1.2.0");
    assert_eq!(details["description"], "Creates one VPC with tags.");
    assert_eq!(
        details["versions"],
        serde_json::json!(["1.0.0", "1.2.0"]),
        "{details}"
    );
    assert_eq!(
        details["providers"],
        serde_json::json!(["aws"]),
        "the providers it uses: {details}"
    );
    let root = &details["root"];
    assert!(
        root["readme"].as_str().unwrap().contains("```hcl"),
        "{root}"
    );
    let inputs: Vec<(&str, bool)> = root["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap(),
                i["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(inputs, [("cidr_block", true), ("tags", false)], "{root}");
    assert_eq!(root["outputs"][0]["name"], "vpc_id", "{root}");
    assert_eq!(
        root["provider_dependencies"][0]["source"], "hashicorp/aws",
        "{root}"
    );
    assert_eq!(root["resources"][0]["type"], "aws_vpc", "{root}");
    let older = get_json(
        &http,
        &format!("{base}/v1/modules/acme/vpc/aws/1.0.0"),
        &reader,
    );
    assert_eq!(older["version"], "1.0.0");

    // Providers of a module; the latest download redirects to the version's.
    let providers = get_json(&http, &format!("{base}/v1/modules/acme/vpc"), &reader);
    let names: Vec<&str> = providers["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws", "google"], "{providers}");
    let (status, headers, body) = send(
        http.get(format!("{base}/v1/modules/acme/vpc/aws/download"))
            .bearer_auth(&reader),
    );
    assert_eq!(status, StatusCode::FOUND, "{}", text(&body));
    assert_eq!(
        headers["location"],
        "/v1/modules/acme/vpc/aws/1.2.0/download"
    );

    // Pagination walks all seven modules exactly once, following next_url.
    let mut seen = Vec::new();
    let mut url = format!("{base}/v1/modules?limit=3");
    loop {
        let page = get_json(&http, &url, &reader);
        seen.extend(ids(&page));
        match page["meta"]["next_url"].as_str() {
            Some(next) => url = format!("{base}{next}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(unique.len(), 7, "a module listed twice: {seen:?}");

    // Filters and search.
    let google = get_json(
        &http,
        &format!("{base}/v1/modules?provider=google"),
        &reader,
    );
    assert_eq!(ids(&google), ["acme/vpc/google/0.1.0"]);
    let acme = get_json(&http, &format!("{base}/v1/modules/acme"), &reader);
    assert_eq!(ids(&acme), ["acme/vpc/aws/1.2.0", "acme/vpc/google/0.1.0"]);
    let found = get_json(
        &http,
        &format!("{base}/v1/modules/search?q=vpc%20tags&provider=aws"),
        &reader,
    );
    assert_eq!(ids(&found), ["acme/vpc/aws/1.2.0"], "{found}");
    let dns = get_json(&http, &format!("{base}/v1/modules/search?q=zon"), &reader);
    assert_eq!(ids(&dns).len(), 5, "a prefix of a description word: {dns}");

    // Refusals: no token, no words, a reserved word as a name.
    let (status, _, _) = send(http.get(format!("{base}/v1/modules")));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = send(
        http.get(format!("{base}/v1/modules/search?q=%20"))
            .bearer_auth(&reader),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    let (status, _, body) = send(
        http.put(format!("{base}/v1/modules/acme/search/aws/1.0.0"))
            .bearer_auth(master)
            .header("content-type", "application/gzip")
            .body(archive.clone()),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    assert!(text(&body).contains("reserved"), "{}", text(&body));
}

#[test]
fn two_servers_on_one_data_dir_see_each_others_changes_within_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ttl = TTL.as_millis().to_string();
    let args = ["--read-cache-ttl-ms", ttl.as_str()];
    let one = Server::start(&data, &args);
    let two = Server::start_with_master_token(&data, &args, &one.master_token);
    let token = &one.master_token;
    let http = https_client(&one.cert_path);
    let base_one = format!("https://127.0.0.1:{}", one.port);
    let base_two = format!("https://127.0.0.1:{}", two.port);
    let list = |base: &str| ids(&get_json(&http, &format!("{base}/v1/modules"), token));
    let search = |base: &str, q: &str| {
        ids(&get_json(
            &http,
            &format!("{base}/v1/modules/search?q={q}"),
            token,
        ))
    };

    // Both have loaded the (empty) catalogue.
    assert!(list(&base_one).is_empty());
    assert!(list(&base_two).is_empty());

    publish(
        &http,
        &base_one,
        token,
        "acme/vpc/aws",
        "1.0.0",
        &rich_module("Creates one VPC."),
    );
    assert_eq!(
        list(&base_one),
        ["acme/vpc/aws/1.0.0"],
        "the publishing server at once"
    );
    thread::sleep(TTL + RELOAD_SLACK);
    assert_eq!(
        list(&base_two),
        ["acme/vpc/aws/1.0.0"],
        "the other server within the TTL"
    );
    assert_eq!(search(&base_two, "vpc"), ["acme/vpc/aws/1.0.0"]);

    // The other way round, while server one has its index loaded.
    publish(
        &http,
        &base_two,
        token,
        "acme/dns/aws",
        "0.3.0",
        &rich_module("Manages DNS zones."),
    );
    thread::sleep(TTL + RELOAD_SLACK);
    assert_eq!(search(&base_one, "dns"), ["acme/dns/aws/0.3.0"]);
    assert_eq!(
        list(&base_one),
        ["acme/dns/aws/0.3.0", "acme/vpc/aws/1.0.0"]
    );

    // A delete on one disappears from the other's list and search.
    let (status, _, body) = send(
        http.delete(format!("{base_one}/v1/modules/acme/vpc/aws/1.0.0"))
            .bearer_auth(token),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", text(&body));
    thread::sleep(TTL + RELOAD_SLACK);
    assert_eq!(list(&base_two), ["acme/dns/aws/0.3.0"]);
    assert!(search(&base_two, "vpc").is_empty());
}

/// Runs `local-server --rebuild-catalogue` on `data` and returns what it printed.
fn rebuild_catalogue(data: &Path, master_token: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_local-server"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--data-dir")
        .arg(data)
        .arg("--master-token")
        .arg(master_token)
        .arg("--rebuild-catalogue")
        .stdin(Stdio::null())
        .output()
        .expect("run local-server --rebuild-catalogue");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "--rebuild-catalogue failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn rebuild_catalogue_restores_a_deleted_catalogue_and_missing_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let master = {
        let server = Server::start(&data, &[]);
        let base = format!("https://127.0.0.1:{}", server.port);
        let http = https_client(&server.cert_path);
        let token = &server.master_token;
        publish(
            &http,
            &base,
            token,
            "acme/vpc/aws",
            "1.0.0",
            &rich_module("Creates one VPC."),
        );
        publish(
            &http,
            &base,
            token,
            "acme/vpc/aws",
            "1.1.0",
            &rich_module("Creates one VPC."),
        );
        publish(
            &http,
            &base,
            token,
            "acme/dns/aws",
            "0.3.0",
            &rich_module("Manages DNS zones."),
        );
        server.master_token.clone()
    };

    // As a release without discovery would have left it: no catalogue, and one
    // version without its metadata document.
    fs::remove_dir_all(data.join("catalogue")).expect("the server kept a catalogue directory");
    let metadata = data.join("modules/acme/vpc/aws/1.1.0/metadata.json");
    fs::remove_file(&metadata).unwrap_or_else(|e| panic!("remove {}: {e}", metadata.display()));

    let printed = rebuild_catalogue(&data, &master);
    assert!(
        printed
            .contains("catalogue rebuilt from storage: 2 modules; metadata derived for 1 versions"),
        "{printed}"
    );
    assert!(data.join("catalogue/snapshot.json.gz").is_file());
    assert!(
        metadata.is_file(),
        "the derived metadata document was stored"
    );
    // Nothing left to derive the second time.
    let again = rebuild_catalogue(&data, &master);
    assert!(again.contains("metadata derived for 0 versions"), "{again}");

    let server = Server::start_with_master_token(&data, &[], &master);
    let base = format!("https://127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);
    let page = get_json(&http, &format!("{base}/v1/modules"), &master);
    assert_eq!(
        ids(&page),
        ["acme/dns/aws/0.3.0", "acme/vpc/aws/1.1.0"],
        "{page}"
    );
    assert_eq!(
        page["modules"][1]["description"], "Creates one VPC.",
        "{page}"
    );
}
