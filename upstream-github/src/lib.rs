#![doc = include_str!("../README.md")]

mod client;
mod config;
mod follow;
mod mapping;
mod rate_limit;
mod tags;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::GithubUpstream;
pub use config::{ConfigError, GithubApp, GithubAuth, GithubConfig, DEFAULT_API_BASE};
pub use mapping::{RepoMapping, DEFAULT_REPO_TEMPLATE};
/// The URL type of the configuration (`reqwest`'s re-export of `url::Url`).
pub use reqwest::Url;
