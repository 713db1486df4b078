#![doc = include_str!("../README.md")]

mod config;
mod error;
mod log_writer;
mod metrics;
mod runtime;
mod server;
mod service;
mod signal;
mod tls;

pub use config::{ServerConfig, TlsFiles};
pub use error::ServeError;
pub use log_writer::{log_writer, LogWriter};
pub use metrics::{Exposition, MetricsServer};
pub use runtime::{runtime, MAX_BLOCKING_THREADS};
pub use server::{serve, Server};
pub use signal::shutdown_signal;
