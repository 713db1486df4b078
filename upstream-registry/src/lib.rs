#![doc = include_str!("../README.md")]

mod client;
mod config;
mod source;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::RegistryUpstream;
pub use config::{
    ConfigError, RegistryUpstreamConfig, DEFAULT_BASE_URL, DEFAULT_GITHUB_TARBALL_BASE,
};
/// The URL type of the configuration (`reqwest`'s re-export of `url::Url`).
pub use reqwest::Url;
