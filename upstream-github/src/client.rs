//! [`GithubUpstream`]: the `Upstream` port over the GitHub REST API.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use registry_core::{FetchedArchive, ModuleAddress, Upstream, UpstreamError, Version};
use reqwest::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, LOCATION,
};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::time::Instant;
use upstream_http::{
    build_client, check_base_url, host_port, json, read_body, retry_after, shown_url,
    with_trailing_slash, Answer, AttemptError, Cache, ClientError, Fail, Overflow, Retries,
    Verdict, PATH_SEGMENT,
};

use crate::config::{ConfigError, GithubApp, GithubAuth, GithubConfig};
use crate::follow::{next_page, redirect_target, NextPage, PageRefusal, RedirectRefusal};
use crate::rate_limit::rate_limit_wait;
use crate::tags::{next_link, TagList};

/// The media type GitHub recommends asking for.
const GITHUB_JSON: &str = "application/vnd.github+json";
/// The REST API version this client is written against.
const API_VERSION: &str = "2022-11-28";
/// Installation tokens are refreshed this long before they expire.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long a discovered installation id is kept.
const INSTALLATION_TTL: Duration = Duration::from_secs(3600);
/// Pages of 100 tags followed at most (10,000 tags).
const MAX_PAGES: usize = 100;
/// Redirects followed at most from the API's tarball answer.
const MAX_REDIRECTS: usize = 5;
/// The most of a non-2xx body read (for GitHub's `message`).
const ERROR_BODY_CAP: u64 = 64 * 1024;

/// Characters encoded in one path segment (owner, repo, tag): `+` too.
const SEGMENT: &AsciiSet = &PATH_SEGMENT.add(b'+');

/// Characters encoded in the `ref=` query value of a go-getter address:
/// everything but unreserved characters, so `+` (build metadata) is not read
/// as a space.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// GitHub repositories as this registry's upstream: each module is a
/// repository, each SemVer tag a version.
///
/// Implements [`Upstream`]: version lists come from the repository's tags
/// (cached, revalidated with `If-None-Match`), download locations are
/// `git::https://github.com/OWNER/REPO?ref=TAG`, and
/// [`Upstream::fetch_archive`] fetches the tag's tarball. See the
/// [crate documentation](crate) for the details.
pub struct GithubUpstream {
    config: GithubConfig,
    name: String,
    /// `scheme://host[:port]/` of the web UI, for `git::` sources.
    web_base: Url,
    client: reqwest::Client,
    /// `Bearer <PAT>`, marked sensitive.
    token: Option<HeaderValue>,
    api_requests: AtomicU64,
    tags: Cache<RepoKey, Option<Arc<TagList>>, Fail>,
    /// Each repository's last tag pages with their ETags, kept past the tag
    /// list's TTL for conditional requests.
    pages: Mutex<HashMap<RepoKey, Arc<Vec<Page>>>>,
    /// Owner (lowercase) -> installation id, when discovered.
    installations: Cache<String, Discovery, Fail>,
    /// Installation id -> its token.
    tokens: Cache<u64, InstallationToken, Fail>,
}

