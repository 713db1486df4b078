//! A bounded TTL cache whose concurrent misses of one key share one fetch.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

/// One fetch of one key: filled once, by whichever caller runs the fetch;
/// every caller that joined it gets the same result. With the value, when it
/// expires (`None`: a TTL too large to represent, i.e. never).
type Flight<V, E> = Arc<OnceCell<Result<(V, Option<Instant>), E>>>;

/// A cache of `K -> V`.
///
/// - A value is kept until its own expiry (the `ttl` function picks it per
///   value, e.g. shorter for "not found"); errors are never kept.
/// - Concurrent misses of the same key collapse into one fetch (single
///   flight): the first caller runs it, the others wait for its result,
///   errors included. If the first caller is cancelled, a waiter takes over.
/// - At most `max_entries` keys: when full, expired entries are dropped
///   first, then arbitrary finished ones.
///
/// ```
/// use std::time::Duration;
/// use registry_core::cache::Cache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache: Cache<&str, u32, String> = Cache::new(100);
/// let ttl = |_: &u32| Duration::from_secs(60);
/// assert_eq!(cache.get_or_fetch(&"a", ttl, || async { Ok(1) }).await, Ok(1));
/// // Cached: this fetch does not run.
/// assert_eq!(cache.get_or_fetch(&"a", ttl, || async { Ok(2) }).await, Ok(1));
/// cache.remove(&"a");
/// assert_eq!(cache.get_or_fetch(&"a", ttl, || async { Ok(3) }).await, Ok(3));
/// # }
/// ```
pub struct Cache<K, V, E> {
    map: Mutex<HashMap<K, Flight<V, E>>>,
    max_entries: usize,
    /// The name lookups are reported under ([`Telemetry::cache`](crate::telemetry::Telemetry::cache)); `None`: not reported.
    name: Option<&'static str>,
}

