//! The three servers' group sets, composed and validated as each binary's
//! `args.rs` (local-server, github-server) or `config.rs` (serverless-aws)
//! composes them, minus the flags a server keeps to itself (`--data-dir`,
//! `--storage`): what the tests parse flags and variables through.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::OnceLock;

use clap::Parser;
use registry_core::TokenHash;
use registry_settings::github::GithubArgs;
use registry_settings::listen::{Listen, ListenArgs, WithoutTls};
use registry_settings::registry::{MasterTokenArgs, RegistryArgs, RegistryRules, RegistrySettings};
use registry_settings::s3::S3Args;
use registry_settings::upstream::{
    self, ModeArgs, ProxyArgs, RegistryModeArgs, RegistryUpstreamArgs, UpstreamSettings,
};
use registry_settings::SettingsError;
use storage_s3::S3Config;

/// A master token hash (of "password").
pub const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// A valid signing key.
pub fn key() -> String {
    "ab".repeat(32)
}

/// What any of the three yields.
#[derive(Debug)]
pub struct Validated {
    pub listen: Option<Listen>,
    pub registry: RegistrySettings,
    pub master_token: Option<TokenHash>,
    pub s3: Option<S3Config>,
    pub upstream: UpstreamSettings,
}

/// local-server's groups (`--storage s3` is `storage_s3`).
#[derive(Debug, Parser)]
#[command(name = "local-server")]
pub struct Local {
    #[command(flatten)]
    listen: ListenArgs,
    #[arg(long)]
    storage_s3: bool,
    #[command(flatten)]
    registry: RegistryArgs,
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

impl Local {
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        let listen = self.listen.listen(WithoutTls::SelfSigned)?;
        let registry = self.registry.settings(&RegistryRules::LOCAL_SERVER)?;
        let master_token = self
            .master_token
            .hash()?
            .or(registry.config.master_token_hash);
        let upstream = upstream::select(
            self.mode.mode(),
            &self.lists,
            Some(&self.upstream),
            None,
            registry.config.max_body_bytes,
        )?;
        let s3 = if self.storage_s3 {
            Some(self.s3.s3_config(registry.config.archive_url_ttl)?)
        } else {
            self.s3.refuse_unused("--storage s3 (TFR_STORAGE=s3)")?;
            None
        };
        Ok(Validated {
            listen: Some(listen),
            registry,
            master_token,
            s3,
            upstream,
        })
    }
}

/// github-server's groups.
#[derive(Debug, Parser)]
#[command(name = "github-server")]
pub struct Github {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    lists: ProxyArgs,
    #[command(flatten)]
    github: GithubArgs,
}

impl Github {
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        let listen = self.listen.listen(WithoutTls::Refuse)?;
        let registry = self.registry.settings(&RegistryRules::GITHUB_SERVER)?;
        let upstream = upstream::select(
            upstream::Mode::Github,
            &self.lists,
            None,
            Some(&self.github),
            registry.config.max_body_bytes,
        )?;
        Ok(Validated {
            listen: Some(listen),
            master_token: registry.config.master_token_hash,
            registry,
            s3: None,
            upstream,
        })
    }
}

/// The Lambda function's groups (environment only in the binary; flags here).
#[derive(Debug, Parser)]
#[command(name = "serverless-aws")]
pub struct Lambda {
    #[command(flatten)]
    registry: RegistryArgs,
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

impl Lambda {
    pub fn validate(&self) -> Result<Validated, SettingsError> {
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
        Ok(Validated {
            listen: None,
            master_token: registry.config.master_token_hash,
            registry,
            s3: Some(s3),
            upstream,
        })
    }
}

/// Parses `args` (after the program name) with `P`, then validates.
pub fn parse<P: Parser>(args: &[&str]) -> Result<P, clap::Error> {
    P::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
}

pub fn local(args: &[&str]) -> Result<Validated, String> {
    parse::<Local>(args)
        .map_err(|e| e.to_string())?
        .validate()
        .map_err(|e| e.to_string())
}

pub fn github(args: &[&str]) -> Result<Validated, String> {
    parse::<Github>(args)
        .map_err(|e| e.to_string())?
        .validate()
        .map_err(|e| e.to_string())
}

pub fn lambda(args: &[&str]) -> Result<Validated, String> {
    parse::<Lambda>(args)
        .map_err(|e| e.to_string())?
        .validate()
        .map_err(|e| e.to_string())
}

/// A GitHub App private key (PKCS#1 PEM), made once: key generation is slow.
pub fn app_key() -> &'static str {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .unwrap()
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    })
}
