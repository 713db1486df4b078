//! Small file-system building blocks shared by the storage, the token store and the pin store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry_core::StorageError;

use crate::error::{classify, unusable_root, Context, BACKEND};

/// Prefix of the directories (and files) a write is assembled in before it is
/// moved into place. Never listed; removed by `open` once older than [`STALE_AFTER`].
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Prefix a deleted version directory is renamed to before it is removed.
pub(crate) const TRASH_PREFIX: &str = ".trash-";

/// Temporary and trash entries older than this are left-overs of a crash.
/// Younger ones may belong to a write in progress in another process.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// Runs blocking file I/O off the async runtime's worker threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StorageError::other(
            BACKEND,
            format!("file system task did not finish: {e}"),
        )),
    }
}

/// `prefix` followed by 16 random hex digits.
pub(crate) fn random_name(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// Creates `dir` (and its parents) and checks that files can be created in it,
/// so an unusable data directory fails at start-up rather than at the first write.
/// With `private`, directories it creates are accessible by the owner only (Unix).
///
/// # Errors
/// [`StorageError::Misconfigured`] naming the path and the OS error.
pub(crate) fn prepare_dir(dir: &Path, private: bool) -> Result<(), StorageError> {
    create_dir_all(dir, private).map_err(|e| unusable_root(dir, &e))?;
    let probe = dir.join(random_name(&format!("{TEMP_PREFIX}probe-")));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| unusable_root(dir, &e))?;
    fs::remove_file(&probe).map_err(|e| unusable_root(dir, &e))?;
    Ok(())
}

/// `create_dir_all`; with `private`, new directories get mode 0700 on Unix.
fn create_dir_all(dir: &Path, private: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    }
    #[cfg(not(unix))]
    let _ = private;
    builder.create(dir)
}

/// Creates `path` (which must not exist), writes `bytes` and flushes them to disk.
pub(crate) fn write_new_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let cx = Context::op("writing", path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| classify(e, cx))?;
    file.write_all(bytes).map_err(|e| classify(e, cx))?;
    file.sync_all().map_err(|e| classify(e, cx))
}

/// Creates `path` (which must not exist) with everything `reader` yields,
/// copied in bounded memory, and flushes it to disk.
pub(crate) fn copy_new_synced(path: &Path, reader: &mut dyn io::Read) -> Result<(), StorageError> {
    let cx = Context::op("writing", path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| classify(e, cx))?;
    io::copy(reader, &mut file).map_err(|e| classify(e, cx))?;
    file.sync_all().map_err(|e| classify(e, cx))
}

/// Flushes a directory's entries (creations, renames, removals) to disk.
/// A no-op where directories cannot be opened as files (Windows).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// [`sync_dir`], logging instead of failing: used after the change is already
/// visible, where failing the call would misreport what happened.
pub(crate) fn sync_dir_or_warn(dir: &Path) {
    if let Err(e) = sync_dir(dir) {
        tracing::warn!(path = %dir.display(), error = %e, "could not flush directory to disk");
    }
}

/// Renames `from` to `to` only if `to` does not exist.
///
/// Uses `renameat2(RENAME_NOREPLACE)` (Linux) / `renameatx_np(RENAME_EXCL)`
/// (macOS). Where the file system does not support the flag, falls back to a
/// plain `rename`, which for a directory still refuses a non-empty target.
///
/// # Errors
/// An error of kind [`ErrorKind::AlreadyExists`] if `to` exists (for the
/// fallback: exists and is a non-empty directory); others as the OS reports them.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            // The file system (or an old kernel, or a seccomp filter) does not
            // support the flag: fall back to a plain rename below.
            Err(e) if e == Errno::INVAL || io::Error::from(e).kind() == ErrorKind::Unsupported => {
                tracing::debug!(error = %e, "renameat2(RENAME_NOREPLACE) unsupported; using rename");
            }
            Err(e) => return Err(exists_as_already_exists(e.into())),
        }
    }
    rename_plain(from, to)
}

/// The fallback of [`rename_noreplace`]: `rename`, which refuses to replace a
/// non-empty directory (but would replace a file or an empty directory).
fn rename_plain(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to).map_err(exists_as_already_exists)
}

/// Folds "directory not empty" (the target of a directory rename exists) into
/// [`ErrorKind::AlreadyExists`].
fn exists_as_already_exists(e: io::Error) -> io::Error {
    if e.kind() == ErrorKind::DirectoryNotEmpty {
        io::Error::new(ErrorKind::AlreadyExists, e)
    } else {
        e
    }
}

/// Removes a file or a whole directory tree.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// The non-hidden subdirectories of `dir` (none if it cannot be read).
pub(crate) fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes entries of `dir` whose names start with one of `prefixes` and that
/// were last modified more than [`STALE_AFTER`] ago. Best effort: failures are logged.
pub(crate) fn remove_stale(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let stale = fs::symlink_metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if stale {
            match remove_any(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a left-over of an interrupted write")
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove a left-over of an interrupted write")
                }
            }
        }
    }
}

/// Removes a temporary path when dropped, unless [`TempGuard::disarm`]ed.
#[derive(Debug)]
pub(crate) struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    /// Guards `path`, which the caller just created.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, armed: true }
    }

    /// The guarded path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path was moved into place: nothing to remove.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove_any(&self.path) {
                if e.kind() != ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove a temporary file");
                }
            }
        }
    }
}

/// Whole seconds since the Unix epoch (0 for earlier times).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two non-empty directories `a` and `b` in a fresh temporary directory.
    fn two_dirs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b"] {
            fs::create_dir(dir.path().join(name)).unwrap();
            fs::write(dir.path().join(name).join("f"), name).unwrap();
        }
        dir
    }

    #[test]
    fn rename_noreplace_refuses_an_existing_target() {
        for rename in [rename_noreplace, rename_plain] {
            let dir = two_dirs();
            let (a, b, c) = (
                dir.path().join("a"),
                dir.path().join("b"),
                dir.path().join("c"),
            );
            let e = rename(&a, &b).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
            assert_eq!(fs::read(b.join("f")).unwrap(), b"b");
            rename(&a, &c).unwrap();
            assert_eq!(fs::read(c.join("f")).unwrap(), b"a");
        }
    }
}
