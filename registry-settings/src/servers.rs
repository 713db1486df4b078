//! Each server's whole set of groups and its one validation: what
//! local-server and github-server flatten into their command lines and what
//! serverless-aws reads from its environment. The binaries add only what is
//! theirs alone (where the data lives), so the tests that hold the three to
//! the same values parse exactly what the binaries parse.

use clap::Parser;
use registry_core::TokenHash;
use storage_s3::S3Config;

use crate::github::GithubArgs;
use crate::identity::{IdentityArgs, IdentitySettings};
use crate::listen::{Listen, ListenArgs, WithoutTls};
use crate::registry::{MasterTokenArgs, RegistryArgs, RegistryRules, RegistrySettings};
use crate::s3::S3Args;
use crate::upstream::{
    self, Mode, ModeArgs, ProxyArgs, RegistryModeArgs, RegistryUpstreamArgs, UpstreamSettings,
};
use crate::SettingsError;

/// local-server's groups: listen (a self-signed certificate unless given),
/// registry, master token, S3 (with `--storage s3`), and pin/proxy from an
/// upstream registry.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalServerArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    log: crate::output::LogArgs,
    #[command(flatten)]
    operations: crate::operations::ServerOperationsArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    master_token: MasterTokenArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    mode: RegistryModeArgs,
    #[command(flatten)]
    lists: ProxyArgs,
    #[command(flatten)]
    upstream: RegistryUpstreamArgs,
}

/// local-server's validated settings.
#[derive(Debug)]
#[non_exhaustive]
pub struct LocalServerSettings {
    /// Where and how it listens.
    pub listen: Listen,
    /// How it writes its log.
    pub log_format: crate::output::LogFormat,
    /// Metrics and readiness.
    pub operations: crate::operations::ServerOperations,
    /// The registry's settings; its signing key and master token come from
    /// the data directory unless given.
    pub registry: RegistrySettings,
    /// `--master-token` or `--master-token-sha256`, hashed.
    pub master_token: Option<TokenHash>,
    /// With `--storage s3`.
    pub s3: Option<S3Config>,
    /// `--upstream`.
    pub mode: Mode,
    /// The upstream registry and the lists.
    pub upstream: UpstreamSettings,
    /// The token exchanges and the audit log.
    pub identity: IdentitySettings,
}

impl LocalServerArgs {
    /// The settings; `storage_s3` is `--storage s3` (`TFR_STORAGE=s3`), which
    /// the `--s3-*` settings need, so a forgotten `--storage s3` does not
    /// silently store on disk.
    ///
    /// # Errors
    /// The first refusal of any group.
    pub fn settings(&self, storage_s3: bool) -> Result<LocalServerSettings, SettingsError> {
        let listen = self.listen.listen(WithoutTls::SelfSigned)?;
        let registry = self.registry.settings(&RegistryRules::LOCAL_SERVER)?;
        let master_token = self
            .master_token
            .hash()?
            .or(registry.config.master_token_hash);
        let mode = self.mode.mode();
        let upstream = upstream::select(
            mode,
            &self.lists,
            Some(&self.upstream),
            None,
            registry.config.max_body_bytes,
        )?;
        let s3 = if storage_s3 {
            Some(self.s3.s3_config(registry.config.archive_url_ttl)?)
        } else {
            self.s3.refuse_unused("--storage s3 (TFR_STORAGE=s3)")?;
            None
        };
        Ok(LocalServerSettings {
            listen,
            log_format: self.log.log_format,
            operations: self.operations.settings()?,
            registry,
            master_token,
            s3,
            mode,
            upstream,
            identity: self.identity.settings()?,
        })
    }
}

/// github-server's groups: listen (TLS or `--plain-http`, chosen), registry
/// (tokens or anonymous reads, chosen) and GitHub under the lists.
#[derive(Debug, Clone, clap::Args)]
pub struct GithubServerArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    log: crate::output::LogArgs,
    #[command(flatten)]
    operations: crate::operations::ServerOperationsArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    lists: ProxyArgs,
    #[command(flatten)]
    github: GithubArgs,
}

