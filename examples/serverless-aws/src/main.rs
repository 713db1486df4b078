#![doc = "The Lambda function: `adapter-lambda` over `storage-s3` (modules, tokens and pin records in one bucket), optionally with `upstream-registry` for proxying and pinning, configured from environment variables (see `config.rs`)."]

mod config;

use std::process::ExitCode;
use std::sync::Arc;

use registry_core::Registry;
use storage_s3::{S3PinStore, S3Storage, S3TokenStore};
use tracing_subscriber::EnvFilter;
use upstream_github::GithubUpstream;
use upstream_registry::RegistryUpstream;

use crate::config::{Config, UpstreamChoice};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Lambda reports the init failure; the log says why.
            tracing::error!("{}", chain(error.as_ref()));
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
    let storage = S3Storage::connect(config.s3.clone()).await?;
    let tokens = S3TokenStore::connect(config.s3.clone()).await?;
    let mut registry = Registry::new(Arc::new(storage), Arc::new(tokens), config.registry)
        .with_read_cache(config.read_cache_ttl);
    match config.upstream {
        None => {}
        Some(UpstreamChoice::Registry(upstream)) => {
            let upstream = RegistryUpstream::new(*upstream)?;
            tracing::info!(upstream = %upstream.config().base_url, "upstream registry");
            let pins = S3PinStore::connect(config.s3).await?;
            registry = registry
                .with_upstream(Arc::new(upstream))
                .with_pin_store(Arc::new(pins));
        }
        Some(UpstreamChoice::Github {
            config: github,
            cache_archives,
        }) => {
            let github = GithubUpstream::new(*github)?;
            tracing::info!(api = %github.name(), cache_archives, "modules from GitHub");
            let pins = S3PinStore::connect(config.s3.clone()).await?;
            registry = registry
                .with_upstream(Arc::new(github))
                .with_pin_store(Arc::new(pins));
            if cache_archives {
                // A store of its own: a cached version never makes its module local.
                let prefix = format!("{}github-cache/", config.s3.prefix);
                let cache = S3Storage::connect(config.s3.with_prefix(prefix)).await?;
                registry = registry.with_archive_cache(Arc::new(cache));
            }
        }
    }
    adapter_lambda::run(Arc::new(registry)).await
}

/// To stdout, no colours (CloudWatch shows escape codes as text). JSON when the
/// function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), compact text
/// otherwise; the level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .map_err(|_| ())
                .and_then(|level| EnvFilter::try_new(level.to_ascii_lowercase()).map_err(|_| ()))
        })
        .unwrap_or_else(|()| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(false)
        // Lambda stamps every line itself.
        .without_time();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.compact().init();
    }
}

/// `error` and its sources, skipping a source whose text the message already holds.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
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
