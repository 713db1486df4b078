//! [`DecodedDocuments`]: metadata documents decoded once and shared while
//! storage keeps answering the same bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::document::VersionDocument;
use crate::cache::MAX_CACHED_METADATA_BYTES;
use crate::{ModuleAddress, Version};

/// Documents kept at most; with documents of at most
/// [`MAX_CACHED_METADATA_BYTES`] each, a few tens of MiB in the worst case,
/// a few MiB for typical documents of a few KiB.
pub(crate) const MAX_DECODED_DOCUMENTS: usize = 256;

/// Decoded metadata documents by version, each with the bytes it was decoded
/// from. A document is reused only when storage answers exactly those bytes
/// again (compared in full), so it can never be staler than storage's answer:
/// nothing needs invalidating on publish or delete. Documents larger than
/// [`MAX_CACHED_METADATA_BYTES`] are decoded every time; when full, an
/// arbitrary document makes room.
#[derive(Debug, Default)]
pub(crate) struct DecodedDocuments {
    kept: Mutex<HashMap<(ModuleAddress, Version), Decoded>>,
}

/// A document and the bytes it was decoded from.
type Decoded = (Bytes, Arc<VersionDocument>);

impl DecodedDocuments {
    /// The document of `version` of `module` that `bytes` encode, its root
    /// named after the module (the archive does not know the name); `None`
    /// when `bytes` are not a document of this schema.
    pub(crate) fn decode(
        &self,
        module: &ModuleAddress,
        version: &Version,
        bytes: &Bytes,
    ) -> Option<Arc<VersionDocument>> {
        let key = (module.clone(), version.clone());
        if let Some((kept_bytes, document)) = self.kept.lock().expect("not poisoned").get(&key) {
            if kept_bytes == bytes {
                return Some(Arc::clone(document));
            }
        }
        let document = Arc::new(named(module, VersionDocument::decode(bytes)?));
        if bytes.len() <= MAX_CACHED_METADATA_BYTES {
            let mut kept = self.kept.lock().expect("not poisoned");
            if kept.len() >= MAX_DECODED_DOCUMENTS && !kept.contains_key(&key) {
                let evicted = kept.keys().next().cloned();
                if let Some(evicted) = evicted {
                    kept.remove(&evicted);
                }
            }
            kept.insert(key, (bytes.clone(), Arc::clone(&document)));
        }
        Some(document)
    }
}

/// `document` with its root named after `module`.
pub(crate) fn named(module: &ModuleAddress, mut document: VersionDocument) -> VersionDocument {
    module.name().clone_into(&mut document.metadata.root.name);
    document
}

#[cfg(test)]
mod tests {
    use super::*;
    use module_metadata::ModuleMetadata;

    fn document(description: &str) -> Bytes {
        let mut document = VersionDocument::new(None, ModuleMetadata::default());
        description.clone_into(&mut document.description);
        document.encode()
    }

    #[test]
    fn same_bytes_share_one_document_changed_bytes_decode_again() {
        let docs = DecodedDocuments::default();
        let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
        let version = Version::new(1, 0, 0);
        let first = docs.decode(&module, &version, &document("one")).unwrap();
        assert_eq!(first.metadata.root.name, "vpc");
        let again = docs.decode(&module, &version, &document("one")).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "equal bytes reuse the document"
        );
        let changed = docs.decode(&module, &version, &document("two")).unwrap();
        assert_eq!(changed.description, "two", "never staler than the bytes");
        assert!(docs
            .decode(&module, &version, &Bytes::from_static(b"not json"))
            .is_none());
    }

    #[test]
    fn keeps_a_bounded_number_and_not_large_documents() {
        let docs = DecodedDocuments::default();
        let module = ModuleAddress::new("acme", "vpc", "aws").unwrap();
        for patch in 0..(MAX_DECODED_DOCUMENTS as u64 + 10) {
            let version = Version::new(1, 0, patch);
            docs.decode(&module, &version, &document("d")).unwrap();
        }
        assert_eq!(docs.kept.lock().unwrap().len(), MAX_DECODED_DOCUMENTS);

        let docs = DecodedDocuments::default();
        let large = document(&"x".repeat(MAX_CACHED_METADATA_BYTES));
        let version = Version::new(2, 0, 0);
        let a = docs.decode(&module, &version, &large).unwrap();
        let b = docs.decode(&module, &version, &large).unwrap();
        assert!(
            !Arc::ptr_eq(&a, &b),
            "large documents are decoded each time"
        );
        assert!(docs.kept.lock().unwrap().is_empty());
    }
}
