#![doc = include_str!("../README.md")]

mod client;
mod error;
mod retry;
mod url;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::{bearer, build_client, json, read_body, Answer, ClientError, Overflow};
pub use error::{AttemptError, Fail, OtherError};
/// The single-flight TTL cache, which lives in registry-core (its read caches use it too).
pub use registry_core::cache::Cache;
pub use retry::{retry_after, Retries, Verdict};
pub use url::{
    check_base_url, host_port, parse_base_url, shown_url, shown_url_text, with_trailing_slash,
    PATH_SEGMENT,
};
