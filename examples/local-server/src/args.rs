//! Command-line flags, each with a `TFR_` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::error::ErrorKind;
use clap::{ArgAction, Args as ClapArgs, CommandFactory as _, Parser, ValueEnum};
use registry_core::{
    ArchiveLimits, ModulePattern, ProxyConfig, RegistryConfig, SigningKey, TokenHash,
};
use storage_s3::S3Config;
use upstream_registry::{RegistryUpstreamConfig, Url};

/// A private Terraform module registry in one binary.
///
/// On first start it creates the data directory with a self-signed TLS
/// certificate, a signing key and a master token (printed once).
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TFR_LISTEN", default_value = "127.0.0.1:8443")]
    pub(crate) listen: SocketAddr,

    /// Where TLS files, keys and (with `--storage fs`) modules and tokens are kept.
    #[arg(long, env = "TFR_DATA_DIR", default_value = "./registry-data")]
    pub(crate) data_dir: PathBuf,

    /// Where modules and tokens are kept.
    #[arg(long, env = "TFR_STORAGE", value_enum, default_value_t = StorageKind::Fs)]
    pub(crate) storage: StorageKind,

    #[command(flatten)]
    pub(crate) s3: S3Args,

    #[command(flatten)]
    pub(crate) upstream: UpstreamArgs,

    /// Your own certificate chain (PEM) instead of the generated self-signed one.
    #[arg(
        long,
        env = "TFR_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key (PEM) for --tls-cert.
    #[arg(
        long,
        env = "TFR_TLS_KEY",
        requires = "tls_cert",
        conflicts_with = "plain_http"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve plain HTTP (HTTP/1.1 and h2c), e.g. behind a TLS-terminating proxy.
    /// Terraform itself only talks to registries over HTTPS.
    #[arg(long, env = "TFR_PLAIN_HTTP", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) plain_http: bool,

    /// Let requests without a token list versions and download modules.
    #[arg(long, env = "TFR_ANONYMOUS_READS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) anonymous_reads: bool,

    /// Largest request body (module upload) in bytes [default: 52428800, 50 MiB].
    #[arg(long, env = "TFR_MAX_BODY_BYTES")]
    pub(crate) max_body_bytes: Option<usize>,

    /// Largest total size an uploaded archive may unpack to, in bytes
    /// [default: 104857600, 100 MiB].
    #[arg(long, env = "TFR_MAX_UNPACKED_BYTES")]
    pub(crate) max_unpacked_bytes: Option<u64>,

    /// Most entries (files, directories, links) an uploaded archive may hold
    /// [default: 10000].
    #[arg(long, env = "TFR_MAX_ARCHIVE_ENTRIES")]
    pub(crate) max_archive_entries: Option<u64>,

    /// How long a signed archive download URL stays valid, in seconds, 1 to
    /// 604800 (7 days, the longest a presigned S3 URL may live) [default: 300].
    #[arg(long, env = "TFR_ARCHIVE_URL_TTL_SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub(crate) archive_url_ttl_secs: Option<u64>,

    /// How long token lookups, version lists and archive locations are kept in
    /// memory, in milliseconds; 0 turns the cache off [default: 1000]. Writes
    /// through this server are seen at once; other servers sharing the storage
    /// see them (a deleted token included) within this time.
    #[arg(long, env = "TFR_READ_CACHE_TTL_MS")]
    pub(crate) read_cache_ttl_ms: Option<u64>,

    /// Use this master token instead of the generated one. Prefer the environment
    /// variable: command lines are visible to other users in `ps`.
    #[arg(
        long,
        env = "TFR_MASTER_TOKEN",
        hide_env_values = true,
        conflicts_with = "master_token_sha256"
    )]
    pub(crate) master_token: Option<String>,

    /// Use the master token whose SHA-256 (64 hex digits) this is, instead of the
    /// generated one, e.g. `printf %s "$TOKEN" | sha256sum`.
    #[arg(long, env = "TFR_MASTER_TOKEN_SHA256")]
    pub(crate) master_token_sha256: Option<String>,

    /// Once listening, write the bound port to this file (for scripts using port 0).
    #[arg(long, env = "TFR_PORT_FILE")]
    pub(crate) port_file: Option<PathBuf>,
}

/// Where modules and tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StorageKind {
    /// In `modules/` and `tokens/` under --data-dir.
    Fs,
    /// In the S3 bucket --s3-bucket; AWS credentials come from the standard chain
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance role, ...).
    S3,
}

