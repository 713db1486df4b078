#![doc = include_str!("../README.md")]

pub mod address;
pub mod api;
pub mod archive;
pub mod audit;
pub mod cache;
pub mod catalogue;
pub mod config;
pub mod exchange;
pub mod health;
pub mod memory;
pub mod pins;
pub mod proxy;
mod registry;
mod signing;
pub mod storage;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
mod upstream_mode;
pub mod version;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod testing;

pub use address::{AddressError, ModuleAddress};
pub use api::{AccessInfo, AdapterError, Admitted, BodySpool, RequestBody};
pub use archive::{ArchiveError, ArchiveLimits};
pub use catalogue::{CatalogueStore, SnapshotRead, SnapshotTag, StoredSnapshot};
pub use catalogue_index;
pub use config::{RegistryConfig, SigningKey};
pub use module_metadata;
pub use pins::{PinRecord, PinStore};
pub use proxy::{ModulePattern, ProxyConfig};
pub use registry::{
    ArchiveHead, Clock, CreatedToken, ExchangeFailure, Exchanged, ModuleDetails, ModuleFilter,
    ModulePage, Pinned, Published, Registry, RegistryError, TokenSpec,
    EXPIRED_EXCHANGED_TOKENS_KEPT, MAX_NAMESPACE_PATTERNS, MAX_PAGE_LIMIT, RESERVED_WORDS,
};
pub use storage::{
    Archive, ArchiveAccess, ArchiveContent, ArchiveFormat, ArchiveInfo, ArchiveLocation,
    Sha256Digest, Storage, StorageError,
};
pub use tokens::{NewToken, Tier, TokenHash, TokenRecord, TokenStore, MAX_TOKEN_LIFETIME};
pub use upstream::{FetchedArchive, NoUpstream, Upstream, UpstreamError};
pub use upstream_mode::{ProxiedArchives, UpstreamMode, UpstreamModeBuilder, UpstreamModeError};
pub use version::Version;

#[cfg(any(test, feature = "mock"))]
pub use catalogue::MockCatalogueStore;
#[cfg(any(test, feature = "mock"))]
pub use pins::MockPinStore;
#[cfg(any(test, feature = "mock"))]
pub use storage::MockStorage;
#[cfg(any(test, feature = "mock"))]
pub use tokens::MockTokenStore;
#[cfg(any(test, feature = "mock"))]
pub use upstream::MockUpstream;
