//! The `Storage` port: where published module archives live.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{ModuleAddress, Version};

/// A boxed error from a backend, kept as the `source` of [`StorageError::Other`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The two archive formats Terraform (go-getter) unpacks from a registry answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// A gzip-compressed tar archive, `.tar.gz`.
    TarGz,
    /// A zip archive, `.zip`.
    Zip,
}

impl ArchiveFormat {
    /// The file suffix Terraform picks the unpacker from, with its dot: `.tar.gz` or `.zip`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::TarGz => ".tar.gz",
            Self::Zip => ".zip",
        }
    }

    /// The media type to serve the archive with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::TarGz => "application/gzip",
            Self::Zip => "application/zip",
        }
    }

    /// Splits a known suffix off a file name: `"1.2.0.tar.gz"` -> `("1.2.0", TarGz)`.
    pub fn split_suffix(file_name: &str) -> Option<(&str, Self)> {
        [Self::TarGz, Self::Zip]
            .into_iter()
            .find_map(|f| file_name.strip_suffix(f.suffix()).map(|stem| (stem, f)))
    }
}

/// A SHA-256 digest, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(Self(out))
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

/// What is known about a stored archive without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// `.tar.gz` or `.zip`.
    pub format: ArchiveFormat,
    /// SHA-256 of the stored bytes; downloads carry it as `checksum=sha256:<hex>`.
    pub sha256: Sha256Digest,
    /// Size of the stored bytes.
    pub size: u64,
}

/// An archive's bytes with their [`ArchiveInfo`].
///
/// Archives handed to [`Storage::publish`] by the registry have passed
/// [`crate::archive::validate_archive`]: flat (module at the root) and safe to unpack.
#[derive(Clone, PartialEq, Eq)]
pub struct Archive {
    info: ArchiveInfo,
    bytes: Bytes,
}

impl Archive {
    /// Wraps bytes, computing their digest and size.
    pub fn new(format: ArchiveFormat, bytes: Bytes) -> Self {
        let info = ArchiveInfo {
            format,
            sha256: Sha256Digest::of(&bytes),
            size: bytes.len() as u64,
        };
        Self { info, bytes }
    }

    /// Format, digest and size.
    pub fn info(&self) -> &ArchiveInfo {
        &self.info
    }

    /// The archive's bytes (cheap to clone).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// How a client downloads an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveAccess {
    /// An absolute URL the backend made that needs no other credentials (e.g. an S3
    /// presigned URL). Its path must end in the archive's suffix.
    Presigned {
        /// The URL; the registry appends `checksum=sha256:<hex>` to it.
        url: String,
    },
    /// The backend cannot presign: the registry serves the bytes itself, behind a
    /// signed, expiring archive URL.
    ThroughRegistry,
}

/// Where and what a stored archive is, as [`Storage::locate_archive`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLocation {
    /// Format, digest and size of the stored archive.
    pub info: ArchiveInfo,
    /// How a client gets the bytes.
    pub access: ArchiveAccess,
}

/// What went wrong in a [`Storage`] or [`crate::TokenStore`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The module version (or token) does not exist.
    #[error("not found")]
    NotFound,
    /// The version (or token name) already exists; nothing was changed.
    #[error("already exists")]
    AlreadyExists,
    /// The backend is temporarily unable to answer (timeouts, throttling); retrying may work.
    #[error("{backend} is temporarily unavailable: {message}")]
    Unavailable {
        /// Which backend, e.g. `"fs"` or `"s3"`.
        backend: &'static str,
        /// What happened, for the log.
        message: String,
    },
    /// The backend is set up wrongly (missing credentials, no such bucket, permissions).
    #[error("{backend} is misconfigured: {message}")]
    Misconfigured {
        /// Which backend.
        backend: &'static str,
        /// What to fix, for the operator's log.
        message: String,
    },
    /// Anything else.
    #[error("{backend} failed: {source}")]
    Other {
        /// Which backend.
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
}

impl StorageError {
    /// Wraps a backend error as [`StorageError::Other`].
    pub fn other(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Other {
            backend,
            source: source.into(),
        }
    }
}

/// Stores published module archives, one per `(module, version)`.
///
/// # Contract
/// - Versions are immutable: once [`publish`](Storage::publish) succeeded, the
///   bytes of that version never change until it is deleted.
/// - Every method is safe to call concurrently, from several processes sharing
///   one backend.
/// - A crash at any point leaves a version either fully present or absent.
///
/// The conformance suite (`registry_core::conformance`, feature `conformance`)
/// checks all of this; every implementation runs it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// Stores `archive` as `module` at `version`, only if that version is absent.
    ///
    /// # Contract
    /// Atomic: of N racing publishes of one version exactly one succeeds, and the
    /// stored bytes are the winner's. Readers never see a partial archive.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] if the version exists (its bytes untouched).
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError>;

    /// Lists the published versions of `module`, in any order, without duplicates.
    /// A module with no versions gives an empty list, not an error.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError>;

    /// Reads the stored archive of a version: exactly the bytes that were published.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the version does not exist.
    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError>;

    /// Says what the stored archive is and how a client downloads it, without
    /// reading its bytes if the backend can avoid it.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the version does not exist.
    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError>;

    /// Deletes a version; afterwards it can be published again.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the version does not exist.
    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError>;
}
