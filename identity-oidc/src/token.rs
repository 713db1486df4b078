//! Reading a JWT before it is verified: its shape, its header's `alg` and
//! `kid`, and its payload's `iss`, which picks the issuer whose keys check it.
//! Nothing read here is trusted until the signature has been verified.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use registry_core::exchange::ExchangeError;
use serde_json::{Map, Value};

use crate::config::bounded;

/// The longest token accepted: 16 KiB (CI providers' tokens are 1 to 2 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The longest `iss` or `kid` a message shows.
pub(crate) const SHOWN: usize = 100;

/// A JWT's unverified header and payload.
#[derive(Debug)]
pub(crate) struct Unverified {
    /// The header's `alg`, screened: asymmetric only.
    pub(crate) alg: Algorithm,
    /// The header's `kid`, if any.
    pub(crate) kid: Option<String>,
    /// The payload's `iss`.
    pub(crate) iss: String,
    /// The payload.
    pub(crate) claims: Map<String, Value>,
}

/// Splits `jwt` and reads its header and payload, refusing `alg: none` and
/// HMAC before any key is looked for.
///
/// # Errors
/// [`ExchangeError::Malformed`] for text that is not a compact JWS whose
/// header and payload are base64url JSON objects; [`ExchangeError::Rejected`]
/// for an `alg` that is `none`, HMAC or unknown, a `crit` header, and a
/// missing or non-string `iss`. No message holds any of the token.
pub(crate) fn peek(jwt: &str) -> Result<Unverified, ExchangeError> {
    if jwt.len() > MAX_TOKEN_BYTES {
        return Err(malformed(&format!(
            "it is {} bytes, more than the {MAX_TOKEN_BYTES} accepted",
            jwt.len()
        )));
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, payload, _signature] = parts[..] else {
        return Err(malformed(&format!(
            "it has {} dot-separated parts, not 3 (header.payload.signature)",
            parts.len()
        )));
    };
    let header = object(header, "header")?;
    let claims = object(payload, "payload")?;

    let alg = match header.get("alg") {
        Some(Value::String(alg)) => screen_alg(alg)?,
        Some(_) => return Err(malformed("its header's alg is not a string")),
        None => return Err(malformed("its header has no alg")),
    };
    if header.contains_key("crit") {
        return Err(ExchangeError::Rejected(
            "the token's header lists critical extensions (crit), which this registry does not implement"
                .to_owned(),
        ));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("its header's kid is not a string")),
    };
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) => iss.clone(),
        Some(_) => {
            return Err(ExchangeError::Rejected(
                "the token's iss claim is not a string".to_owned(),
            ))
        }
        None => {
            return Err(ExchangeError::Rejected(
                "the token has no iss claim, so no issuer can vouch for it".to_owned(),
            ))
        }
    };
    Ok(Unverified {
        alg,
        kid,
        iss,
        claims,
    })
}

/// `alg`, if it is an asymmetric algorithm `jsonwebtoken` verifies.
fn screen_alg(alg: &str) -> Result<Algorithm, ExchangeError> {
    match alg {
        "none" | "None" | "NONE" => Err(ExchangeError::Rejected(
            "the token is unsigned (alg none), which is never accepted".to_owned(),
        )),
        "HS256" | "HS384" | "HS512" => Err(ExchangeError::Rejected(format!(
            "the token is signed with HMAC ({alg}), which is never accepted: OIDC issuers sign with public keys"
        ))),
        other => other.parse().map_err(|_| {
            ExchangeError::Rejected(format!(
                "the token's algorithm {:?} is not supported; issuers must sign with RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                bounded(other, 20)
            ))
        }),
    }
}

/// A base64url-encoded JSON object.
fn object(part: &str, what: &str) -> Result<Map<String, Value>, ExchangeError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(&format!("its {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(&format!("its {what} is not a JSON object"))),
    }
}

fn malformed(why: &str) -> ExchangeError {
    ExchangeError::Malformed(format!(
        "not a JWT: {why}; send the CI provider's ID token as is"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn reads_alg_kid_and_iss() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"iss":"https://i.example","sub":"s"}"#,
        );
        let u = peek(&t).unwrap();
        assert_eq!(u.alg, Algorithm::RS256);
        assert_eq!(u.kid.as_deref(), Some("k1"));
        assert_eq!(u.iss, "https://i.example");
        assert_eq!(u.claims["sub"], "s");
    }

    #[test]
    fn refuses_shapes_and_algorithms() {
        let cases = [
            ("not-a-jwt".to_owned(), "Malformed", "1 dot-separated parts"),
            ("a.b.c.d".to_owned(), "Malformed", "4 dot-separated parts"),
            (
                "!!.e30.x".to_owned(),
                "Malformed",
                "header is not base64url",
            ),
            (
                format!("{}.{}.x", b64("[1]"), b64("{}")),
                "Malformed",
                "header is not a JSON object",
            ),
            (
                token(r#"{"kid":"k"}"#, r#"{"iss":"i"}"#),
                "Malformed",
                "no alg",
            ),
            (
                token(r#"{"alg":"none"}"#, r#"{"iss":"i"}"#),
                "Rejected",
                "alg none",
            ),
            (
                token(r#"{"alg":"HS512"}"#, r#"{"iss":"i"}"#),
                "Rejected",
                "HMAC (HS512)",
            ),
            (
                token(r#"{"alg":"XS1"}"#, r#"{"iss":"i"}"#),
                "Rejected",
                "\"XS1\" is not supported",
            ),
            (
                token(r#"{"alg":"RS256","crit":["b64"]}"#, r#"{"iss":"i"}"#),
                "Rejected",
                "critical extensions",
            ),
            (
                token(r#"{"alg":"RS256"}"#, r#"{"sub":"s"}"#),
                "Rejected",
                "no iss claim",
            ),
            ("a".repeat(MAX_TOKEN_BYTES + 1), "Malformed", "16384"),
        ];
        for (jwt, variant, expected) in cases {
            let e = peek(&jwt).unwrap_err();
            let (v, m) = match &e {
                ExchangeError::Malformed(m) => ("Malformed", m),
                ExchangeError::Rejected(m) => ("Rejected", m),
                other => panic!("{other:?}"),
            };
            assert_eq!(v, variant, "{m}");
            assert!(m.contains(expected), "{m}");
        }
    }
}
