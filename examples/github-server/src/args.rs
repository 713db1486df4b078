//! Command-line flags, each with a `TFR_` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use registry_core::{
    ModulePattern, ProxyConfig, RegistryConfig, SigningKey, TokenHash, UpstreamArchives,
};
use upstream_github::{GithubApp, GithubAuth, GithubConfig, RepoMapping, Url};

/// A Terraform module registry serving modules from GitHub repositories' tags.
///
/// `ns/name/system` maps to a repository (by default
/// `{namespace}/terraform-{system}-{name}`); its SemVer tags are the versions;
/// archives are fetched with this server's GitHub credentials and served
/// through it, so Terraform needs no GitHub access.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TFR_LISTEN", default_value = "127.0.0.1:8443")]
    pub(crate) listen: SocketAddr,

    /// Where tokens, modules published here (they win over GitHub for their
    /// address) and, with --cache-archives, archives fetched from GitHub are kept.
    #[arg(long, env = "TFR_DATA_DIR", default_value = "./registry-data")]
    pub(crate) data_dir: PathBuf,

    /// Certificate chain (PEM). Terraform only talks to registries over HTTPS.
    #[arg(long, env = "TFR_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key (PEM) for --tls-cert.
    #[arg(
        long,
        env = "TFR_TLS_KEY",
        requires = "tls_cert",
        conflicts_with = "plain_http"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve plain HTTP, behind a TLS-terminating proxy.
    #[arg(long, env = "TFR_PLAIN_HTTP", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), conflicts_with = "tls_cert")]
    pub(crate) plain_http: bool,

    /// Hex SHA-256 of the master token (`printf %s "$TOKEN" | sha256sum`): turns
    /// on token auth; the master token creates downloader tokens (`POST /v1/tokens`).
    // Checked in `check`, not by clap, whose errors repeat the value: that
    // could be the token itself, given by mistake.
    #[arg(
        long = "master-token-sha256",
        env = "TFR_MASTER_TOKEN_SHA256",
        hide_env_values = true,
        value_name = "HEX"
    )]
    master_token_sha256_hex: Option<String>,

    /// `master_token_sha256_hex`, parsed by `check`.
    #[arg(skip)]
    pub(crate) master_token_sha256: Option<TokenHash>,

    /// Let requests without a token list and download. Without a master token this
    /// must be given: the server never serves everyone by accident.
    #[arg(long, env = "TFR_ANONYMOUS_READS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) anonymous_reads: bool,

    /// Hex key (at least 32 bytes) that signs archive URLs; share one between
    /// instances behind a load balancer. Default: a random key per start.
    // Checked in `check`: clap's errors would repeat the key.
    #[arg(
        long = "signing-key",
        env = "TFR_SIGNING_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    signing_key_hex: Option<String>,

    /// `signing_key_hex`, parsed by `check`.
    #[arg(skip)]
    pub(crate) signing_key: Option<SigningKey>,

    /// Lifetime of the signed archive URLs handed to Terraform, in seconds.
    #[arg(long, env = "TFR_ARCHIVE_URL_TTL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub(crate) archive_url_ttl_secs: u64,

    /// How long token lookups and the local modules' version lists and archive
    /// locations are kept in memory, in milliseconds; 0 turns the cache off.
    /// Writes through this server are seen at once; other servers sharing the
    /// data directory see them (a deleted token included) within this time.
    #[arg(long, env = "TFR_READ_CACHE_TTL_MS", default_value_t = registry_core::cache::DEFAULT_READ_CACHE_TTL.as_millis() as u64)]
    pub(crate) read_cache_ttl_ms: u64,

    /// Keep every archive fetched from GitHub under `{data-dir}/github-cache`,
    /// so each version is fetched from GitHub once.
    #[arg(long, env = "TFR_GITHUB_CACHE_ARCHIVES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) cache_archives: bool,

    /// Hand Terraform `git::https://github.com/...` addresses instead of serving
    /// archives through the registry: for public repositories, or clients with
    /// their own GitHub access.
    #[arg(long, env = "TFR_GITHUB_REDIRECT_ARCHIVES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), conflicts_with = "cache_archives")]
    pub(crate) redirect_archives: bool,

    /// Only these modules are served from GitHub: prefixes by whole segments
    /// (`namespace`, `namespace/name`, `namespace/name/system`), comma-separated
    /// [default: all].
    #[arg(long = "allow", env = "TFR_PROXY_ALLOW", value_delimiter = ',')]
    pub(crate) allow: Vec<ModulePattern>,

    /// Modules never served from GitHub; wins over --allow.
    #[arg(long = "deny", env = "TFR_PROXY_DENY", value_delimiter = ',')]
    pub(crate) deny: Vec<ModulePattern>,

    /// Once listening, write the bound port to this file (for scripts using port 0).
    #[arg(long, env = "TFR_PORT_FILE")]
    pub(crate) port_file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) github: GithubArgs,
}

