//! The extracted metadata, in the JSON shape of the public registry's
//! `GET /v1/modules/{namespace}/{name}/{provider}/{version}` answer.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::description;

/// One file handed to [`extract`](crate::extract).
///
/// `path` is relative to the module root and `/`-separated, without `..`
/// segments or a leading `/` (the caller has validated the archive). Files
/// whose path [`wanted`](crate::wanted) refuses are ignored by extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the module root, e.g. `modules/vpc/main.tf`.
    pub path: String,
    /// The file's bytes, as stored in the archive.
    pub contents: Vec<u8>,
}

impl SourceFile {
    /// A file at `path` with `contents`.
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        SourceFile {
            path: path.into(),
            contents: contents.into(),
        }
    }
}

/// Everything extracted from one module version.
///
/// Serializes to the `root`, `submodules` and `examples` fields of the public
/// registry's version answer, plus `warnings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModuleMetadata {
    /// The module's root directory.
    pub root: ModulePart,
    /// `modules/<name>/` directories, sorted by path.
    pub submodules: Vec<ModulePart>,
    /// `examples/<name>/` directories, sorted by path.
    pub examples: Vec<ModulePart>,
    /// What extraction could not read or had to cut, one sentence each,
    /// usually starting with the file or part it concerns, e.g.
    /// `modules/net/main.tf: line 3, column 1: expected '}'`. A problem never
    /// fails the whole extraction; it lands here instead.
    pub warnings: Vec<String>,
}

impl ModuleMetadata {
    /// The first paragraph of the root README as plain text, for the
    /// registry's `description` field.
    ///
    /// The paragraph is the first run of non-blank lines that is not a
    /// heading (`#` or underlined), a fenced or indented code block, a table,
    /// a thematic break, an HTML comment or a link reference definition, and
    /// that still has text after inline markup is stripped: images and badges
    /// are dropped, links keep their text and lose their URL, HTML tags,
    /// emphasis markers and code backticks are removed, a few common entities
    /// are decoded and whitespace is collapsed. The text is at most 300
    /// characters; a longer one is cut at a word boundary and ends with `…`.
    ///
    /// Returns `None` when there is no root README or it has no such
    /// paragraph.
    pub fn description(&self) -> Option<String> {
        description::first_paragraph(&self.root.readme)
    }

    /// Provider names used by the root module and the submodules (examples
    /// are not counted), sorted and deduplicated: the registry's `providers`
    /// field.
    ///
    /// A part contributes the names of its `provider_dependencies` and, for
    /// each managed or data resource whose type prefix (`aws` for
    /// `aws_instance`) is not one of those names, that prefix. The built-in
    /// `terraform` provider (`terraform_data`, `terraform_remote_state`) is
    /// left out.
    pub fn providers(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for part in std::iter::once(&self.root).chain(&self.submodules) {
            let declared: BTreeSet<&str> = part
                .provider_dependencies
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            names.extend(declared.iter().map(|name| (*name).to_owned()));
            for resource in part.resources.iter().chain(&part.data_resources) {
                let prefix = resource
                    .r#type
                    .split_once('_')
                    .map_or(resource.r#type.as_str(), |(prefix, _)| prefix);
                if !prefix.is_empty() && prefix != "terraform" && !declared.contains(prefix) {
                    names.insert(prefix.to_owned());
                }
            }
        }
        names.into_iter().collect()
    }
}

/// One directory of the module: the root, a submodule or an example.
///
/// Every list is sorted by name (resources by name, then type) and holds
/// each name once: when a name is declared twice (Terraform refuses that),
/// the declaration from the file that sorts first is kept, with a warning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModulePart {
    /// `""` for the root, else e.g. `modules/vpc` or `examples/basic`.
    pub path: String,
    /// The last path segment; `""` for the root, which the caller fills in
    /// with the module's name.
    pub name: String,
    /// The directory's `README.md` (any letter case), `""` when none.
    pub readme: String,
    /// `true` when the directory has no Terraform configuration file
    /// (override files do not count).
    pub empty: bool,
    /// `variable` blocks, sorted by name.
    pub inputs: Vec<Input>,
    /// `output` blocks, sorted by name.
    pub outputs: Vec<Output>,
    /// `module` calls, sorted by name.
    pub dependencies: Vec<Dependency>,
    /// `terraform { required_providers { ... } }` entries, sorted by name.
    pub provider_dependencies: Vec<ProviderDependency>,
    /// Managed resources (`resource` blocks), sorted by name then type.
    pub resources: Vec<Resource>,
    /// Data sources (`data` blocks), sorted by name then type. Not in the
    /// public registry's answer; clients ignore it.
    pub data_resources: Vec<Resource>,
    /// `terraform { required_version = ... }`; the constraints of several
    /// `terraform` blocks are joined with `", "` in file order. `null` when
    /// there is none. Not in the public registry's answer.
    pub required_version: Option<String>,
}

/// A `variable` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Input {
    /// The variable's name.
    pub name: String,
    /// The type constraint as written in the source, e.g.
    /// `map(string)`; `""` when there is none.
    pub r#type: String,
    /// The description, `""` when there is none.
    pub description: String,
    /// The default value encoded as compact JSON (`"\"t3.micro\""`, `"3"`,
    /// `"{\"a\":1}"`, `"null"`; object keys sorted), `""` when there is no
    /// default. A default that is not a literal is its source text.
    pub default: String,
    /// `true` exactly when there is no `default` attribute.
    pub required: bool,
    /// `sensitive = true`; `false` when absent.
    pub sensitive: bool,
    /// `nullable`; `true` when absent, as in Terraform.
    pub nullable: bool,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            name: String::new(),
            r#type: String::new(),
            description: String::new(),
            default: String::new(),
            required: true,
            sensitive: false,
            nullable: true,
        }
    }
}

/// An `output` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Output {
    /// The output's name.
    pub name: String,
    /// The description, `""` when there is none.
    pub description: String,
    /// `sensitive = true`; `false` when absent.
    pub sensitive: bool,
}

/// A `module` call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// The call's name (`module "vpc"` -> `vpc`).
    pub name: String,
    /// The `source` argument, `""` when absent.
    pub source: String,
    /// The `version` argument, `""` when absent.
    pub version: String,
}

/// An entry of `terraform { required_providers { ... } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderDependency {
    /// The provider's local name (the attribute's key).
    pub name: String,
    /// The source segment before the type (`hashicorp` for
    /// `hashicorp/aws`, `acme` for `registry.example.com/acme/foo`); `""`
    /// when the source is absent or has a single segment (no namespace is
    /// inferred).
    pub namespace: String,
    /// The `source` attribute as written, `""` in the legacy string form.
    pub source: String,
    /// The version constraint, `""` when absent.
    pub version: String,
}

/// A `resource` or `data` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resource {
    /// The second label (`resource "aws_instance" "web"` -> `web`).
    pub name: String,
    /// The first label (`aws_instance`).
    pub r#type: String,
}

impl ProviderDependency {
    /// An entry named `name` with `source` and `version`; the namespace is
    /// the source segment before the last one.
    pub(crate) fn from_source(name: String, source: String, version: String) -> Self {
        let mut segments = source.rsplit('/');
        let namespace = match (segments.next(), segments.next()) {
            (Some(_), Some(namespace)) => namespace.to_owned(),
            _ => String::new(),
        };
        ProviderDependency {
            name,
            namespace,
            source,
            version,
        }
    }
}