/// The bucket and how to reach it, for `--storage s3`.
#[derive(Debug, ClapArgs)]
#[command(next_help_heading = "S3 storage (--storage s3)")]
pub(crate) struct S3Args {
    /// The bucket holding modules and tokens; required with `--storage s3`.
    #[arg(
        long = "s3-bucket",
        env = "TFR_S3_BUCKET",
        required_if_eq("storage", "s3")
    )]
    pub(crate) bucket: Option<String>,

    /// Key prefix for everything the registry stores in the bucket [default: none].
    #[arg(long = "s3-prefix", env = "TFR_S3_PREFIX")]
    pub(crate) prefix: Option<String>,

    /// AWS region of the bucket [default: from the AWS configuration, e.g. AWS_REGION].
    #[arg(long = "s3-region", env = "TFR_S3_REGION")]
    pub(crate) region: Option<String>,

    /// S3 endpoint URL instead of AWS's, for S3-compatible servers (MinIO, moto, ...).
    #[arg(long = "s3-endpoint-url", env = "TFR_S3_ENDPOINT_URL")]
    pub(crate) endpoint_url: Option<String>,

    /// Address the bucket in the path (`endpoint/bucket/key`) rather than the host name;
    /// most S3-compatible servers need it.
    #[arg(long = "s3-force-path-style", env = "TFR_S3_FORCE_PATH_STYLE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) force_path_style: bool,

    /// Serve archives through the registry's own signed URLs instead of handing
    /// Terraform presigned S3 URLs (when clients cannot reach the bucket).
    #[arg(long = "s3-serve-through-registry", env = "TFR_S3_SERVE_THROUGH_REGISTRY", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub(crate) serve_through_registry: bool,
}

/// What the registry does with its upstream registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UpstreamMode {
    /// No upstream: only modules published here are served.
    Off,
    /// `POST /v1/pins/...` copies vetted upstream versions into this registry;
    /// nothing else is fetched.
    Pin,
    /// Modules with no local version are also served live from the upstream
    /// (and pinning works).
    Proxy,
}

/// The upstream registry, for `--upstream pin|proxy`.
#[derive(Debug, ClapArgs)]
#[command(next_help_heading = "Upstream registry (--upstream pin|proxy)")]
pub(crate) struct UpstreamArgs {
    /// Whether to pin from or proxy to an upstream registry. A module with any
    /// version published here is never mixed with upstream versions.
    #[arg(long = "upstream", env = "TFR_UPSTREAM", value_enum, default_value_t = UpstreamMode::Off)]
    pub(crate) mode: UpstreamMode,

    /// The upstream registry's base URL; its service discovery is read from
    /// `/.well-known/terraform.json` there.
    #[arg(
        long = "upstream-url",
        env = "TFR_UPSTREAM_URL",
        help = "The upstream registry's base URL; its service discovery is read from \
                `/.well-known/terraform.json` there [default: https://registry.terraform.io]"
    )]
    pub(crate) url: Option<Url>,

    /// Only these modules may come from the upstream: prefixes by whole segments
    /// (`namespace`, `namespace/name` or `namespace/name/system`), repeated or
    /// comma-separated [default: all modules].
    #[arg(long = "proxy-allow", env = "TFR_PROXY_ALLOW", value_delimiter = ',')]
    pub(crate) allow: Vec<ModulePattern>,

    /// Modules that never come from the upstream, as for --proxy-allow; wins over it.
    #[arg(long = "proxy-deny", env = "TFR_PROXY_DENY", value_delimiter = ',')]
    pub(crate) deny: Vec<ModulePattern>,

    /// Bearer token for the upstream registry's API (never sent to archive hosts).
    /// Prefer the environment variable.
    #[arg(
        long = "upstream-token",
        env = "TFR_UPSTREAM_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Per-request timeout for the upstream, in seconds [default: 10].
    #[arg(
        long = "upstream-timeout-secs",
        env = "TFR_UPSTREAM_TIMEOUT_SECS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub(crate) timeout_secs: Option<u64>,

    /// How long upstream version lists and download locations are cached, in
    /// seconds [default: 300].
    #[arg(
        long = "upstream-cache-ttl-secs",
        env = "TFR_UPSTREAM_CACHE_TTL_SECS",
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub(crate) cache_ttl_secs: Option<u64>,

    /// Extra CA certificates (PEM) to trust for the upstream and archive hosts.
    #[arg(long = "upstream-ca-file", env = "TFR_UPSTREAM_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Where GitHub repository tarballs are fetched when pinning GitHub sources.
    #[arg(
        long = "github-tarball-url",
        env = "TFR_GITHUB_TARBALL_URL",
        help = "Where GitHub repository tarballs are fetched when pinning \
                `git::https://github.com/...` sources [default: https://codeload.github.com/]"
    )]
    pub(crate) github_tarball_url: Option<Url>,
}

