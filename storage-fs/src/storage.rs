//! [`FsStorage`]: published module archives as files, one directory per version.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::{
    Archive, ArchiveAccess, ArchiveContent, ArchiveFormat, ArchiveInfo, ArchiveLocation,
    ModuleAddress, Sha256Digest, Storage, StorageError, Version,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{classify, corrupt, Context, BACKEND};
use crate::fsutil::{
    blocking, copy_new_synced, prepare_dir, random_name, remove_any, remove_stale,
    rename_noreplace, subdirs, sync_dir, sync_dir_or_warn, unix_secs, write_new_synced, TempGuard,
    TEMP_PREFIX, TRASH_PREFIX,
};

/// The metadata file in every version directory the registry writes.
const ARCHIVE_JSON: &str = "archive.json";
/// The version's metadata document (see [`Storage::write_metadata`]).
const METADATA_JSON: &str = "metadata.json";

/// A [`Storage`] on a local directory: `{root}/modules/{namespace}/{name}/{system}/{version}/`
/// holds one published version (the archive and `archive.json`).
///
/// Publishing assembles the version in a temporary directory next to it and
/// renames that directory into place without replacing, so a version is either
/// complete or absent, and of racing publishes (in any number of processes
/// sharing the directory) exactly one wins. Downloads go through the registry
/// ([`ArchiveAccess::ThroughRegistry`]). The crate README describes the layout.
///
/// All file I/O runs on tokio's blocking thread pool.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
    modules: PathBuf,
}

impl FsStorage {
    /// Opens (creating if needed) the storage under `root`: creates
    /// `{root}/modules`, checks that it is writable, and removes left-overs of
    /// writes interrupted more than an hour ago (best effort).
    ///
    /// `root` may be shared with [`FsTokenStore`](crate::FsTokenStore).
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] naming the path and the OS error if the
    /// directory cannot be created or written (e.g. `root` is a regular file, or
    /// read-only).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        let modules = root.join("modules");
        prepare_dir(&modules, false)?;
        remove_stale_in_modules(&modules);
        Ok(Self { root, modules })
    }

    /// The data directory this storage was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `{root}/modules/{namespace}/{name}/{system}`.
    fn module_dir(&self, module: &ModuleAddress) -> PathBuf {
        // Address parts are `[A-Za-z0-9_-]` (validated by `ModuleAddress`), so
        // they are safe as path components.
        self.modules
            .join(module.namespace())
            .join(module.name())
            .join(module.system())
    }

    fn paths(&self, module: &ModuleAddress, version: &Version) -> VersionPaths {
        let module_dir = self.module_dir(module);
        // `[0-9A-Za-z.+-]`, never `.` or `..`: safe as a path component.
        let version = version.to_string();
        VersionPaths {
            version_dir: module_dir.join(&version),
            archive_stem: format!("{}-{}-{version}", module.name(), module.system()),
            module_dir,
            modules: self.modules.clone(),
        }
    }
}

/// Where one version lives.
#[derive(Debug)]
struct VersionPaths {
    /// `{root}/modules`.
    modules: PathBuf,
    /// `{root}/modules/{namespace}/{name}/{system}`.
    module_dir: PathBuf,
    /// `{module_dir}/{version}`.
    version_dir: PathBuf,
    /// `{name}-{system}-{version}`: the archive's file name without suffix.
    archive_stem: String,
}

/// `archive.json`: what the registry recorded when it published the archive.
#[derive(Debug, Serialize, Deserialize)]
struct ArchiveJson {
    /// `"tar.gz"` or `"zip"`.
    format: String,
    /// 64 hex digits.
    sha256: String,
    /// In bytes.
    size: u64,
    /// Unix seconds; optional when written by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_at: Option<u64>,
}

/// `"tar.gz"` or `"zip"`: the suffix without its dot.
fn format_name(format: ArchiveFormat) -> &'static str {
    &format.suffix()[1..]
}

fn parse_archive_json(path: &Path, bytes: &[u8]) -> Result<ArchiveInfo, StorageError> {
    let json: ArchiveJson = serde_json::from_slice(bytes).map_err(|e| corrupt(path, e))?;
    let format = [ArchiveFormat::TarGz, ArchiveFormat::Zip]
        .into_iter()
        .find(|f| format_name(*f) == json.format)
        .ok_or_else(|| {
            corrupt(
                path,
                format!(
                    "unknown format {:?} (use \"tar.gz\" or \"zip\")",
                    json.format
                ),
            )
        })?;
    let sha256 = Sha256Digest::from_hex(&json.sha256)
        .ok_or_else(|| corrupt(path, "sha256 is not 64 hex digits"))?;
    Ok(ArchiveInfo {
        format,
        sha256,
        size: json.size,
    })
}

