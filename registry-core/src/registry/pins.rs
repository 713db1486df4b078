//! Pinning: fetching a version from the upstream into local storage, with its
//! origin recorded.

use crate::pins::PinRecord;
use crate::storage::StorageError;
use crate::{ModuleAddress, Version};

use super::{Registry, RegistryError};

/// What [`Registry::pin`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pinned {
    /// Where the version came from, as recorded in the pin store.
    pub record: PinRecord,
    /// Size of the stored archive, in bytes.
    pub size: u64,
}

impl Registry {
    /// Fetches `version` of `module` from the upstream (the proxy's lists
    /// apply; proxying need not be on), cuts the module out of the archive,
    /// publishes it locally and records its origin in the pin store. From then
    /// on the module is local.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if pinning is off (the
    /// [`UpstreamMode`](crate::UpstreamMode) has no pin store) or the upstream has no such version; [`RegistryError::Forbidden`]
    /// if the lists forbid the module; [`RegistryError::AlreadyExists`] if the
    /// version is already local; [`RegistryError::Unprocessable`] if what the
    /// upstream serves is not a valid module; storage and upstream failures.
    /// If recording the origin fails, the version stays published and the
    /// storage error is returned (pinning again says `AlreadyExists`).
    pub async fn pin(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Pinned, RegistryError> {
        let Some((upstream, pins)) = self.upstream.pinning() else {
            return Err(RegistryError::NotFound(
                "pinning is off: this registry was started without an upstream registry to pin from".into(),
            ));
        };
        Self::check_not_reserved(module)?;
        self.config.proxy.check(module).map_err(|refusal| {
            RegistryError::Forbidden(format!("module {module} cannot be pinned: {refusal}"))
        })?;
        match self.storage.locate_archive(module, version).await {
            Ok(_) => return Err(already_local(module, version)),
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let (fetched, extracted) = self.fetch_module(upstream, module, version).await?;
        let archive = extracted.map_err(|e| {
            RegistryError::Unprocessable(format!(
                "the archive {} serves for module {module} version {version} (from {}) cannot be stored: {e}",
                fetched.upstream, fetched.source
            ))
        })?;
        let metadata = self.extract_metadata(&archive).await?;
        match self
            .store_version(module, version, &archive, metadata)
            .await
        {
            Ok(_) => {}
            Err(RegistryError::Storage(StorageError::AlreadyExists)) => {
                return Err(already_local(module, version))
            }
            Err(e) => return Err(e),
        }
        let record = PinRecord::new(
            module.clone(),
            version.clone(),
            fetched.upstream,
            fetched.source,
            fetched.git_ref,
            archive.info().sha256,
            self.now(),
        );
        pins.put(&record).await?;
        tracing::info!(%module, %version, upstream = %record.upstream, source = %record.source, sha256 = %record.sha256, "pinned");
        Ok(Pinned {
            record,
            size: archive.info().size,
        })
    }

    /// Every pin record, ordered by module and version; empty when pinning is off.
    ///
    /// # Errors
    /// Pin store failures.
    pub async fn pins(&self) -> Result<Vec<PinRecord>, RegistryError> {
        let mut records = match self.upstream.pin_store() {
            Some(pins) => pins.list().await?,
            None => Vec::new(),
        };
        records.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
        Ok(records)
    }
}

fn already_local(module: &ModuleAddress, version: &Version) -> RegistryError {
    RegistryError::AlreadyExists(format!(
        "module {module} version {version} already exists in this registry; delete it first to pin it again"
    ))
}
