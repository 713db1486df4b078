//! [`S3CatalogueStore`]: the catalogue snapshot as one S3 object, replaced
//! by conditional writes.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bytes::Bytes;
use registry_core::{CatalogueStore, SnapshotRead, SnapshotTag, StorageError, StoredSnapshot};

use crate::bucket::{Bucket, Object};
use crate::config::S3Config;
use crate::error::BACKEND;

/// The catalogue snapshot in `s3://{bucket}/{prefix}_catalogue/snapshot.json.gz`.
///
/// # Contract
/// - The tag is the object's ETag. [`store`](CatalogueStore::store) is a
///   `PutObject` with `If-Match: <etag>` (or `If-None-Match: *` for the
///   first snapshot), so of two writers that read one version exactly one
///   wins, across every process and Lambda instance on the bucket; S3
///   answers the loser 412 (or 409 while the winner's write is in flight),
///   which is [`StorageError::Conflict`].
/// - A read is one `GetObject`; a write one `PutObject`.
/// - IAM: `s3:GetObject` and `s3:PutObject` on the key.
#[derive(Debug, Clone)]
pub struct S3CatalogueStore {
    bucket: Bucket,
}

impl S3CatalogueStore {
    /// Uses a ready client; `config` supplies the bucket and prefix. Makes no request.
    pub fn from_client(client: Client, config: S3Config) -> Self {
        Self {
            bucket: Bucket::new(client, &config),
        }
    }

    /// Connects as [`S3Storage::connect`](crate::S3Storage::connect) does and
    /// checks the bucket.
    ///
    /// # Errors
    /// As [`S3Storage::connect`](crate::S3Storage::connect).
    pub async fn connect(config: S3Config) -> Result<Self, StorageError> {
        let bucket = Bucket::connect(&config).await?;
        bucket.check().await?;
        Ok(Self { bucket })
    }

    /// The snapshot's key.
    pub fn key(&self) -> String {
        format!("{}_catalogue/snapshot.json.gz", self.bucket.prefix)
    }
}

#[async_trait]
impl CatalogueStore for S3CatalogueStore {
    async fn load(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let key = self.key();
        match self.bucket.get(&key).await {
            Ok(Object {
                bytes,
                etag: Some(etag),
            }) => Ok(Some(StoredSnapshot {
                bytes,
                tag: SnapshotTag(etag),
            })),
            // Without an ETag no conditional write can follow this read.
            Ok(Object { etag: None, .. }) => Err(StorageError::other(
                BACKEND,
                format!("GetObject s3://{}/{key} answered no ETag; use an S3-compatible server that sends one", self.bucket.name),
            )),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One `GetObject` with `If-None-Match`: `304` is `Unchanged`, with no
    /// body transferred.
    async fn load_if_changed<'a>(
        &self,
        known: &'a SnapshotTag,
    ) -> Result<SnapshotRead, StorageError> {
        let key = self.key();
        match self.bucket.get_if_none_match(&key, &known.0).await {
            Ok(None) => Ok(SnapshotRead::Unchanged),
            Ok(Some(Object {
                bytes,
                etag: Some(etag),
            })) => Ok(if etag == known.0 {
                SnapshotRead::Unchanged
            } else {
                SnapshotRead::Changed(StoredSnapshot {
                    bytes,
                    tag: SnapshotTag(etag),
                })
            }),
            Ok(Some(Object { etag: None, .. })) => Err(StorageError::other(
                BACKEND,
                format!("GetObject s3://{}/{key} answered no ETag; use an S3-compatible server that sends one", self.bucket.name),
            )),
            Err(StorageError::NotFound) => Ok(SnapshotRead::Missing),
            Err(e) => Err(e),
        }
    }

    async fn store<'a>(
        &self,
        bytes: Bytes,
        expected: Option<&'a SnapshotTag>,
    ) -> Result<SnapshotTag, StorageError> {
        self.bucket
            .put_conditional(
                &self.key(),
                bytes,
                "application/gzip",
                expected.map(|t| t.0.as_str()),
            )
            .await
            .map(SnapshotTag)
    }
}
