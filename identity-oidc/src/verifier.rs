//! [`OidcIssuers`]: the [`OidcVerifier`] over the configured issuers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use registry_core::exchange::{ExchangeError, OidcVerifier, VerifiedIdentity};
use serde_json::{Map, Value};

use crate::cache::KeyCache;
use crate::config::{bounded, ConfigError, Issuer, OidcConfig};
use crate::fetch::Fetcher;
use crate::keys::{Key, NoKey};
use crate::token::{peek, Unverified, SHOWN};

/// Verifies CI OIDC tokens of the configured issuers (GitHub Actions,
/// GitLab CI, any OpenID Connect issuer).
///
/// A token is routed to its issuer by its (unverified) `iss`; that issuer's
/// keys come from its discovery document and JWKS, fetched on first use and
/// cached (see the crate docs). Use it as the exchange's verifier:
/// `Arc::new(issuers) as Arc<dyn OidcVerifier>`.
///
/// ```
/// use identity_oidc::{OidcConfig, OidcIssuers};
///
/// let config = OidcConfig::from_json(r#"{"issuers": [
///     {"issuer": "https://token.actions.githubusercontent.com",
///      "audience": "https://registry.example.com"}]}"#).unwrap();
/// let issuers = OidcIssuers::new(&config).unwrap();
/// assert_eq!(
///     issuers.issuers().collect::<Vec<_>>(),
///     ["https://token.actions.githubusercontent.com"]
/// );
/// ```
#[derive(Debug)]
pub struct OidcIssuers {
    issuers: Vec<Trusted>,
}

/// One configured issuer, its client and its keys.
#[derive(Debug)]
struct Trusted {
    settings: Issuer,
    fetcher: Fetcher,
    keys: KeyCache,
}

impl OidcIssuers {
    /// Checks `config` and builds one HTTP client and an empty key cache per
    /// issuer. Nothing is fetched until the first token arrives.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first issuer that is wrong and what to fix.
    pub fn new(config: &OidcConfig) -> Result<Self, ConfigError> {
        let issuers = config
            .checked()?
            .into_iter()
            .map(|settings| {
                let fetcher = Fetcher::new(&settings).map_err(|m| {
                    ConfigError::new(format!("{}: the HTTP client: {m}", settings.issuer))
                })?;
                Ok(Trusted {
                    settings,
                    fetcher,
                    keys: KeyCache::new(),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self { issuers })
    }

    /// The configured issuer URLs, in order, as `iss` (and
    /// [`VerifiedIdentity::issuer`]) spell them: the keys to pair rules with.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|t| t.settings.issuer.as_str())
    }
}

#[async_trait]
impl OidcVerifier for OidcIssuers {
    /// # Errors
    /// - [`ExchangeError::Malformed`]: not a JWT, or longer than
    ///   [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES);
    /// - [`ExchangeError::Rejected`]: `alg` `none`, HMAC or not allowed for
    ///   the issuer; an issuer that is not configured; no key with the
    ///   token's `kid` (after one refetch); a bad signature; wrong `iss` or
    ///   `aud`; expired, not yet valid, issued in the future; no `sub`;
    /// - [`ExchangeError::Unavailable`]: the issuer's discovery document or
    ///   keys could not be read.
    ///
    /// No message holds the token or any part of it but the `iss`, `kid` and
    /// `aud` (bounded in length).
    async fn verify(&self, jwt: &str) -> Result<VerifiedIdentity, ExchangeError> {
        let token = peek(jwt)?;
        let Some(trusted) = self.issuers.iter().find(|t| t.settings.issuer == token.iss) else {
            return Err(ExchangeError::Rejected(format!(
                "issuer {:?} is not configured; this registry trusts {}",
                bounded(&token.iss, SHOWN),
                self.issuers().collect::<Vec<_>>().join(", ")
            )));
        };
        trusted.verify(jwt, &token).await
    }
}

impl Trusted {
    async fn verify(
        &self,
        jwt: &str,
        token: &Unverified,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        let issuer = &self.settings;
        if !issuer.algorithms.contains(&token.alg) {
            return Err(ExchangeError::Rejected(format!(
                "the token is signed with {:?}, which is not allowed for issuer {} (allowed: {})",
                token.alg,
                issuer.issuer,
                names(&issuer.algorithms)
            )));
        }
        let cached = self.keys.get(issuer, &self.fetcher).await?;
        let kid = token.kid.as_deref();
        let key = match cached.keys.select(token.alg, kid) {
            Ok(key) => key.clone(),
            Err(NoKey::Unusable(m)) => return Err(ExchangeError::Rejected(m)),
            Err(NoKey::UnknownKid) => {
                // Perhaps rotated: look once more (rate-limited).
                let fresh = self.keys.refetch(issuer, &self.fetcher, &cached).await?;
                match fresh.as_ref().map(|f| f.keys.select(token.alg, kid)) {
                    Some(Ok(key)) => key.clone(),
                    Some(Err(NoKey::Unusable(m))) => return Err(ExchangeError::Rejected(m)),
                    None | Some(Err(NoKey::UnknownKid)) => {
                        return Err(ExchangeError::Rejected(format!(
                            "issuer {} has no key {:?} (the token's kid); if the issuer rotated its keys just now, try again in a minute",
                            issuer.issuer,
                            bounded(kid.unwrap_or_default(), SHOWN)
                        )))
                    }
                }
            }
        };
        let claims = check(jwt, token, issuer, &key)?;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => {
                return Err(ExchangeError::Rejected(
                    "the token has no sub claim (a non-empty string)".to_owned(),
                ))
            }
        };
        Ok(VerifiedIdentity::new(
            issuer.issuer.clone(),
            subject,
            claims,
        ))
    }
}

/// Checks the signature with `key` and the claims; the verified payload.
fn check(
    jwt: &str,
    token: &Unverified,
    issuer: &Issuer,
    key: &Key,
) -> Result<Map<String, Value>, ExchangeError> {
    let skew = issuer.clock_skew.as_secs();
    let mut validation = Validation::new(token.alg);
    validation.leeway = skew;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[&issuer.issuer]);
    validation.set_audience(&issuer.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

    let now = now_secs();
    let data = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.decoding, &validation)
        .map_err(|e| rejection(e.kind(), token, issuer, key, now))?;
    let claims = data.claims;
    // Routed by it, checked by the validation: still, say it once more.
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
        return Err(ExchangeError::Rejected(format!(
            "the token's iss is not {}",
            issuer.issuer
        )));
    }
    match claims.get("iat") {
        None => {}
        Some(iat) => match iat.as_f64() {
            Some(iat) if iat <= (now + skew) as f64 => {}
            Some(iat) => {
                return Err(ExchangeError::Rejected(format!(
                    "the token was issued {} s in the future (iat), beyond the allowed clock skew of {skew} s; check the clocks",
                    (iat - now as f64).round()
                )))
            }
            None => {
                return Err(ExchangeError::Rejected(
                    "the token's iat claim is not a number".to_owned(),
                ))
            }
        },
    }
    Ok(claims)
}

