//! A fake OIDC issuer on loopback (discovery document and JWKS, requests
//! counted), key pairs generated in the test, and GitHub-Actions-shaped tokens.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, LOCATION};
use identity_oidc::{OidcConfig, OidcIssuers};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use registry_core::exchange::ExchangeError;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use upstream_http::fake::{body, status, Loopback, Server};

/// The audience the tests configure (the registry's URL).
pub const AUDIENCE: &str = "https://registry.example.com";

/// A signing key: the private half signs, the JWK is what the issuer publishes.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key (ES256).
    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..]),
            }),
        }
    }

    /// Signs `claims` with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// An RSA key (RS256) with its public halves as the key-confusion attacks use them.
pub struct RsaKey {
    pub key: SigningKey,
    /// The public key as SPKI PEM.
    pub public_pem: String,
    /// The modulus, big-endian bytes.
    pub modulus: Vec<u8>,
}

/// One RSA key for the whole test binary (generating one takes a moment).
pub static RSA: LazyLock<RsaKey> = LazyLock::new(|| {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let public = private.to_public_key();
    let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap();
    let modulus = public.n().to_bytes_be();
    RsaKey {
        key: SigningKey {
            kid: "rsa-1".to_owned(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rsa-1",
                "n": b64(&modulus), "e": b64(&public.e().to_bytes_be()),
            }),
        },
        public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
        modulus,
    }
});

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the fake issuer serves, and what it was asked.
#[derive(Default)]
pub struct Behaviour {
    /// The JWKS body (set from keys with [`FakeIssuer::publish`]).
    pub jwks: Bytes,
    /// The discovery document's `issuer`, if not the fake's own URL.
    pub discovery_issuer: Option<String>,
    /// Answer `503` to everything.
    pub down: bool,
    /// Wait this long before answering (so concurrent callers overlap).
    pub delay: Duration,
    /// The JWKS answer's `Cache-Control`.
    pub cache_control: Option<&'static str>,
    /// The discovery document's `jwks_uri`, if not the fake's own JWKS.
    pub jwks_uri: Option<String>,
    /// Answer discovery with a `302` to this URL.
    pub redirect_discovery: Option<String>,
    pub discovery_requests: usize,
    pub jwks_requests: usize,
}

/// An OIDC issuer on `127.0.0.1`.
pub struct FakeIssuer {
    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash, like GitHub's).
    pub url: String,
    pub behaviour: Arc<Mutex<Behaviour>>,
    _server: Server,
}

impl FakeIssuer {
    /// Starts an issuer publishing `keys`.
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let port = Loopback::bind("the fake OIDC issuer").await;
        let url = port.url().as_str().trim_end_matches('/').to_owned();
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let shared = behaviour.clone();
        let own = url.clone();
        let server = port.serve(move |request| {
            let shared = shared.clone();
            let own = own.clone();
            async move {
                let path = request.uri().path().to_owned();
                let delay = shared.lock().unwrap().delay;
                tokio::time::sleep(delay).await;
                let mut b = shared.lock().unwrap();
                if path == "/.well-known/openid-configuration" {
                    b.discovery_requests += 1;
                    if b.down {
                        return Ok(status(503));
                    }
                    if let Some(to) = &b.redirect_discovery {
                        let mut reply = status(302);
                        reply
                            .headers_mut()
                            .insert(LOCATION, HeaderValue::from_str(to).unwrap());
                        return Ok(reply);
                    }
                    let issuer = b.discovery_issuer.clone().unwrap_or_else(|| own.clone());
                    let jwks_uri = b
                        .jwks_uri
                        .clone()
                        .unwrap_or_else(|| format!("{own}/.well-known/jwks"));
                    let doc = json!({
                        "issuer": issuer,
                        "jwks_uri": jwks_uri,
                        "subject_types_supported": ["public", "pairwise"],
                        "response_types_supported": ["id_token"],
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "repository"],
                        "scopes_supported": ["openid"],
                    });
                    Ok(body(200, "application/json", doc.to_string().into()))
                } else if path == "/.well-known/jwks" {
                    b.jwks_requests += 1;
                    if b.down {
                        return Ok(status(503));
                    }
                    let mut reply = body(200, "application/json", b.jwks.clone());
                    if let Some(cc) = b.cache_control {
                        reply
                            .headers_mut()
                            .insert(CACHE_CONTROL, HeaderValue::from_static(cc));
                    }
                    Ok(reply)
                } else {
                    Ok(status(404))
                }
            }
        });
        let issuer = Self {
            url,
            behaviour,
            _server: server,
        };
        issuer.publish(keys);
        issuer
    }

    /// Serves `keys` as the JWKS from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        self.behaviour.lock().unwrap().jwks = jwks.to_string().into();
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    /// (discovery requests, JWKS requests) so far.
    pub fn requests(&self) -> (usize, usize) {
        let b = self.behaviour.lock().unwrap();
        (b.discovery_requests, b.jwks_requests)
    }

    /// This issuer's config entry (loopback http allowed), with `extra` fields.
    pub fn config(&self, extra: Value) -> Value {
        let mut entry = json!({
            "issuer": self.url,
            "audience": AUDIENCE,
            "allow_insecure_http": true,
        });
        for (k, v) in extra.as_object().unwrap() {
            entry[k] = v.clone();
        }
        entry
    }

    /// A verifier trusting only this issuer.
    pub fn verifier(&self, extra: Value) -> OidcIssuers {
        verifier(&[self.config(extra)])
    }

    /// Claims as GitHub Actions issues them, from this issuer, for [`AUDIENCE`].
    pub fn github_claims(&self) -> Value {
        github_claims(&self.url)
    }
}

/// A verifier of `entries`.
pub fn verifier(entries: &[Value]) -> OidcIssuers {
    let config = OidcConfig::from_json(&json!({ "issuers": entries }).to_string()).unwrap();
    OidcIssuers::new(&config).unwrap()
}

/// A GitHub Actions ID token's claims, issued now for five minutes.
pub fn github_claims(iss: &str) -> Value {
    let now = now();
    json!({
        "jti": "7c1f7c7e-8a4b-4a8e-9d3b-2f6c2c0f9a11",
        "sub": "repo:acme/app:ref:refs/heads/main",
        "aud": AUDIENCE,
        "ref": "refs/heads/main",
        "sha": "e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5",
        "repository": "acme/app",
        "repository_owner": "acme",
        "repository_owner_id": "1234567",
        "repository_id": "7654321",
        "repository_visibility": "private",
        "run_id": "9876543210",
        "run_number": "42",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "release",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main",
        "runner_environment": "github-hosted",
        "iss": iss,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 300,
    })
}

/// The message of `e`, checked to hold none of `token` beyond its header
/// (which is public and short), and to be of `variant`.
pub fn message(e: &ExchangeError, variant: &str, token: &str) -> String {
    let (v, m) = match e {
        ExchangeError::Malformed(m) => ("Malformed", m),
        ExchangeError::Rejected(m) => ("Rejected", m),
        ExchangeError::Unavailable(m) => ("Unavailable", m),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(v, variant, "{m}");
    if token.len() > 8 {
        assert!(!m.contains(token), "the message holds the token: {m}");
    }
    for part in token.split('.').skip(1) {
        if part.len() > 8 {
            assert!(
                !m.contains(part),
                "the message holds part of the token: {m}"
            );
        }
    }
    m.clone()
}
