//! [`S3AuditLog`]: audit events as small JSON objects, one per event.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use registry_core::audit::{AuditEvent, AuditId, AuditLog};
use registry_core::StorageError;

use crate::bucket::{Bucket, PutBody};
use crate::config::S3Config;

/// How many events [`AuditLog::list`] reads at once.
const READ_CONCURRENCY: usize = 8;

const JSON: &str = ".json";

/// An [`AuditLog`] on S3: `{prefix}audit/{id}.json` holds one event
/// ([`AuditEvent::to_stored_json`], `application/json`).
///
/// # Guarantees
/// - [`append`](AuditLog::append) is one `PutObject` with `If-None-Match: *`:
///   S3 stores the object whole or not at all, an id that exists is
///   [`StorageError::AlreadyExists`] (S3 answers `412`) and the first event
///   keeps it. Every event is its own object, never a read-modify-write of a
///   shared one, so any number of processes and Lambda instances append
///   without losing one.
/// - Ids sort newest first and are all the same length, so S3's key order is
///   the log's order: [`list`](AuditLog::list) is `ListObjectsV2` on
///   `{prefix}audit/` with `start-after` = the `after` id's key and `max-keys`
///   = what the page still needs, then a `GetObject` of each key, 8 at a
///   time, keeping the order. Keys below `{prefix}audit/` that are not
///   `{id}.json` are ignored. An object that does not hold an event, or holds
///   one whose id is not its key's, is skipped with a warning naming the key
///   (the page is filled from the next keys); one that vanished meanwhile is
///   skipped silently. Errors that concern the bucket, the credentials or the
///   network (`Misconfigured`, `Unavailable`) fail the page: skipping would
///   move a reader's cursor past events it never saw.
///
/// Needs `s3:PutObject`, `s3:GetObject` on `arn:aws:s3:::BUCKET/{prefix}audit/*`
/// and `s3:ListBucket` on the bucket (for the prefix). The crate README
/// describes the layout.
#[derive(Clone)]
pub struct S3AuditLog {
    bucket: Bucket,
}

impl fmt::Debug for S3AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3AuditLog")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl S3AuditLog {
    /// Connects like [`S3Storage::connect`](crate::S3Storage::connect) (standard
    /// AWS configuration with `config`'s overrides) and checks the bucket.
    ///
    /// # Errors
    /// As [`S3Storage::connect`](crate::S3Storage::connect).
    pub async fn connect(config: S3Config) -> Result<Self, StorageError> {
        let bucket = Bucket::connect(&config).await?;
        bucket.check().await?;
        Ok(Self { bucket })
    }

    /// Uses a ready client; `config` supplies the bucket and prefix. Makes no request.
    pub fn from_client(client: Client, config: S3Config) -> Self {
        Self {
            bucket: Bucket::new(client, &config),
        }
    }

    /// `{prefix}audit/`.
    fn audit_prefix(&self) -> String {
        format!("{}audit/", self.bucket.prefix)
    }

    /// `{prefix}audit/{id}.json`.
    fn key(&self, id: &AuditId) -> String {
        // Ids are `[0-9a-f-]`: safe in a key.
        format!("{}{id}{JSON}", self.audit_prefix())
    }

    /// Reads the event at `key`, which must be `id`'s. `None` if it vanished,
    /// or (with a warning) if it cannot be used.
    async fn read(&self, key: &str, id: &AuditId) -> Result<Option<AuditEvent>, StorageError> {
        let obj = match self.bucket.get(key).await {
            Ok(obj) => obj,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e @ (StorageError::Misconfigured { .. } | StorageError::Unavailable { .. })) => {
                return Err(e)
            }
            Err(e) => {
                tracing::warn!(bucket = self.bucket.name, key, error = %e, "skipping an audit event object that cannot be read");
                return Ok(None);
            }
        };
        // The format is registry-core's (`AuditEvent::to_stored_json`).
        match AuditEvent::from_stored_json(&obj.bytes) {
            Ok(event) if event.id == *id => Ok(Some(event)),
            Ok(event) => {
                tracing::warn!(bucket = self.bucket.name, key, id = %event.id, "skipping an audit event object that holds an event with another id than its key");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(bucket = self.bucket.name, key, error = %e, "skipping an object that does not hold an audit event");
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl AuditLog for S3AuditLog {
    /// `PutObject` of `{prefix}audit/{id}.json` with `If-None-Match: *`
    /// (412 -> `AlreadyExists`).
    async fn append(&self, event: &AuditEvent) -> Result<(), StorageError> {
        let body = Bytes::from(event.to_stored_json());
        self.bucket
            .put_if_absent(
                &self.key(&event.id),
                PutBody::Bytes(&body),
                None,
                "application/json",
            )
            .await
    }

    /// `ListObjectsV2` from the `after` id's key, then `GetObject`s, 8 at a
    /// time in key order; lists on past skipped keys until the page is full
    /// or the log ends.
    async fn list(
        &self,
        after: Option<&AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StorageError> {
        let prefix = self.audit_prefix();
        let mut page = Vec::new();
        let mut start_after = after.map(|id| self.key(id));
        while page.len() < limit {
            let wanted = limit - page.len();
            let keys = self
                .bucket
                .list_after(&prefix, start_after.as_deref(), wanted)
                .await?;
            let exhausted = keys.len() < wanted;
            start_after = keys.last().cloned();
            let events: Vec<(String, AuditId)> = keys
                .into_iter()
                .filter_map(|key| {
                    let id = key
                        .strip_prefix(&prefix)
                        .and_then(|rest| rest.strip_suffix(JSON))
                        .and_then(AuditId::parse)?;
                    Some((key, id))
                })
                .collect();
            let read: Vec<Option<AuditEvent>> = futures_util::stream::iter(events)
                .map(|(key, id)| async move { self.read(&key, &id).await })
                .buffered(READ_CONCURRENCY)
                .try_collect()
                .await?;
            page.extend(read.into_iter().flatten());
            if exhausted || start_after.is_none() {
                break;
            }
        }
        Ok(page)
    }
}
