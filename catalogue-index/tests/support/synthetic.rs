//! A deterministic synthetic catalogue, shared by the large-index test and
//! the `index_bench` example: 2,000 namespaces × 50 names = 100,000 modules,
//! providers from a list of 10, descriptions from a word list.
//!
//! - Every module's description contains `terraform` and `module`.
//! - Exactly the even-numbered modules (position in generation order) have
//!   the word `production` (the "common term", half the modules).
//! - Modules whose number is ≡ 7 (mod 20,000) have the word `quokka` (the
//!   "rare term": 5 modules in 100,000).
#![allow(dead_code, unreachable_pub)]

use catalogue_index::{ModuleEntry, ModuleKey, VersionEntry};

/// The ten providers.
pub const PROVIDERS: [&str; 10] = [
    "aws",
    "azurerm",
    "google",
    "kubernetes",
    "helm",
    "null",
    "random",
    "tls",
    "vault",
    "github",
];

/// The 50 names used in every namespace.
pub const NAMES: [&str; 50] = [
    "vpc",
    "vpc-endpoints",
    "s3-bucket",
    "eks-cluster",
    "rds",
    "rds-aurora",
    "iam-role",
    "iam-policy",
    "lambda",
    "api-gateway",
    "cloudfront",
    "route53-zone",
    "route53-records",
    "alb",
    "nlb",
    "ecs-service",
    "ecs-cluster",
    "sqs",
    "sns",
    "dynamodb-table",
    "kms",
    "secrets-manager",
    "acm",
    "waf",
    "security-group",
    "ec2-instance",
    "autoscaling",
    "elasticache",
    "opensearch",
    "msk",
    "step-functions",
    "eventbridge",
    "cloudwatch-alarms",
    "backup",
    "transit-gateway",
    "vpn-gateway",
    "network-firewall",
    "aks",
    "gke",
    "storage-account",
    "key-vault",
    "app-service",
    "cosmosdb",
    "pubsub",
    "bigquery",
    "cloud-run",
    "cloud-sql",
    "helm-release",
    "namespace",
    "ingress",
];

const WORDS: [&str; 40] = [
    "creates",
    "manages",
    "resources",
    "simple",
    "complete",
    "example",
    "network",
    "private",
    "public",
    "subnets",
    "encryption",
    "logging",
    "monitoring",
    "scalable",
    "highly",
    "available",
    "secure",
    "default",
    "configuration",
    "tags",
    "policies",
    "cluster",
    "storage",
    "compute",
    "serverless",
    "container",
    "database",
    "cache",
    "queue",
    "stream",
    "dns",
    "certificate",
    "firewall",
    "identity",
    "access",
    "backup",
    "replication",
    "multi",
    "region",
    "zone",
];

/// Number of namespaces for `modules` modules (50 names each).
pub fn namespaces_for(modules: usize) -> usize {
    modules.div_ceil(NAMES.len())
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` modules (a multiple of 50 is exact), each with `versions` versions,
/// in generation order (not key order). Module number `i` is
/// namespace `i / 50`, name `NAMES[i % 50]`.
pub fn modules(count: usize, versions: usize) -> Vec<ModuleEntry> {
    let mut rng = Rng(0x5EED);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let namespace = format!("team-{:04}", i / NAMES.len());
        let name = NAMES[i % NAMES.len()];
        let provider = PROVIDERS[rng.below(PROVIDERS.len())];
        let mut description = format!(
            "Terraform module which creates {} resources on {provider}",
            name.replace('-', " ")
        );
        for _ in 0..6 + rng.below(6) {
            description.push(' ');
            description.push_str(WORDS[rng.below(WORDS.len())]);
        }
        if i % 2 == 0 {
            description.push_str(" production ready");
        }
        if i % 20_000 == 7 {
            description.push_str(", tested by a quokka");
        }
        let versions = (0..versions)
            .map(|v| {
                VersionEntry::new(
                    format!("{}.{}.{}", v, rng.below(20), rng.below(10)),
                    format!("2026-{:02}-{:02}T12:00:00Z", 1 + v % 12, 1 + rng.below(28)),
                )
            })
            .collect();
        out.push(ModuleEntry {
            key: ModuleKey::new(namespace, name, provider),
            description,
            versions,
        });
    }
    out
}
