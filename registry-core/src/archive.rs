//! Validation of uploaded module archives (`.tar.gz` / `.zip`).
//!
//! IMPLEMENTATION PENDING (helper task): see `validate_archive`.

use bytes::Bytes;

use crate::storage::{Archive, ArchiveFormat};

/// Limits on what an archive may expand to, so a decompression bomb is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// Total uncompressed bytes of all entries. Default 100 MiB.
    pub max_unpacked_bytes: u64,
    /// Number of entries (files, directories, links). Default 10,000.
    pub max_entries: u64,
}

impl ArchiveLimits {
    /// Builds limits.
    pub fn new(max_unpacked_bytes: u64, max_entries: u64) -> Self {
        Self {
            max_unpacked_bytes,
            max_entries,
        }
    }
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self::new(100 * 1024 * 1024, 10_000)
    }
}

/// Why an archive was refused. Each message tells the publisher what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Neither gzip-compressed tar nor zip.
    #[error("the body is not a .tar.gz or .zip archive; upload the module as `tar -czf module.tar.gz -C dir .` or a zip file")]
    NotAnArchive,
    /// The archive could not be read.
    #[error("the archive is corrupt: {0}")]
    Corrupt(String),
}

/// Detects the format from the leading bytes (not from any Content-Type).
pub fn detect_format(bytes: &[u8]) -> Option<ArchiveFormat> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveFormat::TarGz)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(ArchiveFormat::Zip)
    } else {
        None
    }
}

/// Validates an uploaded archive and returns the archive to store.
pub fn validate_archive(bytes: Bytes, _limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    let format = detect_format(&bytes).ok_or(ArchiveError::NotAnArchive)?;
    Ok(Archive::new(format, bytes))
}
