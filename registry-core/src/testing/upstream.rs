//! [`InMemoryUpstream`]: an upstream with a fixed catalogue.

use std::collections::HashMap;

use async_trait::async_trait;

use super::decorators::{Counts, Faults, UpstreamCall};
use super::harness::address;
use crate::upstream::{FetchedArchive, Upstream, UpstreamError};
use crate::version::parse_version;
use crate::{ModuleAddress, Version};

/// An [`Upstream`] answering from a catalogue set up front: the versions of
/// each module, where each version downloads from, and the archives to pin
/// or serve. Whatever is not in it is [`UpstreamError::NotFound`] naming the
/// upstream. Its [`faults`](Self::faults) make chosen calls fail; its
/// [`counts`](Self::counts) tell how often it was asked.
///
/// A version's download location is, unless set, the go-getter address of a
/// GitHub repository `github.com/{namespace}/terraform-{system}-{name}` at
/// the tag `v{version}`.
///
/// ```
/// use registry_core::testing::{ArchiveBuilder, InMemoryUpstream, TestRegistry};
/// use registry_core::FetchedArchive;
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let archive = ArchiveBuilder::module("# consul\n").top_dir("consul-v0.1.0").tar_gz();
/// let upstream = Arc::new(
///     InMemoryUpstream::new("registry.example.com")
///         .with_versions("hashicorp/consul/aws", &["0.1.0", "0.2.0"])
///         .with_archive(
///             "hashicorp/consul/aws",
///             "0.1.0",
///             FetchedArchive::new(archive, "registry.example.com", "https://example.com/consul.tar.gz")
///                 .with_strip_top_dir(true),
///         ),
/// );
/// let registry = TestRegistry::builder()
///     .upstream(upstream.clone())
///     .proxy()
///     .build();
/// assert_eq!(registry.versions("hashicorp/consul/aws").await, ["0.1.0", "0.2.0"]);
/// assert_eq!(
///     registry.download_url("hashicorp/consul/aws", "0.2.0").await,
///     "git::https://github.com/hashicorp/terraform-aws-consul?ref=v0.2.0"
/// );
/// assert_eq!(registry.pin("hashicorp/consul/aws", "0.1.0").await.status(), 201);
/// assert_eq!(upstream.counts().total(), 3);
/// # });
/// ```
#[derive(Debug)]
pub struct InMemoryUpstream {
    name: String,
    versions: HashMap<ModuleAddress, Vec<Version>>,
    locations: HashMap<(ModuleAddress, Version), String>,
    archives: HashMap<(ModuleAddress, Version), FetchedArchive>,
    faults: Faults<UpstreamCall, UpstreamError>,
    counts: Counts<UpstreamCall>,
}

impl InMemoryUpstream {
    /// An upstream called `name` (its host, as errors name it) with nothing in it.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            versions: HashMap::new(),
            locations: HashMap::new(),
            archives: HashMap::new(),
            faults: Faults::new(),
            counts: Counts::new(),
        }
    }

    /// Lists `versions` for `module` (`namespace/name/system`), in this order.
    ///
    /// # Panics
    /// On an invalid address or version.
    pub fn with_versions(mut self, module: &str, versions: &[&str]) -> Self {
        let versions = versions.iter().map(|v| version(v)).collect();
        self.versions.insert(address(module), versions);
        self
    }

    /// Answers `location` as where `version` of `module` downloads from.
    ///
    /// # Panics
    /// On an invalid address or version.
    pub fn with_location(mut self, module: &str, version_: &str, location: &str) -> Self {
        let key = (address(module), version(version_));
        self.locations.insert(key, location.to_owned());
        self
    }

    /// Answers `archive` when `version` of `module` is fetched (listed or not).
    ///
    /// # Panics
    /// On an invalid address or version.
    pub fn with_archive(mut self, module: &str, version_: &str, archive: FetchedArchive) -> Self {
        self.archives
            .insert((address(module), version(version_)), archive);
        self
    }

    /// Its name, as its errors carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The failures to inject into its calls.
    pub fn faults(&self) -> &Faults<UpstreamCall, UpstreamError> {
        &self.faults
    }

    /// How often each method was called.
    pub fn counts(&self) -> &Counts<UpstreamCall> {
        &self.counts
    }

    fn not_found(&self) -> UpstreamError {
        UpstreamError::NotFound {
            upstream: self.name.clone(),
        }
    }

    /// Counts `call`, lets the faults decide, then answers `found` or `NotFound`.
    fn answer<T>(&self, call: UpstreamCall, found: Option<T>) -> Result<T, UpstreamError> {
        self.counts.record_call(call);
        self.faults.check_before(call)?;
        let value = found.ok_or_else(|| self.not_found())?;
        self.faults.check_after(call)?;
        self.counts.record_success(call);
        Ok(value)
    }
}

fn version(v: &str) -> Version {
    parse_version(v).unwrap_or_else(|e| panic!("{e}"))
}

#[async_trait]
impl Upstream for InMemoryUpstream {
    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        let found = self.versions.get(module).cloned();
        self.answer(UpstreamCall::ListVersions, found)
    }

    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError> {
        let listed = self
            .versions
            .get(module)
            .is_some_and(|versions| versions.contains(version));
        let found = listed.then(|| {
            let key = (module.clone(), version.clone());
            self.locations.get(&key).cloned().unwrap_or_else(|| {
                format!(
                    "git::https://github.com/{}/terraform-{}-{}?ref=v{version}",
                    module.namespace(),
                    module.system(),
                    module.name()
                )
            })
        });
        self.answer(UpstreamCall::DownloadLocation, found)
    }

    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        let found = self
            .archives
            .get(&(module.clone(), version.clone()))
            .cloned();
        self.answer(UpstreamCall::FetchArchive, found)
    }

    async fn probe(&self) -> Result<(), UpstreamError> {
        self.answer(UpstreamCall::Probe, Some(()))
    }
}
