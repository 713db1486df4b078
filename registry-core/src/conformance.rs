//! The conformance suite every [`Storage`], [`TokenStore`], [`PinStore`] and
//! [`AuditLog`](crate::audit::AuditLog) implementation runs.
//!
//! Each check is a free function taking a fresh, empty store; the macros
//! [`storage_conformance_tests!`](crate::storage_conformance_tests),
//! [`token_store_conformance_tests!`](crate::token_store_conformance_tests),
//! [`pin_store_conformance_tests!`](crate::pin_store_conformance_tests) and
//! [`audit_log_conformance_tests!`](crate::audit_log_conformance_tests)
//! expand into one `#[tokio::test]` per check. The calling crate needs `tokio`
//! (features `macros`, `rt-multi-thread`) as a dev-dependency.
//!
//! ```text
//! registry_core::storage_conformance_tests!(|| async {
//!     std::sync::Arc::new(MyStorage::new()) as std::sync::Arc<dyn registry_core::Storage>
//! });
//! ```
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use async_trait::async_trait;

use crate::pins::{PinRecord, PinStore};
use crate::storage::Sha256Digest;
use crate::storage::{
    Archive, ArchiveAccess, ArchiveFormat, ArchiveLocation, Storage, StorageError,
};
use crate::tokens::{NewToken, Tier, TokenHash, TokenRecord, TokenStore};
use crate::{ModuleAddress, Version};

fn module(ns: &str, name: &str, system: &str) -> ModuleAddress {
    ModuleAddress::new(ns, name, system).expect("valid test address")
}

fn v(s: &str) -> Version {
    Version::parse(s).expect("valid test version")
}

/// Deterministic, distinct archive bytes (storages do not validate archives).
fn archive(format: ArchiveFormat, seed: u8, len: usize) -> Archive {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    Archive::new(format, Bytes::from(bytes))
}

fn sorted(mut versions: Vec<Version>) -> Vec<String> {
    versions.sort();
    versions.iter().map(ToString::to_string).collect()
}

/// A store kept together with whatever must outlive it in a test (a temporary
/// directory, an in-process server): every port method goes to `store`, and
/// `guard` is dropped with the last `Arc`.
///
/// ```text
/// let dir = tempfile::tempdir()?;
/// let store: Arc<dyn Storage> = Arc::new(KeepAlive::new(MyStorage::open(dir.path())?, dir));
/// ```
#[derive(Debug)]
pub struct KeepAlive<S, G> {
    store: S,
    _guard: G,
}

impl<S, G> KeepAlive<S, G> {
    /// Keeps `guard` alive as long as `store`.
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The wrapped store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

#[async_trait]
impl<S: Storage, G: Send + Sync + std::fmt::Debug + 'static> Storage for KeepAlive<S, G> {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        self.store.publish(module, version, archive).await
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        self.store.list_versions(module).await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        self.store.read_archive(module, version).await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        self.store.locate_archive(module, version).await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        self.store.delete_version(module, version).await
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        self.store.write_metadata(module, version, document).await
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        self.store.read_metadata(module, version).await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        self.store.list_modules().await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        self.store.probe().await
    }
}

#[async_trait]
impl<S: TokenStore, G: Send + Sync + std::fmt::Debug + 'static> TokenStore for KeepAlive<S, G> {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        self.store.create(record).await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        self.store.find_by_hash(hash).await
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.store.list().await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        self.store.delete(name).await
    }
}

#[async_trait]
impl<S: crate::CatalogueStore, G: Send + Sync + std::fmt::Debug + 'static> crate::CatalogueStore
    for KeepAlive<S, G>
{
    async fn load(&self) -> Result<Option<crate::StoredSnapshot>, StorageError> {
        self.store.load().await
    }

    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a crate::SnapshotTag>,
    ) -> Result<crate::SnapshotTag, StorageError> {
        self.store.store(bytes, expected).await
    }
}

#[async_trait]
impl<S: PinStore, G: Send + Sync + std::fmt::Debug + 'static> PinStore for KeepAlive<S, G> {
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError> {
        self.store.put(pin).await
    }

    async fn list(&self) -> Result<Vec<PinRecord>, StorageError> {
        self.store.list().await
    }

    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError> {
        self.store.delete(module, version).await
    }
}

/// Expands into one `#[tokio::test]` per storage check. `$make` is a closure
/// returning a future of a fresh, empty `Arc<dyn Storage>`.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks!($make, storage;
            publish_then_list,
            list_of_unknown_module_is_empty,
            second_publish_conflicts_and_keeps_bytes,
            read_returns_exact_bytes,
            locate_reports_format_digest_and_size,
            missing_version_is_not_found,
            delete_then_republish,
            modules_are_isolated,
            prerelease_and_build_versions_round_trip,
            large_archive_round_trips,
            concurrent_publishes_have_one_winner,
            metadata_round_trips_and_is_replaced,
            metadata_of_missing_version_is_not_found,
            delete_removes_metadata,
            metadata_does_not_make_a_version,
            list_modules_lists_each_module_once,
            probe_answers_empty_and_full,
        );
    };
}

/// Expands into one `#[tokio::test]` per catalogue-store check. `$make` is a
/// closure returning a future of a fresh, empty `Arc<dyn CatalogueStore>`.
#[macro_export]
macro_rules! catalogue_store_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks!($make, catalogue_store;
            empty_store_loads_none,
            first_store_needs_no_tag,
            store_with_current_tag_replaces,
            store_with_stale_tag_conflicts,
            concurrent_stores_have_one_winner,
            large_snapshot_round_trips,
            load_if_changed_answers_unchanged_changed_or_missing,
        );
    };
}