/// Where and how the server reaches GitHub.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "GitHub")]
pub(crate) struct GithubArgs {
    /// The GitHub REST API (GitHub Enterprise Server: `https://HOST/api/v3/`).
    #[arg(
        long = "github-api-url",
        env = "TFR_GITHUB_API_URL",
        help = "The GitHub REST API; for GitHub Enterprise Server `https://HOST/api/v3/` \
                [default: https://api.github.com/]"
    )]
    pub(crate) api_url: Option<Url>,

    /// A personal access token (or none, for public repositories). Prefer the variable.
    #[arg(
        long = "github-token",
        env = "TFR_GITHUB_TOKEN",
        hide_env_values = true,
        conflicts_with = "app_id"
    )]
    pub(crate) token: Option<String>,

    /// The GitHub App's id or client id (with its private key).
    #[arg(
        long = "github-app-id",
        env = "TFR_GITHUB_APP_ID",
        requires = "app_key"
    )]
    pub(crate) app_id: Option<String>,

    /// The GitHub App's private key (PEM file).
    #[arg(
        long = "github-app-private-key-file",
        env = "TFR_GITHUB_APP_PRIVATE_KEY_FILE",
        id = "app_key",
        requires = "app_id"
    )]
    pub(crate) app_key_file: Option<PathBuf>,

    /// The App's installation id [default: discovered per repository owner].
    #[arg(
        long = "github-app-installation-id",
        env = "TFR_GITHUB_APP_INSTALLATION_ID",
        requires = "app_id"
    )]
    pub(crate) installation_id: Option<u64>,

    /// How `ns/name/system` maps to `owner/repo`, with `{namespace}`, `{name}`
    /// and `{system}` [default: {namespace}/terraform-{system}-{name}].
    #[arg(long = "repo-template", env = "TFR_GITHUB_REPO_TEMPLATE")]
    pub(crate) repo_template: Option<String>,

    /// Explicit mappings `ns/name/system=owner/repo`, comma-separated; they win
    /// over the template.
    #[arg(long = "repo", env = "TFR_GITHUB_REPOS", value_delimiter = ',')]
    pub(crate) repos: Vec<String>,

    /// How long a module's version list is cached, in seconds [default: 300];
    /// after that it is revalidated with `If-None-Match` (free when unchanged).
    #[arg(long = "github-cache-ttl-secs", env = "TFR_GITHUB_CACHE_TTL_SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub(crate) cache_ttl_secs: Option<u64>,

    /// Extra CA certificates (PEM) for the GitHub API and its archive host.
    #[arg(long = "github-ca-file", env = "TFR_GITHUB_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

/// The master token's hash; errors never repeat `s` (it may be the token).
fn parse_token_hash(s: &str) -> Result<TokenHash, &'static str> {
    let hash = TokenHash::from_hex(s.trim()).ok_or(
        "--master-token-sha256 (TFR_MASTER_TOKEN_SHA256) is not a SHA-256: give 64 hex digits \
         (`printf %s \"$TOKEN\" | sha256sum`), never the token itself",
    )?;
    if hash == TokenHash::of("") {
        return Err(
            "--master-token-sha256 (TFR_MASTER_TOKEN_SHA256) is the SHA-256 of an empty \
             string, which no client can send: was the token's variable set when you hashed it?",
        );
    }
    Ok(hash)
}

/// The URL-signing key; errors never repeat `s`.
fn parse_signing_key(s: &str) -> Result<SigningKey, &'static str> {
    SigningKey::from_hex(s).ok_or(
        "--signing-key (TFR_SIGNING_KEY) is not a key: use at least 32 random bytes in hex \
         (`openssl rand -hex 32`)",
    )
}

