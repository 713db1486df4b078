//! Test support (feature `testing`): what the core's tests, its fuzz targets
//! and every adapter's tests share instead of keeping local copies.
//!
//! - [`TestRegistry`]: a [`Registry`](crate::Registry) on the in-memory stores
//!   with a known master token ([`MASTER_TOKEN`]), signing key and an
//!   adjustable clock, and request helpers (`get`, `publish`, `token`, ...)
//!   answering `http::Response<Bytes>`; [`json`], [`error_message`] and
//!   [`text`] read the answers.
//! - [`ArchiveBuilder`]: `.tar.gz` and `.zip` module archives from files (with
//!   modes), directories, symlinks, hard links (tar) and a top-level directory.
//! - [`InMemoryUpstream`]: an [`Upstream`](crate::Upstream) with a fixed
//!   catalogue (versions, download locations, archives), injectable failures
//!   and call counts.
//! - Decorators for [`Storage`](crate::Storage), [`TokenStore`](crate::TokenStore)
//!   and [`PinStore`](crate::PinStore): [`Forward`] passes every call to an
//!   inner store except those its overrides replace ([`StorageOverrides`],
//!   [`TokenStoreOverrides`], [`PinStoreOverrides`]); with [`Faults`] it fails
//!   the calls you choose with the errors you choose ([`FailingStorage`], ...),
//!   with [`Counts`] it counts calls per method ([`CountingStorage`], ...).
//!
//! Nothing here needs a runtime of its own: the in-memory stores answer at
//! once, so a fuzz target can drive [`TestRegistry`] with a trivial executor.
//!
//! ```
//! use registry_core::testing::{json, ArchiveBuilder, TestRegistry};
//! use registry_core::Tier;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registry = TestRegistry::new();
//! let archive = ArchiveBuilder::module("variable \"name\" {}\n").tar_gz();
//! let published = registry.publish("acme/vpc/aws", "1.0.0", archive.clone()).await;
//! assert_eq!(published.status(), 201);
//! assert_eq!(json(&published)["version"], "1.0.0");
//!
//! let reader = registry.token(Tier::Downloader).await;
//! let listed = registry
//!     .get_as("/v1/modules/acme/vpc/aws/versions", Some(&reader))
//!     .await;
//! assert_eq!(listed.status(), 200);
//! assert_eq!(registry.versions("acme/vpc/aws").await, ["1.0.0"]);
//!
//! // Terraform fetches the archive with no token: the URL is signed.
//! let url = registry.download_url("acme/vpc/aws", "1.0.0").await;
//! assert_eq!(registry.get_as(&url, None).await.body(), &archive);
//! # });
//! ```

mod archive;
mod decorators;
mod harness;
mod upstream;

pub use archive::ArchiveBuilder;
pub use decorators::{
    CountingPinStore, CountingStorage, CountingTokenStore, Counts, FailingPinStore, FailingStorage,
    FailingTokenStore, Faults, Forward, PinStoreCall, PinStoreOverrides, StorageCall,
    StorageOverrides, TokenStoreCall, TokenStoreOverrides, UpstreamCall,
};
pub use harness::{
    error_message, json, text, TestRegistry, TestRegistryBuilder, CLOCK_START_SECS, MASTER_TOKEN,
};
pub use upstream::InMemoryUpstream;
