//! The catalogue: every module's address, description and versions, for the
//! list and search API, kept in one snapshot document (see `CatalogueStore`).

mod store;

#[cfg(any(test, feature = "mock"))]
pub use store::MockCatalogueStore;
pub use store::{CatalogueStore, InMemoryCatalogueStore, SnapshotTag, StoredSnapshot};
