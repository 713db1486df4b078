//! Tokens: creating, listing and deleting the uploader and downloader tokens
//! (the master token comes from the configuration).

use std::time::{Duration, UNIX_EPOCH};

use crate::storage::StorageError;
use crate::tokens::{validate_token_name, NewToken, Tier, TokenRecord};

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

impl Registry {
    /// Creates a token of `tier` (uploader or downloader) named `name`.
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
        validate_token_name(name).map_err(|e| RegistryError::Invalid(e.to_string()))?;
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
            created_at: UNIX_EPOCH + Duration::from_secs(self.unix_now()),
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
        tracing::info!(name = %record.name, %tier, "token created");
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