impl<K, V, E> std::fmt::Debug for Cache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.map.lock().map_or(0, |m| m.len());
        f.debug_struct("Cache")
            .field("entries", &len)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl<K, V, E> Cache<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: Clone,
{
    /// An empty cache of at most `max_entries` keys (0 counts as 1).
    pub fn new(max_entries: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
            name: None,
        }
    }

    /// Reports every lookup, hit or miss, to the process's telemetry as
    /// cache `name` (see [`crate::telemetry`]).
    pub fn reported_as(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// The cached value of `key`, or the result of `fetch` (run at most once
    /// across concurrent callers), cached for `ttl(&value)` if it succeeded.
    /// A TTL too large to add to the current instant means "never expires";
    /// `Duration::ZERO` gives the value to the callers already waiting for it
    /// and to no later one.
    ///
    /// # Errors
    /// `fetch`'s error, given to every caller that joined this fetch, and not
    /// cached: the next caller fetches afresh.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &K,
        ttl: impl Fn(&V) -> Duration,
        fetch: F,
    ) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let flight = self.flight(key);
        let mut fetched = false;
        let result = flight
            .get_or_init(|| async {
                fetched = true;
                let value = fetch().await?;
                let expires = Instant::now().checked_add(ttl(&value));
                Ok((value, expires))
            })
            .await
            .clone();
        if let Some(name) = self.name {
            crate::telemetry::current().cache(name, !fetched);
        }
        match result {
            Ok((value, _)) => Ok(value),
            Err(e) => {
                // Not cached: the next caller starts a fresh fetch.
                let mut map = self.lock();
                if map.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                    map.remove(key);
                }
                Err(e)
            }
        }
    }

    /// Forgets `key` (e.g. a token the server refused), unless a fetch of it
    /// is in flight: the next caller fetches afresh.
    pub fn remove(&self, key: &K) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|f| f.initialized()) {
            map.remove(key);
        }
    }

    /// Forgets `key` even if a fetch of it is in flight (e.g. after a write
    /// that changed it): callers already waiting get that fetch's result;
    /// every later caller fetches afresh, so a fetch that started before the
    /// write can never be served after it.
    pub fn invalidate(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Forgets every key, in flight or not, like [`invalidate`](Self::invalidate).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The flight to join for `key`: the live one, or a fresh one in place of
    /// an expired or failed one.
    fn flight(&self, key: &K) -> Flight<V, E> {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(flight) = map.get(key) {
            match flight.get() {
                // In flight: join it.
                None => return flight.clone(),
                Some(Ok((_, expires))) if live(*expires, now) => return flight.clone(),
                // Expired, or failed (and not yet removed).
                Some(_) => {}
            }
        } else if map.len() >= self.max_entries {
            Self::evict(&mut map, self.max_entries, now);
        }
        let flight: Flight<V, E> = Arc::new(OnceCell::new());
        map.insert(key.clone(), flight.clone());
        flight
    }

    /// Makes room: drops expired and failed entries, then, if still full,
    /// arbitrary finished ones, down to 90% of `max` (so a full cache does not
    /// scan on every insert). Entries in flight go last.
    fn evict(map: &mut HashMap<K, Flight<V, E>>, max: usize, now: Instant) {
        map.retain(|_, f| match f.get() {
            None => true,
            Some(Ok((_, expires))) => live(*expires, now),
            Some(Err(_)) => false,
        });
        let target = max - max / 10 - 1;
        if map.len() <= target {
            return;
        }
        let excess = map.len() - target;
        let mut victims: Vec<K> = map
            .iter()
            .filter(|(_, f)| f.initialized())
            .map(|(k, _)| k.clone())
            .take(excess)
            .collect();
        if victims.len() < excess {
            let more = excess - victims.len();
            victims.extend(
                map.iter()
                    .filter(|(_, f)| !f.initialized())
                    .map(|(k, _)| k.clone())
                    .take(more),
            );
        }
        for k in victims {
            map.remove(&k);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Flight<V, E>>> {
        // The map is consistent after every statement, so a panic elsewhere
        // while it was held leaves nothing half-done.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

fn live(expires: Option<Instant>, now: Instant) -> bool {
    expires.is_none_or(|at| at > now)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn caches_values_not_errors() {
        let cache: Cache<u32, u32, String> = Cache::new(10);
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        };
        assert_eq!(cache.get_or_fetch(&1, |_| LONG, fetch).await, Ok(7));
        assert_eq!(cache.get_or_fetch(&1, |_| LONG, fetch).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let fail = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>("down".to_owned())
        };
        assert!(cache.get_or_fetch(&2, |_| LONG, fail).await.is_err());
        assert!(cache.get_or_fetch(&2, |_| LONG, fail).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expires_per_value() {
        let cache: Cache<u32, u32, String> = Cache::new(10);
        let calls = AtomicUsize::new(0);
        let fetch = || async { Ok(u32::try_from(calls.fetch_add(1, Ordering::SeqCst)).unwrap()) };
        let ttl = |v: &u32| Duration::from_secs(if *v == 0 { 1 } else { 100 });
        assert_eq!(cache.get_or_fetch(&1, ttl, fetch).await, Ok(0));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(cache.get_or_fetch(&1, ttl, fetch).await, Ok(1));
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(cache.get_or_fetch(&1, ttl, fetch).await, Ok(1));
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch_errors_included() {
        let cache: Arc<Cache<u32, u32, String>> = Arc::new(Cache::new(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.spawn(async move {
                cache
                    .get_or_fetch(
                        &1,
                        |_| LONG,
                        || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Err::<u32, _>("down".to_owned())
                        },
                    )
                    .await
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap(), Err("down".to_owned()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn removed_keys_are_fetched_afresh() {
        let cache: Cache<u32, u32, String> = Cache::new(10);
        let calls = AtomicUsize::new(0);
        let fetch = || async { Ok(u32::try_from(calls.fetch_add(1, Ordering::SeqCst)).unwrap()) };
        assert_eq!(cache.get_or_fetch(&1, |_| LONG, fetch).await, Ok(0));
        cache.remove(&1);
        cache.remove(&2);
        assert_eq!(cache.get_or_fetch(&1, |_| LONG, fetch).await, Ok(1));
        assert_eq!(cache.get_or_fetch(&1, |_| LONG, fetch).await, Ok(1));
    }

    #[tokio::test]
    async fn invalidation_drops_a_fetch_in_flight() {
        let cache: Arc<Cache<u32, u32, String>> = Arc::new(Cache::new(10));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_fetch(
                        &1,
                        |_| LONG,
                        || async {
                            started_tx.send(()).unwrap();
                            finish_rx.await.unwrap();
                            Ok(1)
                        },
                    )
                    .await
            })
        };
        started_rx.await.unwrap();
        // A write lands while the old value is being fetched.
        cache.invalidate(&1);
        finish_tx.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), Ok(1));
        // The stale fetch is not what later callers get.
        let v = cache.get_or_fetch(&1, |_| LONG, || async { Ok(2) }).await;
        assert_eq!(v, Ok(2));

        cache.clear();
        let v = cache.get_or_fetch(&1, |_| LONG, || async { Ok(3) }).await;
        assert_eq!(v, Ok(3));
    }

    #[tokio::test]
    async fn a_huge_ttl_means_forever() {
        let cache: Cache<u32, u32, String> = Cache::new(10);
        let v = cache
            .get_or_fetch(&1, |_| Duration::MAX, || async { Ok(1) })
            .await;
        assert_eq!(v, Ok(1));
        let v = cache
            .get_or_fetch(&1, |_| Duration::MAX, || async { Ok(2) })
            .await;
        assert_eq!(v, Ok(1));
    }

    #[tokio::test]
    async fn stays_bounded() {
        let cache: Cache<u32, u32, String> = Cache::new(100);
        for k in 0..1000 {
            cache
                .get_or_fetch(&k, |_| LONG, || async { Ok(k) })
                .await
                .unwrap();
            assert!(cache.len() <= 100);
        }
        // A recent key is still there.
        let calls = AtomicUsize::new(0);
        let v = cache
            .get_or_fetch(
                &999,
                |_| LONG,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(0)
                },
            )
            .await;
        assert_eq!(v, Ok(999));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn evicts_expired_first() {
        let cache: Cache<u32, u32, String> = Cache::new(10);
        for k in 0..5 {
            cache
                .get_or_fetch(&k, |_| LONG, || async { Ok(k) })
                .await
                .unwrap();
        }
        for k in 5..10 {
            cache
                .get_or_fetch(&k, |_| Duration::from_secs(1), || async { Ok(k) })
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        cache
            .get_or_fetch(&10, |_| LONG, || async { Ok(10) })
            .await
            .unwrap();
        // The five expired went; the five live and the new one stayed.
        assert_eq!(cache.len(), 6);
        for k in 0..5 {
            let v = cache
                .get_or_fetch(&k, |_| LONG, || async { Ok(1000) })
                .await;
            assert_eq!(v, Ok(k));
        }
    }
}
