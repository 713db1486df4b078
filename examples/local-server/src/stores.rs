//! Where modules and tokens are kept: `storage-fs` under the data directory
//! (`modules/` and `tokens/` belong to it).

use std::path::Path;
use std::sync::Arc;

use registry_core::{Storage, StorageError, TokenStore};
use storage_fs::{FsStorage, FsTokenStore};

/// The module storage and the token store.
pub(crate) type Stores = (Arc<dyn Storage>, Arc<dyn TokenStore>);

/// Opens the module storage and the token store under `data_dir`, creating
/// `modules/` and `tokens/` if needed.
///
/// The one place that chooses the stores: swap them here (e.g. for
/// `registry_core::memory`'s in-memory ones) without touching the rest.
pub(crate) fn open_stores(data_dir: &Path) -> Result<Stores, StorageError> {
    let storage = FsStorage::open(data_dir)?;
    let tokens = FsTokenStore::open(data_dir)?;
    Ok((Arc::new(storage), Arc::new(tokens)))
}
