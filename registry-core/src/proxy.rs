//! Which modules the registry may fetch from its upstream: configuration, not code.
//!
//! - Whether the registry proxies, pins or does neither is its
//!   [`UpstreamMode`](crate::UpstreamMode); these lists apply in every mode.
//! - [`ProxyConfig::allow`] and [`ProxyConfig::deny`] hold [`ModulePattern`]s,
//!   prefixes of `namespace/name/system` by whole segments; deny wins; an empty
//!   allow list allows every module that is not denied.
//! - Whatever the lists say, a module with any local version is never mixed with
//!   upstream versions (the API enforces this; see `Registry`).

use std::fmt;
use std::str::FromStr;

use crate::address::{is_valid_name_part, is_valid_system};
use crate::ModuleAddress;

/// A prefix of module addresses by whole segments: `namespace`,
/// `namespace/name` or `namespace/name/system`. Namespace and name compare
/// ASCII-case-insensitively, as Terraform's registries treat them.
///
/// ```
/// use registry_core::{ModuleAddress, ModulePattern};
/// let p: ModulePattern = "hashicorp/consul".parse().unwrap();
/// assert!(p.matches(&ModuleAddress::new("HashiCorp", "consul", "aws").unwrap()));
/// assert!(!p.matches(&ModuleAddress::new("hashicorp", "consul-vpc", "aws").unwrap()));
/// assert!("hashi*".parse::<ModulePattern>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePattern {
    namespace: String,
    name: Option<String>,
    system: Option<String>,
}

/// A proxy pattern that is not `namespace[/name[/system]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid module pattern {pattern:?}: {reason}; write namespace, namespace/name or namespace/name/system, e.g. hashicorp/consul")]
pub struct InvalidPattern {
    pattern: String,
    reason: &'static str,
}

impl FromStr for ModulePattern {
    type Err = InvalidPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| InvalidPattern {
            pattern: s.to_owned(),
            reason,
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (ns, name, system) = match parts.as_slice() {
            [ns] => (*ns, None, None),
            [ns, name] => (*ns, Some(*name), None),
            [ns, name, system] => (*ns, Some(*name), Some(*system)),
            _ => return Err(bad("more than three segments")),
        };
        if !is_valid_name_part(ns) {
            return Err(bad("the namespace is not a valid namespace (no wildcards)"));
        }
        if name.is_some_and(|n| !is_valid_name_part(n)) {
            return Err(bad("the name is not a valid module name (no wildcards)"));
        }
        if system.is_some_and(|s| !is_valid_system(s)) {
            return Err(bad("the system must be lowercase letters and digits"));
        }
        Ok(Self {
            namespace: ns.to_ascii_lowercase(),
            name: name.map(str::to_ascii_lowercase),
            system: system.map(str::to_owned),
        })
    }
}

impl fmt::Display for ModulePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.namespace)?;
        if let Some(name) = &self.name {
            write!(f, "/{name}")?;
        }
        if let Some(system) = &self.system {
            write!(f, "/{system}")?;
        }
        Ok(())
    }
}

impl ModulePattern {
    /// Whether `module` lies under this prefix.
    pub fn matches(&self, module: &ModuleAddress) -> bool {
        self.namespace.eq_ignore_ascii_case(module.namespace())
            && self
                .name
                .as_ref()
                .is_none_or(|n| n.eq_ignore_ascii_case(module.name()))
            && self.system.as_ref().is_none_or(|s| s == module.system())
    }
}

/// Which modules the registry may fetch from its upstream (proxy or pin),
/// whatever its [`UpstreamMode`](crate::UpstreamMode). Default: empty lists,
/// every module allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Modules that may be fetched; empty means all (minus `deny`).
    pub allow: Vec<ModulePattern>,
    /// Modules that may never be fetched; wins over `allow`.
    pub deny: Vec<ModulePattern>,
}

/// Why the proxy rules refuse a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A deny pattern matched.
    Denied(ModulePattern),
    /// The allow list is not empty and nothing in it matched.
    NotAllowed,
}

impl ProxyConfig {
    /// These lists.
    pub fn new(allow: Vec<ModulePattern>, deny: Vec<ModulePattern>) -> Self {
        Self { allow, deny }
    }

