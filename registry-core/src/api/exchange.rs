//! `POST /v1/exchange/oidc` and `POST /v1/exchange/aws`: the bodies they
//! take and the answer they give.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL};
use http::{Response, StatusCode};
use serde::Deserialize;

use super::audited::AuditDraft;
use super::error::{json, ApiError};
use super::responses::token_body;
use crate::catalogue::rfc3339;
use crate::exchange::SignedRequest;
use crate::registry::{ExchangeFailure, Exchanged};

/// The longest JWT taken, in bytes (CI providers' tokens are 1-3 KB).
const MAX_JWT_BYTES: usize = 16 * 1024;

/// The JWT of `{"token": "<jwt>"}`.
pub(super) fn oidc_token(body: &[u8]) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OidcBody {
        token: String,
    }
    let parsed: OidcBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid JSON body ({e}); send {{\"token\": \"<the CI provider's OIDC ID token>\"}}"
        ))
    })?;
    if parsed.token.is_empty() || parsed.token.len() > MAX_JWT_BYTES {
        return Err(ApiError::BadRequest(format!(
            "\"token\" is {} bytes long; send the CI provider's OIDC ID token (a JWT of at most {MAX_JWT_BYTES} bytes)",
            parsed.token.len()
        )));
    }
    Ok(parsed.token)
}

/// A [`SignedRequest`] from its JSON.
pub(super) fn signed_request(body: &[u8]) -> Result<SignedRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid JSON body ({e}); send the signed sts:GetCallerIdentity request as {{\"method\": \"POST\", \"url\": \"https://sts.amazonaws.com/\", \"headers\": {{...}}, \"body\": \"Action=GetCallerIdentity&Version=2011-06-15\"}} (`tfr login --aws` does)"
        ))
    })
}

/// `201` with the issued token (as `POST /v1/tokens` answers), noting the
/// identity and grant in the audit draft; or the failure.
pub(super) fn answer(
    result: Result<Exchanged, ExchangeFailure>,
    draft: Option<&mut AuditDraft>,
) -> Result<Response<Bytes>, ApiError> {
    match result {
        Ok(exchanged) => {
            let record = &exchanged.created.record;
            if let Some(draft) = draft {
                draft.actor.clone_from(&exchanged.identity);
                draft.target.clone_from(&record.name);
                draft.detail = Some(format!(
                    "rule {} granted {} on {} until {}",
                    exchanged.rule,
                    record.tier,
                    record
                        .namespaces
                        .as_ref()
                        .map_or_else(|| "every namespace".to_owned(), ToString::to_string),
                    record.expires_at.map(rfc3339).unwrap_or_default()
                ));
            }
            let mut body = token_body(record);
            body["token"] = exchanged.created.token.expose_secret().into();
            let mut r = json(StatusCode::CREATED, &body);
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Err(failure) => {
            if let (Some(draft), Some(identity)) = (draft, failure.identity) {
                draft.actor = identity;
            }
            Err(failure.error.into())
        }
    }
}
