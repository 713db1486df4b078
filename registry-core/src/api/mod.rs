//! The HTTP API: `Registry::handle(http::Request<Bytes>) -> http::Response<Bytes>`.
//!
//! | route | method | who |
//! |---|---|---|
//! | `/.well-known/terraform.json` | GET | anyone |
//! | `/openapi.json` | GET | anyone |
//! | `/v1/modules` | GET | downloader |
//! | `/v1/modules/search` | GET | downloader |
//! | `/v1/modules/{ns}` | GET | downloader |
//! | `/v1/modules/{ns}/{name}` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/download` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/versions` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}/download` | GET | downloader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}` | PUT | uploader |
//! | `/v1/modules/{ns}/{name}/{system}/{version}` | DELETE | master |
//! | `/v1/archives/{ns}/{name}/{system}/{version}.{tar.gz,zip}` | GET | a valid URL signature |
//! | `/v1/tokens` | GET, POST | master |
//! | `/v1/tokens/{name}` | DELETE | master |
//! | `/v1/pins` | GET | master |
//! | `/v1/pins/{ns}/{name}/{system}/{version}` | POST | master |
//! | `/healthz` | GET | anyone (liveness) |
//! | `/readyz` | GET | anyone (readiness, see [`crate::health`]) |
//! | `/v1/exchange/oidc` | POST | anyone (the JWT in the body is the credential) |
//! | `/v1/exchange/aws` | POST | anyone (the signed request in the body is the credential) |
//! | `/v1/audit` | GET | master |
//!
//! `HEAD` is answered wherever `GET` is. "downloader" routes are open to
//! everyone when [`RegistryConfig::anonymous_reads`](crate::RegistryConfig::anonymous_reads) is set. `/openapi.json`
//! is this API's OpenAPI 3 document (`src/api/openapi.json`): every route,
//! method, parameter rule, status and body schema; a test keeps it and the
//! router's route table in step.
//!
//! # Discovery
//!
//! The list, search, providers and details routes answer in the public
//! registry's v1 JSON shape (`meta` with `limit`, `current_offset`,
//! `next_offset`, `next_url`; `modules`; details with `root`, `submodules`,
//! `examples`, `providers`, `versions`), so terraform-ls, Renovate and scripts
//! written for registry.terraform.io read them unchanged. Lists and search are
//! answered from the [catalogue](crate::catalogue) (no storage scan per
//! request); details read the version's metadata document, deriving it from the
//! archive the first time for versions stored before metadata existed.
//! `search`, `versions` and `download` are reserved words
//! ([`RESERVED_WORDS`](crate::RESERVED_WORDS)): refused as a namespace, name or
//! provider on publish and pin, so these routes stay unambiguous.
//!
//! # Upstream proxy and pinning
//!
//! What the registry takes from an upstream registry is its
//! [`UpstreamMode`](crate::UpstreamMode) ([`Registry::with_upstream_mode`]):
//! nothing, pins, or proxied modules.
//!
//! When proxying, `versions` and `download` of a module that has **no local
//! version** are answered from the upstream, if
//! [`RegistryConfig::proxy`](crate::RegistryConfig::proxy)'s allow and deny
//! lists permit the module (`403` otherwise). A module with any local version
//! is never mixed with upstream versions: this blocks dependency confusion (an
//! outsider publishing a higher public version under a private module's
//! address).
//!
//! With archives through the registry
//! ([`ProxiedArchives::ThroughRegistry`](crate::ProxiedArchives::ThroughRegistry),
//! e.g. for a GitHub-backed registry, whose clients have no GitHub access),
//! `download` of such a module answers a signed archive URL of this registry
//! instead of the upstream's location, and the archive route fetches the
//! version from the upstream, cuts the module out like a pin and serves it as a
//! flat `.tar.gz`, keeping it in the archive cache if there is one.
//!
//! With a pin store, `POST /v1/pins/...` fetches a version from the upstream
//! (the lists apply; proxying need not be on), cuts the module out of the
//! archive ([`crate::archive::extract_module`]), publishes it locally and
//! records its origin in the [`PinStore`](crate::PinStore). From then on the
//! module is local. Deleting a pinned version forgets its origin too.

