//! Admission: the decision on a request's head alone (route, method, caller,
//! declared size), before any of its body is read.

use catalogue_index::NamespaceScope;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use super::error::ApiError;
use super::query::PageQuery;
use super::router::{self, Access, BodyKind, Route};
use super::{parse_module, parse_ver, Registry};
use crate::catalogue::rfc3339;
use crate::signing::SignatureError;
use crate::storage::ArchiveFormat;
use crate::tokens::{Tier, TokenHash};
use crate::{ModuleAddress, Version};

/// The most a request that is not an upload may carry (a token request's
/// JSON, or a body nobody asked for), in bytes.
pub(crate) const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// A token of this tier, limited to these namespaces (`None`: all).
    Token(Tier, Option<NamespaceScope>),
}

/// Who the audit log says asked, as far as admission got: `anonymous`,
/// `invalid token`, a token's name (`master` for the master token), or
/// `NAME (expired)`. Never a secret.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// What an admitted request asks for, with its path parsed into typed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    Discovery,
    OpenApi,
    Health,
    Ready,
    Versions(ModuleAddress),
    Download(ModuleAddress, Version),
    /// `GET /v1/modules` and `GET /v1/modules/{namespace}` (the namespace in
    /// the filter).
    ListModules(PageQuery),
    Search(PageQuery),
    ModuleProviders {
        namespace: String,
        name: String,
    },
    /// A version's details; `None`: the latest's.
    Details(ModuleAddress, Option<Version>),
    DownloadLatest(ModuleAddress),
    Publish(ModuleAddress, Version),
    Delete(ModuleAddress, Version),
    /// A signed archive URL, already verified.
    Archive {
        module: ModuleAddress,
        version: Version,
        format: ArchiveFormat,
    },
    ListTokens,
    CreateToken,
    DeleteToken(String),
    ListPins,
    Pin(ModuleAddress, Version),
    /// `POST /v1/exchange/oidc`: the JWT is in the body.
    ExchangeOidc,
    /// `POST /v1/exchange/aws`: the signed request is in the body.
    ExchangeAws,
    /// `GET /v1/audit`.
    Audit(super::audited::AuditQuery),
}

/// A request the registry has agreed to answer, decided from its head alone.
///
/// Made by [`Registry::admit`]; the adapter then reads at most
/// [`body_limit`](Admitted::body_limit) bytes of body (into
/// [`Registry::body_spool`]) and hands both to [`Registry::respond`].
#[derive(Debug)]
pub struct Admitted {
    pub(crate) head: Parts,
    pub(crate) call: Call,
    pub(crate) body_kind: BodyKind,
    pub(crate) body_limit: usize,
    /// Who asked, for the audit log (see [`ANONYMOUS`]).
    pub(crate) actor: String,
    /// The route template matched.
    pub(crate) route: &'static str,
    /// The request id (see [`AccessInfo`](super::AccessInfo)).
    pub(crate) request_id: String,
    /// Counts an upload in flight until the request is answered.
    pub(crate) _upload: Option<crate::telemetry::UploadInFlight>,
}

impl Admitted {
    /// The most body bytes this request may carry; the adapter stops reading
    /// past it and answers [`AdapterError::BodyTooLarge`](super::AdapterError::BodyTooLarge).
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// What the access log says of this request.
    pub(crate) fn access_info(&self) -> super::AccessInfo {
        super::AccessInfo {
            route: self.route,
            caller: self.actor.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// The request's head.
    pub fn head(&self) -> &Parts {
        &self.head
    }

    /// Whether the request carries a module upload (its body may be large).
    pub fn is_upload(&self) -> bool {
        self.body_kind == BodyKind::Archive
    }
}

/// Limits `call` to `scope`, a namespace-limited token's: a module or
/// namespace outside it is `403` naming the scope; lists and searches answer
/// from inside it only (other namespaces are not even counted).
fn confine(call: &mut Call, scope: NamespaceScope) -> Result<(), ApiError> {
    let check = |namespace: &str| {
        if scope.allows(namespace) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token is limited to the namespaces {scope}; namespace {namespace:?} is outside them"
            )))
        }
    };
    match call {
        Call::Discovery
        | Call::OpenApi
        | Call::Health
        | Call::Ready
        | Call::Archive { .. }
        | Call::ExchangeOidc
        | Call::ExchangeAws => Ok(()),
        Call::Versions(m)
        | Call::Download(m, _)
        | Call::Details(m, _)
        | Call::DownloadLatest(m)
        | Call::Publish(m, _)
        | Call::Delete(m, _)
        | Call::Pin(m, _) => check(m.namespace()),
        Call::ModuleProviders { namespace, .. } => check(namespace),
        Call::ListModules(query) | Call::Search(query) => {
            if let Some(namespace) = &query.filter.namespace {
                check(namespace)?;
            }
            query.filter.scope = Some(scope);
            Ok(())
        }
        // Master-only routes: a limited token (never the master) is refused
        // on its tier before this; kept so no route is ever let through.
        Call::ListTokens
        | Call::CreateToken
        | Call::DeleteToken(_)
        | Call::ListPins
        | Call::Audit(_) => {
            Err(ApiError::Forbidden(format!(
                "this token is limited to the namespaces {scope}; tokens and pins are managed with the master token"
            )))
        }
    }
}