/// Expands into one `#[tokio::test]` per token-store check. `$make` is a
/// closure returning a future of a fresh, empty `Arc<dyn TokenStore>`.
#[macro_export]
macro_rules! token_store_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks!($make, token_store;
            create_then_find_by_hash,
            expiry_is_kept_to_the_second_and_expired_records_are_found,
            namespaces_and_creator_are_kept,
            unknown_hash_is_none,
            taken_name_conflicts_and_keeps_original,
            list_returns_every_record,
            delete_revokes_and_frees_the_name,
            delete_missing_is_not_found,
            concurrent_creates_have_one_winner,
        );
    };
}

/// Expands into one `#[tokio::test]` per pin-store check. `$make` is a
/// closure returning a future of a fresh, empty `Arc<dyn PinStore>`.
#[macro_export]
macro_rules! pin_store_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks!($make, pin_store;
            put_then_list,
            put_replaces_the_same_version,
            versions_and_modules_are_distinct,
            delete_forgets_one_record,
            delete_missing_is_not_found,
            concurrent_puts_all_land,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($make:expr, $module:ident; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let store = ($make)().await;
                $crate::conformance::$module::$check(store).await;
            }
        )*
    };
}

/// Checks of the [`Storage`] contract.
pub mod storage {
    use super::*;

    pub async fn publish_then_list(s: Arc<dyn Storage>) {
        let m = module("acme", "vpc", "aws");
        for (i, ver) in ["1.0.0", "1.2.0", "2.0.0-rc.1"].iter().enumerate() {
            s.publish(&m, &v(ver), &archive(ArchiveFormat::TarGz, i as u8, 64))
                .await
                .expect("publish");
        }
        let listed = s.list_versions(&m).await.expect("list");
        assert_eq!(listed.len(), 3, "no duplicates: {listed:?}");
        assert_eq!(sorted(listed), ["1.0.0", "1.2.0", "2.0.0-rc.1"]);
    }

    pub async fn list_of_unknown_module_is_empty(s: Arc<dyn Storage>) {
        let listed = s
            .list_versions(&module("acme", "nothing", "aws"))
            .await
            .expect("list");
        assert!(listed.is_empty(), "{listed:?}");
    }

    pub async fn second_publish_conflicts_and_keeps_bytes(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        let first = archive(ArchiveFormat::TarGz, 1, 100);
        s.publish(&m, &ver, &first).await.expect("first publish");
        let err = s
            .publish(&m, &ver, &archive(ArchiveFormat::Zip, 2, 200))
            .await
            .expect_err("second publish must fail");
        assert!(matches!(err, StorageError::AlreadyExists), "{err:?}");
        let read = s.read_archive(&m, &ver).await.expect("read");
        assert_eq!(read.to_bytes().unwrap(), first.to_bytes().unwrap());
        assert_eq!(read.info(), first.info());
    }

    pub async fn read_returns_exact_bytes(s: Arc<dyn Storage>) {
        let m = module("acme", "vpc", "aws");
        for (ver, format) in [
            ("1.0.0", ArchiveFormat::TarGz),
            ("1.1.0", ArchiveFormat::Zip),
        ] {
            let a = archive(format, 9, 1000);
            s.publish(&m, &v(ver), &a).await.expect("publish");
            let read = s.read_archive(&m, &v(ver)).await.expect("read");
            assert_eq!(read.to_bytes().unwrap(), a.to_bytes().unwrap(), "{ver}");
            assert_eq!(read.info(), a.info(), "{ver}");
        }
    }

    pub async fn locate_reports_format_digest_and_size(s: Arc<dyn Storage>) {
        let m = module("acme", "vpc", "aws");
        for (ver, format) in [
            ("1.0.0", ArchiveFormat::TarGz),
            ("1.1.0", ArchiveFormat::Zip),
        ] {
            let a = archive(format, 3, 777);
            s.publish(&m, &v(ver), &a).await.expect("publish");
            let loc = s.locate_archive(&m, &v(ver)).await.expect("locate");
            assert_eq!(&loc.info, a.info(), "{ver}");
            if let ArchiveAccess::Presigned { url } = &loc.access {
                let path = url.split('?').next().unwrap_or_default();
                assert!(
                    path.ends_with(format.suffix()),
                    "presigned path must end in {}: {url}",
                    format.suffix()
                );
            }
        }
    }

    pub async fn missing_version_is_not_found(s: Arc<dyn Storage>) {
        let m = module("acme", "vpc", "aws");
        s.publish(&m, &v("1.0.0"), &archive(ArchiveFormat::TarGz, 0, 10))
            .await
            .expect("publish");
        let missing = v("1.0.1");
        assert!(matches!(
            s.read_archive(&m, &missing).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            s.locate_archive(&m, &missing).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            s.delete_version(&m, &missing).await,
            Err(StorageError::NotFound)
        ));
        let other = module("acme", "other", "aws");
        assert!(matches!(
            s.read_archive(&other, &v("1.0.0")).await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            s.delete_version(&other, &v("1.0.0")).await,
            Err(StorageError::NotFound)
        ));
    }

