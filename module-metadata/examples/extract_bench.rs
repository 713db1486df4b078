//! Times [`extract`] on a realistic 100-file module built in memory: a root
//! module, 8 submodules and 6 examples (60 configuration files with
//! variables, outputs, resources, data sources, module calls and provider
//! requirements, 15 READMEs) plus 25 files extraction ignores (LICENSE, CI
//! workflows, Go tests, ...), as a module repository's archive holds them.
//!
//! `cargo run -p module-metadata --release --example extract_bench`
//!
//! Only extraction is timed (the files are already in memory): reading them
//! out of the `.tar.gz` is registry-core's `module_files`, timed end to end by
//! `local-server --rebuild-catalogue` (see bench/README.md).
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use module_metadata::{extract, wanted, ExtractionLimits, SourceFile};

const ITERATIONS: usize = 2_000;

fn variables(prefix: &str, count: usize) -> String {
    let mut s = String::new();
    for i in 0..count {
        let _ = match i % 4 {
            0 => write!(
                s,
                "variable \"{prefix}_name_{i}\" {{\n  description = \"Name of the {prefix} resource number {i}, used as a prefix for every resource it creates.\"\n  type        = string\n  default     = \"{prefix}-{i}\"\n}}\n\n"
            ),
            1 => write!(
                s,
                "variable \"{prefix}_tags_{i}\" {{\n  description = \"A map of tags to add to all resources.\"\n  type        = map(string)\n  default     = {{}}\n}}\n\n"
            ),
            2 => write!(
                s,
                "variable \"{prefix}_rules_{i}\" {{\n  description = \"Ingress rules.\"\n  type = list(object({{\n    from_port   = number\n    to_port     = number\n    protocol    = optional(string, \"tcp\")\n    cidr_blocks = list(string)\n  }}))\n  default = [\n    {{ from_port = 443, to_port = 443, cidr_blocks = [\"10.0.0.0/8\"] }},\n  ]\n\n  validation {{\n    condition     = alltrue([for r in var.{prefix}_rules_{i} : r.from_port <= r.to_port])\n    error_message = \"from_port must not be above to_port.\"\n  }}\n}}\n\n"
            ),
            _ => write!(
                s,
                "variable \"{prefix}_secret_{i}\" {{\n  description = \"A secret value.\"\n  type        = string\n  sensitive   = true\n  nullable    = false\n}}\n\n"
            ),
        };
    }
    s
}

fn outputs(prefix: &str, count: usize) -> String {
    let mut s = String::new();
    for i in 0..count {
        let _ = write!(
            s,
            "output \"{prefix}_id_{i}\" {{\n  description = \"The ID of {prefix} resource {i}.\"\n  value       = try(aws_instance.{prefix}[{i}].id, null)\n  sensitive   = {}\n}}\n\n",
            i % 5 == 0
        );
    }
    s
}

fn resources(prefix: &str, count: usize) -> String {
    let mut s =
        String::from("locals {\n  common_tags = merge(var.tags, { Module = \"bench\" })\n}\n\n");
    for i in 0..count {
        let _ = write!(
            s,
            "resource \"aws_instance\" \"{prefix}_{i}\" {{\n  count         = var.create ? 1 : 0\n  ami           = data.aws_ami.ubuntu.id\n  instance_type = \"t3.micro\"\n  subnet_id     = element(var.subnets, {i})\n\n  dynamic \"ebs_block_device\" {{\n    for_each = var.volumes\n    content {{\n      device_name = ebs_block_device.value.name\n      volume_size = ebs_block_device.value.size\n    }}\n  }}\n\n  tags = merge(local.common_tags, {{ Name = \"${{var.name}}-{i}\" }})\n}}\n\n"
        );
    }
    s.push_str("data \"aws_ami\" \"ubuntu\" {\n  most_recent = true\n  owners      = [\"099720109477\"]\n}\n\n");
    s.push_str("data \"aws_caller_identity\" \"current\" {}\n");
    s
}

fn versions_tf() -> String {
    "terraform {\n  required_version = \">= 1.5\"\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \">= 5.0\"\n    }\n    random = {\n      source  = \"hashicorp/random\"\n      version = \"~> 3.5\"\n    }\n  }\n}\n".to_owned()
}

fn readme(title: &str) -> String {
    let mut s = format!(
        "# {title}\n\n[![CI](https://example.invalid/badge.svg)](https://example.invalid)\n\nTerraform module which creates **{title}** resources on [AWS](https://aws.amazon.com/), with encryption, logging and monitoring enabled by default.\n\n## Usage\n\n```hcl\nmodule \"{title}\" {{\n  source  = \"acme/{title}/aws\"\n  version = \"~> 2.0\"\n}}\n```\n\n## Inputs\n\n| Name | Description | Type | Default |\n|------|-------------|------|---------|\n"
    );
    for i in 0..30 {
        let _ = writeln!(
            s,
            "| name_{i} | The name number {i}. | `string` | `\"x\"` |"
        );
    }
    s
}

