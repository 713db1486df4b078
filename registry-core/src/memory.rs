//! In-memory `Storage`, `TokenStore` and `PinStore`: for tests, doc examples and trying things out.
//! Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use crate::pins::{PinRecord, PinStore};
use crate::storage::{Archive, ArchiveAccess, ArchiveLocation, Storage, StorageError};
use crate::tokens::{TokenHash, TokenRecord, TokenStore};
use crate::{ModuleAddress, Version};

/// A [`Storage`] in a map behind a mutex. Downloads go through the registry.
#[derive(Debug, Default)]
pub struct InMemoryStorage {
    modules: Mutex<HashMap<ModuleAddress, BTreeMap<Version, Stored>>>,
}

/// One version: its archive and its metadata document, if one was written.
#[derive(Debug, Clone)]
struct Stored {
    archive: Archive,
    metadata: Option<Bytes>,
}

impl InMemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Storage for InMemoryStorage {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        // Held in memory, so a file-backed upload's file can go.
        let bytes = archive
            .to_bytes()
            .map_err(|e| StorageError::other("memory", e))?;
        let mut modules = self.modules.lock().expect("not poisoned");
        let versions = modules.entry(module.clone()).or_default();
        if versions.contains_key(version) {
            return Err(StorageError::AlreadyExists);
        }
        versions.insert(
            version.clone(),
            Stored {
                archive: Archive::new(archive.info().format, bytes),
                metadata: None,
            },
        );
        Ok(())
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        let modules = self.modules.lock().expect("not poisoned");
        Ok(modules
            .get(module)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        let modules = self.modules.lock().expect("not poisoned");
        modules
            .get(module)
            .and_then(|v| v.get(version))
            .map(|stored| stored.archive.clone())
            .ok_or(StorageError::NotFound)
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        let archive = self.read_archive(module, version).await?;
        Ok(ArchiveLocation {
            info: archive.info().clone(),
            access: ArchiveAccess::ThroughRegistry,
        })
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let mut modules = self.modules.lock().expect("not poisoned");
        let versions = modules.get_mut(module).ok_or(StorageError::NotFound)?;
        versions.remove(version).ok_or(StorageError::NotFound)?;
        if versions.is_empty() {
            modules.remove(module);
        }
        Ok(())
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        let mut modules = self.modules.lock().expect("not poisoned");
        let stored = modules
            .get_mut(module)
            .and_then(|v| v.get_mut(version))
            .ok_or(StorageError::NotFound)?;
        stored.metadata = Some(document);
        Ok(())
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        let modules = self.modules.lock().expect("not poisoned");
        modules
            .get(module)
            .and_then(|v| v.get(version))
            .and_then(|stored| stored.metadata.clone())
            .ok_or(StorageError::NotFound)
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        let modules = self.modules.lock().expect("not poisoned");
        Ok(modules.keys().cloned().collect())
    }

    /// Memory is always there (tests fail it by wrapping it in the
    /// `testing` feature's fault-injecting decorators).
    async fn probe(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// A [`TokenStore`] in a map behind a mutex.
#[derive(Debug, Default)]
pub struct InMemoryTokenStore {
    by_name: Mutex<BTreeMap<String, TokenRecord>>,
}

impl InMemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TokenStore for InMemoryTokenStore {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        let mut by_name = self.by_name.lock().expect("not poisoned");
        if by_name.contains_key(&record.name) {
            return Err(StorageError::AlreadyExists);
        }
        by_name.insert(record.name.clone(), record.clone());
        Ok(())
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        let by_name = self.by_name.lock().expect("not poisoned");
        Ok(by_name.values().find(|r| r.hash.ct_eq(hash)).cloned())
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        Ok(self
            .by_name
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        let mut by_name = self.by_name.lock().expect("not poisoned");
        by_name
            .remove(name)
            .map(|_| ())
            .ok_or(StorageError::NotFound)
    }
}

/// A [`PinStore`] in a map behind a mutex.
#[derive(Debug, Default)]
pub struct InMemoryPinStore {
    pins: Mutex<BTreeMap<(ModuleAddress, Version), PinRecord>>,
}

impl InMemoryPinStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PinStore for InMemoryPinStore {
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError> {
        let mut pins = self.pins.lock().expect("not poisoned");
        pins.insert((pin.module.clone(), pin.version.clone()), pin.clone());
        Ok(())
    }

    async fn list(&self) -> Result<Vec<PinRecord>, StorageError> {
        Ok(self
            .pins
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect())
    }

    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError> {
        let mut pins = self.pins.lock().expect("not poisoned");
        pins.remove(&(module.clone(), version.clone()))
            .map(drop)
            .ok_or(StorageError::NotFound)
    }
}
