//! [`CachedStorage`]: a [`Storage`] whose version lists, archive locations
//! and (small) metadata documents are answered from memory.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{unshare, Cache, SharedError, DEFAULT_MAX_ENTRIES};
use crate::storage::{Archive, ArchiveLocation, Storage, StorageError};
use crate::{ModuleAddress, Version};

/// Caches `inner`'s [`list_versions`](Storage::list_versions),
/// [`locate_archive`](Storage::locate_archive) and
/// [`read_metadata`](Storage::read_metadata) answers (a missing version or
/// document included) for `ttl`; [`read_archive`](Storage::read_archive)
/// always reads `inner`. See [the module docs](super) for what other processes' writes
/// look like through it.
///
/// # Contract
/// - [`publish`](Storage::publish) and [`delete_version`](Storage::delete_version)
///   invalidate the module's list and the version's location when they
///   return, whatever their result (an `AlreadyExists` means another process
///   wrote it), so this process sees its own writes at once.
/// - Concurrent misses of one key make one call to `inner`; errors are passed
///   on, never cached.
/// - A presigned URL from the cache is up to `ttl` older than a fresh one:
///   keep `ttl` well below the inner storage's presigned URL lifetime.
/// - [`write_metadata`](Storage::write_metadata) invalidates the version's
///   document the same way.
/// - At most `max_entries` lists and as many locations (default
///   [`DEFAULT_MAX_ENTRIES`]); at most `max_entries / 8` metadata documents,
///   each of at most [`MAX_CACHED_METADATA_BYTES`] (larger ones are read
///   from `inner` every time), so documents hold at most
///   `max_entries / 8 × 64 KiB` (32 MiB by default).
pub struct CachedStorage {
    inner: Arc<dyn Storage>,
    ttl: Duration,
    versions: Cache<ModuleAddress, Vec<Version>, SharedError>,
    locations: Cache<(ModuleAddress, Version), Option<ArchiveLocation>, SharedError>,
    metadata: Cache<(ModuleAddress, Version), Option<Bytes>, SharedError>,
}

/// The largest metadata document [`CachedStorage`] keeps in memory: a
/// typical module's document (README included) is a few KiB.
pub const MAX_CACHED_METADATA_BYTES: usize = 64 * 1024;

impl CachedStorage {
    /// `inner` behind caches of [`DEFAULT_MAX_ENTRIES`] entries each, kept for `ttl`.
    pub fn new(inner: Arc<dyn Storage>, ttl: Duration) -> Self {
        Self::with_max_entries(inner, ttl, DEFAULT_MAX_ENTRIES)
    }

    /// `inner` behind caches of at most `max_entries` entries each, kept for `ttl`.
    pub fn with_max_entries(inner: Arc<dyn Storage>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            versions: Cache::new(max_entries).reported_as("versions"),
            locations: Cache::new(max_entries).reported_as("archive_locations"),
            metadata: Cache::new((max_entries / 8).max(1)).reported_as("metadata"),
        }
    }

    fn forget(&self, module: &ModuleAddress, version: &Version) {
        self.versions.invalidate(module);
        let key = (module.clone(), version.clone());
        self.locations.invalidate(&key);
        self.metadata.invalidate(&key);
    }
}

