//! [`PendingChange`]: a change the registry started but has not confirmed.

use serde::{Deserialize, Serialize};

use crate::ModuleKey;

/// What a pending change does to storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingOp {
    /// A version's archive is being written.
    Publish,
    /// A version's archive is being deleted.
    Delete,
}

/// A change the registry has started but not confirmed, kept in the snapshot
/// for crash safety.
///
/// # Contract
/// The registry records the change in the snapshot
/// ([`Snapshot::begin`](crate::Snapshot::begin)) *before* it writes or deletes
/// in storage, and removes it ([`Snapshot::finish`](crate::Snapshot::finish))
/// after the storage operation is done and the catalogue updated. A snapshot
/// that still holds an old pending change therefore names a module whose
/// catalogue entry may disagree with storage: the registry re-checks it. This
/// crate stores the changes and keeps their ids unique; the protocol itself
/// (who re-checks, when a change counts as old) belongs to the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// The module being changed.
    pub key: ModuleKey,
    /// The version being published or deleted.
    pub version: String,
    /// Publish or delete.
    pub op: PendingOp,
    /// When the registry started the change, RFC 3339 text. Opaque here.
    pub started_at: String,
    /// Chosen by the caller, unique among the snapshot's pending changes.
    pub id: String,
}
