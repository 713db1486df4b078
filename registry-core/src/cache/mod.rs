//! In-process read caches.
//!
//! [`Cache`] is a bounded, single-flight TTL cache. [`CachedStorage`] and
//! [`CachedTokenStore`] put it in front of a [`Storage`](crate::Storage) and a
//! [`TokenStore`](crate::TokenStore), so the hot read path (token lookup,
//! version list, archive location) costs a hash-map lookup instead of a
//! backend round trip; [`Registry::with_read_cache`](crate::Registry::with_read_cache)
//! wraps a registry's own stores in both.
//!
//! # Consistency
//! Writes through a wrapper invalidate what they change before they return,
//! and a fetch that started before a write is never served after it, so a
//! single process (a self-hosted server) sees its own writes at once.
//! Writes made by *another* process sharing the backend (several servers on
//! one directory, Lambda instances on one bucket) become visible here within
//! the TTL: a new version shows up, a deleted version or token stops being
//! answered, at most `ttl` later. Keep the TTL short (the compositions use 1 s
//! by default); 0 turns caching off.

mod storage;
mod tokens;
mod ttl;

pub use storage::{CachedStorage, MAX_CACHED_METADATA_BYTES};
pub use tokens::CachedTokenStore;
pub use ttl::Cache;

use std::sync::Arc;
use std::time::Duration;

use crate::storage::StorageError;

/// The read-cache TTL the servers in `examples/` use unless told otherwise:
/// short enough that other processes' writes (a revoked token included) show
/// within a second, long enough that a busy server reads each key from the
/// backend about once a second.
pub const DEFAULT_READ_CACHE_TTL: Duration = Duration::from_secs(1);

/// The default bound on the number of entries each cache keeps.
pub const DEFAULT_MAX_ENTRIES: usize = 4096;

/// A backend error as the callers that shared one fetch receive it.
type SharedError = Arc<StorageError>;

/// Rebuilds a shared error for one caller: the same variant (so the HTTP
/// mapping is the same), with [`StorageError::Other`]'s source shared.
fn unshare(e: &SharedError) -> StorageError {
    match &**e {
        StorageError::NotFound => StorageError::NotFound,
        StorageError::AlreadyExists => StorageError::AlreadyExists,
        StorageError::Conflict => StorageError::Conflict,
        StorageError::Unavailable { backend, message } => StorageError::Unavailable {
            backend,
            message: message.clone(),
        },
        StorageError::Misconfigured { backend, message } => StorageError::Misconfigured {
            backend,
            message: message.clone(),
        },
        StorageError::Other { backend, .. } => StorageError::Other {
            backend,
            source: Box::new(SharedSource(e.clone())),
        },
    }
}

/// [`StorageError::Other`]'s source, shared: shows and chains like the original.
#[derive(Debug)]
struct SharedSource(SharedError);

impl std::fmt::Display for SharedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::error::Error::source(&*self.0) {
            Some(source) => std::fmt::Display::fmt(source, f),
            None => std::fmt::Display::fmt(&self.0, f),
        }
    }
}

impl std::error::Error for SharedSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The original source itself (its message shows twice in a walk of
        // the chain), so that code looking for e.g. an `io::Error` of kind
        // `TimedOut` in the chain still finds it.
        std::error::Error::source(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshared_errors_keep_their_variant_message_and_chain() {
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "nfs stalled");
        let shared: SharedError = Arc::new(StorageError::other("nfs", timeout));
        let e = unshare(&shared);
        assert!(matches!(e, StorageError::Other { backend: "nfs", .. }));
        assert_eq!(e.to_string(), "nfs failed: nfs stalled");
        // The io::Error is still reachable, so the API still answers 503.
        assert!(crate::api::is_transient(&e));

        let shared: SharedError = Arc::new(StorageError::Unavailable {
            backend: "s3",
            message: "slow down".into(),
        });
        assert!(
            matches!(unshare(&shared), StorageError::Unavailable { backend: "s3", message } if message == "slow down")
        );
        assert!(matches!(
            unshare(&Arc::new(StorageError::NotFound)),
            StorageError::NotFound
        ));
    }
}
