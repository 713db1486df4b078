//! [`FsTokenStore`]: token records as JSON files, indexed by hash.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use registry_core::{StorageError, TokenHash, TokenRecord, TokenStore};

use crate::error::{classify, corrupt, unusable_root, Context, BACKEND};
use crate::fsutil::{
    blocking, prepare_dir, random_name, remove_stale, sync_dir_or_warn, write_new_synced,
    TempGuard, TEMP_PREFIX,
};

/// A [`TokenStore`] on a local directory: `{root}/tokens/by-name/{name}.json` is a
/// record (name, tier, SHA-256 of the token, creation time) and
/// `{root}/tokens/by-hash/{sha256}` holds the name of the record with that hash.
///
/// Only hashes are stored. A record is created with a hard link, which never
/// replaces, so of racing creates of one name exactly one wins (also across
/// processes sharing the directory). [`find_by_hash`](TokenStore::find_by_hash)
/// returns a record only if its own hash matches, so a stale index entry never
/// authenticates. The crate README describes the layout.
///
/// All file I/O runs on tokio's blocking thread pool.
#[derive(Debug, Clone)]
pub struct FsTokenStore {
    root: PathBuf,
    dirs: Dirs,
}

impl FsTokenStore {
    /// Opens (creating if needed) the token store under `root`: creates
    /// `{root}/tokens/by-name` and `{root}/tokens/by-hash` (owner-only on Unix),
    /// checks that they are writable, and removes temporary files of writes
    /// interrupted more than an hour ago (best effort).
    ///
    /// `root` may be shared with [`FsStorage`](crate::FsStorage).
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] naming the path and the OS error if the
    /// directories cannot be created or written.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        // The data directory itself with the default mode; only `tokens/` is private.
        fs::create_dir_all(&root).map_err(|e| unusable_root(&root, &e))?;
        let tokens = root.join("tokens");
        let (by_name, by_hash) = (tokens.join("by-name"), tokens.join("by-hash"));
        prepare_dir(&by_name, true)?;
        prepare_dir(&by_hash, true)?;
        remove_stale(&by_name, &[TEMP_PREFIX]);
        remove_stale(&by_hash, &[TEMP_PREFIX]);
        Ok(Self {
            root,
            dirs: Dirs { by_name, by_hash },
        })
    }

    /// The data directory this store was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `tokens/by-name` and `tokens/by-hash`.
#[derive(Debug, Clone)]
struct Dirs {
    by_name: PathBuf,
    by_hash: PathBuf,
}

impl Dirs {
    fn record_path(&self, name: &str) -> PathBuf {
        self.by_name.join(format!("{name}.json"))
    }

    fn index_path(&self, hash: &TokenHash) -> PathBuf {
        self.by_hash.join(hash.to_hex())
    }
}

/// Refuses names that are not a single, visible file name. The core validates
/// names (`validate_token_name`) before they get here; this is a second fence.
fn check_name(name: &str) -> Result<(), StorageError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(StorageError::other(
            BACKEND,
            format!("refusing token name {name:?}: not usable as a file name"),
        ));
    }
    Ok(())
}

/// Reads the record at `path`, which must be named `name`; `None` if absent.
fn read_record(path: &Path, name: &str) -> Result<Option<TokenRecord>, StorageError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return match classify(e, Context::lookup("reading", path)) {
                StorageError::NotFound => Ok(None),
                e => Err(e),
            }
        }
    };
    // The format is registry-core's (`TokenRecord::to_stored_json`).
    let record = TokenRecord::from_stored_json(&bytes).map_err(|e| corrupt(path, e))?;
    if record.name != name {
        return Err(corrupt(
            path,
            format!("it names the token {:?}", record.name),
        ));
    }
    Ok(Some(record))
}

/// Points `by-hash/{hash}` at `name` (temp file + rename; replacing is fine:
/// lookups check the record's own hash).
fn write_index(dirs: &Dirs, hash: &TokenHash, name: &str) -> Result<(), StorageError> {
    let tmp = TempGuard::new(dirs.by_hash.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), name.as_bytes())?;
    let index = dirs.index_path(hash);
    fs::rename(tmp.path(), &index).map_err(|e| classify(e, Context::op("renaming to", &index)))?;
    tmp.disarm();
    sync_dir_or_warn(&dirs.by_hash);
    Ok(())
}

