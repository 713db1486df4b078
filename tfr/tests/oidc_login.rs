//! `tfr login --oidc` against the real `local-server` and a real OIDC issuer
//! on loopback: its own discovery document and JWKS (a P-256 key generated
//! here), and GitHub Actions' ID-token request endpoint, issuing
//! GitHub-Actions-shaped tokens.
//!
//! Shown end to end, through the server's `--exchange-config`: a main-branch
//! token becomes an uploader token scoped to its owner's namespace (publish
//! there `201`, elsewhere `403`); another branch a downloader; a wrong
//! audience, an expired token, an unknown `kid`, `alg: none` and an owner no
//! rule names are refused with no token issued; the issuer is asked for its
//! discovery document once and its JWKS twice (the second for the unknown
//! `kid`), however many exchanges; every exchange is one audit event holding
//! no part of a JWT.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{module_archive, tfr, Server};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// The audience the registry is configured with.
const AUDIENCE: &str = "https://registry.example.com";
/// The bearer GitHub gives a job to ask for ID tokens.
const REQUEST_TOKEN: &str = "actions-request-token-not-a-registry-token";

/// A P-256 signing key and the JWK the issuer publishes for it.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims as GitHub Actions issues them for a push to `git_ref` of
/// `owner/app`, valid for five minutes.
fn github_claims(iss: &str, owner: &str, git_ref: &str, aud: &str) -> Value {
    let now = now();
    json!({
        "jti": format!("{now}-{owner}-{git_ref}"),
        "sub": format!("repo:{owner}/app:ref:{git_ref}"),
        "aud": aud,
        "ref": git_ref,
        "sha": "e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5",
        "repository": format!("{owner}/app"),
        "repository_owner": owner,
        "repository_owner_id": "1234567",
        "repository_visibility": "private",
        "run_id": "9876543210",
        "run_attempt": "1",
        "actor": "octocat",
        "workflow": "release",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": format!("{owner}/app/.github/workflows/release.yml@{git_ref}"),
        "runner_environment": "github-hosted",
        "iss": iss,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 300,
    })
}

/// What the issuer was asked.
#[derive(Default)]
struct Requests {
    discovery: usize,
    jwks: usize,
    /// The `audience` of each ID-token request GitHub's endpoint answered.
    id_token_audiences: Vec<String>,
}

/// An OIDC issuer on `http://127.0.0.1:PORT` (plain HTTP on loopback, which
/// the registry accepts with `allow_insecure_http`), one connection at a time.
struct Issuer {
    url: String,
    requests: Arc<Mutex<Requests>>,
}

impl Issuer {
    /// Serves discovery, a JWKS of `published`, and GitHub Actions'
    /// ID-token endpoint (`/actions-token`), which signs with `published`'s
    /// first key.
    fn start(published: Vec<SigningKey>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Requests::default()));
        let (shared, own) = (requests.clone(), url.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &own, &published, &shared);
            }
        });
        Self { url, requests }
    }

    fn counts(&self) -> (usize, usize) {
        let r = self.requests.lock().unwrap();
        (r.discovery, r.jwks)
    }
}

