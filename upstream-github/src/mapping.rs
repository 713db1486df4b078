//! [`RepoMapping`]: which GitHub repository holds which module.

use std::collections::BTreeMap;
use std::fmt;

use registry_core::ModuleAddress;

use crate::config::ConfigError;

/// The template used when nothing else is configured: the Terraform Registry's
/// own naming convention, `terraform-<SYSTEM>-<NAME>`, in the namespace's
/// organisation.
pub const DEFAULT_REPO_TEMPLATE: &str = "{namespace}/terraform-{system}-{name}";

/// How a module address `namespace/name/system` maps to a GitHub repository
/// `owner/repo`: an explicit table first, then a template.
///
/// The template's placeholders are `{namespace}`, `{name}` and `{system}`;
/// the rest is literal. It must contain `{name}` (otherwise different
/// modules would share one repository) and exactly one `/`, with something
/// on each side.
///
/// ```
/// use registry_core::ModuleAddress;
/// use upstream_github::RepoMapping;
///
/// let vpc = ModuleAddress::new("acme", "vpc", "aws").unwrap();
/// let dns = ModuleAddress::new("acme", "dns", "aws").unwrap();
///
/// let default = RepoMapping::default();
/// assert_eq!(default.repo_for(&vpc), ("acme".into(), "terraform-aws-vpc".into()));
///
/// let mapping = RepoMapping::template("acme-infra/tf-{name}")
///     .unwrap()
///     .with_repo("acme/dns/aws", "netops/dns-module")
///     .unwrap();
/// assert_eq!(mapping.repo_for(&vpc), ("acme-infra".into(), "tf-vpc".into()));
/// assert_eq!(mapping.repo_for(&dns), ("netops".into(), "dns-module".into()));
///
/// assert!(RepoMapping::template("{namespace}-{name}").is_err()); // no `/`
/// assert!(RepoMapping::template("{org}/{name}").is_err()); // unknown placeholder
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RepoMapping {
    template: String,
    owner: Vec<Part>,
    repo: Vec<Part>,
    explicit: BTreeMap<ModuleAddress, (String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Namespace,
    Name,
    System,
}

impl RepoMapping {
    /// A mapping by `template` alone, e.g. `"{namespace}/terraform-{system}-{name}"`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] (field `repos`) saying what is wrong: an unknown placeholder,
    /// an unbalanced brace, no `{name}`, not exactly one `/`, an empty owner or
    /// repository part, or a literal character GitHub does not allow there.
    pub fn template(t: &str) -> Result<Self, ConfigError> {
        let bad = |why: String| {
            ConfigError::Invalid {
            field: "repos",
            reason: format!(
                "invalid repository template {t:?}: {why}; use {{namespace}}, {{name}} and {{system}} around one '/', e.g. \"{DEFAULT_REPO_TEMPLATE}\""
            ),
        }
        };
        let Some((owner, repo)) = t.split_once('/') else {
            return Err(bad("it has no '/' between owner and repository".to_owned()));
        };
        if repo.contains('/') {
            return Err(bad(
                "it has more than one '/'; it must yield exactly owner/repo".to_owned(),
            ));
        }
        let owner = parse_parts(owner, is_owner_char).map_err(&bad)?;
        let repo = parse_parts(repo, is_repo_char).map_err(&bad)?;
        if owner.is_empty() {
            return Err(bad("the owner (before '/') is empty".to_owned()));
        }
        if repo.is_empty() {
            return Err(bad("the repository (after '/') is empty".to_owned()));
        }
        if !owner.iter().chain(&repo).any(|p| *p == Part::Name) {
            return Err(bad(
                "it has no {name}, so every module would map to the same repository".to_owned(),
            ));
        }
        Ok(Self {
            template: t.to_owned(),
            owner,
            repo,
            explicit: BTreeMap::new(),
        })
    }

    /// Maps `module` (`namespace/name/system`) to `repo` (`owner/repo`),
    /// whatever the template says.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] (field `repos`) if `module` is not a valid module address or
    /// `repo` is not `owner/repo` with characters GitHub allows.
    pub fn with_repo(mut self, module: &str, repo: &str) -> Result<Self, ConfigError> {
        let address = parse_module(module).map_err(|why| ConfigError::Invalid {
            field: "repos",
            reason: format!("invalid module {module:?} in a repository mapping: {why}"),
        })?;
        let (owner, name) = parse_repo(repo).map_err(|why| ConfigError::Invalid {
            field: "repos",
            reason: format!(
                "invalid repository {repo:?} for module {module}: {why}; write owner/repo, e.g. acme/terraform-aws-vpc"
            ),
        })?;
        self.explicit.insert(address, (owner, name));
        Ok(self)
    }

    /// The repository holding `module`, as `(owner, repo)`: its explicit
    /// entry, or else the template filled in.
    pub fn repo_for(&self, module: &ModuleAddress) -> (String, String) {
        if let Some((owner, repo)) = self.explicit.get(module) {
            return (owner.clone(), repo.clone());
        }
        (render(&self.owner, module), render(&self.repo, module))
    }

    /// The template in use.
    pub fn template_text(&self) -> &str {
        &self.template
    }
}

impl Default for RepoMapping {
    /// [`DEFAULT_REPO_TEMPLATE`], no explicit entries.
    fn default() -> Self {
        Self::template(DEFAULT_REPO_TEMPLATE).expect("the default template is valid")
    }
}

impl fmt::Debug for RepoMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let explicit: BTreeMap<String, String> = self
            .explicit
            .iter()
            .map(|(m, (o, r))| (m.to_string(), format!("{o}/{r}")))
            .collect();
        f.debug_struct("RepoMapping")
            .field("template", &self.template)
            .field("explicit", &explicit)
            .finish()
    }
}

