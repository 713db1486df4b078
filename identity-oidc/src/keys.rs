//! An issuer's signing keys (its JWKS), and picking the one a token names.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::config::bounded;
use crate::token::SHOWN;

/// The most keys one JWKS may hold (issuers publish 1 to 5).
const MAX_KEYS: usize = 100;

/// A key's type, as far as it decides which algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    fn verifies(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => alg == ES256,
            Self::P384 => alg == ES384,
            Self::Ed25519 => alg == EdDSA,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rsa => "an RSA key",
            Self::P256 => "a P-256 key",
            Self::P384 => "a P-384 key",
            Self::Ed25519 => "an Ed25519 key",
        }
    }
}

/// One usable signing key.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    kind: Kind,
    /// The JWK's own `alg`, if it names one: then only that one.
    alg: Option<Algorithm>,
    pub(crate) decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// `kid` for messages.
    pub(crate) fn shown_kid(&self) -> String {
        match &self.kid {
            Some(kid) => format!("{:?}", bounded(kid, SHOWN)),
            None => "(no kid)".to_owned(),
        }
    }
}

/// The usable signing keys of one JWKS. Keys for encryption, symmetric
/// (`oct`) keys and keys of a type `jsonwebtoken` cannot verify with are left out.
#[derive(Debug, Clone)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

/// Why [`KeySet::select`] found no key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// No key has the token's `kid`: the issuer may have rotated its keys.
    UnknownKid,
    /// A key that cannot check this token: the message says why.
    Unusable(String),
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// What is wrong, as the end of "the JWKS ...": not a key set, too many
    /// keys, or no usable signing key.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("is not JSON ({e})"))?;
        let Some(Value::Array(entries)) = value.get("keys") else {
            return Err("has no \"keys\" list".to_owned());
        };
        if entries.len() > MAX_KEYS {
            return Err(format!(
                "holds {} keys, more than the {MAX_KEYS} accepted",
                entries.len()
            ));
        }
        let keys: Vec<Key> = entries.iter().filter_map(usable).collect();
        if keys.is_empty() {
            return Err(format!(
                "holds no usable signing key ({} keys: none an RSA, P-256, P-384 or Ed25519 signing key)",
                entries.len()
            ));
        }
        Ok(Self { keys })
    }

    /// How many usable keys there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key that checks a token of `alg` naming `kid`: the one with that
    /// `kid`, or without a `kid` the only key there is.
    ///
    /// # Errors
    /// [`NoKey::UnknownKid`] when no key has `kid`; [`NoKey::Unusable`] when
    /// the token names no `kid` among several keys, or the key does not
    /// verify `alg` (its type, or its own `alg`, differs).
    pub(crate) fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<&Key, NoKey> {
        let key = match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let first = named.clone().next().ok_or(NoKey::UnknownKid)?;
                // Several keys may share a kid (one per type): take the one for alg.
                named.find(|k| k.fits(alg)).unwrap_or(first)
            }
            None if self.keys.len() == 1 => &self.keys[0],
            None => {
                return Err(NoKey::Unusable(format!(
                    "the token names no key (no kid in its header) and the issuer has {} keys",
                    self.keys.len()
                )))
            }
        };
        if !key.kind.verifies(alg) {
            return Err(NoKey::Unusable(format!(
                "the token's algorithm {alg:?} does not match key {}, which is {}",
                key.shown_kid(),
                key.kind.name()
            )));
        }
        if let Some(key_alg) = key.alg {
            if key_alg != alg {
                return Err(NoKey::Unusable(format!(
                    "the token's algorithm {alg:?} is not the algorithm {key_alg:?} of key {}",
                    key.shown_kid()
                )));
            }
        }
        Ok(key)
    }
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.verifies(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The key `entry` stands for, if it is a usable signing key.
fn usable(entry: &Value) -> Option<Key> {
    // Parsed one by one, so that one key of an unknown type does not make
    // the whole set unreadable.
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Kind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Kind::P256,
            EllipticCurve::P384 => Kind::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Kind::Ed25519,
            _ => return None,
        },
        // A symmetric key in a public key set: never used.
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(key_alg) => Some(signing_algorithm(key_alg)?),
    };
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        decoding,
    })
}

/// The JWS algorithm a JWK's `alg` names; `None` for HMAC and encryption.
fn signing_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real P-256 point (RFC 7515 A.3) and a syntactically fine RSA key.
    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec","use":"sig",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const RSA: &str = r#"{"kty":"RSA","kid":"rsa","alg":"RS256","e":"AQAB",
        "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}"#;
    const HMAC: &str = r#"{"kty":"oct","kid":"hs","k":"c2VjcmV0"}"#;
    const ENC: &str = r#"{"kty":"RSA","kid":"enc","use":"enc","e":"AQAB","n":"ofgW"}"#;
    const ODD: &str = r#"{"kty":"XYZ","kid":"odd"}"#;

    fn set(keys: &[&str]) -> Result<KeySet, String> {
        KeySet::parse(format!("{{\"keys\": [{}]}}", keys.join(",")).as_bytes())
    }

    #[test]
    fn keeps_signing_keys_only() {
        let keys = set(&[EC, RSA, HMAC, ENC, ODD]).unwrap();
        assert_eq!(keys.len(), 2);
        let e = set(&[HMAC, ENC, ODD]).unwrap_err();
        assert!(e.contains("no usable signing key (3 keys"), "{e}");
        assert!(KeySet::parse(b"{}")
            .unwrap_err()
            .contains("no \"keys\" list"));
        assert!(KeySet::parse(b"<html>").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn selects_by_kid_type_and_alg() {
        let keys = set(&[EC, RSA]).unwrap();
        assert_eq!(
            keys.select(Algorithm::ES256, Some("ec"))
                .unwrap()
                .kid
                .as_deref(),
            Some("ec")
        );
        assert_eq!(
            keys.select(Algorithm::RS256, Some("nope")).unwrap_err(),
            NoKey::UnknownKid
        );
        let NoKey::Unusable(m) = keys.select(Algorithm::RS256, Some("ec")).unwrap_err() else {
            panic!()
        };
        assert!(
            m.contains("does not match key \"ec\", which is a P-256 key"),
            "{m}"
        );
        let NoKey::Unusable(m) = keys.select(Algorithm::PS256, Some("rsa")).unwrap_err() else {
            panic!()
        };
        assert!(m.contains("not the algorithm RS256 of key \"rsa\""), "{m}");
        let NoKey::Unusable(m) = keys.select(Algorithm::ES256, None).unwrap_err() else {
            panic!()
        };
        assert!(
            m.contains("no kid in its header) and the issuer has 2 keys"),
            "{m}"
        );
        let one = set(&[EC]).unwrap();
        assert!(one.select(Algorithm::ES256, None).is_ok());
    }
}
