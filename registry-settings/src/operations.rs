//! What operators watch: the metrics listener, the readiness check's
//! interval, and on Lambda the Embedded Metric Format lines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgAction;

use crate::error::{Setting, SettingsError};
use crate::parse::{boolish, number, secs, text};

/// `--metrics-listen` / `TFR_METRICS_LISTEN`.
pub const METRICS_LISTEN: Setting = Setting::new("metrics-listen", "TFR_METRICS_LISTEN");
/// `--metrics-port-file` / `TFR_METRICS_PORT_FILE`.
pub const METRICS_PORT_FILE: Setting = Setting::new("metrics-port-file", "TFR_METRICS_PORT_FILE");
/// `--readiness-interval-secs` / `TFR_READINESS_INTERVAL_SECS`.
pub const READINESS_INTERVAL_SECS: Setting =
    Setting::new("readiness-interval-secs", "TFR_READINESS_INTERVAL_SECS");
/// `--emf-namespace` / `TFR_EMF_NAMESPACE`.
pub const EMF_NAMESPACE: Setting = Setting::new("emf-namespace", "TFR_EMF_NAMESPACE");
/// `--no-emf-metrics` / `TFR_NO_EMF_METRICS`.
pub const NO_EMF_METRICS: Setting = Setting::new("no-emf-metrics", "TFR_NO_EMF_METRICS");

/// The longest readiness interval accepted: a load balancer should learn of
/// a failing storage within minutes.
const MAX_READINESS_INTERVAL_SECS: u64 = 300;

/// The hyper servers' operations settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerOperationsArgs {
    /// Serve Prometheus metrics at `GET /metrics` on this address (plain
    /// HTTP, nothing else on it). Off unless given: the public port never
    /// serves metrics. Keep it on a private interface or network.
    #[arg(long = METRICS_LISTEN.long(), env = METRICS_LISTEN.env(), value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,

    /// Once the metrics listener is bound, write its port to this file (for
    /// scripts using port 0).
    #[arg(long = METRICS_PORT_FILE.long(), env = METRICS_PORT_FILE.env(), value_name = "FILE")]
    metrics_port_file: Option<PathBuf>,

    /// How long `GET /readyz` reuses a storage check's result, 1 to 300
    /// seconds (default 5): the storage is probed at most once per
    /// interval, however many probes arrive.
    #[arg(long = READINESS_INTERVAL_SECS.long(), env = READINESS_INTERVAL_SECS.env(), value_name = "SECS", value_parser = number::<u64>())]
    readiness_interval_secs: Option<u64>,
}

/// The hyper servers' validated operations settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOperations {
    /// Where `GET /metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the metrics listener's port is written.
    pub metrics_port_file: Option<PathBuf>,
    /// How long a readiness result is reused.
    pub readiness_interval: Duration,
}

impl ServerOperationsArgs {
    /// The settings.
    ///
    /// # Errors
    /// A readiness interval out of range; a metrics port file without a
    /// metrics listener.
    pub fn settings(&self) -> Result<ServerOperations, SettingsError> {
        if self.metrics_port_file.is_some() && self.metrics_listen.is_none() {
            return Err(SettingsError::invalid(
                METRICS_PORT_FILE,
                format!(
                    "needs {METRICS_LISTEN}: there is no metrics listener to write the port of"
                ),
            ));
        }
        let readiness_interval = secs(
            READINESS_INTERVAL_SECS,
            self.readiness_interval_secs,
            1..=MAX_READINESS_INTERVAL_SECS,
            "",
        )?
        .unwrap_or(registry_core::health::DEFAULT_READINESS_INTERVAL);
        Ok(ServerOperations {
            metrics_listen: self.metrics_listen,
            metrics_port_file: self.metrics_port_file.clone(),
            readiness_interval,
        })
    }
}

/// The Lambda function's operations settings.
#[derive(Debug, Clone, clap::Args)]
pub struct LambdaOperationsArgs {
    /// The CloudWatch namespace of the function's Embedded Metric Format
    /// lines (default `TerraformRegistry`).
    #[arg(long = EMF_NAMESPACE.long(), env = EMF_NAMESPACE.env(), value_name = "NAMESPACE")]
    emf_namespace: Option<String>,

    /// Write no Embedded Metric Format lines (no request metrics in
    /// CloudWatch).
    #[arg(long = NO_EMF_METRICS.long(), env = NO_EMF_METRICS.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    no_emf_metrics: bool,
}

/// The Lambda function's validated operations settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LambdaOperations {
    /// The namespace of the EMF lines; `None`: no lines.
    pub emf_namespace: Option<String>,
}

impl LambdaOperationsArgs {
    /// The settings.
    ///
    /// # Errors
    /// A namespace CloudWatch refuses (over 255 characters, or characters
    /// outside `A-Z a-z 0-9 . - _ / # :` and space).
    pub fn settings(&self) -> Result<LambdaOperations, SettingsError> {
        if self.no_emf_metrics {
            return Ok(LambdaOperations {
                emf_namespace: None,
            });
        }
        let namespace =
            text(&self.emf_namespace).unwrap_or(registry_metrics::DEFAULT_EMF_NAMESPACE);
        let valid = namespace.len() <= 255
            && namespace.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
            });
        if !valid {
            return Err(SettingsError::invalid(
                EMF_NAMESPACE,
                "is invalid: use at most 255 of A-Z a-z 0-9 . - _ / # : and space (a CloudWatch namespace)",
            ));
        }
        Ok(LambdaOperations {
            emf_namespace: Some(namespace.to_owned()),
        })
    }
}