impl fmt::Debug for GithubUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubUpstream")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("api_requests", &self.api_requests())
            .field("tags", &self.tags)
            .field("installations", &self.installations)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl GithubUpstream {
    /// Builds the HTTP client (rustls with *ring*; the webpki roots plus any
    /// [`extra_root_certificates`](GithubConfig::extra_root_certificates)).
    /// Makes no request: credentials are first used, and installation tokens
    /// first requested, on the first lookup.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`], naming the field, for an API base that is not
    /// http(s) (or has credentials, a query or a fragment), a token or user
    /// agent that cannot be sent in a header, or PEM text holding no valid
    /// certificate; [`ConfigError::Client`] if the client cannot be built.
    pub fn new(mut config: GithubConfig) -> Result<Self, ConfigError> {
        // Shown without credentials or query: those are what a refused URL may hold.
        check_base_url(&config.api_base).map_err(|r| ConfigError::Invalid {
            field: "api_base",
            reason: format!("{}: {r}", shown_url(&config.api_base)),
        })?;
        with_trailing_slash(&mut config.api_base);
        let name = host_port(&config.api_base);
        let web_base = web_base(&config.api_base);
        let token = match &config.auth {
            GithubAuth::Token(token) => Some(bearer(token.trim()).map_err(|()| {
                ConfigError::Invalid {
                    field: "auth",
                    reason:
                        "the GitHub token is empty or holds characters an HTTP header cannot carry"
                            .to_owned(),
                }
            })?),
            GithubAuth::None | GithubAuth::App(_) => None,
        };
        if config.user_agent.trim().is_empty() || HeaderValue::from_str(&config.user_agent).is_err()
        {
            return Err(ConfigError::Invalid {
                field: "user_agent",
                reason: "the user agent must be non-empty text an HTTP header can carry (GitHub refuses requests without one)"
                    .to_owned(),
            });
        }
        let builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // Redirects are followed by hand: credentials never leave the API host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.clone());
        let client =
            build_client(builder, &config.extra_root_certificates).map_err(|e| match e {
                ClientError::Certificate(reason) => ConfigError::Invalid {
                    field: "extra_root_certificates",
                    reason,
                },
                ClientError::Build(e) => ConfigError::Client(Box::new(e)),
            })?;
        let entries = config.max_cache_entries;
        Ok(Self {
            config,
            name,
            web_base,
            client,
            token,
            api_requests: AtomicU64::new(0),
            tags: Cache::new(entries),
            pages: Mutex::new(HashMap::new()),
            installations: Cache::new(entries),
            tokens: Cache::new(entries),
        })
    }

    /// The upstream's name: `host[:port]` of the API base (e.g.
    /// `api.github.com`). Every [`UpstreamError`] and [`FetchedArchive`]
    /// names it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many HTTP requests have been sent to the API host so far: every
    /// attempt, token exchanges, installation lookups and `304`s included;
    /// tarball downloads from the codeload host not.
    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::Relaxed)
    }

    /// The configuration in use (the API base normalised to end in `/`).
    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    fn error(&self, fail: Fail) -> UpstreamError {
        fail.into_error(&self.name)
    }

    fn not_found(&self) -> UpstreamError {
        UpstreamError::NotFound {
            upstream: self.name.clone(),
        }
    }

    /// `{api_base}{segments...}`, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> Result<Url, Fail> {
        let mut relative = String::from(".");
        for segment in segments {
            relative.push('/');
            relative.extend(utf8_percent_encode(segment, SEGMENT));
        }
        self.config
            .api_base
            .join(&relative)
            .map_err(|e| Fail::other(format!("cannot build an API URL: {e}")))
    }

    /// `git::{web}/{owner}/{repo}?ref={tag}`.
    fn source(&self, owner: &str, repo: &str, tag: &str) -> String {
        format!(
            "git::{}{owner}/{repo}?ref={}",
            self.web_base,
            utf8_percent_encode(tag, QUERY_VALUE)
        )
    }

    // ------------------------------------------------------------ tags

    /// The tags of the repository holding `module`, `None` if there is none
    /// (or the credentials cannot see it), with the repository.
    async fn tags_for(
        &self,
        module: &ModuleAddress,
    ) -> Result<(Option<Arc<TagList>>, String, String), Fail> {
        let (owner, repo) = self.config.repos.repo_for(module);
        let key = RepoKey::new(&owner, &repo);
        let (found, missing) = (self.config.tags_ttl, self.config.not_found_ttl);
        let ttl = |v: &Option<Arc<TagList>>| if v.is_some() { found } else { missing };
        let tags = self
            .tags
            .get_or_fetch(&key, ttl, || self.fetch_tags(&owner, &repo, &key))
            .await?;
        Ok((tags, owner, repo))
    }

    /// Lists every tag page, conditionally where a previous listing left an ETag.
    async fn fetch_tags(
        &self,
        owner: &str,
        repo: &str,
        key: &RepoKey,
    ) -> Result<Option<Arc<TagList>>, Fail> {
        let Some(auth) = self.api_auth(owner, repo).await? else {
            self.forget_pages(key);
            return Ok(None);
        };
        let previous = self.stored_pages(key);
        let mut url = self.api_url(&["repos", owner, repo, "tags"])?;
        url.set_query(Some("per_page=100"));
        let mut pages: Vec<Page> = Vec::new();
        let mut reused = 0usize;
        loop {
            let shown = shown_url(&url);
            let stored = previous
                .as_ref()
                .and_then(|p| p.iter().find(|page| page.url == url));
            let etag = stored.and_then(|s| s.etag.as_deref());
            let answer = self
                .send(Request {
                    method: Method::GET,
                    url: &url,
                    auth: &auth,
                    if_none_match: etag,
                    target: Target::Api,
                })
                .await?;
            let page = match answer.status {
                StatusCode::NOT_MODIFIED => match stored {
                    Some(stored) if etag.is_some() => {
                        reused += 1;
                        stored.clone()
                    }
                    _ => {
                        return Err(Fail::other(format!(
                            "{shown} answered 304 Not Modified to a request without If-None-Match"
                        )))
                    }
                },
                StatusCode::OK => {
                    let tags = parse_tag_names(&shown, &answer.body)?;
                    let next = next_link(&answer.headers, &url).map_err(|e| {
                        Fail::other(format!("{shown} answered an unusable Link header: {e}"))
                    })?;
                    let etag = answer
                        .headers
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    Page {
                        url: url.clone(),
                        etag,
                        tags,
                        next,
                    }
                }
                StatusCode::NOT_FOUND => {
                    tracing::debug!(upstream = %self.name, repo = %format_args!("{owner}/{repo}"), "no such repository (or the credentials cannot see it)");
                    self.forget_pages(key);
                    return Ok(None);
                }
                other => return Err(unexpected_status(&shown, other, &answer.body)),
            };
            let next = page.next.clone();
            pages.push(page);
            let listed: Vec<&Url> = pages.iter().map(|p| &p.url).collect();
            match next_page(next.as_ref(), &listed, &self.config.api_base, MAX_PAGES) {
                Ok(NextPage::Follow(next)) => url = next,
                Ok(NextPage::Done) => break,
                Ok(NextPage::Capped) => {
                    tracing::warn!(upstream = %self.name, repo = %format_args!("{owner}/{repo}"), pages = MAX_PAGES, "the repository has more tag pages than this registry lists; later tags are ignored");
                    break;
                }
                Err(PageRefusal::OtherOrigin(other)) => {
                    return Err(Fail::other(format!(
                        "{shown} answered a Link to a next page on another host ({other}); credentials are only sent to {}",
                        self.name
                    )))
                }
                Err(PageRefusal::Loop) => {
                    return Err(Fail::other(format!(
                        "{shown} answered a Link to a page already listed (pagination loops)"
                    )))
                }
            }
        }
        let list = TagList::new(pages.iter().flat_map(|p| p.tags.iter()), |tag, why| {
            tracing::debug!(upstream = %self.name, repo = %format_args!("{owner}/{repo}"), tag, why, "skipping a tag that is not a version");
        });
        tracing::debug!(upstream = %self.name, repo = %format_args!("{owner}/{repo}"), pages = pages.len(), not_modified = reused, versions = list.len(), "listed tags");
        self.store_pages(key, pages);
        Ok(Some(Arc::new(list)))
    }

    fn stored_pages(&self, key: &RepoKey) -> Option<Arc<Vec<Page>>> {
        self.lock_pages().get(key).cloned()
    }

    fn store_pages(&self, key: &RepoKey, pages: Vec<Page>) {
        let max = self.config.max_cache_entries.max(1);
        let mut map = self.lock_pages();
        if !map.contains_key(key) && map.len() >= max {
            // Arbitrary victims, down to 90%: they only lose their ETags.
            let excess = map.len() + 1 - (max - max / 10).max(1);
            let victims: Vec<RepoKey> = map.keys().take(excess).cloned().collect();
            for k in victims {
                map.remove(&k);
            }
        }
        map.insert(key.clone(), Arc::new(pages));
    }

    fn forget_pages(&self, key: &RepoKey) {
        self.lock_pages().remove(key);
    }

    fn lock_pages(&self) -> std::sync::MutexGuard<'_, HashMap<RepoKey, Arc<Vec<Page>>>> {
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ------------------------------------------------------------ auth

    /// The credentials for API requests about `owner/repo`; `None` if a
    /// GitHub App is configured but no installation of it can see the
    /// repository.
    async fn api_auth(&self, owner: &str, repo: &str) -> Result<Option<Auth>, Fail> {
        match &self.config.auth {
            GithubAuth::None => Ok(Some(Auth::none())),
            GithubAuth::Token(_) => Ok(Some(Auth {
                header: self.token.clone(),
                kind: AuthKind::Token,
            })),
            GithubAuth::App(app) => {
                let id = match app.installation_id() {
                    Some(id) => id,
                    None => match self.installation_for(app, owner, repo).await? {
                        Some(id) => id,
                        None => return Ok(None),
                    },
                };
                let token = self.installation_token(app, id, owner).await?;
                Ok(Some(Auth {
                    header: Some(token.header),
                    kind: AuthKind::Installation(id),
                }))
            }
        }
    }

    /// The App's installation on `owner` (found through `owner/repo`), cached
    /// per owner; `None` if no installation can see `owner/repo`.
    async fn installation_for(
        &self,
        app: &GithubApp,
        owner: &str,
        repo: &str,
    ) -> Result<Option<u64>, Fail> {
        let key = owner.to_ascii_lowercase();
        let asked = RepoKey::new(owner, repo);
        let ttl = |d: &Discovery| match d {
            Discovery::Installed(_) => INSTALLATION_TTL,
            // Shared with the callers waiting on this lookup, then dropped:
            // another repository of the owner may well be visible.
            Discovery::NotVisible(_) => Duration::ZERO,
        };
        // A concurrent lookup through another repository may answer "not
        // visible" for that one: then look again through this one.
        for _ in 0..3 {
            match self
                .installations
                .get_or_fetch(&key, ttl, || self.discover_installation(app, owner, repo))
                .await?
            {
                Discovery::Installed(id) => return Ok(Some(id)),
                Discovery::NotVisible(through) if through == asked => return Ok(None),
                Discovery::NotVisible(_) => {}
            }
        }
        match self.discover_installation(app, owner, repo).await? {
            Discovery::Installed(id) => Ok(Some(id)),
            Discovery::NotVisible(_) => Ok(None),
        }
    }

    async fn discover_installation(
        &self,
        app: &GithubApp,
        owner: &str,
        repo: &str,
    ) -> Result<Discovery, Fail> {
        let url = self.api_url(&["repos", owner, repo, "installation"])?;
        let shown = shown_url(&url);
        let auth = self.jwt_auth(app)?;
        let answer = self
            .send(Request {
                method: Method::GET,
                url: &url,
                auth: &auth,
                if_none_match: None,
                target: Target::Api,
            })
            .await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                tracing::warn!(upstream = %self.name, app_id = app.app_id(), repo = %format_args!("{owner}/{repo}"), "no installation of the GitHub App can see this repository (or it does not exist)");
                return Ok(Discovery::NotVisible(RepoKey::new(owner, repo)));
            }
            other => return Err(unexpected_status(&shown, other, &answer.body)),
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let installation: Installation = json(&shown, &answer.body)?;
        tracing::info!(upstream = %self.name, app_id = app.app_id(), owner, installation_id = installation.id, "discovered the GitHub App's installation");
        Ok(Discovery::Installed(installation.id))
    }

    /// Installation `id`'s token: cached until 5 minutes before it expires;
    /// concurrent refreshes share one exchange.
    async fn installation_token(
        &self,
        app: &GithubApp,
        id: u64,
        owner: &str,
    ) -> Result<InstallationToken, Fail> {
        let ttl = |t: &InstallationToken| t.refresh_at.saturating_duration_since(Instant::now());
        self.tokens
            .get_or_fetch(&id, ttl, || self.exchange_token(app, id, owner))
            .await
    }

    /// `POST /app/installations/{id}/access_tokens`, as the App.
    async fn exchange_token(
        &self,
        app: &GithubApp,
        id: u64,
        owner: &str,
    ) -> Result<InstallationToken, Fail> {
        let url = self.api_url(&["app", "installations", &id.to_string(), "access_tokens"])?;
        let shown = shown_url(&url);
        let auth = self.jwt_auth(app)?;
        let answer = self
            .send(Request {
                method: Method::POST,
                url: &url,
                auth: &auth,
                if_none_match: None,
                target: Target::Api,
            })
            .await?;
        match answer.status {
            StatusCode::CREATED | StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                // A discovered installation may have been removed since.
                self.installations.remove(&owner.to_ascii_lowercase());
                let hint = match app.installation_id() {
                    Some(_) => "check the App's installation id (`installation_id`: the number in the installation's settings URL)",
                    None => "it was discovered earlier and may have been uninstalled since; it is looked up again on the next request",
                };
                return Err(Fail::other(format!(
                    "{shown} answered HTTP 404: GitHub App {} has no installation {id}; {hint}",
                    app.app_id()
                )));
            }
            other => return Err(unexpected_status(&shown, other, &answer.body)),
        }
        #[derive(Deserialize)]
        struct Token {
            token: String,
            expires_at: Option<String>,
        }
        let token: Token = json(&shown, &answer.body)?;
        let header = bearer(&token.token).map_err(|()| {
            Fail::other(format!(
                "{shown} answered an installation token that cannot be sent in a header"
            ))
        })?;
        let now = SystemTime::now();
        let lifetime = match token
            .expires_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339(t.trim()).ok())
        {
            Some(at) => at.duration_since(now).unwrap_or_default(),
            None => {
                tracing::warn!(upstream = %self.name, installation_id = id, "the installation token's expires_at is missing or not RFC 3339; assuming it lasts 6 minutes");
                TOKEN_REFRESH_MARGIN + Duration::from_secs(60)
            }
        };
        let usable = lifetime.saturating_sub(TOKEN_REFRESH_MARGIN);
        tracing::info!(upstream = %self.name, app_id = app.app_id(), installation_id = id, valid_secs = lifetime.as_secs(), "obtained an installation token");
        Ok(InstallationToken {
            header,
            refresh_at: Instant::now() + usable,
        })
    }

    fn jwt_auth(&self, app: &GithubApp) -> Result<Auth, Fail> {
        let jwt = app
            .jwt(SystemTime::now())
            .map_err(|e| Fail::other(format!("cannot sign the GitHub App's JWT: {e}")))?;
        let header = bearer(&jwt)
            .map_err(|()| Fail::other("the GitHub App's JWT cannot be sent in a header".into()))?;
        Ok(Auth {
            header: Some(header),
            kind: AuthKind::Jwt,
        })
    }

    /// What the credentials of `kind` are, for messages.
    fn describe(&self, kind: AuthKind) -> String {
        match (kind, &self.config.auth) {
            (AuthKind::None, _) => {
                "unauthenticated requests (no credentials are configured)".to_owned()
            }
            (AuthKind::Token, _) => "the token (`auth`)".to_owned(),
            (AuthKind::Installation(id), GithubAuth::App(app)) => format!(
                "the installation token of GitHub App {} installation {id}",
                app.app_id()
            ),
            (AuthKind::Jwt, GithubAuth::App(app)) => {
                format!("the JWT of GitHub App {}", app.app_id())
            }
            (AuthKind::Installation(_) | AuthKind::Jwt, _) => "a GitHub App".to_owned(),
        }
    }

    /// Why GitHub answered 401, and what to do.
    fn refused(&self, shown: &str, kind: AuthKind, body: &[u8]) -> Fail {
        let says = github_message(body);
        let advice = match kind {
            AuthKind::None => {
                return Fail::other(format!(
                    "{shown} answered HTTP 401{says}: GitHub wants credentials and none are configured; configure a token or a GitHub App (`auth`)"
                ))
            }
            AuthKind::Token => "the token is invalid, expired or revoked: configure a new one",
            AuthKind::Installation(_) => "a new installation token is requested on the next call",
            AuthKind::Jwt => "check that the App id (`app_id`, its App ID or client ID) belongs to this private key, and that this machine's clock is right",
        };
        Fail::other(format!(
            "{shown} answered HTTP 401{says}: GitHub refused {}; {advice}",
            self.describe(kind)
        ))
    }

    // ------------------------------------------------------------ HTTP

    /// Sends `request` with retries (see the crate docs). Returns every
    /// answer that is not retried and is not a refusal (401, 403, rate limits).
    async fn send(&self, request: Request<'_>) -> Result<Answer, Fail> {
        let shown = shown_url(request.url);
        let retries = Retries {
            upstream: &self.name,
            peer: "GitHub",
            max_attempts: self.config.max_attempts,
            backoff: self.config.backoff,
            max_retry_wait: self.config.max_retry_wait,
            timeout: self.config.timeout,
        };
        retries
            .run(
                &request.method,
                &shown,
                || self.attempt(&request),
                |answer, attempt| self.judge(&request, &shown, answer, attempt),
            )
            .await
    }

    /// Which answers are retried: rate limits (`403`/`429` with GitHub's
    /// headers, after their wait, unless it is longer than `max_retry_wait`),
    /// other `429`s and `5xx`; `401` and `403` fail at once, saying whose
    /// credentials were refused.
    fn judge(&self, request: &Request<'_>, shown: &str, answer: &Answer, attempt: u32) -> Verdict {
        let status = answer.status;
        tracing::debug!(upstream = %self.name, method = %request.method, url = %shown, status = status.as_u16(), attempt, "GitHub answered");
        let limited = if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS
        {
            rate_limit_wait(&answer.headers, SystemTime::now())
        } else {
            None
        };
        if let Some(wait) = limited {
            let fail = Fail::Unavailable {
                message: format!(
                    "{shown} answered HTTP {status}: GitHub's rate limit for {} is used up; retry after {} s{}",
                    self.describe(request.auth.kind),
                    wait.as_secs(),
                    if request.auth.kind == AuthKind::None {
                        " (configure a token or a GitHub App, `auth`, for a higher limit)"
                    } else {
                        ""
                    }
                ),
                retry_after: Some(wait),
            };
            if wait > self.config.max_retry_wait {
                tracing::warn!(upstream = %self.name, url = %shown, status = status.as_u16(), retry_after_secs = wait.as_secs(), "GitHub rate limit; giving up until it resets");
                return Verdict::Fail(fail);
            }
            Verdict::Retry {
                fail,
                wait: Some(wait),
            }
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let message = format!("{shown} answered HTTP {status} (attempt {attempt})");
            let retry_after = retry_after(&answer.headers, SystemTime::now());
            Verdict::Retry {
                fail: Fail::from_status(status, message, retry_after),
                wait: None,
            }
        } else if status == StatusCode::UNAUTHORIZED {
            if let AuthKind::Installation(id) = request.auth.kind {
                self.tokens.remove(&id);
            }
            Verdict::Fail(match request.target {
                Target::Api => self.refused(shown, request.auth.kind, &answer.body),
                Target::Codeload => Fail::other(format!(
                    "{shown} answered HTTP 401: the archive host refused the download link GitHub gave (no credentials are sent to it)"
                )),
            })
        } else if status == StatusCode::FORBIDDEN {
            Verdict::Fail(Fail::other(match request.target {
                Target::Api => format!(
                    "{shown} answered HTTP 403{}: GitHub denied access to {} (for a token: check its scopes and the repositories it may read; for an App: its permissions, which need Contents: read, and the installation's repositories)",
                    github_message(&answer.body),
                    self.describe(request.auth.kind)
                ),
                Target::Codeload => format!(
                    "{shown} answered HTTP 403: the archive host refused the download link GitHub gave (no credentials are sent to it)"
                ),
            }))
        } else {
            Verdict::Accept
        }
    }

    /// One attempt of `request`. The body is read in chunks up to
    /// `max_archive_bytes` (error bodies: 64 KiB).
    async fn attempt(&self, request: &Request<'_>) -> Result<Answer, AttemptError> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone());
        if request.target == Target::Api {
            builder = builder
                .header(ACCEPT, GITHUB_JSON)
                .header("x-github-api-version", API_VERSION);
            if let Some(auth) = &request.auth.header {
                builder = builder.header(AUTHORIZATION, auth.clone());
            }
            if let Some(etag) = request.if_none_match {
                if let Ok(value) = HeaderValue::from_str(etag) {
                    builder = builder.header(IF_NONE_MATCH, value);
                }
            }
            if request.method == Method::POST {
                builder = builder.header(CONTENT_LENGTH, 0);
            }
            self.api_requests.fetch_add(1, Ordering::Relaxed);
        }
        let response = builder.send().await.map_err(AttemptError::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        let (cap, overflow) = if status.is_success() {
            (self.config.max_archive_bytes, Overflow::Refuse)
        } else {
            // Enough of an error body to read GitHub's message.
            (
                ERROR_BODY_CAP.min(self.config.max_archive_bytes),
                Overflow::Truncate,
            )
        };
        let too_large = || {
            let shown = shown_url(request.url);
            match request.target {
                Target::Codeload => Fail::Unsupported(format!(
                    "the tarball {shown} is larger than this registry's limit of {cap} bytes (max_archive_bytes)"
                )),
                Target::Api => Fail::other(format!(
                    "{shown} answered more than this registry's limit of {cap} bytes"
                )),
            }
        };
        let body = read_body(response, cap, overflow, too_large).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The tarball of `owner/repo` at `tag`: the API's redirect, followed
    /// without credentials.
    async fn fetch_tarball(
        &self,
        owner: &str,
        repo: &str,
        tag: &str,
    ) -> Result<Option<Bytes>, Fail> {
        let Some(auth) = self.api_auth(owner, repo).await? else {
            return Ok(None);
        };
        let api_url = self.api_url(&["repos", owner, repo, "tarball", tag])?;
        let answer = self
            .send(Request {
                method: Method::GET,
                url: &api_url,
                auth: &auth,
                if_none_match: None,
                target: Target::Api,
            })
            .await?;
        let mut url = api_url;
        let mut answer = answer;
        let none = Auth::none();
        for hop in 0..=MAX_REDIRECTS {
            let shown = shown_url(&url);
            match answer.status {
                s if s.is_success() => return Ok(Some(answer.body)),
                StatusCode::NOT_FOUND if hop == 0 => return Ok(None),
                s if s.is_redirection() => {
                    let next = redirect_target(&url, answer.headers.get(LOCATION)).map_err(
                        |refusal| match refusal {
                            RedirectRefusal::MissingLocation => Fail::other(format!(
                                "{shown} answered HTTP {s} without a usable Location"
                            )),
                            RedirectRefusal::InvalidLocation(e) => {
                                Fail::other(format!("{shown} answered an invalid Location ({e})"))
                            }
                            RedirectRefusal::Scheme(scheme) => Fail::other(format!(
                                "{shown} redirected to a {scheme} URL; only http(s), and never from https to http"
                            )),
                        },
                    )?;
                    if hop == MAX_REDIRECTS {
                        break;
                    }
                    tracing::debug!(upstream = %self.name, from = %shown, to = %shown_url(&next), "following the tarball redirect without credentials");
                    url = next;
                    answer = self
                        .send(Request {
                            method: Method::GET,
                            url: &url,
                            auth: &none,
                            if_none_match: None,
                            target: Target::Codeload,
                        })
                        .await?;
                }
                other => return Err(unexpected_status(&shown, other, &answer.body)),
            }
        }
        Err(Fail::other(format!(
            "the tarball of {owner}/{repo} at {tag} took more than {MAX_REDIRECTS} redirects"
        )))
    }
}

#[async_trait]
impl Upstream for GithubUpstream {
    /// `GET /rate_limit` with the configured token (or none), which GitHub
    /// does not count against the rate limit; with a GitHub App, `GET /app`
    /// with the App's JWT, which proves the key and this machine's clock.
    async fn probe(&self) -> Result<(), UpstreamError> {
        let probe = async {
            let (path, auth) = match &self.config.auth {
                GithubAuth::None => ("rate_limit", Auth::none()),
                GithubAuth::Token(_) => (
                    "rate_limit",
                    Auth {
                        header: self.token.clone(),
                        kind: AuthKind::Token,
                    },
                ),
                GithubAuth::App(app) => ("app", self.jwt_auth(app)?),
            };
            let url = self.api_url(&[path])?;
            let answer = self
                .send(Request {
                    method: Method::GET,
                    url: &url,
                    auth: &auth,
                    if_none_match: None,
                    target: Target::Api,
                })
                .await?;
            if answer.status == StatusCode::OK {
                Ok(())
            } else {
                Err(unexpected_status(
                    &shown_url(&url),
                    answer.status,
                    &answer.body,
                ))
            }
        };
        probe.await.map_err(|fail| self.error(fail))
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        match self.tags_for(module).await {
            Ok((Some(tags), _, _)) => Ok(tags.versions().cloned().collect()),
            Ok((None, _, _)) => Err(self.not_found()),
            Err(fail) => Err(self.error(fail)),
        }
    }

    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError> {
        match self.tags_for(module).await {
            Ok((Some(tags), owner, repo)) => match tags.tag(version) {
                Some(tag) => Ok(self.source(&owner, &repo, tag)),
                None => Err(self.not_found()),
            },
            Ok((None, _, _)) => Err(self.not_found()),
            Err(fail) => Err(self.error(fail)),
        }
    }

    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        let (tags, owner, repo) = self.tags_for(module).await.map_err(|f| self.error(f))?;
        let Some(tag) = tags.as_ref().and_then(|t| t.tag(version)) else {
            return Err(self.not_found());
        };
        tracing::info!(upstream = %self.name, %module, %version, repo = %format_args!("{owner}/{repo}"), tag, "fetching a GitHub tarball");
        let bytes = match self.fetch_tarball(&owner, &repo, tag).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(self.not_found()),
            Err(fail) => return Err(self.error(fail)),
        };
        Ok(
            FetchedArchive::new(bytes, self.name.clone(), self.source(&owner, &repo, tag))
                .with_strip_top_dir(true)
                .with_git_ref(tag),
        )
    }
}