mod access;
mod admission;
mod audited;
mod body;
mod discovery;
mod error;
mod exchange;
mod health;
mod query;
mod responses;
mod router;

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH};
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use catalogue_index::NamespaceScope;

use crate::registry::{Registry, TokenSpec};
use crate::storage::StorageError;
use crate::tokens::{validate_token_name, Tier, MAX_TOKEN_LIFETIME};
use crate::version::parse_version;
use crate::{ModuleAddress, Version};

pub use access::{AccessInfo, REQUEST_ID_HEADER, UNMATCHED_ROUTE};
pub use admission::Admitted;
use admission::{Call, ANONYMOUS};
use audited::AuditDraft;
pub(crate) use body::BodyContent;
pub use body::{BodySpool, RequestBody};
pub(crate) use error::is_transient;
use error::{json, ApiError};
use responses::{
    archive_response, no_content, openapi_response, pin_body, terraform_get, token_body,
    PublishedBody, VersionsBody,
};
pub(crate) use router::MODULES_PREFIX;

/// A failure an adapter meets before it has a whole request to hand over. The
/// registry, not the adapter, decides the status code and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterError {
    /// The body is larger than its route admits (`413`): `limit` is
    /// [`Admitted::body_limit`] (uploads: [`Registry::max_body_bytes`]).
    BodyTooLarge {
        /// The limit, in bytes, the body went past.
        limit: usize,
    },
    /// The client was too slow sending the body (`408`).
    BodyReadTimeout,
    /// The body could not be read (connection reset, bad chunking) (`400`).
    BodyReadFailed,
    /// The upload could not be written to its temporary file (disk full,
    /// unwritable spool directory) (`503`).
    BodySpoolFailed,
}

/// The HTTP entry points.
impl Registry {
    /// The response for a failure an adapter met while reading a request.
    pub fn adapter_error(&self, error: AdapterError) -> Response<Bytes> {
        match error {
            AdapterError::BodyTooLarge { limit } => ApiError::PayloadTooLarge { limit },
            AdapterError::BodyReadTimeout => ApiError::RequestTimeout,
            AdapterError::BodyReadFailed => {
                ApiError::BadRequest("the request body could not be read; send it again".into())
            }
            AdapterError::BodySpoolFailed => ApiError::Storage(StorageError::Unavailable {
                backend: "upload spool",
                message: "the upload could not be written to a temporary file".into(),
            }),
        }
        .into_response()
    }

