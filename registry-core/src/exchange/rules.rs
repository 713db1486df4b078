//! Rules: which verified identities get which tokens.
//!
//! A rule set is a JSON list, tried in order; the first rule whose every
//! `when` entry matches grants its `tier`, `namespaces` and `lifetime`:
//!
//! ```json
//! [
//!   { "when": { "repository_owner": "acme", "ref": "refs/heads/main" },
//!     "tier": "uploader", "namespaces": ["acme"], "lifetime": "15m" },
//!   { "when": { "repository": "acme/*" },
//!     "tier": "downloader", "lifetime": "1h" }
//! ]
//! ```
//!
//! - `when` maps a claim name to a pattern or a list of patterns (any may
//!   match). A pattern is the claim's text with `*` matching any run of
//!   characters (`/` included); case counts. A claim that is a list (e.g.
//!   `groups`) matches when one of its elements does; numbers and booleans
//!   match their JSON text; a missing claim never matches. `when` may not be
//!   empty: a rule that matches everyone must say so with a pattern
//!   (`{"sub": "*"}`).
//! - `tier`: `downloader` or `uploader` (never master).
//! - `namespaces` (optional; absent: every namespace): patterns as for
//!   tokens (`acme`, `platform-*`); `{claim}` is replaced by that claim's
//!   value, which must then be a valid namespace (else the rule grants
//!   nothing and the next is tried).
//! - `lifetime`: a duration such as `15m`, `1h`, `900s`; at most
//!   [`MAX_EXCHANGE_LIFETIME`].

use std::collections::BTreeMap;
use std::time::Duration;

use catalogue_index::NamespaceScope;
use serde::Deserialize;
use serde_json::Value;

use crate::address::is_valid_name_part;
use crate::tokens::Tier;

/// The longest lifetime a rule may grant: 12 hours. Exchanged tokens are for
/// one pipeline run or one working day; a longer-lived token is one a
/// registry admin creates on purpose.
pub const MAX_EXCHANGE_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most rules one rule set may hold.
const MAX_RULES: usize = 1000;

/// Why a rule set was refused; names the rule (from 1) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exchange rules: {0}")]
pub struct RulesError(String);

/// What a rule grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// Downloader or uploader.
    pub tier: Tier,
    /// The namespaces the token is limited to; `None`: every namespace.
    pub namespaces: Option<NamespaceScope>,
    /// How long the token lives.
    pub lifetime: Duration,
    /// Which rule granted it, from 1 (for the audit log).
    pub rule: usize,
}

/// An ordered list of rules (see the module docs for the format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    when: Vec<(String, Vec<String>)>,
    tier: Tier,
    namespaces: Option<Vec<String>>,
    lifetime: Duration,
}

