#![doc = include_str!("../README.md")]

mod bitset;
mod dictionary;
mod entry;
mod format;
mod index;
mod join;
mod key;
mod pending;
mod query;
mod scope;
mod snapshot;
mod tokens;

pub use entry::{ModuleEntry, VersionEntry};
pub use format::{SnapshotError, FORMAT, MAX_DECODED_BYTES};
pub use index::{CatalogueIndex, MIN_PREFIX_LEN, PREFIX_EXPANSION_LIMIT};
pub use key::ModuleKey;
pub use pending::{PendingChange, PendingOp};
pub use query::{ListQuery, Page, SearchQuery};
pub use scope::{NamespaceScope, ScopePatternError};
pub use snapshot::{AddOutcome, Snapshot, VersionError};
pub use tokens::tokenize;