    pub async fn delete_then_republish(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 50))
            .await
            .expect("publish");
        s.publish(&m, &v("1.1.0"), &archive(ArchiveFormat::TarGz, 2, 50))
            .await
            .expect("publish");
        s.delete_version(&m, &ver).await.expect("delete");
        assert!(matches!(
            s.read_archive(&m, &ver).await,
            Err(StorageError::NotFound)
        ));
        assert_eq!(sorted(s.list_versions(&m).await.expect("list")), ["1.1.0"]);
        let again = archive(ArchiveFormat::Zip, 7, 80);
        s.publish(&m, &ver, &again)
            .await
            .expect("republish after delete");
        let read = s.read_archive(&m, &ver).await.expect("read");
        assert_eq!(read.to_bytes().unwrap(), again.to_bytes().unwrap());
        assert_eq!(
            s.locate_archive(&m, &ver).await.expect("locate").info,
            *again.info()
        );
    }

    pub async fn modules_are_isolated(s: Arc<dyn Storage>) {
        let mods = [
            module("a", "b", "c"),
            module("a", "bb", "c"),
            module("a", "b", "cc"),
            module("ab", "b", "c"),
            module("A", "b", "c"),
        ];
        for (i, m) in mods.iter().enumerate() {
            s.publish(
                m,
                &v(&format!("{i}.0.0")),
                &archive(ArchiveFormat::TarGz, i as u8, 20),
            )
            .await
            .expect("publish");
        }
        for (i, m) in mods.iter().enumerate() {
            assert_eq!(
                sorted(s.list_versions(m).await.expect("list")),
                [format!("{i}.0.0")],
                "{m}"
            );
        }
    }

    pub async fn prerelease_and_build_versions_round_trip(s: Arc<dyn Storage>) {
        let m = module("acme", "vpc", "aws");
        let versions = [
            "1.0.0-rc.1",
            "1.0.0-alpha.beta-2",
            "1.0.0+build.5",
            "0.0.1-x.7.z.92",
        ];
        for (i, ver) in versions.iter().enumerate() {
            s.publish(&m, &v(ver), &archive(ArchiveFormat::TarGz, i as u8, 20))
                .await
                .expect("publish");
        }
        let mut expected: Vec<Version> = versions.iter().map(|s| v(s)).collect();
        expected.sort();
        let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
        assert_eq!(sorted(s.list_versions(&m).await.expect("list")), expected);
        for (i, ver) in versions.iter().enumerate() {
            let read = s.read_archive(&m, &v(ver)).await.expect("read");
            assert_eq!(
                read.to_bytes().unwrap(),
                archive(ArchiveFormat::TarGz, i as u8, 20)
                    .to_bytes()
                    .unwrap(),
                "{ver}"
            );
        }
    }

    pub async fn large_archive_round_trips(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "big", "aws"), v("1.0.0"));
        let a = archive(ArchiveFormat::TarGz, 5, 6 * 1024 * 1024 + 17);
        s.publish(&m, &ver, &a).await.expect("publish");
        let read = s.read_archive(&m, &ver).await.expect("read");
        assert_eq!(read.info(), a.info());
        assert!(
            read.to_bytes().unwrap() == a.to_bytes().unwrap(),
            "bytes differ"
        );
    }

    pub async fn concurrent_publishes_have_one_winner(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "race", "aws"), v("1.0.0"));
        let tasks: Vec<_> = (0..16u8)
            .map(|i| {
                let (s, m, ver) = (s.clone(), m.clone(), ver.clone());
                tokio::spawn(async move {
                    let a = archive(ArchiveFormat::TarGz, i, 4096 + usize::from(i));
                    (s.publish(&m, &ver, &a).await, a)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("task") {
                (Ok(()), a) => winners.push(a),
                (Err(StorageError::AlreadyExists), _) => {}
                (Err(e), _) => panic!("a losing publish must be AlreadyExists, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of 16 racing publishes wins");
        let read = s.read_archive(&m, &ver).await.expect("read");
        assert_eq!(
            read.to_bytes().unwrap(),
            winners[0].to_bytes().unwrap(),
            "stored bytes are the winner's"
        );
        assert_eq!(sorted(s.list_versions(&m).await.expect("list")), ["1.0.0"]);
    }

    pub async fn metadata_round_trips_and_is_replaced(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 64))
            .await
            .expect("publish");
        let doc = Bytes::from_static(br##"{"root":{"readme":"# VPC"}}"##);
        s.write_metadata(&m, &ver, doc.clone())
            .await
            .expect("write metadata");
        assert_eq!(s.read_metadata(&m, &ver).await.expect("read"), doc);
        let newer = Bytes::from(vec![b'x'; 300 * 1024]);
        s.write_metadata(&m, &ver, newer.clone())
            .await
            .expect("write metadata again");
        assert_eq!(
            s.read_metadata(&m, &ver).await.expect("read again"),
            newer,
            "the last write wins"
        );
        let other = v("1.1.0");
        s.publish(&m, &other, &archive(ArchiveFormat::Zip, 2, 64))
            .await
            .expect("publish");
        assert!(
            matches!(
                s.read_metadata(&m, &other).await,
                Err(StorageError::NotFound)
            ),
            "a version's document is its own"
        );
    }

    pub async fn metadata_of_missing_version_is_not_found(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        let err = s.read_metadata(&m, &ver).await.unwrap_err();
        assert!(matches!(err, StorageError::NotFound), "{err:?}");
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 64))
            .await
            .expect("publish");
        let err = s.read_metadata(&m, &ver).await.unwrap_err();
        assert!(
            matches!(err, StorageError::NotFound),
            "a version without a document: {err:?}"
        );
    }

    pub async fn delete_removes_metadata(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 64))
            .await
            .expect("publish");
        s.write_metadata(&m, &ver, Bytes::from_static(b"{}"))
            .await
            .expect("write metadata");
        s.delete_version(&m, &ver).await.expect("delete");
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 2, 64))
            .await
            .expect("publish again");
        let err = s.read_metadata(&m, &ver).await.unwrap_err();
        assert!(
            matches!(err, StorageError::NotFound),
            "a republished version has no document until one is written: {err:?}"
        );
    }

    pub async fn metadata_does_not_make_a_version(s: Arc<dyn Storage>) {
        let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
        let err = s
            .write_metadata(&m, &ver, Bytes::from_static(b"{}"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StorageError::NotFound),
            "a document for a version that does not exist: {err:?}"
        );
        assert!(s.list_versions(&m).await.expect("list").is_empty());
        assert!(matches!(
            s.locate_archive(&m, &ver).await,
            Err(StorageError::NotFound)
        ));
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 64))
            .await
            .expect("the version can still be published");
    }

    pub async fn probe_answers_empty_and_full(s: Arc<dyn Storage>) {
        s.probe().await.expect("probe of an empty store");
        s.publish(
            &module("acme", "vpc", "aws"),
            &v("1.0.0"),
            &archive(ArchiveFormat::TarGz, 7, 64),
        )
        .await
        .expect("publish");
        s.probe().await.expect("probe of a store with a module");
    }

    pub async fn list_modules_lists_each_module_once(s: Arc<dyn Storage>) {
        assert!(s.list_modules().await.expect("list").is_empty());
        let modules = [
            module("acme", "vpc", "aws"),
            module("acme", "vpc", "google"),
            module("acme", "dns", "aws"),
            module("other", "vpc", "aws"),
        ];
        for (i, m) in modules.iter().enumerate() {
            for ver in ["1.0.0", "1.1.0"] {
                s.publish(m, &v(ver), &archive(ArchiveFormat::TarGz, i as u8, 64))
                    .await
                    .expect("publish");
            }
            s.write_metadata(m, &v("1.0.0"), Bytes::from_static(b"{}"))
                .await
                .expect("write metadata");
        }
        let mut listed = s.list_modules().await.expect("list");
        listed.sort();
        let mut expected = modules.to_vec();
        expected.sort();
        assert_eq!(listed, expected);
        for ver in ["1.0.0", "1.1.0"] {
            s.delete_version(&modules[3], &v(ver))
                .await
                .expect("delete");
        }
        let listed = s.list_modules().await.expect("list");
        assert!(
            !listed.contains(&modules[3]),
            "a module without versions is not listed: {listed:?}"
        );
        assert_eq!(listed.len(), 3);
    }
}

