//! The `Storage` port: where published module archives live.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

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

/// An archive's bytes with their [`ArchiveInfo`], held in memory or in a
/// temporary file.
///
/// Archives handed to [`Storage::publish`] by the registry have passed
/// [`crate::archive::validate_archive`]: flat (module at the root) and safe to unpack.
/// An upload larger than a few hundred KiB arrives file-backed
/// ([`Archive::from_temp_file`]), so a storage should copy it with
/// [`Archive::reader`] (bounded memory) rather than [`Archive::to_bytes`].
///
/// Clones share the bytes; a temporary file is removed when the last clone is
/// dropped. Two archives are equal when their [`ArchiveInfo`]s are (same
/// format, size and SHA-256).
#[derive(Clone)]
pub struct Archive {
    info: ArchiveInfo,
    content: Content,
}

/// Where an [`Archive`]'s bytes are, as [`Archive::content`] answers.
#[derive(Debug, Clone, Copy)]
pub enum ArchiveContent<'a> {
    /// In memory.
    Memory(&'a Bytes),
    /// In a temporary file that lives as long as the archive.
    File(&'a Path),
}

/// Where an [`Archive`]'s bytes are.
#[derive(Clone)]
enum Content {
    Memory(Bytes),
    /// Removed from disk when the last clone is dropped.
    File(std::sync::Arc<tempfile::TempPath>),
}

impl Archive {
    /// Wraps bytes, computing their digest and size.
    pub fn new(format: ArchiveFormat, bytes: Bytes) -> Self {
        let info = ArchiveInfo {
            format,
            sha256: Sha256Digest::of(&bytes),
            size: bytes.len() as u64,
        };
        Self {
            info,
            content: Content::Memory(bytes),
        }
    }

    /// An archive whose bytes are the temporary file at `path`, which it owns
    /// (and removes when the last clone is dropped). Reads the file once to
    /// compute its digest and size, in bounded memory. Blocking I/O.
    ///
    /// # Errors
    /// What reading the file fails with.
    pub fn from_temp_file(format: ArchiveFormat, path: tempfile::TempPath) -> io::Result<Self> {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut HashWriter(&mut hasher))?;
        let info = ArchiveInfo {
            format,
            sha256: Sha256Digest(hasher.finalize().into()),
            size,
        };
        Ok(Self {
            info,
            content: Content::File(std::sync::Arc::new(path)),
        })
    }

    /// Format, digest and size.
    pub fn info(&self) -> &ArchiveInfo {
        &self.info
    }

    /// Where the bytes are: in memory or in a temporary file.
    pub fn content(&self) -> ArchiveContent<'_> {
        match &self.content {
            Content::Memory(bytes) => ArchiveContent::Memory(bytes),
            Content::File(path) => ArchiveContent::File(path),
        }
    }

    /// The bytes, when they are held in memory (cheap to clone); `None` for a
    /// file-backed archive.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.content {
            Content::Memory(bytes) => Some(bytes),
            Content::File(_) => None,
        }
    }

    /// The temporary file holding the bytes, for a file-backed archive.
    pub fn file_path(&self) -> Option<&Path> {
        match &self.content {
            Content::Memory(_) => None,
            Content::File(path) => Some(path),
        }
    }

    /// A reader over the bytes, from the start. Blocking I/O for a
    /// file-backed archive.
    ///
    /// # Errors
    /// What opening the file fails with.
    pub fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match &self.content {
            Content::Memory(bytes) => Box::new(io::Cursor::new(bytes.clone())),
            Content::File(path) => Box::new(io::BufReader::new(std::fs::File::open(&***path)?)),
        })
    }

    /// All the bytes in memory: a cheap clone for an in-memory archive, the
    /// whole file read for a file-backed one (blocking I/O). Prefer
    /// [`Archive::reader`] for large archives.
    ///
    /// # Errors
    /// What reading the file fails with.
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match &self.content {
            Content::Memory(bytes) => Ok(bytes.clone()),
            Content::File(path) => std::fs::read(&***path).map(Bytes::from),
        }
    }
}

impl PartialEq for Archive {
    fn eq(&self, other: &Self) -> bool {
        self.info == other.info
    }
}

impl Eq for Archive {}

impl fmt::Debug for Archive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archive")
            .field("info", &self.info)
            .field("file", &self.file_path())
            .finish_non_exhaustive()
    }
}

/// Feeds what is written into a SHA-256 hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    /// A conditional write found the object changed since it was read (a
    /// [`crate::CatalogueStore::store`] whose expected tag no longer matches);
    /// nothing was changed. Read again and retry.
    #[error("changed since it was read")]
    Conflict,
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

    /// Stores the metadata document of an existing version (what the
    /// registry extracted from its archive: README, inputs, outputs...),
    /// replacing an earlier one. The storage keeps the bytes as they are.
    ///
    /// # Contract
    /// - The document is derived from the archive, so it may be written
    ///   after the version and written again: the last write wins.
    /// - [`delete_version`](Storage::delete_version) removes it with the
    ///   version; a version published again has no document until one is
    ///   written for it.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the version does not exist. (Racing a
    /// delete of the same version, a backend without transactions over
    /// several objects, such as S3, may keep the document; it never makes
    /// the version appear.)
    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError>;

    /// Reads the metadata document last written for a version.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if none was written since the version was
    /// published (or the version does not exist).
    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError>;

    /// Every module with at least one version, in any order, without
    /// duplicates. Lists the whole store: for rebuilding the catalogue, not
    /// for answering requests.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError>;

    /// Checks that the backend answers, as cheaply as it can and reading no
    /// archive: what a readiness probe asks (`GET /readyz`). One round trip
    /// at most (S3: a `ListObjectsV2` of one key under the prefix, which a
    /// prefix-scoped IAM policy allows; a directory: its metadata).
    ///
    /// # Errors
    /// The backend failure a request would meet now.
    async fn probe(&self) -> Result<(), StorageError>;
}
