//! The command line, and its conversion into typed commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

use crate::host::Host;

/// The terraform-registry command line: log in with an AWS or CI identity,
/// manage tokens.
///
/// Hosts are given without a scheme (`registry.example.com`,
/// `127.0.0.1:8443`); tfr always speaks HTTPS, trusting the system's and
/// the public root certificates plus SSL_CERT_FILE's.
#[derive(Debug, Parser)]
#[command(name = "tfr", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: CommandArgs,
}

#[derive(Debug, Subcommand)]
enum CommandArgs {
    /// Exchange an AWS identity or a CI provider's OIDC ID token for a
    /// short-lived registry token, and hand it to Terraform.
    ///
    /// By default prints `export TF_TOKEN_<host>=<token>` for
    /// `eval "$(tfr login ...)"`; the token's scope and expiry go to stderr.
    Login(LoginArgs),
    /// Manage the registry's tokens with the master token, read from the
    /// TFR_TOKEN environment variable (never a flag, so it stays out of
    /// shell history).
    #[command(subcommand)]
    Tokens(TokensArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("identity").required(true).args(["aws", "oidc"])))]
#[command(group(ArgGroup::new("source").args(["token_env", "token_file", "github_actions"])))]
#[command(group(ArgGroup::new("output").args(["write_credentials", "json"])))]
struct LoginArgs {
    /// Prove an AWS IAM identity (the standard credential chain: environment,
    /// profile, SSO, credential_process, web identity, container or instance
    /// role) to the registry at HOST, with a signed sts:GetCallerIdentity.
    #[arg(long, value_name = "HOST")]
    aws: Option<Host>,
    /// Prove a CI job's identity with its OIDC ID token to the registry at
    /// HOST.
    #[arg(long, value_name = "HOST")]
    oidc: Option<Host>,

    /// The AWS region to sign for, and of the default STS endpoint
    /// (default: the AWS configuration's, e.g. AWS_REGION).
    #[arg(long, conflicts_with = "oidc", value_name = "REGION")]
    region: Option<String>,
    /// The STS endpoint the registry is to forward the request to (default:
    /// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else the region's own,
    /// sts.REGION.amazonaws.com). It must be one the registry allows.
    #[arg(long, conflicts_with = "oidc", value_name = "URL")]
    sts_endpoint: Option<String>,
    /// The registry's server id the request is bound to (default: HOST).
    #[arg(long, conflicts_with = "oidc", value_name = "ID")]
    server_id: Option<String>,

    /// Read the ID token from this environment variable (GitLab CI: a
    /// variable of the job's `id_tokens:`).
    #[arg(long, conflicts_with = "aws", value_name = "VAR")]
    token_env: Option<String>,
    /// Read the ID token from this file.
    #[arg(long, conflicts_with = "aws", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Request the ID token from GitHub Actions (the job needs
    /// `permissions: id-token: write`), for --audience.
    #[arg(long, conflicts_with = "aws", requires = "audience")]
    github_actions: bool,
    /// The audience (`aud`) of the GitHub Actions ID token: the one the
    /// registry expects.
    #[arg(long, requires = "github_actions", value_name = "AUD")]
    audience: Option<String>,

