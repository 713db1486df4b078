//! The snapshot's stored form: gzip-compressed JSON with a format number.
//! [`Snapshot::encode`], [`Snapshot::decode`] and [`SnapshotError`].

use std::cmp::Ordering;
use std::collections::HashSet;
use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::entry::parse_version;
use crate::{ModuleEntry, ModuleKey, PendingChange, Snapshot};

/// The format number [`Snapshot::encode`] writes and the only one
/// [`Snapshot::decode`] reads.
pub const FORMAT: u64 = 1;

/// The most [`Snapshot::decode`] decompresses: 1 GiB, about 15 times the
/// JSON of 100,000 modules, so a corrupt or hostile snapshot cannot make the
/// reader allocate without bound.
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why [`Snapshot::decode`] refused some bytes. Every variant means "do not
/// trust this snapshot": the registry rebuilds the catalogue from storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start with the gzip magic number.
    #[error(
        "catalogue snapshot is not gzip data (it does not start with the gzip magic bytes 1f 8b)"
    )]
    NotGzip,
    /// The gzip stream is truncated or corrupt (bad deflate data, CRC or
    /// length).
    #[error("catalogue snapshot's gzip stream is truncated or corrupt: {source}")]
    CorruptGzip {
        /// The decompressor's complaint.
        #[source]
        source: std::io::Error,
    },
    /// The gzip stream expands to more than the reader's limit
    /// ([`MAX_DECODED_BYTES`] for [`Snapshot::decode`]).
    #[error("catalogue snapshot expands to more than {limit} bytes; it is not one this registry wrote, so rebuild the catalogue from storage")]
    TooLarge {
        /// The limit, in decompressed bytes.
        limit: u64,
    },
    /// The decompressed bytes are not a JSON object of the expected shape.
    #[error("catalogue snapshot is not valid format-1 JSON: {source}")]
    Json {
        /// The parser's complaint, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON object has no `format` field.
    #[error("catalogue snapshot has no `format` field")]
    MissingFormat,
    /// Written in a format this version of the crate does not read.
    #[error("catalogue snapshot has format {found}; this reader supports only format {supported}")]
    UnknownFormat {
        /// The snapshot's `format`.
        found: u64,
        /// [`FORMAT`].
        supported: u64,
    },
    /// Two module entries have the same key.
    #[error("catalogue snapshot lists module {key} twice")]
    DuplicateModule {
        /// The repeated key.
        key: Box<ModuleKey>,
    },
    /// A module entry has no versions.
    #[error("catalogue snapshot lists module {key} with no versions")]
    NoVersions {
        /// The module.
        key: Box<ModuleKey>,
    },
    /// A version is not semantic-version text.
    #[error("catalogue snapshot lists version `{version}` of {key}, which is not a semantic version: {reason}")]
    InvalidVersion {
        /// The module.
        key: Box<ModuleKey>,
        /// The refused text.
        version: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A module's versions are not in ascending order.
    #[error(
        "catalogue snapshot lists the versions of {key} out of order: {version} after {previous}"
    )]
    UnsortedVersions {
        /// The module.
        key: Box<ModuleKey>,
        /// The version found out of place.
        version: String,
        /// The higher version listed before it.
        previous: String,
    },
    /// A module lists the same version twice.
    #[error("catalogue snapshot lists version {version} of {key} twice")]
    DuplicateVersion {
        /// The module.
        key: Box<ModuleKey>,
        /// The repeated version.
        version: String,
    },
    /// Two pending changes have the same id.
    #[error("catalogue snapshot has two pending changes with id `{id}`")]
    DuplicatePending {
        /// The repeated id.
        id: String,
    },
}

/// The stored object, as written.
#[derive(Serialize)]
struct WireOut<'a> {
    format: u64,
    generation: u64,
    modules: Vec<&'a ModuleEntry>,
    pending: &'a [PendingChange],
}

/// The stored object, as read (format 1). Unknown fields are ignored.
#[derive(Deserialize)]
struct WireIn {
    format: u64,
    generation: u64,
    modules: Vec<ModuleEntry>,
    #[serde(default)]
    pending: Vec<PendingChange>,
}

/// Just the format number, to explain a failed full parse.
#[derive(Deserialize)]
struct Probe {
    format: Option<u64>,
}

