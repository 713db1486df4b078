//! `tfr login` against the real `local-server`: `--aws` with moto as STS
//! (assumed-role credentials from moto's AssumeRole, the exchange forwarding
//! the signed GetCallerIdentity to moto), and both exchanges on a server
//! without `--exchange-config` (404).
//!
//! The AWS test needs `TFR_TEST_S3_ENDPOINT` (moto's server, which answers
//! STS too; `scripts/test` starts it). Without it: under `CI=true` the test
//! fails; otherwise it prints a note and returns.

mod common;

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use common::{module_archive, tfr, Server};

/// The account moto puts every identity in.
const ACCOUNT: &str = "123456789012";
/// The server id the test registry is configured with.
const SERVER_ID: &str = "tfr-login-test";

/// moto's endpoint, or `None` (after a note) outside CI.
fn moto_endpoint() -> Option<String> {
    match std::env::var("TFR_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            let endpoint = endpoint.trim().trim_end_matches('/');
            Some(format!("{endpoint}/"))
        }
        _ if common::in_ci() => {
            panic!("TFR_TEST_S3_ENDPOINT is not set: run scripts/test, which starts moto (it serves STS too)")
        }
        _ => {
            eprintln!("note: TFR_TEST_S3_ENDPOINT is not set, so `tfr login --aws` is not tested against moto's STS (scripts/test starts moto and sets it)");
            None
        }
    }
}

/// The text of the first `<tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    &xml[start..end]
}

/// Assumes `arn:aws:iam::ACCOUNT:role/{role}` at moto with its dummy
/// credentials; answers the session's access key, secret and token.
fn assume_role(sts: &str, role: &str) -> (String, String, String) {
    let caller = Credentials::new("testing", "testing", None, None, "test");
    let body = format!(
        "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2F{role}&RoleSessionName=tfr-test&Version=2011-06-15"
    );
    let signed =
        identity_aws::sign_sts_request(&caller, "us-east-1", sts, &body, &[], SystemTime::now())
            .expect("sign AssumeRole");
    let mut request = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&signed.url)
        .body(signed.body.clone());
    for (name, value) in &signed.headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let answer = request.send().expect("moto answers AssumeRole");
    let status = answer.status();
    let xml = answer.text().unwrap();
    assert!(status.is_success(), "AssumeRole: {status} {xml}");
    (
        xml_text(&xml, "AccessKeyId").to_owned(),
        xml_text(&xml, "SecretAccessKey").to_owned(),
        xml_text(&xml, "SessionToken").to_owned(),
    )
}

