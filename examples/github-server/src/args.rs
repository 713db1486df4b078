//! Command-line flags, each with a `TFR_` environment variable: the shared
//! groups of `registry-settings`, plus where the data lives.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser};
use registry_settings::listen::Listen;
use registry_settings::registry::RegistrySettings;
use registry_settings::servers::{GithubServerArgs, GithubServerSettings};
use registry_settings::upstream::UpstreamSettings;
use registry_settings::SettingsError;

/// A Terraform module registry serving modules from GitHub repositories' tags.
///
/// `ns/name/system` maps to a repository (by default
/// `{namespace}/terraform-{system}-{name}`); its SemVer tags are the versions;
/// archives are fetched with this server's GitHub credentials and served
/// through it, so Terraform needs no GitHub access.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Where tokens, modules published here (they win over GitHub for their
    /// address) and, with --cache-archives, archives fetched from GitHub are kept.
    #[arg(long, env = "TFR_DATA_DIR", default_value = "./registry-data")]
    data_dir: PathBuf,

    #[command(flatten)]
    server: GithubServerArgs,
}

/// The validated settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) listen: Listen,
    /// How the log is written.
    pub(crate) log_format: registry_settings::LogFormat,
    /// Metrics and readiness.
    pub(crate) operations: registry_settings::operations::ServerOperations,
    pub(crate) data_dir: PathBuf,
    pub(crate) registry: RegistrySettings,
    /// Always GitHub, under the lists.
    pub(crate) upstream: UpstreamSettings,
    /// The token exchanges and the audit log.
    pub(crate) identity: registry_settings::identity::IdentitySettings,
}

impl Args {
    /// Parses the command line and environment, exiting with a usage error
    /// when they are refused.
    pub(crate) fn parse_checked() -> Settings {
        Self::parse()
            .settings()
            .unwrap_or_else(|e| e.usage(&mut Self::command()).exit())
    }

    /// The settings: registry-settings' validation of github-server's groups
    /// (TLS or `--plain-http`, tokens or anonymous reads: choices never made
    /// for you), plus where the data lives.
    pub(crate) fn settings(&self) -> Result<Settings, SettingsError> {
        let GithubServerSettings {
            listen,
            log_format,
            operations,
            registry,
            upstream,
            identity,
            ..
        } = self.server.settings()?;
        Ok(Settings {
            listen,
            log_format,
            operations,
            data_dir: self.data_dir.clone(),
            registry,
            upstream,
            identity,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Args;

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<super::Settings, String> {
        Args::try_parse_from(std::iter::once("github-server").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?
            .settings()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tls_and_auth_are_choices_never_defaults() {
        let error = parse(&["--anonymous-reads"]).unwrap_err();
        assert!(
            error.contains("--tls-cert") && error.contains("--plain-http"),
            "{error}"
        );
        let error = parse(&["--plain-http"]).unwrap_err();
        assert!(error.contains("--anonymous-reads"), "{error}");
        let settings = parse(&["--plain-http", "--anonymous-reads"]).unwrap();
        assert!(settings.registry.config.anonymous_reads);
        assert!(matches!(
            settings.upstream.upstream,
            Some(registry_settings::upstream::Upstream::Github { .. })
        ));
        assert!(settings.upstream.archives_through_registry());
    }
}