/// Letters, digits and `-` (GitHub user and organisation names).
fn is_owner_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// Letters, digits, `-`, `_` and `.` (GitHub repository names).
fn is_repo_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn parse_parts(text: &str, allowed: fn(char) -> bool) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return Err("a '{' is never closed".to_owned());
            };
            parts.push(match &after[..end] {
                "namespace" => Part::Namespace,
                "name" => Part::Name,
                "system" => Part::System,
                other => {
                    return Err(format!(
                        "{{{other}}} is not a placeholder (only {{namespace}}, {{name}} and {{system}} are)"
                    ))
                }
            });
            rest = &after[end + 1..];
        } else {
            let end = rest.find('{').unwrap_or(rest.len());
            let literal = &rest[..end];
            if let Some(c) = literal.chars().find(|c| !allowed(*c)) {
                return Err(if c == '}' {
                    "a '}' has no '{'".to_owned()
                } else {
                    format!("{c:?} cannot appear in a GitHub owner or repository name")
                });
            }
            parts.push(Part::Literal(literal.to_owned()));
            rest = &rest[end..];
        }
    }
    Ok(parts)
}

fn render(parts: &[Part], module: &ModuleAddress) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Literal(s) => s.as_str(),
            Part::Namespace => module.namespace(),
            Part::Name => module.name(),
            Part::System => module.system(),
        })
        .collect()
}

fn parse_module(module: &str) -> Result<ModuleAddress, String> {
    let parts: Vec<&str> = module.split('/').collect();
    let [namespace, name, system] = parts[..] else {
        return Err("write namespace/name/system, e.g. acme/vpc/aws".to_owned());
    };
    ModuleAddress::new(namespace, name, system).map_err(|e| e.to_string())
}

