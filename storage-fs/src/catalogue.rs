//! [`FsCatalogueStore`]: the catalogue snapshot as one file, replaced by
//! compare-and-swap under a lock file.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::{CatalogueStore, SnapshotRead, SnapshotTag, StorageError, StoredSnapshot};
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
/// - [`load_if_changed`](CatalogueStore::load_if_changed) answers
///   `Unchanged` from the file's identity (device, inode, size, change and
///   modification times, with nanoseconds) when it is the file this store
///   last read or wrote, without reading it: every write renames a new file
///   into place, so a write changes the identity.
#[derive(Debug, Clone)]
pub struct FsCatalogueStore {
    dir: PathBuf,
    /// The identity and tag of the snapshot file last read or written.
    seen: Arc<Mutex<Option<(FileId, SnapshotTag)>>>,
}

/// What identifies one version of the snapshot file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
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
        Ok(Self {
            dir,
            seen: Arc::default(),
        })
    }

    /// The directory holding the snapshot.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn tag_of(bytes: &[u8]) -> SnapshotTag {
    SnapshotTag(hex::encode(Sha256::digest(bytes)))
}

/// Reads the snapshot and the identity of the file read (from the open
/// file, so it is the identity of exactly these bytes).
fn read_snapshot(dir: &Path) -> Result<Option<(StoredSnapshot, FileId)>, StorageError> {
    use std::io::Read as _;
    let path = dir.join(SNAPSHOT);
    let read = || -> std::io::Result<(Vec<u8>, FileId)> {
        let mut file = File::open(&path)?;
        let id = FileId::of(&file.metadata()?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok((bytes, id))
    };
    match read() {
        Ok((bytes, id)) => Ok(Some((
            StoredSnapshot {
                tag: tag_of(&bytes),
                bytes: Bytes::from(bytes),
            },
            id,
        ))),
        Err(e) => match classify(e, Context::lookup("reading", &path)) {
            StorageError::NotFound => Ok(None),
            e => Err(e),
        },
    }
}

fn load_blocking(dir: &Path) -> Result<Option<StoredSnapshot>, StorageError> {
    Ok(read_snapshot(dir)?.map(|(s, _)| s))
}

impl FsCatalogueStore {
    fn remember(&self, id: FileId, tag: &SnapshotTag) {
        *self.seen.lock().expect("not poisoned") = Some((id, tag.clone()));
    }

    fn load_if_changed_blocking(&self, known: &SnapshotTag) -> Result<SnapshotRead, StorageError> {
        let path = self.dir.join(SNAPSHOT);
        let current = match fs::metadata(&path) {
            Ok(meta) => FileId::of(&meta),
            Err(e) => match classify(e, Context::lookup("reading", &path)) {
                StorageError::NotFound => return Ok(SnapshotRead::Missing),
                e => return Err(e),
            },
        };
        let seen = self.seen.lock().expect("not poisoned").clone();
        if seen.is_some_and(|(id, tag)| id == current && &tag == known) {
            return Ok(SnapshotRead::Unchanged);
        }
        Ok(match read_snapshot(&self.dir)? {
            None => SnapshotRead::Missing,
            Some((stored, id)) => {
                self.remember(id, &stored.tag);
                if &stored.tag == known {
                    SnapshotRead::Unchanged
                } else {
                    SnapshotRead::Changed(stored)
                }
            }
        })
    }
}

fn store_blocking(
    dir: &Path,
    bytes: &[u8],
    expected: Option<&SnapshotTag>,
) -> Result<(SnapshotTag, Option<FileId>), StorageError> {
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
) -> Result<(SnapshotTag, Option<FileId>), StorageError> {
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
    // Still under the lock: the file is the one just written.
    let id = fs::metadata(&path).ok().map(|m| FileId::of(&m));
    Ok((tag_of(bytes), id))
}

#[async_trait]
impl CatalogueStore for FsCatalogueStore {
    async fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let this = self.clone();
        blocking(move || {
            Ok(read_snapshot(&this.dir)?.map(|(stored, id)| {
                this.remember(id, &stored.tag);
                stored
            }))
        })
        .await
    }

    async fn load_if_changed<'a>(
        &self,
        known: &'a SnapshotTag,
    ) -> Result<SnapshotRead, StorageError> {
        let this = self.clone();
        let known = known.clone();
        blocking(move || this.load_if_changed_blocking(&known)).await
    }

    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a SnapshotTag>,
    ) -> Result<SnapshotTag, StorageError> {
        let this = self.clone();
        let expected = expected.cloned();
        blocking(move || {
            let (tag, id) = store_blocking(&this.dir, &bytes, expected.as_ref())?;
            if let Some(id) = id {
                this.remember(id, &tag);
            }
            Ok(tag)
        })
        .await
    }
}