impl UpstreamArgs {
    /// The upstream flags given, by name, for error messages.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--upstream-url", self.url.is_some()),
            ("--proxy-allow", !self.allow.is_empty()),
            ("--proxy-deny", !self.deny.is_empty()),
            ("--upstream-token", self.token.is_some()),
            ("--upstream-timeout-secs", self.timeout_secs.is_some()),
            ("--upstream-cache-ttl-secs", self.cache_ttl_secs.is_some()),
            ("--upstream-ca-file", self.ca_file.is_some()),
            ("--github-tarball-url", self.github_tarball_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The upstream client's configuration with `--upstream pin|proxy`, `None`
    /// with `--upstream off`. Pinned archives may be as large as an upload
    /// (`max_archive_bytes`).
    ///
    /// # Errors
    /// The `--upstream-ca-file` cannot be read.
    pub(crate) fn client_config(
        &self,
        max_archive_bytes: usize,
    ) -> Result<Option<RegistryUpstreamConfig>, String> {
        if self.mode == UpstreamMode::Off {
            return Ok(None);
        }
        let mut config = match &self.url {
            Some(url) => RegistryUpstreamConfig::new(url.clone()),
            None => RegistryUpstreamConfig::default(),
        };
        config = config.with_max_archive_bytes(max_archive_bytes as u64);
        if let Some(token) = &self.token {
            config = config.with_token(token.clone());
        }
        if let Some(secs) = self.timeout_secs {
            config = config.with_timeout(Duration::from_secs(secs));
        }
        if let Some(secs) = self.cache_ttl_secs {
            config = config.with_versions_ttl(Duration::from_secs(secs));
        }
        if let Some(url) = &self.github_tarball_url {
            config = config.with_github_tarball_base(url.clone());
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read --upstream-ca-file {} (TFR_UPSTREAM_CA_FILE): {e}",
                    path.display()
                )
            })?;
            config = config.with_extra_root_certificates(vec![pem]);
        }
        Ok(Some(config))
    }

    /// The core's proxy rules: live proxying only with `--upstream proxy`.
    pub(crate) fn proxy_config(&self) -> ProxyConfig {
        ProxyConfig::enabled(self.allow.clone(), self.deny.clone())
            .with_enabled(self.mode == UpstreamMode::Proxy)
    }
}

impl S3Args {
    /// The `--s3-*` flags given, by name, for error messages.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--s3-bucket", self.bucket.is_some()),
            ("--s3-prefix", self.prefix.is_some()),
            ("--s3-region", self.region.is_some()),
            ("--s3-endpoint-url", self.endpoint_url.is_some()),
            ("--s3-force-path-style", self.force_path_style),
            ("--s3-serve-through-registry", self.serve_through_registry),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

impl Args {
    /// Parses the command line and the `TFR_*` variables; on a usage error, prints it
    /// and exits as clap does.
    pub(crate) fn parse_checked() -> Self {
        Self::parse().check().unwrap_or_else(|error| error.exit())
    }

    /// The rules clap cannot say: `--s3-*` flags (or their variables) only go with
    /// `--storage s3`, so a forgotten `--storage s3` does not silently store on disk.
    pub(crate) fn check(self) -> Result<Self, clap::Error> {
        let given = self.upstream.given();
        if self.upstream.mode == UpstreamMode::Off && !given.is_empty() {
            return Err(Self::command().error(
                ErrorKind::ArgumentConflict,
                format!(
                    "{} only apply with --upstream pin or --upstream proxy (TFR_UPSTREAM); \
                     add one, or remove them (and their TFR_* variables)",
                    given.join(", ")
                ),
            ));
        }
        let given = self.s3.given();
        if self.storage == StorageKind::Fs && !given.is_empty() {
            return Err(Self::command().error(
                ErrorKind::ArgumentConflict,
                format!(
                    "{} only apply with --storage s3 (TFR_STORAGE=s3); add it, or remove them \
                     (and their TFR_S3_* variables)",
                    given.join(", ")
                ),
            ));
        }
        Ok(self)
    }

