//! HTTPS over a real socket with a freshly generated self-signed certificate:
//! ALPN picks HTTP/2 or HTTP/1.1; bad handshakes and bad files are handled.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapter_hyper::{ServeError, Server, ServerConfig, TlsFiles};
use bytes::Bytes;
use common::{
    assert_same, config, request, send_http1, send_http2, within, RawConnection, TestServer,
};
use http::Request;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const WELL_KNOWN: &str = "/.well-known/terraform.json";

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files.
struct Cert {
    _dir: tempfile::TempDir,
    files: TlsFiles,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn self_signed() -> Cert {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.key_pair.serialize_pem()).unwrap();
    Cert {
        _dir: dir,
        files: TlsFiles::new(cert_path, key_path),
        der: certified.cert.der().clone(),
    }
}

/// A TLS client trusting only `cert`, offering `alpn`.
async fn connect(server: &TestServer, cert: &Cert, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    within(
        "TLS handshake",
        TlsConnector::from(Arc::new(client)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake")
}

async fn tls_server(cert: &Cert) -> TestServer {
    TestServer::start(config().with_tls(cert.files.clone())).await
}

#[tokio::test]
async fn alpn_h2_serves_http2() {
    let cert = self_signed();
    let server = tls_server(&cert).await;
    let tls = connect(&server, &cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let uri = format!("https://{}{WELL_KNOWN}", server.host());
    let wire = within(
        "GET over h2",
        send_http2(tls, Request::get(uri).body(Bytes::new()).unwrap()),
    )
    .await;
    let expected = server
        .direct(request("GET", WELL_KNOWN, &server.host(), b""))
        .await;
    assert_same(&wire, &expected);
    server.stop().await;
}

#[tokio::test]
async fn alpn_http11_and_no_alpn_serve_http1() {
    let cert = self_signed();
    let server = tls_server(&cert).await;
    let expected = server
        .direct(request("GET", WELL_KNOWN, &server.host(), b""))
        .await;
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let tls = connect(&server, &cert, alpn).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), alpn.first().copied());
        let wire = within(
            "GET over HTTP/1.1",
            send_http1(tls, request("GET", WELL_KNOWN, &server.host(), b"")),
        )
        .await;
        assert_same(&wire, &expected);
    }
    server.stop().await;
}

#[tokio::test]
async fn failed_handshakes_do_not_disturb_the_server() {
    let cert = self_signed();
    let server = TestServer::start(
        config()
            .with_tls(cert.files.clone())
            .with_tls_handshake_timeout(Duration::from_millis(100)),
    )
    .await;

    // Plain HTTP to the TLS port: the handshake fails and the connection ends.
    let mut plain = RawConnection::connect(server.addr).await;
    plain
        .send(format!("GET {WELL_KNOWN} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    within("close after a bad handshake", plain.read_to_end()).await;

    // A connection that never starts its handshake is closed after the timeout.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut rest = Vec::new();
    let _ = within("close of an idle connection", idle.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());

    // A client that does not trust the certificate gives up mid-handshake.
    let other = self_signed();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other.der.clone()).unwrap();
    let distrustful = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let refused = TlsConnector::from(Arc::new(distrustful))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(refused.is_err());

    // The server still serves.
    let mut tls = connect(&server, &cert, &[b"http/1.1"]).await;
    tls.write_all(
        format!(
            "GET {WELL_KNOWN} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.host()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    within("response", tls.read_to_end(&mut response))
        .await
        .unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&response)
    );
    server.stop().await;
}

async fn load(files: TlsFiles) -> Result<Server, ServeError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::from_listener(listener, ServerConfig::default().with_tls(files))
}

fn message(result: Result<Server, ServeError>) -> (ServeError, String) {
    let error = result.expect_err("TLS files must be refused");
    let message = error.to_string();
    (error, message)
}

fn mentions(message: &str, path: &Path) {
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} names {}",
        path.display()
    );
}

#[tokio::test]
async fn unusable_tls_files_are_reported_with_their_path() {
    let good = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();

    let (error, text) = message(load(TlsFiles::new(&missing, &good.files.key_path)).await);
    assert!(matches!(error, ServeError::TlsFileRead { .. }), "{error:?}");
    mentions(&text, &missing);

    let (error, text) = message(load(TlsFiles::new(&empty, &good.files.key_path)).await);
    assert!(
        matches!(error, ServeError::NoCertificate { .. }),
        "{error:?}"
    );
    mentions(&text, &empty);

    // The certificate file holds no key.
    let (error, text) =
        message(load(TlsFiles::new(&good.files.cert_path, &good.files.cert_path)).await);
    assert!(
        matches!(error, ServeError::NoPrivateKey { .. }),
        "{error:?}"
    );
    mentions(&text, &good.files.cert_path);

    // A key that does not belong to the certificate.
    let other = self_signed();
    let (error, text) =
        message(load(TlsFiles::new(&good.files.cert_path, &other.files.key_path)).await);
    assert!(matches!(error, ServeError::TlsConfig { .. }), "{error:?}");
    mentions(&text, &good.files.cert_path);
    mentions(&text, &other.files.key_path);
}
