//! [`Forward`]: a store that passes every call to an inner one except those
//! its overrides replace, and the two ready-made overrides, [`Faults`] and
//! [`Counts`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use crate::memory::{InMemoryPinStore, InMemoryStorage, InMemoryTokenStore};
use crate::pins::{PinRecord, PinStore};
use crate::storage::{Archive, ArchiveLocation, Storage, StorageError};
use crate::tokens::{TokenHash, TokenRecord, TokenStore};
use crate::{ModuleAddress, Version};

// -- the calls -----------------------------------------------------------------

/// A [`Storage`] method, as [`Faults`] and [`Counts`] name it: the names
/// telemetry uses.
pub type StorageCall = crate::telemetry::StorageOperation;

/// A [`TokenStore`] method, as [`Faults`] and [`Counts`] name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStoreCall {
    /// [`TokenStore::create`].
    Create,
    /// [`TokenStore::find_by_hash`].
    FindByHash,
    /// [`TokenStore::list`].
    List,
    /// [`TokenStore::delete`].
    Delete,
}

/// A [`PinStore`] method, as [`Faults`] and [`Counts`] name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinStoreCall {
    /// [`PinStore::put`].
    Put,
    /// [`PinStore::list`].
    List,
    /// [`PinStore::delete`].
    Delete,
}

/// An [`Upstream`](crate::Upstream) method, as
/// [`InMemoryUpstream`](super::InMemoryUpstream)'s faults and counts name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamCall {
    /// [`Upstream::list_versions`](crate::Upstream::list_versions).
    ListVersions,
    /// [`Upstream::download_location`](crate::Upstream::download_location).
    DownloadLocation,
    /// [`Upstream::fetch_archive`](crate::Upstream::fetch_archive).
    FetchArchive,
    /// [`Upstream::probe`](crate::Upstream::probe).
    Probe,
}

// -- Forward -------------------------------------------------------------------

/// A store that forwards every call to `inner`, through `overrides`: the
/// overrides' methods receive the inner store and, unless a method is
/// overridden, forward to it between their `before` and `after` hooks.
///
/// It is a [`Storage`], [`TokenStore`] or [`PinStore`] when `inner` is one
/// and `O` implements [`StorageOverrides`], [`TokenStoreOverrides`] or
/// [`PinStoreOverrides`]. Decorators nest: a
/// `CountingStorage<FailingStorage>` counts the calls a failing storage gets.
/// In expressions, name the inner store (`FailingStorage::wrap(InMemoryStorage::new())`):
/// the aliases' default inner store applies only where a type is written.
///
/// A decorator that changes one method implements that one:
///
/// ```
/// use async_trait::async_trait;
/// use registry_core::memory::InMemoryStorage;
/// use registry_core::testing::{Forward, StorageOverrides};
/// use registry_core::{ArchiveAccess, ArchiveLocation, ModuleAddress, Storage, StorageError, Version};
///
/// /// Answers a presigned URL for every stored archive.
/// #[derive(Debug)]
/// struct Presigning;
///
/// #[async_trait]
/// impl StorageOverrides for Presigning {
///     async fn locate_archive(
///         &self,
///         inner: &dyn Storage,
///         module: &ModuleAddress,
///         version: &Version,
///     ) -> Result<ArchiveLocation, StorageError> {
///         let mut location = inner.locate_archive(module, version).await?;
///         location.access = ArchiveAccess::Presigned {
///             url: format!("https://cdn.example/{module}/{version}.tar.gz"),
///         };
///         Ok(location)
///     }
/// }
///
/// let storage = Forward::new(InMemoryStorage::new(), Presigning);
/// # let _: &dyn Storage = &storage;
/// ```
#[derive(Debug, Default)]
pub struct Forward<S, O> {
    inner: S,
    overrides: O,
}

impl<S, O> Forward<S, O> {
    /// `inner` behind `overrides`.
    pub fn new(inner: S, overrides: O) -> Self {
        Self { inner, overrides }
    }

    /// `inner` behind the default overrides (no faults, zero counts).
    pub fn wrap(inner: S) -> Self
    where
        O: Default,
    {
        Self::new(inner, O::default())
    }

    /// The wrapped store: calls made on it directly bypass the overrides.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The overrides.
    pub fn overrides(&self) -> &O {
        &self.overrides
    }
}

impl<S, C, E> Forward<S, Faults<C, E>> {
    /// The faults to inject: what fails, and how.
    pub fn faults(&self) -> &Faults<C, E> {
        &self.overrides
    }
}