    /// Answers one request whose body is already in memory: [`admit`](Self::admit),
    /// then [`respond`](Self::respond). The simple entry point for embedders
    /// and tests. Never panics on any input; every error body is JSON
    /// `{"errors":["..."]}`, and 5xx bodies hide internals (they are logged).
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (head, body) = request.into_parts();
        let admitted = match self.admit(head).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        if body.len() > admitted.body_limit() {
            let limit = admitted.body_limit();
            return self
                .refuse(admitted, AdapterError::BodyTooLarge { limit })
                .await;
        }
        self.respond(admitted, RequestBody::from(body)).await
    }

    /// Decides on a request from its head alone, before any of its body is
    /// read: the route (`404`), the method (`405`), the caller's token or the
    /// archive URL's signature (`401`, `403`), the path's module and version
    /// (`400`), and a declared `Content-Length` over the route's limit
    /// (`413`). A refused request is answered with the returned response and
    /// its body must not be read (an adapter closes the connection instead);
    /// an admitted one may carry at most [`Admitted::body_limit`] bytes, read
    /// into [`Registry::body_spool`], then handed to [`Registry::respond`].
    ///
    /// # Errors
    /// The refusal, ready to send (empty for `HEAD`).
    pub async fn admit(&self, head: http::request::Parts) -> Result<Admitted, Response<Bytes>> {
        let head_only = head.method == Method::HEAD;
        let request_id = access::request_id(&head.headers);
        let route = router::route(head.uri.path()).map_or(UNMATCHED_ROUTE, |r| r.spec().template);
        // What a refusal's audit event needs, kept only for requests that
        // may mutate (reads are not audited).
        let audited = (self.audit.is_some()
            && matches!(head.method, Method::PUT | Method::POST | Method::DELETE))
        .then(|| (router::route(head.uri.path()), head.method.clone()));
        let mut actor = ANONYMOUS.to_owned();
        match self.try_admit(head, &mut actor).await {
            Ok(mut admitted) => {
                admitted.route = route;
                admitted.request_id = request_id;
                Ok(admitted)
            }
            Err(e) => {
                let response = e.into_response();
                if let Some((Some(route), method)) = audited {
                    if let Some(draft) = AuditDraft::for_route(&route, &method, &actor) {
                        self.record(draft, &response).await;
                    }
                }
                let info = AccessInfo {
                    route,
                    caller: actor,
                    request_id,
                };
                Err(head_response(access::mark(response, info), head_only))
            }
        }
    }

    /// Answers an admitted request whose body the adapter could not read
    /// (too large, too slow, broken): [`adapter_error`](Self::adapter_error)'s
    /// answer, recorded in the audit log when the request would have
    /// changed something.
    pub async fn refuse(&self, admitted: Admitted, error: AdapterError) -> Response<Bytes> {
        let response = self.adapter_error(error);
        if let Some(draft) = AuditDraft::for_call(&admitted.call, &admitted.actor) {
            self.record(draft, &response).await;
        }
        let head_only = admitted.head.method == Method::HEAD;
        head_response(access::mark(response, admitted.access_info()), head_only)
    }

    /// Where an adapter that streams bodies reads an admitted request's body:
    /// within its limit, and for uploads spooled to a temporary file past
    /// 256 KiB (see [`BodySpool`]).
    pub fn body_spool(&self, admitted: &Admitted) -> BodySpool {
        BodySpool::new(
            admitted.body_limit(),
            admitted.body_kind,
            self.config.spool_dir.clone(),
        )
    }

    /// Answers an [`Admitted`] request with its body. Never panics; errors
    /// are JSON as for [`handle`](Self::handle).
    pub async fn respond(&self, admitted: Admitted, body: RequestBody) -> Response<Bytes> {
        let head_only = admitted.head.method == Method::HEAD;
        let info = admitted.access_info();
        let mut draft = if self.audit.is_some() {
            AuditDraft::for_call(&admitted.call, &admitted.actor)
        } else {
            None
        };
        let response = match self.dispatch(admitted, body, draft.as_mut()).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        if let Some(draft) = draft {
            self.record(draft, &response).await;
        }
        head_response(access::mark(response, info), head_only)
    }

    /// The HTTP layer over the use cases: each call's typed answer as a
    /// response.
    async fn dispatch(
        &self,
        admitted: Admitted,
        body: RequestBody,
        draft: Option<&mut AuditDraft>,
    ) -> Result<Response<Bytes>, ApiError> {
        let head_only = admitted.head.method == Method::HEAD;
        Ok(match admitted.call {
            Call::Discovery => json(
                StatusCode::OK,
                &serde_json::json!({ "modules.v1": MODULES_PREFIX }),
            ),
            Call::OpenApi => openapi_response(),
            Call::Health => health::live(),
            Call::Ready => health::ready(&self.readiness().await),
            Call::Versions(module) => {
                let versions = self.versions(&module).await?;
                json(StatusCode::OK, &VersionsBody::new(&module, &versions))
            }
            Call::Download(module, version) => {
                terraform_get(&self.download_location(&module, &version).await?)
            }
            Call::ListModules(query) => {
                let page = self.list_modules(&query.filter).await?;
                discovery::page_body(admitted.head.uri.path(), &query, &page)
            }
            Call::Search(query) => {
                let page = self
                    .search_modules(query.q.as_deref().unwrap_or(""), &query.filter)
                    .await?;
                discovery::page_body(admitted.head.uri.path(), &query, &page)
            }
            Call::ModuleProviders { namespace, name } => {
                discovery::providers_body(&self.module_providers(&namespace, &name).await?)
            }
            Call::Details(module, version) => {
                discovery::details_body(&self.module_details(&module, version.as_ref()).await?)
            }
            Call::DownloadLatest(module) => {
                let versions = self.versions(&module).await?;
                let latest = crate::registry::latest_version(&versions).ok_or_else(|| {
                    ApiError::NotFound(format!("module {module} has no versions"))
                })?;
                discovery::redirect(&format!("{MODULES_PREFIX}{module}/{latest}/download"))
            }
            Call::Archive {
                module,
                version,
                format,
            } if head_only => responses::archive_head_response(
                &self.archive_head(&module, &version, format).await?,
            ),
            Call::Archive {
                module,
                version,
                format,
            } => archive_response(&self.archive(&module, &version, format).await?),
            Call::Publish(module, version) => {
                let published = self.publish(&module, &version, body).await?;
                json(StatusCode::CREATED, &PublishedBody::from(&published))
            }
            Call::Delete(module, version) => {
                self.delete(&module, &version).await?;
                no_content()
            }
            Call::ListTokens => {
                let list: Vec<_> = self.tokens().await?.iter().map(token_body).collect();
                json(StatusCode::OK, &serde_json::json!({ "tokens": list }))
            }
            Call::CreateToken => {
                let bytes = small_body(body, admitted.body_limit)?;
                self.create_token_from_json(&bytes, draft).await?
            }
            Call::ExchangeOidc => {
                let bytes = small_body(body, admitted.body_limit)?;
                let jwt = exchange::oidc_token(&bytes)?;
                exchange::answer(self.exchange_oidc(&jwt).await, draft)?
            }
            Call::ExchangeAws => {
                let bytes = small_body(body, admitted.body_limit)?;
                let request = exchange::signed_request(&bytes)?;
                exchange::answer(self.exchange_aws(&request).await, draft)?
            }
            Call::Audit(query) => self.audit_page(&query).await?,
            Call::DeleteToken(name) => {
                self.delete_token(&name).await?;
                no_content()
            }
            Call::ListPins => {
                let list: Vec<_> = self.pins().await?.iter().map(pin_body).collect();
                json(StatusCode::OK, &serde_json::json!({ "pins": list }))
            }
            Call::Pin(module, version) => {
                let pinned = self.pin(&module, &version).await?;
                let mut body = pin_body(&pinned.record);
                body["size"] = pinned.size.into();
                json(StatusCode::CREATED, &body)
            }
        })
    }

    /// `POST /v1/tokens` with `{"name":"ci","tier":"uploader"}`, optionally
    /// with `"expires_in": SECONDS` or `"expires_at": "RFC 3339 time"`.
    async fn create_token_from_json(
        &self,
        body: &[u8],
        draft: Option<&mut AuditDraft>,
    ) -> Result<Response<Bytes>, ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct CreateToken {
            name: String,
            tier: String,
            expires_in: Option<u64>,
            expires_at: Option<String>,
            namespaces: Option<Vec<String>>,
        }
        let request: CreateToken = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "invalid JSON body ({e}); send {{\"name\":\"ci\",\"tier\":\"uploader\"}} with tier \"uploader\" or \"downloader\", and optionally \"expires_in\" (seconds) or \"expires_at\" (e.g. \"2027-01-31T00:00:00Z\") and \"namespaces\" (e.g. [\"acme\", \"platform-*\"])"
            ))
        })?;
        validate_token_name(&request.name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if let Some(draft) = draft {
            draft.target.clone_from(&request.name);
        }
        let tier = match Tier::parse(&request.tier) {
            Some(t @ (Tier::Uploader | Tier::Downloader)) => t,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid tier {:?}: use \"uploader\" or \"downloader\" (the master token comes from the server's configuration)",
                    request.tier
                )))
            }
        };
        let expires_at = match (request.expires_in, request.expires_at.as_deref()) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either \"expires_in\" or \"expires_at\", not both".into(),
                ))
            }
            (Some(0), None) => {
                return Err(ApiError::BadRequest(
                    "\"expires_in\" must be at least 1 second; leave it out for a token that does not expire".into(),
                ))
            }
            (Some(secs), None) if secs > MAX_TOKEN_LIFETIME.as_secs() => {
                return Err(ApiError::BadRequest(format!(
                    "\"expires_in\" is {secs} seconds, more than the longest lifetime a token may have ({} seconds); leave it out for a token that does not expire",
                    MAX_TOKEN_LIFETIME.as_secs()
                )))
            }
            (Some(secs), None) => {
                Some(UNIX_EPOCH + Duration::from_secs(self.unix_now() + secs))
            }
            (None, Some(at)) => Some(parse_rfc3339(at).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid \"expires_at\" {at:?}: give an RFC 3339 time, e.g. \"2027-01-31T00:00:00Z\" or \"2027-01-31T09:00:00+09:00\""
                ))
            })?),
        };
        let mut spec = TokenSpec::new(request.name, tier);
        spec.expires_at = expires_at;
        // Only the master token manages tokens.
        spec.created_by = Some(Tier::Master.as_str().to_owned());
        // Each pattern's rule is the registry's (`create_token_with`).
        spec.namespaces = request
            .namespaces
            .map(NamespaceScope::from_patterns)
            .transpose()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let created = self.create_token_with(spec).await?;
        let mut body = token_body(&created.record);
        body["token"] = created.token.expose_secret().into();
        let mut r = json(StatusCode::CREATED, &body);
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(r)
    }
}