/// A rule as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    when: BTreeMap<String, OneOrMany>,
    tier: String,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    lifetime: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl ExchangeRules {
    /// Parses and checks a rule set from its JSON (a list of rules).
    ///
    /// # Errors
    /// [`RulesError`] naming the rule and what is wrong with it.
    pub fn from_json(json: &str) -> Result<Self, RulesError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| RulesError(format!("not JSON ({e}); give a list of rules")))?;
        Self::from_value(value)
    }

    /// As [`from_json`](Self::from_json), from parsed JSON (a rule list
    /// inside a larger settings document).
    ///
    /// # Errors
    /// [`RulesError`] naming the rule and what is wrong with it.
    pub fn from_value(value: Value) -> Result<Self, RulesError> {
        let files: Vec<RuleFile> = serde_json::from_value(value).map_err(|e| {
            RulesError(format!(
                "{e}; each rule is {{\"when\": {{\"claim\": \"pattern\"}}, \"tier\": \"uploader\", \"namespaces\": [\"acme\"], \"lifetime\": \"15m\"}}"
            ))
        })?;
        if files.is_empty() || files.len() > MAX_RULES {
            return Err(RulesError(format!(
                "give 1 to {MAX_RULES} rules (there are {})",
                files.len()
            )));
        }
        let rules = files
            .into_iter()
            .enumerate()
            .map(|(i, file)| {
                Rule::check(file).map_err(|m| RulesError(format!("rule {}: {m}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// What the first rule matching `claims` grants; `None` if none does.
    pub fn grant(&self, claims: &serde_json::Map<String, Value>) -> Option<Grant> {
        self.rules.iter().enumerate().find_map(|(i, rule)| {
            if !rule.matches(claims) {
                return None;
            }
            let namespaces = match &rule.namespaces {
                None => None,
                Some(patterns) => Some(rule_scope(patterns, claims)?),
            };
            Some(Grant {
                tier: rule.tier,
                namespaces,
                lifetime: rule.lifetime,
                rule: i + 1,
            })
        })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Never true: a rule set has at least one rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl Rule {
    fn check(file: RuleFile) -> Result<Self, String> {
        if file.when.is_empty() {
            return Err("\"when\" is empty; name at least one claim (`{\"sub\": \"*\"}` matches every identity, on purpose)".into());
        }
        let mut when = Vec::with_capacity(file.when.len());
        for (claim, patterns) in file.when {
            let patterns = match patterns {
                OneOrMany::One(p) => vec![p],
                OneOrMany::Many(ps) if !ps.is_empty() => ps,
                OneOrMany::Many(_) => {
                    return Err(format!(
                        "\"when\".{claim:?} is an empty list; give at least one pattern"
                    ))
                }
            };
            when.push((claim, patterns));
        }
        let tier = match Tier::parse(&file.tier) {
            Some(t @ (Tier::Downloader | Tier::Uploader)) => t,
            _ => {
                return Err(format!(
                    "invalid tier {:?}: use \"downloader\" or \"uploader\" (an exchange never grants master)",
                    file.tier
                ))
            }
        };
        let lifetime = humantime::parse_duration(&file.lifetime).map_err(|e| {
            format!(
                "invalid lifetime {:?} ({e}); write e.g. \"15m\" or \"1h\"",
                file.lifetime
            )
        })?;
        if lifetime < Duration::from_secs(60) || lifetime > MAX_EXCHANGE_LIFETIME {
            return Err(format!(
                "lifetime {:?} is outside 1 minute to {} hours",
                file.lifetime,
                MAX_EXCHANGE_LIFETIME.as_secs() / 3600
            ));
        }
        if let Some(patterns) = &file.namespaces {
            check_namespace_templates(patterns)?;
        }
        Ok(Self {
            when,
            tier,
            namespaces: file.namespaces,
            lifetime,
        })
    }

    fn matches(&self, claims: &serde_json::Map<String, Value>) -> bool {
        self.when.iter().all(|(claim, patterns)| {
            claims
                .get(claim)
                .is_some_and(|value| claim_matches(value, patterns))
        })
    }
}

/// Whether `value` (or, for a list, one of its elements) matches one of
/// `patterns`.
fn claim_matches(value: &Value, patterns: &[String]) -> bool {
    match value {
        Value::String(s) => patterns.iter().any(|p| glob(p, s)),
        Value::Number(n) => patterns.iter().any(|p| glob(p, &n.to_string())),
        Value::Bool(b) => patterns
            .iter()
            .any(|p| glob(p, if *b { "true" } else { "false" })),
        Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_array())
            .any(|v| claim_matches(v, patterns)),
        Value::Null | Value::Object(_) => false,
    }
}

/// `*` matches any run of characters (none included); everything else is
/// literal. Linear in practice: greedy with one backtrack point.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Checks namespace patterns that may hold `{claim}` placeholders: with each
/// placeholder replaced by `x`, the pattern must be a valid token pattern.
fn check_namespace_templates(patterns: &[String]) -> Result<(), String> {
    if patterns.is_empty() {
        return Err("\"namespaces\" is empty; leave it out for every namespace".into());
    }
    for pattern in patterns {
        let sample = substitute(pattern, |_| Some("x".to_owned())).ok_or_else(|| {
            format!("namespace pattern {pattern:?} has an unclosed or empty `{{claim}}`")
        })?;
        let valid = match sample.strip_suffix('*') {
            Some(prefix) => {
                prefix.is_empty()
                    || (prefix.as_bytes()[0].is_ascii_alphanumeric()
                        && prefix
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
            }
            None => is_valid_name_part(&sample),
        };
        if !valid {
            return Err(format!(
                "invalid namespace pattern {pattern:?}: use a namespace (`acme`), a prefix and `*` (`platform-*`), or `{{claim}}` for a claim's value (`{{repository_owner}}`)"
            ));
        }
    }
    Ok(())
}

/// `pattern` with each `{name}` replaced by `value(name)`; `None` when a
/// placeholder is malformed or `value` gives none.
fn substitute(pattern: &str, value: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if name.is_empty() {
            return None;
        }
        out.push_str(&value(name)?);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// The scope `patterns` grant for `claims`; `None` when a placeholder's claim
/// is missing or its value is not a valid namespace.
fn rule_scope(
    patterns: &[String],
    claims: &serde_json::Map<String, Value>,
) -> Option<NamespaceScope> {
    let claim_text = |name: &str| match claims.get(name)? {
        Value::String(s) if is_valid_name_part(s) => Some(s.clone()),
        _ => None,
    };
    let filled = patterns
        .iter()
        .map(|p| substitute(p, claim_text))
        .collect::<Option<Vec<_>>>()?;
    NamespaceScope::from_patterns(filled).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: Value) -> serde_json::Map<String, Value> {
        match json {
            Value::Object(map) => map,
            _ => unreachable!("test claims are objects"),
        }
    }

    fn github(owner: &str, git_ref: &str) -> serde_json::Map<String, Value> {
        claims(serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": format!("repo:{owner}/app:ref:{git_ref}"),
            "repository": format!("{owner}/app"),
            "repository_owner": owner,
            "ref": git_ref,
            "run_attempt": 1,
            "groups": ["dev", "platform"],
        }))
    }

    #[test]
    fn first_matching_rule_grants_its_tier_scope_and_lifetime() {
        let rules = ExchangeRules::from_json(
            r#"[
              {"when": {"repository_owner": "acme", "ref": "refs/heads/main"},
               "tier": "uploader", "namespaces": ["acme"], "lifetime": "15m"},
              {"when": {"repository": "acme/*"}, "tier": "downloader", "lifetime": "1h"}
            ]"#,
        )
        .unwrap();
        let main = rules.grant(&github("acme", "refs/heads/main")).unwrap();
        assert_eq!(main.tier, Tier::Uploader);
        assert_eq!(main.namespaces.unwrap().to_string(), "acme");
        assert_eq!(main.lifetime, Duration::from_secs(900));
        assert_eq!(main.rule, 1);
        let branch = rules.grant(&github("acme", "refs/heads/feature")).unwrap();
        assert_eq!(
            (branch.tier, branch.namespaces, branch.rule),
            (Tier::Downloader, None, 2)
        );
        assert_eq!(rules.grant(&github("evil", "refs/heads/main")), None);
    }

    #[test]
    fn patterns_lists_numbers_and_missing_claims() {
        let grant = |when: &str| {
            ExchangeRules::from_json(&format!(
                r#"[{{"when": {when}, "tier": "downloader", "lifetime": "5m"}}]"#
            ))
            .unwrap()
            .grant(&github("acme", "refs/tags/v1.2.0"))
            .is_some()
        };
        assert!(grant(r#"{"ref": ["refs/heads/main", "refs/tags/v*"]}"#));
        assert!(grant(r#"{"sub": "repo:acme/*:ref:refs/tags/*"}"#));
        assert!(grant(r#"{"groups": "platform"}"#));
        assert!(grant(r#"{"run_attempt": "1"}"#));
        assert!(!grant(r#"{"ref": "refs/tags/v2*"}"#));
        assert!(!grant(r#"{"repository_owner": "ACME"}"#), "case counts");
        assert!(
            !grant(r#"{"environment": "*"}"#),
            "a missing claim never matches"
        );
        assert!(!grant(r#"{"repository": "acme"}"#), "no implicit prefix");
        assert!(!grant(r#"{"groups": "plat"}"#));
    }

    #[test]
    fn namespace_templates_take_a_claim_only_when_it_is_a_namespace() {
        let rules = ExchangeRules::from_json(
            r#"[{"when": {"sub": "*"}, "tier": "uploader",
                 "namespaces": ["{repository_owner}", "{repository_owner}-shared-*"], "lifetime": "10m"}]"#,
        )
        .unwrap();
        let scope = rules
            .grant(&github("acme", "x"))
            .unwrap()
            .namespaces
            .unwrap();
        assert!(scope.allows("acme") && scope.allows("acme-shared-vpc"));
        assert!(!scope.allows("other"));
        // A value that is not a namespace grants nothing (no wider scope).
        assert_eq!(rules.grant(&github("a*", "x")), None);
        assert_eq!(rules.grant(&github("a/b", "x")), None);
        assert_eq!(rules.grant(&claims(serde_json::json!({"sub": "x"}))), None);
    }

    #[test]
    fn glob_matches_runs_of_anything() {
        for (p, t) in [
            ("*", ""),
            ("*", "abc"),
            ("a*c", "abbbc"),
            ("a*b*c", "a-b-c"),
            ("**", "x"),
            ("repo:*:ref:*", "repo:a/b:ref:refs/heads/x"),
        ] {
            assert!(glob(p, t), "{p} ~ {t}");
        }
        for (p, t) in [("a", "ab"), ("a*c", "abcd"), ("", "a"), ("a*b*c", "acb")] {
            assert!(!glob(p, t), "{p} !~ {t}");
        }
    }

    #[test]
    fn bad_rule_sets_are_refused_naming_the_rule() {
        for (json, says) in [
            ("[]", "1 to"),
            ("{}", "rule is"),
            ("not json", "not JSON"),
            (
                r#"[{"when": {}, "tier": "uploader", "lifetime": "1m"}]"#,
                "rule 1: \"when\" is empty",
            ),
            (
                r#"[{"when": {"a": []}, "tier": "uploader", "lifetime": "1m"}]"#,
                "empty list",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "master", "lifetime": "1m"}]"#,
                "never grants master",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "13h"}]"#,
                "outside",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "10s"}]"#,
                "outside",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "soon"}]"#,
                "invalid lifetime",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "1m", "namespaces": []}]"#,
                "empty",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "1m", "namespaces": ["a/b"]}]"#,
                "invalid namespace pattern",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "1m", "namespaces": ["{x"]}]"#,
                "unclosed",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "1m", "extra": 1}]"#,
                "unknown field",
            ),
            (
                r#"[{"when": {"a": "b"}, "tier": "uploader", "lifetime": "1m"}, {"when": {"a": "b"}, "tier": "x", "lifetime": "1m"}]"#,
                "rule 2:",
            ),
        ] {
            let e = ExchangeRules::from_json(json).unwrap_err().to_string();
            assert!(e.contains(says), "{json}: {e}");
        }
    }
}
