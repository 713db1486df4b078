//! The audit log: who changed what, when, and how it went.
//!
//! The registry appends one [`AuditEvent`] for every request to a mutating
//! route (publish, delete, pin, token creation and deletion, token
//! exchange), whether it succeeded or failed, through the [`AuditLog`] port.
//! Events never hold a secret: actors are token names or exchanged
//! identities, never tokens, and failure details are the messages clients
//! were answered.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::storage::StorageError;

/// An event's id: sorts newest first (20 digits of `u64::MAX` minus the
/// microseconds since the epoch, `-`, 16 random hex digits), so a backend
/// that lists keys in ascending order (S3, a sorted directory) lists the
/// newest events first. Safe as a file name and an object key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId(String);

impl AuditId {
    /// A fresh id for an event at `time`. Ids of events a microsecond or
    /// more apart sort by time; events within one microsecond sort by
    /// chance.
    pub fn new(time: SystemTime) -> Self {
        let micros = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let mut random = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut random);
        Self(format!("{:020}-{}", u64::MAX - micros, hex::encode(random)))
    }

    /// Parses an id as [`new`](Self::new) makes them (20 digits no greater
    /// than `u64::MAX`); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        Self::cursor(s).filter(|id| id.0[..20].parse::<u64>().is_ok())
    }

    /// Parses a page cursor: any string of an id's shape (20 digits, `-`,
    /// 16 lowercase hex digits), also one past every id [`new`](Self::new)
    /// can make, since ids compare as text. `None` otherwise.
    pub fn cursor(s: &str) -> Option<Self> {
        let (digits, random) = s.split_once('-')?;
        let ok = digits.len() == 20
            && digits.bytes().all(|c| c.is_ascii_digit())
            && random.len() == 16
            && random
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self(s.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditAction {
    /// `PUT /v1/modules/...`: publish a version.
    #[serde(rename = "publish")]
    Publish,
    /// `DELETE /v1/modules/...`: delete a version.
    #[serde(rename = "delete")]
    Delete,
    /// `POST /v1/pins/...`: pin an upstream version.
    #[serde(rename = "pin")]
    Pin,
    /// `POST /v1/tokens`.
    #[serde(rename = "token.create")]
    CreateToken,
    /// `DELETE /v1/tokens/{name}`.
    #[serde(rename = "token.delete")]
    DeleteToken,
    /// `POST /v1/exchange/oidc`.
    #[serde(rename = "exchange.oidc")]
    ExchangeOidc,
    /// `POST /v1/exchange/aws`.
    #[serde(rename = "exchange.aws")]
    ExchangeAws,
}

/// How it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// Done (a `2xx` answer).
    Success,
    /// Refused or failed (any other answer).
    Failure,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Unique; orders events newest first.
    pub id: AuditId,
    /// When it was answered (to the microsecond).
    pub time: SystemTime,
    /// Who: `master`, a token's name, an exchanged identity
    /// (`oidc:<iss> <sub>`, `aws:<arn>`), `anonymous`, or `invalid token`.
    pub actor: String,
    /// What was attempted.
    pub action: AuditAction,
    /// On what: `namespace/name/system/version`, a token's name, or for an
    /// exchange the token it issued (empty when none).
    pub target: String,
    /// How it went.
    pub outcome: AuditOutcome,
    /// The HTTP status answered.
    pub status: u16,
    /// For a failure, the message the client was answered (never a secret).
    pub detail: Option<String>,
}

/// [`AuditEvent`] as stored: `{"id", "time" (RFC 3339, microseconds, UTC),
/// "actor", "action", "target", "outcome", "status", "detail"?}`. The same
/// shape is what `GET /v1/audit` answers.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAuditEvent {
    id: String,
    time: String,
    actor: String,
    action: AuditAction,
    target: String,
    outcome: AuditOutcome,
    status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// Why stored audit-event bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an audit event: {0}")]
pub struct StoredEventError(String);

impl AuditEvent {
    /// A new event at `time` (its id made from it).
    pub fn new(
        time: SystemTime,
        actor: impl Into<String>,
        action: AuditAction,
        target: impl Into<String>,
        status: u16,
        detail: Option<String>,
    ) -> Self {
        // Kept to the microsecond, as stored: an event read back equals the
        // event appended.
        let time = truncate_to_micros(time);
        Self {
            id: AuditId::new(time),
            time,
            actor: actor.into(),
            action,
            target: target.into(),
            outcome: if (200..300).contains(&status) {
                AuditOutcome::Success
            } else {
                AuditOutcome::Failure
            },
            status,
            detail,
        }
    }

    /// The event as JSON (see `StoredAuditEvent`'s shape above): what audit
    /// logs store and `GET /v1/audit` answers.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.stored()).unwrap_or_default()
    }

    /// The event as stored bytes: [`to_json`](Self::to_json), one line.
    pub fn to_stored_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.stored()).unwrap_or_default()
    }

    fn stored(&self) -> StoredAuditEvent {
        StoredAuditEvent {
            id: self.id.0.clone(),
            time: rfc3339_micros(self.time),
            actor: self.actor.clone(),
            action: self.action,
            target: self.target.clone(),
            outcome: self.outcome,
            status: self.status,
            detail: self.detail.clone(),
        }
    }

    /// Reads what [`to_stored_json`](Self::to_stored_json) wrote.
    ///
    /// # Errors
    /// [`StoredEventError`] saying what is wrong.
    pub fn from_stored_json(bytes: &[u8]) -> Result<Self, StoredEventError> {
        let s: StoredAuditEvent =
            serde_json::from_slice(bytes).map_err(|e| StoredEventError(e.to_string()))?;
        let id =
            AuditId::parse(&s.id).ok_or_else(|| StoredEventError(format!("bad id {:?}", s.id)))?;
        let t =
            time::OffsetDateTime::parse(&s.time, &time::format_description::well_known::Rfc3339)
                .map_err(|e| StoredEventError(format!("bad time {:?}: {e}", s.time)))?;
        let nanos = u64::try_from(t.unix_timestamp_nanos())
            .map_err(|_| StoredEventError(format!("time {:?} is before 1970", s.time)))?;
        Ok(Self {
            id,
            time: UNIX_EPOCH + Duration::from_nanos(nanos),
            actor: s.actor,
            action: s.action,
            target: s.target,
            outcome: s.outcome,
            status: s.status,
            detail: s.detail,
        })
    }
}

