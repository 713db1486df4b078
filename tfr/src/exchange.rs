//! `tfr login`: exchanging an AWS or CI identity for a registry token, and
//! handing the token to Terraform.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::cli::{AwsLogin, Login, Output, TokenSource};
use crate::credentials;
use crate::error::Error;
use crate::host::Host;
use crate::http::{self, Client};
use crate::secret::Secret;

/// What `tfr login` reads from the environment, looked up by name (the real
/// environment in `main`, a map in tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The token the exchange routes answer with (`201`).
#[derive(Debug, Deserialize)]
pub(crate) struct Issued {
    token: Secret,
    name: String,
    tier: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
}

/// Runs `login`: checks the output can be written, gets the identity's
/// proof, exchanges it, and writes the token as `output` says.
///
/// # Errors
/// Whatever step failed; the message names the host and never holds the
/// token.
pub(crate) async fn login(
    login: Login,
    output: Output,
    client: &Client,
    env: Env<'_>,
) -> Result<(), Error> {
    let host = login.host().clone();
    // Before anything is issued: a token nobody can use is wasted.
    let credentials_file = match &output {
        Output::Export => {
            credentials::token_variable(&host)?;
            None
        }
        Output::WriteCredentials(path) => Some(credentials_path(path.clone(), env)?),
        Output::Json => None,
    };
    let (route, body) = match &login {
        Login::Aws(aws) => {
            let request = aws_signed_request(aws, env).await?;
            let body = serde_json::to_value(&request)
                .map_err(|e| Error::Aws(format!("cannot encode the signed request: {e}")))?;
            ("/v1/exchange/aws", body)
        }
        Login::Oidc { source, .. } => {
            let jwt = oidc_token(source, client, env).await?;
            (
                "/v1/exchange/oidc",
                serde_json::json!({ "token": jwt.expose() }),
            )
        }
    };
    let answer = client
        .send(Method::POST, &host, route, None, Some(&body))
        .await?;
    let raw: serde_json::Value = answer.expect(&host.to_string(), StatusCode::CREATED)?;
    let issued: Issued =
        serde_json::from_value(raw.clone()).map_err(|e| http::HttpError::Unexpected {
            host: host.to_string(),
            status: StatusCode::CREATED,
            reason: e.to_string(),
        })?;
    match output {
        Output::Json => println!("{}", pretty(&raw)),
        Output::Export => {
            println!("{}", credentials::export_line(&host, &issued.token)?);
            eprintln!("tfr: {}", summary(&host, &issued));
        }
        Output::WriteCredentials(_) => {
            let path = credentials_file.expect("checked above");
            credentials::write(&path, &host, &issued.token)?;
            eprintln!("tfr: {}", summary(&host, &issued));
            eprintln!(
                "tfr: wrote it to {} for {}",
                path.display(),
                host.for_terraform()
            );
            if let Some(note) = cli_config_note(&path, env) {
                eprintln!("tfr: {note}");
            }
        }
    }
    Ok(())
}

/// The credentials file to write: the given one, or Terraform's default.
fn credentials_path(given: Option<PathBuf>, env: Env<'_>) -> Result<PathBuf, Error> {
    match given {
        Some(path) => Ok(path),
        None => Ok(credentials::default_path(
            env(credentials::home_variable()).map(PathBuf::from),
        )?),
    }
}

/// A warning when Terraform will not read `path`: `TF_CLI_CONFIG_FILE`
/// makes it skip its configuration directory, credentials.tfrc.json
/// included.
fn cli_config_note(path: &Path, env: Env<'_>) -> Option<String> {
    let override_file = env("TF_CLI_CONFIG_FILE")
        .or_else(|| env("TERRAFORM_CONFIG"))
        .filter(|v| !v.is_empty())?;
    let default = credentials_path(None, env).ok()?;
    if path != default {
        // Someone's own file: they know where it is read.
        return None;
    }
    Some(format!(
        "warning: TF_CLI_CONFIG_FILE={override_file} is set, so Terraform does not read {}; \
         unset it, or put a credentials block for this host into that file",
        path.display()
    ))
}

