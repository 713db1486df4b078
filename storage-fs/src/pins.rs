//! [`FsPinStore`]: pin records as JSON files, one per pinned version.

use std::fs::{self, FileType};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use registry_core::{ModuleAddress, PinRecord, PinStore, StorageError, Version};

use crate::error::{classify, Context};
use crate::fsutil::{
    blocking, prepare_dir, random_name, remove_stale, subdirs, sync_dir_or_warn, write_new_synced,
    TempGuard, TEMP_PREFIX,
};

const JSON: &str = ".json";

/// A [`PinStore`] on a local directory:
/// `{root}/pins/{namespace}/{name}/{system}/{version}.json` is the record of
/// one pinned version ([`PinRecord::to_json`]).
///
/// [`put`](PinStore::put) writes the record to a temporary file next to it,
/// flushes it, and renames it over `{version}.json`, so a record is always
/// whole (the old one or the new one, also after a crash) and of racing puts
/// of one version the last rename wins. [`list`](PinStore::list) skips, with
/// a warning, files that do not hold a pin record or whose record names
/// another module version than their path. [`delete`](PinStore::delete)
/// removes the file ([`StorageError::NotFound`] if there is none) and leaves
/// the (possibly empty) directories. The crate README describes the layout.
///
/// All file I/O runs on tokio's blocking thread pool.
#[derive(Debug, Clone)]
pub struct FsPinStore {
    root: PathBuf,
    pins: PathBuf,
}

impl FsPinStore {
    /// Opens (creating if needed) the pin store under `root`: creates
    /// `{root}/pins`, checks that it is writable, and removes temporary files of
    /// writes interrupted more than an hour ago (best effort).
    ///
    /// `root` may be shared with [`FsStorage`](crate::FsStorage) and
    /// [`FsTokenStore`](crate::FsTokenStore).
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] naming the path and the OS error if the
    /// directory cannot be created or written.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        let pins = root.join("pins");
        prepare_dir(&pins, false)?;
        remove_stale_in_pins(&pins);
        Ok(Self { root, pins })
    }

    /// The data directory this store was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `{pins}/{namespace}/{name}/{system}`.
fn module_dir(pins: &Path, module: &ModuleAddress) -> PathBuf {
    // Address parts are `[A-Za-z0-9_-]` (validated by `ModuleAddress`), so
    // they are safe as path components.
    pins.join(module.namespace())
        .join(module.name())
        .join(module.system())
}

/// `{pins}/{namespace}/{name}/{system}/{version}.json`.
fn pin_path(pins: &Path, module: &ModuleAddress, version: &Version) -> PathBuf {
    // `[0-9A-Za-z.+-]`, canonical SemVer, never starting with `.`: a safe file name.
    module_dir(pins, module).join(format!("{version}{JSON}"))
}

fn put_blocking(pins: &Path, pin: &PinRecord) -> Result<(), StorageError> {
    let dir = module_dir(pins, &pin.module);
    let path = pin_path(pins, &pin.module, &pin.version);
    fs::create_dir_all(&dir).map_err(|e| classify(e, Context::op("creating", &dir)))?;
    let mut json = pin.to_json();
    json.push(b'\n');

    // Write the whole record under a temporary name, then rename it over the
    // record: readers see the old record or the new one, never a partial one.
    let tmp = TempGuard::new(dir.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), &json)?;
    fs::rename(tmp.path(), &path).map_err(|e| classify(e, Context::op("renaming to", &path)))?;
    tmp.disarm();

    // The record is visible now; make it (and directories created for it) durable.
    let mut dir = Some(dir.as_path());
    while let Some(d) = dir {
        sync_dir_or_warn(d);
        dir = d.parent().filter(|_| d != pins);
    }
    Ok(())
}

/// The visible entries of `dir` (names not starting with `.`, valid UTF-8),
/// with their types; none if `dir` does not exist (any more).
fn entries(dir: &Path) -> Result<Vec<(PathBuf, FileType)>, StorageError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) => {
            return match classify(e, Context::lookup("listing", dir)) {
                StorageError::NotFound => Ok(Vec::new()),
                e => Err(e),
            }
        }
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| classify(e, Context::op("listing", dir)))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry
            .file_type()
            .map_err(|e| classify(e, Context::op("inspecting", &entry.path())))?;
        out.push((entry.path(), file_type));
    }
    Ok(out)
}

/// The visible subdirectories of `dir`.
fn dirs(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(_, t)| t.is_dir())
        .map(|(p, _)| p)
        .collect())
}

fn list_blocking(pins: &Path) -> Result<Vec<PinRecord>, StorageError> {
    let mut records = Vec::new();
    for namespace in dirs(pins)? {
        for name in dirs(&namespace)? {
            for system in dirs(&name)? {
                for (path, file_type) in entries(&system)? {
                    let is_json = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(JSON));
                    if !file_type.is_file() || !is_json {
                        continue;
                    }
                    if let Some(pin) = read_pin(pins, &path)? {
                        records.push(pin);
                    }
                }
            }
        }
    }
    records.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
    Ok(records)
}

/// Reads the pin file at `path`. `None` if it was deleted meanwhile, or (with a
/// warning) if it does not hold a record or holds the record of another
/// module version than its path says.
fn read_pin(pins: &Path, path: &Path) -> Result<Option<PinRecord>, StorageError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return match classify(e, Context::lookup("reading", path)) {
                StorageError::NotFound => Ok(None),
                e => Err(e),
            }
        }
    };
    match PinRecord::from_json(&bytes) {
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "skipping a file that does not hold a pin record");
            Ok(None)
        }
        Ok(pin) if pin_path(pins, &pin.module, &pin.version) != path => {
            tracing::warn!(
                path = %path.display(),
                module = %pin.module,
                version = %pin.version,
                "skipping a pin file whose record is of another module version than its path"
            );
            Ok(None)
        }
        Ok(pin) => Ok(Some(pin)),
    }
}

fn delete_blocking(
    pins: &Path,
    module: &ModuleAddress,
    version: &Version,
) -> Result<(), StorageError> {
    let path = pin_path(pins, module, version);
    fs::remove_file(&path).map_err(|e| classify(e, Context::lookup("removing", &path)))?;
    // Empty directories stay: removing them would race with puts creating them.
    sync_dir_or_warn(&module_dir(pins, module));
    Ok(())
}

/// Removes `.tmp-*` files older than an hour from every module directory under
/// `pins`. Best effort.
fn remove_stale_in_pins(pins: &Path) {
    for namespace in subdirs(pins) {
        for name in subdirs(&namespace) {
            for system in subdirs(&name) {
                remove_stale(&system, &[TEMP_PREFIX]);
            }
        }
    }
}

#[async_trait]
impl PinStore for FsPinStore {
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError> {
        let (pins, pin) = (self.pins.clone(), pin.clone());
        blocking(move || put_blocking(&pins, &pin)).await
    }

    async fn list(&self) -> Result<Vec<PinRecord>, StorageError> {
        let pins = self.pins.clone();
        blocking(move || list_blocking(&pins)).await
    }

    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError> {
        let (pins, module, version) = (self.pins.clone(), module.clone(), version.clone());
        blocking(move || delete_blocking(&pins, &module, &version)).await
    }
}
