//! The `CatalogueStore` port: where the catalogue's one snapshot document lives.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use crate::storage::StorageError;

/// Identifies one stored version of the snapshot, for conditional writes:
/// an S3 ETag, a file's content hash. Opaque to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotTag(pub String);

/// The stored snapshot and its tag, as [`CatalogueStore::load`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The snapshot's bytes, exactly as last stored.
    pub bytes: Bytes,
    /// What [`CatalogueStore::store`] expects to replace these bytes.
    pub tag: SnapshotTag,
}

/// What [`CatalogueStore::load_if_changed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRead {
    /// The stored snapshot still has the tag the caller knows.
    Unchanged,
    /// Another snapshot is stored (or the caller knew none).
    Changed(StoredSnapshot),
    /// No snapshot is stored.
    Missing,
}

/// Keeps the catalogue snapshot: one document that every process sharing the
/// backend reads and replaces by compare-and-swap.
///
/// # Contract
/// - [`store`](CatalogueStore::store) is atomic and conditional: of two
///   writers that loaded the same tag, exactly one succeeds; the other gets
///   [`StorageError::Conflict`] and its bytes are not stored.
/// - Readers see a whole snapshot, never a partial one, including while a
///   write is in progress or after a crash during one.
/// - Safe to call concurrently, from several processes sharing one backend.
///
/// The conformance suite (`registry_core::conformance`, feature
/// `conformance`) checks this; every implementation runs it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CatalogueStore: Send + Sync + fmt::Debug + 'static {
    /// The stored snapshot, or `None` if none was ever stored.
    ///
    /// # Errors
    /// Backend failures only.
    async fn load(&self) -> Result<Option<StoredSnapshot>, StorageError>;

    /// The stored snapshot unless it still has tag `known`, so a reader that
    /// polls does not transfer an unchanged snapshot again. The default
    /// loads and compares; backends that can ask conditionally (S3's
    /// `If-None-Match`, a file's identity) override it.
    ///
    /// # Errors
    /// Backend failures only.
    async fn load_if_changed<'a>(
        &self,
        known: &'a SnapshotTag,
    ) -> Result<SnapshotRead, StorageError> {
        Ok(match self.load().await? {
            None => SnapshotRead::Missing,
            Some(stored) if &stored.tag == known => SnapshotRead::Unchanged,
            Some(stored) => SnapshotRead::Changed(stored),
        })
    }

    /// Stores `bytes` if the stored snapshot still has tag `expected`
    /// (`None`: only if there is none yet), and answers the new tag.
    ///
    /// # Errors
    /// [`StorageError::Conflict`] if another write came first (nothing
    /// stored); backend failures.
    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a SnapshotTag>,
    ) -> Result<SnapshotTag, StorageError>;
}

/// A [`CatalogueStore`] in memory: for tests, doc examples and trying things
/// out. Tags count the writes.
#[derive(Debug, Default)]
pub struct InMemoryCatalogueStore {
    stored: Mutex<Option<(Bytes, u64)>>,
}

impl InMemoryCatalogueStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CatalogueStore for InMemoryCatalogueStore {
    async fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let stored = self.stored.lock().expect("not poisoned");
        Ok(stored.as_ref().map(|(bytes, n)| StoredSnapshot {
            bytes: bytes.clone(),
            tag: SnapshotTag(n.to_string()),
        }))
    }

    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a SnapshotTag>,
    ) -> Result<SnapshotTag, StorageError> {
        let mut stored = self.stored.lock().expect("not poisoned");
        let current = stored.as_ref().map(|(_, n)| SnapshotTag(n.to_string()));
        if current.as_ref() != expected {
            return Err(StorageError::Conflict);
        }
        let next = stored.as_ref().map_or(1, |(_, n)| n + 1);
        *stored = Some((bytes, next));
        Ok(SnapshotTag(next.to_string()))
    }
}