/// The declared body size: `Content-Length`, when present and valid.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl Registry {
    /// The admission decision: route (`404`), method (`405`), caller (`401`,
    /// `403`; token lookups happen here), path parameters (`400`) and the
    /// declared `Content-Length` against this route's limit (`413`).
    ///
    /// `actor` is set to who asked as soon as that is known (see
    /// [`ANONYMOUS`]), so a refusal can be audited too.
    pub(crate) async fn try_admit(
        &self,
        head: Parts,
        actor: &mut String,
    ) -> Result<Admitted, ApiError> {
        let path = head.uri.path();
        let route = router::route(path)
            .ok_or_else(|| ApiError::NotFound(format!("no such route: {path}")))?;
        let spec = route.spec();
        let operation = spec
            .operation(&head.method)
            .ok_or(ApiError::MethodNotAllowed(spec.methods))?;
        let scope = match operation.access {
            Access::Public => None,
            Access::SignedUrl => {
                self.verify_signature(&head.uri)?;
                None
            }
            Access::Tier(tier) => self.authorize(&head.headers, tier, actor).await?,
        };
        let mut call = parse_call(route, &head.method, &head.uri)?;
        // An exchange that is off is refused before its body is read.
        for (exchange, method) in [(Call::ExchangeOidc, "oidc"), (Call::ExchangeAws, "aws")] {
            if call == exchange && !self.exchange_enabled(method) {
                return Err(crate::registry::exchange::not_configured(method).into());
            }
        }
        if let Some(scope) = scope {
            confine(&mut call, scope)?;
        }
        let body_limit = match operation.body {
            BodyKind::Archive => self.config.max_body_bytes,
            BodyKind::None | BodyKind::Json => SMALL_BODY_LIMIT,
        };
        if declared_length(&head.headers).is_some_and(|len| len > body_limit as u64) {
            return Err(ApiError::PayloadTooLarge { limit: body_limit });
        }
        Ok(Admitted {
            head,
            call,
            body_kind: operation.body,
            body_limit,
            actor: std::mem::take(actor),
            route: super::UNMATCHED_ROUTE,
            request_id: String::new(),
            _upload: (operation.body == BodyKind::Archive)
                .then(crate::telemetry::UploadInFlight::start),
        })
    }

    /// Checks the bearer token against `needed`; answers its namespace
    /// scope (`None`: every namespace).
    async fn authorize(
        &self,
        headers: &HeaderMap,
        needed: Tier,
        actor: &mut String,
    ) -> Result<Option<NamespaceScope>, ApiError> {
        match self.caller(headers.get(AUTHORIZATION), actor).await? {
            Caller::Anonymous if needed == Tier::Downloader && self.config.anonymous_reads => {
                Ok(None)
            }
            Caller::Anonymous => Err(ApiError::Unauthorized { invalid: false }),
            Caller::Token(tier, scope) if tier >= needed => Ok(scope),
            Caller::Token(tier, _) => Err(ApiError::Forbidden(format!(
                "this {tier} token cannot {}; a token of tier {needed} or higher is required",
                match needed {
                    Tier::Downloader => "read modules",
                    Tier::Uploader => "publish modules",
                    Tier::Master => "delete versions or manage tokens",
                }
            ))),
        }
    }

    async fn caller(
        &self,
        authorization: Option<&HeaderValue>,
        actor: &mut String,
    ) -> Result<Caller, ApiError> {
        let Some(value) = authorization else {
            return Ok(Caller::Anonymous);
        };
        "invalid token".clone_into(actor);
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized { invalid: true })?;
        let hash = TokenHash::of(token);
        if let Some(master) = &self.config.master_token_hash {
            if master.ct_eq(&hash) {
                Tier::Master.as_str().clone_into(actor);
                return Ok(Caller::Token(Tier::Master, None));
            }
        }
        match self.tokens.find_by_hash(&hash).await? {
            // Checked on every request, whatever a read cache kept.
            Some(record) if record.is_expired(self.now()) => {
                *actor = format!("{} (expired)", record.name);
                Err(ApiError::TokenExpired {
                    name: record.name,
                    at: record.expires_at.map(rfc3339).unwrap_or_default(),
                })
            }
            Some(record) => {
                actor.clone_from(&record.name);
                Ok(Caller::Token(record.tier, record.namespaces))
            }
            None => Err(ApiError::Unauthorized { invalid: true }),
        }
    }

    /// Checks an archive URL's `expires` and `signature` against its path.
    fn verify_signature(&self, uri: &Uri) -> Result<(), ApiError> {
        let query = uri.query().unwrap_or("");
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        };
        self.signer
            .verify(uri.path(), param("expires"), param("signature"), self.unix_now())
            .map_err(|e| {
                ApiError::Forbidden(
                    match e {
                        SignatureError::Missing => "this archive URL is not signed; get a fresh one from the module's download endpoint",
                        SignatureError::Invalid => "this archive URL's signature is invalid; get a fresh one from the module's download endpoint",
                        SignatureError::Expired => "this archive URL has expired; get a fresh one from the module's download endpoint",
                    }
                    .to_owned(),
                )
            })
    }
}

