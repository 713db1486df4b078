#![doc = include_str!("../README.md")]

mod args;
mod banner;
mod setup;
mod stores;

use std::process::ExitCode;
use std::sync::Arc;

use adapter_hyper::{Server, ServerConfig, TlsFiles};
use registry_core::Registry;
use registry_settings::upstream::{registry_client_error, Upstream};
use upstream_registry::RegistryUpstream;

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
    let setup = setup::prepare(&settings)?;
    let mut config = settings.registry.config.clone();
    config.signing_key = setup.signing_key.clone();
    config = config
        .with_master_token_hash(setup.master_token.hash())
        .with_proxy(settings.upstream.proxy.clone());
    let stores = stores::open_stores(settings.s3.as_ref(), &setup.data_dir).await?;
    let mut registry = Registry::new(stores.storage, stores.tokens, config)
        .with_readiness_interval(settings.operations.readiness_interval)
        .with_read_cache(settings.registry.read_cache_ttl)
        .with_catalogue(
            stores.catalogue,
            registry_settings::registry::catalogue_ttl(settings.registry.read_cache_ttl),
        );
    if let Some(upstream @ Upstream::Registry { config, .. }) = &settings.upstream.upstream {
        let client = RegistryUpstream::new((**config).clone()).map_err(registry_client_error)?;
        tracing::info!(
            upstream = %client.config().base_url,
            mode = ?settings.mode,
            "upstream registry"
        );
        registry = registry.with_upstream_mode(upstream.mode(
            Arc::new(client),
            Some(stores.pins),
            None,
        )?);
    }
    let registry = settings
        .identity
        .apply(
            registry,
            stores::open_audit_log(settings.s3.as_ref(), &setup.data_dir),
        )
        .await
        .map_err(|e| e as Box<dyn std::error::Error>)?;
    let registry = Arc::new(registry);
    if settings.rebuild_catalogue {
        let (modules, derived) = registry.rebuild_catalogue().await?;
        println!("catalogue rebuilt from storage: {modules} modules; metadata derived for {derived} versions that had none");
        return Ok(());
    }

    start_metrics(&settings.operations).await?;
    let mut server_config = ServerConfig::new(settings.listen.addr);
    if let Some(tls) = &setup.tls {
        server_config = server_config.with_tls(TlsFiles::new(&tls.cert_path, &tls.key_path));
    }
    let server = Server::bind(server_config).await?;
    let addr = server.local_addr()?;
    tracing::info!(%addr, tls = server.is_tls(), "listening");
    setup.persist_master_token()?;
    banner::print(&setup, addr);
    if let Some(port_file) = &settings.listen.port_file {
        registry_settings::write_port_file(port_file, addr.port())?;
    }

    server
        .serve(registry, adapter_hyper::shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
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
