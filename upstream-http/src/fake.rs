//! The loopback HTTP server the upstream crates' fakes run on (feature
//! `fake`).
//!
//! ```
//! use upstream_http::fake::{body, Loopback};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let port = Loopback::bind("the example server").await;
//! let url = port.url();
//! let server = port.serve(|_request| async {
//!     Ok::<_, std::io::Error>(body(200, "text/plain", "hello".into()))
//! });
//! let text = reqwest::get(url).await.unwrap().text().await.unwrap();
//! assert_eq!(text, "hello");
//! server.shutdown().await;
//! # }
//! ```

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// What a fake answers.
pub type Reply = Response<Full<Bytes>>;

/// A bound port on `127.0.0.1`, not serving yet: its URL is known before the
/// handler is built (a handler may need it, or another server's).
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    url: Url,
}

impl Loopback {
    /// Binds `127.0.0.1` on a free port.
    ///
    /// # Panics
    /// If no loopback port can be bound (the message names `what`, e.g. "the
    /// fake registry"), or outside a Tokio runtime.
    pub async fn bind(what: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:0 for {what}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{what}'s address: {e}"));
        let url = Url::parse(&format!("http://{addr}/")).expect("a valid URL");
        Self { listener, url }
    }

    /// The root URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// Serves HTTP/1.1 on the port, answering every request with `handler`
    /// (an `Err` closes the connection without an answer), as tasks on the
    /// current Tokio runtime, until the [`Server`] is shut down or dropped.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn serve<F, Fut>(self, handler: F) -> Server
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, std::io::Error>> + Send + 'static,
    {
        let task = tokio::spawn(accept(self.listener, handler));
        Server {
            task: Mutex::new(Some(task)),
        }
    }
}

/// A serving [`Loopback`] port. Dropping it stops it like
/// [`shutdown`](Self::shutdown), without waiting.
#[derive(Debug)]
pub struct Server {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    /// Stops the server: the port stops accepting (later connections are
    /// refused) and open connections, hanging ones included, are closed.
    /// Later calls do nothing.
    pub async fn shutdown(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

async fn accept<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, std::io::Error>> + Send + 'static,
{
    // Dropping this task (shutdown, drop) drops the set, which aborts every
    // connection task, hanging ones included.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handler))
                .await;
        });
    }
}

/// An answer with status `code` (500 if it is not a status) and an empty body.
pub fn status(code: u16) -> Reply {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// An answer with status `code` (500 if it is not a status) and `bytes` as
/// its body, of `content_type`.
pub fn body(code: u16, content_type: &'static str, bytes: Bytes) -> Reply {
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