/// The message for a failed check.
fn rejection(
    kind: &ErrorKind,
    token: &Unverified,
    issuer: &Issuer,
    key: &Key,
    now: u64,
) -> ExchangeError {
    let skew = issuer.clock_skew.as_secs();
    let claim_secs = |name: &str| token.claims.get(name).and_then(Value::as_f64);
    let message = match kind {
        ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => format!(
            "the token's signature does not verify with key {} of issuer {}",
            key.shown_kid(),
            issuer.issuer
        ),
        ErrorKind::ExpiredSignature => match claim_secs("exp") {
            Some(exp) => format!(
                "the token expired {} s ago (exp; allowed clock skew {skew} s); request a fresh token",
                (now as f64 - exp).round()
            ),
            None => "the token expired; request a fresh token".to_owned(),
        },
        ErrorKind::ImmatureSignature => match claim_secs("nbf") {
            Some(nbf) => format!(
                "the token is not valid for another {} s (nbf; allowed clock skew {skew} s); check the clocks",
                (nbf - now as f64).round()
            ),
            None => "the token is not valid yet (nbf)".to_owned(),
        },
        ErrorKind::InvalidAudience => format!(
            "the token's audience {} is not one configured for issuer {} ({}); request the token for one of those",
            shown_aud(token.claims.get("aud")),
            issuer.issuer,
            issuer.audiences.join(", ")
        ),
        ErrorKind::InvalidIssuer => format!("the token's iss is not {}", issuer.issuer),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token has no {claim} claim (or not of the right type)")
        }
        ErrorKind::InvalidAlgorithm => format!(
            "the token's algorithm {:?} does not fit key {} of issuer {}",
            token.alg,
            key.shown_kid(),
            issuer.issuer
        ),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => {
            return ExchangeError::Malformed(
                "not a JWT: its parts do not decode; send the CI provider's ID token as is"
                    .to_owned(),
            )
        }
        _ => format!(
            "the token could not be verified with key {} of issuer {}",
            key.shown_kid(),
            issuer.issuer
        ),
    };
    ExchangeError::Rejected(message)
}

/// The token's `aud` for a message: each value bounded, at most 5.
fn shown_aud(aud: Option<&Value>) -> String {
    let one = |v: &Value| match v {
        Value::String(s) => format!("{:?}", bounded(s, SHOWN)),
        _ => "(not a string)".to_owned(),
    };
    match aud {
        None => "(none)".to_owned(),
        Some(Value::Array(list)) => {
            let mut shown: Vec<String> = list.iter().take(5).map(one).collect();
            if list.len() > 5 {
                shown.push("…".to_owned());
            }
            format!("[{}]", shown.join(", "))
        }
        Some(v) => one(v),
    }
}

fn names(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
