//! How the registry uses an upstream registry: one of a few modes that exclude
//! each other, built by [`UpstreamModeBuilder`], which refuses contradictions.

use std::fmt;
use std::sync::Arc;

use crate::pins::PinStore;
use crate::storage::Storage;
use crate::upstream::Upstream;

/// What the registry takes from its upstream. Which modules it may take is
/// [`RegistryConfig::proxy`](crate::RegistryConfig::proxy)'s allow and deny
/// lists, in every mode.
///
/// ```
/// use std::sync::Arc;
/// use registry_core::memory::{InMemoryPinStore, InMemoryStorage};
/// use registry_core::{NoUpstream, UpstreamMode, UpstreamModeError};
///
/// // Pin vetted versions, proxy nothing.
/// let pin_only = UpstreamMode::builder(Arc::new(NoUpstream))
///     .pins(Arc::new(InMemoryPinStore::new()))
///     .build()
///     .unwrap();
/// assert!(matches!(pin_only, UpstreamMode::Pin { .. }));
///
/// // A cache of archives needs archives served through the registry.
/// let refused = UpstreamMode::builder(Arc::new(NoUpstream))
///     .proxy()
///     .archive_cache(Arc::new(InMemoryStorage::new()))
///     .build();
/// assert_eq!(refused.unwrap_err(), UpstreamModeError::CacheWithoutThroughRegistry);
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum UpstreamMode {
    /// No upstream (the default): only local modules; the pin routes answer `404`.
    #[default]
    Off,
    /// Versions are pinned from the upstream (`POST /v1/pins/...`) into local
    /// storage, their origin recorded in `pins`; nothing is served live from it.
    Pin {
        /// Where versions are fetched from.
        upstream: Arc<dyn Upstream>,
        /// Where pinned versions' origins are recorded.
        pins: Arc<dyn PinStore>,
    },
    /// `versions` and `download` of a module with no local version are
    /// answered from the upstream; with `pins`, versions can be pinned too.
    Proxy {
        /// Where modules are proxied (and pinned) from.
        upstream: Arc<dyn Upstream>,
        /// Where pinned versions' origins are recorded; `None`: no pinning.
        pins: Option<Arc<dyn PinStore>>,
        /// How Terraform gets a proxied version's archive.
        archives: ProxiedArchives,
    },
}

/// How Terraform gets the archive of a version served from the upstream.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ProxiedArchives {
    /// `download` answers the upstream's own location (the default). Terraform
    /// fetches from wherever the upstream points (its CDN, GitHub, ...).
    #[default]
    Redirect,
    /// `download` answers a signed URL of this registry; its archive route
    /// fetches the version from the upstream, cuts the module out and serves
    /// it, so clients need no access to the upstream's archive hosts (a
    /// GitHub-backed registry). With a `cache`, each version is fetched once
    /// and kept there (a separate store from the registry's own, so a cached
    /// version never makes its module local).
    ThroughRegistry {
        /// Where fetched archives are kept; `None`: fetched on every download.
        cache: Option<Arc<dyn Storage>>,
    },
}

/// A contradiction [`UpstreamModeBuilder::build`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamModeError {
    /// An upstream that is neither proxied nor pinned from would never be used.
    #[error("the upstream is neither proxied nor pinned from: turn proxying on, give a pin store, or use UpstreamMode::Off")]
    Unused,
    /// Archives can only go through the registry for proxied modules.
    #[error("archives through the registry need proxying on: pinned versions are stored and served as local ones")]
    ThroughRegistryWithoutProxy,
    /// An archive cache only holds archives served through the registry.
    #[error("an archive cache needs archives served through the registry (with redirects, the registry never sees the archives)")]
    CacheWithoutThroughRegistry,
}

/// Builds an [`UpstreamMode`] over one upstream: say what to do with it, then
/// [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct UpstreamModeBuilder {
    upstream: Arc<dyn Upstream>,
    pins: Option<Arc<dyn PinStore>>,
    proxy: bool,
    through_registry: bool,
    cache: Option<Arc<dyn Storage>>,
}

impl UpstreamMode {
    /// Starts a mode over `upstream`.
    pub fn builder(upstream: Arc<dyn Upstream>) -> UpstreamModeBuilder {
        UpstreamModeBuilder {
            upstream,
            pins: None,
            proxy: false,
            through_registry: false,
            cache: None,
        }
    }

    /// The upstream, in any mode but [`UpstreamMode::Off`].
    pub fn upstream(&self) -> Option<&Arc<dyn Upstream>> {
        match self {
            Self::Off => None,
            Self::Pin { upstream, .. } | Self::Proxy { upstream, .. } => Some(upstream),
        }
    }

    /// The upstream to proxy from, when proxying.
    pub(crate) fn proxied(&self) -> Option<&dyn Upstream> {
        match self {
            Self::Proxy { upstream, .. } => Some(upstream.as_ref()),
            _ => None,
        }
    }

    /// The upstream and the pin store, when pinning is on.
    pub(crate) fn pinning(&self) -> Option<(&dyn Upstream, &dyn PinStore)> {
        match self {
            Self::Pin { upstream, pins }
            | Self::Proxy {
                upstream,
                pins: Some(pins),
                ..
            } => Some((upstream.as_ref(), pins.as_ref())),
            _ => None,
        }
    }

