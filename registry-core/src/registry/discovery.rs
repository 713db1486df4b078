//! Discovering modules: listing and searching the catalogue, a module's
//! providers, and one version's details (README, inputs, outputs...).

use std::sync::Arc;

use catalogue_index::{CatalogueIndex, ListQuery, ModuleEntry, NamespaceScope, Page, SearchQuery};

use crate::catalogue::{key_of, VersionDocument};
use crate::version::sort_versions;
use crate::{ModuleAddress, Version};

use super::{Registry, RegistryError};

/// The most modules one page holds; larger limits are clamped to it.
pub const MAX_PAGE_LIMIT: usize = 100;

/// One page of modules, as [`Registry::list_modules`] and
/// [`Registry::search_modules`] answer. Holds the catalogue index it was
/// read from (shared, not copied), so a page costs no copy of its entries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModulePage {
    index: Arc<CatalogueIndex>,
    positions: Vec<u32>,
    /// The offset of the next page; `None` on the last page.
    pub next_offset: Option<usize>,
    /// The limit applied (after clamping to 1..=[`MAX_PAGE_LIMIT`]).
    pub limit: usize,
}

impl ModulePage {
    fn new(index: &Arc<CatalogueIndex>, page: Page<'_>, limit: usize) -> Self {
        Self {
            index: Arc::clone(index),
            positions: page.positions,
            next_offset: page.next_offset,
            limit,
        }
    }

    /// The modules of the page, in key order (namespace, name, provider).
    pub fn modules(&self) -> impl ExactSizeIterator<Item = &ModuleEntry> + '_ {
        self.positions
            .iter()
            .map(|&p| self.index.at(p).expect("a position of this index"))
    }

    /// The modules of the page as [`modules`](Self::modules), each rendered
    /// by `render` once per loaded index and then kept with it (see
    /// [`CatalogueIndex::rendered`]). Crate-private: the HTTP layer's one
    /// summary rendering is the only `render` ever passed.
    pub(crate) fn rendered(
        &self,
        render: fn(&ModuleEntry) -> Box<[u8]>,
    ) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.positions.iter().map(move |&p| {
            self.index
                .rendered(p, render)
                .expect("a position of this index")
        })
    }
}

/// Filters and paging of a list or search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this provider.
    pub provider: Option<String>,
    /// Only namespaces in this scope (a namespace-limited token's); `None`:
    /// every namespace.
    pub scope: Option<NamespaceScope>,
    /// Modules skipped.
    pub offset: usize,
    /// Page size, clamped to 1..=[`MAX_PAGE_LIMIT`]; 0 means the default, 15
    /// (as the public registry).
    pub limit: usize,
}

impl ModuleFilter {
    /// A filter from its parts.
    pub fn new(
        namespace: Option<String>,
        provider: Option<String>,
        offset: usize,
        limit: usize,
    ) -> Self {
        Self {
            namespace,
            provider,
            scope: None,
            offset,
            limit,
        }
    }

    fn clamped_limit(&self) -> usize {
        match self.limit {
            0 => 15,
            n => n.min(MAX_PAGE_LIMIT),
        }
    }
}

/// One version's details, as [`Registry::module_details`] answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModuleDetails {
    /// The module.
    pub module: ModuleAddress,
    /// The version described.
    pub version: Version,
    /// Every version of the module, ascending.
    pub versions: Vec<Version>,
    /// Its metadata document, the root's `name` set to the module's name
    /// (shared: decoded once while storage answers the same document).
    pub document: Arc<VersionDocument>,
}

impl Registry {
    /// A page of every module in the catalogue, filtered by namespace and
    /// provider. Answers from the in-memory catalogue (no storage read per
    /// request; see [`Registry::with_catalogue`]).
    ///
    /// # Errors
    /// Catalogue store failures when no catalogue was ever loaded.
    pub async fn list_modules(&self, filter: &ModuleFilter) -> Result<ModulePage, RegistryError> {
        let index = self.catalogue.index(&self.storage, self.now()).await?;
        let limit = filter.clamped_limit();
        let page = index.list(&ListQuery {
            namespace: filter.namespace.clone(),
            provider: filter.provider.clone(),
            scope: filter.scope.clone(),
            offset: filter.offset,
            limit,
        });
        Ok(ModulePage::new(&index, page, limit))
    }

