//! [`NamespaceScope`]: the namespaces one caller may see.

use std::fmt;

/// The namespaces a list or search may answer from: exact names and name
/// prefixes, written as patterns (`acme`, `platform-*`; `*` alone is every
/// namespace). A module is in scope when its namespace equals an exact name
/// or starts with a prefix, byte for byte. The empty scope allows nothing.
///
/// ```
/// use catalogue_index::NamespaceScope;
///
/// let scope = NamespaceScope::from_patterns(["acme", "platform-*"]).unwrap();
/// assert!(scope.allows("acme") && scope.allows("platform-net"));
/// assert!(!scope.allows("acme-labs") && !scope.allows("platform"));
/// assert!(NamespaceScope::from_patterns(["a*b"]).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceScope {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

/// A scope pattern with a `*` anywhere but at its end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid namespace pattern {0:?}: use a namespace (`acme`) or a prefix ending in one `*` (`platform-*`)")]
pub struct ScopePatternError(pub String);

impl NamespaceScope {
    /// The scope of `patterns`: each an exact namespace, or a prefix
    /// followed by one `*`.
    ///
    /// # Errors
    /// [`ScopePatternError`] for a pattern with a `*` before its end.
    pub fn from_patterns<I, S>(patterns: I) -> Result<Self, ScopePatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut scope = Self::default();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let (body, is_prefix) = match pattern.strip_suffix('*') {
                Some(prefix) => (prefix, true),
                None => (pattern, false),
            };
            if body.contains('*') {
                return Err(ScopePatternError(pattern.to_owned()));
            }
            if is_prefix {
                scope.prefixes.push(body.to_owned());
            } else {
                scope.exact.push(body.to_owned());
            }
        }
        scope.exact.sort_unstable();
        scope.exact.dedup();
        scope.prefixes.sort_unstable();
        scope.prefixes.dedup();
        Ok(scope)
    }

    /// Whether modules of `namespace` are in scope.
    pub fn allows(&self, namespace: &str) -> bool {
        self.exact
            .binary_search_by(|e| e.as_str().cmp(namespace))
            .is_ok()
            || self
                .prefixes
                .iter()
                .any(|p| namespace.starts_with(p.as_str()))
    }

    /// The patterns, exact namespaces first, each sorted: what
    /// [`from_patterns`](Self::from_patterns) builds this scope from again.
    pub fn patterns(&self) -> Vec<String> {
        self.exact
            .iter()
            .cloned()
            .chain(self.prefixes.iter().map(|p| format!("{p}*")))
            .collect()
    }

    /// The exact namespaces, sorted.
    pub fn exact(&self) -> &[String] {
        &self.exact
    }

    /// The prefixes (without their `*`), sorted.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }
}

impl fmt::Display for NamespaceScope {
    /// The patterns, comma-separated: `acme, platform-*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for pattern in self
            .exact
            .iter()
            .map(|e| (e.as_str(), ""))
            .chain(self.prefixes.iter().map(|p| (p.as_str(), "*")))
        {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}{}", pattern.0, pattern.1)?;
        }
        Ok(())
    }
}
