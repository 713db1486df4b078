//! Publishing and deleting versions.

use crate::api::{BodyContent, RequestBody};
use crate::archive::{validate_archive, validate_archive_file};
use crate::storage::{Archive, ArchiveInfo, StorageError};
use crate::{ModuleAddress, Version};

use super::{off_runtime, Registry, RegistryError};

/// What [`Registry::publish`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The module.
    pub module: ModuleAddress,
    /// The version.
    pub version: Version,
    /// Format, SHA-256 and size of the stored archive (flattened if the upload
    /// had a single top-level directory, so not always the upload's).
    pub info: ArchiveInfo,
    /// What metadata extraction could not read or had to cut (a file that
    /// does not parse, a README over the limit...); the version is published
    /// all the same.
    pub warnings: Vec<String>,
}

impl Registry {
    /// Validates `upload` (a `.tar.gz` or `.zip` module archive, in memory or
    /// spooled to a file; `Bytes` converts) and stores it as `version` of
    /// `module`. At most [`RegistryConfig::max_concurrent_uploads`](crate::RegistryConfig::max_concurrent_uploads)
    /// uploads are validated at once; the others wait.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::io::Write as _;
    /// use std::sync::Arc;
    /// use bytes::Bytes;
    /// use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
    /// use registry_core::{ModuleAddress, Registry, RegistryConfig, RegistryError, SigningKey, Version};
    ///
    /// let registry = Registry::new(
    ///     Arc::new(InMemoryStorage::new()),
    ///     Arc::new(InMemoryTokenStore::new()),
    ///     RegistryConfig::new(SigningKey::generate()),
    /// );
    /// // A module of one main.tf, as `tar -czf` makes it.
    /// let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), Default::default()));
    /// let main_tf = b"output \"hello\" { value = \"world\" }\n";
    /// let mut header = tar::Header::new_ustar();
    /// header.set_size(main_tf.len() as u64);
    /// header.set_mode(0o644);
    /// tar.append_data(&mut header, "main.tf", &main_tf[..]).unwrap();
    /// let archive = Bytes::from(tar.into_inner().unwrap().finish().unwrap());
    ///
    /// let module = ModuleAddress::new("acme", "hello", "null").unwrap();
    /// let version: Version = "1.0.0".parse().unwrap();
    /// let published = registry.publish(&module, &version, archive.clone()).await.unwrap();
    /// assert_eq!(published.info.size, archive.len() as u64);
    /// assert_eq!(registry.versions(&module).await.unwrap(), [version.clone()]);
    ///
    /// // Versions are immutable.
    /// let again = registry.publish(&module, &version, archive).await;
    /// assert!(matches!(again, Err(RegistryError::AlreadyExists(_))));
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::TooLarge`] over [`RegistryConfig::max_body_bytes`](crate::RegistryConfig::max_body_bytes);
    /// [`RegistryError::Invalid`] for an empty upload or an address using a
    /// reserved word ([`RESERVED_WORDS`](crate::RESERVED_WORDS));
    /// [`RegistryError::InvalidArchive`] with what to fix;
    /// [`RegistryError::AlreadyExists`] if the version exists (saying whether
    /// with exactly this content: then an earlier publish succeeded);
    /// storage failures (a spool file that cannot be read is
    /// [`StorageError::Unavailable`]).
    pub async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        upload: impl Into<RequestBody>,
    ) -> Result<Published, RegistryError> {
        Self::check_not_reserved(module)?;
        let body = upload.into();
        if body.len() > self.config.max_body_bytes as u64 {
            return Err(RegistryError::TooLarge {
                limit: self.config.max_body_bytes,
            });
        }
        if body.is_empty() {
            return Err(RegistryError::Invalid(
                "the request body is empty: send the module as a .tar.gz or .zip archive (e.g. `curl --upload-file module.tar.gz`)".into(),
            ));
        }
        // Validation reads and decompresses the whole archive: a bounded number
        // at once, the others wait here (their bodies are already spooled). The
        // permit ends with validation: the store's write (an fsync on disk, a PUT
        // to S3) holds no more memory than the validated archive, and writes
        // waiting on one another would only serialise the storage's own batching.
        // Metadata extraction is bounded (`metadata_limits`) and runs under
        // the same permit.
        let (archive, metadata) = {
            let _permit = self
                .uploads
                .acquire()
                .await
                .map_err(|e| StorageError::other("upload queue", e))?;
            let archive = self.validate(body).await?;
            let metadata = self.extract_metadata(&archive).await?;
            (archive, metadata)
        };
        let document = match self
            .store_version(module, version, &archive, metadata)
            .await
        {
            Ok(document) => document,
            Err(RegistryError::Storage(StorageError::AlreadyExists)) => {
                return Err(self.conflict(module, version, &archive).await);
            }
            Err(e) => return Err(e),
        };
        let warnings = document.metadata.warnings;
        tracing::info!(%module, %version, sha256 = %archive.info().sha256, size = archive.info().size, warnings = warnings.len(), "published");
        Ok(Published {
            module: module.clone(),
            version: version.clone(),
            info: archive.info().clone(),
            warnings,
        })
    }

    /// The `AlreadyExists` of a publish, saying whether the stored version
    /// holds these very bytes, so a client whose earlier publish succeeded
    /// without it seeing the answer can tell.
    async fn conflict(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> RegistryError {
        let stored = self
            .storage
            .locate_archive(module, version)
            .await
            .ok()
            .map(|l| l.info.sha256);
        let same = stored == Some(archive.info().sha256);
        RegistryError::AlreadyExists(match stored {
            Some(sha) if same => format!(
                "module {module} version {version} already exists with exactly this content (sha256 {}): an earlier publish of it succeeded; nothing to do",
                sha.to_hex()
            ),
            Some(sha) => format!(
                "module {module} version {version} already exists with other content (sha256 {}); published versions are immutable, so publish a new version",
                sha.to_hex()
            ),
            None => format!(
                "module {module} version {version} already exists; published versions are immutable, so publish a new version"
            ),
        })
    }

    /// Validates an upload off the async runtime's worker threads: in memory,
    /// or from its spool file (bounded memory).
    async fn validate(&self, body: RequestBody) -> Result<Archive, RegistryError> {
        let limits = self.config.archive_limits;
        let spool_dir = self
            .config
            .spool_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let validated = match body.into_content() {
            BodyContent::Memory(bytes) => {
                off_runtime(move || validate_archive(bytes, &limits)).await?
            }
            BodyContent::File(path) => {
                off_runtime(move || validate_archive_file(path, &limits, &spool_dir))
                    .await?
                    .map_err(|e| {
                        tracing::warn!(error = %e, "spooled upload could not be validated");
                        StorageError::Unavailable {
                            backend: "upload spool",
                            message: e.to_string(),
                        }
                    })?
            }
        };
        Ok(validated?)
    }

    /// Deletes `version` of `module` (and its pin record, if it was pinned);
    /// afterwards it can be published again.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if there is no such version; storage failures.
    pub async fn delete(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), RegistryError> {
        match self.delete_stored_version(module, version).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => {
                return Err(RegistryError::NotFound(format!(
                    "module {module} has no version {version} in this registry"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(%module, %version, "deleted");
        if let Some(pins) = self.upstream.pin_store() {
            match pins.delete(module, version).await {
                Ok(()) => tracing::info!(%module, %version, "pin record deleted"),
                Err(StorageError::NotFound) => {}
                // The version is gone; a stale record only shows in the listing.
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "pin record not deleted")
                }
            }
        }
        Ok(())
    }
}
