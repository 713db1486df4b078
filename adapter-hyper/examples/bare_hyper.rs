//! The benchmark's ceiling: a bare hyper server on the same transport as
//! `adapter-hyper` (`adapter_hyper::runtime()`, hyper-util's HTTP/1.1 + HTTP/2
//! auto builder, `TCP_NODELAY`, rustls with *ring* offering `h2` and
//! `http/1.1`), answering every request with a fixed `200` JSON body and
//! nothing else: no routing, no auth, no storage, no access log.
//!
//! ```sh
//! cargo run --release -p adapter-hyper --example bare_hyper -- \
//!     --listen 127.0.0.1:0 --port-file /tmp/port [--tls-cert cert.pem --tls-key key.pem]
//! ```
//!
//! `bench/run.sh` runs it next to the registry and prints every figure as a
//! ratio to it.

use std::convert::Infallible;
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USAGE: &str =
    "usage: bare_hyper --listen ADDR [--port-file PATH] [--tls-cert PEM --tls-key PEM]";
const BODY: &[u8] =
    br#"{"modules":[{"source":"bench/greeting/null","versions":[{"version":"1.0.0"}]}]}"#;

struct Args {
    listen: SocketAddr,
    port_file: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let (mut port_file, mut cert, mut key) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--port-file" => port_file = Some(PathBuf::from(value()?)),
            "--tls-cert" => cert = Some(PathBuf::from(value()?)),
            "--tls-key" => key = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        port_file,
        tls,
    })
}

fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, String> {
    let open = |p: &PathBuf| {
        File::open(p)
            .map(BufReader::new)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn answer(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() -> ExitCode {
    // The runtime local-server runs on.
    match adapter_hyper::runtime() {
        Ok(runtime) => runtime.block_on(serve_until_stopped()),
        Err(e) => {
            eprintln!("bare_hyper: could not start the Tokio runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_stopped() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let acceptor = match args
        .tls
        .as_ref()
        .map(|(c, k)| tls_acceptor(c, k))
        .transpose()
    {
        Ok(acceptor) => acceptor,
        Err(e) => {
            eprintln!("TLS: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("bare hyper listening on port {port}");
    if let Some(path) = &args.port_file {
        let tmp = path.with_extension("tmp");
        if let Err(e) =
            std::fs::write(&tmp, port.to_string()).and_then(|()| std::fs::rename(&tmp, path))
        {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (builder, acceptor) = (Arc::clone(&builder), acceptor.clone());
        tokio::spawn(async move {
            let service = service_fn(answer);
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}
