//! The metrics listener: `GET /metrics` on an address of its own, so the
//! public port never serves metrics.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::ServeError;

/// How long a scraper may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the metrics listener answers `GET /metrics` with: the metrics text,
/// made afresh for each scrape.
pub type Exposition = Arc<dyn Fn() -> String + Send + Sync>;

/// A bound metrics listener (plain HTTP/1.1), ready to
/// [`serve`](MetricsServer::serve).
///
/// It answers `GET` and `HEAD` of `/metrics` with the exposition's text
/// (`Cache-Control: no-store`), any other method there with `405`, and
/// every other path with `404`. Nothing else of the registry is on it.
/// It has no authentication: bind it to a private interface or network,
/// which is what keeps metrics off the public port.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Binds `addr`.
    ///
    /// # Errors
    /// [`ServeError::Bind`] if the address cannot be bound.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self { listener })
    }

    /// Binds `addr` and serves `exposition` there on a task of its own
    /// (see [`serve`](Self::serve)); answers the address bound.
    ///
    /// # Errors
    /// [`ServeError::Bind`] if the address cannot be bound.
    pub async fn start(
        addr: SocketAddr,
        exposition: Exposition,
        content_type: &'static str,
    ) -> Result<SocketAddr, ServeError> {
        let server = Self::bind(addr).await?;
        let bound = server
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        tokio::spawn(server.serve(exposition, content_type));
        tracing::info!(addr = %bound, "metrics listening on /metrics");
        Ok(bound)
    }

    /// The address actually bound.
    ///
    /// # Errors
    /// What the OS reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers scrapes with `exposition`, whose text has `content_type`,
    /// until the task is dropped (spawn it beside [`Server::serve`](crate::Server::serve)).
    pub async fn serve(self, exposition: Exposition, content_type: &'static str) {
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    crate::server::accept_failed(error).await;
                    continue;
                }
            };
            let exposition = Arc::clone(&exposition);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let exposition = Arc::clone(&exposition);
                    async move { Ok::<_, Infallible>(answer(&request, &exposition, content_type)) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "metrics connection ended");
                }
            });
        }
    }
}

/// The answer to one scrape.
fn answer(
    request: &Request<Incoming>,
    exposition: &Exposition,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let response = Response::builder().header(CACHE_CONTROL, "no-store");
    let response = match (request.uri().path(), request.method()) {
        ("/metrics", &Method::GET | &Method::HEAD) => {
            let text = exposition();
            let body = if request.method() == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(text)
            };
            response
                .header(CONTENT_TYPE, content_type)
                .body(Full::new(body))
        }
        ("/metrics", _) => response
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(ALLOW, "GET, HEAD")
            .body(Full::new(Bytes::new())),
        _ => response
            .status(StatusCode::NOT_FOUND)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(
                b"only /metrics is served here\n",
            ))),
    };
    response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
