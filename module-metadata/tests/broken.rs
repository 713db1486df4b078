//! Files that cannot be read: each costs one warning, the rest is read.

use module_metadata::{extract, ExtractionLimits, SourceFile};

fn names(inputs: &[module_metadata::Input]) -> Vec<&str> {
    inputs.iter().map(|i| i.name.as_str()).collect()
}

#[test]
fn one_unparseable_file_among_good_ones() {
    let files = vec![
        SourceFile::new("a.tf", "variable \"a\" {}\n"),
        SourceFile::new(
            "modules/net/main.tf",
            "variable \"ok\" {}\n\nvariable \"broken\" {\n  type = string\n",
        ),
        SourceFile::new("modules/net/vars.tf", "variable \"b\" {}\n"),
        SourceFile::new("z.tf", "output \"z\" { value = 1 }\n"),
    ];
    let metadata = extract(files, &ExtractionLimits::default());
    assert_eq!(names(&metadata.root.inputs), ["a"]);
    assert_eq!(metadata.root.outputs[0].name, "z");
    // Nothing from the broken file, everything from its sibling.
    assert_eq!(names(&metadata.submodules[0].inputs), ["b"]);
    assert!(!metadata.submodules[0].empty);
    assert_eq!(metadata.warnings.len(), 1, "{:?}", metadata.warnings);
    let warning = &metadata.warnings[0];
    assert_eq!(
        warning,
        "modules/net/main.tf: line 4, column 17: invalid block body; expected `}`, newline or identifier"
    );
    assert!(!warning.contains('\n'));
}

#[test]
fn broken_json_names_line_and_column() {
    let files = vec![
        SourceFile::new("ok.tf.json", r#"{"variable": {"a": {}}}"#),
        SourceFile::new("bad.tf.json", "{\n  \"variable\": {\n    \"b\": \n"),
    ];
    let metadata = extract(files, &ExtractionLimits::default());
    assert_eq!(names(&metadata.root.inputs), ["a"]);
    assert_eq!(metadata.warnings.len(), 1);
    assert!(
        metadata.warnings[0].starts_with("bad.tf.json: line 4, column 0: EOF while parsing"),
        "{:?}",
        metadata.warnings
    );
}

#[test]
fn non_utf8_files() {
    let files = vec![
        SourceFile::new(
            "main.tf",
            b"variable \"a\" { description = \"\xff\" }\n".to_vec(),
        ),
        SourceFile::new("README.md", b"Caf\xe9 module\n".to_vec()),
        SourceFile::new("ok.tf", "variable \"b\" {}\n"),
    ];
    let metadata = extract(files, &ExtractionLimits::default());
    assert_eq!(names(&metadata.root.inputs), ["b"]);
    assert_eq!(metadata.root.readme, "Caf\u{fffd} module\n");
    assert_eq!(
        metadata.warnings,
        [
            "README.md: not valid UTF-8; invalid bytes were replaced",
            "main.tf: not valid UTF-8; skipped",
        ]
    );
}

#[test]
fn odd_but_parseable_content_warns() {
    let src = r#"
variable "x" {
  description = "${var.y} text"
  default     = var.z
  sensitive   = "yes"
}
variable {}
resource "only_type" {}
terraform {
  required_providers {
    weird = var.p
  }
}
"#;
    let metadata = extract(
        [SourceFile::new("main.tf", src)],
        &ExtractionLimits::default(),
    );
    let input = &metadata.root.inputs[0];
    assert_eq!(input.description, "\"${var.y} text\"");
    assert_eq!(input.default, "var.z");
    assert!(!input.required);
    assert!(!input.sensitive);
    assert!(metadata.root.resources.is_empty());
    assert!(metadata.root.provider_dependencies.is_empty());
    assert_eq!(
        metadata.warnings,
        [
            "main.tf: variable \"x\": description is not a literal string; shown as written",
            "main.tf: variable \"x\": default is not a literal value; shown as written",
            "main.tf: variable \"x\": sensitive is not a literal bool; false assumed",
            "main.tf: a variable block with 0 labels instead of 1 label was skipped",
            "main.tf: a resource block with 1 labels instead of 2 labels was skipped",
            "main.tf: required provider \"weird\" is neither an object nor a version string; skipped",
        ]
    );
}

#[test]
fn duplicates_keep_the_first_file() {
    let files = vec![
        SourceFile::new("b.tf", "variable \"v\" { description = \"from b\" }\n"),
        SourceFile::new("a.tf", "variable \"v\" { description = \"from a\" }\n"),
        SourceFile::new("a.tf", "variable \"other\" {}\n"),
    ];
    let metadata = extract(files, &ExtractionLimits::default());
    assert_eq!(names(&metadata.root.inputs), ["v"]);
    assert_eq!(metadata.root.inputs[0].description, "from a");
    assert_eq!(
        metadata.warnings,
        [
            "a.tf: the archive has this path more than once; the first copy was kept",
            "root module: variable \"v\" is declared more than once; the first declaration was kept",
        ]
    );
}

#[test]
fn empty_parts_and_override_only_dirs() {
    let files = vec![
        SourceFile::new("modules/docs/README.md", "# Docs\n"),
        SourceFile::new("modules/over/override.tf", "variable \"x\" {}\n"),
        SourceFile::new("examples/e/main.tofu", "variable \"y\" {}\n"),
    ];
    let metadata = extract(files, &ExtractionLimits::default());
    assert!(metadata.root.empty);
    let submodules: Vec<_> = metadata
        .submodules
        .iter()
        .map(|p| (p.name.as_str(), p.empty))
        .collect();
    assert_eq!(submodules, [("docs", true), ("over", true)]);
    assert!(!metadata.examples[0].empty);
    assert_eq!(metadata.examples[0].inputs[0].name, "y");
    assert!(metadata.warnings.is_empty());
}

#[test]
fn json_array_forms_and_odd_values() {
    let src = r#"{
  "variable": [
    {"a": {"type": "string", "default": {"z": 1, "b": [true, null]}}},
    {"b": [{"description": 3, "sensitive": "no"}]}
  ],
  "resource": {"aws_s3_bucket": {"logs": {}, "//": "comment"}},
  "data": [{"aws_region": {"here": {}}}],
  "module": {"m": {"source": "./m"}},
  "terraform": [{"required_version": "~> 1.6"}, {"required_providers": [{"aws": {"source": "hashicorp/aws"}}]}]
}"#;
    let metadata = extract(
        [SourceFile::new("main.tf.json", src)],
        &ExtractionLimits::default(),
    );
    let root = &metadata.root;
    assert_eq!(root.inputs[0].default, r#"{"b":[true,null],"z":1}"#);
    assert_eq!(root.inputs[1].description, "3");
    assert_eq!(root.resources[0].name, "logs");
    assert_eq!(root.data_resources[0].r#type, "aws_region");
    assert_eq!(root.dependencies[0].source, "./m");
    assert_eq!(root.required_version.as_deref(), Some("~> 1.6"));
    assert_eq!(root.provider_dependencies[0].namespace, "hashicorp");
    assert_eq!(
        metadata.warnings,
        [
            "main.tf.json: variable \"b\": description is not a string; shown as JSON",
            "main.tf.json: variable \"b\": sensitive is not a bool; false assumed",
        ]
    );
}