/// Checks of the [`CatalogueStore`](crate::CatalogueStore) contract.
pub mod catalogue_store {
    use super::*;
    use crate::CatalogueStore;

    pub async fn empty_store_loads_none(s: Arc<dyn CatalogueStore>) {
        assert_eq!(s.load().await.expect("load"), None);
    }

    pub async fn first_store_needs_no_tag(s: Arc<dyn CatalogueStore>) {
        let tag = s
            .store(Bytes::from_static(b"one"), None)
            .await
            .expect("store");
        let loaded = s.load().await.expect("load").expect("stored");
        assert_eq!(loaded.bytes, &b"one"[..]);
        assert_eq!(loaded.tag, tag);
        let err = s.store(Bytes::from_static(b"two"), None).await.unwrap_err();
        assert!(
            matches!(err, StorageError::Conflict),
            "storing as if absent over an existing snapshot: {err:?}"
        );
        assert_eq!(s.load().await.unwrap().unwrap().bytes, &b"one"[..]);
    }

    pub async fn store_with_current_tag_replaces(s: Arc<dyn CatalogueStore>) {
        let first = s.store(Bytes::from_static(b"one"), None).await.unwrap();
        let second = s
            .store(Bytes::from_static(b"two"), Some(&first))
            .await
            .expect("store with the current tag");
        assert_ne!(first, second, "a new write has a new tag");
        let loaded = s.load().await.unwrap().unwrap();
        assert_eq!(
            (loaded.bytes, loaded.tag),
            (Bytes::from_static(b"two"), second)
        );
    }