    /// The S3 configuration with `--storage s3` (and so `--s3-bucket`); `None` otherwise.
    /// Presigned URLs live `presign_ttl`: the registry's archive URL lifetime
    /// (`--archive-url-ttl-secs`).
    pub(crate) fn s3_config(&self, presign_ttl: Duration) -> Option<S3Config> {
        let bucket = self
            .s3
            .bucket
            .clone()
            .filter(|_| self.storage == StorageKind::S3)?;
        let mut config = S3Config::new(bucket)
            .with_force_path_style(self.s3.force_path_style)
            .with_serve_through_registry(self.s3.serve_through_registry)
            .with_presign_ttl(presign_ttl);
        if let Some(prefix) = &self.s3.prefix {
            config = config.with_prefix(prefix.clone());
        }
        if let Some(region) = &self.s3.region {
            config = config.with_region(region.clone());
        }
        if let Some(url) = &self.s3.endpoint_url {
            config = config.with_endpoint_url(url.clone());
        }
        Some(config)
    }

    /// The registry configuration: registry-core's defaults, overridden by the flags given.
    pub(crate) fn registry_config(
        &self,
        signing_key: SigningKey,
        master_token: TokenHash,
    ) -> RegistryConfig {
        let defaults = RegistryConfig::new(signing_key);
        let limits = ArchiveLimits::new(
            self.max_unpacked_bytes
                .unwrap_or(defaults.archive_limits.max_unpacked_bytes),
            self.max_archive_entries
                .unwrap_or(defaults.archive_limits.max_entries),
        );
        let max_body_bytes = self.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        let ttl = self
            .archive_url_ttl_secs
            .map_or(defaults.archive_url_ttl, Duration::from_secs);
        defaults
            .with_master_token_hash(master_token)
            .with_anonymous_reads(self.anonymous_reads)
            .with_max_body_bytes(max_body_bytes)
            .with_archive_limits(limits)
            .with_archive_url_ttl(ttl)
            .with_proxy(self.upstream.proxy_config())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory as _, Parser as _};

    use super::{Args, StorageKind, UpstreamMode};

    #[test]
    fn flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_serve_https_on_8443_from_registry_data() {
        let args = Args::try_parse_from(["local-server"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(args.data_dir, std::path::Path::new("./registry-data"));
        assert!(!args.plain_http && !args.anonymous_reads);
        assert!(args.tls_cert.is_none() && args.max_body_bytes.is_none());
    }

    #[test]
    fn own_certificate_needs_its_key_and_excludes_plain_http() {
        assert!(Args::try_parse_from(["local-server", "--tls-cert", "c.pem"]).is_err());
        assert!(Args::try_parse_from([
            "local-server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--plain-http"
        ])
        .is_err());
        let args =
            Args::try_parse_from(["local-server", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
                .unwrap();
        assert_eq!(args.tls_key.as_deref(), Some(std::path::Path::new("k.pem")));
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("local-server").chain(args.iter().copied()))
            .and_then(Args::check)
    }

    #[test]
    fn archive_url_lifetimes_are_bounded() {
        // 0 would make every download URL expired, and the read cache off.
        for bad in ["0", "604801"] {
            let error = parse(&["--archive-url-ttl-secs", bad]).unwrap_err();
            assert!(
                error.to_string().contains("--archive-url-ttl-secs"),
                "{error}"
            );
        }
        let args = parse(&["--archive-url-ttl-secs", "60"]).unwrap();
        assert_eq!(args.archive_url_ttl_secs, Some(60));
    }

    #[test]
    fn storage_defaults_to_the_filesystem() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.storage, StorageKind::Fs);
        assert!(args.s3.given().is_empty());
        assert!(args.s3_config(Duration::from_secs(1)).is_none());
        assert!(parse(&["--storage", "fs"]).is_ok());
        assert!(parse(&["--storage", "gcs"]).is_err());
    }

    #[test]
    fn s3_storage_requires_a_bucket() {
        let error = parse(&["--storage", "s3"]).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument,
            "{error}"
        );
        assert!(error.to_string().contains("--s3-bucket"), "{error}");
        assert!(parse(&["--storage", "s3", "--s3-bucket", "modules"]).is_ok());
    }

    #[test]
    fn s3_flags_without_s3_storage_are_an_error() {
        for flags in [
            &["--s3-bucket", "modules"][..],
            &["--s3-prefix", "registry/"],
            &["--s3-region", "eu-west-1"],
            &["--s3-endpoint-url", "http://127.0.0.1:9000"],
            &["--s3-force-path-style"],
            &["--s3-serve-through-registry"],
        ] {
            let error = parse(flags).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{flags:?}: {error}"
            );
            assert!(
                error.to_string().contains(flags[0]) && error.to_string().contains("--storage s3"),
                "{flags:?}: {error}"
            );
            // The same flags with --storage s3 (and a bucket) are fine.
            let mut with_s3 = vec!["--storage", "s3"];
            if flags[0] != "--s3-bucket" {
                with_s3.extend(["--s3-bucket", "b"]);
            }
            with_s3.extend(flags);
            assert!(parse(&with_s3).is_ok(), "{with_s3:?}");
        }
    }

