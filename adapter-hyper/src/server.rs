//! The accept loop: TCP (and TLS) connections served by hyper-util's auto builder,
//! with graceful shutdown.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use registry_core::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::service::{respond, Shared};
use crate::{tls, ServeError, ServerConfig};

/// Interval of HTTP/2 keep-alive pings, which close connections to vanished peers.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);

/// A bound listener, with TLS loaded if configured, ready to [`Server::serve`].
///
/// ```no_run
/// # async fn run(registry: std::sync::Arc<registry_core::Registry>) -> Result<(), adapter_hyper::ServeError> {
/// use adapter_hyper::{shutdown_signal, Server, ServerConfig};
///
/// let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap())).await?;
/// println!("listening on {}", server.local_addr().expect("bound"));
/// server.serve(registry, shutdown_signal()).await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: ServerConfig,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("config", &self.config)
            .finish()
    }
}

impl Server {
    /// Binds [`ServerConfig::listen`] and loads the TLS files, if any.
    ///
    /// # Errors
    /// [`ServeError::Bind`] if the address cannot be bound; the TLS variants of
    /// [`ServeError`] if the certificate or key cannot be loaded.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServeError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Self::from_listener(listener, config)
    }

    /// Serves on an already bound `listener` (e.g. `127.0.0.1:0` in tests);
    /// [`ServerConfig::listen`] is ignored.
    ///
    /// # Errors
    /// The TLS variants of [`ServeError`] if the certificate or key cannot be loaded.
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> Result<Self, ServeError> {
        let tls = config
            .tls
            .as_ref()
            .map(|files| tls::server_config(files).map(TlsAcceptor::from))
            .transpose()?;
        Ok(Self {
            listener,
            tls,
            config,
        })
    }

    /// The address actually bound (the real port when `0` was asked for).
    ///
    /// # Errors
    /// What the OS reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether connections are served over TLS (`https`) or not (`http`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Accepts connections and answers their requests with `registry` until
    /// `shutdown` resolves. Then it stops accepting, lets in-flight requests
    /// finish for up to [`ServerConfig::shutdown_grace_period`], closes what is
    /// left and returns.
    ///
    /// Failed handshakes, resets and malformed requests are logged at debug
    /// level and only end their own connection.
    ///
    /// # Errors
    /// None at present: every error after start-up is per connection. The
    /// `Result` leaves room for fatal listener errors.
    pub async fn serve(
        self,
        registry: Arc<Registry>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let Self {
            listener,
            tls,
            config,
        } = self;

        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL);
        let connection = Arc::new(Connection {
            builder,
            tls,
            shared: Shared {
                registry,
                body_read_timeout: config.body_read_timeout,
            },
            header_read_timeout: config.header_read_timeout,
            tls_handshake_timeout: config.tls_handshake_timeout,
        });

        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(joined) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(error) = joined {
                        tracing::error!(%error, "connection task failed");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let connection = Arc::clone(&connection);
                        let watcher = graceful.watcher();
                        connections.spawn(async move {
                            connection.run(stream, peer, watcher).await;
                        });
                    }
                    Err(error) => accept_failed(error).await,
                },
            }
        }

        drop(listener);
        let open = graceful.count();
        tracing::info!(open_connections = open, "stopped accepting connections");
        if tokio::time::timeout(config.shutdown_grace_period, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                open_connections = connections.len(),
                grace_period = ?config.shutdown_grace_period,
                "requests still in flight after the grace period; closing their connections",
            );
        }
        connections.shutdown().await;
        Ok(())
    }
}

/// Serves on `listener` until `shutdown` resolves: [`Server::from_listener`]
/// followed by [`Server::serve`].
///
/// # Errors
/// The TLS variants of [`ServeError`] if the certificate or key cannot be loaded.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    Server::from_listener(listener, config)?
        .serve(registry, shutdown)
        .await
}

/// Logs a failed `accept`; pauses briefly when the process is out of resources
/// (e.g. file descriptors) instead of spinning.
pub(crate) async fn accept_failed(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {
            tracing::debug!(%error, "accept failed");
        }
        _ => {
            tracing::warn!(%error, "accept failed; pausing 100 ms");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Everything a connection task needs.
struct Connection {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    shared: Shared,
    header_read_timeout: Duration,
    tls_handshake_timeout: Duration,
}

impl Connection {
    async fn run(&self, stream: TcpStream, peer: SocketAddr, watcher: Watcher) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
        }
        let Some(acceptor) = &self.tls else {
            return self.http(TokioIo::new(stream), peer, watcher).await;
        };
        match tokio::time::timeout(self.tls_handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.http(TokioIo::new(stream), peer, watcher).await,
            Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_elapsed) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// Serves HTTP/1.1 or HTTP/2 (detected from the connection preface) on `io`.
    async fn http<I>(&self, io: I, peer: SocketAddr, watcher: Watcher)
    where
        I: Read + Write + Unpin + Send + 'static,
    {
        let first_request = Arc::new(AtomicBool::new(false));
        let service = {
            let shared = self.shared.clone();
            let first_request = Arc::clone(&first_request);
            service_fn(move |request: hyper::Request<Incoming>| {
                first_request.store(true, Ordering::Relaxed);
                let shared = shared.clone();
                async move {
                    Ok::<_, Infallible>(
                        respond(&shared.registry, request, shared.body_read_timeout, peer).await,
                    )
                }
            })
        };
        let mut connection =
            std::pin::pin!(watcher.watch(self.builder.serve_connection(io, service)));

        // hyper times out slow headers once it knows the protocol; this also closes
        // connections that never send a first request (nor an HTTP/2 preface).
        let result = tokio::select! {
            result = &mut connection => result,
            () = tokio::time::sleep(self.header_read_timeout) => {
                if !first_request.load(Ordering::Relaxed) {
                    tracing::debug!(%peer, "no request before the header read timeout; closing");
                    return;
                }
                connection.await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "connection error");
        }
    }
}
