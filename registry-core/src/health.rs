//! Liveness and readiness: what `GET /healthz` and `GET /readyz` answer.
//!
//! - Liveness says the process answers requests; it checks nothing else, so
//!   a failing backend never gets a live process restarted.
//! - Readiness says requests can be served now: the storage backend answers
//!   [`Storage::probe`] and, when the registry has an upstream (proxy, pins
//!   or GitHub), the upstream answers [`Upstream::probe`]. Both run at once,
//!   each within [`READINESS_CHECK_TIMEOUT`]. A check runs at most once per readiness interval
//!   ([`DEFAULT_READINESS_INTERVAL`], or
//!   [`Registry::with_readiness_interval`](crate::Registry::with_readiness_interval)),
//!   however many probes arrive: probes that come while a check runs wait
//!   for it, later ones get its result until it is older than the interval.
//!   So probes cannot load the backend.
//!
//! Readiness answers are public, so they name what failed and never why
//! (bucket names, paths, error texts): the reason goes to the log.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::storage::Storage;
use crate::upstream::Upstream;

/// How long a readiness result is reused: 5 s.
pub const DEFAULT_READINESS_INTERVAL: Duration = Duration::from_secs(5);

/// The longest one check may take before it counts as failed: 2 s. Kept
/// below common probe timeouts (Kubernetes' default is 1 s per probe, but
/// probes see the cached result; only the one that runs the check waits).
pub const READINESS_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of one dependency's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// It answered.
    Ok,
    /// It failed or did not answer in time (the reason is logged).
    Failing,
}

/// What `GET /readyz` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency checked, by name (`storage`).
    pub checks: Checks,
    /// When the result was checked (RFC 3339, UTC), so a reader can tell a
    /// reused result from a fresh one.
    pub checked_at: String,
}

/// The dependencies a readiness check covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// The storage backend (modules, and with it the tokens on the same
    /// backend).
    pub storage: CheckStatus,
    /// The upstream, when there is one (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<CheckStatus>,
}

impl Checks {
    fn all_ok(&self) -> bool {
        self.storage == CheckStatus::Ok && self.upstream.is_none_or(|u| u == CheckStatus::Ok)
    }
}

impl ReadinessReport {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.all_ok()
    }
}

/// Runs one dependency's `probe` within [`READINESS_CHECK_TIMEOUT`],
/// logging why it failed.
async fn checked<E: std::fmt::Display>(
    name: &str,
    probe: impl std::future::Future<Output = Result<(), E>>,
) -> CheckStatus {
    match tokio::time::timeout(READINESS_CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => CheckStatus::Ok,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the {name} probe failed");
            CheckStatus::Failing
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = READINESS_CHECK_TIMEOUT.as_millis() as u64,
                "readiness: the {name} probe timed out"
            );
            CheckStatus::Failing
        }
    }
}

/// The readiness check, run at most once per interval (see the module doc).
#[derive(Debug)]
pub(crate) struct Readiness {
    interval: Duration,
    last: tokio::sync::Mutex<Option<(SystemTime, ReadinessReport)>>,
}

impl Readiness {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last result if it is younger than the interval at `now`;
    /// otherwise checks `storage` and `upstream` (one caller at a time; the
    /// others wait and take its result).
    pub(crate) async fn check(
        &self,
        storage: &Arc<dyn Storage>,
        upstream: Option<&dyn Upstream>,
        now: impl Fn() -> SystemTime,
    ) -> ReadinessReport {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref() {
            // A clock that went back makes the result stale, not eternal.
            if now()
                .duration_since(*at)
                .is_ok_and(|age| age < self.interval)
            {
                return report.clone();
            }
        }
        let upstream_probe = async {
            match upstream {
                Some(upstream) => Some(checked("upstream", upstream.probe()).await),
                None => None,
            }
        };
        let (storage, upstream) = tokio::join!(checked("storage", storage.probe()), upstream_probe);
        let at = now();
        let checks = Checks { storage, upstream };
        let ready = checks.all_ok();
        let report = ReadinessReport {
            status: if ready { "ready" } else { "unavailable" },
            checks,
            checked_at: humantime::format_rfc3339_seconds(at).to_string(),
        };
        *last = Some((at, report.clone()));
        report
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::storage::MockStorage;
    use crate::storage::StorageError;

    #[tokio::test]
    async fn a_clock_that_went_back_makes_the_result_stale() {
        let mut failing = MockStorage::new();
        failing.expect_probe().times(2).returning(|| {
            Err(StorageError::Unavailable {
                backend: "s3",
                message: "down".into(),
            })
        });
        let storage: Arc<dyn Storage> = Arc::new(failing);
        let readiness = Readiness::new(Duration::from_secs(5));
        let t = Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000));
        let now = || *t.lock().unwrap();
        assert!(!readiness.check(&storage, None, now).await.is_ready());
        // Within the interval: reused (the mock allows two probes in all).
        *t.lock().unwrap() += Duration::from_secs(4);
        assert!(!readiness.check(&storage, None, now).await.is_ready());
        // Back in time: probed again, not reused until the clock catches up.
        *t.lock().unwrap() -= Duration::from_secs(60);
        assert!(!readiness.check(&storage, None, now).await.is_ready());
    }
}
