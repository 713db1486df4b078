#![doc = include_str!("../README.md")]

mod error;
mod fsutil;
mod storage;
mod tokens;

pub use storage::FsStorage;
pub use tokens::FsTokenStore;
