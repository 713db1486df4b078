//! [`Snapshot`]: what is persisted, and the mutations of the registry's
//! read-modify-write.

use std::cmp::Ordering;

use crate::entry::parse_version;
use crate::{ModuleEntry, ModuleKey, PendingChange, VersionEntry};

/// The persisted catalogue: a generation counter, every module and the
/// pending changes. [`encode`](Self::encode) and [`decode`](Self::decode)
/// convert it to and from its stored form (see the crate README for the
/// format).
///
/// # Invariants
/// - `modules` is in key order with unique keys, and each module's versions
///   satisfy [`ModuleEntry`]'s invariants (sorted, unique, not empty).
/// - `pending` ids are unique; `pending` is in the order changes were begun.
///
/// [`decode`](Self::decode) checks these and the mutation methods keep them.
/// The mutation methods find modules by binary search, so code that edits
/// `modules` by hand must keep it sorted (or call [`normalize`](Self::normalize)).
///
/// `generation` is the caller's: this crate stores it and never changes it.
/// The registry increments it on every write it makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Incremented by the registry on each write; opaque here.
    pub generation: u64,
    /// Every module, in key order.
    pub modules: Vec<ModuleEntry>,
    /// Changes begun and not yet finished, oldest first.
    pub pending: Vec<PendingChange>,
}

/// What [`Snapshot::add_version`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddOutcome {
    /// The module did not exist: it was created with this one version.
    CreatedModule,
    /// The module existed; the version was added.
    AddedVersion,
    /// The version was already there: kept with its earlier `published_at`.
    AlreadyPresent,
}

/// A version that is not semantic-version text, refused by
/// [`Snapshot::add_version`].
#[derive(Debug, thiserror::Error)]
#[error("`{version}` is not a semantic version (e.g. 1.2.0): {source}")]
#[non_exhaustive]
pub struct VersionError {
    /// The refused text.
    pub version: String,
    #[source]
    source: semver::Error,
}

impl Snapshot {
    /// An empty snapshot, generation 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module with this key, if any. O(log modules).
    pub fn get(&self, key: &ModuleKey) -> Option<&ModuleEntry> {
        self.position(key).ok().map(|i| &self.modules[i])
    }

    fn position(&self, key: &ModuleKey) -> Result<usize, usize> {
        self.modules.binary_search_by(|m| m.key.cmp(key))
    }

    /// Records a published version: creates the module if absent (with
    /// `description`, or `""` when `None`), replaces the description when
    /// `description` is `Some`, and inserts the version in semantic-version
    /// order.
    ///
    /// Idempotent: a version already present (same text) is kept with its
    /// earlier `published_at`; the description is still replaced when `Some`.
    /// O(log modules + versions) plus the insertion's moves.
    ///
    /// # Errors
    /// [`VersionError`] when `version.version` is not semantic-version text;
    /// the snapshot is then unchanged.
    pub fn add_version(
        &mut self,
        key: &ModuleKey,
        version: VersionEntry,
        description: Option<String>,
    ) -> Result<AddOutcome, VersionError> {
        let parsed = parse_version(&version.version).map_err(|source| VersionError {
            version: version.version.clone(),
            source,
        })?;
        match self.position(key) {
            Err(at) => {
                self.modules.insert(
                    at,
                    ModuleEntry {
                        key: key.clone(),
                        description: description.unwrap_or_default(),
                        versions: vec![version],
                    },
                );
                Ok(AddOutcome::CreatedModule)
            }
            Ok(at) => {
                let module = &mut self.modules[at];
                if let Some(description) = description {
                    module.description = description;
                }
                if module.version(&version.version).is_some() {
                    return Ok(AddOutcome::AlreadyPresent);
                }
                // Entries that do not parse (only possible after hand edits)
                // count as lower than any version.
                let at = module.versions.partition_point(|v| {
                    parse_version(&v.version).map_or(true, |v| v.cmp(&parsed) == Ordering::Less)
                });
                module.versions.insert(at, version);
                Ok(AddOutcome::AddedVersion)
            }
        }
    }

    /// Removes a version (exact text match); removes the module when its last
    /// version goes. Answers whether the version was there.
    /// O(log modules + versions) plus the removal's moves.
    pub fn remove_version(&mut self, key: &ModuleKey, version: &str) -> bool {
        let Ok(at) = self.position(key) else {
            return false;
        };
        let module = &mut self.modules[at];
        let Some(i) = module.versions.iter().position(|v| v.version == version) else {
            return false;
        };
        module.versions.remove(i);
        if module.versions.is_empty() {
            self.modules.remove(at);
        }
        true
    }

    /// Records a change as pending. A pending change with the same `id` is
    /// replaced in place (so retrying a `begin` is harmless); otherwise the
    /// change is appended.
    pub fn begin(&mut self, change: PendingChange) {
        match self.pending.iter_mut().find(|p| p.id == change.id) {
            Some(existing) => *existing = change,
            None => self.pending.push(change),
        }
    }

    /// Removes and answers the pending change with this `id`; `None` if there
    /// is none (already finished, or never begun).
    pub fn finish(&mut self, id: &str) -> Option<PendingChange> {
        let i = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.remove(i))
    }

    /// Restores the module order after hand edits: sorts `modules` by key
    /// (stable) and, for duplicate keys, keeps the first. Does not touch
    /// versions. O(modules) when already sorted.
    pub fn normalize(&mut self) {
        normalize_modules(&mut self.modules);
    }
}

/// Sorts by key (stable; skipped when already sorted) and drops later
/// duplicates of a key.
pub(crate) fn normalize_modules(modules: &mut Vec<ModuleEntry>) {
    if !modules.is_sorted_by(|a, b| a.key < b.key) {
        modules.sort_by(|a, b| a.key.cmp(&b.key));
        modules.dedup_by(|later, earlier| later.key == earlier.key);
    }
}
