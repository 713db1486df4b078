#![doc = include_str!("../README.md")]

mod audit;
mod catalogue;
mod error;
mod fsutil;
mod pins;
mod storage;
mod tokens;

pub use audit::FsAuditLog;
pub use catalogue::FsCatalogueStore;
pub use pins::FsPinStore;
pub use storage::FsStorage;
pub use tokens::FsTokenStore;
