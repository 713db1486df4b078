//! The process's shutdown signals.

/// Resolves when the process receives SIGINT (Ctrl-C) or, on Unix, SIGTERM:
/// pass it as the `shutdown` future of [`Server::serve`](crate::Server::serve).
///
/// If a signal handler cannot be installed, that is logged and the future
/// waits for the other signal only (or forever), rather than shutting down.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("received SIGINT, shutting down"),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                tracing::info!("received SIGTERM, shutting down");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