impl Args {
    /// Parses the command line and environment, exiting with a usage error
    /// when [`Args::check`] refuses them.
    pub(crate) fn parse_checked() -> Self {
        Self::parse().check().unwrap_or_else(|error| error.exit())
    }

    /// The choices this server never makes for you: how clients reach it
    /// (TLS or `--plain-http`) and who may read (tokens or everyone).
    pub(crate) fn check(mut self) -> Result<Self, clap::Error> {
        use clap::CommandFactory as _;
        let missing = |message: &str| {
            Self::command().error(clap::error::ErrorKind::MissingRequiredArgument, message)
        };
        let invalid =
            |message: &str| Self::command().error(clap::error::ErrorKind::ValueValidation, message);
        if let Some(hex) = &self.master_token_sha256_hex {
            self.master_token_sha256 = Some(parse_token_hash(hex).map_err(invalid)?);
        }
        if let Some(hex) = &self.signing_key_hex {
            self.signing_key = Some(parse_signing_key(hex).map_err(invalid)?);
        }
        if self.tls_cert.is_none() && !self.plain_http {
            return Err(missing(
                "no TLS: give --tls-cert and --tls-key (PEM files; Terraform only uses registries over HTTPS), \
                 or --plain-http behind a TLS-terminating proxy",
            ));
        }
        if self.master_token_sha256.is_none() && !self.anonymous_reads {
            return Err(missing(
                "no client auth chosen: give --master-token-sha256 HEX (`printf %s \"$TOKEN\" | sha256sum`) \
                 to require tokens, or --anonymous-reads to let everyone list and download",
            ));
        }
        Ok(self)
    }

    /// The registry's settings: every module not published here is served from
    /// GitHub (if the lists allow it), through the registry unless
    /// --redirect-archives.
    pub(crate) fn registry_config(&self) -> RegistryConfig {
        let archives = if self.redirect_archives {
            UpstreamArchives::Redirect
        } else {
            UpstreamArchives::ThroughRegistry
        };
        let proxy =
            ProxyConfig::enabled(self.allow.clone(), self.deny.clone()).with_archives(archives);
        let key = self
            .signing_key
            .clone()
            .unwrap_or_else(SigningKey::generate);
        let mut config = RegistryConfig::new(key)
            .with_anonymous_reads(self.anonymous_reads)
            .with_archive_url_ttl(Duration::from_secs(self.archive_url_ttl_secs))
            .with_proxy(proxy);
        if let Some(hash) = &self.master_token_sha256 {
            config = config.with_master_token_hash(*hash);
        }
        config
    }
}

impl GithubArgs {
    /// The GitHub client's configuration. Archives may be as large as
    /// `max_archive_bytes` (the registry's upload limit).
    ///
    /// # Errors
    /// A file cannot be read, or a key, template or mapping is invalid.
    pub(crate) fn github_config(&self, max_archive_bytes: usize) -> Result<GithubConfig, String> {
        let mut config = GithubConfig::new().with_max_archive_bytes(max_archive_bytes as u64);
        if let Some(url) = &self.api_url {
            config = config.with_api_base(url.clone());
        }
        if let Some(token) = &self.token {
            config = config.with_auth(GithubAuth::Token(token.clone()));
        }
        if let (Some(id), Some(path)) = (&self.app_id, &self.app_key_file) {
            let pem = read(path, "--github-app-private-key-file")?;
            let mut app = GithubApp::new(id.clone(), &pem).map_err(|e| e.to_string())?;
            if let Some(installation) = self.installation_id {
                app = app.with_installation_id(installation);
            }
            config = config.with_auth(GithubAuth::App(app));
        }
        let mut repos = match &self.repo_template {
            Some(template) => RepoMapping::template(template).map_err(|e| e.to_string())?,
            None => RepoMapping::default(),
        };
        for entry in &self.repos {
            let (module, repo) = entry.split_once('=').ok_or_else(|| {
                format!("--repo {entry:?}: write ns/name/system=owner/repo, e.g. acme/vpc/aws=acme-infra/vpc")
            })?;
            repos = repos
                .with_repo(module.trim(), repo.trim())
                .map_err(|e| e.to_string())?;
        }
        config = config.with_repos(repos);
        if let Some(secs) = self.cache_ttl_secs {
            config = config.with_tags_ttl(Duration::from_secs(secs));
        }
        if let Some(path) = &self.ca_file {
            config = config.with_extra_root_certificates(vec![read(path, "--github-ca-file")?]);
        }
        Ok(config)
    }
}

