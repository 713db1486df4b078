//! Hostile input: no panic, and bounded time.
//!
//! The time bounds are generous safety bounds for a debug build on a small
//! machine, not performance targets.

use std::time::{Duration, Instant};

use module_metadata::{extract, ExtractionLimits, ModuleMetadata, SourceFile};
use proptest::prelude::*;

const BOUND: Duration = Duration::from_secs(10);

fn timed(files: Vec<SourceFile>) -> (ModuleMetadata, Duration) {
    let start = Instant::now();
    let metadata = extract(files, &ExtractionLimits::default());
    // Also exercise the derived answers on whatever came out.
    let _ = metadata.description();
    let _ = metadata.providers();
    let _ = serde_json::to_string(&metadata).unwrap();
    (metadata, start.elapsed())
}

const TOKENS: &[&str] = &[
    "variable",
    "output",
    "module",
    "resource",
    "data",
    "terraform",
    "required_providers",
    "type",
    "default",
    "description",
    "sensitive",
    "nullable",
    "source",
    "version",
    "\"x\"",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    ",",
    ":",
    "?",
    ".",
    "*",
    "-",
    "!",
    "${",
    "%{",
    "$${",
    "\\",
    "<<EOT\n",
    "<<-EOT\n",
    "EOT\n",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "1",
    "1.5e3",
    "null",
    "true",
    "for",
    "in",
    "if",
    "endif",
    "object(",
    "optional(",
    "string",
    "=>",
    "...",
    "é",
    "\u{feff}",
    "\r\n",
];

const MARKDOWN: &[&str] = &[
    "#",
    " ",
    "\n",
    "\n\n",
    "[",
    "]",
    "(",
    ")",
    "!",
    "*",
    "**",
    "_",
    "`",
    "```",
    "~~",
    "<",
    ">",
    "<p>",
    "</p>",
    "<!--",
    "-->",
    "&amp;",
    "&",
    "\\",
    "text",
    "word",
    "https://x",
    "===",
    "---",
    "|",
    "> ",
    "1. ",
    "- ",
    "    ",
    "é",
];

fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|t| t.concat())
}

fn path() -> impl Strategy<Value = String> {
    let dir = prop::sample::select(vec!["", "modules/a/", "modules/b/", "examples/e/", "docs/"]);
    let file = prop::sample::select(vec![
        "main.tf",
        "x.tf",
        "x.tofu",
        "v.tf.json",
        "v.tofu.json",
        "override.tf",
        "README.md",
        "readme.md",
        "a_override.tf.json",
    ]);
    (dir, file).prop_map(|(d, f)| format!("{d}{f}"))
}

fn nested() -> impl Strategy<Value = String> {
    let opener = prop::sample::select(vec![
        "[",
        "{",
        "(",
        "{a=",
        "[for x in ",
        "\"${",
        "f(",
        "x ? ",
        "-",
        "!",
        "<<EOT\n${",
    ]);
    (opener, 0usize..20_000)
        .prop_map(|(o, n)| format!("variable \"v\" {{ default = {}", o.repeat(n)))
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        soup(TOKENS, 2000).prop_map(String::into_bytes),
        soup(MARKDOWN, 2000).prop_map(String::into_bytes),
        nested().prop_map(String::into_bytes),
        (0usize..300_000).prop_map(|n| format!(
            "variable \"v\" {{ description = \"{}\" }}",
            "a".repeat(n)
        )
        .into_bytes()),
        (0usize..300_000).prop_map(|n| format!(
            "{{\"variable\": {{\"v\": {{\"default\": \"{}\"}}}}}}",
            "b".repeat(n)
        )
        .into_bytes()),
        (0usize..50_000).prop_map(|n| "[".repeat(n).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn hostile_files_never_panic_and_finish(files in prop::collection::vec((path(), content()), 0..12)) {
        let files = files.into_iter().map(|(p, c)| SourceFile::new(p, c)).collect();
        let (_, took) = timed(files);
        prop_assert!(took < BOUND, "took {took:?}");
    }

    #[test]
    fn token_soup_as_every_kind(src in soup(TOKENS, 4000)) {
        let files = ["main.tf", "v.tf.json", "README.md"]
            .iter()
            .map(|p| SourceFile::new(*p, src.clone()))
            .collect();
        let (_, took) = timed(files);
        prop_assert!(took < BOUND, "took {took:?}");
    }
}

#[test]
fn many_files_many_parts() {
    let files: Vec<_> = (0..5_000)
        .map(|i| {
            SourceFile::new(
                format!("modules/m{i}/main.tf"),
                format!("variable \"v{i}\" {{}}\n"),
            )
        })
        .collect();
    let (metadata, took) = timed(files);
    assert!(took < BOUND, "took {took:?}");
    assert_eq!(metadata.submodules.len(), 200);
    assert_eq!(metadata.warnings.len(), 2, "{:?}", metadata.warnings);
}

#[test]
fn maximal_sizes_stay_bounded() {
    // Eight files of 1 MiB each: the whole byte budget, of dense blocks.
    let block = "output \"o\" { value = 1 }\nvariable \"a\" { default = [1, 2, {x = \"y\"}] }\n";
    let big = block.repeat((1024 * 1024) / block.len());
    let files: Vec<_> = (0..8)
        .map(|i| SourceFile::new(format!("f{i}.tf"), big.clone()))
        .collect();
    let (metadata, took) = timed(files);
    eprintln!("8 MiB of dense HCL: {took:?}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(metadata.root.inputs.len(), 1);
}

#[test]
fn hundred_file_module_timing() {
    let variables = include_str!("fixtures/complete/variables.tf");
    let main = include_str!("fixtures/complete/main.tf");
    let mut files = Vec::new();
    for part in ["".to_owned()]
        .into_iter()
        .chain((0..24).map(|i| format!("modules/m{i}/")))
    {
        for (n, body) in [("variables.tf", variables), ("main.tf", main)] {
            let renamed = body.replace(
                "variable \"",
                &format!("variable \"{}", part.replace('/', "_")),
            );
            files.push(SourceFile::new(format!("{part}{n}"), renamed));
        }
        files.push(SourceFile::new(
            format!("{part}outputs.tf"),
            include_str!("fixtures/complete/outputs.tf"),
        ));
        files.push(SourceFile::new(
            format!("{part}README.md"),
            include_str!("fixtures/complete/README.md"),
        ));
    }
    assert_eq!(files.len(), 100);
    let (metadata, took) = timed(files);
    eprintln!("100-file module: extraction took {took:?}");
    assert!(metadata.warnings.is_empty(), "{:?}", metadata.warnings);
    assert_eq!(metadata.submodules.len(), 24);
    assert!(took < BOUND);
}