/// One line for stderr: the token's name, tier, scope and expiry (never the
/// token).
fn summary(host: &Host, issued: &Issued) -> String {
    let scope = match &issued.namespaces {
        None => "every namespace".to_owned(),
        Some(list) if list.is_empty() => "no namespace".to_owned(),
        Some(list) => format!("namespaces {}", list.join(", ")),
    };
    let expiry = match &issued.expires_at {
        Some(at) => format!("expires {at}"),
        None => "does not expire".to_owned(),
    };
    let by = issued
        .created_by
        .as_deref()
        .map(|b| format!(", for {b}"))
        .unwrap_or_default();
    http::printable(&format!(
        "{} token {:?} from {host} ({scope}{by}); it {expiry}",
        issued.tier, issued.name
    ))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The STS endpoint the AWS SDKs would use for STS: `AWS_ENDPOINT_URL_STS`,
/// else `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is
/// `true`; `None` for the regional default.
pub(crate) fn configured_sts_endpoint(env: Env<'_>) -> Option<String> {
    let ignore =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if ignore {
        return None;
    }
    ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
        .into_iter()
        .filter_map(env)
        .find(|v| !v.trim().is_empty())
}

/// `https://host/` and `https://host` both name an STS endpoint; the
/// signer takes the first form.
fn with_root_path(endpoint: &str) -> String {
    if endpoint.contains("://") && endpoint.matches('/').count() == 2 {
        format!("{endpoint}/")
    } else {
        endpoint.to_owned()
    }
}

/// Loads the caller's AWS credentials with the standard chain and signs
/// `sts:GetCallerIdentity` for the registry.
async fn aws_signed_request(
    aws: &AwsLogin,
    env: Env<'_>,
) -> Result<registry_core::exchange::SignedRequest, Error> {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let region = sdk.region().map(ToString::to_string).ok_or_else(|| {
        Error::Aws(
            "no AWS region configured: give --region (the STS endpoint is regional), or set AWS_REGION or a region in your AWS profile".into(),
        )
    })?;
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| Error::Aws("no AWS credentials provider is configured".into()))?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        Error::Aws(format!(
            "cannot load AWS credentials: {}; configure them as for the AWS CLI (environment variables, AWS_PROFILE, `aws sso login`, or an instance, task or CodeBuild role)",
            error_chain(&e)
        ))
    })?;
    let endpoint = aws
        .sts_endpoint
        .clone()
        .or_else(|| configured_sts_endpoint(env))
        .map(|e| with_root_path(&e))
        .unwrap_or_else(|| identity_aws::sts_endpoint(&region));
    let server_id = aws
        .server_id
        .clone()
        .unwrap_or_else(|| aws.host.for_terraform());
    identity_aws::sign_get_caller_identity(
        &credentials,
        &region,
        &endpoint,
        &server_id,
        SystemTime::now(),
    )
    .map_err(|e| Error::Aws(e.to_string()))
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// The OIDC ID token from `source`.
async fn oidc_token(source: &TokenSource, client: &Client, env: Env<'_>) -> Result<Secret, Error> {
    let token = match source {
        TokenSource::Env(var) => env(var).ok_or_else(|| {
            Error::Oidc(format!(
                "the variable {var} is not set; in GitLab CI declare it under the job's `id_tokens:` with the registry's audience (`aud:`)"
            ))
        })?,
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            Error::Oidc(format!("cannot read the ID token from {}: {e}", path.display()))
        })?,
        TokenSource::GithubActions { audience } => {
            github_actions_token(audience, client, env).await?.expose().to_owned()
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Oidc(format!("the ID token from {source} is empty")));
    }
    if token.split('.').count() != 3 {
        return Err(Error::Oidc(format!(
            "the ID token from {source} is not a JWT (three dot-separated parts)"
        )));
    }
    Ok(Secret::new(token.to_owned()))
}

/// The URL GitHub's `actions/core` `getIDToken(audience)` requests:
/// `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD` (the URL already has a
/// query), the audience percent-encoded.
pub(crate) fn github_token_url(request_url: &str, audience: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(audience, percent_encoding::NON_ALPHANUMERIC);
    let separator = if request_url.contains('?') { '&' } else { '?' };
    format!("{request_url}{separator}audience={encoded}")
}

