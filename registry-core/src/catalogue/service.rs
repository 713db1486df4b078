//! [`Catalogue`]: the in-memory index every list and search reads, kept in
//! step with the shared snapshot and with storage.
//!
//! # The protocol
//!
//! One snapshot document in a [`CatalogueStore`] holds every module, its
//! versions and the *pending* changes; every process sharing the backend
//! reads it and replaces it by compare-and-swap.
//!
//! - **Publish**: (1) record the change as pending (a CAS write), (2) write
//!   the version to storage, (3) add the version and clear the pending change
//!   (a second CAS write). A pending publish is invisible to readers.
//! - **Delete**: (1) remove the version and record the change as pending,
//!   (2) delete it in storage, (3) clear the pending change.
//! - **Conflicts**: a CAS that loses to another writer reloads the snapshot
//!   and applies the change again, with jittered backoff, a bounded number of
//!   times; then the request fails with a retryable 503 and storage is
//!   unchanged (for step 1) or the pending change stays for repair.
//! - **Crashes**: a kill between the steps leaves a pending change. Once it
//!   is older than the grace period, the next process that reloads the
//!   snapshot asks storage whether the version exists and makes the
//!   catalogue agree, then clears it. A snapshot that cannot be decoded, or
//!   none at all, is rebuilt from storage (`Storage::list_modules`).
//! - **Readers** keep the index for the TTL, then ask the store whether the
//!   snapshot changed ([`CatalogueStore::load_if_changed`]: one request,
//!   cheap when unchanged) while other requests go on reading the index they
//!   have. A process sees its own writes at once, other processes' within
//!   the TTL (plus one reload).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use catalogue_index::{
    CatalogueIndex, ModuleKey, PendingChange, PendingOp, Snapshot, VersionEntry, MAX_DECODED_BYTES,
};
use rand::Rng as _;

use super::document::VersionDocument;
use super::store::{CatalogueStore, SnapshotRead, SnapshotTag};
use crate::storage::{Storage, StorageError};
use crate::{ModuleAddress, Version};

/// How many times a write retries after losing a compare-and-swap.
const MAX_ATTEMPTS: u32 = 10;
/// Pending changes repaired per reload, at most.
const MAX_REPAIRS: usize = 64;
/// Storage reads in flight while rebuilding from storage.
const REBUILD_CONCURRENCY: usize = 16;

/// The default age after which a pending change counts as abandoned: longer
/// than any storage write of an archive takes (Lambda's limit is 15 minutes).
pub const DEFAULT_PENDING_GRACE: Duration = Duration::from_secs(15 * 60);

/// The index as loaded, with the snapshot's tag.
#[derive(Clone)]
struct Loaded {
    index: Arc<CatalogueIndex>,
    tag: SnapshotTag,
    at: Instant,
}

