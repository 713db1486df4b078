//! Loads PEM files into a rustls server configuration (ring provider, ALPN h2 + http/1.1).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{ServeError, TlsFiles};

/// The rustls configuration for `files`, offering `h2` then `http/1.1`.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certs = read_certs(&files.cert_path)?;
    let key = read_key(&files.key_path)?;
    let refused = |source| ServeError::TlsConfig {
        cert_path: files.cert_path.clone(),
        key_path: files.key_path.clone(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(refused)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn open(path: &Path) -> Result<BufReader<File>, ServeError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| ServeError::TlsFileRead {
            path: path.to_owned(),
            source,
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServeError::TlsPem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServeError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServeError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| ServeError::TlsPem {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| ServeError::NoPrivateKey {
            path: path.to_owned(),
        })
}