/// github-server's validated settings.
#[derive(Debug)]
#[non_exhaustive]
pub struct GithubServerSettings {
    /// Where and how it listens.
    pub listen: Listen,
    /// How it writes its log.
    pub log_format: crate::output::LogFormat,
    /// Metrics and readiness.
    pub operations: crate::operations::ServerOperations,
    /// The registry's settings.
    pub registry: RegistrySettings,
    /// Always GitHub, under the lists.
    pub upstream: UpstreamSettings,
    /// The token exchanges and the audit log.
    pub identity: IdentitySettings,
}

impl GithubServerArgs {
    /// The settings, with the choices this server never makes for you: how
    /// clients reach it (TLS or `--plain-http`) and who may read (tokens or
    /// everyone).
    ///
    /// # Errors
    /// The first refusal of any group.
    pub fn settings(&self) -> Result<GithubServerSettings, SettingsError> {
        let listen = self.listen.listen(WithoutTls::Refuse)?;
        let registry = self.registry.settings(&RegistryRules::GITHUB_SERVER)?;
        let upstream = upstream::select(
            Mode::Github,
            &self.lists,
            None,
            Some(&self.github),
            registry.config.max_body_bytes,
        )?;
        Ok(GithubServerSettings {
            listen,
            log_format: self.log.log_format,
            operations: self.operations.settings()?,
            registry,
            upstream,
            identity: self.identity.settings()?,
        })
    }
}

/// The Lambda function's groups: registry, S3, and any upstream. The
/// function has no command line: [`LambdaArgs::from_env`] reads the
/// variables ([`parse_env_only`](crate::parse_env_only)); tests parse flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "serverless-aws")]
pub struct LambdaArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    operations: crate::operations::LambdaOperationsArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    mode: ModeArgs,
    #[command(flatten)]
    lists: ProxyArgs,
    #[command(flatten)]
    upstream: RegistryUpstreamArgs,
    #[command(flatten)]
    github: GithubArgs,
}

/// The Lambda function's validated settings.
#[derive(Debug)]
#[non_exhaustive]
pub struct LambdaSettings {
    /// The registry's settings.
    pub registry: RegistrySettings,
    /// Bucket, prefix, how downloads are served.
    pub s3: S3Config,
    /// The upstream, unless `TFR_UPSTREAM=off`, and the lists.
    pub upstream: UpstreamSettings,
    /// The token exchanges and the audit log.
    pub identity: IdentitySettings,
    /// The Embedded Metric Format lines.
    pub operations: crate::operations::LambdaOperations,
}

impl LambdaArgs {
    /// The process environment's settings.
    ///
    /// # Errors
    /// A variable clap cannot parse, or the first refusal of any group.
    pub fn from_env() -> Result<LambdaSettings, SettingsError> {
        crate::parse_env_only::<Self>()?.settings()
    }

    /// The settings. Archives fetched from the upstream may be as large as an
    /// upload: GitHub archives go back through the function, whose responses
    /// Lambda caps, so a larger tag is refused with the registry's own error.
    ///
    /// # Errors
    /// The first refusal of any group.
    pub fn settings(&self) -> Result<LambdaSettings, SettingsError> {
        let registry = self.registry.settings(&RegistryRules::LAMBDA)?;
        let s3 = self.s3.s3_config(registry.config.archive_url_ttl)?;
        let upstream = upstream::select(
            self.mode.mode(),
            &self.lists,
            Some(&self.upstream),
            Some(&self.github),
            registry.config.max_body_bytes,
        )?;
        registry.require_shared_signing_key(&s3, &upstream)?;
        Ok(LambdaSettings {
            registry,
            s3,
            upstream,
            identity: self.identity.settings()?,
            operations: self.operations.settings()?,
        })
    }
}
