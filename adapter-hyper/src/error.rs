//! The adapter's errors: all of them happen before the first connection is accepted.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start. Once it serves, connection-level failures
/// (TLS handshakes, resets, malformed requests) are logged, never returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from [`ServerConfig::listen`](crate::ServerConfig::listen).
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A TLS certificate or key file could not be read.
    #[error("cannot read TLS file {}: {source}", path.display())]
    TlsFileRead {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A TLS certificate or key file is not well-formed PEM.
    #[error("TLS file {} is not valid PEM: {source}", path.display())]
    TlsPem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        #[source]
        source: io::Error,
    },
    /// The certificate file holds no certificate.
    #[error(
        "TLS certificate file {} holds no certificate; expected PEM `-----BEGIN CERTIFICATE-----` blocks, leaf first",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "TLS key file {} holds no private key; expected a PEM `-----BEGIN PRIVATE KEY-----` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY` block",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate and key (e.g. they do not belong together,
    /// or the key type is unsupported).
    #[error(
        "TLS certificate {} and key {} cannot be used: {source}",
        cert_path.display(),
        key_path.display()
    )]
    TlsConfig {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}