/// The 100 files: 60 configuration files, 15 READMEs, 25 others.
fn module_files() -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut add = |path: String, contents: String| files.push(SourceFile::new(path, contents));
    // Root: 8 configuration files, one README.
    add("main.tf".into(), resources("root", 8));
    add("variables.tf".into(), variables("root", 40));
    add("outputs.tf".into(), outputs("root", 20));
    add("versions.tf".into(), versions_tf());
    add(
        "modules.tf".into(),
        (0..8)
            .map(|i| format!("module \"part_{i}\" {{\n  source  = \"./modules/part-{i}\"\n  create  = var.create\n}}\n\nmodule \"vpc_{i}\" {{\n  source  = \"terraform-aws-modules/vpc/aws\"\n  version = \"~> 5.0\"\n}}\n\n"))
            .collect(),
    );
    add(
        "locals.tf".into(),
        "locals {\n  name = var.root_name_0\n}\n".into(),
    );
    add(
        "data.tf".into(),
        "data \"aws_partition\" \"current\" {}\n\ndata \"aws_iam_policy_document\" \"assume\" {\n  statement {\n    actions = [\"sts:AssumeRole\"]\n  }\n}\n".into(),
    );
    add(
        "extra.tf.json".into(),
        r#"{"variable": {"json_input": {"type": "string", "description": "From JSON.", "default": "x"}}, "output": {"json_output": {"value": "${var.json_input}"}}}"#.into(),
    );
    add("README.md".into(), readme("bench"));
    // 8 submodules: 5 configuration files and a README each.
    for m in 0..8 {
        let dir = format!("modules/part-{m}");
        let prefix = format!("part{m}");
        add(format!("{dir}/main.tf"), resources(&prefix, 4));
        add(format!("{dir}/variables.tf"), variables(&prefix, 16));
        add(format!("{dir}/outputs.tf"), outputs(&prefix, 8));
        add(format!("{dir}/versions.tf"), versions_tf());
        add(
            format!("{dir}/data.tf"),
            "data \"aws_region\" \"current\" {}\n".into(),
        );
        add(format!("{dir}/README.md"), readme(&prefix));
    }
    // 6 examples: 2 configuration files and a README each, one with a JSON file.
    for e in 0..6 {
        let dir = format!("examples/example-{e}");
        add(
            format!("{dir}/main.tf"),
            format!("provider \"aws\" {{\n  region = \"eu-west-1\"\n}}\n\nmodule \"bench\" {{\n  source = \"../../\"\n  root_name_0 = \"example-{e}\"\n}}\n"),
        );
        if e == 0 {
            add(
                format!("{dir}/outputs.tf.json"),
                r#"{"output": {"id": {"value": "${module.bench.root_id_0}"}}}"#.into(),
            );
        } else {
            add(format!("{dir}/outputs.tf"), outputs("example", 3));
        }
        add(format!("{dir}/README.md"), readme(&format!("example-{e}")));
    }
    // 25 files extraction ignores.
    for (i, path) in [
        "LICENSE",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        "CHANGELOG.md",
        "Makefile",
        "docs/UPGRADE-2.0.md",
        "test/go.mod",
        "test/go.sum",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain((0..15).map(|i| format!("test/part_{i}_test.go")))
    .enumerate()
    {
        add(path, format!("ignored file {i}\n").repeat(40));
    }
    files
}

fn main() {
    let files = module_files();
    let limits = ExtractionLimits::default();
    let wanted_count = files.iter().filter(|f| wanted(&f.path)).count();
    let bytes: usize = files.iter().map(|f| f.contents.len()).sum();
    let metadata = extract(files.clone(), &limits);
    let inputs: usize = std::iter::once(&metadata.root)
        .chain(&metadata.submodules)
        .chain(&metadata.examples)
        .map(|p| p.inputs.len())
        .sum();
    println!(
        "module: {} files ({wanted_count} read by extraction), {:.1} KiB; found {} submodules, {} examples, {inputs} inputs, {} root outputs, {} root resources, {} warnings",
        files.len(),
        bytes as f64 / 1024.0,
        metadata.submodules.len(),
        metadata.examples.len(),
        metadata.root.outputs.len(),
        metadata.root.resources.len(),
        metadata.warnings.len(),
    );
    assert!(metadata.warnings.is_empty(), "{:?}", metadata.warnings);

    for _ in 0..ITERATIONS / 10 {
        black_box(extract(black_box(files.clone()), &limits));
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        // The clone is the caller's (it hands the files over); it is outside the timing.
        let input = files.clone();
        let start = Instant::now();
        black_box(extract(black_box(input), &limits));
        samples.push(start.elapsed());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / ITERATIONS as u32;
    let pct = |q: f64| samples[((ITERATIONS as f64 * q) as usize).min(ITERATIONS - 1)];
    println!(
        "extract, {ITERATIONS} runs: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        mean.as_secs_f64() * 1e3,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[ITERATIONS - 1].as_secs_f64() * 1e3,
    );
}
