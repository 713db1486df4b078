//! [`CachedTokenStore`]: a [`TokenStore`] whose lookups by hash are answered
//! from memory.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{unshare, Cache, SharedError, DEFAULT_MAX_ENTRIES};
use crate::storage::StorageError;
use crate::tokens::{TokenHash, TokenRecord, TokenStore};

/// Caches `inner`'s [`find_by_hash`](TokenStore::find_by_hash) answers
/// ("no such token" included) for `ttl`; [`list`](TokenStore::list) always
/// reads `inner`. Only hashes and records are kept, never a token.
///
/// # Contract
/// - [`create`](TokenStore::create) invalidates its hash and
///   [`delete`](TokenStore::delete) empties the cache when they return, so in
///   this process a new token works and a deleted one is refused at once.
/// - A token deleted through *another* process sharing the backend keeps
///   working here for up to `ttl`: the revocation delay this cache trades
///   for not reading the backend on every request. Keep `ttl` short.
/// - Concurrent misses of one hash make one call to `inner`; errors are
///   passed on, never cached. At most `max_entries` hashes are kept (default
///   [`DEFAULT_MAX_ENTRIES`]), so random bad tokens cannot grow it.
pub struct CachedTokenStore {
    inner: Arc<dyn TokenStore>,
    ttl: Duration,
    found: Cache<TokenHash, Option<TokenRecord>, SharedError>,
}

impl CachedTokenStore {
    /// `inner` behind a cache of [`DEFAULT_MAX_ENTRIES`] hashes, kept for `ttl`.
    pub fn new(inner: Arc<dyn TokenStore>, ttl: Duration) -> Self {
        Self::with_max_entries(inner, ttl, DEFAULT_MAX_ENTRIES)
    }

    /// `inner` behind a cache of at most `max_entries` hashes, kept for `ttl`.
    pub fn with_max_entries(inner: Arc<dyn TokenStore>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            found: Cache::new(max_entries).reported_as("tokens"),
        }
    }
}

impl std::fmt::Debug for CachedTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTokenStore")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenStore for CachedTokenStore {
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        let result = self.inner.create(record).await;
        self.found.invalidate(&record.hash);
        result
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        self.found
            .get_or_fetch(
                hash,
                |_| self.ttl,
                || async { self.inner.find_by_hash(hash).await.map_err(Arc::new) },
            )
            .await
            .map_err(|e| unshare(&e))
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.inner.list().await
    }

    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        let result = self.inner.delete(name).await;
        // Which hash was `name`'s is not known here; deletes are rare.
        self.found.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::memory::InMemoryTokenStore;
    use crate::testing::{CountingTokenStore, FailingTokenStore, TokenStoreCall};
    use crate::tokens::Tier;

    const TTL: Duration = Duration::from_secs(60);

    fn record(name: &str, token: &str) -> TokenRecord {
        TokenRecord {
            name: name.to_owned(),
            tier: Tier::Downloader,
            hash: TokenHash::of(token),
            created_at: SystemTime::UNIX_EPOCH,
            expires_at: None,
            namespaces: None,
            created_by: None,
        }
    }

    mod conformance_through_the_cache {
        use super::*;

        crate::token_store_conformance_tests!(|| async {
            Arc::new(CachedTokenStore::new(
                Arc::new(InMemoryTokenStore::new()),
                TTL,
            )) as Arc<dyn TokenStore>
        });
    }

    #[tokio::test]
    async fn lookups_are_served_from_memory_and_own_writes_seen_at_once() {
        let cached = CachedTokenStore::new(Arc::new(InMemoryTokenStore::new()), TTL);
        let ci = record("ci", "tfr_ci_secret");
        // Looked up (and cached as absent) before it exists.
        assert_eq!(cached.find_by_hash(&ci.hash).await.unwrap(), None);
        cached.create(&ci).await.unwrap();
        assert_eq!(
            cached.find_by_hash(&ci.hash).await.unwrap(),
            Some(ci.clone())
        );
        cached.delete("ci").await.unwrap();
        assert_eq!(cached.find_by_hash(&ci.hash).await.unwrap(), None);
    }

    #[tokio::test]
    async fn one_backend_read_per_hash_per_ttl() {
        let inner = Arc::new(CountingTokenStore::wrap(InMemoryTokenStore::new()));
        inner.inner().create(&record("ci", "good")).await.unwrap();
        let cached = Arc::new(CachedTokenStore::new(inner.clone(), TTL));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let cached = cached.clone();
            let token = if i % 2 == 0 { "good" } else { "bad" };
            tasks.spawn(async move { cached.find_by_hash(&TokenHash::of(token)).await });
        }
        let mut found = 0;
        while let Some(r) = tasks.join_next().await {
            found += usize::from(r.unwrap().unwrap().is_some());
        }
        assert_eq!(found, 50);
        assert_eq!(inner.counts().calls(TokenStoreCall::FindByHash), 2);
    }

    #[tokio::test]
    async fn another_processes_revocation_shows_within_the_ttl() {
        let shared = Arc::new(InMemoryTokenStore::new());
        let here = CachedTokenStore::new(shared.clone(), Duration::from_millis(50));
        let ci = record("ci", "tfr_ci_secret");
        shared.create(&ci).await.unwrap();
        assert!(here.find_by_hash(&ci.hash).await.unwrap().is_some());
        shared.delete("ci").await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(here.find_by_hash(&ci.hash).await.unwrap(), None);
    }

    #[tokio::test]
    async fn errors_are_passed_on_and_not_cached() {
        let inner = Arc::new(CountingTokenStore::wrap(FailingTokenStore::wrap(
            InMemoryTokenStore::new(),
        )));
        inner
            .inner()
            .faults()
            .fail(TokenStoreCall::FindByHash, || StorageError::Unavailable {
                backend: "fs",
                message: "disk busy".into(),
            });
        let cached = CachedTokenStore::new(inner.clone(), TTL);
        for _ in 0..2 {
            assert!(matches!(
                cached.find_by_hash(&TokenHash::of("x")).await,
                Err(StorageError::Unavailable { backend: "fs", .. })
            ));
        }
        assert_eq!(inner.counts().calls(TokenStoreCall::FindByHash), 2);
    }
}
