//! Details of modules served from the upstream through this registry: their
//! metadata documents are derived from the archive the registry fetched and
//! kept beside it in the archive cache.

use std::sync::Arc;

use crate::catalogue::{named, VersionDocument};
use crate::storage::{ArchiveFormat, Storage, StorageError};
use crate::version::sort_versions;
use crate::{ModuleAddress, Version};

use super::discovery::{choose_version, ModuleDetails};
use super::modules::not_found_as;
use super::{Registry, RegistryError};

impl Registry {
    /// The details of a module with no local version that this registry
    /// serves from its upstream through its own archive URLs with an archive
    /// cache (GitHub mode, `--upstream proxy --archives-through-registry`):
    /// versions from the upstream; the document from the cache, else derived
    /// from the version's archive (fetched from the upstream and cached like
    /// a download, once) and written to the cache. `Ok(None)` when the
    /// registry does not serve the module that way.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for a version the upstream does not have;
    /// upstream and storage failures.
    pub(super) async fn proxied_details(
        &self,
        module: &ModuleAddress,
        version: Option<&Version>,
    ) -> Result<Option<ModuleDetails>, RegistryError> {
        let Some((upstream, Some(cache))) = self.upstream.through_registry() else {
            return Ok(None);
        };
        if self.config.proxy.check(module).is_err() {
            return Ok(None);
        }
        let not_found = || format!("module {module} not found in this registry or its upstream");
        let mut versions = upstream
            .list_versions(module)
            .await
            .map_err(|e| not_found_as(e, not_found))?;
        if versions.is_empty() {
            return Err(RegistryError::NotFound(not_found()));
        }
        sort_versions(&mut versions);
        let chosen = choose_version(module, &versions, version)?;
        let document = match cache.read_metadata(module, &chosen).await {
            Ok(bytes) => match self.documents.decode(module, &chosen, &bytes) {
                Some(document) => document,
                None => self.derive_cached_document(cache, module, &chosen).await?,
            },
            Err(StorageError::NotFound) => {
                self.derive_cached_document(cache, module, &chosen).await?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some(ModuleDetails {
            module: module.clone(),
            version: chosen,
            versions,
            document,
        }))
    }

    /// The document of a proxied version that has none in the cache: from
    /// its archive (from the cache, else fetched from the upstream, which
    /// caches it with its document).
    async fn derive_cached_document(
        &self,
        cache: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Arc<VersionDocument>, RegistryError> {
        let archive = self
            .upstream_archive(module, version, ArchiveFormat::TarGz)
            .await?
            .ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "module {module} version {version} is not served through this registry"
                ))
            })?;
        if let Ok(bytes) = cache.read_metadata(module, version).await {
            if let Some(document) = self.documents.decode(module, version, &bytes) {
                return Ok(document);
            }
        }
        self.cache_document(cache, module, version, &archive).await
    }

    /// Extracts the document of `archive`, a proxied version just cached,
    /// and writes it beside it in the cache.
    pub(super) async fn cache_document(
        &self,
        cache: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
        archive: &crate::storage::Archive,
    ) -> Result<Arc<VersionDocument>, RegistryError> {
        let document = VersionDocument::new(None, self.extract_metadata(archive).await?);
        match cache
            .write_metadata(module, version, document.encode())
            .await
        {
            Ok(()) => {
                tracing::info!(%module, %version, "metadata document derived from the upstream's archive")
            }
            Err(e) => {
                tracing::warn!(%module, %version, error = %e, "derived metadata document not cached")
            }
        }
        Ok(Arc::new(named(module, document)))
    }
}
