//! Identity settings: the token exchanges (CI OIDC, AWS IAM) and the audit
//! log.
//!
//! `--exchange-config` (`TFR_EXCHANGE_CONFIG`) is a JSON file, or the JSON
//! itself when it starts with `{` (the Lambda function's environment):
//!
//! ```json
//! {
//!   "oidc": {
//!     "issuers": [{
//!       "issuer": "https://token.actions.githubusercontent.com",
//!       "audience": "https://registry.example.com",
//!       "rules": [
//!         {"when": {"repository_owner": "acme", "ref": "refs/heads/main"},
//!          "tier": "uploader", "namespaces": ["acme"], "lifetime": "15m"}
//!       ]
//!     }]
//!   },
//!   "aws": {
//!     "server_id": "registry.example.com",
//!     "rules": [
//!       {"when": {"account": "123456789012", "type": "assumed-role", "name": "terraform-ci"},
//!        "tier": "uploader", "namespaces": ["platform-*"], "lifetime": "1h"}
//!     ]
//!   }
//! }
//! ```
//!
//! Each section is optional; an exchange without its section stays off.
//! An issuer entry is `identity_oidc::IssuerConfig` plus its `rules`; the
//! `aws` section is `identity_aws::AwsVerifierConfig` plus its `rules`
//! (rules: `registry_core::exchange::ExchangeRules`).

use std::sync::Arc;

use clap::ArgAction;
use identity_aws::{AwsIdentityVerifier, AwsVerifierConfig};
use identity_oidc::{IssuerConfig, OidcConfig, OidcIssuers};
use registry_core::audit::AuditLog;
use registry_core::exchange::{AwsExchange, ExchangeConfig, ExchangeRules, OidcExchange};
use registry_core::Registry;
use serde_json::Value;

use crate::error::{Setting, SettingsError};
use crate::parse::boolish;

/// `--exchange-config` / `TFR_EXCHANGE_CONFIG`.
pub const EXCHANGE_CONFIG: Setting = Setting::new("exchange-config", "TFR_EXCHANGE_CONFIG");
/// `--no-audit-log` / `TFR_NO_AUDIT_LOG`.
pub const NO_AUDIT_LOG: Setting = Setting::new("no-audit-log", "TFR_NO_AUDIT_LOG");

/// The largest exchange settings document read, in bytes.
const MAX_EXCHANGE_CONFIG_BYTES: u64 = 1024 * 1024;

/// The identity settings.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// Token exchange settings (CI OIDC, AWS IAM): a JSON file, or the JSON
    /// itself when it starts with `{`. Without it, `/v1/exchange/*` answer
    /// 404. Format: registry-settings' `identity` module docs and the README.
    #[arg(long = EXCHANGE_CONFIG.long(), env = EXCHANGE_CONFIG.env(), value_name = "FILE|JSON")]
    exchange_config: Option<String>,

    /// Keep no audit log. By default every publish, delete, pin, token
    /// change and exchange is recorded next to the modules (readable with
    /// the master token at GET /v1/audit).
    #[arg(long = NO_AUDIT_LOG.long(), env = NO_AUDIT_LOG.env(), action = ArgAction::SetTrue, value_parser = boolish())]
    no_audit_log: bool,
}

/// The validated identity settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IdentitySettings {
    /// The exchanges, when configured.
    pub exchange: Option<ExchangeSettings>,
    /// Whether to keep the audit log (the default).
    pub audit_log: bool,
}

/// The checked exchange settings, ready to build verifiers from.
#[derive(Debug, Clone)]
pub struct ExchangeSettings {
    oidc: Option<(OidcConfig, Vec<(String, ExchangeRules)>)>,
    aws: Option<(AwsVerifierConfig, ExchangeRules)>,
}

impl IdentitySettings {
    /// `registry` with the configured exchanges on and, when the audit log
    /// is kept, `log` as its audit log (`log` is called only then: opening a
    /// store may cost a request).
    ///
    /// # Errors
    /// A verifier could not be built, or `log` failed.
    pub async fn apply<F, E>(
        &self,
        mut registry: Registry,
        log: F,
    ) -> Result<Registry, Box<dyn std::error::Error + Send + Sync>>
    where
        F: std::future::Future<Output = Result<Arc<dyn AuditLog>, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        if let Some(exchange) = &self.exchange {
            tracing::info!(
                oidc_issuers = ?exchange.oidc_issuers(),
                aws = exchange.aws(),
                "token exchange on"
            );
            registry = registry.with_exchange(exchange.build()?);
        }
        if self.audit_log {
            registry = registry.with_audit_log(log.await?);
        } else {
            tracing::warn!("no audit log (--no-audit-log): changes are not recorded");
        }
        Ok(registry)
    }
}

