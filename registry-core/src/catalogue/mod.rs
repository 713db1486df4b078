//! The catalogue: every module's address, description and versions, for the
//! list and search API, kept in one snapshot document (see `CatalogueStore`).

mod decoded;
mod document;
mod service;
mod store;

pub(crate) use decoded::{named, DecodedDocuments};
pub use document::{VersionDocument, METADATA_SCHEMA};
pub(crate) use service::{key_of, rfc3339};
pub use service::{Catalogue, DEFAULT_PENDING_GRACE};

#[cfg(any(test, feature = "mock"))]
pub use store::MockCatalogueStore;
pub use store::{
    CatalogueStore, InMemoryCatalogueStore, SnapshotRead, SnapshotTag, StoredSnapshot,
};
