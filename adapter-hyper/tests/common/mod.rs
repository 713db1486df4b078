//! Helpers shared by the adapter's socket tests: a server on `127.0.0.1:0`,
//! hyper clients, and a raw HTTP/1.1 reader for byte-level scenarios.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use adapter_hyper::{ServeError, Server, ServerConfig};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use registry_core::testing::TestRegistry;
use registry_core::{AdapterError, Registry};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The body limit of the test registry.
pub const LIMIT: usize = 1024;

/// Upper bound on any single wait: a failure shows up as a panic, not a hang.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future`, panicking with `what` if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {PATIENCE:?}"))
}

/// The test registry's master token: uploads are admitted only with a token.
pub const TOKEN: &str = "tfr_adapter_test_master";

pub fn registry() -> Arc<Registry> {
    let registry = TestRegistry::builder()
        .master_token(TOKEN)
        .config(|c| c.with_max_body_bytes(LIMIT))
        .build();
    Arc::clone(registry.registry())
}

/// Plain-HTTP defaults for tests; the listen address is ignored.
pub fn config() -> ServerConfig {
    ServerConfig::default()
}

/// A server running on its own task.
pub struct TestServer {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::from_listener(listener, config).expect("server config");
        let addr = server.local_addr().unwrap();
        let registry = registry();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(Arc::clone(&registry), async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            registry,
            stop: Some(stop),
            task,
        }
    }

    /// Resolves the server's `shutdown` future.
    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).unwrap();
        }
    }

    /// Waits for `serve` to return.
    pub async fn finished(self) -> Result<(), ServeError> {
        within("serve to return", self.task).await.unwrap()
    }

    /// Shuts down and waits for `serve` to return.
    pub async fn stop(mut self) {
        self.trigger_shutdown();
        self.finished().await.unwrap();
    }

    /// `Host` value for requests to this server.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// What the registry answers when called directly, no socket.
    pub async fn direct(&self, request: Request<Bytes>) -> Response<Bytes> {
        self.registry.handle(request).await
    }

    pub fn adapter_error(&self, error: AdapterError) -> Response<Bytes> {
        self.registry.adapter_error(error)
    }
}

/// `method path` with `Host: host`, the master token and `body`.
pub fn request(method: &str, path: &str, host: &str, body: &'static [u8]) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Bytes::from_static(body))
        .unwrap()
}

/// The wire response carries the registry's status, body and every header it set.
#[track_caller]
///
/// Each answer has a request id of its own: the wire answer must carry one
/// (header, and in a JSON error body the same), and ids are left out of the
/// comparison.
pub fn assert_same(wire: &Response<Bytes>, expected: &Response<Bytes>) {
    assert_eq!(wire.status(), expected.status(), "status");
    let id = wire
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an X-Request-Id on the wire answer");
    let without_id = |body: &Bytes, id: Option<&str>| -> Bytes {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut object)) if object.contains_key("errors") => {
                let found = object.remove("request_id");
                if let Some(id) = id {
                    assert_eq!(
                        found.as_ref().and_then(|v| v.as_str()),
                        Some(id),
                        "request_id"
                    );
                }
                Bytes::from(serde_json::to_vec(&object).unwrap())
            }
            _ => body.clone(),
        }
    };
    assert_eq!(
        without_id(wire.body(), Some(id)),
        without_id(expected.body(), None),
        "body"
    );
    for name in expected.headers().keys() {
        if name == "x-request-id" || name == "content-length" {
            continue;
        }
        let want: Vec<_> = expected.headers().get_all(name).iter().collect();
        let got: Vec<_> = wire.headers().get_all(name).iter().collect();
        assert_eq!(got, want, "header {name}");
    }
}

async fn collect(response: Response<hyper::body::Incoming>) -> Response<Bytes> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    Response::from_parts(parts, body)
}

/// One request over HTTP/1.1 on `io`.
pub async fn send_http1<S>(io: S, request: Request<Bytes>) -> Response<Bytes>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let response = sender
        .send_request(request.map(Full::new))
        .await
        .expect("HTTP/1.1 response");
    assert_eq!(response.version(), http::Version::HTTP_11);
    collect(response).await
}

/// One request over HTTP/2 on `io` (prior knowledge, or after ALPN `h2`).
/// `request`'s URI must be absolute.
pub async fn send_http2<S>(io: S, request: Request<Bytes>) -> Response<Bytes>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let response = sender
        .send_request(request.map(Full::new))
        .await
        .expect("HTTP/2 response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    collect(response).await
}

/// A GET over a new plain HTTP/1.1 connection, compared with calling the registry directly.
pub async fn assert_get_matches_direct(server: &TestServer, path: &str) {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let wire = within(
        "HTTP/1.1 GET",
        send_http1(stream, request("GET", path, &server.host(), b"")),
    )
    .await;
    let expected = server
        .direct(request("GET", path, &server.host(), b""))
        .await;
    assert_same(&wire, &expected);
}

/// A response read byte by byte off an HTTP/1.1 connection.
#[derive(Debug)]
pub struct RawResponse {
    /// Interim (1xx) statuses received before the final one.
    pub interim: Vec<StatusCode>,
    pub response: Response<Bytes>,
}

/// An HTTP/1.1 connection driven by hand.
pub struct RawConnection {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConnection {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Reads one response head: status and headers.
    pub async fn read_head(&mut self) -> (StatusCode, HeaderMap) {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.fill().await;
        };
        let head: Vec<u8> = self.buf.drain(..end + 4).collect();
        let head = std::str::from_utf8(&head).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<StatusCode>().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let mut headers = HeaderMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').expect("header line");
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        (status, headers)
    }

    /// Reads interim responses, then a final one with a `Content-Length` body.
    pub async fn read_response(&mut self) -> RawResponse {
        let mut interim = Vec::new();
        let (status, headers) = loop {
            let (status, headers) = self.read_head().await;
            if status.is_informational() {
                interim.push(status);
            } else {
                break (status, headers);
            }
        };
        let length: usize = headers
            .get(http::header::CONTENT_LENGTH)
            .expect("the adapter always sends Content-Length")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        while self.buf.len() < length {
            self.fill().await;
        }
        let body = Bytes::from(self.buf.drain(..length).collect::<Vec<u8>>());
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        RawResponse { interim, response }
    }

    /// Reads until the server closes the connection; returns what came.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        // A reset after the server closed is as good as a FIN here.
        let _ = self.stream.read_to_end(&mut rest).await;
        rest
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed mid-response; got {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

/// Polls until connecting to `addr` is refused (the listener is closed).
pub async fn wait_until_refused(addr: SocketAddr) {
    within("the listener to close", async {
        loop {
            match TcpStream::connect(addr).await {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
}
