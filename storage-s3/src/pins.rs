//! [`S3PinStore`]: pin records as small JSON objects, one per pinned version.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use registry_core::{ModuleAddress, PinRecord, PinStore, StorageError, Version};

use crate::bucket::Bucket;
use crate::config::S3Config;

/// How many records [`PinStore::list`] reads at once.
const LIST_CONCURRENCY: usize = 16;

const JSON: &str = ".json";

/// A [`PinStore`] on S3: `{prefix}pins/{namespace}/{name}/{system}/{version}.json`
/// is the record of one pinned version ([`PinRecord::to_json`],
/// `application/json`).
///
/// [`put`](PinStore::put) is a plain `PutObject`, which replaces an earlier
/// record of the version (S3 objects appear whole: readers see the old record
/// or the new one; of racing puts the last one wins).
/// [`list`](PinStore::list) lists `{prefix}pins/` (all pages) and reads the
/// records, skipping with a warning objects that do not hold a pin record or
/// whose record is of another module version than their key.
/// [`delete`](PinStore::delete) answers [`StorageError::NotFound`] if the
/// record is absent (`HeadObject`), else deletes it. The crate README describes
/// the layout.
#[derive(Clone)]
pub struct S3PinStore {
    bucket: Bucket,
}

impl fmt::Debug for S3PinStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3PinStore")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl S3PinStore {
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

    /// `{prefix}pins/`.
    fn pins_prefix(&self) -> String {
        format!("{}pins/", self.bucket.prefix)
    }

    /// `{prefix}pins/{namespace}/{name}/{system}/{version}.json`.
    fn pin_key(&self, module: &ModuleAddress, version: &Version) -> String {
        // Address parts are `[A-Za-z0-9_-]` (validated by `ModuleAddress`) and
        // versions `[0-9A-Za-z.+-]`; the SDK percent-encodes `+` in the request path.
        format!(
            "{}{}/{}/{}/{version}{JSON}",
            self.pins_prefix(),
            module.namespace(),
            module.name(),
            module.system()
        )
    }

    /// Reads the object at `key`. `None` if it was deleted meanwhile, or (with a
    /// warning) if it does not hold a pin record or holds the record of another
    /// module version than its key says.
    async fn read(&self, key: &str) -> Result<Option<PinRecord>, StorageError> {
        let obj = match self.bucket.get(key).await {
            Ok(obj) => obj,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        match PinRecord::from_json(&obj.bytes) {
            Err(e) => {
                tracing::warn!(bucket = self.bucket.name, key, error = %e, "skipping an object that does not hold a pin record");
                Ok(None)
            }
            Ok(pin) if self.pin_key(&pin.module, &pin.version) != key => {
                tracing::warn!(
                    bucket = self.bucket.name,
                    key,
                    module = %pin.module,
                    version = %pin.version,
                    "skipping a pin object whose record is of another module version than its key"
                );
                Ok(None)
            }
            Ok(pin) => Ok(Some(pin)),
        }
    }
}

/// Whether `rest` (a key below `{prefix}pins/`) has the shape of a pin key:
/// `{namespace}/{name}/{system}/{file}.json`, no part empty or starting with `.`.
/// (Archives of a module in a namespace called `pins` never end in `.json`.)
fn looks_like_pin_key(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('/').collect();
    parts.len() == 4
        && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.'))
        && parts[3].ends_with(JSON)
}

#[async_trait]
impl PinStore for S3PinStore {
    /// `PutObject` of the record (no condition: replaces an earlier pin).
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError> {
        let key = self.pin_key(&pin.module, &pin.version);
        self.bucket
            .put(&key, Bytes::from(pin.to_json()), "application/json")
            .await
    }

    /// Lists `{prefix}pins/` (all pages, no delimiter), then reads the records,
    /// 16 at a time.
    async fn list(&self) -> Result<Vec<PinRecord>, StorageError> {
        let prefix = self.pins_prefix();
        let listing = self.bucket.list_recursive(&prefix).await?;
        let keys: Vec<String> = listing
            .keys
            .into_iter()
            .filter(|k| k.strip_prefix(&prefix).is_some_and(looks_like_pin_key))
            .collect();
        let records: Vec<Option<PinRecord>> = futures_util::stream::iter(keys)
            .map(|key| async move { self.read(&key).await })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut records: Vec<PinRecord> = records.into_iter().flatten().collect();
        records.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
        Ok(records)
    }

    /// `HeadObject` of the record (`NotFound` if absent), then `DeleteObject`.
    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError> {
        let key = self.pin_key(module, version);
        self.bucket.head(&key).await?;
        self.bucket.delete(&key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_keys_are_told_apart_from_other_objects() {
        for key in ["a/b/c/1.0.0.json", "a/b/c/2.0.0-rc.1+b.5.json"] {
            assert!(looks_like_pin_key(key), "{key}");
        }
        for key in [
            "a/b/c/.tmp.json",
            "a/b/c/1.0.0.json/x",
            "a/b/1.0.0.json",
            "a//c/1.0.0.json",
            "a/b/c/1.0.0",
            // An archive and claim of module `pins/b/c` version 1.0.0.
            "b/c/1.0.0/b-c-1.0.0.tar.gz",
            "b/c/1.0.0/.claim",
        ] {
            assert!(!looks_like_pin_key(key), "{key}");
        }
    }
}
