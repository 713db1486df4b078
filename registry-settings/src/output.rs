//! What the binaries share besides their settings: logging, the error chain
//! they print, and the port file.

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// `--log-format` / `TFR_LOG_FORMAT`.
pub const LOG_FORMAT: crate::Setting = crate::Setting::new("log-format", "TFR_LOG_FORMAT");

/// How a server writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIME LEVEL target: message key=value ...`, for people.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, the
    /// event's fields at the top level), for log pipelines.
    Json,
}

/// The hyper servers' log setting.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format: `text`, or `json` (one object per line, the access
    /// log's fields at the top level: route, method, status, bytes,
    /// latency_us, caller, request_id).
    #[arg(long = LOG_FORMAT.long(), env = LOG_FORMAT.env(), value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A server's logs: to `writer` (local-server and github-server pass
/// `adapter_hyper::log_writer`, which batches a request's line per runtime
/// worker), as `format` says (text is coloured when stderr is a terminal),
/// the level from `RUST_LOG` (default `info`).
pub fn init_server_logging<W>(writer: W, format: LogFormat)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// The Lambda function's logs: to stdout, no colours (CloudWatch shows escape
/// codes as text), no timestamps (Lambda stamps every line). JSON when the
/// function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), compact text
/// otherwise; the level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn init_lambda_logging() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .map_err(|_| ())
                .and_then(|level| EnvFilter::try_new(level.to_ascii_lowercase()).map_err(|_| ()))
        })
        .unwrap_or_else(|()| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stdout)
        .with_ansi(false)
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

/// `error` and its sources, one line, skipping a source whose text the
/// message already holds.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// let e = registry_settings::SettingsError::File {
///     setting: registry_settings::Setting::new("upstream-ca-file", "TFR_UPSTREAM_CA_FILE"),
///     path: "ca.pem".into(),
///     source: io,
/// };
/// assert_eq!(
///     registry_settings::chain(&e),
///     "cannot read --upstream-ca-file (TFR_UPSTREAM_CA_FILE) ca.pem: disk full"
/// );
/// ```
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
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

/// Writes `port` and a newline to `path`, atomically (a temporary file
/// `{path}.tmp`, synced, then renamed), so a script never reads half of it.
/// The file is readable by everyone (mode 0644).
///
/// # Errors
/// The file cannot be written; the message names it.
pub fn write_port_file(path: &Path, port: u16) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let context = |action: &str, path: &Path| {
        let action = action.to_owned();
        let path = path.to_owned();
        move |e: io::Error| {
            io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut file = options.open(&tmp).map_err(context("create", &tmp))?;
    file.write_all(format!("{port}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(context("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(context("create", path))
}
