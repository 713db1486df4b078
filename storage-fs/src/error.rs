//! Maps I/O errors into the core's [`StorageError`], in one place.

use std::fmt;
use std::io::{self, ErrorKind};
use std::path::Path;

use registry_core::StorageError;

/// The `backend` named in every [`StorageError`] this crate returns.
pub(crate) const BACKEND: &str = "fs";

/// What an I/O call was doing when it failed, for [`classify`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// What was being done, e.g. `"reading"`; the message reads "{action} {path}: {error}".
    action: &'static str,
    /// The path the call was about.
    path: &'a Path,
    /// Whether a missing path means "the version or token does not exist"
    /// ([`StorageError::NotFound`]) rather than a backend failure.
    missing_means_not_found: bool,
}

impl<'a> Context<'a> {
    /// A call whose path must exist: a missing path is a backend failure.
    pub(crate) fn op(action: &'static str, path: &'a Path) -> Self {
        Self {
            action,
            path,
            missing_means_not_found: false,
        }
    }

    /// A lookup: a missing path means the thing looked up does not exist.
    pub(crate) fn lookup(action: &'static str, path: &'a Path) -> Self {
        Self {
            action,
            path,
            missing_means_not_found: true,
        }
    }
}

impl fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action, self.path.display())
    }
}

/// Classifies an I/O error. The only place this crate turns an `io::Error` into
/// a [`StorageError`]:
///
/// - not found (or "not a directory" on the way) -> [`StorageError::NotFound`] for
///   lookups ([`Context::lookup`]), a backend failure otherwise;
/// - already exists -> [`StorageError::AlreadyExists`];
/// - permission denied, read-only file system -> [`StorageError::Misconfigured`]
///   naming the path;
/// - disk full, quota exceeded -> [`StorageError::Unavailable`] (freeing space fixes it);
/// - anything else -> [`StorageError::Other`] naming the path.
pub(crate) fn classify(err: io::Error, cx: Context<'_>) -> StorageError {
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory if cx.missing_means_not_found => {
            StorageError::NotFound
        }
        ErrorKind::AlreadyExists => StorageError::AlreadyExists,
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            StorageError::Misconfigured {
                backend: BACKEND,
                message: format!(
                    "{cx}: {err}; the registry needs read and write access to its data directory"
                ),
            }
        }
        // A full disk, or a network file system that timed out: retry later.
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::TimedOut => {
            StorageError::Unavailable {
                backend: BACKEND,
                message: format!("{cx}: {err}"),
            }
        }
        _ => StorageError::other(BACKEND, format!("{cx}: {err}")),
    }
}

/// An unusable data directory at `open`, whatever the OS said.
pub(crate) fn unusable_root(path: &Path, err: &io::Error) -> StorageError {
    StorageError::Misconfigured {
        backend: BACKEND,
        message: format!(
            "cannot use {} as the registry's data directory: {err}",
            path.display()
        ),
    }
}

/// A metadata file (or directory) that exists but cannot be understood.
pub(crate) fn corrupt(path: &Path, problem: impl fmt::Display) -> StorageError {
    StorageError::other(BACKEND, format!("{} is corrupt: {problem}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_kind() {
        let p = Path::new("/data/modules/x");
        let nf = || io::Error::from(ErrorKind::NotFound);
        assert!(matches!(
            classify(nf(), Context::lookup("reading", p)),
            StorageError::NotFound
        ));
        assert!(matches!(
            classify(nf(), Context::op("reading", p)),
            StorageError::Other { .. }
        ));
        assert!(matches!(
            classify(ErrorKind::AlreadyExists.into(), Context::op("linking", p)),
            StorageError::AlreadyExists
        ));
        match classify(
            ErrorKind::PermissionDenied.into(),
            Context::op("writing", p),
        ) {
            StorageError::Misconfigured { backend, message } => {
                assert_eq!(backend, "fs");
                assert!(message.contains("writing /data/modules/x"), "{message}");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            classify(
                ErrorKind::ReadOnlyFilesystem.into(),
                Context::op("writing", p)
            ),
            StorageError::Misconfigured { .. }
        ));
        assert!(matches!(
            classify(ErrorKind::StorageFull.into(), Context::op("writing", p)),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            classify(ErrorKind::QuotaExceeded.into(), Context::op("writing", p)),
            StorageError::Unavailable { .. }
        ));
        assert!(matches!(
            classify(ErrorKind::TimedOut.into(), Context::op("reading", p)),
            StorageError::Unavailable { .. }
        ));
        let other = classify(ErrorKind::InvalidData.into(), Context::op("reading", p));
        assert!(other.to_string().contains("/data/modules/x"), "{other}");
    }
}
