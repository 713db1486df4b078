//! Tokens: tiers, generation, hashing and the `TokenStore` port.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::storage::{Sha256Digest, StorageError};

/// The fixed prefix of every token this registry issues, so secret scanners can
/// recognise a leaked one.
pub const TOKEN_PREFIX: &str = "tfr_";

/// What a token may do. Tiers nest: `Master > Uploader > Downloader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// List versions and download.
    Downloader,
    /// Also publish new versions.
    Uploader,
    /// Everything: delete versions, manage tokens.
    Master,
}

impl Tier {
    /// `"downloader"`, `"uploader"` or `"master"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Downloader => "downloader",
            Self::Uploader => "uploader",
            Self::Master => "master",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Downloader, Self::Uploader, Self::Master]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 of a token: the only form in which a token is ever stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub Sha256Digest);

impl TokenHash {
    /// Hashes a presented token.
    pub fn of(token: &str) -> Self {
        Self(Sha256Digest::of(token.as_bytes()))
    }

    /// Parses 64 hex digits (e.g. a configured master-token hash).
    pub fn from_hex(s: &str) -> Option<Self> {
        Sha256Digest::from_hex(s).map(Self)
    }

    /// 64 lowercase hex digits; safe to use as a storage key.
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }

    /// Compares in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0 .0.ct_eq(&other.0 .0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not a secret, but short output keeps logs readable.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A freshly generated token. Its `Debug` output hides the secret.
pub struct NewToken {
    secret: String,
}

impl NewToken {
    /// 32 bytes from the OS RNG, base64url without padding, after [`TOKEN_PREFIX`].
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        Self { secret }
    }

    /// The plaintext token: show it once, store only [`NewToken::hash`].
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The hash to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewToken(<redacted>)")
    }
}

/// Why a token name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token name {0:?}: use 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit")]
pub struct TokenNameError(pub String);

/// Checks a token name: 1-64 of `[A-Za-z0-9._-]`, starting with a letter or digit.
/// Names are safe to use as file names and object keys.
///
/// # Errors
/// [`TokenNameError`] stating the rule.
pub fn validate_token_name(name: &str) -> Result<(), TokenNameError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TokenNameError(name.to_owned()))
    }
}

/// The longest lifetime an expiring token may be given: five years. Tokens
/// without an expiry (the default) do not expire.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 366 * 24 * 60 * 60);

/// A stored token: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Unique name, valid per [`validate_token_name`].
    pub name: String,
    /// What the token may do.
    pub tier: Tier,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// When it was created (whole seconds are enough).
    pub created_at: SystemTime,
    /// When it stops working (whole seconds); `None`: never. Records stored
    /// before tokens could expire have none.
    pub expires_at: Option<SystemTime>,
    /// The namespaces it is limited to; `None`: every namespace (records
    /// stored before tokens had scopes have none).
    pub namespaces: Option<catalogue_index::NamespaceScope>,
    /// Who created it (a token's name, `master`, or an exchanged identity);
    /// `None` for records stored before creators were kept.
    pub created_by: Option<String>,
}

impl TokenRecord {
    /// Whether the token no longer works at `now`: its expiry is at or
    /// before `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The record as token stores keep it: JSON `{"name", "tier", "sha256",
    /// "created_at", "expires_at"?, "namespaces"?, "created_by"?}`, times in
    /// Unix seconds, the optional fields absent when unset (so a record
    /// without them is the format older versions wrote). Never the secret.
    pub fn to_stored_json(&self) -> Vec<u8> {
        let stored = StoredTokenRecord {
            name: self.name.clone(),
            tier: self.tier,
            sha256: self.hash.to_hex(),
            created_at: unix_secs(self.created_at),
            expires_at: self.expires_at.map(unix_secs),
            namespaces: self
                .namespaces
                .as_ref()
                .map(catalogue_index::NamespaceScope::patterns),
            created_by: self.created_by.clone(),
        };
        // Plain data with string keys: serializing it cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Reads what [`to_stored_json`](Self::to_stored_json) wrote, or a
    /// record of an older version (without the optional fields).
    ///
    /// # Errors
    /// [`StoredRecordError`] saying what is wrong: not such JSON, a `sha256`
    /// that is not 64 hex digits, a namespace pattern with a misplaced `*`.
    pub fn from_stored_json(bytes: &[u8]) -> Result<Self, StoredRecordError> {
        let stored: StoredTokenRecord =
            serde_json::from_slice(bytes).map_err(|e| StoredRecordError(e.to_string()))?;
        let sha256 = Sha256Digest::from_hex(&stored.sha256)
            .ok_or_else(|| StoredRecordError("sha256 is not 64 hex digits".into()))?;
        let from_secs = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        Ok(Self {
            name: stored.name,
            tier: stored.tier,
            hash: TokenHash(sha256),
            created_at: from_secs(stored.created_at),
            expires_at: stored.expires_at.map(from_secs),
            namespaces: stored
                .namespaces
                .map(catalogue_index::NamespaceScope::from_patterns)
                .transpose()
                .map_err(|e| StoredRecordError(e.to_string()))?,
            created_by: stored.created_by,
        })
    }
}

/// Why stored token-record bytes could not be read back (see
/// [`TokenRecord::from_stored_json`]); stores report it as a corrupt record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a token record: {0}")]
pub struct StoredRecordError(String);

/// [`TokenRecord`] as stored; see [`TokenRecord::to_stored_json`].
#[derive(Serialize, Deserialize)]
struct StoredTokenRecord {
    name: String,
    tier: Tier,
    /// 64 hex digits: SHA-256 of the token.
    sha256: String,
    created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// Namespace patterns (`acme`, `platform-*`); absent: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Stores token records, keyed by name and findable by hash.
///
/// Errors reuse [`StorageError`]: token stores are usually the same backend as
/// the module storage, and the HTTP mapping is the same.
///
/// # Contract
/// - Names are unique: of N racing [`create`](TokenStore::create) calls with one
///   name exactly one succeeds.
/// - Only hashes are stored; a record found by hash is exactly the one created,
///   its expiry included (to the second). A store hands out expired records
///   like any other: the registry refuses them when it checks a token.
/// - Every method is safe to call concurrently, from several processes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a new record, only if no record has its name.
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] if the name is taken (the existing record untouched).
    async fn create(&self, record: &TokenRecord) -> Result<(), StorageError>;

