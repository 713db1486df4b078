//! [`FsCatalogueStore`]: the catalogue snapshot as one file, replaced by
//! compare-and-swap under a lock file.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::{CatalogueStore, SnapshotTag, StorageError, StoredSnapshot};
use sha2::{Digest as _, Sha256};

use crate::error::{classify, Context};
use crate::fsutil::{
    blocking, prepare_dir, random_name, remove_stale, sync_dir_or_warn, write_new_synced,
    TempGuard, TEMP_PREFIX,
};

const SNAPSHOT: &str = "snapshot.json.gz";
const LOCK: &str = ".lock";

/// The catalogue snapshot in `{root}/catalogue/snapshot.json.gz`.
///
/// # Contract
/// - A snapshot's tag is the SHA-256 of its bytes, so the tag is the same in
///   every process that reads the file.
/// - [`store`](CatalogueStore::store) takes an exclusive lock on
///   `catalogue/.lock` (`flock`; every process on one data directory,
///   on one machine, shares it), compares the current file's tag with the
///   expected one, writes the new bytes to a temporary file, flushes it and
///   renames it over the snapshot. Readers take no lock: a rename is atomic,
///   so they see the old snapshot or the new one, never part of one.
/// - A crash leaves the old snapshot (and a temporary file removed on the
///   next start); the lock is released by the kernel when a process dies.
/// - Not for network file systems whose `flock` is not shared between
///   machines (some NFS setups): point several machines at S3 instead.
#[derive(Debug, Clone)]
pub struct FsCatalogueStore {
    dir: PathBuf,
}

impl FsCatalogueStore {
    /// The store in `{root}/catalogue`, creating the directory.
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] if the directory cannot be created or
    /// written.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        let dir = root.join("catalogue");
        prepare_dir(&dir, false)?;
        remove_stale(&dir, &[TEMP_PREFIX]);
        Ok(Self { dir })
    }

    /// The directory holding the snapshot.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn tag_of(bytes: &[u8]) -> SnapshotTag {
    SnapshotTag(hex::encode(Sha256::digest(bytes)))
}

fn load_blocking(dir: &Path) -> Result<Option<StoredSnapshot>, StorageError> {
    let path = dir.join(SNAPSHOT);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(StoredSnapshot {
            tag: tag_of(&bytes),
            bytes: Bytes::from(bytes),
        })),
        Err(e) => match classify(e, Context::lookup("reading", &path)) {
            StorageError::NotFound => Ok(None),
            e => Err(e),
        },
    }
}

fn store_blocking(
    dir: &Path,
    bytes: &[u8],
    expected: Option<&SnapshotTag>,
) -> Result<SnapshotTag, StorageError> {
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| classify(e, Context::op("opening", &lock_path)))?;
    lock.lock()
        .map_err(|e| classify(e, Context::op("locking", &lock_path)))?;
    let result = replace_locked(dir, bytes, expected);
    // Also released when `lock` is dropped; unlocking first says so plainly.
    let _ = File::unlock(&lock);
    result
}

fn replace_locked(
    dir: &Path,
    bytes: &[u8],
    expected: Option<&SnapshotTag>,
) -> Result<SnapshotTag, StorageError> {
    let current = load_blocking(dir)?.map(|s| s.tag);
    if current.as_ref() != expected {
        return Err(StorageError::Conflict);
    }
    let tmp = TempGuard::new(dir.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), bytes)?;
    let path = dir.join(SNAPSHOT);
    fs::rename(tmp.path(), &path)
        .map_err(|e| classify(e, Context::op("moving into place", &path)))?;
    tmp.disarm();
    sync_dir_or_warn(dir);
    Ok(tag_of(bytes))
}

#[async_trait]
impl CatalogueStore for FsCatalogueStore {
    async fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let dir = self.dir.clone();
        blocking(move || load_blocking(&dir)).await
    }

    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a SnapshotTag>,
    ) -> Result<SnapshotTag, StorageError> {
        let dir = self.dir.clone();
        let expected = expected.cloned();
        blocking(move || store_blocking(&dir, &bytes, expected.as_ref())).await
    }
}
