//! Where modules, tokens, pin records and the catalogue are kept, by
//! `--storage`: `storage-fs` under the data directory (`modules/`, `tokens/`,
//! `pins/` and `catalogue/` belong to it), or `storage-s3` in a bucket.

use std::path::Path;
use std::sync::Arc;

use registry_core::audit::AuditLog;
use registry_core::{CatalogueStore, PinStore, Storage, StorageError, TokenStore};
use storage_fs::{FsAuditLog, FsCatalogueStore, FsPinStore, FsStorage, FsTokenStore};
use storage_s3::{S3AuditLog, S3CatalogueStore, S3Config, S3PinStore, S3Storage, S3TokenStore};

/// The module storage, the token store and the pin store, on one backend.
#[derive(Debug)]
pub(crate) struct Stores {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    /// Where the origins of pinned versions are recorded (used with `--upstream`).
    pub(crate) pins: Arc<dyn PinStore>,
    /// The catalogue snapshot list and search answer from, shared by every
    /// server on the same data directory or bucket.
    pub(crate) catalogue: Arc<dyn CatalogueStore>,
}

/// Opens the module storage, the token store, the pin store and the
/// catalogue store that `--storage` names: under `data_dir` (creating
/// `modules/`, `tokens/`, `pins/` and `catalogue/` if needed), or, with `s3`
/// (`--storage s3`), all four in the bucket.
///
/// The one place that chooses the stores: swap them here (e.g. for
/// `registry_core::memory`'s in-memory ones) without touching the rest.
pub(crate) async fn open_stores(
    s3: Option<&S3Config>,
    data_dir: &Path,
) -> Result<Stores, StorageError> {
    match s3 {
        None => {
            let storage = FsStorage::open(data_dir)?;
            let tokens = FsTokenStore::open(data_dir)?;
            let pins = FsPinStore::open(data_dir)?;
            let catalogue = FsCatalogueStore::open(data_dir)?;
            tracing::info!(dir = %data_dir.display(), "modules and tokens on the filesystem");
            Ok(Stores {
                storage: Arc::new(storage),
                tokens: Arc::new(tokens),
                pins: Arc::new(pins),
                catalogue: Arc::new(catalogue),
            })
        }
        Some(config) => {
            tracing::info!(
                bucket = %config.bucket,
                prefix = %config.prefix,
                endpoint = config.endpoint_url.as_deref().unwrap_or("AWS"),
                "modules and tokens in S3"
            );
            let storage = S3Storage::connect(config.clone()).await?;
            let tokens = S3TokenStore::connect(config.clone()).await?;
            let pins = S3PinStore::connect(config.clone()).await?;
            let catalogue = S3CatalogueStore::connect(config.clone()).await?;
            Ok(Stores {
                storage: Arc::new(storage),
                tokens: Arc::new(tokens),
                pins: Arc::new(pins),
                catalogue: Arc::new(catalogue),
            })
        }
    }
}

/// The audit log, on the same backend as the stores: `audit/` under
/// `data_dir`, or `audit/` in the bucket.
pub(crate) async fn open_audit_log(
    s3: Option<&S3Config>,
    data_dir: &Path,
) -> Result<Arc<dyn AuditLog>, StorageError> {
    Ok(match s3 {
        None => Arc::new(FsAuditLog::open(data_dir)?),
        Some(config) => Arc::new(S3AuditLog::connect(config.clone()).await?),
    })
}
