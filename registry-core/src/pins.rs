//! The `PinStore` port: where the registry records the origin of versions it
//! pinned from an upstream (`POST /v1/pins/...`), listed by `GET /v1/pins`.
//!
//! The pinned archive itself lives in [`crate::Storage`] like any upload; a
//! [`PinRecord`] only says where it came from.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::storage::{Sha256Digest, StorageError};
use crate::version::parse_version;
use crate::{ModuleAddress, Version};

/// Where a pinned version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PinRecord {
    /// The pinned module.
    pub module: ModuleAddress,
    /// The pinned version.
    pub version: Version,
    /// The upstream's name or host.
    pub upstream: String,
    /// The source address the upstream answered (its `X-Terraform-Get`).
    pub source: String,
    /// The git ref fetched, for git sources.
    pub git_ref: Option<String>,
    /// SHA-256 of the archive as stored.
    pub sha256: Sha256Digest,
    /// When it was pinned (whole seconds).
    pub pinned_at: SystemTime,
}

/// The JSON form of a [`PinRecord`], as backends store it and the API shows it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinJson {
    namespace: String,
    name: String,
    system: String,
    version: String,
    upstream: String,
    source: String,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha256: String,
    /// Seconds since the Unix epoch.
    pinned_at: u64,
}

/// A stored pin record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pin record: {0}")]
pub struct InvalidPinRecord(String);

impl PinRecord {
    /// Builds a record; `pinned_at` is truncated to whole seconds.
    pub fn new(
        module: ModuleAddress,
        version: Version,
        upstream: impl Into<String>,
        source: impl Into<String>,
        git_ref: Option<String>,
        sha256: Sha256Digest,
        pinned_at: SystemTime,
    ) -> Self {
        let secs = pinned_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            module,
            version,
            upstream: upstream.into(),
            source: source.into(),
            git_ref,
            sha256,
            pinned_at: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    /// The record as the JSON document backends store (one per pinned version).
    pub fn to_json(&self) -> Vec<u8> {
        let json = PinJson {
            namespace: self.module.namespace().to_owned(),
            name: self.module.name().to_owned(),
            system: self.module.system().to_owned(),
            version: self.version.to_string(),
            upstream: self.upstream.clone(),
            source: self.source.clone(),
            git_ref: self.git_ref.clone(),
            sha256: self.sha256.to_hex(),
            pinned_at: self
                .pinned_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// Reads a document written by [`PinRecord::to_json`].
    ///
    /// # Errors
    /// [`InvalidPinRecord`] if it is not one.
    pub fn from_json(bytes: &[u8]) -> Result<Self, InvalidPinRecord> {
        let j: PinJson =
            serde_json::from_slice(bytes).map_err(|e| InvalidPinRecord(e.to_string()))?;
        let module = ModuleAddress::new(j.namespace, j.name, j.system)
            .map_err(|e| InvalidPinRecord(e.to_string()))?;
        let version = parse_version(&j.version).map_err(|e| InvalidPinRecord(e.to_string()))?;
        let sha256 = Sha256Digest::from_hex(&j.sha256)
            .ok_or_else(|| InvalidPinRecord("sha256 is not 64 hex digits".into()))?;
        Ok(Self {
            module,
            version,
            upstream: j.upstream,
            source: j.source,
            git_ref: j.git_ref,
            sha256,
            pinned_at: UNIX_EPOCH + Duration::from_secs(j.pinned_at),
        })
    }
}

/// Records where pinned versions came from, one record per `(module, version)`.
///
/// # Contract
/// - [`put`](PinStore::put) replaces any record of the same version: the last
///   pin of a version is the one shown.
/// - Every method is safe to call concurrently, from several processes sharing
///   one backend; a crash leaves a record either whole or absent.
///
/// The conformance suite (`pin_store_conformance_tests!`, feature
/// `conformance`) checks this; every implementation runs it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PinStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `pin`, replacing a record of the same module version.
    ///
    /// # Errors
    /// Backend failures only.
    async fn put(&self, pin: &PinRecord) -> Result<(), StorageError>;

    /// Every record, in any order.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list(&self) -> Result<Vec<PinRecord>, StorageError>;

    /// Forgets the record of a module version.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if there is none.
    async fn delete(&self, module: &ModuleAddress, version: &Version) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_refuses_garbage() {
        let pin = PinRecord::new(
            ModuleAddress::new("hashicorp", "consul", "aws").unwrap(),
            parse_version("0.1.0+meta").unwrap(),
            "registry.terraform.io",
            "git::https://github.com/hashicorp/terraform-aws-consul?ref=v0.1.0",
            Some("v0.1.0".into()),
            Sha256Digest::of(b"x"),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_900),
        );
        assert_eq!(
            pin.pinned_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(PinRecord::from_json(&pin.to_json()).unwrap(), pin);
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"namespace":"a","name":"b","system":"C","version":"1.0.0","upstream":"u","source":"s","ref":null,"sha256":"00","pinned_at":0}"#,
        ] {
            assert!(PinRecord::from_json(bad).is_err());
        }
    }
}
