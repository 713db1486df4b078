//! The SigV4 `Authorization` header of a signed request, read for what the
//! registry checks before forwarding (never for the signature's validity:
//! STS checks that).

use registry_core::exchange::ExchangeError;

use crate::sts::STS_SERVICE;

/// What an `Authorization: AWS4-HMAC-SHA256 ...` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization<'a> {
    /// The signed header names, lowercase, as listed.
    pub(crate) signed_headers: Vec<&'a str>,
}

impl<'a> Authorization<'a> {
    /// Parses `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/sts/aws4_request,
    /// SignedHeaders=a;b;c, Signature=HEX`.
    ///
    /// # Errors
    /// [`ExchangeError::Malformed`] when the header is not of that shape;
    /// [`ExchangeError::Rejected`] when its credential scope is not STS's.
    /// Messages never quote the header.
    pub(crate) fn parse(header: &'a str) -> Result<Self, ExchangeError> {
        let malformed = |why: &str| {
            ExchangeError::Malformed(format!(
                "the signed request's Authorization header {why}; sign it with AWS Signature Version 4 (AWS4-HMAC-SHA256)"
            ))
        };
        let Some(fields) = header.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return Err(malformed("is not an AWS4-HMAC-SHA256 signature"));
        };
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for field in fields.split(',') {
            let Some((key, value)) = field.trim().split_once('=') else {
                return Err(malformed("has a field that is not KEY=VALUE"));
            };
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => {
                    return Err(malformed(
                        "has a field other than Credential, SignedHeaders and Signature",
                    ))
                }
            };
            if slot.replace(value).is_some() {
                return Err(malformed("repeats a field"));
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(malformed("lacks Credential, SignedHeaders or Signature"));
        };
        if signature.len() != 64
            || !signature
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(malformed("has a Signature that is not 64 hex digits"));
        }
        // KEY/DATE/REGION/SERVICE/aws4_request
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, "aws4_request"] = scope[..] else {
            return Err(malformed(
                "has a Credential that is not KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        if key.is_empty()
            || date.len() != 8
            || !date.bytes().all(|c| c.is_ascii_digit())
            || region.is_empty()
        {
            return Err(malformed(
                "has a Credential with an empty key, a date that is not YYYYMMDD or no region",
            ));
        }
        if service != STS_SERVICE {
            return Err(ExchangeError::Rejected(
                "the request is signed for another AWS service; sign an sts:GetCallerIdentity request (credential scope service `sts`)".to_owned(),
            ));
        }
        let signed_headers: Vec<&str> = signed.split(';').collect();
        let valid = signed_headers.iter().all(|name| {
            !name.is_empty()
                && name.bytes().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == b'-'
                        || c == b'_'
                        || c == b'.'
                })
        });
        if !valid {
            return Err(malformed(
                "has SignedHeaders that are not lowercase header names separated by `;`",
            ));
        }
        Ok(Self { signed_headers })
    }

    /// Whether `name` (lowercase) is among the signed headers.
    pub(crate) fn signs(&self, name: &str) -> bool {
        self.signed_headers.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn header(credential: &str, signed: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={SIG}")
    }

    #[test]
    fn reads_the_signed_headers() {
        let h = header(
            "AKIDEXAMPLE/20240101/eu-west-1/sts/aws4_request",
            "content-type;host;x-amz-date;x-tfr-server-id",
        );
        let a = Authorization::parse(&h).unwrap();
        assert_eq!(
            a.signed_headers,
            ["content-type", "host", "x-amz-date", "x-tfr-server-id"]
        );
        assert!(a.signs("host") && !a.signs("Host") && !a.signs("x-amz-security-token"));
        // Without the spaces after the commas, as some SDKs write it.
        let h = h.replace(", ", ",");
        assert!(Authorization::parse(&h).is_ok());
    }

    #[test]
    fn other_shapes_are_malformed_and_other_services_rejected() {
        let ok_cred = "AKID/20240101/us-east-1/sts/aws4_request";
        for bad in [
            String::new(),
            format!("AWS4-ECDSA-P256-SHA256 Credential={ok_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("Bearer {SIG}"),
            header("AKID/20240101/us-east-1/sts", "host"),
            header("AKID/2024011/us-east-1/sts/aws4_request", "host"),
            header("/20240101/us-east-1/sts/aws4_request", "host"),
            header("AKID/20240101//sts/aws4_request", "host"),
            header(ok_cred, ""),
            header(ok_cred, "Host;x-amz-date"),
            header(ok_cred, "host;;x-amz-date"),
            format!("AWS4-HMAC-SHA256 Credential={ok_cred}, SignedHeaders=host, Signature=abc"),
            format!("AWS4-HMAC-SHA256 Credential={ok_cred}, SignedHeaders=host, Signature={}", SIG.to_uppercase()),
            format!("AWS4-HMAC-SHA256 Credential={ok_cred}, SignedHeaders=host"),
            format!("AWS4-HMAC-SHA256 Credential={ok_cred}, Credential={ok_cred}, SignedHeaders=host, Signature={SIG}"),
            format!("AWS4-HMAC-SHA256 Credential={ok_cred}, SignedHeaders=host, Signature={SIG}, Extra=1"),
        ] {
            let e = Authorization::parse(&bad).expect_err(&bad);
            assert!(matches!(e, ExchangeError::Malformed(_)), "{bad}: {e:?}");
            assert!(!e.to_string().contains(SIG), "{e}");
        }
        let e = Authorization::parse(&header("AKID/20240101/us-east-1/s3/aws4_request", "host"))
            .unwrap_err();
        assert!(matches!(e, ExchangeError::Rejected(_)), "{e:?}");
    }
}
