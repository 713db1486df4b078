#![doc = include_str!("../README.md")]

mod env;
mod error;
pub mod github;
pub mod identity;
pub mod listen;
pub mod operations;
mod output;
mod parse;
pub mod registry;
pub mod s3;
pub mod servers;
pub mod upstream;

pub use env::parse_env_only;
pub use error::{Setting, SettingsError};
pub use output::{
    chain, init_lambda_logging, init_server_logging, write_port_file, LogArgs, LogFormat,
    LOG_FORMAT,
};
