//! Exchanging an identity proven elsewhere for a short-lived registry token.
//!
//! Two ways in, each off until configured:
//! - **CI OIDC**: a JWT from a CI provider (GitHub Actions, GitLab CI, any
//!   OpenID Connect issuer), checked by an [`OidcVerifier`];
//! - **AWS IAM**: an `sts:GetCallerIdentity` request the client signed with
//!   its own AWS credentials ([`SignedRequest`]), checked and forwarded by a
//!   [`CallerIdentityVerifier`].
//!
//! A verifier answers a [`VerifiedIdentity`]: who (for the audit log and the
//! token's `created_by`) and the claims [`ExchangeRules`] match on. The first
//! rule that matches grants a tier, namespace scopes and a lifetime; the
//! registry then issues an ordinary token with them (hashed in the token
//! store, expiring). No rule: `403`.

mod rules;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use rules::{ExchangeRules, Grant, RulesError, MAX_EXCHANGE_LIFETIME};

/// An identity a verifier proved.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedIdentity {
    /// Who vouched for it: the OIDC issuer URL (its `iss`), or `aws` for an
    /// IAM identity. Picks the rules ([`OidcExchange::rules_for`]).
    pub issuer: String,
    /// Who it is, for the audit log and the issued token's `created_by`: the
    /// OIDC `sub`, or the caller's ARN. Never a secret.
    pub subject: String,
    /// What rules match on. OIDC: the token's claims as signed. AWS: `arn`,
    /// `account`, `user_id`, `type` (`user`, `role`, `assumed-role`,
    /// `federated-user`, `root`) and, where the ARN shows them, `name` (the
    /// user or role name), `path` and `session` (an assumed role's session
    /// name).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedIdentity {
    /// An identity from `issuer` for `subject` with `claims`.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            claims,
        }
    }
}

/// Why a credential was not accepted. Messages say what was wrong in words a
/// CI log can show: never the credential, a signature or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// Not a credential of the expected shape (not a JWT, a signed request
    /// missing its `Authorization` header...). HTTP `400`.
    #[error("{0}")]
    Malformed(String),
    /// A well-formed credential that does not prove an identity here: bad
    /// signature, another issuer or audience, expired, unknown key, a missing
    /// binding header, STS refused it. HTTP `401`.
    #[error("{0}")]
    Rejected(String),
    /// The issuer's discovery document or keys, or STS, could not be read
    /// (unreachable, timed out, answered something unusable). HTTP `503`.
    #[error("{0}")]
    Unavailable(String),
}

/// Checks JWTs from the configured OIDC issuers.
///
/// # Contract
/// [`verify`](Self::verify) answers `Ok` only for a token whose signature
/// checks against a current key of a configured issuer (asymmetric
/// algorithms only: never `none`, never HMAC), whose `iss` is that issuer,
/// whose `aud` holds the audience configured for it, and whose `exp`, `nbf`
/// and `iat` hold within a bounded clock skew. [`VerifiedIdentity::issuer`]
/// is the `iss`, `subject` the `sub`, `claims` all claims of the payload.
#[async_trait]
pub trait OidcVerifier: Send + Sync + Debug {
    /// Verifies `jwt` (compact serialisation).
    async fn verify(&self, jwt: &str) -> Result<VerifiedIdentity, ExchangeError>;
}

/// An HTTP request the client signed and hands over instead of sending: an
/// `sts:GetCallerIdentity` call with AWS Signature Version 4.
///
/// JSON: `{"method": "POST", "url": "https://sts.amazonaws.com/", "headers":
/// {"Authorization": "AWS4-HMAC-SHA256 ...", "X-Amz-Date": "...", ...},
/// "body": "Action=GetCallerIdentity&Version=2011-06-15"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// `POST`.
    pub method: String,
    /// The STS endpoint, e.g. `https://sts.eu-west-1.amazonaws.com/`.
    pub url: String,
    /// Every header the request was signed with, the binding header included,
    /// by name. Read from JSON, a name given twice (exactly, or in another
    /// case) is refused: a verifier must never have to guess which counts.
    #[serde(deserialize_with = "unique_headers")]
    pub headers: BTreeMap<String, String>,
    /// The form body, e.g. `Action=GetCallerIdentity&Version=2011-06-15`.
    pub body: String,
}

impl Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signature and a session token are credentials: names only.
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A JSON object of header names to values, refusing a name given twice
/// in any case (serde's maps keep the last silently).
fn unique_headers<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Headers;
    impl<'de> serde::de::Visitor<'de> for Headers {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of header names to string values")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut headers = BTreeMap::new();
            let mut seen = std::collections::BTreeSet::new();
            while let Some((name, value)) = map.next_entry::<String, String>()? {
                if !seen.insert(name.to_ascii_lowercase()) {
                    return Err(serde::de::Error::custom(format!(
                        "the header {name:?} is given twice; give each header once"
                    )));
                }
                headers.insert(name, value);
            }
            Ok(headers)
        }
    }
    deserializer.deserialize_map(Headers)
}

/// The header that binds a signed `GetCallerIdentity` request to one
/// registry: it must be among the signed headers, with the registry's
/// configured server id as its value, so a request signed for another
/// service cannot be replayed here.
pub const BINDING_HEADER: &str = "x-tfr-server-id";

/// Checks signed `sts:GetCallerIdentity` requests by forwarding them to STS.
///
/// # Contract
/// [`verify`](Self::verify) answers `Ok` only when the request is a `POST`
/// of exactly `GetCallerIdentity` to an STS endpoint the verifier allows,
/// signed (SigV4) over [`BINDING_HEADER`] whose value is the configured
/// server id, and STS answered it with a caller identity. Claims as listed on
/// [`VerifiedIdentity::claims`]; `issuer` is `aws`, `subject` the ARN.
#[async_trait]
pub trait CallerIdentityVerifier: Send + Sync + Debug {
    /// Verifies `request` (forwarding it to STS).
    async fn verify(&self, request: &SignedRequest) -> Result<VerifiedIdentity, ExchangeError>;
}

/// The OIDC exchange: a verifier and, per issuer, its rules.
#[derive(Debug, Clone)]
pub struct OidcExchange {
    /// Checks the presented JWTs.
    pub verifier: Arc<dyn OidcVerifier>,
    /// Issuer URL (exactly as in `iss`) and the rules for its tokens.
    pub rules: Vec<(String, ExchangeRules)>,
}

impl OidcExchange {
    /// The rules for tokens of `issuer`.
    pub fn rules_for(&self, issuer: &str) -> Option<&ExchangeRules> {
        self.rules
            .iter()
            .find(|(i, _)| i == issuer)
            .map(|(_, rules)| rules)
    }
}

/// The AWS IAM exchange: a verifier and its rules.
#[derive(Debug, Clone)]
pub struct AwsExchange {
    /// Checks and forwards the signed requests.
    pub verifier: Arc<dyn CallerIdentityVerifier>,
    /// What each identity is granted.
    pub rules: ExchangeRules,
}

/// Which exchanges are on ([`Registry::with_exchange`](crate::Registry::with_exchange)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExchangeConfig {
    /// `POST /v1/exchange/oidc`, when set.
    pub oidc: Option<OidcExchange>,
    /// `POST /v1/exchange/aws`, when set.
    pub aws: Option<AwsExchange>,
}

impl ExchangeConfig {
    /// Whether any exchange is on.
    pub fn is_enabled(&self) -> bool {
        self.oidc.is_some() || self.aws.is_some()
    }
}
