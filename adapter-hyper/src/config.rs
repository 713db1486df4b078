//! Server configuration: plain data, filled in by the binary that embeds the adapter.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How [`Server`](crate::Server) listens and how long it waits for slow peers.
///
/// Start from [`ServerConfig::new`] (or [`Default`]) and change what you need:
///
/// ```
/// use std::time::Duration;
/// use adapter_hyper::{ServerConfig, TlsFiles};
///
/// let config = ServerConfig::new("0.0.0.0:8443".parse().unwrap())
///     .with_tls(TlsFiles::new("tls/cert.pem", "tls/key.pem"))
///     .with_body_read_timeout(Duration::from_secs(120));
/// assert_eq!(config.header_read_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address [`Server::bind`](crate::Server::bind) listens on. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate and key (HTTP/2 and HTTP/1.1 via ALPN).
    /// `None` (the default) serves plain HTTP/1.1 and HTTP/2 prior knowledge (h2c),
    /// e.g. behind a TLS-terminating proxy.
    pub tls: Option<TlsFiles>,
    /// Longest wait for a request's headers, counted from when the server starts
    /// waiting for them; also how long a connection may stay open without
    /// sending its first request. Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body. Default 60 s.
    pub body_read_timeout: Duration,
    /// Longest time for a TLS handshake, so idle connections cannot pile up.
    /// Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// After the shutdown signal: how long in-flight requests may take to finish
    /// before their connections are closed. Default 30 s.
    pub shutdown_grace_period: Duration,
}

impl ServerConfig {
    /// Listens on `listen` without TLS; timeouts: headers 10 s, body 60 s,
    /// TLS handshake 10 s, shutdown grace period 30 s.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            tls: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            shutdown_grace_period: Duration::from_secs(30),
        }
    }

    /// Sets [`ServerConfig::tls`].
    pub fn with_tls(mut self, tls: TlsFiles) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`ServerConfig::header_read_timeout`].
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::body_read_timeout`].
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::tls_handshake_timeout`].
    pub fn with_tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::shutdown_grace_period`].
    pub fn with_shutdown_grace_period(mut self, grace: Duration) -> Self {
        self.shutdown_grace_period = grace;
        self
    }
}

impl Default for ServerConfig {
    /// [`ServerConfig::new`] on `127.0.0.1:8443`.
    fn default() -> Self {
        Self::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)))
    }
}

/// PEM files holding the server's certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain, leaf first (`-----BEGIN CERTIFICATE-----` blocks).
    pub cert_path: PathBuf,
    /// The private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key_path: PathBuf,
}

impl TlsFiles {
    /// The certificate chain at `cert_path`, the key at `key_path`.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        Self {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
        }
    }
}
