//! Signed, expiring archive URLs: HMAC-SHA256 over the path and the expiry time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::SigningKey;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// Missing or malformed `expires` / `signature` parameters.
    Missing,
    /// The signature does not match the path and expiry.
    Invalid,
    /// The signature is right but the URL expired.
    Expired,
}

/// Signs and checks archive URLs.
#[derive(Debug, Clone)]
pub(crate) struct UrlSigner {
    key: SigningKey,
}

impl UrlSigner {
    pub(crate) fn new(key: SigningKey) -> Self {
        Self { key }
    }

    fn mac(&self, path: &str, expires: u64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(self.key.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"terraform-registry archive v1\n");
        mac.update(expires.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(path.as_bytes());
        mac
    }

    /// The `signature` parameter for `path` valid until `expires` (Unix seconds).
    pub(crate) fn sign(&self, path: &str, expires: u64) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(path, expires).finalize().into_bytes())
    }

    /// Checks `signature` for `path` and `expires` at time `now` (Unix seconds),
    /// comparing in constant time.
    pub(crate) fn verify(
        &self,
        path: &str,
        expires: Option<&str>,
        signature: Option<&str>,
        now: u64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let expires: u64 = expires.parse().map_err(|_| SignatureError::Missing)?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SignatureError::Invalid)?;
        self.mac(path, expires)
            .verify_slice(&signature)
            .map_err(|_| SignatureError::Invalid)?;
        if now > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> UrlSigner {
        UrlSigner::new(SigningKey::from_bytes([7u8; 32]).unwrap())
    }

    #[test]
    fn round_trip_and_refusals() {
        let s = signer();
        let sig = s.sign("/v1/archives/a/b/c/1.0.0.tar.gz", 1000);
        assert_eq!(
            s.verify(
                "/v1/archives/a/b/c/1.0.0.tar.gz",
                Some("1000"),
                Some(&sig),
                999
            ),
            Ok(())
        );
        assert_eq!(
            s.verify(
                "/v1/archives/a/b/c/1.0.0.tar.gz",
                Some("1000"),
                Some(&sig),
                1000
            ),
            Ok(())
        );
        assert_eq!(
            s.verify(
                "/v1/archives/a/b/c/1.0.0.tar.gz",
                Some("1000"),
                Some(&sig),
                1001
            ),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            s.verify(
                "/v1/archives/a/b/c/2.0.0.tar.gz",
                Some("1000"),
                Some(&sig),
                0
            ),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify(
                "/v1/archives/a/b/c/1.0.0.tar.gz",
                Some("99999"),
                Some(&sig),
                0
            ),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("/x", None, Some(&sig), 0),
            Err(SignatureError::Missing)
        );
        let other = UrlSigner::new(SigningKey::from_bytes([8u8; 32]).unwrap());
        assert_eq!(
            other.verify(
                "/v1/archives/a/b/c/1.0.0.tar.gz",
                Some("1000"),
                Some(&sig),
                0
            ),
            Err(SignatureError::Invalid)
        );
    }
}