    /// Finds the record whose hash is `hash`; `Ok(None)` if there is none.
    ///
    /// # Errors
    /// Backend failures only.
    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError>;

    /// All records, in any order.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError>;

    /// Deletes the record named `name`; its token stops working at once.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if there is no such record.
    async fn delete(&self, name: &str) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = NewToken::generate();
        let b = NewToken::generate();
        assert!(a.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose_secret().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.hash().ct_eq(&TokenHash::of(a.expose_secret())));
        assert!(!a.hash().ct_eq(&b.hash()));
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn tiers_nest() {
        assert!(Tier::Master > Tier::Uploader && Tier::Uploader > Tier::Downloader);
        assert_eq!(Tier::parse("uploader"), Some(Tier::Uploader));
        assert_eq!(Tier::parse("admin"), None);
    }

    #[test]
    fn stored_records_round_trip_and_older_ones_read() {
        let secs = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut record = TokenRecord {
            name: "ci".into(),
            tier: Tier::Uploader,
            hash: TokenHash::of("tfr_x"),
            created_at: secs(1_700_000_000) + Duration::from_millis(900),
            expires_at: None,
            namespaces: None,
            created_by: None,
        };
        let json = String::from_utf8(record.to_stored_json()).unwrap();
        assert!(!json.contains("tfr_x"), "{json}");
        assert_eq!(
            json,
            format!(
                r#"{{"name":"ci","tier":"uploader","sha256":"{}","created_at":1700000000}}"#,
                record.hash.to_hex()
            ),
            "unset fields are absent: the format older versions wrote"
        );
        record.created_at = secs(1_700_000_000);
        assert_eq!(
            TokenRecord::from_stored_json(json.as_bytes()).unwrap(),
            record
        );

        record.expires_at = Some(secs(1_700_000_900));
        record.namespaces =
            Some(catalogue_index::NamespaceScope::from_patterns(["acme", "platform-*"]).unwrap());
        record.created_by = Some("master".into());
        let json = record.to_stored_json();
        assert_eq!(TokenRecord::from_stored_json(&json).unwrap(), record);

        for (bad, why) in [
            (&b"{"[..], "EOF"),
            (
                br#"{"name":"ci","tier":"uploader","sha256":"zz","created_at":1}"#,
                "sha256",
            ),
            (
                br#"{"name":"ci","tier":"admin","sha256":"00","created_at":1}"#,
                "unknown variant",
            ),
        ] {
            let e = TokenRecord::from_stored_json(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let hex = record.hash.to_hex();
        let misplaced = format!(
            r#"{{"name":"ci","tier":"uploader","sha256":"{hex}","created_at":1,"namespaces":["a*b"]}}"#
        );
        let e = TokenRecord::from_stored_json(misplaced.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("invalid namespace pattern"), "{e}");
    }

    #[test]
    fn token_names() {
        assert!(validate_token_name("ci.deploy-1_a").is_ok());
        for bad in ["", "-a", "a/b", "a b", &"a".repeat(65)] {
            assert!(validate_token_name(bad).is_err(), "{bad:?}");
        }
    }
}