/// The typed call of a matched route: module addresses and versions parsed
/// (`400` when invalid; an archive path that does not parse is `404`, since its
/// signature already proved this registry made it).
fn parse_call(route: Route, method: &Method, uri: &Uri) -> Result<Call, ApiError> {
    let path = uri.path();
    Ok(match route {
        Route::ModuleList => Call::ListModules(PageQuery::parse(uri.query())?),
        Route::Search => {
            let query = PageQuery::parse(uri.query())?;
            if query
                .q
                .as_deref()
                .is_none_or(|q| catalogue_index::tokenize(q).is_empty())
            {
                return Err(ApiError::BadRequest(
                    "the search needs at least one word: give it as ?q=, e.g. /v1/modules/search?q=vpc".into(),
                ));
            }
            Call::Search(query)
        }
        Route::NamespaceList { namespace } => {
            parse_namespace(&namespace)?;
            let mut query = PageQuery::parse(uri.query())?;
            query.filter.namespace = Some(namespace);
            Call::ListModules(query)
        }
        Route::ModuleProviders { namespace, name } => {
            ModuleAddress::new(namespace.as_str(), name.as_str(), "any")
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Call::ModuleProviders { namespace, name }
        }
        Route::Module { module } => Call::Details(parse_module(&module)?, None),
        Route::DownloadLatest { module } => Call::DownloadLatest(parse_module(&module)?),
        Route::Discovery => Call::Discovery,
        Route::OpenApi => Call::OpenApi,
        Route::Health => Call::Health,
        Route::Ready => Call::Ready,
        Route::Versions { module } => Call::Versions(parse_module(&module)?),
        Route::Download { module, version } => {
            Call::Download(parse_module(&module)?, parse_ver(&version)?)
        }
        Route::ModuleVersion { module, version } => {
            let (module, version) = (parse_module(&module)?, parse_ver(&version)?);
            match *method {
                Method::PUT => {
                    // Decided before the body is read.
                    Registry::check_not_reserved(&module)
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    Call::Publish(module, version)
                }
                Method::DELETE => Call::Delete(module, version),
                _ => Call::Details(module, Some(version)),
            }
        }
        Route::Archive { module, file } => {
            let not_found = || ApiError::NotFound(format!("no archive at {path}"));
            let module = parse_module(&module).map_err(|_| not_found())?;
            let (version, format) = ArchiveFormat::split_suffix(&file).ok_or_else(not_found)?;
            let version = parse_ver(version).map_err(|_| not_found())?;
            Call::Archive {
                module,
                version,
                format,
            }
        }
        Route::Tokens if method == Method::POST => Call::CreateToken,
        Route::Tokens => Call::ListTokens,
        Route::Token { name } => Call::DeleteToken(name),
        Route::Pins => Call::ListPins,
        Route::Pin { module, version } => Call::Pin(parse_module(&module)?, parse_ver(&version)?),
        Route::ExchangeOidc => Call::ExchangeOidc,
        Route::ExchangeAws => Call::ExchangeAws,
        Route::Audit => Call::Audit(super::audited::AuditQuery::parse(uri.query())?),
    })
}

/// Checks a namespace by the module address rules (`400` naming the rule).
fn parse_namespace(namespace: &str) -> Result<(), ApiError> {
    ModuleAddress::new(namespace, "any", "any")
        .map(|_| ())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}
