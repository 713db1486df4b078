//! `FsStorage`, `FsTokenStore`, `FsPinStore`, `FsCatalogueStore` and
//! `FsAuditLog` pass the core's conformance suite, each test on a fresh
//! temporary directory that lives as long as the store.
use std::sync::Arc;

use registry_core::conformance::KeepAlive;
use registry_core::{CatalogueStore, PinStore, Storage, TokenStore};
use storage_fs::{FsCatalogueStore, FsPinStore, FsStorage, FsTokenStore};

/// A store on a fresh temporary directory, removed when the store is dropped.
fn fs_storage() -> Arc<dyn Storage> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStorage::open(dir.path()).expect("open");
    Arc::new(KeepAlive::new(store, dir))
}

fn fs_token_store() -> Arc<dyn TokenStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsTokenStore::open(dir.path()).expect("open");
    Arc::new(KeepAlive::new(store, dir))
}

fn fs_pin_store() -> Arc<dyn PinStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsPinStore::open(dir.path()).expect("open");
    Arc::new(KeepAlive::new(store, dir))
}

mod storage {
    use super::*;
    registry_core::storage_conformance_tests!(|| async { fs_storage() });
}

mod tokens {
    use super::*;
    registry_core::token_store_conformance_tests!(|| async { fs_token_store() });
}

mod pins {
    use super::*;
    registry_core::pin_store_conformance_tests!(|| async { fs_pin_store() });
}

fn fs_catalogue_store() -> Arc<dyn CatalogueStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsCatalogueStore::open(dir.path()).expect("open");
    Arc::new(KeepAlive::new(store, dir))
}

mod catalogue {
    use super::*;
    registry_core::catalogue_store_conformance_tests!(|| async { fs_catalogue_store() });
}

fn fs_audit_log() -> Arc<dyn registry_core::audit::AuditLog> {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = storage_fs::FsAuditLog::open(dir.path()).expect("open");
    Arc::new(KeepAlive::new(log, dir))
}

mod audit {
    use super::*;
    registry_core::audit_log_conformance_tests!(|| async { fs_audit_log() });
}