    #[test]
    fn s3_flags_make_the_s3_config() {
        let args = parse(&[
            "--storage=s3",
            "--s3-bucket=modules",
            "--s3-prefix=registry/",
            "--s3-region=eu-west-1",
            "--s3-endpoint-url=http://127.0.0.1:9000",
            "--s3-force-path-style",
            "--s3-serve-through-registry",
        ])
        .unwrap();
        let config = args.s3_config(Duration::from_secs(40)).unwrap();
        assert_eq!(config.bucket, "modules");
        assert_eq!(config.prefix, "registry/");
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert!(config.force_path_style && config.serve_through_registry);
        assert_eq!(config.presign_ttl, Duration::from_secs(40));

        let config = parse(&["--storage", "s3", "--s3-bucket", "modules"])
            .unwrap()
            .s3_config(Duration::from_secs(300))
            .unwrap();
        let defaults = storage_s3::S3Config::new("modules".to_owned());
        assert_eq!(config.prefix, defaults.prefix);
        assert_eq!(config.region, None);
        assert_eq!(config.endpoint_url, None);
        assert!(!config.force_path_style && !config.serve_through_registry);
    }

    #[test]
    fn upstream_is_off_by_default_and_its_flags_need_it() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.upstream.mode, UpstreamMode::Off);
        assert!(!args.upstream.proxy_config().enabled);
        for flags in [
            &["--upstream-url", "https://registry.example.com"][..],
            &["--proxy-allow", "hashicorp"],
            &["--proxy-deny", "acme"],
            &["--upstream-token", "t"],
            &["--upstream-timeout-secs", "3"],
            &["--upstream-cache-ttl-secs", "3"],
            &["--upstream-ca-file", "ca.pem"],
            &["--github-tarball-url", "http://127.0.0.1:1/"],
        ] {
            let error = parse(flags).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{flags:?}"
            );
            assert!(error.to_string().contains(flags[0]), "{error}");
            let mut with = vec!["--upstream", "pin"];
            with.extend(flags);
            assert!(parse(&with).is_ok(), "{with:?}");
        }
    }

    #[test]
    fn proxy_lists_parse_as_patterns_and_only_proxy_mode_proxies() {
        let args = parse(&[
            "--upstream=proxy",
            "--proxy-allow=hashicorp,terraform-aws-modules/vpc",
            "--proxy-allow=cloudposse/label/null",
            "--proxy-deny=hashicorp/vault",
        ])
        .unwrap();
        let proxy = args.upstream.proxy_config();
        assert!(proxy.enabled);
        let shown: Vec<String> = proxy.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "hashicorp",
                "terraform-aws-modules/vpc",
                "cloudposse/label/null"
            ]
        );
        assert_eq!(proxy.deny.len(), 1);
        let pin = parse(&["--upstream=pin", "--proxy-deny=acme"]).unwrap();
        assert!(!pin.upstream.proxy_config().enabled);
        let error = parse(&["--upstream=proxy", "--proxy-allow=hashi*"]).unwrap_err();
        assert!(
            error.to_string().contains("namespace/name/system"),
            "{error}"
        );
    }

    #[test]
    fn limits_default_to_the_core_and_flags_override_them() {
        let key = registry_core::SigningKey::generate();
        let hash = registry_core::TokenHash::of("tfr_test");
        let core = registry_core::RegistryConfig::new(key.clone());

        let config = Args::try_parse_from(["local-server"])
            .unwrap()
            .registry_config(key.clone(), hash);
        assert_eq!(config.max_body_bytes, core.max_body_bytes);
        assert_eq!(config.archive_limits, core.archive_limits);
        assert_eq!(config.archive_url_ttl, core.archive_url_ttl);
        assert!(!config.anonymous_reads);
        assert_eq!(config.master_token_hash, Some(hash));

        let config = Args::try_parse_from([
            "local-server",
            "--max-body-bytes=10",
            "--max-unpacked-bytes=20",
            "--max-archive-entries=30",
            "--archive-url-ttl-secs=40",
            "--anonymous-reads",
        ])
        .unwrap()
        .registry_config(key, hash);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(
            config.archive_limits,
            registry_core::ArchiveLimits::new(20, 30)
        );
        assert_eq!(config.archive_url_ttl, std::time::Duration::from_secs(40));
        assert!(config.anonymous_reads);
    }
}