/// `t` without its sub-microsecond part (times before the epoch unchanged).
fn truncate_to_micros(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::new(d.as_secs(), d.subsec_micros() * 1_000),
        Err(_) => t,
    }
}

/// `t` as RFC 3339 in UTC with microseconds, e.g. `2026-12-04T10:00:00.123456Z`.
fn rfc3339_micros(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        d.subsec_micros()
    )
}

/// Where audit events are kept.
///
/// # Contract
/// - [`append`](Self::append) is durable when it returns `Ok`, and loses no
///   event when any number of writers (tasks, processes, Lambda instances)
///   append at once: each event is its own record (a file, an object, a
///   line appended under a lock); never a read-modify-write of one shared
///   object. Appending an id that exists is an error, never an overwrite.
/// - [`list`](Self::list) answers up to `limit` events in id order (newest
///   first), starting after `after` (exclusive) when given. A stored record
///   that cannot be read is skipped with a warning in the log, not an error
///   for the whole page.
#[async_trait]
pub trait AuditLog: Send + Sync + fmt::Debug {
    /// Appends `event`.
    async fn append(&self, event: &AuditEvent) -> Result<(), StorageError>;

    /// Up to `limit` events after `after`, newest first.
    async fn list(
        &self,
        after: Option<&AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StorageError>;
}

/// An [`AuditLog`] in memory: for tests and embedders that keep none.
#[derive(Debug, Default)]
pub struct InMemoryAuditLog {
    events: Mutex<BTreeMap<AuditId, AuditEvent>>,
}

impl InMemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event, newest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl AuditLog for InMemoryAuditLog {
    async fn append(&self, event: &AuditEvent) -> Result<(), StorageError> {
        let mut events = self.events.lock().unwrap();
        if events.contains_key(&event.id) {
            return Err(StorageError::AlreadyExists);
        }
        events.insert(event.id.clone(), event.clone());
        Ok(())
    }

    async fn list(
        &self,
        after: Option<&AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StorageError> {
        let events = self.events.lock().unwrap();
        let range = match after {
            Some(a) => events
                .range::<AuditId, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => events.range::<AuditId, _>(..),
        };
        Ok(range.take(limit).map(|(_, e)| e.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_newest_first_and_parse_back() {
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let older = AuditId::new(t);
        let newer = AuditId::new(t + Duration::from_micros(1));
        assert!(newer < older);
        assert_eq!(AuditId::parse(older.as_str()), Some(older.clone()));
        for bad in [
            "",
            "1-2",
            "../../etc/passwd",
            &older.as_str().to_uppercase().replace('-', "_"),
            "99999999999999999999-0123456789abcdef",
        ] {
            assert_eq!(AuditId::parse(bad), None, "{bad}");
        }
        // A cursor past every id is a position, not an id.
        let past = AuditId::cursor("99999999999999999999-0123456789abcdef").unwrap();
        assert!(past > older);
        assert_eq!(AuditId::cursor("1-2"), None);
    }

    #[test]
    fn events_round_trip_through_the_stored_form() {
        let t = UNIX_EPOCH + Duration::from_micros(1_800_000_000_123_456);
        let event = AuditEvent::new(
            t,
            "ci",
            AuditAction::Publish,
            "acme/vpc/aws/1.0.0",
            409,
            Some("exists".into()),
        );
        assert_eq!(event.outcome, AuditOutcome::Failure);
        let json = event.to_json();
        assert_eq!(json["time"], "2027-01-15T08:00:00.123456Z");
        assert_eq!(json["action"], "publish");
        assert_eq!(
            AuditEvent::from_stored_json(&event.to_stored_json()).unwrap(),
            event
        );
        assert!(AuditEvent::from_stored_json(b"{}").is_err());
    }

    #[test]
    fn times_are_kept_to_the_microsecond_so_events_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_800_000_000, 123_456_789);
        let event = AuditEvent::new(t, "ci", AuditAction::Pin, "a/b/c/1.0.0", 201, None);
        assert_eq!(
            event.time,
            UNIX_EPOCH + Duration::new(1_800_000_000, 123_456_000)
        );
        assert_eq!(
            AuditEvent::from_stored_json(&event.to_stored_json()).unwrap(),
            event
        );
    }
}
