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

    /// The archive bytes of `version` of `module`, as the upstream serves them.
    ///
    /// # Errors
    /// [`UpstreamError::NotFound`] if the upstream has no such version;
    /// [`UpstreamError::Unsupported`] if its source cannot be fetched.
    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, UpstreamError>;
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

    async fn fetch_archive(&self, _: &ModuleAddress, _: &Version) -> Result<Bytes, UpstreamError> {
        Err(not_found())
    }
}

fn not_found() -> UpstreamError {
    UpstreamError::NotFound {
        upstream: "no upstream configured".to_owned(),
    }
}