    /// The pin store, when pinning is on.
    pub(crate) fn pin_store(&self) -> Option<&dyn PinStore> {
        self.pinning().map(|(_, pins)| pins)
    }

    /// When proxied archives go through the registry: the upstream and the
    /// archive cache, if any.
    pub(crate) fn through_registry(&self) -> Option<(&dyn Upstream, Option<&dyn Storage>)> {
        match self {
            Self::Proxy {
                upstream,
                archives: ProxiedArchives::ThroughRegistry { cache },
                ..
            } => Some((upstream.as_ref(), cache.as_deref())),
            _ => None,
        }
    }
}

impl UpstreamModeBuilder {
    /// Versions can be pinned from the upstream, their origins recorded in `pins`.
    pub fn pins(mut self, pins: Arc<dyn PinStore>) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Modules with no local version are answered from the upstream.
    pub fn proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    /// Proxied archives go through this registry's signed URLs
    /// ([`ProxiedArchives::ThroughRegistry`]) instead of redirecting to the
    /// upstream's locations. Needs [`proxy`](Self::proxy).
    pub fn archives_through_registry(mut self) -> Self {
        self.through_registry = true;
        self
    }

    /// Keeps archives served through the registry in `cache`. Needs
    /// [`archives_through_registry`](Self::archives_through_registry).
    pub fn archive_cache(mut self, cache: Arc<dyn Storage>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The mode.
    ///
    /// # Errors
    /// [`UpstreamModeError`] for a combination that contradicts itself or
    /// would never use part of what it was given.
    pub fn build(self) -> Result<UpstreamMode, UpstreamModeError> {
        if self.cache.is_some() && !self.through_registry {
            return Err(UpstreamModeError::CacheWithoutThroughRegistry);
        }
        if self.through_registry && !self.proxy {
            return Err(UpstreamModeError::ThroughRegistryWithoutProxy);
        }
        match (self.proxy, self.pins) {
            (false, None) => Err(UpstreamModeError::Unused),
            (false, Some(pins)) => Ok(UpstreamMode::Pin {
                upstream: self.upstream,
                pins,
            }),
            (true, pins) => Ok(UpstreamMode::Proxy {
                upstream: self.upstream,
                pins,
                archives: if self.through_registry {
                    ProxiedArchives::ThroughRegistry { cache: self.cache }
                } else {
                    ProxiedArchives::Redirect
                },
            }),
        }
    }
}

impl fmt::Debug for UpstreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Pin { upstream, pins } => f
                .debug_struct("Pin")
                .field("upstream", upstream)
                .field("pins", pins)
                .finish(),
            Self::Proxy {
                upstream,
                pins,
                archives,
            } => f
                .debug_struct("Proxy")
                .field("upstream", upstream)
                .field("pins", pins)
                .field("archives", archives)
                .finish(),
        }
    }
}

impl fmt::Debug for ProxiedArchives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect => f.write_str("Redirect"),
            Self::ThroughRegistry { cache } => f
                .debug_struct("ThroughRegistry")
                .field("cache", cache)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{InMemoryPinStore, InMemoryStorage};
    use crate::NoUpstream;

    fn builder() -> UpstreamModeBuilder {
        UpstreamMode::builder(Arc::new(NoUpstream))
    }

    #[test]
    fn contradictions_are_refused() {
        let cache = || Arc::new(InMemoryStorage::new()) as Arc<dyn Storage>;
        let pins = || Arc::new(InMemoryPinStore::new()) as Arc<dyn PinStore>;
        for (built, error) in [
            (builder().build(), UpstreamModeError::Unused),
            (
                builder().pins(pins()).archives_through_registry().build(),
                UpstreamModeError::ThroughRegistryWithoutProxy,
            ),
            (
                builder().proxy().archive_cache(cache()).build(),
                UpstreamModeError::CacheWithoutThroughRegistry,
            ),
            (
                builder().pins(pins()).archive_cache(cache()).build(),
                UpstreamModeError::CacheWithoutThroughRegistry,
            ),
        ] {
            assert_eq!(built.unwrap_err(), error);
        }
    }

    #[test]
    fn each_mode_answers_what_it_offers() {
        let pins = || Arc::new(InMemoryPinStore::new()) as Arc<dyn PinStore>;
        let off = UpstreamMode::Off;
        assert!(off.upstream().is_none() && off.proxied().is_none() && off.pinning().is_none());

        let pin = builder().pins(pins()).build().unwrap();
        assert!(pin.proxied().is_none() && pin.pinning().is_some());
        assert!(pin.through_registry().is_none());

        let proxy = builder().proxy().build().unwrap();
        assert!(proxy.proxied().is_some() && proxy.pinning().is_none());
        assert!(proxy.through_registry().is_none(), "redirects by default");

        let both = builder()
            .proxy()
            .pins(pins())
            .archives_through_registry()
            .archive_cache(Arc::new(InMemoryStorage::new()))
            .build()
            .unwrap();
        assert!(both.proxied().is_some() && both.pin_store().is_some());
        assert!(matches!(both.through_registry(), Some((_, Some(_)))));
        assert!(format!("{both:?}").starts_with("Proxy"));
    }
}
