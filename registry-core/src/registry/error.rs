//! [`RegistryError`]: what a use case fails with.

use crate::archive::ArchiveError;
use crate::storage::StorageError;
use crate::upstream::UpstreamError;

/// Why a use case of [`Registry`](crate::Registry) failed.
///
/// Each message says what was wrong and, where the caller can act, what to do;
/// it names modules and versions but never a secret. The HTTP layer maps each
/// variant to one status (in `api::error`); other callers (a CLI, a job) can
/// show the message as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The request itself is invalid (an empty upload, a bad token name or
    /// tier). HTTP `400`.
    #[error("{0}")]
    Invalid(String),
    /// The uploaded archive was refused by validation. HTTP `400`.
    #[error(transparent)]
    InvalidArchive(#[from] ArchiveError),
    /// The upload is larger than the registry's limit, in bytes. HTTP `413`.
    #[error("the upload is larger than this registry's limit of {limit} bytes; shrink the archive or ask the operator to raise the limit")]
    TooLarge {
        /// [`RegistryConfig::max_body_bytes`](crate::RegistryConfig::max_body_bytes).
        limit: usize,
    },
    /// What was asked for does not exist here (nor upstream). HTTP `404`.
    #[error("{0}")]
    NotFound(String),
    /// The proxy's allow and deny lists forbid this module. HTTP `403`.
    #[error("{0}")]
    Forbidden(String),
    /// It exists already: a published version, a pinned version, a token
    /// name. Nothing was changed. HTTP `409`.
    #[error("{0}")]
    AlreadyExists(String),
    /// What the upstream serves for a version to pin cannot be stored (it is
    /// not a valid module, or its source is not supported). HTTP `422`.
    #[error("{0}")]
    Unprocessable(String),
    /// The upstream served something unusable while a client waited for it
    /// (an archive through this registry). HTTP `502`.
    #[error("{0}")]
    BadUpstreamArchive(String),
    /// A presented credential (an exchanged OIDC token, a signed AWS
    /// request) does not prove an identity here. HTTP `401`.
    #[error("{0}")]
    Unauthenticated(String),
    /// A service the request needs (an OIDC issuer, AWS STS) could not be
    /// reached or answered something unusable. HTTP `503`.
    #[error("{0}")]
    Unavailable(String),
    /// The registry's storage, token store or pin store failed. HTTP `503`
    /// when it may be transient, else `500`.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The upstream failed. HTTP `404`, `422`, `502`, `503` or `504` by kind.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl RegistryError {
    /// Whether retrying later may succeed: a transient storage failure (see
    /// [`StorageError::Unavailable`]) or an upstream that is unavailable or
    /// timed out.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Storage(e) => crate::api::is_transient(e),
            Self::Unavailable(_) => true,
            Self::Upstream(e) => matches!(
                e,
                UpstreamError::Unavailable { .. } | UpstreamError::Timeout { .. }
            ),
            _ => false,
        }
    }
}
