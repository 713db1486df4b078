//! The `complete` fixture module, compared as a whole JSON document.

use std::path::Path;

use module_metadata::{extract, ExtractionLimits, SourceFile};
use serde_json::json;

/// Every file under `dir`, with paths relative to it and `/`-separated,
/// sorted by path.
fn read_fixture(dir: &Path) -> Vec<SourceFile> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                let parts: Vec<_> = relative
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap())
                    .collect();
                out.push(SourceFile::new(
                    parts.join("/"),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/complete")
}

fn input(name: &str, r#type: &str, description: &str, default: Option<&str>) -> serde_json::Value {
    json!({
        "name": name,
        "type": r#type,
        "description": description,
        "default": default.unwrap_or(""),
        "required": default.is_none(),
        "sensitive": false,
        "nullable": true,
    })
}

fn resource(name: &str, r#type: &str) -> serde_json::Value {
    json!({ "name": name, "type": r#type })
}

fn expected() -> serde_json::Value {
    let mut db_password = input("db_password", "string", "", None);
    db_password["sensitive"] = json!(true);
    let mut vpc_id = input("vpc_id", "string", "", None);
    vpc_id["nullable"] = json!(false);
    json!({
        "root": {
            "path": "",
            "name": "",
            "readme": include_str!("fixtures/complete/README.md"),
            "empty": false,
            "inputs": [
                db_password,
                input("enabled", "bool", "", Some("true")),
                input("instance_count", "number", "", Some("3")),
                input("instance_type", "string", "EC2 instance type.", Some("\"t3.micro\"")),
                input("json_limits", "map(number)", "", Some(r#"{"max":10,"min":1}"#)),
                input("json_region", "string", "Region, from JSON.", Some("\"eu-west-1\"")),
                input("note", "", "", Some("null")),
                input("ports", "set(number)", "", Some("[80,443]")),
                input(
                    "settings",
                    "object({\n    name = string\n    tags = optional(map(string), {})\n    size = optional(number, 1)\n  })",
                    "Settings of the web tier.\n  Nested lines keep their extra indent.\n",
                    Some(r#"{"name":"web","size":-2}"#),
                ),
                input("subnet_count", "number", "Subnets, from the .tofu file.", Some("2")),
                input(
                    "tags",
                    "map(string)",
                    "Tags for every resource.",
                    Some(r#"{"Team":"web","cost-center":"42"}"#),
                ),
                input("untyped", "", "", None),
                vpc_id,
                input("zones", "list(string)", "", Some(r#"["eu-west-1a","eu-west-1b"]"#)),
            ],
            "outputs": [
                { "name": "admin_password", "description": "", "sensitive": true },
                { "name": "instance_ids", "description": "IDs of the instances.", "sensitive": false },
                { "name": "json_endpoint", "description": "Endpoint, from JSON.", "sensitive": false },
            ],
            "dependencies": [
                { "name": "dns", "source": "./modules/dns", "version": "" },
                { "name": "vpc", "source": "terraform-aws-modules/vpc/aws", "version": "~> 5.0" },
            ],
            "provider_dependencies": [
                { "name": "acme", "namespace": "acme", "source": "registry.example.com/acme/foo", "version": "" },
                { "name": "aws", "namespace": "hashicorp", "source": "hashicorp/aws", "version": ">= 5.0" },
                { "name": "random", "namespace": "", "source": "", "version": ">= 2.0" },
            ],
            "resources": [
                resource("suffix", "random_id"),
                resource("web", "aws_instance"),
                resource("web", "aws_lb"),
            ],
            "data_resources": [
                resource("current", "aws_caller_identity"),
                resource("ubuntu", "aws_ami"),
            ],
            "required_version": ">= 1.5",
        },
        "submodules": [
            {
                "path": "modules/dns",
                "name": "dns",
                "readme": "# DNS\n\nRecords.\n",
                "empty": false,
                "inputs": [input("zone", "string", "", None)],
                "outputs": [],
                "dependencies": [],
                "provider_dependencies": [
                    { "name": "cloudflare", "namespace": "cloudflare", "source": "cloudflare/cloudflare", "version": "~> 4.0" },
                ],
                "resources": [
                    resource("www", "cloudflare_record"),
                    resource("www", "google_dns_record_set"),
                ],
                "data_resources": [],
                "required_version": null,
            },
            {
                "path": "modules/vpc",
                "name": "vpc",
                "readme": "# VPC\n\nThe network.\n",
                "empty": false,
                "inputs": [input("cidr", "string", "CIDR block.", Some("\"10.0.0.0/16\""))],
                "outputs": [{ "name": "vpc_id", "description": "", "sensitive": false }],
                "dependencies": [],
                "provider_dependencies": [],
                "resources": [resource("this", "aws_vpc")],
                "data_resources": [],
                "required_version": null,
            },
        ],
        "examples": [
            {
                "path": "examples/basic",
                "name": "basic",
                "readme": "# Basic example\n",
                "empty": false,
                "inputs": [],
                "outputs": [],
                "dependencies": [{ "name": "web", "source": "../..", "version": "" }],
                "provider_dependencies": [],
                "resources": [],
                "data_resources": [],
                "required_version": null,
            },
        ],
        "warnings": [],
    })
}

#[test]
fn complete_module_matches_the_expected_document() {
    let metadata = extract(read_fixture(&fixture_dir()), &ExtractionLimits::default());
    let got = serde_json::to_value(&metadata).unwrap();
    let want = expected();
    assert!(
        got == want,
        "got:\n{}\nwant:\n{}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&want).unwrap()
    );
}

#[test]
fn description_and_providers() {
    let metadata = extract(read_fixture(&fixture_dir()), &ExtractionLimits::default());
    assert_eq!(
        metadata.description().as_deref(),
        Some(
            "A small web tier on Amazon EC2: instances behind a load balancer, with optional DNS."
        )
    );
    assert_eq!(
        metadata.providers(),
        ["acme", "aws", "cloudflare", "google", "random"]
    );
}

#[test]
fn file_order_does_not_matter() {
    let mut files = read_fixture(&fixture_dir());
    let forward = extract(files.clone(), &ExtractionLimits::default());
    files.reverse();
    let backward = extract(files, &ExtractionLimits::default());
    assert_eq!(forward, backward);
}

#[test]
fn json_round_trips() {
    let metadata = extract(read_fixture(&fixture_dir()), &ExtractionLimits::default());
    let text = serde_json::to_string(&metadata).unwrap();
    let back: module_metadata::ModuleMetadata = serde_json::from_str(&text).unwrap();
    assert_eq!(back, metadata);
}

#[test]
fn public_registry_parts_deserialize() {
    // A part as registry.terraform.io serves it: no extra fields.
    let part: module_metadata::ModulePart = serde_json::from_value(json!({
        "path": "", "name": "vpc", "readme": "", "empty": false,
        "inputs": [{ "name": "cidr", "type": "string", "description": "", "default": "", "required": true }],
        "outputs": [], "dependencies": [], "provider_dependencies": [], "resources": [],
    }))
    .unwrap();
    assert!(part.inputs[0].nullable);
    assert_eq!(part.required_version, None);
}
