//! [`ModuleEntry`] and [`VersionEntry`]: what the catalogue holds per module.

use serde::{Deserialize, Serialize};

use crate::ModuleKey;

/// One published version of a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The version as semantic-version text, e.g. `1.2.0` or `2.0.0-rc.1`.
    pub version: String,
    /// When it was published, RFC 3339 text (e.g. `2026-12-03T20:00:00Z`).
    /// Opaque to this crate: stored and returned, never parsed.
    pub published_at: String,
}

impl VersionEntry {
    /// A version entry from its two fields.
    pub fn new(version: impl Into<String>, published_at: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            published_at: published_at.into(),
        }
    }

    /// Whether the version text has a pre-release part (`1.0.0-rc.1`): a `-`
    /// before any `+` build metadata. Cheap: no parsing.
    pub fn is_prerelease(&self) -> bool {
        let core_and_pre = self.version.split('+').next().unwrap_or("");
        core_and_pre.contains('-')
    }
}

/// One module: its key, description and versions.
///
/// # Invariants
/// `versions` is sorted by semantic-version precedence, ascending (build
/// metadata ordered as the `semver` crate orders it), without duplicates, and
/// is not empty. [`Snapshot`](crate::Snapshot)'s mutation methods maintain
/// this, [`Snapshot::decode`](crate::Snapshot::decode) checks it; code that
/// edits the fields by hand must keep it, or [`latest`](Self::latest) answers
/// wrongly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleEntry {
    /// The module's identity.
    pub key: ModuleKey,
    /// Free text; may be empty. The caller caps its length.
    pub description: String,
    /// Every published version, ascending (see the invariants above).
    pub versions: Vec<VersionEntry>,
}

impl ModuleEntry {
    /// The version to show as "latest": the highest version that is not a
    /// pre-release if there is one, else the highest pre-release; `None` only
    /// when `versions` is empty.
    ///
    /// Relies on `versions` being sorted (see the invariants); O(versions)
    /// at worst, usually O(1).
    pub fn latest(&self) -> Option<&VersionEntry> {
        self.versions
            .iter()
            .rev()
            .find(|v| !v.is_prerelease())
            .or_else(|| self.versions.last())
    }

    /// The entry for `version` (exact text match), if published.
    pub fn version(&self, version: &str) -> Option<&VersionEntry> {
        self.versions.iter().find(|v| v.version == version)
    }
}

/// Parses version text the way the catalogue orders it: strict semantic
/// versioning, no leading `v`.
pub(crate) fn parse_version(text: &str) -> Result<semver::Version, semver::Error> {
    semver::Version::parse(text)
}