fn exchange_config(dir: &Path, sts: &str) -> String {
    let path = dir.join("exchange.json");
    let config = serde_json::json!({
        "aws": {
            "server_id": SERVER_ID,
            "sts_endpoints": [sts],
            "rules": [{
                "when": {"account": ACCOUNT, "type": "assumed-role", "name": "ci"},
                "tier": "downloader",
                "namespaces": ["acme"],
                "lifetime": "1m"
            }]
        }
    });
    fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn aws_login_exchanges_an_assumed_role_for_a_downloader_token() {
    let Some(sts) = moto_endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = exchange_config(dir.path(), &sts);
    let server = Server::start(&dir.path().join("data"), &["--exchange-config", &config]);
    let host = server.host();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let cert = server.cert_path.to_str().unwrap().to_owned();

    let (key, secret, session) = assume_role(&sts, "ci");
    let aws_env = |key: &str, secret: &str, session: &str| {
        vec![
            ("SSL_CERT_FILE", cert.clone()),
            ("AWS_ACCESS_KEY_ID", key.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
            ("AWS_SESSION_TOKEN", session.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL_STS", sts.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    };
    let env = aws_env(&key, &secret, &session);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let login = |extra: &[&str]| {
        let mut args = vec!["login", "--aws", host.as_str(), "--server-id", SERVER_ID];
        args.extend_from_slice(extra);
        tfr(&home, &args, &env)
    };

    // A host with a port has no exportable TF_TOKEN_ variable: refused
    // before a token is issued, pointing at --write-credentials.
    let export = login(&[]);
    let stderr = export.failed();
    assert!(
        stderr.contains("--write-credentials")
            && stderr.contains(&format!("TF_TOKEN_127_0_0_1:{}", server.port)),
        "{export:#?}"
    );
    assert!(export.stdout.is_empty());

    // --json: the whole answer.
    let json = login(&["--json"]);
    let answer: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(answer["tier"], "downloader", "{answer}");
    assert_eq!(
        answer["namespaces"],
        serde_json::json!(["acme"]),
        "{answer}"
    );
    assert!(
        answer["token"].as_str().unwrap().starts_with("tfr_"),
        "{answer}"
    );
    assert!(answer["expires_at"].is_string(), "{answer}");
    assert!(
        answer["created_by"]
            .as_str()
            .unwrap()
            .contains(&format!("{ACCOUNT}:assumed-role/ci/")),
        "{answer}"
    );

    // --write-credentials: merged into Terraform's file, other hosts kept.
    let file = home.join(".terraform.d/credentials.tfrc.json");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        &file,
        r#"{"credentials": {"app.terraform.io": {"token": "other"}}}"#,
    )
    .unwrap();
    let written = login(&["--write-credentials"]);
    written.ok();
    assert!(written.stdout.is_empty(), "{written:#?}");
    assert!(
        written.stderr.contains("downloader token") && written.stderr.contains("namespaces acme"),
        "{written:#?}"
    );
    assert!(written.stderr.contains("expires"), "{written:#?}");
    let creds: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(creds["credentials"]["app.terraform.io"]["token"], "other");
    let token = creds["credentials"][host.as_str()]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("tfr_"), "{creds}");
    assert!(
        !written.stderr.contains(&token),
        "the token went to stderr: {written:#?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The token works as a downloader token.
    let pem = fs::read(&server.cert_path).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let listed = http
        .get(format!("https://{host}/v1/modules"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        listed.status(),
        reqwest::StatusCode::OK,
        "{}",
        listed.text().unwrap()
    );

    // A request bound to another server id is refused, with the server's message.
    let other_id = tfr(
        &home,
        &[
            "login",
            "--aws",
            &host,
            "--server-id",
            "someone-else",
            "--json",
        ],
        &env,
    );
    let stderr = other_id.failed();
    assert!(
        stderr.contains(&host) && (stderr.contains("401") || stderr.contains("403")),
        "{other_id:#?}"
    );

    // A role no rule matches: 403 and the server's message.
    let (key, secret, session) = assume_role(&sts, "intruder");
    let intruder = aws_env(&key, &secret, &session);
    let intruder: Vec<(&str, &str)> = intruder.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = tfr(
        &home,
        &["login", "--aws", &host, "--server-id", SERVER_ID, "--json"],
        &intruder,
    );
    assert!(refused.failed().contains("403"), "{refused:#?}");
    assert!(refused.stdout.is_empty(), "{refused:#?}");

    // The cost of an exchange, for the record: one STS round trip (moto on
    // loopback here), a token write and an audit write; each request
    // freshly signed, as tfr does.
    let (key, secret, session) = assume_role(&sts, "ci");
    let credentials = Credentials::new(key, secret, Some(session), None, "test");
    let mut took = Vec::new();
    for _ in 0..20 {
        let signed = identity_aws::sign_get_caller_identity(
            &credentials,
            "us-east-1",
            &sts,
            SERVER_ID,
            SystemTime::now(),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let answer = http
            .post(format!("https://{host}/v1/exchange/aws"))
            .header("content-type", "application/json")
            .body(serde_json::to_string(&signed).unwrap())
            .send()
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::CREATED);
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "AWS exchange (STS = moto on loopback), 20 requests over one HTTPS connection: median {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

#[test]
fn an_exchange_the_server_has_not_configured_is_a_404_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let host = server.host();
    let cert = server.cert_path.to_str().unwrap().to_owned();
    let file = dir.path().join("credentials.tfrc.json");
    let file_arg = file.to_str().unwrap().to_owned();
    fs::write(&file, r#"{"credentials": {}}"#).unwrap();

    let oidc = tfr(
        dir.path(),
        &[
            "login",
            "--oidc",
            &host,
            "--token-env",
            "CI_ID_TOKEN",
            "--write-credentials",
            &file_arg,
        ],
        &[
            ("SSL_CERT_FILE", &cert),
            ("CI_ID_TOKEN", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
        ],
    );
    let stderr = oidc.failed();
    assert!(
        stderr.contains(&host) && stderr.contains("404"),
        "{oidc:#?}"
    );
    assert!(
        !stderr.contains("eyJ"),
        "the ID token went to stderr: {oidc:#?}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), r#"{"credentials": {}}"#);

    let aws = tfr(
        dir.path(),
        &["login", "--aws", &host, "--json"],
        &[
            ("SSL_CERT_FILE", &cert),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert!(aws.failed().contains("404"), "{aws:#?}");
}

/// `$TERRAFORM`, else `terraform` on `PATH`; the test fails without one
/// (scripts/test installs Terraform when there is none).
fn terraform() -> std::path::PathBuf {
    std::env::var_os("TERRAFORM")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join("terraform"))
                .find(|path| path.is_file())
        })
        .expect("this test needs the Terraform CLI: run scripts/test, which installs it, or set TERRAFORM")
}

/// Terraform's version as (major, minor).
fn terraform_version(bin: &Path) -> (u64, u64) {
    let out = std::process::Command::new(bin)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run terraform version");
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = version["terraform_version"].as_str().unwrap().to_owned();
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// `terraform init` in a fresh directory calling acme/greeting/null 1.0.0 on
/// `host`, with `env` (HOME, SSL_CERT_FILE, a TF_TOKEN_ variable...).
fn terraform_init(
    bin: &Path,
    dir: &Path,
    host: &str,
    env: &[(String, String)],
) -> std::process::Output {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("main.tf"),
        format!("module \"greeting\" {{\n  source  = \"{host}/acme/greeting/null\"\n  version = \"1.0.0\"\n}}\n"),
    )
    .unwrap();
    let mut command = std::process::Command::new(bin);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .args(["init", "-input=false", "-no-color"])
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run terraform init")
}

/// The real Terraform CLI installs a module with a token from `tfr login
/// --aws`, and is refused once the token expires (the rule grants 1 minute,
/// so this test waits that long). Terraform 1.2 and later read it from
/// `TF_TOKEN_127_0_0_1:PORT` (the variable name Terraform derives for a host
/// with a port; set here without a shell, which cannot export it); older
/// versions (the 1.0.3 scripts/test installs on a fresh machine) have no
/// `TF_TOKEN_` variables, so there tfr writes `credentials.tfrc.json`.
#[test]
fn terraform_installs_with_a_tfr_login_aws_token_until_it_expires() {
    let terraform = terraform();
    let Some(sts) = moto_endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = exchange_config(dir.path(), &sts);
    let server = Server::start(&dir.path().join("data"), &["--exchange-config", &config]);
    let host = server.host();
    let cert = server.cert_path.to_str().unwrap().to_owned();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();

    // The module, published with the master token.
    let pem = fs::read(&server.cert_path).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let published = http
        .put(format!(
            "https://{host}/v1/modules/acme/greeting/null/1.0.0"
        ))
        .bearer_auth(&server.master_token)
        .body(module_archive())
        .send()
        .unwrap();
    assert_eq!(
        published.status(),
        reqwest::StatusCode::CREATED,
        "{}",
        published.text().unwrap()
    );

    let (key, secret, session) = assume_role(&sts, "ci");
    let env = [
        ("SSL_CERT_FILE", cert.as_str()),
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", session.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_STS", sts.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let mut tf_env = vec![
        ("HOME".to_owned(), home.to_str().unwrap().to_owned()),
        ("SSL_CERT_FILE".to_owned(), cert.clone()),
    ];
    let version = terraform_version(&terraform);
    let (token, expires_at) = if version >= (1, 2) {
        let answer: serde_json::Value = serde_json::from_str(
            tfr(
                &home,
                &["login", "--aws", &host, "--server-id", SERVER_ID, "--json"],
                &env,
            )
            .ok(),
        )
        .unwrap();
        let token = answer["token"].as_str().unwrap().to_owned();
        tf_env.push((format!("TF_TOKEN_127_0_0_1:{}", server.port), token.clone()));
        (token, answer["expires_at"].as_str().unwrap().to_owned())
    } else {
        eprintln!("Terraform {version:?} has no TF_TOKEN_ variables (1.2+): using tfr login --write-credentials");
        tfr(
            &home,
            &[
                "login",
                "--aws",
                &host,
                "--server-id",
                SERVER_ID,
                "--write-credentials",
            ],
            &env,
        )
        .ok();
        let file = home.join(".terraform.d/credentials.tfrc.json");
        let creds: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        let token = creds["credentials"][host.as_str()]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let listed = http
            .get(format!("https://{host}/v1/tokens"))
            .bearer_auth(&server.master_token)
            .send()
            .unwrap();
        let tokens: serde_json::Value = serde_json::from_str(&listed.text().unwrap()).unwrap();
        let expires = tokens["tokens"][0]["expires_at"]
            .as_str()
            .unwrap()
            .to_owned();
        (token, expires)
    };

    let installed = terraform_init(&terraform, &dir.path().join("first"), &host, &tf_env);
    assert!(
        installed.status.success(),
        "terraform init with the exchanged token: {}\n{}",
        String::from_utf8_lossy(&installed.stdout),
        String::from_utf8_lossy(&installed.stderr)
    );
    assert!(dir
        .path()
        .join("first/.terraform/modules/greeting/main.tf")
        .is_file());

    // After the token's expiry, the same token is refused: 401, expired.
    let expires = rfc3339_time(&expires_at);
    if let Ok(wait) =
        (expires + std::time::Duration::from_millis(1500)).duration_since(SystemTime::now())
    {
        std::thread::sleep(wait);
    }
    let refused = terraform_init(&terraform, &dir.path().join("second"), &host, &tf_env);
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !refused.status.success(),
        "terraform init after expiry should fail: {out}"
    );
    assert!(
        out.contains("401"),
        "Terraform should report the registry's 401: {out}"
    );
    let direct = http
        .get(format!(
            "https://{host}/v1/modules/acme/greeting/null/versions"
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(direct.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(direct.text().unwrap().contains("expired at"));
}

/// An RFC 3339 time (what the registry writes) as a `SystemTime`.
fn rfc3339_time(s: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"));
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t.unix_timestamp().try_into().unwrap())
}