fn create_blocking(dirs: &Dirs, record: &TokenRecord) -> Result<(), StorageError> {
    check_name(&record.name)?;
    let record_path = dirs.record_path(&record.name);
    let mut json = record.to_stored_json();
    json.push(b'\n');

    // Write the whole record under a temporary name, then link it to its final
    // name: linking never replaces, so the first link wins and the record is
    // complete the moment it has its name.
    let tmp = TempGuard::new(dirs.by_name.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), &json)?;
    fs::hard_link(tmp.path(), &record_path)
        .map_err(|e| classify(e, Context::op("linking", &record_path)))?;
    drop(tmp); // removes the temporary name; the record keeps the file
    sync_dir_or_warn(&dirs.by_name);

    if let Err(e) = write_index(dirs, &record.hash, &record.name) {
        // Without its index the token would not work: undo, so a failed create
        // leaves nothing behind (unless the name was taken over meanwhile).
        if let Ok(Some(stored)) = read_record(&record_path, &record.name) {
            if stored.hash.ct_eq(&record.hash) {
                let _ = fs::remove_file(&record_path);
                sync_dir_or_warn(&dirs.by_name);
            }
        }
        return Err(e);
    }
    Ok(())
}

fn find_blocking(dirs: &Dirs, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
    let index = dirs.index_path(hash);
    let bytes = match fs::read(&index) {
        Ok(bytes) => bytes,
        Err(e) => {
            return match classify(e, Context::lookup("reading", &index)) {
                StorageError::NotFound => Ok(None),
                e => Err(e),
            }
        }
    };
    let name = std::str::from_utf8(&bytes)
        .map(str::trim)
        .map_err(|_| corrupt(&index, "it does not hold a token name"))?;
    check_name(name).map_err(|_| corrupt(&index, "it does not hold a token name"))?;
    let Some(record) = read_record(&dirs.record_path(name), name)? else {
        return Ok(None);
    };
    // The index may be stale (the name deleted and reused): only the record's own
    // hash counts.
    Ok(record.hash.ct_eq(hash).then_some(record))
}

fn list_blocking(dirs: &Dirs) -> Result<Vec<TokenRecord>, StorageError> {
    let entries = fs::read_dir(&dirs.by_name)
        .map_err(|e| classify(e, Context::op("listing", &dirs.by_name)))?;
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| classify(e, Context::op("listing", &dirs.by_name)))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let Some(name) = file_name.strip_suffix(".json") else {
            continue;
        };
        // `None`: deleted since the directory was read.
        if let Some(record) = read_record(&entry.path(), name)? {
            records.push(record);
        }
    }
    Ok(records)
}

fn delete_blocking(dirs: &Dirs, name: &str) -> Result<(), StorageError> {
    check_name(name)?;
    let record_path = dirs.record_path(name);
    let hash = match read_record(&record_path, name) {
        Ok(Some(record)) => Some(record.hash),
        Ok(None) => return Err(StorageError::NotFound),
        // Still delete it: a corrupt record cannot authenticate anyway, and this
        // is how it gets cleaned up. Its index entry (if any) stays, harmlessly.
        Err(e) => {
            tracing::warn!(error = %e, "deleting an unreadable token record");
            None
        }
    };
    if let Some(hash) = hash {
        let index = dirs.index_path(&hash);
        match fs::remove_file(&index) {
            Ok(()) => sync_dir_or_warn(&dirs.by_hash),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(classify(e, Context::op("removing", &index))),
        }
    }
    fs::remove_file(&record_path)
        .map_err(|e| classify(e, Context::lookup("removing", &record_path)))?;
    sync_dir_or_warn(&dirs.by_name);
    Ok(())
}

#[async_trait]
impl TokenStore for FsTokenStore {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        let (dirs, record) = (self.dirs.clone(), record.clone());
        blocking(move || create_blocking(&dirs, &record)).await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        let (dirs, hash) = (self.dirs.clone(), *hash);
        blocking(move || find_blocking(&dirs, &hash)).await
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let dirs = self.dirs.clone();
        blocking(move || list_blocking(&dirs)).await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        let (dirs, name) = (self.dirs.clone(), name.to_owned());
        blocking(move || delete_blocking(&dirs, &name)).await
    }
}