/// Reads one request from `stream` and answers it; `Connection: close`.
fn answer(stream: TcpStream, own: &str, keys: &[SigningKey], requests: &Mutex<Requests>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (status, body) = match path {
        "/.well-known/openid-configuration" => {
            requests.lock().unwrap().discovery += 1;
            let doc = json!({
                "issuer": own,
                "jwks_uri": format!("{own}/.well-known/jwks"),
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "scopes_supported": ["openid"],
            });
            (200, doc.to_string())
        }
        "/.well-known/jwks" => {
            requests.lock().unwrap().jwks += 1;
            let keys: Vec<&Value> = keys.iter().map(|k| &k.jwk).collect();
            (200, json!({ "keys": keys }).to_string())
        }
        "/actions-token" => {
            let authorized = headers.get("authorization").map(String::as_str)
                == Some(&format!("Bearer {REQUEST_TOKEN}"));
            let audience = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("audience="))
                .map(|a| {
                    percent_encoding::percent_decode_str(a)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            if authorized && !audience.is_empty() {
                requests
                    .lock()
                    .unwrap()
                    .id_token_audiences
                    .push(audience.clone());
                let jwt = keys[0].sign(&github_claims(own, "acme", "refs/heads/main", &audience));
                (200, json!({ "count": 1, "value": jwt }).to_string())
            } else {
                (401, r#"{"message":"bad request token"}"#.to_owned())
            }
        }
        _ => (404, "{}".to_owned()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn oidc_login_exchanges_github_actions_tokens_by_the_rules() {
    let signing = SigningKey::generate("key-1");
    let unpublished = SigningKey::generate("key-2");
    // Same kid as the published key, another key pair.
    let impostor = SigningKey::generate("key-1");
    let issuer = Issuer::start(vec![signing.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "oidc": {"issuers": [{
            "issuer": issuer.url,
            "audience": AUDIENCE,
            "allow_insecure_http": true,
            "rules": [
                {"when": {"repository_owner": "acme", "ref": "refs/heads/main"},
                 "tier": "uploader", "namespaces": ["{repository_owner}"], "lifetime": "15m"},
                {"when": {"repository_owner": "acme"}, "tier": "downloader", "lifetime": "1h"}
            ]
        }]}
    });
    let config_path = dir.path().join("exchange.json");
    fs::write(&config_path, config.to_string()).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--exchange-config", config_path.to_str().unwrap()],
    );
    let host = server.host();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let cert = server.cert_path.to_str().unwrap().to_owned();
    let pem = fs::read(&server.cert_path).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .build()
        .unwrap();

    // GitHub Actions: tfr asks the job's ID-token endpoint for a token with
    // the registry's audience, and exchanges it.
    let request_url = format!("{}/actions-token?api-version=2.0", issuer.url);
    let login = tfr(
        &home,
        &[
            "login",
            "--oidc",
            &host,
            "--github-actions",
            "--audience",
            AUDIENCE,
            "--json",
        ],
        &[
            ("SSL_CERT_FILE", &cert),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &request_url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN),
        ],
    );
    let answer: Value = serde_json::from_str(login.ok()).unwrap();
    assert_eq!(
        issuer.requests.lock().unwrap().id_token_audiences,
        [AUDIENCE],
        "tfr asks for a token with the given audience"
    );
    assert_eq!(answer["tier"], "uploader", "{answer}");
    assert_eq!(answer["namespaces"], json!(["acme"]), "{answer}");
    assert_eq!(
        answer["created_by"],
        format!("oidc:{} repo:acme/app:ref:refs/heads/main", issuer.url),
        "{answer}"
    );
    assert!(answer["expires_at"].is_string(), "{answer}");
    let uploader = answer["token"].as_str().unwrap().to_owned();
    assert!(uploader.starts_with("tfr_"), "{answer}");
    assert!(!login.stderr.contains(&uploader), "{login:#?}");

    // It publishes in its owner's namespace, and nowhere else.
    let publish = |namespace: &str, token: &str| {
        http.put(format!(
            "https://{host}/v1/modules/{namespace}/app/null/1.0.0"
        ))
        .bearer_auth(token)
        .body(module_archive())
        .send()
        .unwrap()
    };
    let published = publish("acme", &uploader);
    assert_eq!(
        published.status(),
        reqwest::StatusCode::CREATED,
        "{}",
        published.text().unwrap()
    );
    let elsewhere = publish("globex", &uploader);
    assert_eq!(elsewhere.status(), reqwest::StatusCode::FORBIDDEN);
    let body = elsewhere.text().unwrap();
    assert!(
        body.contains("acme"),
        "the 403 names the token's scope: {body}"
    );

    // A token of another branch, read from a variable as in GitLab CI: the
    // second rule, an unscoped downloader.
    let exchange = |jwt: &str| {
        tfr(
            &home,
            &[
                "login",
                "--oidc",
                &host,
                "--token-env",
                "CI_JOB_JWT",
                "--json",
            ],
            &[("SSL_CERT_FILE", &cert), ("CI_JOB_JWT", jwt)],
        )
    };
    let claims = |owner: &str, git_ref: &str| github_claims(&issuer.url, owner, git_ref, AUDIENCE);
    let branch = exchange(&signing.sign(&claims("acme", "refs/heads/feature")));
    let answer: Value = serde_json::from_str(branch.ok()).unwrap();
    assert_eq!(answer["tier"], "downloader", "{answer}");
    assert!(answer["namespaces"].is_null(), "{answer}");
    let downloader = answer["token"].as_str().unwrap().to_owned();
    let versions = http
        .get(format!("https://{host}/v1/modules/acme/app/null/versions"))
        .bearer_auth(&downloader)
        .send()
        .unwrap();
    assert_eq!(versions.status(), reqwest::StatusCode::OK);
    assert_eq!(
        publish("acme", &downloader).status(),
        reqwest::StatusCode::FORBIDDEN,
        "a downloader cannot publish"
    );

    // Refused, with no token issued and no part of the JWT echoed.
    let mut expired = claims("acme", "refs/heads/main");
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    let mut other_audience = claims("acme", "refs/heads/main");
    other_audience["aud"] = json!("https://other-registry.example.com");
    let mut other_issuer = claims("acme", "refs/heads/main");
    other_issuer["iss"] = json!("https://token.actions.githubusercontent.com");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("acme", "refs/heads/main").to_string())
    );
    let unknown_kid = unpublished.sign(&claims("acme", "refs/heads/main"));
    let refused = [
        ("wrong audience", signing.sign(&other_audience), "401"),
        ("expired", signing.sign(&expired), "401"),
        ("another issuer", signing.sign(&other_issuer), "401"),
        ("unsigned", unsigned, "401"),
        (
            "another key under the published kid",
            impostor.sign(&claims("acme", "refs/heads/main")),
            "401",
        ),
        ("unknown kid", unknown_kid.clone(), "401"),
        ("unknown kid again", unknown_kid, "401"),
        (
            "no rule",
            signing.sign(&claims("globex", "refs/heads/main")),
            "403",
        ),
    ];
    for (case, jwt, status) in &refused {
        let run = exchange(jwt);
        let stderr = run.failed();
        assert!(stderr.contains(status), "{case}: {run:#?}");
        assert!(run.stdout.is_empty(), "{case}: {run:#?}");
        for part in jwt.split('.').filter(|p| p.len() > 8) {
            assert!(
                !stderr.contains(part),
                "{case}: the error echoes the JWT: {stderr}"
            );
        }
    }
    let expired_run = exchange(&signing.sign(&expired));
    assert!(expired_run.failed().contains("expired"), "{expired_run:#?}");

    // The issuer's documents were fetched once, plus one JWKS refetch for
    // the first unknown kid; the second came within 30 s and refetched
    // nothing.
    assert_eq!(issuer.counts(), (1, 2), "(discovery, JWKS) requests");

    // Warm exchanges cost the issuer nothing; their latency, for the record.
    let body = json!({ "token": signing.sign(&claims("acme", "refs/heads/feature")) }).to_string();
    let mut took = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let answer = http
            .post(format!("https://{host}/v1/exchange/oidc"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::CREATED);
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "warm OIDC exchange over one HTTPS connection, 50 requests: median {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    assert_eq!(issuer.counts(), (1, 2), "warm exchanges fetch nothing");

    // Every exchange is one audit event; none holds a JWT or a token.
    let audit = http
        .get(format!("https://{host}/v1/audit?limit=1000"))
        .bearer_auth(&server.master_token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let events = audit["events"].as_array().unwrap();
    let exchanges: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "exchange.oidc")
        .collect();
    // 2 logins, 8 refusals, the expired one again, 50 warm.
    assert_eq!(exchanges.len(), 2 + refused.len() + 1 + 50, "{audit}");
    let failures: Vec<&&Value> = exchanges
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), refused.len() + 1, "{audit}");
    assert!(
        failures.iter().any(|e| e["status"] == 403),
        "the no-rule refusal is audited as a 403: {audit}"
    );
    let main_login = exchanges
        .iter()
        .find(|e| e["actor"] == format!("oidc:{} repo:acme/app:ref:refs/heads/main", issuer.url))
        .unwrap_or_else(|| panic!("no event names the main-branch identity: {audit}"));
    assert_eq!(main_login["outcome"], "success");
    assert!(
        main_login["target"].as_str().unwrap().starts_with("oidc-"),
        "the target is the token issued: {main_login}"
    );
    let text = audit.to_string();
    for secret in [uploader.as_str(), downloader.as_str(), REQUEST_TOKEN] {
        assert!(!text.contains(secret), "the audit log holds a secret");
    }
    for jwt in refused.iter().map(|(_, jwt, _)| jwt) {
        for part in jwt.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "the audit log holds part of a JWT");
        }
    }
}
