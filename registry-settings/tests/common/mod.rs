//! The three servers' groups as the binaries compose them
//! (`registry_settings::servers`; the binaries add only `--data-dir` and
//! `--storage`): what the tests parse flags and variables through.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::OnceLock;

use clap::Parser;
use registry_core::TokenHash;
use registry_settings::listen::Listen;
use registry_settings::registry::RegistrySettings;
use registry_settings::servers::{
    GithubServerArgs, GithubServerSettings, LambdaArgs, LambdaSettings, LocalServerArgs,
    LocalServerSettings,
};
use registry_settings::upstream::UpstreamSettings;
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

/// local-server's command line (`--storage s3` is `storage_s3`).
#[derive(Debug, Parser)]
#[command(name = "local-server")]
pub struct Local {
    #[arg(long)]
    storage_s3: bool,
    #[command(flatten)]
    server: LocalServerArgs,
}

impl Local {
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        let LocalServerSettings {
            listen,
            registry,
            master_token,
            s3,
            upstream,
            ..
        } = self.server.settings(self.storage_s3)?;
        Ok(Validated {
            listen: Some(listen),
            registry,
            master_token,
            s3,
            upstream,
        })
    }
}

/// github-server's command line.
#[derive(Debug, Parser)]
#[command(name = "github-server")]
pub struct Github {
    #[command(flatten)]
    server: GithubServerArgs,
}

impl Github {
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        let GithubServerSettings {
            listen,
            registry,
            upstream,
            ..
        } = self.server.settings()?;
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
pub type Lambda = LambdaArgs;

fn lambda_validated(settings: LambdaSettings) -> Validated {
    let LambdaSettings {
        registry,
        s3,
        upstream,
        ..
    } = settings;
    Validated {
        listen: None,
        master_token: registry.config.master_token_hash,
        registry,
        s3: Some(s3),
        upstream,
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
        .settings()
        .map(lambda_validated)
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

/// The Lambda function's settings from the process environment, read as the
/// function reads them ([`LambdaArgs::from_env`]).
pub fn lambda_from_env() -> Result<Validated, SettingsError> {
    LambdaArgs::from_env().map(lambda_validated)
}