/// An archive file (`*.tar.gz` or `*.zip`) in a version directory.
#[derive(Debug)]
struct ArchiveFile {
    path: PathBuf,
    stem: String,
    format: ArchiveFormat,
    size: u64,
}

/// The archive files in `version_dir`: regular files (or links to them) whose
/// names end in `.tar.gz` or `.zip` and do not start with `.`.
fn archive_files(version_dir: &Path) -> io::Result<Vec<ArchiveFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(version_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Some((stem, format)) = ArchiveFormat::split_suffix(name) else {
            continue;
        };
        let path = entry.path();
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            files.push(ArchiveFile {
                stem: stem.to_owned(),
                path,
                format,
                size: meta.len(),
            });
        }
    }
    Ok(files)
}

/// Whether `version_dir` holds a version: `archive.json`, or else exactly one
/// archive file (a version placed by hand). Directories without either are
/// ignored (see the README).
fn is_version(version_dir: &Path) -> io::Result<bool> {
    match fs::metadata(version_dir.join(ARCHIVE_JSON)) {
        Ok(_) => return Ok(true),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
        Err(e) => return Err(e),
    }
    match archive_files(version_dir) {
        Ok(files) => Ok(files.len() == 1),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A version's archive file and, unless it was placed by hand without one, its
/// `archive.json`.
#[derive(Debug)]
struct Resolved {
    file: ArchiveFile,
    recorded: Option<ArchiveInfo>,
}

/// Finds the archive of the version in `p.version_dir`.
///
/// # Errors
/// [`StorageError::NotFound`] if the directory does not hold a version (see
/// [`is_version`]); [`StorageError::Other`] if `archive.json` is corrupt or does
/// not match the directory's archive files.
fn resolve(p: &VersionPaths) -> Result<Resolved, StorageError> {
    let dir = &p.version_dir;
    let json_path = dir.join(ARCHIVE_JSON);
    let recorded = match fs::read(&json_path) {
        Ok(bytes) => Some(parse_archive_json(&json_path, &bytes)?),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
        Err(e) => return Err(classify(e, Context::op("reading", &json_path))),
    };
    let mut files =
        archive_files(dir).map_err(|e| classify(e, Context::lookup("reading directory", dir)))?;
    match recorded {
        Some(info) => {
            files.retain(|f| f.format == info.format);
            let file = if files.len() == 1 {
                files.pop()
            } else {
                // Several: the one with the name the registry gives it.
                files.into_iter().find(|f| f.stem == p.archive_stem)
            };
            let file = file.ok_or_else(|| {
                corrupt(
                    dir,
                    format!(
                        "{ARCHIVE_JSON} describes a {} archive, but the directory does not hold exactly one *{} file",
                        format_name(info.format),
                        info.format.suffix(),
                    ),
                )
            })?;
            Ok(Resolved {
                file,
                recorded: Some(info),
            })
        }
        None if files.len() == 1 => Ok(Resolved {
            file: files.remove(0),
            recorded: None,
        }),
        None => {
            if files.len() > 1 {
                tracing::warn!(
                    path = %dir.display(),
                    "ignoring a version directory with several archives and no {ARCHIVE_JSON}; keep exactly one"
                );
            }
            Err(StorageError::NotFound)
        }
    }
}

/// Format, SHA-256 and size of an archive file, by reading it once.
fn hash_file(file: &ArchiveFile) -> Result<ArchiveInfo, StorageError> {
    let cx = Context::lookup("reading", &file.path);
    let mut reader = File::open(&file.path).map_err(|e| classify(e, cx))?;
    let mut hasher = Sha256::new();
    let size = io::copy(&mut reader, &mut hasher).map_err(|e| classify(e, cx))?;
    Ok(ArchiveInfo {
        format: file.format,
        sha256: Sha256Digest(hasher.finalize().into()),
        size,
    })
}

/// The version exists: refuse, and tell the operator if "exists" is a
/// directory that does not hold a version.
fn conflict(version_dir: &Path) -> StorageError {
    if let Ok(false) = is_version(version_dir) {
        tracing::warn!(
            path = %version_dir.display(),
            "publish refused: the version directory exists but holds no archive; \
             delete the version (or remove the directory) to publish it"
        );
    }
    StorageError::AlreadyExists
}

/// Creates `{module_dir}/.tmp-{random}`, creating the module directory first.
/// A concurrent delete may remove the (empty) module directory in between; then
/// this tries again.
fn create_temp_dir(module_dir: &Path) -> Result<TempGuard, StorageError> {
    let mut attempt = 1;
    loop {
        let tmp = module_dir.join(random_name(TEMP_PREFIX));
        match fs::create_dir_all(module_dir).and_then(|()| fs::create_dir(&tmp)) {
            Ok(()) => return Ok(TempGuard::new(tmp)),
            Err(e) if e.kind() == ErrorKind::NotFound && attempt < 3 => attempt += 1,
            Err(e) => {
                return Err(classify(
                    e,
                    Context::op("creating a directory in", module_dir),
                ))
            }
        }
    }
}

fn publish_blocking(p: &VersionPaths, archive: &Archive) -> Result<(), StorageError> {
    // Cheap early answer; the rename below is what decides.
    match fs::symlink_metadata(&p.version_dir) {
        Ok(_) => return Err(conflict(&p.version_dir)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
        Err(e) => return Err(classify(e, Context::op("checking", &p.version_dir))),
    }

    let tmp = create_temp_dir(&p.module_dir)?;
    let info = archive.info();
    let archive_path = tmp
        .path()
        .join(format!("{}{}", p.archive_stem, info.format.suffix()));
    match archive.content() {
        ArchiveContent::Memory(bytes) => write_new_synced(&archive_path, bytes)?,
        ArchiveContent::File(_) => {
            let mut reader = archive
                .reader()
                .map_err(|e| StorageError::other(BACKEND, e))?;
            copy_new_synced(&archive_path, &mut reader)?;
        }
    }
    let json = ArchiveJson {
        format: format_name(info.format).to_owned(),
        sha256: info.sha256.to_hex(),
        size: info.size,
        published_at: Some(unix_secs(SystemTime::now())),
    };
    let mut json = serde_json::to_vec(&json).map_err(|e| StorageError::other(BACKEND, e))?;
    json.push(b'\n');
    write_new_synced(&tmp.path().join(ARCHIVE_JSON), &json)?;
    sync_dir(tmp.path()).map_err(|e| classify(e, Context::op("flushing", tmp.path())))?;

    match rename_noreplace(tmp.path(), &p.version_dir) {
        Ok(()) => tmp.disarm(),
        // `tmp` is removed when dropped.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(conflict(&p.version_dir)),
        Err(e) => {
            return Err(classify(
                e,
                Context::op("moving into place", &p.version_dir),
            ))
        }
    }

    // The version is visible now; make it (and directories created for it) durable.
    let mut dir = Some(p.module_dir.as_path());
    while let Some(d) = dir {
        sync_dir_or_warn(d);
        dir = d.parent().filter(|_| d != p.modules);
    }
    Ok(())
}

fn list_blocking(module_dir: &Path) -> Result<Vec<Version>, StorageError> {
    let cx = Context::lookup("listing", module_dir);
    let entries = match fs::read_dir(module_dir) {
        Ok(entries) => entries,
        Err(e) => {
            return match classify(e, cx) {
                StorageError::NotFound => Ok(Vec::new()),
                e => Err(e),
            }
        }
    };
    let mut versions = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| classify(e, Context::op("listing", module_dir)))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Ok(version) = Version::parse(name) else {
            continue;
        };
        if version.to_string() != name {
            continue;
        }
        let path = entry.path();
        // Following links: a version directory may be a symlink placed by hand.
        if !fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if is_version(&path).map_err(|e| classify(e, Context::op("inspecting", &path)))? {
            versions.push(version);
        }
    }
    Ok(versions)
}

fn read_blocking(p: &VersionPaths) -> Result<Archive, StorageError> {
    let found = resolve(p)?;
    let path = &found.file.path;
    let bytes = fs::read(path).map_err(|e| classify(e, Context::lookup("reading", path)))?;
    let archive = Archive::new(found.file.format, Bytes::from(bytes));
    if let Some(recorded) = found.recorded {
        if recorded != *archive.info() {
            return Err(corrupt(
                path,
                format!("its size or SHA-256 differs from {ARCHIVE_JSON}"),
            ));
        }
    }
    Ok(archive)
}

fn locate_blocking(p: &VersionPaths) -> Result<ArchiveLocation, StorageError> {
    let found = resolve(p)?;
    let info = match found.recorded {
        Some(info) if info.size == found.file.size => info,
        Some(info) => {
            return Err(corrupt(
                &found.file.path,
                format!(
                    "it has {} bytes but {ARCHIVE_JSON} says {}",
                    found.file.size, info.size
                ),
            ))
        }
        // Placed by hand: computed on every call, never written back.
        None => hash_file(&found.file)?,
    };
    Ok(ArchiveLocation {
        info,
        access: ArchiveAccess::ThroughRegistry,
    })
}

fn delete_blocking(p: &VersionPaths) -> Result<(), StorageError> {
    // Renaming makes the version disappear at once; removing the files can then
    // take its time (and a crash meanwhile leaves only an ignored `.trash-*`).
    let trash = p.module_dir.join(random_name(TRASH_PREFIX));
    fs::rename(&p.version_dir, &trash)
        .map_err(|e| classify(e, Context::lookup("moving to trash", &p.version_dir)))?;
    sync_dir_or_warn(&p.module_dir);
    if let Err(e) = remove_any(&trash) {
        tracing::warn!(path = %trash.display(), error = %e, "could not remove a deleted version; it is ignored and removed on a later start");
    }
    // Remove the module, name and namespace directories if now empty. A publish
    // creating them concurrently retries (see `create_temp_dir`).
    let mut dir = Some(p.module_dir.as_path());
    while let Some(d) = dir.filter(|d| *d != p.modules) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Removes `.tmp-*` and `.trash-*` entries older than an hour from every module
/// directory (and `modules/` itself). Best effort.
fn write_metadata_blocking(p: &VersionPaths, document: &[u8]) -> Result<(), StorageError> {
    let dir = &p.version_dir;
    if !is_version(dir).map_err(|e| classify(e, Context::op("inspecting", dir)))? {
        return Err(StorageError::NotFound);
    }
    // A temporary file renamed over the old document: readers see one whole
    // document or the other. Hidden names are ignored by listings, and a
    // crash's leftover goes with the version directory.
    let tmp = TempGuard::new(dir.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), document)?;
    let path = dir.join(METADATA_JSON);
    fs::rename(tmp.path(), &path)
        .map_err(|e| classify(e, Context::lookup("moving into place", &path)))?;
    tmp.disarm();
    sync_dir_or_warn(dir);
    Ok(())
}

fn read_metadata_blocking(p: &VersionPaths) -> Result<Bytes, StorageError> {
    let path = p.version_dir.join(METADATA_JSON);
    match fs::read(&path) {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(e) => Err(classify(e, Context::lookup("reading", &path))),
    }
}

fn list_modules_blocking(modules: &Path) -> Result<Vec<ModuleAddress>, StorageError> {
    // The root must be readable: an empty answer would empty the catalogue.
    fs::read_dir(modules).map_err(|e| classify(e, Context::op("listing", modules)))?;
    let mut found = Vec::new();
    for namespace in subdirs(modules) {
        for name in subdirs(&namespace) {
            for system in subdirs(&name) {
                let part = |d: &Path| d.file_name().and_then(|n| n.to_str()).map(str::to_owned);
                let (Some(ns), Some(n), Some(sys)) = (part(&namespace), part(&name), part(&system))
                else {
                    continue;
                };
                // Hidden entries (temporary and trash directories) and
                // anything that is not a valid address are not modules.
                let Ok(module) = ModuleAddress::new(ns, n, sys) else {
                    continue;
                };
                if !list_blocking(&system)?.is_empty() {
                    found.push(module);
                }
            }
        }
    }
    Ok(found)
}

fn remove_stale_in_modules(modules: &Path) {
    const PREFIXES: &[&str] = &[TEMP_PREFIX, TRASH_PREFIX];
    remove_stale(modules, PREFIXES);
    for namespace in subdirs(modules) {
        for name in subdirs(&namespace) {
            for system in subdirs(&name) {
                remove_stale(&system, PREFIXES);
            }
        }
    }
}

#[async_trait]
impl Storage for FsStorage {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        let p = self.paths(module, version);
        let archive = archive.clone();
        blocking(move || publish_blocking(&p, &archive)).await
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        let module_dir = self.module_dir(module);
        blocking(move || list_blocking(&module_dir)).await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        let p = self.paths(module, version);
        blocking(move || read_blocking(&p)).await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        let p = self.paths(module, version);
        blocking(move || locate_blocking(&p)).await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let p = self.paths(module, version);
        blocking(move || delete_blocking(&p)).await
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        let p = self.paths(module, version);
        blocking(move || write_metadata_blocking(&p, &document)).await
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        let p = self.paths(module, version);
        blocking(move || read_metadata_blocking(&p)).await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        let modules = self.modules.clone();
        blocking(move || list_modules_blocking(&modules)).await
    }

    /// Opens the modules directory (as listing does first).
    async fn probe(&self) -> Result<(), StorageError> {
        let modules = self.modules.clone();
        blocking(move || {
            fs::read_dir(&modules)
                .map(drop)
                .map_err(|e| classify(e, Context::op("listing", &modules)))
        })
        .await
    }
}
