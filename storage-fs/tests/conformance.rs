//! `FsStorage` and `FsTokenStore` pass the core's conformance suite, each test on
//! a fresh temporary directory that lives as long as the store.
use std::sync::Arc;

use async_trait::async_trait;
use registry_core::{
    Archive, ArchiveLocation, ModuleAddress, Storage, StorageError, TokenHash, TokenRecord,
    TokenStore, Version,
};
use storage_fs::{FsStorage, FsTokenStore};
use tempfile::TempDir;

/// A store together with the temporary directory it lives in: the directory is
/// removed when the store (the last `Arc`) is dropped.
#[derive(Debug)]
struct InTempDir<S> {
    store: S,
    _dir: TempDir,
}

fn fs_storage() -> Arc<dyn Storage> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStorage::open(dir.path()).expect("open");
    Arc::new(InTempDir { store, _dir: dir })
}

fn fs_token_store() -> Arc<dyn TokenStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsTokenStore::open(dir.path()).expect("open");
    Arc::new(InTempDir { store, _dir: dir })
}

#[async_trait]
impl Storage for InTempDir<FsStorage> {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        self.store.publish(module, version, archive).await
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        self.store.list_versions(module).await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        self.store.read_archive(module, version).await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        self.store.locate_archive(module, version).await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        self.store.delete_version(module, version).await
    }
}

#[async_trait]
impl TokenStore for InTempDir<FsTokenStore> {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        self.store.create(record).await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        self.store.find_by_hash(hash).await
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.store.list().await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        self.store.delete(name).await
    }
}

mod storage {
    use super::*;
    registry_core::storage_conformance_tests!(|| async { fs_storage() });
}

mod tokens {
    use super::*;
    registry_core::token_store_conformance_tests!(|| async { fs_token_store() });
}
