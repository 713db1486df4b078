//! The metadata document stored beside each version (`Storage::write_metadata`).

use bytes::Bytes;
use module_metadata::ModuleMetadata;
use serde::{Deserialize, Serialize};

/// The document's format version. A document of another schema is read as
/// absent, and derived again from the archive.
pub const METADATA_SCHEMA: u64 = 1;

/// What the registry keeps per version: when it was published, its
/// description and what extraction found in its archive.
///
/// Stored as JSON: `{"schema":1,"published_at":"2026-12-04T06:00:00Z",
/// "description":"...","metadata":{"root":{...},"submodules":[...],
/// "examples":[...],"warnings":[...]}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionDocument {
    /// [`METADATA_SCHEMA`].
    pub schema: u64,
    /// When the version was published, RFC 3339 (UTC, seconds); `None` for a
    /// version published before the registry kept documents, whose document
    /// was derived later.
    pub published_at: Option<String>,
    /// The first paragraph of the root README, or `""`.
    pub description: String,
    /// What extraction found.
    pub metadata: ModuleMetadata,
}

impl VersionDocument {
    /// A document of the current schema.
    pub fn new(published_at: Option<String>, metadata: ModuleMetadata) -> Self {
        Self {
            schema: METADATA_SCHEMA,
            published_at,
            description: metadata.description().unwrap_or_default(),
            metadata,
        }
    }

    /// The stored form.
    pub fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a document always serializes"))
    }

    /// Reads a stored document; `None` when it is not one of this schema
    /// (corrupt, or written by another version of the registry).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|d| d.schema == METADATA_SCHEMA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_schemas() {
        let mut metadata = ModuleMetadata::default();
        metadata.root.readme = "# X\n\nA network.\n".into();
        let doc = VersionDocument::new(Some("2026-12-04T06:00:00Z".into()), metadata);
        assert_eq!(doc.description, "A network.");
        assert_eq!(VersionDocument::decode(&doc.encode()), Some(doc.clone()));
        let mut other: serde_json::Value = serde_json::from_slice(&doc.encode()).unwrap();
        other["schema"] = 2.into();
        assert_eq!(VersionDocument::decode(other.to_string().as_bytes()), None);
        assert_eq!(VersionDocument::decode(b"{not json"), None);
    }
}
