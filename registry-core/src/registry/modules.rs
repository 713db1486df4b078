//! Reading modules: versions, download locations and archives, from local
//! storage or, for modules with no local version, from the upstream.

use crate::archive::{extract_module, ArchiveError};
use crate::storage::{Archive, ArchiveAccess, ArchiveFormat, StorageError};
use crate::upstream::{FetchedArchive, Upstream, UpstreamError};
use crate::version::sort_versions;
use crate::{ModuleAddress, Version};

use super::{off_runtime, Registry, RegistryError};

/// The archive cache's name in telemetry ([`crate::telemetry::Telemetry::cache`]).
const UPSTREAM_ARCHIVES: &str = "upstream_archives";

impl Registry {
    /// The versions of `module`, oldest first (SemVer order): the local ones,
    /// or, when it has none and proxying allows it, the upstream's. A module
    /// with any local version is never mixed with upstream versions (that
    /// would let an outsider publish a higher public version under a private
    /// module's address).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
    /// use registry_core::{ModuleAddress, Registry, RegistryConfig, RegistryError, SigningKey};
    ///
    /// let registry = Registry::new(
    ///     Arc::new(InMemoryStorage::new()),
    ///     Arc::new(InMemoryTokenStore::new()),
    ///     RegistryConfig::new(SigningKey::generate()),
    /// );
    /// let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
    /// assert!(matches!(registry.versions(&module).await, Err(RegistryError::NotFound(_))));
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if neither has it; [`RegistryError::Forbidden`]
    /// if the proxy's lists forbid it; storage and upstream failures.
    pub async fn versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, RegistryError> {
        let mut versions = self.storage.list_versions(module).await?;
        if versions.is_empty() {
            let not_found = || format!("module {module} not found in this registry");
            versions = self
                .proxy_for(module, not_found)?
                .list_versions(module)
                .await
                .map_err(|e| not_found_as(e, not_found))?;
        }
        sort_versions(&mut versions);
        Ok(versions)
    }

    /// Where Terraform downloads `version` of `module` from: the value of
    /// `X-Terraform-Get`. A storage's presigned URL with
    /// `checksum=sha256:<hex>`, or this registry's own signed, expiring archive
    /// URL (relative, `/v1/archives/...`); for a proxied module the upstream's
    /// location, or a signed URL of this registry when archives go through it.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`], [`RegistryError::Forbidden`], storage and
    /// upstream failures.
    pub async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, RegistryError> {
        let location = match self.storage.locate_archive(module, version).await {
            Ok(location) => location,
            Err(StorageError::NotFound) => {
                if !self.storage.list_versions(module).await?.is_empty() {
                    return Err(RegistryError::NotFound(format!(
                        "module {module} has no version {version} in this registry"
                    )));
                }
                return self.upstream_download_location(module, version).await;
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match location.access {
            ArchiveAccess::Presigned { url } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!(
                    "{url}{sep}checksum=sha256:{}",
                    location.info.sha256.to_hex()
                )
            }
            ArchiveAccess::ThroughRegistry => self.signed_archive_url(
                module,
                version,
                location.info.format,
                Some(&location.info.sha256),
            ),
        })
    }

