#![doc = include_str!("../README.md")]

mod error;
mod fsutil;
mod pins;
mod storage;
mod tokens;

pub use pins::FsPinStore;
pub use storage::FsStorage;
pub use tokens::FsTokenStore;