    /// Instead of printing an `export` line, merge the token into
    /// Terraform's credentials file (default:
    /// ~/.terraform.d/credentials.tfrc.json), keeping other hosts; needed
    /// for a host with a port.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    write_credentials: Option<Option<PathBuf>>,
    /// Print the registry's whole answer as JSON (the token included).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TokensArgs {
    /// List the tokens: name, tier, namespaces, expiry, creator.
    List {
        /// The registry, e.g. registry.example.com.
        host: Host,
        /// Print the registry's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a token; prints it on stdout (shown only this once), the
    /// details on stderr.
    Create(CreateArgs),
    /// Delete a token by name.
    Delete {
        /// The registry, e.g. registry.example.com.
        host: Host,
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The registry, e.g. registry.example.com.
    host: Host,
    /// The token's name (unique).
    #[arg(long)]
    name: String,
    /// What it may do.
    #[arg(long, value_enum)]
    tier: Tier,
    /// Its lifetime, e.g. 15m, 12h, 30days.
    #[arg(long, value_parser = parse_lifetime, conflicts_with = "expires_at", value_name = "DURATION")]
    expires_in: Option<Duration>,
    /// Its expiry as an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.
    #[arg(long, value_name = "TIME")]
    expires_at: Option<String>,
    /// Limit it to namespaces matching this pattern (`acme`, `platform-*`);
    /// repeatable. Without it, every namespace.
    #[arg(long = "namespace", value_name = "PATTERN")]
    namespaces: Vec<String>,
    /// Print the registry's answer as JSON.
    #[arg(long)]
    json: bool,
}

/// A token tier `tfr tokens create` may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Tier {
    /// Publishes and downloads.
    Uploader,
    /// Downloads.
    Downloader,
}

impl Tier {
    /// The API's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Uploader => "uploader",
            Self::Downloader => "downloader",
        }
    }
}

/// A humantime duration of whole seconds, at least one.
fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; give a duration such as 15m, 12h or 30days"))?;
    if d.subsec_nanos() != 0 {
        return Err("give whole seconds (the registry counts expiries in seconds)".into());
    }
    if d.as_secs() == 0 {
        return Err("give at least 1s; leave the flag out for a token that does not expire".into());
    }
    Ok(d)
}

/// A command, as typed values.
#[derive(Debug)]
pub(crate) enum Command {
    /// `tfr login`.
    Login {
        /// Who logs in where.
        login: Login,
        /// Where the token goes.
        output: Output,
    },
    /// `tfr tokens list`.
    ListTokens {
        /// The registry.
        host: Host,
        /// `--json`.
        json: bool,
    },
    /// `tfr tokens create`.
    CreateToken(CreateToken),
    /// `tfr tokens delete`.
    DeleteToken {
        /// The registry.
        host: Host,
        /// The token's name.
        name: String,
    },
}

/// `tfr login --aws` or `--oidc`.
#[derive(Debug)]
pub(crate) enum Login {
    /// An AWS identity.
    Aws(AwsLogin),
    /// An OIDC ID token.
    Oidc {
        /// The registry.
        host: Host,
        /// Where the ID token comes from.
        source: TokenSource,
    },
}

impl Login {
    /// The registry.
    pub(crate) fn host(&self) -> &Host {
        match self {
            Self::Aws(aws) => &aws.host,
            Self::Oidc { host, .. } => host,
        }
    }
}

/// `tfr login --aws HOST` and its options.
#[derive(Debug)]
pub(crate) struct AwsLogin {
    /// The registry.
    pub(crate) host: Host,
    /// `--region`.
    pub(crate) region: Option<String>,
    /// `--sts-endpoint`.
    pub(crate) sts_endpoint: Option<String>,
    /// `--server-id`.
    pub(crate) server_id: Option<String>,
}

/// Where `tfr login --oidc` gets the ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// `--token-env VAR`.
    Env(String),
    /// `--token-file FILE`.
    File(PathBuf),
    /// `--github-actions --audience AUD`.
    GithubActions {
        /// The audience.
        audience: String,
    },
}

/// Where `tfr login` puts the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// An `export TF_TOKEN_...=...` line on stdout.
    Export,
    /// Into a credentials.tfrc.json: this one, or Terraform's default.
    WriteCredentials(Option<PathBuf>),
    /// The answer as JSON on stdout.
    Json,
}

/// `tfr tokens create`'s request.
#[derive(Debug)]
pub(crate) struct CreateToken {
    /// The registry.
    pub(crate) host: Host,
    /// The request body.
    pub(crate) body: serde_json::Value,
    /// `--json`.
    pub(crate) json: bool,
}