/// Fetches a GitHub Actions OIDC ID token for `audience`, as
/// `actions/core` does.
async fn github_actions_token(
    audience: &str,
    client: &Client,
    env: Env<'_>,
) -> Result<Secret, Error> {
    let missing = |var: &str| {
        Error::Oidc(format!(
            "{var} is not set: run this in a GitHub Actions job with `permissions: id-token: write`"
        ))
    };
    let url = env("ACTIONS_ID_TOKEN_REQUEST_URL")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("ACTIONS_ID_TOKEN_REQUEST_URL"))?;
    let bearer = env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .ok_or_else(|| missing("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))?;
    #[derive(Deserialize)]
    struct IdToken {
        value: Secret,
    }
    let answer = client
        .send_url(
            Method::GET,
            &github_token_url(&url, audience),
            "GitHub's OIDC token service",
            Some(&bearer),
            None,
        )
        .await?;
    let token: IdToken = answer.expect("GitHub's OIDC token service", StatusCode::OK)?;
    Ok(token.value)
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(var) => write!(f, "${var}"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::GithubActions { .. } => f.write_str("GitHub Actions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_sts_endpoint_comes_from_the_sdks_variables() {
        assert_eq!(configured_sts_endpoint(&env_of(&[])), None);
        let both = env_of(&[
            ("AWS_ENDPOINT_URL", "http://all:1/"),
            ("AWS_ENDPOINT_URL_STS", "http://sts:2/"),
        ]);
        assert_eq!(
            configured_sts_endpoint(&both).as_deref(),
            Some("http://sts:2/")
        );
        let global = env_of(&[
            ("AWS_ENDPOINT_URL", "http://all:1/"),
            ("AWS_ENDPOINT_URL_STS", ""),
        ]);
        assert_eq!(
            configured_sts_endpoint(&global).as_deref(),
            Some("http://all:1/")
        );
        let ignored = env_of(&[
            ("AWS_ENDPOINT_URL_STS", "http://sts:2/"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ]);
        assert_eq!(configured_sts_endpoint(&ignored), None);
        assert_eq!(
            with_root_path("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            with_root_path("http://127.0.0.1:5000/"),
            "http://127.0.0.1:5000/"
        );
    }

    #[test]
    fn the_github_url_is_the_one_actions_core_requests() {
        assert_eq!(
            github_token_url(
                "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0",
                "https://registry.example.com"
            ),
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&audience=https%3A%2F%2Fregistry%2Eexample%2Ecom"
        );
        assert_eq!(
            github_token_url("http://x/t", "a b"),
            "http://x/t?audience=a%20b"
        );
    }

    fn issued(namespaces: Option<Vec<&str>>, expires_at: Option<&str>) -> Issued {
        Issued {
            token: Secret::new("tfr_secret_value".into()),
            name: "aws-ci-1".into(),
            tier: "downloader".into(),
            expires_at: expires_at.map(str::to_owned),
            created_by: Some("arn:aws:sts::123456789012:assumed-role/ci/s".into()),
            namespaces: namespaces.map(|l| l.into_iter().map(str::to_owned).collect()),
        }
    }

    #[test]
    fn the_summary_has_the_scope_and_expiry_and_never_the_token() {
        let host: Host = "registry.example.com".parse().unwrap();
        let s = summary(
            &host,
            &issued(
                Some(vec!["acme", "platform-*"]),
                Some("2030-01-01T00:00:00Z"),
            ),
        );
        assert!(s.contains("downloader token \"aws-ci-1\""), "{s}");
        assert!(s.contains("namespaces acme, platform-*"), "{s}");
        assert!(s.contains("expires 2030-01-01T00:00:00Z"), "{s}");
        assert!(s.contains("assumed-role/ci"), "{s}");
        assert!(!s.contains("tfr_secret_value"), "{s}");
        let s = summary(&host, &issued(None, None));
        assert!(
            s.contains("every namespace") && s.contains("does not expire"),
            "{s}"
        );
        assert!(!format!("{:?}", issued(None, None)).contains("tfr_secret_value"));
    }

    #[test]
    fn the_credentials_file_note_warns_only_for_terraforms_own_file() {
        let env = env_of(&[
            ("HOME", "/home/me"),
            ("TF_CLI_CONFIG_FILE", "/ci/terraformrc"),
        ]);
        let default = credentials_path(None, &env).unwrap();
        let note = cli_config_note(&default, &env).unwrap();
        assert!(
            note.contains("TF_CLI_CONFIG_FILE=/ci/terraformrc"),
            "{note}"
        );
        assert_eq!(cli_config_note(Path::new("/elsewhere.json"), &env), None);
        assert_eq!(
            cli_config_note(&default, &env_of(&[("HOME", "/home/me")])),
            None
        );
    }

    #[tokio::test]
    async fn oidc_tokens_are_read_trimmed_and_checked() {
        let client = Client::new(None).unwrap();
        let env = env_of(&[
            ("CI_JOB_JWT", " a.b.c\n"),
            ("EMPTY", ""),
            ("OPAQUE", "opaque"),
        ]);
        let token = oidc_token(&TokenSource::Env("CI_JOB_JWT".into()), &client, &env)
            .await
            .unwrap();
        assert_eq!(token.expose(), "a.b.c");
        for (var, says) in [
            ("UNSET", "not set"),
            ("EMPTY", "empty"),
            ("OPAQUE", "not a JWT"),
        ] {
            let e = oidc_token(&TokenSource::Env(var.into()), &client, &env)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{var}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "x.y.z\n").unwrap();
        let token = oidc_token(&TokenSource::File(file), &client, &env)
            .await
            .unwrap();
        assert_eq!(token.expose(), "x.y.z");
        let e = oidc_token(
            &TokenSource::GithubActions {
                audience: "aud".into(),
            },
            &client,
            &env,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ACTIONS_ID_TOKEN_REQUEST_URL") && e.contains("id-token: write"),
            "{e}"
        );
    }
}
