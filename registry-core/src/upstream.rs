//! The `Upstream` port: another registry (or source) this one can proxy and pin from.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::storage::BoxError;
use crate::{ModuleAddress, Version};

/// What went wrong talking to an upstream. Each variant names the upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The upstream does not have this module or version.
    #[error("{upstream} has no such module or version")]
    NotFound {
        /// The upstream's name or host.
        upstream: String,
    },
    /// The upstream did not answer in time.
    #[error("{upstream} did not answer in time")]
    Timeout {
        /// The upstream's name or host.
        upstream: String,
    },
    /// The upstream refused for now (rate limit, maintenance); retry later.
    #[error("{upstream} is temporarily unavailable: {message}")]
    Unavailable {
        /// The upstream's name or host.
        upstream: String,
        /// What it said.
        message: String,
        /// When to retry, if the upstream said.
        retry_after: Option<Duration>,
    },
    /// The upstream answered something this registry cannot use (e.g. an
    /// unsupported source address).
    #[error("{upstream}: {message}")]
    Unsupported {
        /// The upstream's name or host.
        upstream: String,
        /// What was unusable.
        message: String,
    },
    /// Anything else.
    #[error("{upstream} failed: {source}")]
    Other {
        /// The upstream's name or host.
        upstream: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// An archive fetched from an upstream for pinning, and where it came from.
///
/// The module is cut out of `bytes` as follows: if `strip_top_dir`, the
/// archive's single top-level directory is removed (a GitHub tarball's
/// `repo-ref/`); then, if `subdir` is set, only that directory is kept, as the
/// new root (go-getter's `//subdir`). What remains is validated exactly like an
/// upload ([`crate::archive::extract_module`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedArchive {
    /// The archive's bytes (`.tar.gz` or `.zip`).
    pub bytes: Bytes,
    /// Whether everything sits in one top-level directory that is not part of
    /// the module's paths (true for git sources fetched as tarballs).
    pub strip_top_dir: bool,
    /// The module's directory inside the archive, `/`-separated, relative to the
    /// root left after `strip_top_dir`.
    pub subdir: Option<String>,
    /// The upstream's name or host, e.g. `registry.terraform.io`.
    pub upstream: String,
    /// The source address the upstream answered for this version
    /// (its `X-Terraform-Get`, resolved to an absolute address), as it may
    /// be shown: the registry logs it, puts it in error bodies and keeps it in
    /// pin records, so implementations remove credentials and mask signatures
    /// (e.g. a presigned URL's `X-Amz-Signature=***`).
    pub source: String,
    /// The git ref fetched, for git sources.
    pub git_ref: Option<String>,
}

impl FetchedArchive {
    /// An archive with nothing to strip, from `source` on `upstream`.
    pub fn new(bytes: Bytes, upstream: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            bytes,
            strip_top_dir: false,
            subdir: None,
            upstream: upstream.into(),
            source: source.into(),
            git_ref: None,
        }
    }

    /// Sets [`FetchedArchive::strip_top_dir`].
    pub fn with_strip_top_dir(mut self, yes: bool) -> Self {
        self.strip_top_dir = yes;
        self
    }

    /// Sets [`FetchedArchive::subdir`].
    pub fn with_subdir(mut self, subdir: impl Into<String>) -> Self {
        self.subdir = Some(subdir.into());
        self
    }

    /// Sets [`FetchedArchive::git_ref`].
    pub fn with_git_ref(mut self, git_ref: impl Into<String>) -> Self {
        self.git_ref = Some(git_ref.into());
        self
    }
}

impl fmt::Debug for FetchedArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedArchive")
            .field("bytes", &self.bytes.len())
            .field("strip_top_dir", &self.strip_top_dir)
            .field("subdir", &self.subdir)
            .field("upstream", &self.upstream)
            .field("source", &self.source)
            .field("git_ref", &self.git_ref)
            .finish()
    }
}

/// A source of modules this registry does not store itself.
///
/// # Contract
/// Implementations cache as they see fit but never return versions of a
/// different module; every method is safe to call concurrently.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Upstream: Send + Sync + fmt::Debug + 'static {
    /// The versions the upstream has of `module`, in any order.
    ///
    /// # Errors
    /// [`UpstreamError::NotFound`] if the upstream has no such module.
    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError>;

    /// Where a client downloads `version` of `module`: a go-getter source
    /// address, absolute (relative answers resolved by the implementation).
    ///
    /// # Errors
    /// [`UpstreamError::NotFound`] if the upstream has no such version.
    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError>;

    /// Fetches the archive of `version` of `module` for pinning, with what the
    /// registry needs to cut the module out of it and record where it came from.
    ///
    /// # Contract
    /// The bytes are the upstream's archive as fetched (a `.tar.gz` or `.zip`),
    /// at most the implementation's size limit; any checksum the upstream
    /// published for them has been verified.
    ///
    /// # Errors
    /// [`UpstreamError::NotFound`] if the upstream has no such version;
    /// [`UpstreamError::Unsupported`] if its source cannot be fetched (the
    /// message names the source).
    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError>;

    /// Whether the upstream answers now, for the readiness check
    /// ([`crate::health`]): one cheap request that costs no rate limit where
    /// the upstream has one, never served from a cache. The default (for
    /// upstreams with nothing to reach) answers `Ok` at once.
    ///
    /// # Errors
    /// The upstream's failure, for the log (readiness answers never show it).
    async fn probe(&self) -> Result<(), UpstreamError> {
        Ok(())
    }
}

/// The default upstream: has nothing, so every lookup is `NotFound`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUpstream;

#[async_trait]
impl Upstream for NoUpstream {
    async fn list_versions(&self, _: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        Err(not_found())
    }

    async fn download_location(
        &self,
        _: &ModuleAddress,
        _: &Version,
    ) -> Result<String, UpstreamError> {
        Err(not_found())
    }

    async fn fetch_archive(
        &self,
        _: &ModuleAddress,
        _: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        Err(not_found())
    }
}

fn not_found() -> UpstreamError {
    UpstreamError::NotFound {
        upstream: "no upstream configured".to_owned(),
    }
}