    /// A page of the modules matching every word of `q` (namespace, name,
    /// provider and description words; the last word also as a prefix), with
    /// the filters of [`list_modules`](Self::list_modules).
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a `q` with no words; catalogue store
    /// failures when no catalogue was ever loaded.
    pub async fn search_modules(
        &self,
        q: &str,
        filter: &ModuleFilter,
    ) -> Result<ModulePage, RegistryError> {
        if catalogue_index::tokenize(q).is_empty() {
            return Err(RegistryError::Invalid(
                "the search needs at least one word: give it as ?q=, e.g. /v1/modules/search?q=vpc"
                    .into(),
            ));
        }
        let index = self.catalogue.index(&self.storage, self.now()).await?;
        let limit = filter.clamped_limit();
        let page = index.search(&SearchQuery {
            q: q.to_owned(),
            namespace: filter.namespace.clone(),
            provider: filter.provider.clone(),
            scope: filter.scope.clone(),
            offset: filter.offset,
            limit,
        });
        Ok(ModulePage::new(&index, page, limit))
    }

    /// Every provider of module `name` in `namespace`, as catalogue entries.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if there is none; catalogue store failures.
    pub async fn module_providers(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<ModuleEntry>, RegistryError> {
        let index = self.catalogue.index(&self.storage, self.now()).await?;
        let entries: Vec<ModuleEntry> = index
            .modules_named(namespace, name)
            .into_iter()
            .cloned()
            .collect();
        if entries.is_empty() {
            return Err(RegistryError::NotFound(format!(
                "no module {namespace}/{name} in this registry"
            )));
        }
        Ok(entries)
    }

    /// The details of `version` of `module` (`None`: its latest version, the
    /// highest that is not a pre-release, else the highest): README, inputs,
    /// outputs, providers, resources, submodules and examples, from its
    /// metadata document, derived from the archive on first read for
    /// versions published before documents were kept. Versions come from
    /// storage, so a version is described as soon as it is published.
    ///
    /// A module with no local version that this registry serves from its
    /// upstream through its own archive URLs with an archive cache is
    /// described from the upstream's versions and the archive, derived once
    /// and kept in the cache.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if the module or version is not in this
    /// registry (also for modules proxied from an upstream whose archives
    /// do not go through this registry's cache: their details are not kept
    /// here); storage and upstream failures.
    pub async fn module_details(
        &self,
        module: &ModuleAddress,
        version: Option<&Version>,
    ) -> Result<ModuleDetails, RegistryError> {
        let mut versions = self.storage.list_versions(module).await?;
        if versions.is_empty() {
            return match self.proxied_details(module, version).await? {
                Some(details) => Ok(details),
                None => Err(RegistryError::NotFound(self.no_details(module))),
            };
        }
        sort_versions(&mut versions);
        let chosen = choose_version(module, &versions, version)?;
        let published_at = self
            .catalogue
            .index(&self.storage, self.now())
            .await
            .ok()
            .and_then(|index| {
                index
                    .get(&key_of(module))
                    .and_then(|m| m.version(&chosen.to_string()))
                    .map(|v| v.published_at.clone())
            });
        let document = match self.version_document(module, &chosen, published_at).await {
            Err(RegistryError::Storage(crate::storage::StorageError::NotFound)) => {
                // Deleted since it was listed.
                return Err(RegistryError::NotFound(format!(
                    "module {module} has no version {chosen} in this registry"
                )));
            }
            other => other?,
        };
        Ok(ModuleDetails {
            module: module.clone(),
            version: chosen,
            versions,
            document,
        })
    }

    /// The 404 message for a module with no local version.
    fn no_details(&self, module: &ModuleAddress) -> String {
        if self.upstream.proxied().is_some() && self.config.proxy.check(module).is_ok() {
            format!(
                "module {module} is not published in this registry; it may be served from the upstream registry, whose module details this registry keeps only when archives go through it with an archive cache: ask the upstream for them, or pin the version (POST /v1/pins/{module}/VERSION) to keep it here with its details"
            )
        } else {
            format!("module {module} not found in this registry")
        }
    }
}

/// `version` if `versions` (ascending, not empty) holds it; with `None`,
/// the latest: the highest that is not a pre-release, else the highest.
pub(super) fn choose_version(
    module: &ModuleAddress,
    versions: &[Version],
    version: Option<&Version>,
) -> Result<Version, RegistryError> {
    match version {
        Some(v) if versions.contains(v) => Ok(v.clone()),
        Some(v) => Err(RegistryError::NotFound(format!(
            "module {module} has no version {v} in this registry"
        ))),
        None => Ok(latest_version(versions).expect("not empty").clone()),
    }
}

/// The version shown as latest of ascending `versions`: the highest that is
/// not a pre-release, else the highest; `None` when empty.
pub(crate) fn latest_version(versions: &[Version]) -> Option<&Version> {
    versions
        .iter()
        .rev()
        .find(|v| v.pre.is_empty())
        .or_else(|| versions.last())
}