impl Cli {
    /// Parses the process's arguments; on a usage error prints it and
    /// exits as clap does (status 2).
    pub(crate) fn parse_command() -> Command {
        Self::parse().into_command().unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first).
    #[cfg(test)]
    fn try_command<I: IntoIterator<Item = &'static str>>(args: I) -> Result<Command, clap::Error> {
        Self::try_parse_from(args)?.into_command()
    }

    fn into_command(self) -> Result<Command, clap::Error> {
        Ok(match self.command {
            CommandArgs::Login(args) => args.into_command()?,
            CommandArgs::Tokens(TokensArgs::List { host, json }) => {
                Command::ListTokens { host, json }
            }
            CommandArgs::Tokens(TokensArgs::Delete { host, name }) => {
                Command::DeleteToken { host, name }
            }
            CommandArgs::Tokens(TokensArgs::Create(args)) => {
                let mut body = serde_json::json!({
                    "name": args.name,
                    "tier": args.tier.as_str(),
                });
                if let Some(d) = args.expires_in {
                    body["expires_in"] = d.as_secs().into();
                }
                if let Some(at) = args.expires_at {
                    body["expires_at"] = at.into();
                }
                if !args.namespaces.is_empty() {
                    body["namespaces"] = args.namespaces.into();
                }
                Command::CreateToken(CreateToken {
                    host: args.host,
                    body,
                    json: args.json,
                })
            }
        })
    }
}

