//! Writing and deleting versions in storage together with their metadata
//! document and catalogue entry (the protocol is in `crate::catalogue`'s
//! `Catalogue`), and reading the metadata of one version.

use std::sync::Arc;

use catalogue_index::{PendingOp, VersionEntry};
use module_metadata::{extract, ModuleMetadata};

use crate::archive::module_files;
use crate::catalogue::{rfc3339, VersionDocument};
use crate::storage::{Archive, StorageError};
use crate::{ModuleAddress, Version};

use super::{off_runtime, Registry, RegistryError};

/// Words the registry refuses as a namespace, name or provider, because the
/// discovery routes use them (`/v1/modules/search`, `.../versions`,
/// `.../{provider}/download`).
pub const RESERVED_WORDS: [&str; 3] = ["search", "versions", "download"];

impl Registry {
    /// Refuses addresses that would make routes ambiguous (400).
    pub(crate) fn check_not_reserved(module: &ModuleAddress) -> Result<(), RegistryError> {
        for (what, part) in [
            ("namespace", module.namespace()),
            ("name", module.name()),
            ("provider", module.system()),
        ] {
            if RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(part)) {
                return Err(RegistryError::Invalid(format!(
                    "{part:?} cannot be a module {what}: \"search\", \"versions\" and \"download\" are reserved by the registry's routes; choose another {what}"
                )));
            }
        }
        Ok(())
    }

    /// Reads what [`extract`] wants out of `archive` and extracts it, off
    /// the runtime's workers, within [`RegistryConfig::metadata_limits`](crate::RegistryConfig::metadata_limits).
    /// An archive that cannot be read again gives empty metadata with a
    /// warning: extraction never fails a publish.
    pub(crate) async fn extract_metadata(
        &self,
        archive: &Archive,
    ) -> Result<ModuleMetadata, RegistryError> {
        let limits = self.config.metadata_limits.clone();
        let archive = archive.clone();
        off_runtime(move || match module_files(&archive, &limits) {
            Ok(files) => extract(files, &limits),
            Err(e) => ModuleMetadata {
                warnings: vec![format!(
                    "the archive's files could not be read for metadata ({e}); the module has no README, inputs or outputs here"
                )],
                ..ModuleMetadata::default()
            },
        })
        .await
    }

    /// Publishes `archive` in storage as `version` of `module`, with its
    /// metadata document and catalogue entry.
    ///
    /// 1. the change is recorded as pending in the catalogue (failing here
    ///    changes nothing);
    /// 2. the archive is published (`AlreadyExists` and other failures come
    ///    back as they are, after the catalogue is told what storage holds);
    /// 3. the metadata document is written (a failure is logged: it is
    ///    derived again on first read);
    /// 4. the version is added to the catalogue (a failure is logged: the
    ///    pending change is repaired after the grace period).
    pub(crate) async fn store_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
        metadata: ModuleMetadata,
    ) -> Result<VersionDocument, RegistryError> {
        let now = self.now();
        let id = self
            .catalogue
            .begin(&self.storage, now, module, version, PendingOp::Publish)
            .await?;
        if let Err(e) = self.storage.publish(module, version, archive).await {
            if let Err(c) = self
                .catalogue
                .finish_from_storage(&self.storage, now, &id, module, version)
                .await
            {
                tracing::warn!(%module, %version, error = %c, "catalogue not updated after a failed publish; it is repaired later");
            }
            return Err(e.into());
        }
        let document = VersionDocument::new(Some(rfc3339(now)), metadata);
        if let Err(e) = self
            .storage
            .write_metadata(module, version, document.encode())
            .await
        {
            tracing::warn!(%module, %version, error = %e, "metadata document not stored; it is derived again from the archive on first read");
        }
        let entry = VersionEntry::new(version.to_string(), rfc3339(now));
        if let Err(e) = self
            .catalogue
            .finish(
                &self.storage,
                now,
                &id,
                module,
                version,
                Some((entry, document.description.clone())),
            )
            .await
        {
            tracing::error!(%module, %version, error = %e, "version published but not yet in the catalogue; it is repaired after the grace period");
        }
        Ok(document)
    }

    /// Deletes `version` of `module` from storage and the catalogue.
    ///
    /// # Errors
    /// Storage errors as the storage gives them (`NotFound` included), after
    /// the catalogue is told what storage holds.
    pub(crate) async fn delete_stored_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let now = self.now();
        let id = self
            .catalogue
            .begin(&self.storage, now, module, version, PendingOp::Delete)
            .await?;
        let deleted = self.storage.delete_version(module, version).await;
        let settled = match &deleted {
            Ok(()) | Err(StorageError::NotFound) => {
                self.catalogue
                    .finish(&self.storage, now, &id, module, version, None)
                    .await
            }
            Err(_) => {
                self.catalogue
                    .finish_from_storage(&self.storage, now, &id, module, version)
                    .await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(%module, %version, error = %e, "catalogue not updated after a delete; it is repaired after the grace period");
        }
        deleted
    }

    /// The metadata document of a stored version: the stored one, or (for a
    /// version published before documents were kept, or whose document was
    /// lost) derived from its archive now and stored for next time.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the version does not exist; storage
    /// failures.
    pub(crate) async fn version_document(
        &self,
        module: &ModuleAddress,
        version: &Version,
        published_at: Option<String>,
    ) -> Result<Arc<VersionDocument>, RegistryError> {
        match self.storage.read_metadata(module, version).await {
            Ok(bytes) => {
                if let Some(document) = self.documents.decode(module, version, &bytes) {
                    return Ok(document);
                }
                tracing::warn!(%module, %version, "metadata document unreadable; deriving it again");
            }
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let archive = self.storage.read_archive(module, version).await?;
        let metadata = self.extract_metadata(&archive).await?;
        let document = VersionDocument::new(published_at.filter(|p| !p.is_empty()), metadata);
        match self
            .storage
            .write_metadata(module, version, document.encode())
            .await
        {
            Ok(()) => {
                tracing::info!(%module, %version, "metadata document derived from the archive")
            }
            Err(e) => {
                tracing::warn!(%module, %version, error = %e, "derived metadata document not stored")
            }
        }
        Ok(Arc::new(crate::catalogue::named(module, document)))
    }
}
