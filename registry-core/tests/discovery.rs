//! The discovery API (list, search, providers, details, latest download)
//! and the catalogue behind it, through `Registry::handle` on in-memory stores.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use registry_core::catalogue::InMemoryCatalogueStore;
use registry_core::catalogue_index::{ModuleKey, PendingChange, PendingOp, Snapshot, VersionEntry};
use registry_core::testing::{error_message, json, ArchiveBuilder, TestRegistry};
use registry_core::{
    CatalogueStore, MockCatalogueStore, ModuleAddress, Storage, StorageError, Tier,
};
use serde_json::{json, Value};

const README: &str = "# VPC\n\nA [VPC](https://aws.amazon.com/vpc/) with public and private subnets.\n\n```hcl\nmodule \"vpc\" {\n  source = \"acme/vpc/aws\"\n}\n```\n";

const MAIN_TF: &str = r#"
terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "cidr" {
  type        = string
  description = "The VPC's CIDR block."
  default     = "10.0.0.0/16"
}

variable "subnets" {
  type = map(object({
    cidr = string
    public = optional(bool, false)
  }))
  description = <<-EOT
    Subnets by name.
  EOT
}

resource "aws_vpc" "this" {
  cidr_block = var.cidr
}

module "labels" {
  source  = "acme/labels/null"
  version = "1.2.0"
}

output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}
"#;

fn vpc_module() -> Bytes {
    ArchiveBuilder::module(MAIN_TF)
        .file("README.md", README)
        .file(
            "modules/endpoints/main.tf",
            "variable \"vpc_id\" { type = string }\n",
        )
        .file(
            "examples/basic/main.tf",
            "module \"vpc\" { source = \"../..\" }\n",
        )
        .tar_gz()
}

fn small_module(description: &str) -> Bytes {
    ArchiveBuilder::module("variable \"x\" { default = 1 }\n")
        .file("README.md", format!("# M\n\n{description}\n"))
        .tar_gz()
}

async fn publish(h: &TestRegistry, module: &str, version: &str, archive: Bytes) -> Value {
    let r = h.publish(module, version, archive).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{module} {version}: {}",
        error_message(&r)
    );
    json(&r)
}

