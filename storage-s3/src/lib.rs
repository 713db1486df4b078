#![doc = include_str!("../README.md")]

mod audit;
mod bucket;
mod catalogue;
mod config;
mod error;
mod pins;
mod storage;
mod tokens;

pub use audit::S3AuditLog;
pub use catalogue::S3CatalogueStore;
pub use config::{S3Config, S3ConfigError, DEFAULT_PRESIGN_TTL, MAX_PRESIGN_TTL};
pub use pins::S3PinStore;
pub use storage::S3Storage;
pub use tokens::S3TokenStore;