impl IdentityArgs {
    /// The settings: the exchange document read and checked whole (every
    /// issuer, endpoint and rule), so a mistake stops the server at start.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the setting and what to fix.
    pub fn settings(&self) -> Result<IdentitySettings, SettingsError> {
        let exchange = self
            .exchange_config
            .as_deref()
            .map(|value| {
                let text = read_document(value)?;
                ExchangeSettings::from_json(&text).map_err(|problem| SettingsError::Invalid {
                    setting: EXCHANGE_CONFIG,
                    problem,
                })
            })
            .transpose()?;
        Ok(IdentitySettings {
            exchange,
            audit_log: !self.no_audit_log,
        })
    }
}

/// The document `value` names: itself when it starts with `{`, else a file.
fn read_document(value: &str) -> Result<String, SettingsError> {
    let value = value.trim();
    if value.starts_with('{') {
        return Ok(value.to_owned());
    }
    let invalid = |problem: String| SettingsError::Invalid {
        setting: EXCHANGE_CONFIG,
        problem,
    };
    let meta = std::fs::metadata(value).map_err(|e| {
        invalid(format!(
            "cannot read {value:?}: {e}; give a JSON file, or the JSON itself"
        ))
    })?;
    if meta.len() > MAX_EXCHANGE_CONFIG_BYTES {
        return Err(invalid(format!(
            "{value:?} is {} bytes; exchange settings are at most {MAX_EXCHANGE_CONFIG_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(value).map_err(|e| invalid(format!("cannot read {value:?}: {e}")))
}

impl ExchangeSettings {
    /// Parses and checks the exchange settings document.
    ///
    /// # Errors
    /// What is wrong and where (`oidc.issuers[1]`, `aws.rules`, ...).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let Value::Object(mut doc) = serde_json::from_str(text).map_err(|e| {
            format!("is not JSON ({e}); give {{\"oidc\": {{...}}, \"aws\": {{...}}}}")
        })?
        else {
            return Err("is not a JSON object; give {\"oidc\": {...}, \"aws\": {...}}".into());
        };
        let oidc = doc.remove("oidc").map(oidc_section).transpose()?;
        let aws = doc.remove("aws").map(aws_section).transpose()?;
        if let Some(key) = doc.keys().next() {
            return Err(format!(
                "has an unknown section {key:?}; the sections are \"oidc\" and \"aws\""
            ));
        }
        if oidc.is_none() && aws.is_none() {
            return Err("configures no exchange; give an \"oidc\" or an \"aws\" section, or leave the setting out".into());
        }
        Ok(Self { oidc, aws })
    }

    /// The verifiers and rules, for [`Registry::with_exchange`](registry_core::Registry::with_exchange).
    ///
    /// # Errors
    /// A verifier's HTTP client could not be built.
    pub fn build(&self) -> Result<ExchangeConfig, SettingsError> {
        let mut config = ExchangeConfig::default();
        let failed = |problem: String| SettingsError::Invalid {
            setting: EXCHANGE_CONFIG,
            problem,
        };
        if let Some((oidc, rules)) = &self.oidc {
            let verifier = OidcIssuers::new(oidc).map_err(|e| failed(e.to_string()))?;
            config.oidc = Some(OidcExchange {
                verifier: Arc::new(verifier),
                rules: rules.clone(),
            });
        }
        if let Some((aws, rules)) = &self.aws {
            let verifier =
                AwsIdentityVerifier::new(aws.clone()).map_err(|e| failed(e.to_string()))?;
            config.aws = Some(AwsExchange {
                verifier: Arc::new(verifier),
                rules: rules.clone(),
            });
        }
        Ok(config)
    }

    /// The configured OIDC issuers' URLs.
    pub fn oidc_issuers(&self) -> Vec<&str> {
        self.oidc
            .as_ref()
            .map(|(_, rules)| rules.iter().map(|(issuer, _)| issuer.as_str()).collect())
            .unwrap_or_default()
    }

    /// Whether the AWS exchange is on.
    pub fn aws(&self) -> bool {
        self.aws.is_some()
    }
}

/// `rules` taken out of `section` (an object), checked.
fn take_rules(
    section: &mut serde_json::Map<String, Value>,
    place: &str,
) -> Result<ExchangeRules, String> {
    let rules = section.remove("rules").ok_or_else(|| {
        format!("{place} has no \"rules\"; give the list of rules that grant tokens")
    })?;
    ExchangeRules::from_value(rules).map_err(|e| format!("{place}: {e}"))
}

fn oidc_section(value: Value) -> Result<(OidcConfig, Vec<(String, ExchangeRules)>), String> {
    let Value::Object(mut section) = value else {
        return Err("\"oidc\" is not an object; give {\"issuers\": [...]}".into());
    };
    let Some(Value::Array(entries)) = section.remove("issuers") else {
        return Err(
            "\"oidc\" needs \"issuers\": a list of {\"issuer\", \"audience\", \"rules\"}".into(),
        );
    };
    if let Some(key) = section.keys().next() {
        return Err(format!(
            "\"oidc\" has an unknown field {key:?}; it holds only \"issuers\""
        ));
    }
    let mut issuers = Vec::with_capacity(entries.len());
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let place = format!("oidc.issuers[{}]", i + 1);
        let Value::Object(mut entry) = entry else {
            return Err(format!("{place} is not an object"));
        };
        let issuer_rules = take_rules(&mut entry, &place)?;
        let issuer: IssuerConfig =
            serde_json::from_value(Value::Object(entry)).map_err(|e| format!("{place}: {e}"))?;
        rules.push((issuer.issuer.clone(), issuer_rules));
        issuers.push(issuer);
    }
    let config = OidcConfig::new(issuers);
    config.validate().map_err(|e| e.to_string())?;
    Ok((config, rules))
}