impl Snapshot {
    /// The stored form: gzip-compressed JSON (format [`FORMAT`]), with
    /// `modules` in key order. Deterministic: equal snapshots encode to equal
    /// bytes. The README documents the fields.
    ///
    /// Modules are written in key order even if `modules` was edited out of
    /// order by hand; of duplicate keys, only the first is written (as
    /// [`normalize`](Self::normalize) would keep).
    pub fn encode(&self) -> Vec<u8> {
        let mut modules: Vec<&ModuleEntry> = self.modules.iter().collect();
        if !modules.is_sorted_by(|a, b| a.key < b.key) {
            modules.sort_by(|a, b| a.key.cmp(&b.key));
            modules.dedup_by(|later, earlier| later.key == earlier.key);
        }
        let wire = WireOut {
            format: FORMAT,
            generation: self.generation,
            modules,
            pending: &self.pending,
        };
        let json = serde_json::to_vec(&wire).expect("serializing strings and integers cannot fail");
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
        gz.write_all(&json).expect("writing to a Vec cannot fail");
        gz.finish().expect("writing to a Vec cannot fail")
    }

    /// Reads the stored form written by [`encode`](Self::encode), and checks
    /// the [invariants](Snapshot#invariants). Modules listed out of key
    /// order are accepted and sorted; JSON fields this version does not know
    /// are ignored.
    ///
    /// # Errors
    /// A [`SnapshotError`] naming the first problem: not gzip, corrupt or
    /// truncated gzip, invalid JSON, a missing or unknown `format`, a module
    /// listed twice or without versions, a version that is not semver, out of
    /// order or repeated, a pending id repeated.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotError> {
        Self::decode_within(bytes, MAX_DECODED_BYTES)
    }

    /// [`decode`](Self::decode), decompressing at most `limit` bytes.
    ///
    /// # Errors
    /// As [`decode`](Self::decode), and [`SnapshotError::TooLarge`] past `limit`.
    pub fn decode_within(bytes: &[u8], limit: u64) -> Result<Self, SnapshotError> {
        if !bytes.starts_with(&GZIP_MAGIC) {
            return Err(SnapshotError::NotGzip);
        }
        let mut json = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit as usize));
        // One byte past the limit tells "exactly at the limit" from "over it".
        GzDecoder::new(bytes)
            .take(limit.saturating_add(1))
            .read_to_end(&mut json)
            .map_err(|source| SnapshotError::CorruptGzip { source })?;
        if json.len() as u64 > limit {
            return Err(SnapshotError::TooLarge { limit });
        }
        let wire: WireIn = match serde_json::from_slice(&json) {
            Ok(wire) => wire,
            Err(source) => {
                return Err(match serde_json::from_slice::<Probe>(&json) {
                    Ok(Probe { format: None }) => SnapshotError::MissingFormat,
                    Ok(Probe {
                        format: Some(found),
                    }) if found != FORMAT => SnapshotError::UnknownFormat {
                        found,
                        supported: FORMAT,
                    },
                    _ => SnapshotError::Json { source },
                })
            }
        };
        drop(json);
        if wire.format != FORMAT {
            return Err(SnapshotError::UnknownFormat {
                found: wire.format,
                supported: FORMAT,
            });
        }
        let mut modules = wire.modules;
        if !modules.is_sorted_by(|a, b| a.key < b.key) {
            modules.sort_by(|a, b| a.key.cmp(&b.key));
        }
        for pair in modules.windows(2) {
            if pair[0].key == pair[1].key {
                return Err(SnapshotError::DuplicateModule {
                    key: Box::new(pair[1].key.clone()),
                });
            }
        }
        for module in &modules {
            check_versions(module)?;
        }
        let mut ids = HashSet::with_capacity(wire.pending.len());
        for change in &wire.pending {
            if !ids.insert(change.id.as_str()) {
                return Err(SnapshotError::DuplicatePending {
                    id: change.id.clone(),
                });
            }
        }
        drop(ids);
        Ok(Snapshot {
            generation: wire.generation,
            modules,
            pending: wire.pending,
        })
    }
}

/// Checks one module's versions: present, semver, strictly ascending.
fn check_versions(module: &ModuleEntry) -> Result<(), SnapshotError> {
    if module.versions.is_empty() {
        return Err(SnapshotError::NoVersions {
            key: Box::new(module.key.clone()),
        });
    }
    let mut previous: Option<(semver::Version, &str)> = None;
    for entry in &module.versions {
        let parsed = parse_version(&entry.version).map_err(|e| SnapshotError::InvalidVersion {
            key: Box::new(module.key.clone()),
            version: entry.version.clone(),
            reason: e.to_string(),
        })?;
        if let Some((prev, prev_text)) = &previous {
            match prev.cmp(&parsed) {
                Ordering::Less => {}
                Ordering::Equal => {
                    return Err(SnapshotError::DuplicateVersion {
                        key: Box::new(module.key.clone()),
                        version: entry.version.clone(),
                    })
                }
                Ordering::Greater => {
                    return Err(SnapshotError::UnsortedVersions {
                        key: Box::new(module.key.clone()),
                        version: entry.version.clone(),
                        previous: (*prev_text).to_owned(),
                    })
                }
            }
        }
        previous = Some((parsed, &entry.version));
    }
    Ok(())
}