    pub async fn store_with_stale_tag_conflicts(s: Arc<dyn CatalogueStore>) {
        let first = s.store(Bytes::from_static(b"one"), None).await.unwrap();
        let second = s
            .store(Bytes::from_static(b"two"), Some(&first))
            .await
            .unwrap();
        let err = s
            .store(Bytes::from_static(b"three"), Some(&first))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict), "{err:?}");
        let loaded = s.load().await.unwrap().unwrap();
        assert_eq!(
            (loaded.bytes, loaded.tag),
            (Bytes::from_static(b"two"), second)
        );
    }

    pub async fn concurrent_stores_have_one_winner(s: Arc<dyn CatalogueStore>) {
        let base = s.store(Bytes::from_static(b"base"), None).await.unwrap();
        let tasks: Vec<_> = (0..16u8)
            .map(|i| {
                let (s, base) = (s.clone(), base.clone());
                tokio::spawn(async move {
                    let bytes = Bytes::from(vec![i; 1000 + usize::from(i)]);
                    (s.store(bytes.clone(), Some(&base)).await, bytes)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("task") {
                (Ok(tag), bytes) => winners.push((tag, bytes)),
                (Err(StorageError::Conflict), _) => {}
                (Err(e), _) => panic!("a losing store must be Conflict, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of 16 racing stores wins");
        let loaded = s.load().await.unwrap().unwrap();
        assert_eq!(
            loaded.bytes, winners[0].1,
            "the stored bytes are the winner's"
        );
        assert_eq!(loaded.tag, winners[0].0);
    }

    pub async fn load_if_changed_answers_unchanged_changed_or_missing(s: Arc<dyn CatalogueStore>) {
        use crate::catalogue::SnapshotRead;
        let unknown = crate::SnapshotTag("never-stored".into());
        assert_eq!(
            s.load_if_changed(&unknown).await.unwrap(),
            SnapshotRead::Missing
        );
        let first = s.store(Bytes::from_static(b"one"), None).await.unwrap();
        assert_eq!(
            s.load_if_changed(&first).await.unwrap(),
            SnapshotRead::Unchanged
        );
        match s.load_if_changed(&unknown).await.unwrap() {
            SnapshotRead::Changed(stored) => {
                assert_eq!(
                    (stored.bytes, stored.tag),
                    (Bytes::from_static(b"one"), first.clone())
                )
            }
            other => panic!("a tag that is not the stored one is Changed, got {other:?}"),
        }
        let second = s
            .store(Bytes::from_static(b"two"), Some(&first))
            .await
            .unwrap();
        match s.load_if_changed(&first).await.unwrap() {
            SnapshotRead::Changed(stored) => {
                assert_eq!(
                    (stored.bytes, stored.tag),
                    (Bytes::from_static(b"two"), second.clone())
                )
            }
            other => panic!("after a write the old tag is Changed, got {other:?}"),
        }
        assert_eq!(
            s.load_if_changed(&second).await.unwrap(),
            SnapshotRead::Unchanged
        );
    }

    pub async fn large_snapshot_round_trips(s: Arc<dyn CatalogueStore>) {
        let bytes: Bytes = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let tag = s.store(bytes.clone(), None).await.unwrap();
        let loaded = s.load().await.unwrap().unwrap();
        assert_eq!(loaded.tag, tag);
        assert!(loaded.bytes == bytes, "8 MiB come back byte for byte");
    }
}

/// Checks of the [`TokenStore`] contract.
pub mod token_store {
    use super::*;

    fn record(name: &str, tier: Tier) -> (NewToken, TokenRecord) {
        let token = NewToken::generate();
        let record = TokenRecord {
            name: name.to_owned(),
            tier,
            hash: token.hash(),
            // Whole seconds: stores need not keep more.
            created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            expires_at: None,
            namespaces: None,
            created_by: None,
        };
        (token, record)
    }

    pub async fn namespaces_and_creator_are_kept(s: Arc<dyn TokenStore>) {
        let (token, mut scoped) = record("ci", Tier::Uploader);
        scoped.namespaces = Some(
            catalogue_index::NamespaceScope::from_patterns(["acme", "platform-*"])
                .expect("patterns"),
        );
        scoped.created_by = Some("github:acme/infra@refs/heads/main".to_owned());
        s.create(&scoped).await.expect("create");
        let (_, mut empty) = record("none", Tier::Downloader);
        // The empty scope (no namespace at all) is not the absent one.
        empty.namespaces = Some(catalogue_index::NamespaceScope::default());
        s.create(&empty).await.expect("create");
        let found = s
            .find_by_hash(&token.hash())
            .await
            .expect("find")
            .expect("present");
        assert_eq!(found, scoped);
        let mut listed = s.list().await.expect("list");
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(listed, vec![scoped, empty]);
    }

    pub async fn expiry_is_kept_to_the_second_and_expired_records_are_found(
        s: Arc<dyn TokenStore>,
    ) {
        let (token, mut expiring) = record("ci", Tier::Uploader);
        expiring.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_900));
        s.create(&expiring).await.expect("create");
        let (_, forever) = record("ops", Tier::Downloader);
        s.create(&forever).await.expect("create");
        // Long expired: the store still finds it (the registry refuses it).
        let found = s
            .find_by_hash(&token.hash())
            .await
            .expect("find")
            .expect("present");
        assert_eq!(found, expiring);
        assert!(found.is_expired(SystemTime::now()));
        let mut listed = s.list().await.expect("list");
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(listed, vec![expiring, forever]);
    }

    pub async fn create_then_find_by_hash(s: Arc<dyn TokenStore>) {
        let (token, rec) = record("ci", Tier::Uploader);
        s.create(&rec).await.expect("create");
        let found = s
            .find_by_hash(&token.hash())
            .await
            .expect("find")
            .expect("present");
        assert_eq!(found, rec);
    }

    pub async fn unknown_hash_is_none(s: Arc<dyn TokenStore>) {
        let (_, rec) = record("ci", Tier::Uploader);
        s.create(&rec).await.expect("create");
        let other = NewToken::generate();
        assert_eq!(s.find_by_hash(&other.hash()).await.expect("find"), None);
    }

    pub async fn taken_name_conflicts_and_keeps_original(s: Arc<dyn TokenStore>) {
        let (first_token, first) = record("ci", Tier::Downloader);
        s.create(&first).await.expect("create");
        let (second_token, second) = record("ci", Tier::Uploader);
        let err = s.create(&second).await.expect_err("taken name");
        assert!(matches!(err, StorageError::AlreadyExists), "{err:?}");
        assert_eq!(
            s.find_by_hash(&first_token.hash()).await.expect("find"),
            Some(first)
        );
        assert_eq!(
            s.find_by_hash(&second_token.hash()).await.expect("find"),
            None
        );
    }

    pub async fn list_returns_every_record(s: Arc<dyn TokenStore>) {
        assert!(s.list().await.expect("list").is_empty());
        let mut recs: Vec<TokenRecord> = [
            ("a", Tier::Downloader),
            ("b.c", Tier::Uploader),
            ("z-9_x", Tier::Master),
        ]
        .into_iter()
        .map(|(n, t)| record(n, t).1)
        .collect();
        for r in &recs {
            s.create(r).await.expect("create");
        }
        let mut listed = s.list().await.expect("list");
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(listed, recs);
    }

    pub async fn delete_revokes_and_frees_the_name(s: Arc<dyn TokenStore>) {
        let (token, rec) = record("ci", Tier::Uploader);
        s.create(&rec).await.expect("create");
        s.delete("ci").await.expect("delete");
        assert_eq!(s.find_by_hash(&token.hash()).await.expect("find"), None);
        assert!(s.list().await.expect("list").is_empty());
        let (new_token, new_rec) = record("ci", Tier::Downloader);
        s.create(&new_rec)
            .await
            .expect("name reusable after delete");
        assert_eq!(
            s.find_by_hash(&new_token.hash()).await.expect("find"),
            Some(new_rec)
        );
        assert_eq!(s.find_by_hash(&token.hash()).await.expect("find"), None);
    }

    pub async fn delete_missing_is_not_found(s: Arc<dyn TokenStore>) {
        assert!(matches!(
            s.delete("nobody").await,
            Err(StorageError::NotFound)
        ));
    }

    pub async fn concurrent_creates_have_one_winner(s: Arc<dyn TokenStore>) {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    let (token, rec) = record("race", Tier::Uploader);
                    (s.create(&rec).await, token, rec)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.expect("task") {
                (Ok(()), token, rec) => winners.push((token, rec)),
                (Err(StorageError::AlreadyExists), _, _) => {}
                (Err(e), _, _) => panic!("a losing create must be AlreadyExists, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of 16 racing creates wins");
        let (token, rec) = &winners[0];
        assert_eq!(
            s.find_by_hash(&token.hash()).await.expect("find").as_ref(),
            Some(rec)
        );
        assert_eq!(s.list().await.expect("list").len(), 1);
    }
}

/// Checks of the [`PinStore`] contract.
pub mod pin_store {
    use super::*;

    fn pin(m: &ModuleAddress, ver: &str, source: &str) -> PinRecord {
        PinRecord::new(
            m.clone(),
            v(ver),
            "registry.example.com",
            source,
            Some(format!("v{ver}")),
            Sha256Digest::of(source.as_bytes()),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    fn sorted(mut pins: Vec<PinRecord>) -> Vec<PinRecord> {
        pins.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
        pins
    }

    pub async fn put_then_list(s: Arc<dyn PinStore>) {
        assert!(s.list().await.expect("list").is_empty());
        let m = module("hashicorp", "consul", "aws");
        let a = pin(&m, "0.1.0", "https://example.com/a.tar.gz");
        let mut b = pin(
            &m,
            "0.2.0-rc.1+build.5",
            "git::https://github.com/o/r?ref=x",
        );
        b.git_ref = None;
        s.put(&a).await.expect("put");
        s.put(&b).await.expect("put");
        assert_eq!(sorted(s.list().await.expect("list")), sorted(vec![a, b]));
    }

    pub async fn put_replaces_the_same_version(s: Arc<dyn PinStore>) {
        let m = module("hashicorp", "consul", "aws");
        s.put(&pin(&m, "1.0.0", "https://example.com/old.zip"))
            .await
            .expect("put");
        let new = pin(&m, "1.0.0", "https://example.com/new.zip");
        s.put(&new).await.expect("second put replaces");
        assert_eq!(s.list().await.expect("list"), vec![new]);
    }

    pub async fn versions_and_modules_are_distinct(s: Arc<dyn PinStore>) {
        let records = vec![
            pin(&module("a", "b", "c"), "1.0.0", "s1"),
            pin(&module("a", "b", "d"), "1.0.0", "s2"),
            pin(&module("a", "bb", "c"), "1.0.0", "s3"),
            pin(&module("A", "b", "c"), "1.0.0", "s4"),
            pin(&module("a", "b", "c"), "1.0.0-beta", "s5"),
            pin(&module("a", "b", "c"), "1.0.0+x", "s6"),
        ];
        for r in &records {
            s.put(r).await.expect("put");
        }
        assert_eq!(sorted(s.list().await.expect("list")), sorted(records));
    }

    pub async fn delete_forgets_one_record(s: Arc<dyn PinStore>) {
        let m = module("acme", "vpc", "aws");
        let keep = pin(&m, "1.0.0", "s1");
        s.put(&keep).await.expect("put");
        s.put(&pin(&m, "2.0.0", "s2")).await.expect("put");
        s.delete(&m, &v("2.0.0")).await.expect("delete");
        assert_eq!(s.list().await.expect("list"), vec![keep]);
        s.put(&pin(&m, "2.0.0", "s3"))
            .await
            .expect("put after delete");
        assert_eq!(s.list().await.expect("list").len(), 2);
    }

    pub async fn delete_missing_is_not_found(s: Arc<dyn PinStore>) {
        let m = module("acme", "vpc", "aws");
        assert!(matches!(
            s.delete(&m, &v("1.0.0")).await,
            Err(StorageError::NotFound)
        ));
        s.put(&pin(&m, "1.0.0", "s")).await.expect("put");
        assert!(matches!(
            s.delete(&m, &v("1.0.1")).await,
            Err(StorageError::NotFound)
        ));
    }

    pub async fn concurrent_puts_all_land(s: Arc<dyn PinStore>) {
        let m = module("acme", "vpc", "aws");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (s, m) = (s.clone(), m.clone());
                tokio::spawn(async move { s.put(&pin(&m, &format!("1.0.{i}"), "s")).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("put");
        }
        assert_eq!(s.list().await.expect("list").len(), 16);
    }
}

// --- audit log ------------------------------------------------------------------

#[async_trait]
impl<S: crate::audit::AuditLog, G: Send + Sync + std::fmt::Debug + 'static> crate::audit::AuditLog
    for KeepAlive<S, G>
{
    async fn append(&self, event: &crate::audit::AuditEvent) -> Result<(), StorageError> {
        self.store.append(event).await
    }

    async fn list(
        &self,
        after: Option<&crate::audit::AuditId>,
        limit: usize,
    ) -> Result<Vec<crate::audit::AuditEvent>, StorageError> {
        self.store.list(after, limit).await
    }
}

/// Expands into one `#[tokio::test]` per audit-log check. `$make` is a
/// closure returning a future of a fresh, empty `Arc<dyn AuditLog>`.
#[macro_export]
macro_rules! audit_log_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks!($make, audit_log;
            empty_log_lists_nothing,
            appended_events_come_back_equal_newest_first,
            pages_walk_every_event_once_across_days,
            limit_is_respected,
            duplicate_id_is_refused_and_the_first_kept,
            concurrent_appends_lose_none,
            after_an_id_not_in_the_log_pages_from_its_position,
        );
    };
}

/// Checks of the [`AuditLog`](crate::audit::AuditLog) contract.
pub mod audit_log {
    use std::collections::HashSet;

    use super::*;
    use crate::audit::{AuditAction, AuditEvent, AuditId, AuditLog};

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// 2027-01-15T08:00:00Z: a fixed instant, so the days events fall on are known.
    fn base() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// A distinct event at `time` (`n` goes into the target).
    fn event(time: SystemTime, n: usize) -> AuditEvent {
        AuditEvent::new(
            time,
            "ci",
            AuditAction::Publish,
            format!("acme/vpc/aws/1.0.{n}"),
            201,
            None,
        )
    }

    /// `events` in the order a log lists them: newest first.
    fn newest_first(mut events: Vec<AuditEvent>) -> Vec<AuditEvent> {
        events.sort_by(|a, b| a.id.cmp(&b.id));
        events
    }

    /// Every event, walked in pages of `size`, checking each page's length.
    async fn walk(s: &dyn AuditLog, size: usize) -> Vec<AuditEvent> {
        let mut all: Vec<AuditEvent> = Vec::new();
        loop {
            let page = s.list(all.last().map(|e| &e.id), size).await.expect("list");
            assert!(page.len() <= size, "a page of {size} held {}", page.len());
            let done = page.len() < size;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    pub async fn empty_log_lists_nothing(s: Arc<dyn AuditLog>) {
        assert!(s.list(None, 10).await.expect("list").is_empty());
        let anywhere = AuditId::new(base());
        assert!(s.list(Some(&anywhere), 10).await.expect("list").is_empty());
    }

    pub async fn appended_events_come_back_equal_newest_first(s: Arc<dyn AuditLog>) {
        let t = base() + Duration::from_micros(123_456);
        let events = vec![
            AuditEvent::new(
                t,
                "master",
                AuditAction::CreateToken,
                "ci",
                201,
                None,
            ),
            AuditEvent::new(
                t + Duration::from_micros(1),
                "invalid token",
                AuditAction::Delete,
                "acme/vpc/aws/1.0.0",
                401,
                Some("the token is not valid: create a new one".into()),
            ),
            AuditEvent::new(
                t - DAY,
                "oidc:https://token.actions.githubusercontent.com repo:acme/infra:ref:refs/heads/main",
                AuditAction::ExchangeOidc,
                "",
                403,
                Some("no rule matches \"ünïcode\" / \"quotes\"".into()),
            ),
            // A time with nanoseconds: events keep microseconds only.
            AuditEvent::new(
                SystemTime::now(),
                "aws:arn:aws:iam::123456789012:role/ci",
                AuditAction::ExchangeAws,
                "exchanged-1",
                200,
                None,
            ),
            AuditEvent::new(t + DAY, "ops", AuditAction::Pin, "hashicorp/consul/aws/0.1.0", 201, None),
        ];
        // Appended in an order that is not the listing's.
        for e in &events {
            s.append(e).await.expect("append");
        }
        assert_eq!(s.list(None, 100).await.expect("list"), newest_first(events));
    }

    pub async fn pages_walk_every_event_once_across_days(s: Arc<dyn AuditLog>) {
        // 37 events over 6 days (some days hold several, one day none), one
        // pair a microsecond apart, appended oldest first.
        let mut events = Vec::new();
        for n in 0..37u32 {
            let day = [0, 0, 1, 1, 1, 3, 4, 4, 5][(n % 9) as usize];
            let time = base() + DAY * day + Duration::from_secs(u64::from(n) * 61);
            events.push(event(time, n as usize));
        }
        events.push(event(events[36].time + Duration::from_micros(1), 37));
        for e in &events {
            s.append(e).await.expect("append");
        }
        let expected = newest_first(events);
        for size in [1, 2, 3, 5, 7, 10, 37, 38, 39, 100] {
            let walked = walk(&*s, size).await;
            let ids: HashSet<&AuditId> = walked.iter().map(|e| &e.id).collect();
            assert_eq!(ids.len(), walked.len(), "pages of {size} repeated an event");
            assert_eq!(walked, expected, "pages of {size}");
        }
    }

    pub async fn limit_is_respected(s: Arc<dyn AuditLog>) {
        let events: Vec<AuditEvent> = (0..10)
            .map(|n| event(base() + Duration::from_secs(3_600) * n as u32, n))
            .collect();
        for e in &events {
            s.append(e).await.expect("append");
        }
        let expected = newest_first(events);
        assert!(s.list(None, 0).await.expect("list").is_empty());
        assert_eq!(s.list(None, 1).await.expect("list"), expected[..1]);
        assert_eq!(s.list(None, 3).await.expect("list"), expected[..3]);
        assert_eq!(
            s.list(Some(&expected[0].id), 4).await.expect("list"),
            expected[1..5]
        );
        assert_eq!(
            s.list(Some(&expected[7].id), 4).await.expect("list"),
            expected[8..]
        );
        assert!(s
            .list(Some(&expected[9].id), 4)
            .await
            .expect("list")
            .is_empty());
        assert_eq!(s.list(None, usize::MAX).await.expect("list"), expected);
    }

    pub async fn duplicate_id_is_refused_and_the_first_kept(s: Arc<dyn AuditLog>) {
        let first = event(base(), 1);
        s.append(&first).await.expect("append");
        let mut second = AuditEvent::new(
            base() + DAY,
            "someone else",
            AuditAction::DeleteToken,
            "ci",
            404,
            Some("no such token".into()),
        );
        second.id = first.id.clone();
        let err = s.append(&second).await.expect_err("a taken id");
        assert!(matches!(err, StorageError::AlreadyExists), "{err:?}");
        let err = s.append(&first).await.expect_err("the same event again");
        assert!(matches!(err, StorageError::AlreadyExists), "{err:?}");
        assert_eq!(s.list(None, 10).await.expect("list"), vec![first]);
    }

    pub async fn concurrent_appends_lose_none(s: Arc<dyn AuditLog>) {
        const TASKS: usize = 20;
        const EACH: usize = 10;
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut appended = Vec::new();
                    for i in 0..EACH {
                        let n = task * EACH + i;
                        // Spread over three days; several tasks share instants.
                        let time = base() + DAY * (n % 3) as u32 + Duration::from_micros(i as u64);
                        let e = event(time, n);
                        s.append(&e).await.expect("append");
                        appended.push(e);
                    }
                    appended
                })
            })
            .collect();
        let mut appended = Vec::new();
        for t in tasks {
            appended.extend(t.await.expect("task"));
        }
        let listed = s.list(None, 1_000).await.expect("list");
        assert_eq!(listed.len(), TASKS * EACH, "every append is listed once");
        assert_eq!(listed, newest_first(appended));
    }

    pub async fn after_an_id_not_in_the_log_pages_from_its_position(s: Arc<dyn AuditLog>) {
        // Four events on four days, then cursors between, before and after them.
        let events: Vec<AuditEvent> = (0..4)
            .map(|n| event(base() + DAY * 2 * n as u32, n))
            .collect();
        for e in &events {
            s.append(e).await.expect("append");
        }
        let expected = newest_first(events.clone());
        let at = |t: SystemTime| AuditId::new(t);
        let list = |after: AuditId, limit: usize| {
            let s = s.clone();
            async move { s.list(Some(&after), limit).await.expect("list") }
        };
        // Between events[1] and events[2]: on a day with no event.
        let between = at(events[1].time + DAY);
        assert_eq!(list(between.clone(), 10).await, expected[2..]);
        assert_eq!(list(between, 1).await, expected[2..3]);
        // On the same day as events[2], a second earlier.
        let same_day = at(events[2].time - Duration::from_secs(1));
        assert_eq!(list(same_day, 10).await, expected[2..]);
        // On the same day as events[2], a second later.
        let later_same_day = at(events[2].time + Duration::from_secs(1));
        assert_eq!(list(later_same_day, 10).await, expected[1..]);
        // Newer than every event, and older than every event.
        assert_eq!(list(at(SystemTime::now() + DAY * 365), 10).await, expected);
        assert!(list(at(events[0].time - DAY * 30), 10).await.is_empty());
        assert!(list(at(SystemTime::UNIX_EPOCH), 10).await.is_empty());
        // A cursor past every id an event can have, and one before all.
        let past = AuditId::cursor("99999999999999999999-0123456789abcdef").expect("a cursor");
        assert!(list(past, 10).await.is_empty());
        let first = AuditId::cursor("00000000000000000000-0000000000000000").expect("a cursor");
        assert_eq!(list(first, 10).await, expected);
    }
}
