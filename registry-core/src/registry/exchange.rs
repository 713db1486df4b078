//! Token exchange: a verified identity, matched against the rules, becomes a
//! fresh, expiring, possibly namespace-limited token.

use std::time::Duration;

use rand::RngCore as _;

use crate::catalogue::rfc3339;
use crate::exchange::{ExchangeError, ExchangeRules, SignedRequest, VerifiedIdentity};

use super::{CreatedToken, Registry, RegistryError, TokenSpec};

/// The longest `created_by` an exchanged token records (an OIDC `sub` can be
/// long); longer identities are cut, marked with `…`.
const MAX_IDENTITY_CHARS: usize = 300;

/// How long the record of an expired exchanged token is kept before a sweep
/// deletes it: a day, so `GET /v1/tokens` still shows what an audit event
/// from the last day names.
pub const EXPIRED_EXCHANGED_TOKENS_KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// How often one process sweeps, at most (on an exchange, so an idle
/// registry does nothing).
const SWEEP_INTERVAL_SECS: u64 = 60 * 60;

/// The most records one sweep deletes (the rest wait for the next).
const MAX_SWEPT: usize = 100;

/// What an exchange did: the token it issued and for whom.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exchanged {
    /// The issued token (its record and secret).
    pub created: CreatedToken,
    /// Who it was issued to, as recorded in `created_by`.
    pub identity: String,
    /// Which rule granted it, from 1.
    pub rule: usize,
}

/// Why an exchange failed, with who was proven when that got as far.
#[derive(Debug)]
pub struct ExchangeFailure {
    /// The failure.
    pub error: RegistryError,
    /// The identity, when its credential was verified (no rule matched, or
    /// the token store failed).
    pub identity: Option<String>,
}

impl From<ExchangeError> for RegistryError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::Malformed(m) => Self::Invalid(m),
            ExchangeError::Rejected(m) => Self::Unauthenticated(m),
            ExchangeError::Unavailable(m) => Self::Unavailable(m),
        }
    }
}

/// The refusal of an exchange that is not configured (`404`).
pub(crate) fn not_configured(method: &str) -> RegistryError {
    let (name, section) = match method {
        "oidc" => ("OIDC token", "oidc"),
        _ => ("AWS IAM token", "aws"),
    };
    RegistryError::NotFound(format!(
        "the {name} exchange is not configured on this registry; ask its operator to add an \"{section}\" section to the exchange settings (--exchange-config)"
    ))
}

/// Reports an exchange's outcome to the process's telemetry (see
/// [`Telemetry::exchange`](crate::telemetry::Telemetry::exchange)) and
/// answers it.
fn reported(
    method: &'static str,
    result: Result<Exchanged, ExchangeFailure>,
) -> Result<Exchanged, ExchangeFailure> {
    let outcome = match &result {
        Ok(_) => "issued",
        Err(failure) => match failure.error {
            RegistryError::Invalid(_) => "invalid",
            RegistryError::Unauthenticated(_) => "rejected",
            RegistryError::Forbidden(_) => "forbidden",
            RegistryError::Unavailable(_) => "unavailable",
            _ => "error",
        },
    };
    crate::telemetry::current().exchange(method, outcome);
    result
}

impl Registry {
    /// Whether the exchange `method` (`oidc` or `aws`) is on.
    pub(crate) fn exchange_enabled(&self, method: &str) -> bool {
        match method {
            "oidc" => self.exchange.oidc.is_some(),
            "aws" => self.exchange.aws.is_some(),
            _ => false,
        }
    }

    /// Exchanges a CI provider's OIDC token (`POST /v1/exchange/oidc`).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when the OIDC exchange is off;
    /// [`RegistryError::Invalid`] (not a JWT), [`RegistryError::Unauthenticated`]
    /// (not valid here) or [`RegistryError::Unavailable`] (issuer unreachable)
    /// from the verifier; [`RegistryError::Forbidden`] when no rule matches;
    /// token store failures.
    pub async fn exchange_oidc(&self, jwt: &str) -> Result<Exchanged, ExchangeFailure> {
        reported("oidc", self.oidc_exchange(jwt).await)
    }

    async fn oidc_exchange(&self, jwt: &str) -> Result<Exchanged, ExchangeFailure> {
        let Some(oidc) = &self.exchange.oidc else {
            return Err(unverified(not_configured("oidc")));
        };
        let identity = oidc
            .verifier
            .verify(jwt)
            .await
            .map_err(|e| unverified(e.into()))?;
        let who = identity_label("oidc", &format!("{} {}", identity.issuer, identity.subject));
        let Some(rules) = oidc.rules_for(&identity.issuer) else {
            // A verifier answers only configured issuers; refuse, never guess.
            return Err(verified(
                RegistryError::Forbidden(format!(
                    "no exchange rules are configured for the issuer {:?}",
                    identity.issuer
                )),
                who,
            ));
        };
        self.issue_exchanged("oidc", identity, rules, who).await
    }

