//! Module addresses (`namespace/name/system`) validated with Terraform's own grammar.

use std::fmt;

/// The address of a module in this registry: `namespace/name/system`.
///
/// Validation follows Terraform's grammar for registry module addresses
/// (hashicorp/terraform-registry-address):
/// - namespace and name: ASCII letters, digits, `-` and `_`, 1 to 64 characters,
///   starting and ending with a letter or digit;
/// - system (the "provider" part, e.g. `aws`): lowercase ASCII letters and digits,
///   1 to 64 characters.
///
/// ```
/// use registry_core::ModuleAddress;
/// let a = ModuleAddress::new("acme", "vpc", "aws").unwrap();
/// assert_eq!(a.to_string(), "acme/vpc/aws");
/// assert!(ModuleAddress::new("acme", "-vpc", "aws").is_err());
/// assert!(ModuleAddress::new("acme", "vpc", "AWS").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleAddress {
    namespace: String,
    name: String,
    system: String,
}

/// Why a module address was refused. The message states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The namespace breaks the namespace rule.
    #[error("invalid namespace {0:?}: use 1-64 ASCII letters, digits, '-' or '_', starting and ending with a letter or digit")]
    Namespace(String),
    /// The name breaks the name rule.
    #[error("invalid module name {0:?}: use 1-64 ASCII letters, digits, '-' or '_', starting and ending with a letter or digit")]
    Name(String),
    /// The system breaks the system rule.
    #[error(
        "invalid target system {0:?}: use 1-64 lowercase ASCII letters or digits (e.g. 'aws')"
    )]
    System(String),
}

/// True when `s` matches `^[0-9A-Za-z](?:[0-9A-Za-z-_]{0,62}[0-9A-Za-z])?$`.
pub(crate) fn is_valid_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 {
        return false;
    }
    let edge_ok = |c: u8| c.is_ascii_alphanumeric();
    edge_ok(b[0])
        && edge_ok(b[b.len() - 1])
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// True when `s` matches `^[0-9a-z]{1,64}$`.
pub(crate) fn is_valid_system(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

impl ModuleAddress {
    /// Validates and builds an address.
    ///
    /// # Errors
    /// [`AddressError`] naming the first part that breaks its rule.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        system: impl Into<String>,
    ) -> Result<Self, AddressError> {
        let (namespace, name, system) = (namespace.into(), name.into(), system.into());
        if !is_valid_name_part(&namespace) {
            return Err(AddressError::Namespace(namespace));
        }
        if !is_valid_name_part(&name) {
            return Err(AddressError::Name(name));
        }
        if !is_valid_system(&system) {
            return Err(AddressError::System(system));
        }
        Ok(Self {
            namespace,
            name,
            system,
        })
    }

    /// The namespace (organisation), e.g. `acme`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The module name, e.g. `vpc`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target system, e.g. `aws`.
    pub fn system(&self) -> &str {
        &self.system
    }
}

impl fmt::Display for ModuleAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.system)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_terraform_grammar() {
        for (ns, n, s) in [
            ("a", "b", "c"),
            ("hashicorp", "consul", "aws"),
            ("A_b-C", "x-y_z9", "azurerm2"),
            (
                &"a".repeat(64)[..],
                &"b".repeat(64)[..],
                &"c".repeat(64)[..],
            ),
        ] {
            assert!(ModuleAddress::new(ns, n, s).is_ok(), "{ns}/{n}/{s}");
        }
    }

    #[test]
    fn refuses_each_rule() {
        let long = "a".repeat(65);
        type IsExpected = fn(&AddressError) -> bool;
        let cases: &[(&str, &str, &str, IsExpected)] = &[
            ("", "n", "s", |e| matches!(e, AddressError::Namespace(_))),
            ("-a", "n", "s", |e| matches!(e, AddressError::Namespace(_))),
            ("a_", "n", "s", |e| matches!(e, AddressError::Namespace(_))),
            ("a.b", "n", "s", |e| matches!(e, AddressError::Namespace(_))),
            (&long, "n", "s", |e| matches!(e, AddressError::Namespace(_))),
            ("ns", "", "s", |e| matches!(e, AddressError::Name(_))),
            ("ns", "n/", "s", |e| matches!(e, AddressError::Name(_))),
            ("ns", "nä", "s", |e| matches!(e, AddressError::Name(_))),
            ("ns", "n", "", |e| matches!(e, AddressError::System(_))),
            ("ns", "n", "Aws", |e| matches!(e, AddressError::System(_))),
            ("ns", "n", "a-b", |e| matches!(e, AddressError::System(_))),
            ("ns", "n", &long, |e| matches!(e, AddressError::System(_))),
        ];
        for (ns, n, s, is) in cases {
            let err = ModuleAddress::new(*ns, *n, *s).unwrap_err();
            assert!(is(&err), "{ns}/{n}/{s}: {err}");
        }
    }

    #[test]
    fn error_message_states_the_rule() {
        let err = ModuleAddress::new("ns", "n", "AWS").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
