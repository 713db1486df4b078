//! [`AwsIdentityVerifier`]: checks a signed `GetCallerIdentity`, forwards it
//! to STS, and reads the caller from STS's answer.

use async_trait::async_trait;
use registry_core::exchange::{
    CallerIdentityVerifier, ExchangeError, SignedRequest, VerifiedIdentity,
};
use upstream_http::{read_body, AttemptError, Fail, Overflow};

use crate::answer;
use crate::arn::CallerArn;
use crate::config::{AwsVerifierConfig, ConfigError};
use crate::endpoints::Endpoints;
use crate::request;

/// The most of STS's answer that is read (a caller identity is under 1 KiB).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The issuer of every identity this verifier proves.
pub const ISSUER: &str = "aws";

/// Verifies AWS IAM identities the way Vault's AWS IAM auth does: the client
/// signs `sts:GetCallerIdentity` with its own credentials and hands the
/// signed request over; this verifier checks it, forwards it to STS and
/// reads the caller's ARN from STS's answer.
///
/// # Contract
/// Before forwarding, [`verify`](CallerIdentityVerifier::verify) refuses,
/// without contacting STS:
/// - a method other than `POST`, or a `url` that is not one of the allowed
///   endpoints exactly (scheme, host, port, path `/`; no credentials, query
///   or fragment) — [`AwsVerifierConfig::sts_endpoints`];
/// - a body other than exactly `Action=GetCallerIdentity&Version=2011-06-15`;
/// - more than [`MAX_HEADERS`](crate::MAX_HEADERS) headers or
///   [`MAX_HEADER_BYTES`](crate::MAX_HEADER_BYTES) of them, a header name
///   given twice in different case, an invalid name or value;
/// - an `Authorization` that is not SigV4 (`AWS4-HMAC-SHA256`) with an STS
///   credential scope and `SignedHeaders` holding `host`, `x-amz-date` and
///   [`BINDING_HEADER`](registry_core::exchange::BINDING_HEADER), or that
///   signs a header the request lacks or a hop-by-hop header;
/// - a binding header that is missing or is not the configured server id; a
///   `Host` header that is not the URL's host.
///
/// It forwards the `Authorization`, the signed headers and the content type
/// (nothing else: no hop-by-hop header, nothing unsigned) with a timeout and
/// no redirects, once (no retries: a signed request is single-use). STS's
/// `200` caller identity becomes the [`VerifiedIdentity`]: issuer
/// [`ISSUER`], subject the ARN, claims as in the crate's documentation.
///
/// # Errors
/// [`ExchangeError::Malformed`] for a request of the wrong shape,
/// [`ExchangeError::Rejected`] for one that proves nothing here (including
/// every STS refusal, named by its error code, and a caller ARN that cannot
/// be read), [`ExchangeError::Unavailable`] when STS is unreachable, times
/// out, answers 5xx or throttles. No message holds the `Authorization`
/// header, the signature, the session token or any header value.
#[derive(Debug, Clone)]
pub struct AwsIdentityVerifier {
    server_id: String,
    endpoints: Endpoints,
    client: reqwest::Client,
}

impl AwsIdentityVerifier {
    /// A verifier with `config`.
    ///
    /// # Errors
    /// [`ConfigError`] for an empty server id or one no header can carry, an
    /// empty or invalid endpoint list, a zero timeout, or a client that
    /// cannot be built.
    pub fn new(config: AwsVerifierConfig) -> Result<Self, ConfigError> {
        let server_id = config.server_id.trim();
        if server_id.is_empty() || reqwest::header::HeaderValue::from_str(server_id).is_err() {
            return Err(ConfigError(
                "server_id must be a non-empty header value (printable ASCII); use e.g. the registry's host name".to_owned(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError(
                "timeout must be more than zero; write e.g. \"10s\"".to_owned(),
            ));
        }
        let endpoints = Endpoints::from_config(config.sts_endpoints.as_deref())?;
        let builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "terraform-registry-identity-aws/",
                env!("CARGO_PKG_VERSION")
            ));
        let client = upstream_http::build_client(builder, &[])
            .map_err(|e| ConfigError(format!("the HTTP client for STS: {e}")))?;
        Ok(Self {
            server_id: server_id.to_owned(),
            endpoints,
            client,
        })
    }

    /// Sends the checked request to STS once and reads the status and body.
    async fn forward(
        &self,
        forward: request::Forward,
    ) -> Result<(u16, bytes::Bytes), ExchangeError> {
        let host = crate::sts::authority(&forward.url);
        let unavailable =
            |why: &str| ExchangeError::Unavailable(format!("STS at {host} {why}; try again later"));
        let response = self
            .client
            .post(forward.url.clone())
            .headers(forward.headers)
            .body(forward.body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    unavailable("did not answer in time")
                } else {
                    unavailable("could not be reached")
                }
            })?;
        let status = response.status().as_u16();
        let body = read_body(response, MAX_ANSWER_BYTES, Overflow::Truncate, || {
            Fail::other("too large".to_owned())
        })
        .await
        .map_err(|e| match e {
            AttemptError::Timeout => unavailable("did not answer in time"),
            _ => unavailable("broke off its answer"),
        })?;
        Ok((status, body))
    }
}

#[async_trait]
impl CallerIdentityVerifier for AwsIdentityVerifier {
    async fn verify(&self, request: &SignedRequest) -> Result<VerifiedIdentity, ExchangeError> {
        let forward = request::check(request, &self.endpoints, &self.server_id)?;
        let (status, body) = self.forward(forward).await?;
        let caller = answer::read(status, &body)?;
        let arn = CallerArn::parse(&caller.arn).map_err(|why| {
            ExchangeError::Rejected(format!(
                "STS answered a caller ARN this registry cannot read ({why}); only IAM users, roles, assumed roles, federated users and root can exchange"
            ))
        })?;
        if arn.account != caller.account {
            return Err(ExchangeError::Rejected(
                "STS answered a caller whose ARN and account differ; try again".to_owned(),
            ));
        }
        let claims = arn.claims(&caller.user_id);
        Ok(VerifiedIdentity::new(ISSUER, caller.arn.clone(), claims))
    }
}
