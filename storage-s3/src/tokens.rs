//! [`S3TokenStore`]: token records as small JSON objects, claimed by name.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use registry_core::tokens::validate_token_name;
use registry_core::{StorageError, TokenHash, TokenRecord, TokenStore};

use crate::bucket::{Bucket, PutBody};
use crate::config::S3Config;
use crate::error::{corrupt, BACKEND};

/// How many records [`TokenStore::list`] reads at once.
const LIST_CONCURRENCY: usize = 16;

const JSON: &str = ".json";

/// A [`TokenStore`] on S3:
///
/// - `{prefix}tokens/by-name/{name}.json` is the record (name, tier, SHA-256 of
///   the token, creation time), created with `If-None-Match: *`: the atomic claim
///   of the name;
/// - `{prefix}tokens/by-hash/{sha256 hex}.json` is a copy of it, for lookups by hash.
///
/// Only hashes are stored, never a token. A lookup by hash returns a record only
/// if the name's record still holds that hash, so a left-over hash object (a
/// deleted or failed token) never authenticates. The crate README describes the
/// layout and the ordering argument.
#[derive(Clone)]
pub struct S3TokenStore {
    bucket: Bucket,
}

impl fmt::Debug for S3TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3TokenStore")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl S3TokenStore {
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

    fn by_name_prefix(&self) -> String {
        format!("{}tokens/by-name/", self.bucket.prefix)
    }

    fn name_key(&self, name: &str) -> String {
        format!("{}{name}{JSON}", self.by_name_prefix())
    }

    fn hash_key(&self, hash: &TokenHash) -> String {
        format!(
            "{}tokens/by-hash/{}{JSON}",
            self.bucket.prefix,
            hash.to_hex()
        )
    }

    /// Reads and parses a record object; `Ok(None)` if absent.
    async fn read(&self, key: &str) -> Result<Option<TokenRecord>, StorageError> {
        let obj = match self.bucket.get(key).await {
            Ok(obj) => obj,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The format is registry-core's (`TokenRecord::to_stored_json`).
        TokenRecord::from_stored_json(&obj.bytes)
            .map(Some)
            .map_err(|e| corrupt(&self.bucket.name, key, e))
    }
}

fn invalid_name(name: &str) -> StorageError {
    StorageError::other(
        BACKEND,
        validate_token_name(name)
            .err()
            .map_or_else(|| format!("invalid token name {name:?}"), |e| e.to_string()),
    )
}

#[async_trait]
impl TokenStore for S3TokenStore {
    /// Claims the name (`PutObject` `by-name/{name}.json` with `If-None-Match: *`;
    /// 412 -> `AlreadyExists`), then writes `by-hash/{sha256}.json`. If that fails,
    /// the claim is deleted again.
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError> {
        if validate_token_name(&record.name).is_err() {
            return Err(invalid_name(&record.name));
        }
        let body = Bytes::from(record.to_stored_json());
        let name_key = self.name_key(&record.name);
        self.bucket
            .put_if_absent(&name_key, PutBody::Bytes(&body), None, "application/json")
            .await?;
        // Hash objects are overwritten (a left-over of a failed create or a
        // delete interrupted by a crash may be there): their content is only
        // trusted when the name's record agrees.
        let hash_key = self.hash_key(&record.hash);
        if let Err(e) = self.bucket.put(&hash_key, body, "application/json").await {
            if let Err(undo) = self.bucket.delete(&name_key).await {
                tracing::warn!(key = name_key, error = %undo, "could not remove the name claim of a failed token create");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Reads `by-hash/{sha256}.json`, then the name's record, and returns the
    /// record only if both hold this hash (compared in constant time).
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        let Some(indexed) = self.read(&self.hash_key(hash)).await? else {
            return Ok(None);
        };
        if !indexed.hash.ct_eq(hash) || validate_token_name(&indexed.name).is_err() {
            return Ok(None);
        }
        let Some(record) = self.read(&self.name_key(&indexed.name)).await? else {
            return Ok(None);
        };
        Ok(record.hash.ct_eq(hash).then_some(record))
    }

    /// Lists `by-name/` (all pages), then reads the records, 16 at a time.
    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let prefix = self.by_name_prefix();
        let listing = self.bucket.list(&prefix).await?;
        let keys: Vec<String> = listing
            .keys
            .into_iter()
            .filter(|k| {
                k.strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix(JSON))
                    .is_some_and(|name| validate_token_name(name).is_ok())
            })
            .collect();
        let records: Vec<Option<TokenRecord>> = futures_util::stream::iter(keys)
            .map(|key| async move { self.read(&key).await })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        // `None`: deleted while listing.
        Ok(records.into_iter().flatten().collect())
    }

    /// Deletes the name's record first (the token stops working at once, since a
    /// lookup needs it), then the hash object.
    async fn delete(&self, name: &str) -> Result<(), StorageError> {
        if validate_token_name(name).is_err() {
            return Err(invalid_name(name));
        }
        let name_key = self.name_key(name);
        let Some(record) = self.read(&name_key).await? else {
            return Err(StorageError::NotFound);
        };
        self.bucket.delete(&name_key).await?;
        let hash_key = self.hash_key(&record.hash);
        if let Err(e) = self.bucket.delete(&hash_key).await {
            // Harmless: without its name's record a hash object never authenticates.
            tracing::warn!(key = hash_key, error = %e, "could not remove a deleted token's hash object");
        }
        Ok(())
    }
}
