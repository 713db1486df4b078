//! The HTTP layer's side of the audit log: which requests are audited, what
//! their events say, and `GET /v1/audit`.
//!
//! Every request to a mutating route (publish, delete, pin, token creation
//! and deletion, both exchanges) whose route and method matched is recorded
//! once, when it is answered: refused on its head (`401`, `403`, `400`,
//! `413`), failed in its body, or done. Reads are not audited.

use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::admission::Call;
use super::error::{json, ApiError};
use super::router::Route;
use super::Registry;
use crate::audit::{AuditAction, AuditEvent, AuditId};

/// The most events one `GET /v1/audit` page holds, and the default.
pub(crate) const MAX_AUDIT_PAGE: usize = 1000;
const DEFAULT_AUDIT_PAGE: usize = 100;
/// The longest target recorded (a refused request's raw path parameters can
/// be anything).
const MAX_TARGET_CHARS: usize = 300;

/// `GET /v1/audit?after=ID&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditQuery {
    after: Option<AuditId>,
    limit: usize,
}

impl AuditQuery {
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut parsed = Self {
            after: None,
            limit: DEFAULT_AUDIT_PAGE,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "after" => {
                    parsed.after = Some(AuditId::cursor(value).ok_or_else(|| {
                        ApiError::BadRequest(
                            "invalid \"after\": give the id of an event from a previous page (its \"id\", or the page's meta.next_after)".into(),
                        )
                    })?);
                }
                "limit" => {
                    parsed.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=MAX_AUDIT_PAGE).contains(l))
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!(
                                "invalid \"limit\": give a number from 1 to {MAX_AUDIT_PAGE}"
                            ))
                        })?;
                }
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter {:?}: /v1/audit takes \"after\" and \"limit\"",
                        key.chars().take(40).collect::<String>()
                    )))
                }
            }
        }
        Ok(parsed)
    }
}

/// An event being made: what and by whom; the outcome comes with the answer.
#[derive(Debug)]
pub(crate) struct AuditDraft {
    pub(crate) action: AuditAction,
    pub(crate) target: String,
    pub(crate) actor: String,
    /// A note for a success (an exchange's grant); failures note the answer.
    pub(crate) detail: Option<String>,
}

impl AuditDraft {
    fn new(action: AuditAction, target: String, actor: &str) -> Self {
        Self {
            action,
            target: bounded(&target),
            actor: actor.to_owned(),
            detail: None,
        }
    }

    /// The draft for an admitted call; `None` for reads.
    pub(crate) fn for_call(call: &Call, actor: &str) -> Option<Self> {
        let (action, target) = match call {
            Call::Publish(m, v) => (AuditAction::Publish, format!("{m}/{v}")),
            Call::Delete(m, v) => (AuditAction::Delete, format!("{m}/{v}")),
            Call::Pin(m, v) => (AuditAction::Pin, format!("{m}/{v}")),
            Call::CreateToken => (AuditAction::CreateToken, String::new()),
            Call::DeleteToken(name) => (AuditAction::DeleteToken, name.clone()),
            Call::ExchangeOidc => (AuditAction::ExchangeOidc, String::new()),
            Call::ExchangeAws => (AuditAction::ExchangeAws, String::new()),
            _ => return None,
        };
        Some(Self::new(action, target, actor))
    }

    /// The draft for a request refused on its head, from its route;
    /// `None` for reads.
    pub(crate) fn for_route(route: &Route, method: &Method, actor: &str) -> Option<Self> {
        let join = |m: &[String; 3], v: &str| format!("{}/{}/{}/{v}", m[0], m[1], m[2]);
        let (action, target) = match (route, method) {
            (Route::ModuleVersion { module, version }, &Method::PUT) => {
                (AuditAction::Publish, join(module, version))
            }
            (Route::ModuleVersion { module, version }, &Method::DELETE) => {
                (AuditAction::Delete, join(module, version))
            }
            (Route::Pin { module, version }, &Method::POST) => {
                (AuditAction::Pin, join(module, version))
            }
            (Route::Tokens, &Method::POST) => (AuditAction::CreateToken, String::new()),
            (Route::Token { name }, &Method::DELETE) => (AuditAction::DeleteToken, name.clone()),
            (Route::ExchangeOidc, &Method::POST) => (AuditAction::ExchangeOidc, String::new()),
            (Route::ExchangeAws, &Method::POST) => (AuditAction::ExchangeAws, String::new()),
            _ => return None,
        };
        Some(Self::new(action, target, actor))
    }
}

/// `s` without control characters, cut to [`MAX_TARGET_CHARS`].
fn bounded(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TARGET_CHARS)
        .collect()
}

/// The first message of an error body (`{"errors": ["..."]}`).
fn error_message(body: &Bytes) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(value.get("errors")?.get(0)?.as_str()?.to_owned())
}

impl Registry {
    /// Appends the event for `draft`, answered with `response`. An audit
    /// log that fails does not change the answer (what was done is done);
    /// the event is logged as an error instead, so it is not lost.
    pub(crate) async fn record(&self, draft: AuditDraft, response: &Response<Bytes>) {
        let Some(log) = &self.audit else { return };
        let status = response.status();
        let detail = if status.is_success() {
            draft.detail
        } else {
            error_message(response.body())
        };
        let event = AuditEvent::new(
            self.now(),
            draft.actor,
            draft.action,
            draft.target,
            status.as_u16(),
            detail,
        );
        if let Err(e) = log.append(&event).await {
            tracing::error!(
                error = %e,
                event = %event.to_json(),
                "the audit log could not be written; the event is in this log line instead"
            );
        }
    }

    /// `GET /v1/audit`: a page of events, newest first.
    pub(crate) async fn audit_page(&self, query: &AuditQuery) -> Result<Response<Bytes>, ApiError> {
        let Some(log) = &self.audit else {
            return Err(ApiError::NotFound(
                "this registry keeps no audit log; its operator turns it on in the server's settings".into(),
            ));
        };
        let events = log.list(query.after.as_ref(), query.limit).await?;
        let next = (events.len() == query.limit)
            .then(|| events.last().map(|e| e.id.to_string()))
            .flatten();
        let body = serde_json::json!({
            "meta": {
                "limit": query.limit,
                "next_after": next,
                "next_url": next.as_ref().map(|id| format!("/v1/audit?after={id}&limit={}", query.limit)),
            },
            "events": events.iter().map(AuditEvent::to_json).collect::<Vec<_>>(),
        });
        Ok(json(StatusCode::OK, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_queries_parse_or_say_what_is_wrong() {
        assert_eq!(AuditQuery::parse(None).unwrap().limit, DEFAULT_AUDIT_PAGE);
        let id = AuditId::new(std::time::SystemTime::now());
        let q = AuditQuery::parse(Some(&format!("after={id}&limit=5"))).unwrap();
        assert_eq!((q.after, q.limit), (Some(id), 5));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "after=../x",
            "after=",
            "offset=3",
        ] {
            assert!(AuditQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_are_bounded_and_clean() {
        let t = bounded(&format!("a\nb\u{1b}[31m{}", "x".repeat(1000)));
        assert!(!t.contains('\n') && !t.contains('\u{1b}'));
        assert_eq!(t.chars().count(), MAX_TARGET_CHARS);
    }
}
