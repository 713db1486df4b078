#![doc = include_str!("../README.md")]

mod args;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adapter_hyper::{Server, ServerConfig, TlsFiles};
use registry_core::{Registry, Storage};
use storage_fs::{FsStorage, FsTokenStore};
use tracing_subscriber::EnvFilter;
use upstream_github::GithubUpstream;

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
        Ok(runtime) => runtime.block_on(run(args)).map_err(|e| e.to_string()),
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

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.registry_config();
    let github = GithubUpstream::new(args.github.github_config(config.max_body_bytes)?)?;
    let data_dir = std::path::absolute(&args.data_dir)?;
    let storage = FsStorage::open(&data_dir)?;
    let tokens = FsTokenStore::open(&data_dir)?;
    tracing::info!(
        api = %github.name(),
        data_dir = %data_dir.display(),
        archives = ?config.proxy.archives,
        auth = if config.master_token_hash.is_some() { "tokens" } else { "anonymous reads" },
        "modules from GitHub"
    );
    let mut registry = Registry::new(Arc::new(storage), Arc::new(tokens), config)
        .with_read_cache(Duration::from_millis(args.read_cache_ttl_ms))
        .with_upstream(Arc::new(github));
    if args.cache_archives {
        registry = registry.with_archive_cache(archive_cache(&data_dir)?);
    }

    let mut server_config = ServerConfig::new(args.listen);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        server_config = server_config.with_tls(TlsFiles::new(cert, key));
    }
    let server = Server::bind(server_config).await?;
    let addr = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(%addr, tls = server.is_tls(), "listening");
    println!("listening on {scheme}://{addr}");
    if let Some(path) = &args.port_file {
        write_port_file(path, addr.port())?;
    }
    server
        .serve(Arc::new(registry), adapter_hyper::shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// `{data_dir}/github-cache`: a storage of its own, so that a cached version
/// never makes its module local (GitHub stays the source of its versions).
fn archive_cache(data_dir: &Path) -> Result<Arc<dyn Storage>, registry_core::StorageError> {
    let dir = data_dir.join("github-cache");
    tracing::info!(dir = %dir.display(), "archives fetched from GitHub are kept");
    Ok(Arc::new(FsStorage::open(dir)?))
}

/// Writes `port` to `path` atomically (write, then rename).
fn write_port_file(path: &Path, port: u16) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, port.to_string())?;
    std::fs::rename(&tmp, path)
}
