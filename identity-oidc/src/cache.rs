//! One issuer's cached keys: fetched once for all concurrent callers,
//! refreshed when they expire or when a token names a key they lack (at most
//! once per [`FORCED_REFETCH_INTERVAL`]), and served past their expiry while
//! the issuer is unreachable, up to [`MAX_KEY_AGE`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use registry_core::exchange::ExchangeError;
use reqwest::Url;

use crate::config::Issuer;
use crate::fetch::{Fetched, Fetcher};
use crate::keys::KeySet;

/// The least time between two refetches forced by an unknown `kid`, and
/// between two attempts to refresh expired keys while the issuer fails: 30 s.
/// A flood of tokens naming made-up keys costs the issuer one request per
/// interval.
pub const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The oldest keys are used while the issuer cannot be reached: 24 hours
/// after they were fetched. Past that, verification answers `Unavailable`.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest TTL a JWKS answer's `max-age` (or `no-cache`) gets: 60 s
/// (or `jwks_cache`, if shorter).
const MIN_TTL: Duration = Duration::from_secs(60);

/// Keys as fetched.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) keys: KeySet,
    jwks_uri: Url,
    fetched: Instant,
    expires: Instant,
}

#[derive(Debug, Default)]
struct State {
    current: Option<Arc<Cached>>,
    /// Counts finished refresh attempts, so that callers that waited for one
    /// take its outcome instead of fetching again.
    attempts: u64,
    /// The last attempt's failure, as its waiters receive it.
    last_error: Option<ExchangeError>,
    last_failure: Option<Instant>,
    last_forced: Option<Instant>,
}

/// One issuer's keys.
#[derive(Debug)]
pub(crate) struct KeyCache {
    state: Mutex<State>,
    /// Held by the one caller refreshing: the single flight.
    refresh: tokio::sync::Mutex<()>,
}

/// How a refresh gets the JWKS URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Discovery, then the JWKS: cold, or the keys expired.
    Full,
    /// The JWKS at the known URL only: an unknown `kid`.
    KeysOnly,
}

impl KeyCache {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The issuer's current keys: cached, or fetched (discovery, then JWKS)
    /// by one caller for all concurrent ones.
    ///
    /// # Errors
    /// [`ExchangeError::Unavailable`] naming the issuer when there are no
    /// keys young enough to use and fetching failed.
    pub(crate) async fn get(
        &self,
        issuer: &Issuer,
        fetcher: &Fetcher,
    ) -> Result<Arc<Cached>, ExchangeError> {
        let attempts = {
            let state = self.lock();
            let now = Instant::now();
            if let Some(current) = &state.current {
                if now < current.expires {
                    return Ok(current.clone());
                }
                // Expired, and the last refresh failed a moment ago: keep
                // serving the old keys rather than asking again per token.
                if usable(current, now) && recent(state.last_failure, now) {
                    return Ok(current.clone());
                }
            }
            state.attempts
        };
        self.refresh(issuer, fetcher, Refresh::Full, attempts).await
    }

    /// Fresh keys after a token named a `kid` missing from `seen`: keys
    /// another caller fetched since, or a refetch of the JWKS, unless one
    /// was forced less than [`FORCED_REFETCH_INTERVAL`] ago (`None`).
    ///
    /// # Errors
    /// [`ExchangeError::Unavailable`] when the refetch failed.
    pub(crate) async fn refetch(
        &self,
        issuer: &Issuer,
        fetcher: &Fetcher,
        seen: &Arc<Cached>,
    ) -> Result<Option<Arc<Cached>>, ExchangeError> {
        let attempts = {
            let mut state = self.lock();
            let now = Instant::now();
            if let Some(current) = &state.current {
                if !Arc::ptr_eq(current, seen) {
                    return Ok(Some(current.clone()));
                }
            }
            if recent(state.last_forced, now) {
                return Ok(None);
            }
            state.last_forced = Some(now);
            state.attempts
        };
        self.refresh(issuer, fetcher, Refresh::KeysOnly, attempts)
            .await
            .map(Some)
    }

    /// Fetches unless an attempt finished since `attempts` was read (then
    /// its outcome is the answer).
    async fn refresh(
        &self,
        issuer: &Issuer,
        fetcher: &Fetcher,
        how: Refresh,
        attempts: u64,
    ) -> Result<Arc<Cached>, ExchangeError> {
        let _flight = self.refresh.lock().await;
        let (known_uri, stale) = {
            let state = self.lock();
            if state.attempts != attempts {
                return match (&state.current, &state.last_error) {
                    (Some(current), None) => Ok(current.clone()),
                    (Some(current), Some(_)) if usable(current, Instant::now()) => {
                        Ok(current.clone())
                    }
                    (_, Some(e)) => Err(e.clone()),
                    (None, None) => Err(unavailable(issuer, "no keys were fetched")),
                };
            }
            let current = state.current.clone();
            (current.as_ref().map(|c| c.jwks_uri.clone()), current)
        };

        let result = match (how, known_uri) {
            (Refresh::KeysOnly, Some(uri)) => fetcher.keys(&uri).await.map(|f| (uri, f)),
            _ => match fetcher.discover(issuer).await {
                Ok(uri) => fetcher.keys(&uri).await.map(|f| (uri, f)),
                Err(e) => Err(e),
            },
        };

        let mut state = self.lock();
        state.attempts += 1;
        let now = Instant::now();
        match result {
            Ok((jwks_uri, Fetched { keys, max_age })) => {
                let ttl = match max_age {
                    Some(age) => age.clamp(MIN_TTL.min(issuer.jwks_cache), issuer.jwks_cache),
                    None => issuer.jwks_cache,
                };
                let cached = Arc::new(Cached {
                    keys,
                    jwks_uri,
                    fetched: now,
                    expires: now + ttl,
                });
                state.current = Some(cached.clone());
                state.last_error = None;
                state.last_failure = None;
                Ok(cached)
            }
            Err(message) => {
                let e = unavailable(issuer, &message);
                state.last_error = Some(e.clone());
                state.last_failure = Some(now);
                match stale {
                    Some(stale) if how == Refresh::Full && usable(&stale, now) => {
                        tracing::warn!(
                            issuer = %issuer.issuer,
                            error = %message,
                            "refreshing the OIDC issuer's keys failed; using the cached ones"
                        );
                        Ok(stale)
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

/// Whether keys may still be used (expired or not).
fn usable(cached: &Cached, now: Instant) -> bool {
    now.saturating_duration_since(cached.fetched) < MAX_KEY_AGE
}

/// Whether `at` is less than [`FORCED_REFETCH_INTERVAL`] before `now`.
fn recent(at: Option<Instant>, now: Instant) -> bool {
    at.is_some_and(|at| now.saturating_duration_since(at) < FORCED_REFETCH_INTERVAL)
}

fn unavailable(issuer: &Issuer, message: &str) -> ExchangeError {
    ExchangeError::Unavailable(format!(
        "the keys of OIDC issuer {} could not be read: {message}; try again later",
        issuer.issuer
    ))
}
