#![doc = include_str!("../README.md")]

mod cache;
mod config;
mod fetch;
mod keys;
mod token;
mod verifier;

pub use cache::{FORCED_REFETCH_INTERVAL, MAX_KEY_AGE};
pub use config::{
    ConfigError, IssuerConfig, OidcConfig, OneOrMany, DEFAULT_CLOCK_SKEW, DEFAULT_JWKS_CACHE,
    MAX_CLOCK_SKEW, MAX_JWKS_CACHE,
};
pub use fetch::MAX_DOCUMENT_BYTES;
pub use token::MAX_TOKEN_BYTES;
pub use verifier::OidcIssuers;
