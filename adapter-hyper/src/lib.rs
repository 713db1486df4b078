#![doc = include_str!("../README.md")]

mod config;
mod error;
mod server;
mod service;
mod signal;
mod tls;

pub use config::{ServerConfig, TlsFiles};
pub use error::ServeError;
pub use server::{serve, Server};
pub use signal::shutdown_signal;