    /// Whether the lists let `module` be fetched from the upstream.
    ///
    /// # Errors
    /// The [`Refusal`] naming the rule that refused it.
    pub fn check(&self, module: &ModuleAddress) -> Result<(), Refusal> {
        if let Some(p) = self.deny.iter().find(|p| p.matches(module)) {
            return Err(Refusal::Denied(p.clone()));
        }
        if self.allow.is_empty() || self.allow.iter().any(|p| p.matches(module)) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(p) => write!(f, "the registry's proxy deny list has \"{p}\""),
            Self::NotAllowed => f.write_str("the module is not on the registry's proxy allow list"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> ModuleAddress {
        let p: Vec<&str> = s.split('/').collect();
        ModuleAddress::new(p[0], p[1], p[2]).unwrap()
    }

    fn pats(list: &[&str]) -> Vec<ModulePattern> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn patterns_parse_by_segment() {
        for ok in ["a", "a/b", "a/b/c", "Hashi_Corp/x-y/aws2", " hashicorp "] {
            assert!(ok.parse::<ModulePattern>().is_ok(), "{ok:?}");
        }
        for bad in [
            "", "/", "a/", "a//c", "a/b/c/d", "*", "a/*", "a/b/AWS", "-a", "a/b/c/",
        ] {
            let e = bad.parse::<ModulePattern>().unwrap_err();
            assert!(e.to_string().contains("namespace/name/system"), "{e}");
        }
        assert_eq!(
            "Acme/VPC/aws".parse::<ModulePattern>().unwrap().to_string(),
            "acme/vpc/aws"
        );
    }

    #[test]
    fn allow_deny_table() {
        // (allow, deny, module, allowed?)
        let table: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "hashicorp/consul/aws", true),
            (&["hashicorp"], &[], "hashicorp/consul/aws", true),
            (&["hashicorp"], &[], "hashicorpx/consul/aws", false),
            (&["hashicorp"], &[], "terraform-aws-modules/vpc/aws", false),
            (&["hashicorp/consul"], &[], "hashicorp/consul/google", true),
            (
                &["hashicorp/consul"],
                &[],
                "hashicorp/consul-k8s/aws",
                false,
            ),
            (
                &["hashicorp/consul/aws"],
                &[],
                "hashicorp/consul/azurerm",
                false,
            ),
            (&["HashiCorp"], &[], "hashicorp/Consul/aws", true),
            (&[], &["acme"], "acme/vpc/aws", false),
            (&[], &["acme"], "ACME/vpc/aws", false),
            (&[], &["acme"], "acme-corp/vpc/aws", true),
            (&[], &["acme/vpc/aws"], "acme/vpc/google", true),
            // Deny wins over allow, whichever is more specific.
            (
                &["hashicorp"],
                &["hashicorp/vault"],
                "hashicorp/vault/aws",
                false,
            ),
            (
                &["hashicorp/vault/aws"],
                &["hashicorp"],
                "hashicorp/vault/aws",
                false,
            ),
            (
                &["hashicorp", "terraform-aws-modules"],
                &["hashicorp/vault"],
                "terraform-aws-modules/vpc/aws",
                true,
            ),
        ];
        for (allow, deny, module, expected) in table {
            let config = ProxyConfig::new(pats(allow), pats(deny));
            assert_eq!(
                config.check(&m(module)).is_ok(),
                *expected,
                "allow {allow:?} deny {deny:?} module {module}"
            );
        }
    }

    #[test]
    fn refusals_name_the_rule() {
        let config = ProxyConfig::new(pats(&["hashicorp"]), pats(&["hashicorp/vault"]));
        assert_eq!(
            config.check(&m("hashicorp/vault/aws")),
            Err(Refusal::Denied("hashicorp/vault".parse().unwrap()))
        );
        assert_eq!(config.check(&m("acme/vpc/aws")), Err(Refusal::NotAllowed));
        assert!(Refusal::Denied("hashicorp/vault".parse().unwrap())
            .to_string()
            .contains("\"hashicorp/vault\""));
    }

    #[test]
    fn empty_lists_allow_everything() {
        assert_eq!(ProxyConfig::default().check(&m("any/module/aws")), Ok(()));
    }
}