    /// `download_location` of a module with no local version: the upstream's
    /// location, or with archives through the registry
    /// ([`ProxiedArchives::ThroughRegistry`](crate::ProxiedArchives::ThroughRegistry)) a signed URL of
    /// this registry's archive route (with the checksum once the archive cache
    /// has it).
    async fn upstream_download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, RegistryError> {
        let not_found = || format!("module {module} version {version} not found in this registry");
        let upstream = self.proxy_for(module, not_found)?;
        let Some((_, archive_cache)) = self.upstream.through_registry() else {
            return upstream
                .download_location(module, version)
                .await
                .map_err(|e| not_found_as(e, not_found));
        };
        if let Some(cache) = archive_cache {
            match cache.locate_archive(module, version).await {
                Ok(cached) => {
                    return Ok(self.signed_archive_url(
                        module,
                        version,
                        cached.info.format,
                        Some(&cached.info.sha256),
                    ))
                }
                Err(StorageError::NotFound) => {}
                // The upstream can still serve it.
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "archive cache lookup failed")
                }
            }
        }
        let versions = upstream
            .list_versions(module)
            .await
            .map_err(|e| not_found_as(e, not_found))?;
        if !versions.contains(version) {
            return Err(RegistryError::NotFound(not_found()));
        }
        Ok(self.signed_archive_url(module, version, ArchiveFormat::TarGz, None))
    }

    /// The archive of `version` of `module` in `format`, as the signed archive
    /// URL serves it: from storage, or (for a module served from the upstream
    /// through this registry) from the archive cache, else fetched from the
    /// upstream, cut out like a pin and written to the cache.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if there is no such archive in that format;
    /// [`RegistryError::BadUpstreamArchive`] if the upstream's is not a valid
    /// module; storage and upstream failures.
    pub async fn archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
    ) -> Result<Archive, RegistryError> {
        let not_found = || {
            RegistryError::NotFound(format!(
                "module {module} has no {} archive of version {version} here",
                format.suffix()
            ))
        };
        let archive = match self.storage.read_archive(module, version).await {
            Err(StorageError::NotFound) => {
                return self
                    .upstream_archive(module, version, format)
                    .await?
                    .ok_or_else(not_found);
            }
            other => other?,
        };
        if archive.info().format != format {
            return Err(not_found());
        }
        Ok(archive)
    }

    /// What `HEAD` of an archive URL answers, without reading the archive:
    /// from storage's [`locate_archive`](crate::storage::Storage::locate_archive) for a
    /// stored version (or the archive cache's, for one served from the
    /// upstream); for an upstream version not cached, only its format: the
    /// URL's signature already says this registry resolved the version, and
    /// Terraform's downloader sends `HEAD` before every `GET`, so fetching
    /// the archive here would fetch it twice.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] as [`archive`](Self::archive) would answer
    /// it without asking the upstream; storage failures.
    pub async fn archive_head(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
    ) -> Result<ArchiveHead, RegistryError> {
        let not_found = || {
            RegistryError::NotFound(format!(
                "module {module} has no {} archive of version {version} here",
                format.suffix()
            ))
        };
        let known = |info: crate::storage::ArchiveInfo| {
            if info.format == format {
                Ok(ArchiveHead {
                    format,
                    sha256: Some(info.sha256),
                    size: Some(info.size),
                })
            } else {
                Err(not_found())
            }
        };
        match self.storage.locate_archive(module, version).await {
            Ok(location) => return known(location.info),
            Err(StorageError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let Some((_, archive_cache)) = self.served_from_upstream(module).await? else {
            return Err(not_found());
        };
        if let Some(cache) = archive_cache {
            match cache.locate_archive(module, version).await {
                Ok(location) => return known(location.info),
                Err(StorageError::NotFound) => {}
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "archive cache lookup failed")
                }
            }
        }
        // Served through this registry as .tar.gz only (see `upstream_archive`).
        if format != ArchiveFormat::TarGz {
            return Err(not_found());
        }
        Ok(ArchiveHead {
            format,
            sha256: None,
            size: None,
        })
    }

    /// The upstream (and archive cache) that archive URLs of `module` are
    /// served from, or `None`: the registry serves no archives through its
    /// own URLs, the proxy rules refuse `module` (they may have changed
    /// since the URL was signed), or `module` has local versions (never
    /// mixed with the upstream's).
    async fn served_from_upstream(
        &self,
        module: &ModuleAddress,
    ) -> Result<Option<(&dyn Upstream, Option<&dyn crate::storage::Storage>)>, RegistryError> {
        let Some(through) = self.upstream.through_registry() else {
            return Ok(None);
        };
        if self.config.proxy.check(module).is_err()
            || !self.storage.list_versions(module).await?.is_empty()
        {
            return Ok(None);
        }
        Ok(Some(through))
    }

    /// `archive` for a version not in storage. `None` when the registry does
    /// not serve this module from its upstream through its own URLs.
    pub(super) async fn upstream_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
        format: ArchiveFormat,
    ) -> Result<Option<Archive>, RegistryError> {
        let Some((upstream, archive_cache)) = self.served_from_upstream(module).await? else {
            return Ok(None);
        };
        if let Some(cache) = archive_cache {
            match cache.read_archive(module, version).await {
                Ok(archive) => {
                    crate::telemetry::current().cache(UPSTREAM_ARCHIVES, true);
                    return Ok(Some(archive).filter(|a| a.info().format == format));
                }
                Err(StorageError::NotFound) => {
                    crate::telemetry::current().cache(UPSTREAM_ARCHIVES, false);
                }
                Err(e) => {
                    tracing::warn!(%module, %version, error = %e, "archive cache read failed")
                }
            }
        }
        let (fetched, extracted) = self.fetch_module(upstream, module, version).await?;
        let archive = extracted.map_err(|e| {
            tracing::error!(%module, %version, upstream = %fetched.upstream, source = %fetched.source, error = %e, "the upstream's archive is not a valid module");
            RegistryError::BadUpstreamArchive(format!(
                "the archive {} serves for module {module} version {version} is not a valid module: {e}",
                fetched.upstream
            ))
        })?;
        if archive.info().format != format {
            return Err(RegistryError::BadUpstreamArchive(format!(
                "{} serves module {module} version {version} as a {} archive, which this registry only proxies through its own URLs as .tar.gz; pin the version instead (POST /v1/pins/{module}/{version} with the master token), which stores it as it is",
                fetched.upstream,
                archive.info().format.suffix()
            )));
        }
        if let Some(cache) = archive_cache {
            match cache.publish(module, version, &archive).await {
                Ok(()) => {
                    tracing::info!(%module, %version, sha256 = %archive.info().sha256, "cached from the upstream");
                    // Its details, kept beside it (a failure is logged: the
                    // details route derives them again).
                    let _ = self.cache_document(cache, module, version, &archive).await;
                }
                // A concurrent download cached it first.
                Err(StorageError::AlreadyExists) => {}
                Err(e) => tracing::warn!(%module, %version, error = %e, "archive not cached"),
            }
        }
        Ok(Some(archive))
    }

    /// Fetches `version` of `module` from `upstream` and cuts the module out of
    /// what it serves ([`extract_module`]: the repository's top directory and
    /// the `//subdir`), validated like an upload, off the runtime's workers.
    /// The one fetch-and-extract of pins and of archives served through this
    /// registry; each words the extraction error its own way.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] naming the upstream if it has no such
    /// version; other upstream failures. An archive that is not a valid
    /// module is the inner `Err`.
    pub(crate) async fn fetch_module(
        &self,
        upstream: &dyn Upstream,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(FetchedArchive, Result<Archive, ArchiveError>), RegistryError> {
        let fetched = upstream
            .fetch_archive(module, version)
            .await
            .map_err(|e| match e {
                UpstreamError::NotFound { upstream } => RegistryError::NotFound(format!(
                    "{upstream} has no module {module} version {version}"
                )),
                other => RegistryError::Upstream(other),
            })?;
        let limits = self.config.archive_limits;
        let (bytes, strip, subdir) = (
            fetched.bytes.clone(),
            fetched.strip_top_dir,
            fetched.subdir.clone(),
        );
        let extracted =
            off_runtime(move || extract_module(bytes, strip, subdir.as_deref(), &limits)).await?;
        Ok((fetched, extracted))
    }

    /// The upstream to proxy `module` from, if proxying is on and the rules
    /// allow it; `not_found` words the 404 when there is nothing to proxy from.
    fn proxy_for(
        &self,
        module: &ModuleAddress,
        not_found: impl FnOnce() -> String,
    ) -> Result<&dyn Upstream, RegistryError> {
        let Some(upstream) = self.upstream.proxied() else {
            return Err(RegistryError::NotFound(not_found()));
        };
        self.config.proxy.check(module).map_err(|refusal| {
            RegistryError::Forbidden(format!(
                "module {module} is not in this registry and is not proxied from its upstream: {refusal}; ask the registry's operator"
            ))
        })?;
        Ok(upstream)
    }
}

/// Upstream "not found" becomes a 404 with the registry's own wording.
pub(super) fn not_found_as(e: UpstreamError, message: impl FnOnce() -> String) -> RegistryError {
    match e {
        UpstreamError::NotFound { .. } => RegistryError::NotFound(message()),
        other => RegistryError::Upstream(other),
    }
}

/// What [`Registry::archive_head`] knows of an archive without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveHead {
    /// Its format (that of the URL).
    pub format: ArchiveFormat,
    /// Its digest, when stored or cached here.
    pub sha256: Option<crate::storage::Sha256Digest>,
    /// Its size in bytes, when stored or cached here.
    pub size: Option<u64>,
}
