//! Every limit, when hit, adds its warning.

use module_metadata::{extract, ExtractionLimits, ModuleMetadata, SourceFile};

fn run(limits: &ExtractionLimits, files: Vec<SourceFile>) -> ModuleMetadata {
    extract(files, limits)
}

fn var_file(path: &str, name: &str) -> SourceFile {
    SourceFile::new(path, format!("variable \"{name}\" {{}}\n"))
}

#[test]
fn max_files() {
    let mut limits = ExtractionLimits::default();
    limits.max_files = 2;
    let files = vec![
        var_file("a.tf", "a"),
        SourceFile::new("LICENSE", "not wanted, not counted"),
        var_file("b.tf", "b"),
        var_file("c.tf", "c"),
        var_file("d.tf", "d"),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.root.inputs.len(), 2);
    assert_eq!(
        metadata.warnings,
        ["more than 2 files; the rest were not read"]
    );
}

#[test]
fn max_file_bytes() {
    let mut limits = ExtractionLimits::default();
    limits.max_file_bytes = 20;
    let files = vec![
        SourceFile::new(
            "modules/big/main.tf",
            format!("variable \"v\" {{ description = \"{}\" }}", "x".repeat(50)),
        ),
        var_file("small.tf", "s"),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.root.inputs[0].name, "s");
    let big = &metadata.submodules[0];
    assert!(big.inputs.is_empty());
    assert!(!big.empty, "a skipped file is still configuration");
    assert_eq!(
        metadata.warnings,
        ["modules/big/main.tf: 83 bytes is over the limit of 20 bytes for one file; skipped"]
    );
}

#[test]
fn max_total_bytes() {
    let mut limits = ExtractionLimits::default();
    limits.max_total_bytes = 40;
    let files = vec![
        var_file("a.tf", "a"), // 16 bytes
        var_file("b.tf", "b"), // 32
        var_file("c.tf", "c"), // 48: over
        var_file("d.tf", "d"),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.root.inputs.len(), 2);
    assert_eq!(
        metadata.warnings,
        ["the files add up to more than 40 bytes; c.tf and the files after it were not read"]
    );
}

#[test]
fn max_readme_bytes_cuts_on_a_char_boundary() {
    let mut limits = ExtractionLimits::default();
    limits.max_readme_bytes = 6;
    let metadata = run(&limits, vec![SourceFile::new("README.md", "# héllo wörld")]);
    assert_eq!(metadata.root.readme, "# hél");
    assert_eq!(metadata.warnings, ["README.md was cut at 6 bytes"]);
}

#[test]
fn max_parts() {
    let mut limits = ExtractionLimits::default();
    limits.max_parts = 2;
    let files = vec![
        var_file("modules/c/main.tf", "c"),
        var_file("modules/a/main.tf", "a"),
        var_file("examples/b/main.tf", "b"),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.examples.len(), 1);
    assert_eq!(metadata.submodules.len(), 1);
    assert_eq!(metadata.submodules[0].path, "modules/a");
    assert_eq!(
        metadata.warnings,
        ["more than 2 submodules and examples (3 in all); only the first 2 by path were kept"]
    );
}

#[test]
fn max_nesting_depth() {
    let mut limits = ExtractionLimits::default();
    limits.max_nesting_depth = 8;
    let deep_hcl = format!(
        "variable \"d\" {{ default = {}1{} }}\n",
        "[".repeat(8),
        "]".repeat(8)
    );
    let deep_json = format!(
        "{{\"variable\": {{\"j\": {{\"default\": {}1{}}}}}}}",
        "[".repeat(8),
        "]".repeat(8)
    );
    let files = vec![
        SourceFile::new("deep.tf", deep_hcl),
        SourceFile::new("deep.tf.json", deep_json),
        SourceFile::new("ok.tf", "variable \"ok\" { default = [[1]] }\n"),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.root.inputs.len(), 1);
    assert_eq!(metadata.root.inputs[0].default, "[[1]]");
    assert_eq!(
        metadata.warnings,
        [
            "deep.tf: nested deeper than 8 levels; skipped",
            "deep.tf.json: nested deeper than 8 levels; skipped",
        ]
    );
}

#[test]
fn default_nesting_limit_accepts_real_modules_and_refuses_stack_bombs() {
    let limits = ExtractionLimits::default();
    let bomb = format!("x = {}", "{a=".repeat(100_000));
    let json_bomb = "[".repeat(100_000);
    let files = vec![
        SourceFile::new("bomb.tf", bomb),
        SourceFile::new("bomb.tf.json", json_bomb),
        SourceFile::new("ok.tf", include_str!("fixtures/complete/variables.tf")),
    ];
    let metadata = run(&limits, files);
    assert_eq!(metadata.root.inputs.len(), 11);
    assert_eq!(metadata.warnings.len(), 2, "{:?}", metadata.warnings);
}

#[test]
fn max_items_per_part() {
    let mut limits = ExtractionLimits::default();
    limits.max_items_per_part = 3;
    let mut src = String::new();
    for i in (0..50).rev() {
        src.push_str(&format!(
            "variable \"v{i:02}\" {{}}\nresource \"t\" \"r{i:02}\" {{}}\n"
        ));
    }
    let metadata = run(&limits, vec![SourceFile::new("main.tf", src)]);
    let names: Vec<_> = metadata
        .root
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["v00", "v01", "v02"]);
    assert_eq!(metadata.root.resources.len(), 3);
    assert_eq!(
        metadata.warnings,
        [
            "root module: more than 3 inputs; only the first 3 by name were kept",
            "root module: more than 3 resources; only the first 3 by name were kept",
        ]
    );
}

#[test]
fn max_string_bytes() {
    let mut limits = ExtractionLimits::default();
    limits.max_string_bytes = 5;
    let src = "variable \"v\" {\n  description = \"ééé\"\n  type = list(string)\n}\n";
    let metadata = run(&limits, vec![SourceFile::new("modules/m/main.tf", src)]);
    let input = &metadata.submodules[0].inputs[0];
    assert_eq!(input.description, "éé");
    assert_eq!(input.r#type, "list(");
    assert_eq!(
        metadata.warnings,
        [
            "modules/m/main.tf: variable \"v\": description was cut at 5 bytes",
            "modules/m/main.tf: variable \"v\": type was cut at 5 bytes",
        ]
    );
}

#[test]
fn max_warnings() {
    let mut limits = ExtractionLimits::default();
    limits.max_warnings = 2;
    let files: Vec<_> = (0..5)
        .map(|i| SourceFile::new(format!("f{i}.tf"), "{"))
        .collect();
    let metadata = run(&limits, files);
    assert_eq!(metadata.warnings.len(), 3);
    assert_eq!(
        metadata.warnings[2],
        "3 more warnings were dropped (the limit is 2)"
    );
}
