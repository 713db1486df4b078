#![doc = include_str!("../README.md")]

mod args;
mod banner;
mod setup;
mod stores;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adapter_hyper::{Server, ServerConfig, TlsFiles};
use registry_core::cache::DEFAULT_READ_CACHE_TTL;
use registry_core::Registry;
use tracing_subscriber::EnvFilter;
use upstream_registry::RegistryUpstream;

use crate::args::Args;

fn main() -> ExitCode {
    // One line per request: batched per runtime worker (see adapter_hyper::log_writer).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(adapter_hyper::log_writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse_checked();
    let result = match adapter_hyper::runtime() {
        Ok(runtime) => runtime.block_on(run(args)).map_err(|e| chain(e.as_ref())),
        Err(e) => Err(format!("could not start the Tokio runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `error` and its sources, skipping a source whose text the message already holds.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let setup = setup::prepare(&args)?;
    let config = args.registry_config(setup.signing_key.clone(), setup.master_token.hash());
    let stores = stores::open_stores(&args, &setup.data_dir, config.archive_url_ttl).await?;
    let upstream = args.upstream.client_config(config.max_body_bytes)?;
    let read_cache_ttl = args
        .read_cache_ttl_ms
        .map_or(DEFAULT_READ_CACHE_TTL, Duration::from_millis);
    let mut registry =
        Registry::new(stores.storage, stores.tokens, config).with_read_cache(read_cache_ttl);
    if let Some(upstream) = upstream {
        let upstream = RegistryUpstream::new(upstream)?;
        tracing::info!(
            upstream = %upstream.config().base_url,
            mode = ?args.upstream.mode,
            "upstream registry"
        );
        registry = registry
            .with_upstream(Arc::new(upstream))
            .with_pin_store(stores.pins);
    }
    let registry = Arc::new(registry);

    let mut server_config = ServerConfig::new(args.listen);
    if let Some(tls) = &setup.tls {
        server_config = server_config.with_tls(TlsFiles::new(&tls.cert_path, &tls.key_path));
    }
    let server = Server::bind(server_config).await?;
    let addr = server.local_addr()?;
    tracing::info!(%addr, tls = server.is_tls(), "listening");
    setup.persist_master_token()?;
    banner::print(&setup, addr);
    if let Some(port_file) = &args.port_file {
        setup::write_port_file(port_file, addr.port())?;
    }

    server
        .serve(registry, adapter_hyper::shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}
