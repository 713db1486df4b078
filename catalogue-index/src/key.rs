//! [`ModuleKey`]: a module's identity.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A module's identity: `namespace/name/provider`.
///
/// # Contract
/// The components are validated by the caller (ASCII letters, digits, `-`,
/// `_`; the provider lowercase); this crate compares them byte for byte and
/// never re-validates them. Keys order by namespace, then name, then provider,
/// each in byte order: the order of every list and search answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModuleKey {
    /// The publisher's namespace, e.g. `hashicorp`.
    pub namespace: String,
    /// The module's name, e.g. `consul`.
    pub name: String,
    /// The target system, e.g. `aws`.
    pub provider: String,
}

impl ModuleKey {
    /// A key from its three components.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        provider: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            provider: provider.into(),
        }
    }
}

impl fmt::Display for ModuleKey {
    /// `namespace/name/provider`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.provider)
    }
}
