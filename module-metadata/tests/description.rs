//! `ModuleMetadata::description` on README shapes.

use module_metadata::{ModuleMetadata, ModulePart};

fn description(readme: &str) -> Option<String> {
    ModuleMetadata {
        root: ModulePart {
            readme: readme.to_owned(),
            ..ModulePart::default()
        },
        ..ModuleMetadata::default()
    }
    .description()
}

#[test]
fn heading_then_paragraph() {
    assert_eq!(
        description("# My module\n\nCreates a bucket.\nAnd a policy.\n\nMore text.\n").as_deref(),
        Some("Creates a bucket. And a policy.")
    );
    assert_eq!(
        description("My module\n=========\n\nSetext heading first.\n").as_deref(),
        Some("Setext heading first.")
    );
}

#[test]
fn badges_first() {
    let readme = "\
# terraform-aws-thing

[![Build](https://ci.example/badge.svg)](https://ci.example) [![License](https://img.shields.io/x.svg)](LICENSE)
![Version](https://img.shields.io/v.svg)

<p align=\"center\">
  <img src=\"logo.png\" alt=\"logo\">
</p>

Terraform module which creates **things** on [AWS](https://aws.amazon.com) &amp; more.
";
    assert_eq!(
        description(readme).as_deref(),
        Some("Terraform module which creates things on AWS & more.")
    );
}

#[test]
fn no_paragraph() {
    assert_eq!(description(""), None);
    assert_eq!(
        description("# Title\n\n## Usage\n\n```hcl\nmodule \"x\" {}\n```\n"),
        None
    );
    assert_eq!(
        description("![badge](https://x/y.svg)\n\n<img src=\"a.png\">\n"),
        None
    );
}

#[test]
fn very_long_paragraph_is_cut_at_a_word() {
    let sentence = "Every word here is short and the paragraph goes on for a long while. ";
    let readme = format!("# Long\n\n{}\n", sentence.repeat(20));
    let got = description(&readme).unwrap();
    assert!(got.chars().count() <= 300, "{}", got.chars().count());
    assert!(got.ends_with('…'));
    let body = got.trim_end_matches('…');
    assert!(sentence.repeat(20).starts_with(body), "{body}");
    // The cut is at a word boundary: the next character in the source is a space.
    assert_eq!(sentence.repeat(20)[body.len()..].chars().next(), Some(' '));
    // Exactly 300 characters fit without a cut.
    let exact = "a".repeat(300);
    assert_eq!(description(&exact).as_deref(), Some(exact.as_str()));
    // One long word is cut hard.
    let word = "b".repeat(400);
    assert_eq!(description(&word).unwrap().chars().count(), 300);
}
