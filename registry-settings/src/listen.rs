//! Where a server listens, and how clients reach it (TLS or plain HTTP).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::ArgAction;

use crate::error::{Setting, SettingsError};
use crate::parse::boolish;

/// `--listen` / `TFR_LISTEN`.
pub const LISTEN: Setting = Setting::new("listen", "TFR_LISTEN");
/// `--tls-cert` / `TFR_TLS_CERT`.
pub const TLS_CERT: Setting = Setting::new("tls-cert", "TFR_TLS_CERT");
/// `--tls-key` / `TFR_TLS_KEY`.
pub const TLS_KEY: Setting = Setting::new("tls-key", "TFR_TLS_KEY");
/// `--plain-http` / `TFR_PLAIN_HTTP`.
pub const PLAIN_HTTP: Setting = Setting::new("plain-http", "TFR_PLAIN_HTTP");
/// `--port-file` / `TFR_PORT_FILE`.
pub const PORT_FILE: Setting = Setting::new("port-file", "TFR_PORT_FILE");

/// The address, TLS files or plain HTTP, and the port file.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long = LISTEN.long(), env = LISTEN.env(), default_value = "127.0.0.1:8443")]
    listen: SocketAddr,

    /// Your certificate chain (PEM). Terraform only talks to registries over HTTPS.
    #[arg(
        long = TLS_CERT.long(),
        env = TLS_CERT.env(),
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) for --tls-cert.
    #[arg(
        long = TLS_KEY.long(),
        env = TLS_KEY.env(),
        value_name = "FILE",
        requires = "tls_cert",
        conflicts_with = "plain_http"
    )]
    tls_key: Option<PathBuf>,

    /// Serve plain HTTP (HTTP/1.1 and h2c), behind a TLS-terminating proxy.
    /// Terraform itself only talks to registries over HTTPS.
    #[arg(long = PLAIN_HTTP.long(), env = PLAIN_HTTP.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    plain_http: bool,

    /// Once listening, write the bound port to this file (for scripts using port 0).
    #[arg(long = PORT_FILE.long(), env = PORT_FILE.env(), value_name = "FILE")]
    port_file: Option<PathBuf>,
}

/// What a server does when neither `--tls-cert`/`--tls-key` nor
/// `--plain-http` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WithoutTls {
    /// Serve HTTPS with a certificate of its own (local-server).
    SelfSigned,
    /// Refuse to start: TLS or plain HTTP must be chosen (github-server).
    Refuse,
}

/// How clients reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// HTTPS with the given certificate chain and key (PEM files).
    Tls {
        /// The certificate chain.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
    /// HTTPS with a certificate the server makes itself.
    SelfSigned,
    /// Plain HTTP (HTTP/1.1 and h2c).
    PlainHttp,
}

/// The validated listen settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listen {
    /// The address to bind.
    pub addr: SocketAddr,
    /// TLS or plain HTTP.
    pub transport: Transport,
    /// Where to write the bound port once listening.
    pub port_file: Option<PathBuf>,
}

impl ListenArgs {
    /// The listen settings. (clap already refuses `--tls-cert` without
    /// `--tls-key` and either with `--plain-http`.)
    ///
    /// # Errors
    /// With [`WithoutTls::Refuse`], neither TLS files nor `--plain-http`.
    pub fn listen(&self, without_tls: WithoutTls) -> Result<Listen, SettingsError> {
        let transport = match (&self.tls_cert, &self.tls_key) {
            _ if self.plain_http => Transport::PlainHttp,
            (Some(cert), Some(key)) => Transport::Tls {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => match without_tls {
                WithoutTls::SelfSigned => Transport::SelfSigned,
                WithoutTls::Refuse => {
                    return Err(SettingsError::Unchosen(
                        "no TLS: give --tls-cert and --tls-key (PEM files; Terraform only uses registries over HTTPS), \
                         or --plain-http behind a TLS-terminating proxy",
                    ))
                }
            },
        };
        Ok(Listen {
            addr: self.listen,
            transport,
            port_file: self.port_file.clone(),
        })
    }
}