/// Parses `owner/repo`.
pub(crate) fn parse_repo(repo: &str) -> Result<(String, String), String> {
    let Some((owner, name)) = repo.split_once('/') else {
        return Err("it has no '/'".to_owned());
    };
    if owner.is_empty() || owner.len() > 39 || !owner.chars().all(is_owner_char) {
        return Err("the owner must be 1-39 ASCII letters, digits or '-'".to_owned());
    }
    if owner.starts_with('-') {
        return Err("the owner cannot start with '-'".to_owned());
    }
    if name.is_empty()
        || name.len() > 100
        || !name.chars().all(is_repo_char)
        || name == "."
        || name == ".."
    {
        return Err(
            "the repository must be 1-100 ASCII letters, digits, '-', '_' or '.'".to_owned(),
        );
    }
    Ok((owner.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(s: &str) -> ModuleAddress {
        parse_module(s).unwrap()
    }

    fn repo(m: &RepoMapping, s: &str) -> String {
        let (o, r) = m.repo_for(&module(s));
        format!("{o}/{r}")
    }

    #[test]
    fn the_default_is_the_terraform_registry_convention() {
        let m = RepoMapping::default();
        assert_eq!(repo(&m, "acme/vpc/aws"), "acme/terraform-aws-vpc");
        assert_eq!(
            repo(&m, "Acme_Corp/a_b/google"),
            "Acme_Corp/terraform-google-a_b"
        );
        assert_eq!(m.template_text(), DEFAULT_REPO_TEMPLATE);
    }

    #[test]
    fn custom_templates() {
        for (t, m, want) in [
            ("{namespace}/{name}", "acme/vpc/aws", "acme/vpc"),
            (
                "infra/{namespace}.{system}.{name}",
                "acme/vpc/aws",
                "infra/acme.aws.vpc",
            ),
            (
                "{namespace}-{system}/{name}",
                "acme/vpc/aws",
                "acme-aws/vpc",
            ),
            ("{name}/mod", "acme/vpc/aws", "vpc/mod"),
            ("o/{name}{name}", "a/b/c", "o/bb"),
        ] {
            let mapping = RepoMapping::template(t).unwrap();
            assert_eq!(repo(&mapping, m), want, "{t}");
        }
    }

    #[test]
    fn bad_templates_are_refused_saying_why() {
        for (t, why) in [
            ("", "no '/'"),
            ("{namespace}-{name}", "no '/'"),
            ("{namespace}/{system}/{name}", "more than one '/'"),
            ("/{name}", "owner (before '/') is empty"),
            ("{name}/", "repository (after '/') is empty"),
            ("{namespace}/{system}", "no {name}"),
            ("{org}/{name}", "{org} is not a placeholder"),
            ("{namespace/{name}", "never closed"),
            ("{namespace}}/{name}", "a '}' has no '{'"),
            ("{namespace}/terraform {name}", "' ' cannot appear"),
            ("a_b/{name}", "'_' cannot appear"),
            ("{namespace}/{name}?x", "'?' cannot appear"),
        ] {
            let e = RepoMapping::template(t).unwrap_err().to_string();
            assert!(e.contains(why), "{t:?}: {e}");
            assert!(e.contains("e.g."), "{t:?}: {e}");
        }
    }

    #[test]
    fn explicit_entries_win() {
        let m = RepoMapping::default()
            .with_repo("acme/vpc/aws", "netops/vpc")
            .unwrap()
            .with_repo("acme/vpc/aws", "netops/vpc2")
            .unwrap();
        assert_eq!(repo(&m, "acme/vpc/aws"), "netops/vpc2");
        assert_eq!(repo(&m, "acme/vpc/google"), "acme/terraform-google-vpc");
        let shown = format!("{m:?}");
        assert!(
            shown.contains("acme/vpc/aws") && shown.contains("netops/vpc2"),
            "{shown}"
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        for (m, r, why) in [
            ("acme/vpc", "o/r", "namespace/name/system"),
            ("acme/vpc/aws/x", "o/r", "namespace/name/system"),
            ("acme/vpc/AWS", "o/r", "lowercase"),
            ("acme/vpc/aws", "o", "no '/'"),
            ("acme/vpc/aws", "o/r/x", "the repository must be"),
            ("acme/vpc/aws", "/r", "the owner must be"),
            ("acme/vpc/aws", "-o/r", "cannot start with '-'"),
            ("acme/vpc/aws", "o_x/r", "the owner must be"),
            ("acme/vpc/aws", "o/..", "the repository must be"),
            ("acme/vpc/aws", "o/", "the repository must be"),
        ] {
            let e = RepoMapping::default()
                .with_repo(m, r)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{m} = {r}: {e}");
        }
    }
}