impl LoginArgs {
    fn into_command(self) -> Result<Command, clap::Error> {
        let output = match (self.write_credentials, self.json) {
            (Some(path), _) => Output::WriteCredentials(path),
            (None, true) => Output::Json,
            (None, false) => Output::Export,
        };
        let login = match (self.aws, self.oidc) {
            (Some(host), None) => Login::Aws(AwsLogin {
                host,
                region: self.region,
                sts_endpoint: self.sts_endpoint,
                server_id: self.server_id,
            }),
            (None, Some(host)) => {
                let source = match (self.token_env, self.token_file, self.audience) {
                    (Some(var), _, _) => TokenSource::Env(var),
                    (None, Some(file), _) => TokenSource::File(file),
                    (None, None, Some(audience)) if self.github_actions => {
                        TokenSource::GithubActions { audience }
                    }
                    _ => {
                        return Err(Cli::command().error(
                            ErrorKind::MissingRequiredArgument,
                            "--oidc needs the ID token: give --token-env VAR, --token-file FILE, or --github-actions --audience AUD",
                        ))
                    }
                };
                Login::Oidc { host, source }
            }
            // The `identity` group makes it exactly one.
            _ => {
                return Err(Cli::command().error(
                    ErrorKind::ArgumentConflict,
                    "give one of --aws HOST and --oidc HOST",
                ))
            }
        };
        Ok(Command::Login { login, output })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    fn ok(args: &[&'static str]) -> Command {
        Cli::try_command(std::iter::once("tfr").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&'static str]) -> String {
        Cli::try_command(std::iter::once("tfr").chain(args.iter().copied()))
            .map(|c| panic!("{args:?} should fail, parsed {c:?}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn aws_login_defaults_to_an_export_line() {
        let Command::Login {
            login: Login::Aws(aws),
            output,
        } = ok(&["login", "--aws", "Registry.Example.com"])
        else {
            panic!()
        };
        assert_eq!(aws.host.authority(), "registry.example.com");
        assert_eq!(aws.region, None);
        assert_eq!(output, Output::Export);

        let Command::Login {
            login: Login::Aws(aws),
            output,
        } = ok(&[
            "login",
            "--aws",
            "r.example",
            "--region",
            "eu-west-1",
            "--sts-endpoint",
            "https://sts.eu-west-1.amazonaws.com/",
            "--server-id",
            "prod",
            "--write-credentials",
        ])
        else {
            panic!()
        };
        assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(aws.server_id.as_deref(), Some("prod"));
        assert_eq!(output, Output::WriteCredentials(None));
    }

    #[test]
    fn oidc_login_takes_exactly_one_source() {
        let source = |args: &[&'static str]| match ok(args) {
            Command::Login {
                login: Login::Oidc { source, .. },
                ..
            } => source,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            source(&[
                "login",
                "--oidc",
                "r.example",
                "--token-env",
                "GITLAB_OIDC_TOKEN"
            ]),
            TokenSource::Env("GITLAB_OIDC_TOKEN".into())
        );
        assert_eq!(
            source(&["login", "--oidc", "r.example", "--token-file", "/t"]),
            TokenSource::File("/t".into())
        );
        assert_eq!(
            source(&[
                "login",
                "--oidc",
                "r.example",
                "--github-actions",
                "--audience",
                "https://r.example"
            ]),
            TokenSource::GithubActions {
                audience: "https://r.example".into()
            }
        );
        assert!(err(&["login", "--oidc", "r.example"]).contains("--token-env"));
        assert!(err(&["login", "--oidc", "r.example", "--github-actions"]).contains("--audience"));
        err(&[
            "login",
            "--oidc",
            "r.example",
            "--token-env",
            "A",
            "--token-file",
            "/t",
        ]);
        err(&[
            "login",
            "--oidc",
            "r.example",
            "--token-env",
            "A",
            "--region",
            "eu-west-1",
        ]);
        err(&["login", "--aws", "r.example", "--token-env", "A"]);
        err(&["login", "--aws", "r.example", "--oidc", "r.example"]);
        err(&["login"]);
        err(&[
            "login",
            "--aws",
            "r.example",
            "--json",
            "--write-credentials",
        ]);
        assert!(err(&["login", "--aws", "https://r.example"]).contains("not a URL"));
    }

    #[test]
    fn write_credentials_takes_an_optional_path() {
        let Command::Login { output, .. } = ok(&[
            "login",
            "--oidc",
            "r.example",
            "--write-credentials",
            "/tmp/c.json",
            "--token-env",
            "T",
        ]) else {
            panic!()
        };
        assert_eq!(output, Output::WriteCredentials(Some("/tmp/c.json".into())));
        let Command::Login { output, .. } =
            ok(&["login", "--oidc", "r.example", "--token-env", "T", "--json"])
        else {
            panic!()
        };
        assert_eq!(output, Output::Json);
    }

    #[test]
    fn token_creation_builds_the_request_body() {
        let Command::CreateToken(create) = ok(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "ci",
            "--tier",
            "uploader",
            "--expires-in",
            "15m",
            "--namespace",
            "acme",
            "--namespace",
            "platform-*",
        ]) else {
            panic!()
        };
        assert_eq!(
            create.body,
            serde_json::json!({"name": "ci", "tier": "uploader", "expires_in": 900, "namespaces": ["acme", "platform-*"]})
        );
        let Command::CreateToken(create) = ok(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "ci",
            "--tier",
            "downloader",
            "--expires-at",
            "2027-01-31T00:00:00Z",
        ]) else {
            panic!()
        };
        assert_eq!(
            create.body,
            serde_json::json!({"name": "ci", "tier": "downloader", "expires_at": "2027-01-31T00:00:00Z"})
        );
        err(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "ci",
            "--tier",
            "master",
        ]);
        err(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "ci",
            "--tier",
            "uploader",
            "--expires-in",
            "1m",
            "--expires-at",
            "2027-01-31T00:00:00Z",
        ]);
        assert!(err(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "x",
            "--tier",
            "uploader",
            "--expires-in",
            "1500ms"
        ])
        .contains("whole seconds"));
        assert!(err(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "x",
            "--tier",
            "uploader",
            "--expires-in",
            "0s"
        ])
        .contains("at least 1s"));
        assert!(err(&[
            "tokens",
            "create",
            "r.example",
            "--name",
            "x",
            "--tier",
            "uploader",
            "--expires-in",
            "soon"
        ])
        .contains("15m"));
    }

    #[test]
    fn list_and_delete() {
        assert!(matches!(
            ok(&["tokens", "list", "r.example", "--json"]),
            Command::ListTokens { json: true, .. }
        ));
        let Command::DeleteToken { host, name } = ok(&["tokens", "delete", "127.0.0.1:8443", "ci"])
        else {
            panic!()
        };
        assert_eq!(
            (host.authority().as_str(), name.as_str()),
            ("127.0.0.1:8443", "ci")
        );
        // The master token is never a flag.
        err(&["tokens", "list", "r.example", "--token", "tfr_x"]);
    }
}