impl std::fmt::Debug for CachedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStorage")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Storage for CachedStorage {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        let result = self.inner.publish(module, version, archive).await;
        self.forget(module, version);
        result
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        self.versions
            .get_or_fetch(
                module,
                |_| self.ttl,
                || async { self.inner.list_versions(module).await.map_err(Arc::new) },
            )
            .await
            .map_err(|e| unshare(&e))
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        self.inner.read_archive(module, version).await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        let key = (module.clone(), version.clone());
        let found = self
            .locations
            .get_or_fetch(
                &key,
                |_| self.ttl,
                || async {
                    match self.inner.locate_archive(module, version).await {
                        Ok(location) => Ok(Some(location)),
                        Err(StorageError::NotFound) => Ok(None),
                        Err(e) => Err(Arc::new(e)),
                    }
                },
            )
            .await
            .map_err(|e| unshare(&e))?;
        found.ok_or(StorageError::NotFound)
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let result = self.inner.delete_version(module, version).await;
        self.forget(module, version);
        result
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        let result = self.inner.write_metadata(module, version, document).await;
        self.metadata.invalidate(&(module.clone(), version.clone()));
        result
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        let key = (module.clone(), version.clone());
        let ttl = |found: &Option<Bytes>| match found {
            Some(document) if document.len() > MAX_CACHED_METADATA_BYTES => Duration::ZERO,
            _ => self.ttl,
        };
        let found = self
            .metadata
            .get_or_fetch(&key, ttl, || async {
                match self.inner.read_metadata(module, version).await {
                    Ok(document) => Ok(Some(document)),
                    Err(StorageError::NotFound) => Ok(None),
                    Err(e) => Err(Arc::new(e)),
                }
            })
            .await
            .map_err(|e| unshare(&e))?;
        found.ok_or(StorageError::NotFound)
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        self.inner.list_modules().await
    }

    /// Never cached: a probe asks the backend.
    async fn probe(&self) -> Result<(), StorageError> {
        self.inner.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryStorage;
    use crate::testing::{CountingStorage, FailingStorage, StorageCall};
    use crate::ArchiveFormat;

    const TTL: Duration = Duration::from_secs(60);

    fn module() -> ModuleAddress {
        ModuleAddress::new("acme", "vpc", "aws").unwrap()
    }

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn archive() -> Archive {
        // Storages do not look inside archives.
        Archive::new(
            ArchiveFormat::TarGz,
            bytes::Bytes::from_static(b"archive bytes"),
        )
    }

    mod conformance_through_the_cache {
        use super::*;

        crate::storage_conformance_tests!(|| async {
            Arc::new(CachedStorage::new(Arc::new(InMemoryStorage::new()), TTL)) as Arc<dyn Storage>
        });
    }

    #[tokio::test]
    async fn reads_are_served_from_memory_until_the_ttl() {
        let inner = Arc::new(CountingStorage::wrap(InMemoryStorage::new()));
        inner
            .inner()
            .publish(&module(), &v("1.0.0"), &archive())
            .await
            .unwrap();
        let cached = CachedStorage::new(inner.clone(), TTL);
        for _ in 0..10 {
            assert_eq!(cached.list_versions(&module()).await.unwrap(), [v("1.0.0")]);
        }
        assert_eq!(inner.counts().calls(StorageCall::ListVersions), 1);

        let uncached = CachedStorage::new(inner.clone(), Duration::ZERO);
        uncached.list_versions(&module()).await.unwrap();
        uncached.list_versions(&module()).await.unwrap();
        assert_eq!(inner.counts().calls(StorageCall::ListVersions), 3);
    }

    #[tokio::test]
    async fn small_metadata_documents_are_kept_large_ones_read_each_time() {
        let inner = Arc::new(CountingStorage::wrap(InMemoryStorage::new()));
        let (m, small, large) = (module(), v("1.0.0"), v("2.0.0"));
        for version in [&small, &large] {
            inner
                .inner()
                .publish(&m, version, &archive())
                .await
                .unwrap();
        }
        let cached = CachedStorage::new(inner.clone(), TTL);
        cached
            .write_metadata(&m, &small, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let big = Bytes::from(vec![b' '; MAX_CACHED_METADATA_BYTES + 1]);
        cached
            .write_metadata(&m, &large, big.clone())
            .await
            .unwrap();
        for _ in 0..5 {
            assert_eq!(cached.read_metadata(&m, &small).await.unwrap(), "{}");
            assert_eq!(cached.read_metadata(&m, &large).await.unwrap(), big);
        }
        assert_eq!(inner.counts().calls(StorageCall::ReadMetadata), 1 + 5);

        // Its own write replaces the kept document at once; a delete forgets it.
        cached
            .write_metadata(&m, &small, Bytes::from_static(b"{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(cached.read_metadata(&m, &small).await.unwrap(), "{\"a\":1}");
        cached.delete_version(&m, &small).await.unwrap();
        assert!(matches!(
            cached.read_metadata(&m, &small).await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn own_writes_are_seen_at_once() {
        let cached = CachedStorage::new(Arc::new(InMemoryStorage::new()), TTL);
        let (m, v1, v2) = (module(), v("1.0.0"), v("2.0.0"));
        assert!(cached.list_versions(&m).await.unwrap().is_empty());
        assert!(matches!(
            cached.locate_archive(&m, &v1).await,
            Err(StorageError::NotFound)
        ));

        cached.publish(&m, &v1, &archive()).await.unwrap();
        assert_eq!(
            cached.list_versions(&m).await.unwrap(),
            std::slice::from_ref(&v1)
        );
        let location = cached.locate_archive(&m, &v1).await.unwrap();
        assert_eq!(location.info.format, ArchiveFormat::TarGz);

        cached.publish(&m, &v2, &archive()).await.unwrap();
        let mut listed = cached.list_versions(&m).await.unwrap();
        listed.sort();
        assert_eq!(listed, [v1.clone(), v2.clone()]);

        cached.delete_version(&m, &v1).await.unwrap();
        assert_eq!(cached.list_versions(&m).await.unwrap(), [v2]);
        assert!(matches!(
            cached.locate_archive(&m, &v1).await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn another_processes_writes_show_within_the_ttl() {
        let shared = Arc::new(InMemoryStorage::new());
        let here = CachedStorage::new(shared.clone(), Duration::from_millis(50));
        let (m, v1) = (module(), v("1.0.0"));
        assert!(here.list_versions(&m).await.unwrap().is_empty());
        // "Another process" writes straight to the backend.
        shared.publish(&m, &v1, &archive()).await.unwrap();
        assert!(here.list_versions(&m).await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(here.list_versions(&m).await.unwrap(), [v1]);
    }

    #[tokio::test]
    async fn errors_are_passed_on_and_not_cached() {
        let inner = Arc::new(CountingStorage::wrap(FailingStorage::wrap(
            InMemoryStorage::new(),
        )));
        let faults = inner.inner().faults();
        faults.fail(StorageCall::ListVersions, || StorageError::Unavailable {
            backend: "s3",
            message: "slow down".into(),
        });
        faults.fail(StorageCall::LocateArchive, || {
            StorageError::other("s3", "access denied")
        });
        let cached = CachedStorage::new(inner.clone(), TTL);
        for _ in 0..2 {
            assert!(matches!(
                cached.list_versions(&module()).await,
                Err(StorageError::Unavailable { backend: "s3", .. })
            ));
            let e = cached
                .locate_archive(&module(), &v("1.0.0"))
                .await
                .unwrap_err();
            assert_eq!(e.to_string(), "s3 failed: access denied");
        }
        assert_eq!(inner.counts().total(), 4);
    }
}