fn read(path: &std::path::Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Args;

    const HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("github-server").chain(args.iter().copied()))?.check()
    }

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn auth_is_a_choice_never_a_default() {
        let error = parse(&["--plain-http"]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("--anonymous-reads") && text.contains("--master-token-sha256"),
            "{error}"
        );
        assert!(parse(&["--plain-http", "--anonymous-reads"]).is_ok());
        let args = parse(&["--plain-http", "--master-token-sha256", HASH]).unwrap();
        let config = args.registry_config();
        assert!(!config.anonymous_reads && config.master_token_hash.is_some());
    }

    #[test]
    fn refused_secrets_are_never_repeated() {
        let token = "tfr_the-master-token-given-by-mistake";
        let error = parse(&["--plain-http", "--master-token-sha256", token]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("--master-token-sha256") && text.contains("sha256sum"),
            "{text}"
        );
        assert!(!text.contains(token), "{text}");

        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let text = parse(&["--plain-http", "--master-token-sha256", empty])
            .unwrap_err()
            .to_string();
        assert!(text.contains("empty string"), "{text}");

        let short_key = "ab".repeat(31);
        let text = parse(&[
            "--plain-http",
            "--anonymous-reads",
            "--signing-key",
            &short_key,
        ])
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("--signing-key") && text.contains("openssl rand"),
            "{text}"
        );
        assert!(!text.contains(&short_key), "{text}");
        let key = "ab".repeat(32);
        let args = parse(&["--plain-http", "--anonymous-reads", "--signing-key", &key]).unwrap();
        assert!(args.signing_key.is_some());
    }

    #[test]
    fn tls_or_plain_http_is_required() {
        let error = parse(&["--anonymous-reads"]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("--tls-cert") && text.contains("--plain-http"),
            "{error}"
        );
        assert!(parse(&[
            "--anonymous-reads",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ])
        .is_ok());
        assert!(parse(&[
            "--anonymous-reads",
            "--plain-http",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ])
        .is_err());
    }

    #[test]
    fn archives_go_through_the_registry_unless_redirected() {
        let base = ["--plain-http", "--anonymous-reads"];
        let config = parse(&base).unwrap().registry_config();
        assert!(config.proxy.enabled);
        assert_eq!(
            config.proxy.archives,
            registry_core::UpstreamArchives::ThroughRegistry
        );
        let mut redirect = base.to_vec();
        redirect.push("--redirect-archives");
        let config = parse(&redirect).unwrap().registry_config();
        assert_eq!(
            config.proxy.archives,
            registry_core::UpstreamArchives::Redirect
        );
        redirect.push("--cache-archives");
        assert!(
            parse(&redirect).is_err(),
            "caching needs archives through the registry"
        );
    }

    #[test]
    fn github_settings_reach_the_client() {
        let args = parse(&[
            "--plain-http",
            "--anonymous-reads",
            "--github-api-url",
            "https://ghe.example.com/api/v3/",
            "--github-token",
            "ghp_x",
            "--repo",
            "acme/vpc/aws=acme-infra/vpc,acme/dns/aws=acme-infra/dns",
            "--github-cache-ttl-secs",
            "60",
        ])
        .unwrap();
        let config = args.github.github_config(1000).unwrap();
        assert_eq!(config.api_base.as_str(), "https://ghe.example.com/api/v3/");
        assert_eq!(config.max_archive_bytes, 1000);
        assert_eq!(config.tags_ttl, std::time::Duration::from_secs(60));
        let module = registry_core::ModuleAddress::new("acme", "vpc", "aws").unwrap();
        assert_eq!(
            config.repos.repo_for(&module),
            ("acme-infra".to_owned(), "vpc".to_owned())
        );
        let bad = parse(&[
            "--plain-http",
            "--anonymous-reads",
            "--repo",
            "acme/vpc/aws",
        ])
        .unwrap();
        assert!(bad
            .github
            .github_config(1)
            .unwrap_err()
            .contains("ns/name/system=owner/repo"));
        assert!(parse(&[
            "--plain-http",
            "--anonymous-reads",
            "--github-token",
            "t",
            "--github-app-id",
            "1",
            "--github-app-private-key-file",
            "k.pem"
        ])
        .is_err());
    }
}