/// A small JSON body (token requests, exchanges): in memory, by its route's limit.
fn small_body(body: RequestBody, limit: usize) -> Result<Bytes, ApiError> {
    match body.into_content() {
        BodyContent::Memory(bytes) => Ok(bytes),
        BodyContent::File(_) => Err(ApiError::PayloadTooLarge { limit }),
    }
}

/// An RFC 3339 time (any UTC offset, fractions of a second dropped); `None`
/// if `s` is not one or is before 1970.
fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

pub(crate) fn parse_module([ns, name, system]: &[String; 3]) -> Result<ModuleAddress, ApiError> {
    ModuleAddress::new(ns.as_str(), name.as_str(), system.as_str())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// The longest version the API takes. Storage puts a version in file names, with
/// the module's name and system (up to 64 characters each): at most 100 keeps
/// those within the usual 255-byte limit (a longer one failed there with a 500).
const MAX_VERSION_LEN: usize = 100;

pub(crate) fn parse_ver(s: &str) -> Result<Version, ApiError> {
    if s.len() > MAX_VERSION_LEN {
        return Err(ApiError::BadRequest(format!(
            "invalid version: it is {} characters long; this registry takes versions of at most {MAX_VERSION_LEN}",
            s.len()
        )));
    }
    parse_version(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// A `HEAD` answer is the `GET` answer without its body (and with its length).
/// Answers made for `HEAD` itself (an archive's) keep their
/// `Content-Length`, or have none when it is unknown.
fn head_response(mut response: Response<Bytes>, head_only: bool) -> Response<Bytes> {
    if head_only {
        let len = response.body().len();
        *response.body_mut() = Bytes::new();
        let made_for_head = response.headers().contains_key(CONTENT_LENGTH)
            || response
                .extensions_mut()
                .remove::<responses::UnknownLength>()
                .is_some();
        if !made_for_head {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_with_any_offset_to_the_second() {
        let at = |secs: u64| Some(UNIX_EPOCH + Duration::from_secs(secs));
        // 2027-01-31T00:00:00Z
        let midnight = 1_801_353_600;
        for s in [
            "2027-01-31T00:00:00Z",
            "2027-01-31t00:00:00z",
            "2027-01-31T09:00:00+09:00",
            "2027-01-30T19:00:00-05:00",
            "2027-01-31T00:00:00.999Z",
            // RFC 3339 allows a space for the T.
            "2027-01-31 00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(s), at(midnight), "{s}");
        }
        for s in [
            "1969-12-31T23:59:59Z",
            "2027-01-31",
            "2027-01-31T00:00:00",
            "2027-02-30T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}
