//! Why a command failed: one message for the user, never a token.

use crate::credentials::{CredentialsFileError, ExportError, NotExportable};
use crate::http::HttpError;

/// Why a command failed. `main` prints it after `tfr: ` and exits with
/// status 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Something to set or give differently.
    #[error("{0}")]
    Usage(String),
    /// The request got no usable answer, or the registry refused it.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The token cannot be printed as an `export` line.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The credentials file was not updated.
    #[error(transparent)]
    CredentialsFile(#[from] CredentialsFileError),
    /// No AWS credentials, region, or signature.
    #[error("AWS: {0}")]
    Aws(String),
    /// No OIDC ID token.
    #[error("OIDC: {0}")]
    Oidc(String),
}

impl From<NotExportable> for Error {
    fn from(e: NotExportable) -> Self {
        Self::Export(e.into())
    }
}