#[tokio::test]
async fn details_answer_the_public_registry_shape() {
    let h = TestRegistry::new();
    let published = publish(&h, "acme/vpc/aws", "1.0.0", vpc_module()).await;
    assert_eq!(published["warnings"], json!([]));
    publish(&h, "acme/vpc/aws", "1.1.0", vpc_module()).await;
    publish(&h, "acme/vpc/aws", "2.0.0-rc.1", vpc_module()).await;

    let r = h.get("/v1/modules/acme/vpc/aws/1.0.0").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", error_message(&r));
    let d = json(&r);
    assert_eq!(d["id"], "acme/vpc/aws/1.0.0");
    assert_eq!(d["namespace"], "acme");
    assert_eq!(d["name"], "vpc");
    assert_eq!(d["provider"], "aws");
    assert_eq!(d["version"], "1.0.0");
    assert_eq!(d["published_at"], "2027-01-15T08:00:00Z");
    assert_eq!(d["description"], "A VPC with public and private subnets.");
    assert_eq!(d["versions"], json!(["1.0.0", "1.1.0", "2.0.0-rc.1"]));
    assert_eq!(d["providers"], json!(["aws"]));
    let root = &d["root"];
    assert_eq!(root["path"], "");
    assert_eq!(root["name"], "vpc");
    assert_eq!(root["readme"], README);
    assert_eq!(root["empty"], false);
    assert_eq!(
        root["inputs"],
        json!([
            {"name": "cidr", "type": "string", "description": "The VPC's CIDR block.",
             "default": "\"10.0.0.0/16\"", "required": false, "sensitive": false, "nullable": true},
            {"name": "subnets", "type": "map(object({\n    cidr = string\n    public = optional(bool, false)\n  }))",
             "description": "Subnets by name.\n", "default": "", "required": true, "sensitive": false, "nullable": true},
        ])
    );
    assert_eq!(
        root["outputs"],
        json!([{"name": "vpc_id", "description": "The VPC's id.", "sensitive": false}])
    );
    assert_eq!(
        root["dependencies"],
        json!([{"name": "labels", "source": "acme/labels/null", "version": "1.2.0"}])
    );
    assert_eq!(root["provider_dependencies"][0]["name"], "aws");
    assert_eq!(root["provider_dependencies"][0]["source"], "hashicorp/aws");
    assert_eq!(root["provider_dependencies"][0]["version"], "~> 5.0");
    assert_eq!(
        root["resources"],
        json!([{"name": "this", "type": "aws_vpc"}])
    );
    assert_eq!(d["submodules"][0]["path"], "modules/endpoints");
    assert_eq!(d["submodules"][0]["inputs"][0]["name"], "vpc_id");
    assert_eq!(d["examples"][0]["path"], "examples/basic");

    // Latest: the highest release, not the pre-release.
    let latest = json(&h.get("/v1/modules/acme/vpc/aws").await);
    assert_eq!(latest["version"], "1.1.0");
    assert_eq!(latest["versions"], d["versions"]);
    let r = h.get("/v1/modules/acme/vpc/aws/download").await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        "/v1/modules/acme/vpc/aws/1.1.0/download"
    );

    // Providers of a module.
    publish(&h, "acme/vpc/google", "0.1.0", small_module("On GCP.")).await;
    let p = json(&h.get("/v1/modules/acme/vpc").await);
    let providers: Vec<&str> = p["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["aws", "google"]);
    assert_eq!(p["modules"][0]["version"], "1.1.0");

    for missing in [
        "/v1/modules/acme/vpc/aws/9.9.9",
        "/v1/modules/acme/nope/aws",
        "/v1/modules/acme/nope",
        "/v1/modules/acme/nope/aws/download",
    ] {
        let r = h.get(missing).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        assert!(!error_message(&r).is_empty());
    }
}

/// Every page's `next_url`, followed from the first, until there is none.
async fn walk(h: &TestRegistry, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut url = Some(first.to_owned());
    let mut pages = 0;
    while let Some(u) = url {
        let r = h.get(&u).await;
        assert_eq!(r.status(), StatusCode::OK, "{u}: {}", error_message(&r));
        let body = json(&r);
        for m in body["modules"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}/{}",
                m["namespace"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
                m["provider"].as_str().unwrap()
            ));
        }
        url = body["meta"]["next_url"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 100, "pagination does not end");
    }
    seen
}