impl<S, C> Forward<S, Counts<C>> {
    /// How often each method was called.
    pub fn counts(&self) -> &Counts<C> {
        &self.overrides
    }
}

/// `before`, then `call` unless `before` failed, then `after` if it succeeded.
async fn around<T, E>(
    before: Result<(), E>,
    call: impl Future<Output = Result<T, E>>,
    after: impl FnOnce() -> Result<(), E>,
) -> Result<T, E> {
    before?;
    let value = call.await?;
    after()?;
    Ok(value)
}

/// What a [`Forward`] does with each [`Storage`] call. Every method has a
/// default that runs [`before`](Self::before), forwards to `inner` and then
/// runs [`after`](Self::after) if the call succeeded; override the ones to
/// change.
#[async_trait]
pub trait StorageOverrides: Send + Sync + fmt::Debug + 'static {
    /// Runs before a forwarded call; an error is returned instead of calling `inner`.
    ///
    /// # Errors
    /// What the call should fail with.
    fn before(&self, call: StorageCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// Runs after a forwarded call that succeeded; an error replaces its answer.
    ///
    /// # Errors
    /// What the call should report although it took effect.
    fn after(&self, call: StorageCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// [`Storage::publish`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn publish(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        let call = StorageCall::Publish;
        around(
            self.before(call),
            inner.publish(module, version, archive),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::list_versions`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn list_versions(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
    ) -> Result<Vec<Version>, StorageError> {
        let call = StorageCall::ListVersions;
        around(self.before(call), inner.list_versions(module), || {
            self.after(call)
        })
        .await
    }

    /// [`Storage::read_archive`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn read_archive(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        let call = StorageCall::ReadArchive;
        around(
            self.before(call),
            inner.read_archive(module, version),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::locate_archive`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn locate_archive(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        let call = StorageCall::LocateArchive;
        around(
            self.before(call),
            inner.locate_archive(module, version),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::delete_version`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn delete_version(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let call = StorageCall::DeleteVersion;
        around(
            self.before(call),
            inner.delete_version(module, version),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::write_metadata`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn write_metadata(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        let call = StorageCall::WriteMetadata;
        around(
            self.before(call),
            inner.write_metadata(module, version, document),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::read_metadata`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn read_metadata(
        &self,
        inner: &dyn Storage,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        let call = StorageCall::ReadMetadata;
        around(
            self.before(call),
            inner.read_metadata(module, version),
            || self.after(call),
        )
        .await
    }

    /// [`Storage::list_modules`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn list_modules(&self, inner: &dyn Storage) -> Result<Vec<ModuleAddress>, StorageError> {
        let call = StorageCall::ListModules;
        around(self.before(call), inner.list_modules(), || self.after(call)).await
    }

    /// [`Storage::probe`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn probe(&self, inner: &dyn Storage) -> Result<(), StorageError> {
        let call = StorageCall::Probe;
        around(self.before(call), inner.probe(), || self.after(call)).await
    }
}

/// What a [`Forward`] does with each [`TokenStore`] call; as [`StorageOverrides`].
#[async_trait]
pub trait TokenStoreOverrides: Send + Sync + fmt::Debug + 'static {
    /// Runs before a forwarded call; an error is returned instead of calling `inner`.
    ///
    /// # Errors
    /// What the call should fail with.
    fn before(&self, call: TokenStoreCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// Runs after a forwarded call that succeeded; an error replaces its answer.
    ///
    /// # Errors
    /// What the call should report although it took effect.
    fn after(&self, call: TokenStoreCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// [`TokenStore::create`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn create(
        &self,
        inner: &dyn TokenStore,
        record: &TokenRecord,
    ) -> Result<(), StorageError> {
        let call = TokenStoreCall::Create;
        around(self.before(call), inner.create(record), || self.after(call)).await
    }

    /// [`TokenStore::find_by_hash`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn find_by_hash(
        &self,
        inner: &dyn TokenStore,
        hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, StorageError> {
        let call = TokenStoreCall::FindByHash;
        around(self.before(call), inner.find_by_hash(hash), || {
            self.after(call)
        })
        .await
    }

    /// [`TokenStore::list`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn list(&self, inner: &dyn TokenStore) -> Result<Vec<TokenRecord>, StorageError> {
        let call = TokenStoreCall::List;
        around(self.before(call), inner.list(), || self.after(call)).await
    }

    /// [`TokenStore::delete`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn delete(&self, inner: &dyn TokenStore, name: &str) -> Result<(), StorageError> {
        let call = TokenStoreCall::Delete;
        around(self.before(call), inner.delete(name), || self.after(call)).await
    }
}

/// What a [`Forward`] does with each [`PinStore`] call; as [`StorageOverrides`].
#[async_trait]
pub trait PinStoreOverrides: Send + Sync + fmt::Debug + 'static {
    /// Runs before a forwarded call; an error is returned instead of calling `inner`.
    ///
    /// # Errors
    /// What the call should fail with.
    fn before(&self, call: PinStoreCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// Runs after a forwarded call that succeeded; an error replaces its answer.
    ///
    /// # Errors
    /// What the call should report although it took effect.
    fn after(&self, call: PinStoreCall) -> Result<(), StorageError> {
        let _ = call;
        Ok(())
    }

    /// [`PinStore::put`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn put(&self, inner: &dyn PinStore, pin: &PinRecord) -> Result<(), StorageError> {
        let call = PinStoreCall::Put;
        around(self.before(call), inner.put(pin), || self.after(call)).await
    }

    /// [`PinStore::list`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn list(&self, inner: &dyn PinStore) -> Result<Vec<PinRecord>, StorageError> {
        let call = PinStoreCall::List;
        around(self.before(call), inner.list(), || self.after(call)).await
    }

    /// [`PinStore::delete`] on `inner`.
    ///
    /// # Errors
    /// As the hooks and `inner` decide.
    async fn delete(
        &self,
        inner: &dyn PinStore,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        let call = PinStoreCall::Delete;
        around(self.before(call), inner.delete(module, version), || {
            self.after(call)
        })
        .await
    }
}

#[async_trait]
impl<S: Storage, O: StorageOverrides> Storage for Forward<S, O> {
    async fn publish(
        &self,
        module: &ModuleAddress,
        version: &Version,
        archive: &Archive,
    ) -> Result<(), StorageError> {
        self.overrides
            .publish(&self.inner, module, version, archive)
            .await
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, StorageError> {
        self.overrides.list_versions(&self.inner, module).await
    }

    async fn read_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Archive, StorageError> {
        self.overrides
            .read_archive(&self.inner, module, version)
            .await
    }

    async fn locate_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<ArchiveLocation, StorageError> {
        self.overrides
            .locate_archive(&self.inner, module, version)
            .await
    }

    async fn delete_version(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<(), StorageError> {
        self.overrides
            .delete_version(&self.inner, module, version)
            .await
    }

    async fn write_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
        document: Bytes,
    ) -> Result<(), StorageError> {
        self.overrides
            .write_metadata(&self.inner, module, version, document)
            .await
    }

    async fn read_metadata(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Bytes, StorageError> {
        self.overrides
            .read_metadata(&self.inner, module, version)
            .await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        self.overrides.list_modules(&self.inner).await
    }

    async fn probe(&self) -> Result<(), StorageError> {
        self.overrides.probe(&self.inner).await
    }
}

#[async_trait]
impl<S: TokenStore, O: TokenStoreOverrides> TokenStore for Forward<S, O> {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        self.overrides.create(&self.inner, record).await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        self.overrides.find_by_hash(&self.inner, hash).await
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        TokenStoreOverrides::list(&self.overrides, &self.inner).await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        TokenStoreOverrides::delete(&self.overrides, &self.inner, name).await
    }
}

#[async_trait]
impl<S: PinStore, O: PinStoreOverrides> PinStore for Forward<S, O> {
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError> {
        self.overrides.put(&self.inner, pin).await
    }

    async fn list(&self) -> Result<Vec<PinRecord>, StorageError> {
        PinStoreOverrides::list(&self.overrides, &self.inner).await
    }

    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError> {
        PinStoreOverrides::delete(&self.overrides, &self.inner, module, version).await
    }
}

// -- Faults ----------------------------------------------------------------------

/// A [`Storage`] whose calls fail as its [`Faults`] say.
pub type FailingStorage<S = InMemoryStorage> = Forward<S, Faults<StorageCall>>;
/// A [`TokenStore`] whose calls fail as its [`Faults`] say.
pub type FailingTokenStore<S = InMemoryTokenStore> = Forward<S, Faults<TokenStoreCall>>;
/// A [`PinStore`] whose calls fail as its [`Faults`] say.
pub type FailingPinStore<S = InMemoryPinStore> = Forward<S, Faults<PinStoreCall>>;

type MakeError<E> = Arc<dyn Fn() -> E + Send + Sync>;

enum Failure<E> {
    /// Every call fails, without reaching the inner store.
    Before(MakeError<E>),
    /// Every call reaches the inner store, then reports the error.
    After(MakeError<E>),
    /// The next call fails, without reaching the inner store.
    Once(E),
}

/// Which calls fail, and with what: the overrides of a [`FailingStorage`],
/// [`FailingTokenStore`] or [`FailingPinStore`] (and of an
/// [`InMemoryUpstream`](super::InMemoryUpstream), with `E` =
/// [`UpstreamError`](crate::UpstreamError)). Healthy until told otherwise;
/// each setting holds until [`heal`](Self::heal). A setting for one call
/// wins over [`fail_all`](Self::fail_all)'s.
///
/// Errors are made by a function for each failing call (the port errors are
/// not `Clone`).
///
/// ```
/// use registry_core::memory::InMemoryStorage;
/// use registry_core::testing::{FailingStorage, StorageCall};
/// use registry_core::{ModuleAddress, Storage, StorageError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let storage = FailingStorage::wrap(InMemoryStorage::new());
/// let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
/// storage.faults().fail(StorageCall::ListVersions, || StorageError::Unavailable {
///     backend: "test",
///     message: "throttled".into(),
/// });
/// assert!(matches!(
///     storage.list_versions(&module).await,
///     Err(StorageError::Unavailable { .. })
/// ));
/// storage.faults().heal();
/// assert!(storage.list_versions(&module).await.unwrap().is_empty());
/// # });
/// ```
pub struct Faults<C, E = StorageError> {
    rules: Mutex<Rules<C, E>>,
}

struct Rules<C, E> {
    all: Option<MakeError<E>>,
    by_call: HashMap<C, Failure<E>>,
}

impl<C, E> Default for Faults<C, E> {
    fn default() -> Self {
        Self {
            rules: Mutex::new(Rules {
                all: None,
                by_call: HashMap::new(),
            }),
        }
    }
}

impl<C: fmt::Debug, E> fmt::Debug for Faults<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = self.rules.lock().expect("not poisoned");
        let calls: Vec<_> = rules.by_call.keys().collect();
        f.debug_struct("Faults")
            .field("all", &rules.all.is_some())
            .field("calls", &calls)
            .finish()
    }
}

impl<C: Copy + Eq + Hash, E> Faults<C, E> {
    /// None: every call goes through.
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&self, call: C, failure: Failure<E>) {
        let mut rules = self.rules.lock().expect("not poisoned");
        rules.by_call.insert(call, failure);
    }

    /// Every `call` fails with `error()`, without reaching the inner store.
    pub fn fail(&self, call: C, error: impl Fn() -> E + Send + Sync + 'static) {
        self.set(call, Failure::Before(Arc::new(error)));
    }

    /// The next `call` fails with `error`; later ones go through.
    pub fn fail_once(&self, call: C, error: E) {
        self.set(call, Failure::Once(error));
    }

    /// Every `call` reaches the inner store and takes effect, then reports
    /// `error()` if it succeeded: an answer lost after the write (an S3 `PUT`
    /// whose response timed out).
    pub fn fail_after(&self, call: C, error: impl Fn() -> E + Send + Sync + 'static) {
        self.set(call, Failure::After(Arc::new(error)));
    }

    /// Every call fails with `error()`, without reaching the inner store.
    pub fn fail_all(&self, error: impl Fn() -> E + Send + Sync + 'static) {
        self.rules.lock().expect("not poisoned").all = Some(Arc::new(error));
    }

    /// Forgets every setting: all calls go through again.
    pub fn heal(&self) {
        let mut rules = self.rules.lock().expect("not poisoned");
        rules.all = None;
        rules.by_call.clear();
    }

    /// What a decorated `call` meets before it reaches the inner store.
    ///
    /// # Errors
    /// The error `call` should fail with now.
    pub fn check_before(&self, call: C) -> Result<(), E> {
        let mut rules = self.rules.lock().expect("not poisoned");
        match rules.by_call.get(&call) {
            Some(Failure::Before(error)) => Err(error()),
            Some(Failure::After(_)) => Ok(()),
            Some(Failure::Once(_)) => match rules.by_call.remove(&call) {
                Some(Failure::Once(error)) => Err(error),
                _ => unreachable!("just matched"),
            },
            None => rules.all.as_ref().map_or(Ok(()), |error| Err(error())),
        }
    }

    /// What a decorated `call` that succeeded reports.
    ///
    /// # Errors
    /// The error set by [`fail_after`](Self::fail_after) for `call`.
    pub fn check_after(&self, call: C) -> Result<(), E> {
        match self.rules.lock().expect("not poisoned").by_call.get(&call) {
            Some(Failure::After(error)) => Err(error()),
            _ => Ok(()),
        }
    }
}

// -- Counts ----------------------------------------------------------------------

/// A [`Storage`] that counts the calls it gets, per method.
pub type CountingStorage<S = InMemoryStorage> = Forward<S, Counts<StorageCall>>;
/// A [`TokenStore`] that counts the calls it gets, per method.
pub type CountingTokenStore<S = InMemoryTokenStore> = Forward<S, Counts<TokenStoreCall>>;
/// A [`PinStore`] that counts the calls it gets, per method.
pub type CountingPinStore<S = InMemoryPinStore> = Forward<S, Counts<PinStoreCall>>;

/// How often each method was called, and how often it succeeded: the
/// overrides of a [`CountingStorage`], [`CountingTokenStore`] or
/// [`CountingPinStore`] (and part of an
/// [`InMemoryUpstream`](super::InMemoryUpstream)).
///
/// ```
/// use registry_core::memory::InMemoryTokenStore;
/// use registry_core::testing::{CountingTokenStore, TokenStoreCall};
/// use registry_core::{TokenHash, TokenStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tokens = CountingTokenStore::wrap(InMemoryTokenStore::new());
/// assert_eq!(tokens.find_by_hash(&TokenHash::of("tfr_x")).await.unwrap(), None);
/// assert!(tokens.delete("ci").await.is_err());
/// let counts = tokens.counts();
/// assert_eq!(counts.calls(TokenStoreCall::FindByHash), 1);
/// assert_eq!((counts.calls(TokenStoreCall::Delete), counts.succeeded(TokenStoreCall::Delete)), (1, 0));
/// assert_eq!(counts.total(), 2);
/// # });
/// ```
pub struct Counts<C> {
    /// (calls, successes) per method.
    by_call: Mutex<HashMap<C, (usize, usize)>>,
}

impl<C> Default for Counts<C> {
    fn default() -> Self {
        Self {
            by_call: Mutex::new(HashMap::new()),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for Counts<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Counts")
            .field(&*self.by_call.lock().expect("not poisoned"))
            .finish()
    }
}

impl<C: Copy + Eq + Hash> Counts<C> {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a call to `call`.
    pub fn record_call(&self, call: C) {
        self.by_call
            .lock()
            .expect("not poisoned")
            .entry(call)
            .or_default()
            .0 += 1;
    }

    /// Counts a call to `call` that succeeded.
    pub fn record_success(&self, call: C) {
        self.by_call
            .lock()
            .expect("not poisoned")
            .entry(call)
            .or_default()
            .1 += 1;
    }

    /// How often `call` was called.
    pub fn calls(&self, call: C) -> usize {
        self.get(call).0
    }

    /// How often `call` succeeded.
    pub fn succeeded(&self, call: C) -> usize {
        self.get(call).1
    }

    /// How many calls there were, to any method.
    pub fn total(&self) -> usize {
        let by_call = self.by_call.lock().expect("not poisoned");
        by_call.values().map(|(calls, _)| calls).sum()
    }

    /// Back to zero.
    pub fn reset(&self) {
        self.by_call.lock().expect("not poisoned").clear();
    }

    fn get(&self, call: C) -> (usize, usize) {
        let by_call = self.by_call.lock().expect("not poisoned");
        by_call.get(&call).copied().unwrap_or_default()
    }
}

/// Implements an overrides trait's hooks for [`Faults`] and [`Counts`] of its calls.
macro_rules! hooks {
    ($($overrides:ident for $call:ty),* $(,)?) => {$(
        impl $overrides for Faults<$call> {
            fn before(&self, call: $call) -> Result<(), StorageError> {
                self.check_before(call)
            }

            fn after(&self, call: $call) -> Result<(), StorageError> {
                self.check_after(call)
            }
        }

        impl $overrides for Counts<$call> {
            fn before(&self, call: $call) -> Result<(), StorageError> {
                self.record_call(call);
                Ok(())
            }

            fn after(&self, call: $call) -> Result<(), StorageError> {
                self.record_success(call);
                Ok(())
            }
        }
    )*};
}

hooks!(
    StorageOverrides for StorageCall,
    TokenStoreOverrides for TokenStoreCall,
    PinStoreOverrides for PinStoreCall,
);
