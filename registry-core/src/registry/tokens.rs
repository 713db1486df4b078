//! Tokens: creating, listing and deleting the uploader and downloader tokens
//! (the master token comes from the configuration).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use catalogue_index::NamespaceScope;

use crate::address::is_valid_name_part;
use crate::catalogue::rfc3339;
use crate::storage::StorageError;
use crate::tokens::{validate_token_name, NewToken, Tier, TokenRecord, MAX_TOKEN_LIFETIME};

use super::{Registry, RegistryError};

/// A token [`Registry::create_token`] made: its record and its secret, which
/// exists only here (the store keeps its SHA-256).
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedToken {
    /// What was stored.
    pub record: TokenRecord,
    /// The secret to hand to its user, once.
    pub token: NewToken,
}

/// The token [`Registry::create_token_with`] creates: a name, a tier and,
/// optionally, when it expires, the namespaces it is limited to and who
/// asked for it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use registry_core::{Tier, TokenSpec};
///
/// let spec = TokenSpec::new("ci", Tier::Uploader)
///     .expires_at(SystemTime::now() + Duration::from_secs(15 * 60));
/// assert!(spec.expires_at.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSpec {
    /// Unique name, valid per [`validate_token_name`].
    pub name: String,
    /// Uploader or downloader (the master token comes from the configuration).
    pub tier: Tier,
    /// When it stops working; `None`: never. Kept to the second (rounded
    /// down); must be in the future and at most [`MAX_TOKEN_LIFETIME`] away.
    pub expires_at: Option<SystemTime>,
    /// Who asks for it (e.g. `master`), recorded with it.
    pub created_by: Option<String>,
    /// The namespaces it is limited to; `None`: every namespace. 1 to
    /// [`MAX_NAMESPACE_PATTERNS`] patterns, each a namespace or a prefix of
    /// one followed by `*` (`*` alone: every namespace).
    pub namespaces: Option<NamespaceScope>,
}

/// The most namespace patterns one token may carry.
pub const MAX_NAMESPACE_PATTERNS: usize = 100;