#[tokio::test]
async fn pagination_walks_every_module_exactly_once_with_filters() {
    let h = TestRegistry::new();
    let mut all = BTreeSet::new();
    for i in 0..23 {
        let ns = ["acme", "blue", "core"][i % 3];
        let provider = ["aws", "google"][i % 2];
        let module = format!("{ns}/mod{i:02}/{provider}");
        let text = if i % 5 == 0 {
            "Networking: a shared transit gateway."
        } else {
            "Storage buckets."
        };
        publish(&h, &module, "1.0.0", small_module(text)).await;
        all.insert(module);
    }
    let seen = walk(&h, "/v1/modules?limit=7").await;
    assert_eq!(seen.len(), 23, "each module once");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in key order");

    let aws = walk(&h, "/v1/modules?provider=aws&limit=5").await;
    assert_eq!(
        aws,
        all.iter()
            .filter(|m| m.ends_with("/aws"))
            .cloned()
            .collect::<Vec<_>>()
    );
    let blue = walk(&h, "/v1/modules/blue?limit=2").await;
    assert_eq!(
        blue,
        all.iter()
            .filter(|m| m.starts_with("blue/"))
            .cloned()
            .collect::<Vec<_>>()
    );

    let first = json(&h.get("/v1/modules?limit=7").await);
    assert_eq!(first["meta"]["limit"], 7);
    assert_eq!(first["meta"]["current_offset"], 0);
    assert_eq!(first["meta"]["next_offset"], 7);
    assert_eq!(first["meta"]["next_url"], "/v1/modules?limit=7&offset=7");
    let summary = &first["modules"][0];
    assert_eq!(summary["id"], "acme/mod00/aws/1.0.0");
    assert_eq!(
        summary["description"],
        "Networking: a shared transit gateway."
    );
    assert_eq!(summary["published_at"], "2027-01-15T08:00:00Z");
    let last = json(&h.get("/v1/modules?limit=7&offset=21").await);
    assert_eq!(last["modules"].as_array().unwrap().len(), 2);
    assert!(last["meta"].get("next_offset").is_none());
    assert_eq!(last["meta"]["prev_offset"], 14);
    // Default and clamped limits.
    assert_eq!(json(&h.get("/v1/modules").await)["meta"]["limit"], 15);
    assert_eq!(
        json(&h.get("/v1/modules?limit=1000").await)["meta"]["limit"],
        100
    );
    assert_eq!(
        json(&h.get("/v1/modules/nobody").await)["modules"],
        json!([])
    );

    // Search: every word must match (the last also as a prefix), with filters.
    let transit = walk(&h, "/v1/modules/search?q=transit+gateway&limit=2").await;
    let expected: Vec<String> = (0..23)
        .step_by(5)
        .map(|i| {
            format!(
                "{}/mod{i:02}/{}",
                ["acme", "blue", "core"][i % 3],
                ["aws", "google"][i % 2]
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(transit, expected);
    let prefix = walk(&h, "/v1/modules/search?q=netw").await;
    assert_eq!(prefix, expected);
    let filtered = walk(
        &h,
        "/v1/modules/search?q=storage&namespace=acme&provider=google",
    )
    .await;
    assert!(!filtered.is_empty());
    assert!(filtered
        .iter()
        .all(|m| m.starts_with("acme/") && m.ends_with("/google")));
    assert_eq!(
        walk(&h, "/v1/modules/search?q=mod07").await,
        ["blue/mod07/google"]
    );
    assert_eq!(
        walk(&h, "/v1/modules/search?q=zzzunknown").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn hostile_and_malformed_queries_get_clear_400s() {
    let h = TestRegistry::new();
    publish(&h, "acme/vpc/aws", "1.0.0", small_module("x")).await;
    for (url, says) in [
        ("/v1/modules/search", "at least one word"),
        ("/v1/modules/search?q=", "at least one word"),
        ("/v1/modules/search?q=%20%21%21", "at least one word"),
        ("/v1/modules/search?q=%ff", "percent-encoded"),
        ("/v1/modules?offset=-1", "whole number"),
        ("/v1/modules?limit=abc", "whole number"),
        (
            "/v1/modules?offset=999999999999999999999999",
            "whole number",
        ),
        ("/v1/modules/bad%20ns", "namespace"),
        ("/v1/modules/acme/bad%20name", "name"),
        ("/v1/modules/acme/vpc/aws/v1.0.0", "leading 'v'"),
    ] {
        let r = h.get(url).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(
            error_message(&r).contains(says),
            "{url}: {}",
            error_message(&r)
        );
    }
    let long = format!("/v1/modules/search?q={}", "a".repeat(2000));
    assert_eq!(h.get(&long).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn discovery_needs_a_downloader_token_unless_reads_are_anonymous() {
    let h = TestRegistry::new();
    publish(&h, "acme/vpc/aws", "1.0.0", small_module("x")).await;
    let downloader = h.token(Tier::Downloader).await;
    for url in [
        "/v1/modules",
        "/v1/modules/acme",
        "/v1/modules/search?q=vpc",
        "/v1/modules/acme/vpc",
        "/v1/modules/acme/vpc/aws",
        "/v1/modules/acme/vpc/aws/1.0.0",
        "/v1/modules/acme/vpc/aws/download",
    ] {
        assert_eq!(
            h.get_as(url, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "{url}"
        );
        assert_eq!(
            h.get_as(url, Some("tfr_forged")).await.status(),
            StatusCode::UNAUTHORIZED,
            "{url}"
        );
        let ok = h.get_as(url, Some(&downloader)).await.status();
        assert!(
            ok == StatusCode::OK || ok == StatusCode::FOUND,
            "{url}: {ok}"
        );
    }
    let open = TestRegistry::builder()
        .config(|c| c.with_anonymous_reads(true))
        .build();
    publish(&open, "acme/vpc/aws", "1.0.0", small_module("x")).await;
    assert_eq!(
        open.get_as("/v1/modules", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        open.get_as("/v1/modules/acme/vpc/aws/1.0.0", None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reserved_words_are_refused_before_anything_is_stored() {
    let h = TestRegistry::new();
    for module in [
        "search/vpc/aws",
        "acme/versions/aws",
        "acme/vpc/download",
        "acme/Search/aws",
    ] {
        let r = h.publish(module, "1.0.0", small_module("x")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{module}");
        assert!(
            error_message(&r).contains("reserved"),
            "{module}: {}",
            error_message(&r)
        );
    }
    assert!(h.storage().list_modules().await.unwrap().is_empty());
    assert_eq!(json(&h.get("/v1/modules").await)["modules"], json!([]));
}

#[tokio::test]
async fn unreadable_files_are_warnings_and_malicious_modules_stay_bounded() {
    let h = TestRegistry::new();
    let deep = format!(
        "locals {{ x = {}1{} }}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let huge = format!(
        "variable \"v\" {{ description = \"{}\" }}\n",
        "x".repeat(100_000)
    );
    let archive = ArchiveBuilder::module("variable \"ok\" {}\n")
        .file("broken.tf", "variable \"a\" {\n")
        .file("deep.tf", deep)
        .file("huge.tf", huge)
        .file(
            "README.md",
            "<script>alert(1)</script>\n\nHello <img src=x onerror=alert(1)>.\n",
        )
        .tar_gz();
    let body = publish(&h, "acme/odd/aws", "1.0.0", archive).await;
    let warnings: Vec<&str> = body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("broken.tf")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with("deep.tf")),
        "{warnings:?}"
    );
    let d = json(&h.get("/v1/modules/acme/odd/aws/1.0.0").await);
    let names: Vec<&str> = d["root"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ok", "v"]);
    // Strings are cut at 16 KiB; the README is kept as text for the UI to sanitise.
    assert!(
        d["root"]["inputs"][1]["description"]
            .as_str()
            .unwrap()
            .len()
            <= 16 * 1024
    );
    assert!(d["root"]["readme"].as_str().unwrap().contains("<script>"));
}

#[tokio::test]
async fn delete_and_republish_keep_the_catalogue_in_step() {
    let h = TestRegistry::new();
    publish(&h, "acme/vpc/aws", "1.0.0", small_module("first")).await;
    publish(&h, "acme/vpc/aws", "1.1.0", small_module("second")).await;
    let list = json(&h.get("/v1/modules").await);
    assert_eq!(list["modules"][0]["version"], "1.1.0");
    assert_eq!(list["modules"][0]["description"], "second");
    assert_eq!(
        h.delete("/v1/modules/acme/vpc/aws/1.1.0").await.status(),
        StatusCode::NO_CONTENT
    );
    let list = json(&h.get("/v1/modules").await);
    assert_eq!(list["modules"][0]["version"], "1.0.0");
    assert_eq!(
        h.delete("/v1/modules/acme/vpc/aws/1.0.0").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(json(&h.get("/v1/modules").await)["modules"], json!([]));
    assert_eq!(
        h.get("/v1/modules/acme/vpc/aws").await.status(),
        StatusCode::NOT_FOUND
    );
    publish(&h, "acme/vpc/aws", "1.0.0", small_module("again")).await;
    assert_eq!(
        json(&h.get("/v1/modules/search?q=again").await)["modules"][0]["id"],
        "acme/vpc/aws/1.0.0"
    );
    // A repeated publish is a 409 and changes nothing.
    let r = h
        .publish("acme/vpc/aws", "1.0.0", small_module("other"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        json(&h.get("/v1/modules").await)["modules"][0]["description"],
        "again"
    );
}

#[tokio::test]
async fn versions_stored_without_metadata_get_it_on_first_read_and_in_the_catalogue() {
    let h = TestRegistry::new();
    // As published by a registry before this one kept metadata.
    h.insert_version("legacy/net/aws", "0.9.0", small_module("From before."))
        .await;
    let module = ModuleAddress::new("legacy", "net", "aws").unwrap();
    let version = "0.9.0".parse().unwrap();
    assert!(matches!(
        h.storage().read_metadata(&module, &version).await,
        Err(StorageError::NotFound)
    ));
    // The catalogue is built from storage on first use.
    let list = json(&h.get("/v1/modules").await);
    assert_eq!(list["modules"][0]["id"], "legacy/net/aws/0.9.0");
    assert_eq!(list["modules"][0]["published_at"], Value::Null);
    let d = json(&h.get("/v1/modules/legacy/net/aws/0.9.0").await);
    assert_eq!(d["description"], "From before.");
    assert_eq!(d["published_at"], Value::Null);
    assert!(
        h.storage().read_metadata(&module, &version).await.is_ok(),
        "derived and stored"
    );
    // The backfill rebuilds the catalogue with the derived descriptions.
    h.insert_version("legacy/dns/aws", "1.0.0", small_module("Zones."))
        .await;
    let (modules, derived) = h.registry().rebuild_catalogue().await.unwrap();
    assert_eq!((modules, derived), (2, 1));
    let found = json(&h.get("/v1/modules/search?q=zones").await);
    assert_eq!(found["modules"][0]["id"], "legacy/dns/aws/1.0.0");
    assert_eq!(found["modules"][0]["description"], "Zones.");
}

#[tokio::test]
async fn two_processes_on_one_backend_see_each_others_publishes_within_the_ttl() {
    let storage: Arc<dyn Storage> = Arc::new(registry_core::memory::InMemoryStorage::new());
    let store: Arc<dyn CatalogueStore> = Arc::new(InMemoryCatalogueStore::new());
    let ttl = Duration::from_millis(200);
    let a = TestRegistry::builder()
        .storage(storage.clone())
        .catalogue(store.clone(), ttl)
        .build();
    let b = TestRegistry::builder()
        .storage(storage.clone())
        .catalogue(store.clone(), ttl)
        .build();
    assert_eq!(json(&b.get("/v1/modules").await)["modules"], json!([]));
    publish(&a, "acme/vpc/aws", "1.0.0", small_module("Shared.")).await;
    // A sees its own write at once; B once its TTL has passed.
    assert_eq!(
        json(&a.get("/v1/modules").await)["modules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let seen = json(&b.get("/v1/modules/search?q=shared").await);
    assert_eq!(seen["modules"][0]["id"], "acme/vpc/aws/1.0.0");
    // Writes from both interleave without losing either.
    publish(&b, "acme/dns/aws", "1.0.0", small_module("Zones.")).await;
    publish(&a, "acme/db/aws", "1.0.0", small_module("Databases.")).await;
    publish(&b, "acme/mq/aws", "1.0.0", small_module("Queues.")).await;
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    for h in [&a, &b] {
        assert_eq!(
            json(&h.get("/v1/modules").await)["modules"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
}

/// A snapshot as a process left it when it was killed between the steps of
/// a publish and of a delete.
fn snapshot_with_pending(started_at: &str) -> Snapshot {
    let mut s = Snapshot::new();
    s.generation = 7;
    let key = ModuleKey::new("acme", "kept", "aws");
    s.add_version(
        &key,
        VersionEntry::new("1.0.0", "2027-01-01T00:00:00Z"),
        Some("Kept.".into()),
    )
    .unwrap();
    // Published in storage, never added: the kill came before step 3.
    s.begin(PendingChange {
        key: ModuleKey::new("acme", "crashed", "aws"),
        version: "1.0.0".into(),
        op: PendingOp::Publish,
        started_at: started_at.into(),
        id: "p1".into(),
    });
    // Never reached storage: the kill came before step 2.
    s.begin(PendingChange {
        key: ModuleKey::new("acme", "never", "aws"),
        version: "1.0.0".into(),
        op: PendingOp::Publish,
        started_at: started_at.into(),
        id: "p2".into(),
    });
    s
}

#[tokio::test]
async fn abandoned_changes_are_repaired_from_storage_after_the_grace_period() {
    let store: Arc<dyn CatalogueStore> = Arc::new(InMemoryCatalogueStore::new());
    let h = TestRegistry::builder()
        .catalogue(store.clone(), Duration::ZERO)
        .build();
    h.insert_version("acme/kept/aws", "1.0.0", small_module("Kept."))
        .await;
    h.insert_version("acme/crashed/aws", "1.0.0", small_module("Crashed."))
        .await;
    // Fresh pending changes (a publish in progress elsewhere) are left alone.
    store
        .store(
            Bytes::from(snapshot_with_pending("2027-01-15T07:59:00Z").encode()),
            None,
        )
        .await
        .unwrap();
    let list = json(&h.get("/v1/modules").await);
    assert_eq!(
        list["modules"].as_array().unwrap().len(),
        1,
        "pending publishes are hidden"
    );
    // Older than the grace period (15 minutes): storage decides.
    let tag = store.load().await.unwrap().unwrap().tag;
    store
        .store(
            Bytes::from(snapshot_with_pending("2027-01-15T07:00:00Z").encode()),
            Some(&tag),
        )
        .await
        .unwrap();
    let ids: Vec<String> = walk(&h, "/v1/modules").await;
    assert_eq!(ids, ["acme/crashed/aws", "acme/kept/aws"]);
    let stored = Snapshot::decode(&store.load().await.unwrap().unwrap().bytes).unwrap();
    assert!(stored.pending.is_empty(), "repaired changes are cleared");
    assert!(stored.generation > 7);
}

#[tokio::test]
async fn a_corrupt_or_missing_snapshot_is_rebuilt_from_storage() {
    let store: Arc<dyn CatalogueStore> = Arc::new(InMemoryCatalogueStore::new());
    store
        .store(Bytes::from_static(b"\x1f\x8bnot really gzip"), None)
        .await
        .unwrap();
    let h = TestRegistry::builder()
        .catalogue(store.clone(), Duration::ZERO)
        .build();
    h.insert_version("acme/vpc/aws", "1.0.0", small_module("x"))
        .await;
    assert_eq!(walk(&h, "/v1/modules").await, ["acme/vpc/aws"]);
    let stored = Snapshot::decode(&store.load().await.unwrap().unwrap().bytes).unwrap();
    assert_eq!(stored.modules.len(), 1);
}

#[tokio::test]
async fn a_catalogue_that_cannot_be_written_fails_the_publish_and_stores_nothing() {
    let mut store = MockCatalogueStore::new();
    store.expect_load().returning(|| Ok(None));
    store
        .expect_store()
        .returning(|_, _| Err(StorageError::Conflict));
    let h = TestRegistry::builder()
        .catalogue(Arc::new(store), Duration::ZERO)
        .build();
    let r = h.publish("acme/vpc/aws", "1.0.0", small_module("x")).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        error_message(&r)
    );
    assert!(h.storage().list_modules().await.unwrap().is_empty());
}