/// The catalogue of one registry process.
pub struct Catalogue {
    store: Arc<dyn CatalogueStore>,
    ttl: Duration,
    grace: Duration,
    loaded: Mutex<Option<Loaded>>,
    /// One reload at a time (single flight).
    refresh: tokio::sync::Mutex<()>,
    /// One write at a time from this process (they would only conflict).
    writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("store", &self.store)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// What storage says a pending change's version is.
enum Resolution {
    /// It exists: the catalogue lists it with this entry and description.
    Present(VersionEntry, String),
    /// It does not exist.
    Absent,
}

impl Catalogue {
    /// A catalogue over `store`, reloaded after `ttl`, whose pending changes
    /// count as abandoned after `grace`.
    pub fn new(store: Arc<dyn CatalogueStore>, ttl: Duration, grace: Duration) -> Self {
        Self {
            store,
            ttl,
            grace,
            loaded: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Loaded> {
        self.loaded.lock().expect("not poisoned").clone()
    }

    /// The kept index if it was loaded within the TTL: the read path's
    /// common case, which copies nothing but the `Arc`.
    fn fresh(&self) -> Option<Arc<CatalogueIndex>> {
        let loaded = self.loaded.lock().expect("not poisoned");
        let kept = loaded.as_ref()?;
        (kept.at.elapsed() < self.ttl).then(|| kept.index.clone())
    }

    /// Keeps `index` unless a newer generation is already kept (a reload
    /// that raced a write of this process).
    fn install(&self, index: CatalogueIndex, tag: SnapshotTag) -> Arc<CatalogueIndex> {
        let index = Arc::new(index);
        let mut loaded = self.loaded.lock().expect("not poisoned");
        match loaded.as_ref() {
            Some(kept) if kept.index.generation() > index.generation() => kept.index.clone(),
            _ => {
                *loaded = Some(Loaded {
                    index: index.clone(),
                    tag,
                    at: Instant::now(),
                });
                index
            }
        }
    }

    /// The index to answer a read from: the kept one within the TTL; else
    /// reloaded (while another request reloads, the kept one). On a backend
    /// failure the kept index is served (and the failure logged); with none
    /// kept, the failure is the answer.
    ///
    /// # Errors
    /// Storage failures when no index was ever loaded.
    pub async fn index(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
    ) -> Result<Arc<CatalogueIndex>, StorageError> {
        if let Some(index) = self.fresh() {
            return Ok(index);
        }
        if let Some(kept) = self.current() {
            let Ok(_guard) = self.refresh.try_lock() else {
                return Ok(kept.index);
            };
            // Another request may have reloaded it since `fresh` looked.
            if let Some(index) = self.fresh() {
                return Ok(index);
            }
            return match self.reload(storage, now, Some(&kept)).await {
                Ok(index) => Ok(index),
                Err(e) => {
                    tracing::warn!(error = %e, "catalogue not reloaded; answering from the kept index");
                    Ok(kept.index)
                }
            };
        }
        let _guard = self.refresh.lock().await;
        if let Some(kept) = self.current() {
            return Ok(kept.index);
        }
        self.reload(storage, now, None).await
    }

    /// Loads the snapshot (rebuilding it from storage when it is missing or
    /// unreadable), keeps it, then repairs abandoned pending changes.
    async fn reload(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
        kept: Option<&Loaded>,
    ) -> Result<Arc<CatalogueIndex>, StorageError> {
        let read = match kept {
            Some(kept) => self.store.load_if_changed(&kept.tag).await?,
            None => match self.store.load().await? {
                Some(stored) => SnapshotRead::Changed(stored),
                None => SnapshotRead::Missing,
            },
        };
        let (snapshot, tag) = match read {
            SnapshotRead::Unchanged => {
                let mut loaded = self.loaded.lock().expect("not poisoned");
                if let Some(l) = loaded.as_mut() {
                    l.at = Instant::now();
                }
                return Ok(kept.expect("Unchanged answers a known tag").index.clone());
            }
            other => self.settle_read(storage, other).await?,
        };
        let abandoned = self.abandoned(&snapshot.pending, now);
        let index = blocking(move || CatalogueIndex::build(snapshot)).await?;
        let index = self.install(index, tag);
        if abandoned.is_empty() {
            return Ok(index);
        }
        self.repair(storage, now, abandoned).await?;
        Ok(self.current().map_or(index, |l| l.index))
    }

    /// The snapshot to work from after a read of the store: the stored one,
    /// or, when there is none or it cannot be decoded, one rebuilt from
    /// storage and stored in its place (if another process stored one
    /// first, that one).
    async fn settle_read(
        &self,
        storage: &Arc<dyn Storage>,
        read: SnapshotRead,
    ) -> Result<(Snapshot, SnapshotTag), StorageError> {
        let over = match read {
            SnapshotRead::Changed(stored) => match decode(stored.bytes).await? {
                Ok(snapshot) => return Ok((snapshot, stored.tag)),
                Err(e) => {
                    tracing::error!(error = %e, "the catalogue snapshot cannot be read; rebuilding it from storage");
                    Some(stored.tag)
                }
            },
            SnapshotRead::Missing | SnapshotRead::Unchanged => None,
        };
        let generation = self.current().map_or(0, |l| l.index.generation());
        let mut snapshot = snapshot_from_storage(storage).await?;
        snapshot.generation = generation + 1;
        let (bytes, snapshot) = blocking(move || (snapshot.encode(), snapshot)).await?;
        match self.store.store(bytes.into(), over.as_ref()).await {
            Ok(tag) => {
                tracing::info!(
                    modules = snapshot.modules.len(),
                    "catalogue snapshot rebuilt from storage"
                );
                Ok((snapshot, tag))
            }
            Err(StorageError::Conflict) => {
                let stored = self.store.load().await?.ok_or(StorageError::Conflict)?;
                let snapshot = decode(stored.bytes)
                    .await?
                    .map_err(|e| StorageError::other("catalogue snapshot", e))?;
                Ok((snapshot, stored.tag))
            }
            Err(e) => Err(e),
        }
    }

    /// Rebuilds the snapshot from storage, replacing whatever is stored: the
    /// backfill command's second half, and the cure for a catalogue that
    /// disagrees with storage. Answers the number of modules.
    ///
    /// # Errors
    /// Storage failures; [`StorageError::Conflict`] if other writers kept
    /// winning.
    pub async fn rebuild(&self, storage: &Arc<dyn Storage>) -> Result<usize, StorageError> {
        let _writes = self.writes.lock().await;
        let fresh = snapshot_from_storage(storage).await?;
        for attempt in 0..MAX_ATTEMPTS {
            let stored = self.store.load().await?;
            let (generation, tag) = match &stored {
                Some(s) => {
                    let generation = decode(s.bytes.clone()).await?.map_or(0, |s| s.generation);
                    (generation, Some(s.tag.clone()))
                }
                None => (0, None),
            };
            let mut snapshot = fresh.clone();
            snapshot.generation = generation + 1;
            let (bytes, snapshot) = blocking(move || (snapshot.encode(), snapshot)).await?;
            match self.store.store(bytes.into(), tag.as_ref()).await {
                Ok(tag) => {
                    let modules = snapshot.modules.len();
                    let index = blocking(move || CatalogueIndex::build(snapshot)).await?;
                    self.install(index, tag);
                    return Ok(modules);
                }
                Err(StorageError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict)
    }

    /// The pending changes older than the grace period, at most
    /// [`MAX_REPAIRS`]. A start time that does not parse counts as old.
    fn abandoned(&self, pending: &[PendingChange], now: SystemTime) -> Vec<PendingChange> {
        pending
            .iter()
            .filter(|p| {
                humantime::parse_rfc3339(&p.started_at)
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_none_or(|age| age >= self.grace)
            })
            .take(MAX_REPAIRS)
            .cloned()
            .collect()
    }

    /// Makes the catalogue agree with storage for each abandoned change, and
    /// clears them.
    async fn repair(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
        abandoned: Vec<PendingChange>,
    ) -> Result<(), StorageError> {
        let mut resolved = Vec::with_capacity(abandoned.len());
        for change in abandoned {
            let resolution = resolve(storage.as_ref(), &change.key, &change.version).await?;
            tracing::warn!(module = %format_key(&change.key), version = %change.version, op = ?change.op, started_at = %change.started_at, present = matches!(resolution, Resolution::Present(..)), "repairing an abandoned catalogue change");
            resolved.push((change, resolution));
        }
        self.apply(storage, now, |snapshot| {
            for (change, resolution) in &resolved {
                snapshot.finish(&change.id);
                settle(snapshot, &change.key, &change.version, resolution);
            }
        })
        .await
    }

    /// Applies `change` to the current snapshot and stores it by CAS,
    /// retrying on conflicts. Starts from the kept index when there is one
    /// (no load when this process wrote last).
    async fn apply(
        &self,
        storage: &Arc<dyn Storage>,
        _now: SystemTime,
        mut change: impl FnMut(&mut Snapshot) + Send,
    ) -> Result<(), StorageError> {
        let _writes = self.writes.lock().await;
        let mut from_kept = true;
        for attempt in 0..MAX_ATTEMPTS {
            let kept = if from_kept { self.current() } else { None };
            let (mut snapshot, tag) = match kept {
                Some(kept) => {
                    let index = kept.index.clone();
                    (blocking(move || snapshot_of(&index)).await?, kept.tag)
                }
                None => {
                    let read = match self.store.load().await? {
                        Some(stored) => SnapshotRead::Changed(stored),
                        None => SnapshotRead::Missing,
                    };
                    self.settle_read(storage, read).await?
                }
            };
            change(&mut snapshot);
            snapshot.generation += 1;
            let (bytes, snapshot) = blocking(move || (snapshot.encode(), snapshot)).await?;
            match self.store.store(bytes.into(), Some(&tag)).await {
                Ok(tag) => {
                    let index = blocking(move || CatalogueIndex::build(snapshot)).await?;
                    self.install(index, tag);
                    return Ok(());
                }
                Err(StorageError::Conflict) => {
                    from_kept = false;
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict)
    }

    /// Step 1 of a publish or delete: records the change as pending (a
    /// delete also takes the version out of the catalogue at once). Answers
    /// the change's id for [`finish`](Self::finish).
    ///
    /// # Errors
    /// Catalogue store failures: then nothing may be changed in storage.
    pub async fn begin(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
        module: &ModuleAddress,
        version: &Version,
        op: PendingOp,
    ) -> Result<String, StorageError> {
        let mut raw = [0u8; 12];
        rand::thread_rng().fill(&mut raw);
        let id = hex::encode(raw);
        let change = PendingChange {
            key: key_of(module),
            version: version.to_string(),
            op,
            started_at: rfc3339(now),
            id: id.clone(),
        };
        self.apply(storage, now, |snapshot| {
            snapshot.begin(change.clone());
            if op == PendingOp::Delete {
                snapshot.remove_version(&change.key, &change.version);
            }
        })
        .await?;
        Ok(id)
    }

    /// Step 3: clears the pending change `id` and records what storage now
    /// holds: `Some(entry, description)` for a version that exists, `None`
    /// for one that does not. A publish's description replaces the module's
    /// only when the version is its latest.
    ///
    /// # Errors
    /// Catalogue store failures (the change stays pending, for repair).
    pub async fn finish(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
        id: &str,
        module: &ModuleAddress,
        version: &Version,
        present: Option<(VersionEntry, String)>,
    ) -> Result<(), StorageError> {
        let key = key_of(module);
        let version = version.to_string();
        let resolution = match present {
            Some((entry, description)) => Resolution::Present(entry, description),
            None => Resolution::Absent,
        };
        self.apply(storage, now, |snapshot| {
            snapshot.finish(id);
            settle(snapshot, &key, &version, &resolution);
        })
        .await
    }

    /// [`finish`](Self::finish) with what storage says about the version
    /// (after a failed storage write or delete, whose outcome is unknown).
    ///
    /// # Errors
    /// Storage and catalogue store failures.
    pub async fn finish_from_storage(
        &self,
        storage: &Arc<dyn Storage>,
        now: SystemTime,
        id: &str,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let key = key_of(module);
        let version = version.to_string();
        let resolution = resolve(storage.as_ref(), &key, &version).await?;
        self.apply(storage, now, |snapshot| {
            snapshot.finish(id);
            settle(snapshot, &key, &version, &resolution);
        })
        .await
    }
}

/// Applies what storage says about one version to the snapshot.
fn settle(snapshot: &mut Snapshot, key: &ModuleKey, version: &str, resolution: &Resolution) {
    match resolution {
        Resolution::Present(entry, description) => {
            if let Err(e) = snapshot.add_version(key, entry.clone(), None) {
                tracing::warn!(error = %e, "version not added to the catalogue");
                return;
            }
            // The module's description is its latest version's.
            let is_latest = snapshot
                .get(key)
                .and_then(|m| m.latest())
                .is_some_and(|latest| latest.version == entry.version);
            if is_latest {
                let _ = snapshot.add_version(key, entry.clone(), Some(description.clone()));
            }
        }
        Resolution::Absent => {
            snapshot.remove_version(key, version);
        }
    }
}

/// Asks storage whether `version` of `key` exists, and with which entry.
async fn resolve(
    storage: &dyn Storage,
    key: &ModuleKey,
    version: &str,
) -> Result<Resolution, StorageError> {
    let (Ok(module), Ok(parsed)) = (
        ModuleAddress::new(
            key.namespace.as_str(),
            key.name.as_str(),
            key.provider.as_str(),
        ),
        version.parse::<Version>(),
    ) else {
        return Ok(Resolution::Absent);
    };
    if !storage.list_versions(&module).await?.contains(&parsed) {
        return Ok(Resolution::Absent);
    }
    let (entry, description) = stored_entry(storage, &module, &parsed).await?;
    Ok(Resolution::Present(entry, description))
}

/// A stored version's catalogue entry and description, from its metadata
/// document (none: no publication time, no description).
async fn stored_entry(
    storage: &dyn Storage,
    module: &ModuleAddress,
    version: &Version,
) -> Result<(VersionEntry, String), StorageError> {
    let document = match storage.read_metadata(module, version).await {
        Ok(bytes) => VersionDocument::decode(&bytes),
        Err(StorageError::NotFound) => None,
        Err(e) => return Err(e),
    };
    let (published_at, description) = document
        .map(|d| (d.published_at.unwrap_or_default(), d.description))
        .unwrap_or_default();
    Ok((
        VersionEntry::new(version.to_string(), published_at),
        description,
    ))
}

/// Every module and version in storage, with what their metadata
/// documents say. Lists the whole store.
pub(crate) async fn snapshot_from_storage(
    storage: &Arc<dyn Storage>,
) -> Result<Snapshot, StorageError> {
    let modules = storage.list_modules().await?;
    let mut snapshot = Snapshot::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = modules.into_iter();
    let spawn = |tasks: &mut tokio::task::JoinSet<_>, module: ModuleAddress| {
        let storage = storage.clone();
        tasks.spawn(async move {
            let mut versions = storage.list_versions(&module).await?;
            crate::version::sort_versions(&mut versions);
            let mut entries = Vec::with_capacity(versions.len());
            for version in &versions {
                entries.push(stored_entry(storage.as_ref(), &module, version).await?);
            }
            Ok::<_, StorageError>((module, entries))
        });
    };
    for module in queue.by_ref().take(REBUILD_CONCURRENCY) {
        spawn(&mut tasks, module);
    }
    while let Some(joined) = tasks.join_next().await {
        let (module, entries) =
            joined.map_err(|e| StorageError::other("catalogue rebuild", e))??;
        if let Some(next) = queue.next() {
            spawn(&mut tasks, next);
        }
        let key = key_of(&module);
        // Ascending, so the last one's description is the latest's.
        for (entry, description) in entries {
            if let Err(e) = snapshot.add_version(&key, entry, Some(description)) {
                tracing::warn!(error = %e, "version not added to the catalogue");
            }
        }
    }
    Ok(snapshot)
}

/// Decodes a stored snapshot off the runtime's workers.
async fn decode(
    bytes: bytes::Bytes,
) -> Result<Result<Snapshot, catalogue_index::SnapshotError>, StorageError> {
    blocking(move || Snapshot::decode_within(&bytes, MAX_DECODED_BYTES)).await
}

/// The index's content as a snapshot to change and store.
fn snapshot_of(index: &CatalogueIndex) -> Snapshot {
    Snapshot {
        generation: index.generation(),
        modules: index.modules().to_vec(),
        pending: index.pending().to_vec(),
    }
}

/// The catalogue key of a module address.
pub(crate) fn key_of(module: &ModuleAddress) -> ModuleKey {
    ModuleKey::new(module.namespace(), module.name(), module.system())
}

fn format_key(key: &ModuleKey) -> String {
    format!("{}/{}/{}", key.namespace, key.name, key.provider)
}

/// RFC 3339, UTC, whole seconds: `2026-12-04T06:00:00Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Waits before retry `attempt` of a lost CAS: up to 10 ms doubling, with
/// full jitter.
async fn backoff(attempt: u32) {
    let cap_ms = 10u64 << attempt.min(6);
    let wait = rand::thread_rng().gen_range(1..=cap_ms);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Runs CPU-heavy work (decoding, encoding, building an index of 100,000
/// modules) off the async runtime's workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(work)
            .await
            .map_err(|e| StorageError::other("catalogue", e)),
        Err(_) => Ok(work()),
    }
}