    /// Exchanges a signed `sts:GetCallerIdentity` request (`POST
    /// /v1/exchange/aws`).
    ///
    /// # Errors
    /// As [`exchange_oidc`](Self::exchange_oidc), for the AWS exchange.
    pub async fn exchange_aws(
        &self,
        request: &SignedRequest,
    ) -> Result<Exchanged, ExchangeFailure> {
        reported("aws", self.aws_exchange(request).await)
    }

    async fn aws_exchange(&self, request: &SignedRequest) -> Result<Exchanged, ExchangeFailure> {
        let Some(aws) = &self.exchange.aws else {
            return Err(unverified(not_configured("aws")));
        };
        let identity = aws
            .verifier
            .verify(request)
            .await
            .map_err(|e| unverified(e.into()))?;
        let who = identity_label("aws", &identity.subject);
        self.issue_exchanged("aws", identity, &aws.rules, who).await
    }

    async fn issue_exchanged(
        &self,
        method: &str,
        identity: VerifiedIdentity,
        rules: &ExchangeRules,
        who: String,
    ) -> Result<Exchanged, ExchangeFailure> {
        let Some(grant) = rules.grant(&identity.claims) else {
            // Names the identity (it is the caller's own) but no rule.
            return Err(verified(
                RegistryError::Forbidden(format!(
                    "no exchange rule grants a token to {who}; ask the registry's operator to add a rule for it"
                )),
                who,
            ));
        };
        let mut random = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let mut spec = TokenSpec::new(format!("{method}-{}", hex::encode(random)), grant.tier);
        // Rounded down to the second by create_token_with; one more second
        // keeps a granted 15 minutes at least 15 minutes.
        spec.expires_at = Some(self.now() + grant.lifetime + Duration::from_secs(1));
        spec.created_by = Some(who.clone());
        spec.namespaces = grant.namespaces;
        match self.create_token_with(spec).await {
            Ok(created) => {
                self.sweep_if_due().await;
                tracing::info!(
                    method,
                    identity = %who,
                    rule = grant.rule,
                    token = %created.record.name,
                    expires_at = created.record.expires_at.map(rfc3339).as_deref().unwrap_or(""),
                    "token exchanged"
                );
                Ok(Exchanged {
                    created,
                    identity: who,
                    rule: grant.rule,
                })
            }
            Err(error) => Err(verified(error, who)),
        }
    }
}

impl Registry {
    /// Deletes the records of exchanged tokens (named `oidc-…` or `aws-…`,
    /// created by an exchange) that expired more than
    /// [`EXPIRED_EXCHANGED_TOKENS_KEPT`] ago, at most 100 per call; answers
    /// how many it deleted. Exchanges call it at most once an hour per
    /// process, so token stores do not grow with every CI run; tokens made
    /// with `POST /v1/tokens` are never touched.
    ///
    /// # Errors
    /// Token store failures (listing; a failed delete is logged and skipped).
    pub async fn sweep_expired_exchanged_tokens(&self) -> Result<usize, RegistryError> {
        let cutoff = self.now() - EXPIRED_EXCHANGED_TOKENS_KEPT;
        let mut swept = 0;
        for record in self.tokens.list().await? {
            if swept == MAX_SWEPT {
                break;
            }
            let exchanged = (record.name.starts_with("oidc-") || record.name.starts_with("aws-"))
                && record
                    .created_by
                    .as_deref()
                    .is_some_and(|by| by.starts_with("oidc:") || by.starts_with("aws:"));
            if !exchanged || record.expires_at.is_none_or(|at| at > cutoff) {
                continue;
            }
            match self.tokens.delete(&record.name).await {
                Ok(()) | Err(crate::storage::StorageError::NotFound) => swept += 1,
                Err(e) => {
                    tracing::warn!(token = %record.name, error = %e, "could not delete an expired exchanged token")
                }
            }
        }
        if swept > 0 {
            tracing::info!(
                swept,
                "deleted the records of exchanged tokens expired over a day ago"
            );
        }
        Ok(swept)
    }

    /// Sweeps when this process has not for an hour; never fails the caller.
    async fn sweep_if_due(&self) {
        use std::sync::atomic::Ordering;
        let now = self.unix_now();
        let last = self.last_token_sweep.load(Ordering::Relaxed);
        if now < last + SWEEP_INTERVAL_SECS
            || self
                .last_token_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.sweep_expired_exchanged_tokens().await {
            tracing::warn!(error = %e, "the sweep of expired exchanged tokens failed; the next exchange after an hour tries again");
        }
    }
}

fn unverified(error: RegistryError) -> ExchangeFailure {
    ExchangeFailure {
        error,
        identity: None,
    }
}

fn verified(error: RegistryError, identity: String) -> ExchangeFailure {
    ExchangeFailure {
        error,
        identity: Some(identity),
    }
}

/// `method:identity`, control characters dropped, cut to
/// [`MAX_IDENTITY_CHARS`].
fn identity_label(method: &str, identity: &str) -> String {
    let clean: String = identity.chars().filter(|c| !c.is_control()).collect();
    let mut label = format!("{method}:{clean}");
    if label.chars().count() > MAX_IDENTITY_CHARS {
        label = label.chars().take(MAX_IDENTITY_CHARS - 1).collect();
        label.push('…');
    }
    label
}