fn aws_section(value: Value) -> Result<(AwsVerifierConfig, ExchangeRules), String> {
    let Value::Object(mut section) = value else {
        return Err("\"aws\" is not an object; give {\"server_id\": ..., \"rules\": [...]}".into());
    };
    let rules = take_rules(&mut section, "aws")?;
    let config: AwsVerifierConfig =
        serde_json::from_value(Value::Object(section)).map_err(|e| format!("aws: {e}"))?;
    Ok((config, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"[{"when": {"sub": "*"}, "tier": "downloader", "lifetime": "5m"}]"#;

    #[test]
    fn both_sections_are_read_and_built() {
        let text = format!(
            r#"{{"oidc": {{"issuers": [{{"issuer": "https://token.actions.githubusercontent.com", "audience": "https://registry.example.com", "rules": {RULES}}}]}},
                "aws": {{"server_id": "registry.example.com", "rules": {RULES}}}}}"#
        );
        let settings = ExchangeSettings::from_json(&text).unwrap();
        assert_eq!(
            settings.oidc_issuers(),
            ["https://token.actions.githubusercontent.com"]
        );
        assert!(settings.aws());
        let built = settings.build().unwrap();
        assert!(built.oidc.is_some() && built.aws.is_some());
    }

    #[test]
    fn mistakes_are_refused_saying_where() {
        let issuer = |extra: &str| {
            format!(
                r#"{{"oidc": {{"issuers": [{{"issuer": "https://i.example", "audience": "a"{extra}}}]}}}}"#
            )
        };
        for (text, says) in [
            ("[]".to_owned(), "not a JSON object"),
            ("nope".to_owned(), "not JSON"),
            ("{}".to_owned(), "configures no exchange"),
            (r#"{"gitlab": {}}"#.to_owned(), "unknown section \"gitlab\""),
            (issuer(""), "oidc.issuers[1] has no \"rules\""),
            (issuer(r#", "rules": []"#), "oidc.issuers[1]: exchange rules: give 1 to"),
            (issuer(&format!(r#", "rules": {RULES}, "colour": "red""#)), "oidc.issuers[1]: unknown field"),
            (r#"{"oidc": {"issuers": [{"issuer": "http://i.example", "audience": "a", "rules": RULES}]}}"#.replace("RULES", RULES), "https"),
            (format!(r#"{{"aws": {{"rules": {RULES}}}}}"#), "aws: missing field `server_id`"),
            (r#"{"aws": {"server_id": "x"}}"#.to_owned(), "aws has no \"rules\""),
        ] {
            let e = ExchangeSettings::from_json(&text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_file_or_inline_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exchange.json");
        std::fs::write(
            &path,
            format!(r#"{{"aws": {{"server_id": "r.example", "rules": {RULES}}}}}"#),
        )
        .unwrap();
        assert!(read_document(path.to_str().unwrap())
            .unwrap()
            .contains("r.example"));
        assert_eq!(read_document("  {\"a\":1}").unwrap(), "{\"a\":1}");
        let e = read_document("/nonexistent/exchange.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--exchange-config (TFR_EXCHANGE_CONFIG) cannot read"),
            "{e}"
        );
    }
}