/// Checks `scope`'s patterns against the namespace rule (see
/// [`TokenSpec::namespaces`]).
fn check_namespaces(scope: &NamespaceScope) -> Result<(), RegistryError> {
    let count = scope.exact().len() + scope.prefixes().len();
    if count == 0 || count > MAX_NAMESPACE_PATTERNS {
        return Err(RegistryError::Invalid(format!(
            "\"namespaces\" holds {count} distinct patterns: give 1 to {MAX_NAMESPACE_PATTERNS}, or leave it out for a token that may use every namespace"
        )));
    }
    // A prefix must begin a valid namespace: its first character and length.
    let valid_prefix = |p: &str| {
        p.is_empty()
            || (p.len() < 64
                && p.as_bytes()[0].is_ascii_alphanumeric()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
    };
    let bad = scope
        .exact()
        .iter()
        .find(|e| !is_valid_name_part(e))
        .cloned()
        .or_else(|| {
            scope
                .prefixes()
                .iter()
                .find(|p| !valid_prefix(p))
                .map(|p| format!("{p}*"))
        });
    match bad {
        None => Ok(()),
        Some(pattern) => Err(RegistryError::Invalid(format!(
            "invalid namespace pattern {pattern:?}: use a namespace (`acme`: 1-64 ASCII letters, digits, '-' or '_', starting and ending with a letter or digit) or a prefix followed by one `*` (`platform-*`)"
        ))),
    }
}

impl TokenSpec {
    /// A token named `name` of `tier` that does not expire.
    pub fn new(name: impl Into<String>, tier: Tier) -> Self {
        Self {
            name: name.into(),
            tier,
            expires_at: None,
            created_by: None,
            namespaces: None,
        }
    }

    /// The same token, expiring at `at`.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// `t` rounded down to a whole second since the epoch.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl Registry {
    /// Creates a token of `tier` (uploader or downloader) named `name`, with
    /// no expiry: [`create_token_with`](Self::create_token_with) with
    /// [`TokenSpec::new`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
    /// use registry_core::{Registry, RegistryConfig, RegistryError, SigningKey, Tier};
    ///
    /// let registry = Registry::new(
    ///     Arc::new(InMemoryStorage::new()),
    ///     Arc::new(InMemoryTokenStore::new()),
    ///     RegistryConfig::new(SigningKey::generate()),
    /// );
    /// let created = registry.create_token("ci", Tier::Uploader).await.unwrap();
    /// assert!(created.token.expose_secret().starts_with("tfr_"));
    /// assert_eq!(registry.tokens().await.unwrap()[0].name, "ci");
    /// assert!(matches!(
    ///     registry.create_token("ci", Tier::Downloader).await,
    ///     Err(RegistryError::AlreadyExists(_))
    /// ));
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a bad name or the master tier;
    /// [`RegistryError::AlreadyExists`] if the name is taken; store failures.
    pub async fn create_token(
        &self,
        name: &str,
        tier: Tier,
    ) -> Result<CreatedToken, RegistryError> {
        self.create_token_with(TokenSpec::new(name, tier)).await
    }

    /// Creates the token `spec` describes.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a bad name, the master tier, an
    /// expiry that is not in the future or is more than
    /// [`MAX_TOKEN_LIFETIME`] away, or namespaces that break the rule of
    /// [`TokenSpec::namespaces`]; [`RegistryError::AlreadyExists`] if the
    /// name is taken; store failures.
    pub async fn create_token_with(&self, spec: TokenSpec) -> Result<CreatedToken, RegistryError> {
        let TokenSpec {
            name,
            tier,
            expires_at,
            created_by,
            namespaces,
        } = spec;
        let name = name.as_str();
        validate_token_name(name).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        if let Some(scope) = &namespaces {
            check_namespaces(scope)?;
        }
        let now = UNIX_EPOCH + Duration::from_secs(self.unix_now());
        let expires_at = expires_at.map(whole_seconds);
        if let Some(at) = expires_at {
            if at <= now {
                return Err(RegistryError::Invalid(format!(
                    "the expiry {} is not in the future (the registry's time is {}); give a later time, or a lifetime in seconds",
                    rfc3339(at),
                    rfc3339(now)
                )));
            }
            if at > now + MAX_TOKEN_LIFETIME {
                return Err(RegistryError::Invalid(format!(
                    "the expiry {} is more than {} days away, the longest lifetime a token may have; give an earlier time, or none for a token that does not expire",
                    rfc3339(at),
                    MAX_TOKEN_LIFETIME.as_secs() / 86_400
                )));
            }
        }
        if tier == Tier::Master {
            return Err(RegistryError::Invalid(
                "invalid tier \"master\": use \"uploader\" or \"downloader\" (the master token comes from the server's configuration)".into(),
            ));
        }
        let token = NewToken::generate();
        let record = TokenRecord {
            name: name.to_owned(),
            tier,
            hash: token.hash(),
            created_at: now,
            expires_at,
            namespaces,
            created_by,
        };
        match self.tokens.create(&record).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => {
                return Err(RegistryError::AlreadyExists(format!(
                    "a token named {name:?} already exists; pick another name or delete that token first"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            name = %record.name,
            %tier,
            expires_at = record.expires_at.map(rfc3339).as_deref().unwrap_or("never"),
            "token created"
        );
        Ok(CreatedToken { record, token })
    }

    /// Every token's record (never a secret), ordered by name.
    ///
    /// # Errors
    /// Token store failures.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, RegistryError> {
        let mut records = self.tokens.list().await?;
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    /// Deletes (revokes) the token named `name`.
    ///
    /// # Errors
    /// [`RegistryError::Invalid`] for a bad name; [`RegistryError::NotFound`]
    /// if there is none; store failures.
    pub async fn delete_token(&self, name: &str) -> Result<(), RegistryError> {
        validate_token_name(name).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        match self.tokens.delete(name).await {
            Ok(()) => {
                tracing::info!(name, "token deleted");
                Ok(())
            }
            Err(StorageError::NotFound) => {
                Err(RegistryError::NotFound(format!("no token named {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }
}
