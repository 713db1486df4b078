#![doc = include_str!("../README.md")]

mod args;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use adapter_hyper::{Server, ServerConfig, TlsFiles};
use registry_core::{Registry, Storage};
use registry_settings::github::github_client_error;
use registry_settings::listen::Transport;
use registry_settings::upstream::Upstream;
use storage_fs::{FsCatalogueStore, FsStorage, FsTokenStore};
use upstream_github::GithubUpstream;

use crate::args::{Args, Settings};

fn main() -> ExitCode {
    // One line per request: batched per runtime worker (see adapter_hyper::log_writer).
    let settings = Args::parse_checked();
    registry_settings::init_server_logging(adapter_hyper::log_writer, settings.log_format);
    let result = match adapter_hyper::runtime() {
        Ok(runtime) => runtime
            .block_on(run(settings))
            .map_err(|e| registry_settings::chain(e.as_ref())),
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

async fn run(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let Some(
        upstream @ Upstream::Github {
            config: github,
            cache_archives,
            archives_through_registry,
        },
    ) = &settings.upstream.upstream
    else {
        unreachable!("github-server's upstream is GitHub");
    };
    let config = settings
        .registry
        .config
        .clone()
        .with_proxy(settings.upstream.proxy.clone());
    let github = GithubUpstream::new((**github).clone()).map_err(github_client_error)?;
    let data_dir = std::path::absolute(&settings.data_dir)?;
    let storage = FsStorage::open(&data_dir)?;
    let tokens = FsTokenStore::open(&data_dir)?;
    tracing::info!(
        api = %github.name(),
        data_dir = %data_dir.display(),
        archives_through_registry,
        auth = if config.master_token_hash.is_some() { "tokens" } else { "anonymous reads" },
        "modules from GitHub"
    );
    let cache = if *cache_archives {
        Some(archive_cache(&data_dir)?)
    } else {
        None
    };
    let mode = upstream.mode(Arc::new(github), None, cache)?;
    let catalogue = FsCatalogueStore::open(&data_dir)?;
    let catalogue_ttl =
        registry_settings::registry::catalogue_ttl(settings.registry.read_cache_ttl);
    let registry = Registry::new(Arc::new(storage), Arc::new(tokens), config)
        .with_readiness_interval(settings.operations.readiness_interval)
        .with_read_cache(settings.registry.read_cache_ttl)
        .with_catalogue(Arc::new(catalogue), catalogue_ttl)
        .with_upstream_mode(mode);
    let audit_dir = data_dir.clone();
    let registry = settings
        .identity
        .apply(registry, async move {
            storage_fs::FsAuditLog::open(audit_dir)
                .map(|log| Arc::new(log) as Arc<dyn registry_core::audit::AuditLog>)
        })
        .await
        .map_err(|e| e as Box<dyn std::error::Error>)?;

    start_metrics(&settings.operations).await?;
    let mut server_config = ServerConfig::new(settings.listen.addr);
    if let Transport::Tls { cert, key } = &settings.listen.transport {
        server_config = server_config.with_tls(TlsFiles::new(cert, key));
    }
    let server = Server::bind(server_config).await?;
    let addr = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(%addr, tls = server.is_tls(), "listening");
    println!("listening on {scheme}://{addr}");
    if let Some(path) = &settings.listen.port_file {
        registry_settings::write_port_file(path, addr.port())?;
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

/// With `--metrics-listen`: installs the Prometheus telemetry and serves it
/// on the metrics listener (writing its port file). Nothing without it.
async fn start_metrics(
    operations: &registry_settings::operations::ServerOperations,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(addr) = operations.metrics_listen else {
        return Ok(());
    };
    let telemetry = Arc::new(registry_metrics::PrometheusTelemetry::new());
    registry_core::telemetry::install(telemetry.clone());
    let render = Arc::new(move || telemetry.render());
    let bound =
        adapter_hyper::MetricsServer::start(addr, render, registry_metrics::CONTENT_TYPE).await?;
    if let Some(path) = &operations.metrics_port_file {
        registry_settings::write_port_file(path, bound.port())?;
    }
    Ok(())
}
