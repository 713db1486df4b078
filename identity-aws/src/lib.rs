#![doc = include_str!("../README.md")]

mod answer;
mod arn;
mod authorization;
#[cfg(feature = "client")]
mod client;
mod config;
mod endpoints;
mod request;
mod sts;
mod verifier;

#[cfg(feature = "client")]
pub use client::{sign_get_caller_identity, sign_sts_request, sts_endpoint, SignError};
pub use config::{AwsVerifierConfig, ConfigError, DEFAULT_TIMEOUT};
pub use request::{MAX_HEADERS, MAX_HEADER_BYTES};
pub use sts::{FORM_CONTENT_TYPE, GET_CALLER_IDENTITY_BODY};
pub use verifier::{AwsIdentityVerifier, ISSUER};