/// [`upstream_http::bearer`] as a `Result`, for `map_err` with a message.
fn bearer(secret: &str) -> Result<HeaderValue, ()> {
    upstream_http::bearer(secret).ok_or(())
}

/// The web UI's root for an API base: `api.github.com` -> `github.com` (and
/// `api.X.ghe.com` -> `X.ghe.com`); GitHub Enterprise Server's
/// `HOST/api/v3/` -> `HOST`; anything else: the API's own host.
pub(crate) fn web_base(api: &Url) -> Url {
    let mut web = api.clone();
    web.set_path("/");
    web.set_query(None);
    web.set_fragment(None);
    if !api.path().starts_with("/api/") {
        if let Some(rest) = api.host_str().and_then(|h| h.strip_prefix("api.")) {
            if !rest.is_empty() {
                let rest = rest.to_owned();
                let _ = web.set_host(Some(&rest));
            }
        }
    }
    web
}

fn parse_tag_names(shown: &str, body: &[u8]) -> Result<Vec<String>, Fail> {
    #[derive(Deserialize)]
    struct Tag {
        name: String,
    }
    let tags: Vec<Tag> = json(shown, body)?;
    Ok(tags.into_iter().map(|t| t.name).collect())
}

/// ` (GitHub says: "...")` from an error body's `message`, or nothing.
fn github_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned));
    match message {
        Some(m) if !m.trim().is_empty() => {
            let m: String = m.chars().filter(|c| !c.is_control()).take(200).collect();
            format!(" (GitHub says: {m:?})")
        }
        _ => String::new(),
    }
}

