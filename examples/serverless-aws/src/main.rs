#![doc = "The Lambda function: `adapter-lambda` over `storage-s3` (modules, tokens and pin records in one bucket), optionally with `upstream-registry` for proxying and pinning or `upstream-github`, configured from environment variables only (see `config.rs` and `registry-settings`)."]

mod config;

use std::process::ExitCode;
use std::sync::Arc;

use registry_core::{PinStore, Registry, Storage};
use registry_settings::github::github_client_error;
use registry_settings::upstream::{registry_client_error, Upstream};
use storage_s3::{S3AuditLog, S3CatalogueStore, S3PinStore, S3Storage, S3TokenStore};
use upstream_github::GithubUpstream;
use upstream_registry::RegistryUpstream;

use crate::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    registry_settings::init_lambda_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Lambda reports the init failure; the log says why.
            tracing::error!("{}", registry_settings::chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    if !config.signing_key_given {
        tracing::info!(
            "no TFR_SIGNING_KEY: downloads are presigned S3 URLs, the registry signs none"
        );
    }
    tracing::info!(
        bucket = %config.s3.bucket,
        prefix = %config.s3.prefix,
        serve_through_registry = config.s3.serve_through_registry,
        max_body_bytes = config.registry.max_body_bytes,
        "modules and tokens in S3"
    );
    if let Some(namespace) = &config.emf_namespace {
        // One EMF line per request on stdout, which CloudWatch Logs turns
        // into metrics (no AWS call).
        registry_core::telemetry::install(Arc::new(registry_metrics::EmfTelemetry::stdout(
            namespace.clone(),
        )));
    }
    let storage = S3Storage::connect(config.s3.clone()).await?;
    let tokens = S3TokenStore::connect(config.s3.clone()).await?;
    let catalogue = S3CatalogueStore::connect(config.s3.clone()).await?;
    let catalogue_ttl = registry_settings::registry::catalogue_ttl(config.read_cache_ttl);
    let mut registry = Registry::new(Arc::new(storage), Arc::new(tokens), config.registry)
        .with_read_cache(config.read_cache_ttl)
        .with_catalogue(Arc::new(catalogue), catalogue_ttl);
    match &config.upstream {
        None => {}
        Some(upstream @ Upstream::Registry { config: client, .. }) => {
            let client =
                RegistryUpstream::new((**client).clone()).map_err(registry_client_error)?;
            tracing::info!(upstream = %client.config().base_url, "upstream registry");
            let pins: Arc<dyn PinStore> = Arc::new(S3PinStore::connect(config.s3.clone()).await?);
            registry =
                registry.with_upstream_mode(upstream.mode(Arc::new(client), Some(pins), None)?);
        }
        Some(
            upstream @ Upstream::Github {
                config: github,
                cache_archives,
                ..
            },
        ) => {
            let github = GithubUpstream::new((**github).clone()).map_err(github_client_error)?;
            tracing::info!(api = %github.name(), cache_archives, "modules from GitHub");
            let pins: Arc<dyn PinStore> = Arc::new(S3PinStore::connect(config.s3.clone()).await?);
            let cache: Option<Arc<dyn Storage>> = if *cache_archives {
                // A store of its own: a cached version never makes its module local.
                let prefix = format!("{}github-cache/", config.s3.prefix);
                Some(Arc::new(
                    S3Storage::connect(config.s3.clone().with_prefix(prefix)).await?,
                ))
            } else {
                None
            };
            registry =
                registry.with_upstream_mode(upstream.mode(Arc::new(github), Some(pins), cache)?);
        }
        Some(_) => unreachable!("the upstreams registry-settings offers"),
    }
    let audit_config = config.s3.clone();
    let registry = config
        .identity
        .apply(registry, async move {
            S3AuditLog::connect(audit_config)
                .await
                .map(|log| Arc::new(log) as Arc<dyn registry_core::audit::AuditLog>)
        })
        .await?;
    adapter_lambda::run(Arc::new(registry)).await
}
