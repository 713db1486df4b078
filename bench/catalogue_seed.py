"""Seeds a storage-fs data directory straight to disk for bench/catalogue.sh.

    python3 bench/catalogue_seed.py ROOT MODULES [--metadata-from DIR] [--without-metadata N]

Layout as storage-fs's README ("Layout"): modules/{ns}/{name}/{provider}/{version}/
with the archive and archive.json, no fsync. MODULES modules x 3 versions (1.0.0,
1.1.0, 2.0.0). Module i is namespace team-{i // 50:04}, name NAMES[i % 50],
provider PROVIDERS[(i // 50) % 10], and its archive is one of ARCHIVES distinct
archives (i % ARCHIVES; the same name and provider every time), each with a
README.md whose first paragraph is the module's description:

- every description has "terraform" and "module";
- even-numbered modules have "production" (the common term: half the modules);
- modules with i % 20000 == 7 get their own archive whose description has
  "quokka" (the rare term: 5 in 100,000).

With --metadata-from DIR (a data dir seeded with `--templates` and then rebuilt by
`local-server --rebuild-catalogue`, so each distinct archive has a derived
metadata.json), every version gets a copy of its archive's metadata.json except
the last --without-metadata N versions, which the big rebuild then derives.
`--templates` seeds one module per distinct archive instead (namespace `tpl`).
"""

import hashlib
import io
import json
import os
import sys
import tarfile

NAMES = [
    "vpc", "vpc-endpoints", "s3-bucket", "eks-cluster", "rds", "rds-aurora", "iam-role",
    "iam-policy", "lambda", "api-gateway", "cloudfront", "route53-zone", "route53-records",
    "alb", "nlb", "ecs-service", "ecs-cluster", "sqs", "sns", "dynamodb-table", "kms",
    "secrets-manager", "acm", "waf", "security-group", "ec2-instance", "autoscaling",
    "elasticache", "opensearch", "msk", "step-functions", "eventbridge", "cloudwatch-alarms",
    "backup", "transit-gateway", "vpn-gateway", "network-firewall", "aks", "gke",
    "storage-account", "key-vault", "app-service", "cosmosdb", "pubsub", "bigquery",
    "cloud-run", "cloud-sql", "helm-release", "namespace", "ingress",
]
PROVIDERS = ["aws", "azurerm", "google", "kubernetes", "helm", "null", "random", "tls", "vault", "github"]
WORDS = [
    "creates", "manages", "resources", "simple", "complete", "example", "network", "private",
    "public", "subnets", "encryption", "logging", "monitoring", "scalable", "highly",
    "available", "secure", "default", "configuration", "tags", "policies", "cluster",
    "storage", "compute", "serverless", "container", "database", "cache", "queue", "stream",
    "dns", "certificate", "firewall", "identity", "access", "backup", "replication", "multi",
    "region", "zone",
]
ARCHIVES = 2000  # a multiple of 500: archive k always goes with the same name and provider
VERSIONS = ("1.0.0", "1.1.0", "2.0.0")
RARE = "rare"


def module(i):
    return f"team-{i // 50:04}", NAMES[i % 50], PROVIDERS[(i // 50) % 10]


def archive_id(i):
    return RARE if i % 20000 == 7 else i % ARCHIVES


def description(k):
    """The README's first paragraph for archive k (an int, or RARE)."""
    n = 7 if k == RARE else k
    name, provider = NAMES[n % 50], PROVIDERS[(n // 50) % 10]
    words = [WORDS[(n * 7 + j * 13) % len(WORDS)] for j in range(6 + n % 6)]
    text = f"Terraform module which creates {name.replace('-', ' ')} resources on {provider}: {' '.join(words)}."
    if n % 2 == 0:
        text += " Production ready."
    if k == RARE:
        text += " Tested by a quokka."
    return text


def archive_bytes(k):
    n = 7 if k == RARE else k
    name = NAMES[n % 50]
    readme = (
        f"# {name}\n\n{description(k)}\n\n## Usage\n\n```hcl\nmodule \"{name}\" {{\n"
        f"  source = \"team/{name}/aws\"\n  name   = \"example\"\n}}\n```\n"
    ).encode()
    variables = "".join(
        f'variable "{v}" {{\n  type        = string\n  description = "The {v}."\n  default     = "x"\n}}\n\n'
        for v in ("name", "region", "environment", "owner")[: 2 + n % 3]
    ).encode()
    main = (
        f'resource "null_resource" "{name.replace("-", "_")}" {{\n  triggers = {{ name = var.name }}\n}}\n\n'
        f'output "id" {{\n  description = "The resource ID."\n  value       = null_resource.{name.replace("-", "_")}.id\n}}\n'
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, body in (("README.md", readme), ("variables.tf", variables), ("main.tf", main)):
            info = tarfile.TarInfo(path)
            info.size = len(body)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def main():
    args = sys.argv[1:]
    root, count = args[0], int(args[1])
    templates = "--templates" in args
    metadata_from = args[args.index("--metadata-from") + 1] if "--metadata-from" in args else None
    without = int(args[args.index("--without-metadata") + 1]) if "--without-metadata" in args else 0

    archives, metas = {}, {}
    for k in [RARE, *range(min(ARCHIVES, max(count, 1)))]:
        data = archive_bytes(k)
        archives[k] = (data, json.dumps({"format": "tar.gz", "sha256": hashlib.sha256(data).hexdigest(),
                                          "size": len(data), "published_at": 1764800000}))

    def put(ns, name, provider, version, k, with_metadata):
        d = os.path.join(root, "modules", ns, name, provider, version)
        os.makedirs(d)
        data, meta = archives[k]
        with open(os.path.join(d, f"{name}-{provider}-{version}.tar.gz"), "wb") as f:
            f.write(data)
        with open(os.path.join(d, "archive.json"), "w") as f:
            f.write(meta)
        if with_metadata:
            with open(os.path.join(d, "metadata.json"), "wb") as f:
                f.write(metas[k])

    if templates:
        for k in archives:
            put("tpl", f"a{k}", "null", "1.0.0", k, False)
        return
    if metadata_from:
        for k in archives:
            path = os.path.join(metadata_from, "modules", "tpl", f"a{k}", "null", "1.0.0", "metadata.json")
            with open(path, "rb") as f:
                metas[k] = f.read()
    total = count * len(VERSIONS)
    n = 0
    for i in range(count):
        ns, name, provider = module(i)
        for version in VERSIONS:
            n += 1
            put(ns, name, provider, version, archive_id(i), metadata_from is not None and n <= total - without)


if __name__ == "__main__":
    main()