fn unexpected_status(shown: &str, status: StatusCode, body: &[u8]) -> Fail {
    Fail::other(format!(
        "{shown} answered unexpected HTTP {status}{}",
        github_message(body)
    ))
}

/// A repository, as a cache key (GitHub names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RepoKey(String);

impl RepoKey {
    fn new(owner: &str, repo: &str) -> Self {
        Self(format!("{owner}/{repo}").to_ascii_lowercase())
    }
}

/// One page of a repository's tags, as last answered.
#[derive(Debug, Clone)]
struct Page {
    /// The URL requested (the first page's, or the previous page's `next`).
    url: Url,
    etag: Option<String>,
    tags: Vec<String>,
    next: Option<Url>,
}

/// What an installation lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Discovery {
    Installed(u64),
    /// No installation can see this repository.
    NotVisible(RepoKey),
}

#[derive(Clone)]
struct InstallationToken {
    /// `Bearer ghs_...`, marked sensitive.
    header: HeaderValue,
    refresh_at: Instant,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// Credentials for one request, and what they are (for messages).
#[derive(Debug, Clone)]
struct Auth {
    header: Option<HeaderValue>,
    kind: AuthKind,
}

impl Auth {
    fn none() -> Self {
        Self {
            header: None,
            kind: AuthKind::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    None,
    Token,
    Installation(u64),
    Jwt,
}

/// Who a request goes to: credentials and GitHub's headers go to the API only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Api,
    /// Where the API redirects tarball downloads (codeload): no credentials.
    Codeload,
}

#[derive(Debug)]
struct Request<'a> {
    method: Method,
    url: &'a Url,
    auth: &'a Auth,
    if_none_match: Option<&'a str>,
    target: Target,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_refused_api_base_is_shown_without_its_secrets() {
        for base in [
            "https://u:hunter2@api.example/",
            "https://api.example/?token=hunter2",
        ] {
            let e = GithubUpstream::new(GithubConfig::new().with_api_base(url(base))).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("https://api.example/"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            let debug = format!("{:?}", GithubConfig::new().with_api_base(url(base)));
            assert!(!debug.contains("hunter2"), "{debug}");
        }
    }

    #[test]
    fn the_web_host_follows_the_api_host() {
        for (api, web) in [
            ("https://api.github.com/", "https://github.com/"),
            (
                "https://github.example.com/api/v3/",
                "https://github.example.com/",
            ),
            ("https://api.acme.ghe.com/", "https://acme.ghe.com/"),
            (
                "https://api.corp.example/api/v3/",
                "https://api.corp.example/",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
        ] {
            assert_eq!(web_base(&url(api)).as_str(), web, "{api}");
        }
    }

    #[test]
    fn name_is_the_api_host_and_port() {
        let up = GithubUpstream::new(GithubConfig::new()).unwrap();
        assert_eq!(up.name(), "api.github.com");
        let up = GithubUpstream::new(
            GithubConfig::new().with_api_base(url("https://ghe.example:8443/api/v3")),
        )
        .unwrap();
        assert_eq!(up.name(), "ghe.example:8443");
        assert_eq!(
            up.config().api_base.as_str(),
            "https://ghe.example:8443/api/v3/"
        );
    }

    #[test]
    fn sources_encode_the_ref() {
        let up = GithubUpstream::new(GithubConfig::new()).unwrap();
        assert_eq!(
            up.source("o", "r", "v1.2.0"),
            "git::https://github.com/o/r?ref=v1.2.0"
        );
        assert_eq!(
            up.source("o", "r", "1.0.0+build.5"),
            "git::https://github.com/o/r?ref=1.0.0%2Bbuild.5"
        );
    }

    #[test]
    fn refuses_unusable_settings() {
        let field = |config| match GithubUpstream::new(config) {
            Err(ConfigError::Invalid { field, reason }) => {
                assert!(!reason.contains("TFR_"), "{reason}");
                field
            }
            other => panic!("{other:?}"),
        };
        let bad_token = GithubConfig::new().with_auth(GithubAuth::Token("a\nb".into()));
        assert_eq!(field(bad_token), "auth");
        let empty_token = GithubConfig::new().with_auth(GithubAuth::Token("  ".into()));
        assert_eq!(field(empty_token), "auth");
        let bad_pem =
            GithubConfig::new().with_extra_root_certificates(vec![b"not a certificate".to_vec()]);
        assert_eq!(field(bad_pem), "extra_root_certificates");
        let bad_base = GithubConfig::new().with_api_base(url("file:///tmp"));
        assert_eq!(field(bad_base), "api_base");
        let no_agent = GithubConfig::new().with_user_agent("");
        assert_eq!(field(no_agent), "user_agent");
    }

    #[test]
    fn github_messages_are_short_and_clean() {
        assert_eq!(
            github_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            " (GitHub says: \"Bad credentials\")"
        );
        assert_eq!(github_message(b"not json"), "");
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(1000));
        assert!(github_message(long.as_bytes()).len() < 250);
    }
}
