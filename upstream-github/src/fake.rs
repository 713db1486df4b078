//! [`FakeGithub`]: an in-process GitHub for tests (feature `fake`).
//!
//! Two plain-HTTP servers on `127.0.0.1`, on different ports, so that a
//! redirect from one to the other crosses hosts as GitHub's does:
//!
//! - the **REST API** ([`FakeGithub::api_url`]):
//!   - `GET /repos/{owner}/{repo}/tags?per_page=N&page=P`: the tags in the
//!     order added, at most `min(N, per-page limit)` a page (`N` defaults to
//!     30 and is capped at 100, like GitHub's), with `Link` headers
//!     (`rel="next"`, `"last"`, `"first"`, `"prev"`) and a strong `ETag`
//!     derived from the page's content and its `Link` header. A request whose
//!     `If-None-Match` matches gets `304 Not Modified` with an empty body;
//!   - `GET /repos/{owner}/{repo}/tarball/{tag}`: `302 Found` to the codeload
//!     host, with a `?token=` like GitHub's private-repository links;
//!   - `GET /repos/{owner}/{repo}/installation` and
//!     `POST /app/installations/{id}/access_tokens`, for a GitHub App set up
//!     with [`FakeGithub::require_app`];
//!   - anything else: `404` with GitHub's `{"message": "Not Found"}`;
//! - the **codeload host** ([`FakeGithub::codeload_url`]):
//!   `GET /{owner}/{repo}/legacy.tar.gz/refs/tags/{tag}?token=...`, the tarball.
//!
//! API requests are recorded (method, path, query, `Authorization`,
//! `If-None-Match`); codeload requests are counted, with those that carried
//! `Authorization` (there should be none).
//!
//! ```
//! use registry_core::{ModuleAddress, Upstream};
//! use upstream_github::fake::{github_tarball, FakeGithub};
//! use upstream_github::{GithubConfig, GithubUpstream};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fake = FakeGithub::start().await;
//! let tarball = github_tarball("acme-terraform-aws-vpc-0123abc", &[("main.tf", b"# vpc\n")]);
//! fake.add_tag("acme", "terraform-aws-vpc", "v1.0.0", tarball);
//! fake.add_plain_tag("acme", "terraform-aws-vpc", "latest");
//!
//! let upstream = GithubUpstream::new(GithubConfig::new().with_api_base(fake.api_url())).unwrap();
//! let vpc = ModuleAddress::new("acme", "vpc", "aws").unwrap();
//! let versions = upstream.list_versions(&vpc).await.unwrap();
//! assert_eq!(versions[0].to_string(), "1.0.0");
//! let archive = upstream.fetch_archive(&vpc, &versions[0]).await.unwrap();
//! assert_eq!(archive.git_ref.as_deref(), Some("v1.0.0"));
//! assert_eq!(fake.codeload_requests(), 1);
//! assert_eq!(fake.codeload_authorized_requests(), 0);
//! fake.shutdown().await;
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, ETAG, IF_NONE_MATCH, LINK, LOCATION, RETRY_AFTER};
use hyper::{Method, Request};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use upstream_http::fake::{body, status, Loopback, Reply, Server};

/// Characters encoded in a tag placed in a codeload path: all but unreserved ones.
const TAG_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One API request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, as sent (percent-encoded).
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
    /// The `If-None-Match` header, if sent.
    pub if_none_match: Option<String>,
}

#[derive(Debug, Default)]
struct Repo {
    /// The owner and name as first added.
    owner: String,
    name: String,
    tags: Vec<String>,
    tarballs: HashMap<String, Bytes>,
}

struct App {
    app_id: String,
    key: DecodingKey,
    owner: String,
    installation_id: u64,
}

enum Access {
    Open,
    Token(String),
    App(App),
}

struct RateLimit {
    prefix: String,
    remaining: usize,
    status: u16,
    /// `None`: a plain failure with this status, no rate-limit headers.
    retry_after_secs: Option<u64>,
}

struct State {
    /// Lowercase `owner/repo` -> repository.
    repos: BTreeMap<String, Repo>,
    per_page_limit: usize,
    access: Access,
    /// Installation tokens issued, and when they expire.
    issued: HashMap<String, SystemTime>,
    token_lifetime: Duration,
    token_exchanges: usize,
    log: Vec<RecordedRequest>,
    not_modified: usize,
    codeload_requests: usize,
    codeload_authorized: usize,
    rate_limits: Vec<RateLimit>,
    /// The `?token=` of codeload links.
    codeload_secret: String,
}

/// An in-process GitHub REST API and codeload host on `127.0.0.1`, for
/// tests. See the [module docs](self).
///
/// All methods take `&self`; share it with `Arc` if tasks need it. Dropping
/// it stops both servers like [`shutdown`](Self::shutdown). The servers run
/// as tasks on the Tokio runtime that called [`start`](Self::start): from a
/// synchronous test, keep a multi-thread runtime alive next to it.
pub struct FakeGithub {
    api_url: Url,
    codeload_url: Url,
    state: Arc<Mutex<State>>,
    /// The API's and the codeload host's.
    servers: [Server; 2],
}

impl fmt::Debug for FakeGithub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGithub")
            .field("api_url", &self.api_url.as_str())
            .field("codeload_url", &self.codeload_url.as_str())
            .finish_non_exhaustive()
    }
}

impl FakeGithub {
    /// Starts both servers on `127.0.0.1` and free ports, with no
    /// repositories and no credentials required.
    ///
    /// # Panics
    /// If no loopback port can be bound, or outside a Tokio runtime.
    pub async fn start() -> Self {
        let api = Loopback::bind("the fake GitHub").await;
        let codeload = Loopback::bind("the fake GitHub").await;
        let (api_url, codeload_url) = (api.url(), codeload.url());
        let secret = format!("codeload-{:016x}", rand::random::<u64>());
        let state = Arc::new(Mutex::new(State {
            repos: BTreeMap::new(),
            per_page_limit: 100,
            access: Access::Open,
            issued: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            token_exchanges: 0,
            log: Vec::new(),
            not_modified: 0,
            codeload_requests: 0,
            codeload_authorized: 0,
            rate_limits: Vec::new(),
            codeload_secret: secret,
        }));
        let urls = Arc::new((api_url.clone(), codeload_url.clone()));
        let api_server = {
            let (state, urls) = (state.clone(), urls.clone());
            api.serve(move |request| {
                let (state, urls) = (state.clone(), urls.clone());
                async move { Ok::<_, std::io::Error>(answer_api(&state, &urls.0, &urls.1, &request)) }
            })
        };
        let codeload_server = {
            let state = state.clone();
            codeload.serve(move |request| {
                let state = state.clone();
                async move { Ok::<_, std::io::Error>(answer_codeload(&state, &request)) }
            })
        };
        Self {
            api_url,
            codeload_url,
            state,
            servers: [api_server, codeload_server],
        }
    }

    /// The API's root, `http://127.0.0.1:PORT/`: use it as
    /// [`GithubConfig::api_base`](crate::GithubConfig::api_base).
    pub fn api_url(&self) -> Url {
        self.api_url.clone()
    }

    /// The codeload host's root, `http://127.0.0.1:OTHER_PORT/`.
    pub fn codeload_url(&self) -> Url {
        self.codeload_url.clone()
    }

    /// Creates `owner/repo` with no tags, if it does not exist.
    pub fn add_repo(&self, owner: &str, repo: &str) {
        self.with_repo(owner, repo, |_| ());
    }

    /// Adds `tag` to `owner/repo` (created if needed), after its other tags,
    /// with `tarball` served for it (through a `302` to the codeload host).
    pub fn add_tag(&self, owner: &str, repo: &str, tag: &str, tarball: impl Into<Bytes>) {
        let tarball = tarball.into();
        self.with_repo(owner, repo, |r| {
            if !r.tags.iter().any(|t| t == tag) {
                r.tags.push(tag.to_owned());
            }
            r.tarballs.insert(tag.to_owned(), tarball);
        });
    }

    /// Adds `tag` to `owner/repo` (created if needed) with no tarball: listed,
    /// but its tarball is `404` (e.g. a non-SemVer `latest`).
    pub fn add_plain_tag(&self, owner: &str, repo: &str, tag: &str) {
        self.with_repo(owner, repo, |r| {
            if !r.tags.iter().any(|t| t == tag) {
                r.tags.push(tag.to_owned());
            }
        });
    }

    /// Serves tag pages of at most `n` tags (default 100; 0 counts as 1).
    pub fn set_per_page_limit(&self, n: usize) {
        self.lock().per_page_limit = n.max(1);
    }

    /// From now on, API requests need an installation token this fake issued
    /// to GitHub App `app_id`, installed on `owner` (case-insensitive) as
    /// installation `installation_id`; repositories of other owners are `404`.
    ///
    /// Tokens come from `POST /app/installations/{installation_id}/access_tokens`,
    /// which, like `GET /repos/{owner}/{repo}/installation`, needs a JWT:
    /// RS256, signed by the key whose public half is `public_key_pem` (SPKI
    /// `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`), `iss` equal to
    /// `app_id`, `iat` not in the future, `exp` not passed and at most 10
    /// minutes after `iat`. Anything else is `401`.
    ///
    /// # Panics
    /// If `public_key_pem` is not an RSA public key in PEM.
    pub fn require_app(
        &self,
        app_id: &str,
        public_key_pem: &str,
        owner: &str,
        installation_id: u64,
    ) {
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .expect("require_app needs an RSA public key in PEM");
        self.lock().access = Access::App(App {
            app_id: app_id.to_owned(),
            key,
            owner: owner.to_owned(),
            installation_id,
        });
    }

    /// From now on, API requests need `Authorization: Bearer {token}` (or
    /// `token {token}`); anything else is `401`.
    pub fn require_token(&self, token: &str) {
        self.lock().access = Access::Token(token.to_owned());
    }

    /// How long installation tokens issued from now on last (their
    /// `expires_at`; default one hour).
    pub fn set_token_lifetime(&self, d: Duration) {
        self.lock().token_lifetime = d;
    }

    /// Revokes every installation token issued so far: API requests carrying
    /// one are `401` from now on.
    pub fn revoke_tokens(&self) {
        self.lock().issued.clear();
    }

    /// How many installation tokens were issued
    /// (`POST /app/installations/{id}/access_tokens` answered `201`).
    pub fn token_exchanges(&self) -> usize {
        self.lock().token_exchanges
    }

    /// How many API requests had a path starting with `path_prefix`.
    pub fn requests(&self, path_prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }

    /// Every API request so far, oldest first.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        self.lock().log.clone()
    }

    /// How many `304 Not Modified` answers were sent.
    pub fn not_modified(&self) -> usize {
        self.lock().not_modified
    }

    /// How many requests the codeload host received.
    pub fn codeload_requests(&self) -> usize {
        self.lock().codeload_requests
    }

    /// How many requests the codeload host received with an `Authorization`
    /// header (credentials must never leave the API host: keep this 0).
    pub fn codeload_authorized_requests(&self) -> usize {
        self.lock().codeload_authorized
    }

    /// Makes the next `times` API requests whose path starts with
    /// `path_prefix` fail with `status` (403 or 429) as GitHub's rate limits
    /// do: `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (now +
    /// `retry_after_secs`, epoch seconds), and, for `429` (a secondary rate
    /// limit), `retry-after: {retry_after_secs}`. A `403` carries no
    /// `retry-after`, like GitHub's primary rate limit. Rules are used in the
    /// order added.
    pub fn rate_limit_next(
        &self,
        path_prefix: &str,
        times: usize,
        status: u16,
        retry_after_secs: u64,
    ) {
        self.lock().rate_limits.push(RateLimit {
            prefix: path_prefix.to_owned(),
            remaining: times,
            status,
            retry_after_secs: Some(retry_after_secs),
        });
    }

    /// Makes the next `times` API requests whose path starts with
    /// `path_prefix` fail with `status` (e.g. 500, 502) and GitHub's error
    /// body, without rate-limit headers. Shares its queue with
    /// [`rate_limit_next`](Self::rate_limit_next).
    pub fn fail_next(&self, path_prefix: &str, times: usize, status: u16) {
        self.lock().rate_limits.push(RateLimit {
            prefix: path_prefix.to_owned(),
            remaining: times,
            status,
            retry_after_secs: None,
        });
    }

    /// Stops both servers: the ports stop accepting and open connections are
    /// closed.
    pub async fn shutdown(&self) {
        for server in &self.servers {
            server.shutdown().await;
        }
    }

    fn with_repo(&self, owner: &str, repo: &str, f: impl FnOnce(&mut Repo)) {
        let mut state = self.lock();
        let entry = state
            .repos
            .entry(format!("{owner}/{repo}").to_ascii_lowercase())
            .or_insert_with(|| Repo {
                owner: owner.to_owned(),
                name: repo.to_owned(),
                ..Repo::default()
            });
        f(entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `.tar.gz` shaped like GitHub's tarballs: a `pax_global_header` holding a
/// commit id, then everything under `top_dir/` (e.g.
/// `acme-terraform-aws-vpc-0123abc`), with a directory entry for every
/// directory.
///
/// # Panics
/// If a path is not a valid tar path (absolute, or with `..`).
pub fn github_tarball(top_dir: &str, files: &[(&str, &[u8])]) -> Bytes {
    let top = top_dir.trim_matches('/');
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);

    let commit = hex(&Sha256::digest(top.as_bytes())[..20]);
    let record = pax_record("comment", &commit);
    let mut global = tar::Header::new_ustar();
    global.set_entry_type(tar::EntryType::XGlobalHeader);
    global.set_mode(0o644);
    global.set_size(record.len() as u64);
    global.set_mtime(0);
    builder
        .append_data(&mut global, "pax_global_header", record.as_slice())
        .expect("append the pax global header");

    let mut dirs: BTreeSet<String> = BTreeSet::new();
    dirs.insert(format!("{top}/"));
    for (path, _) in files {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            dirs.insert(format!("{top}/{}/", parts[..i].join("/")));
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o775);
        header.set_size(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, &dir, std::io::empty())
            .expect("append a directory");
    }
    for (path, contents) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o664);
        header.set_size(contents.len() as u64);
        header.set_mtime(0);
        builder
            .append_data(&mut header, format!("{top}/{path}"), *contents)
            .expect("append a file");
    }
    let mut gz = builder.into_inner().expect("finish the tar");
    gz.flush().expect("flush gzip");
    Bytes::from(gz.finish().expect("finish gzip"))
}

/// One pax record, `"{len} {key}={value}\n"`, `len` counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = format!(" {key}={value}\n");
    let mut len = rest.len() + 1;
    while len.to_string().len() + rest.len() != len {
        len = len.to_string().len() + rest.len();
    }
    format!("{len}{rest}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header(
    request: &Request<hyper::body::Incoming>,
    name: impl hyper::header::AsHeaderName,
) -> Option<String> {
    request
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn answer_codeload(state: &Mutex<State>, request: &Request<hyper::body::Incoming>) -> Reply {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.codeload_requests += 1;
    if request.headers().contains_key(AUTHORIZATION) {
        state.codeload_authorized += 1;
    }
    let token_ok = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == format!("token={}", state.codeload_secret))
    });
    let segments = segments(request.uri().path());
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let rest = if segments.len() > 2 {
        &segments[2..]
    } else {
        &[][..]
    };
    let ["legacy.tar.gz", "refs", "tags", tag @ ..] = rest else {
        return message(404, "Not Found");
    };
    if !token_ok {
        return message(403, "the download link's token is missing or wrong");
    }
    let key = format!("{}/{}", segments[0], segments[1]).to_ascii_lowercase();
    let tag = tag.join("/");
    match state.repos.get(&key).and_then(|r| r.tarballs.get(&tag)) {
        Some(bytes) => {
            let mut r = body(200, "application/x-gzip", bytes.clone());
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename={}-{}.tar.gz",
                segments[1], tag
            )) {
                r.headers_mut().insert("content-disposition", v);
            }
            r
        }
        None => message(404, "Not Found"),
    }
}

fn answer_api(
    state: &Mutex<State>,
    api: &Url,
    codeload: &Url,
    request: &Request<hyper::body::Incoming>,
) -> Reply {
    let path = request.uri().path().to_owned();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.log.push(RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        authorization: header(request, AUTHORIZATION),
        if_none_match: header(request, IF_NONE_MATCH),
    });
    let limit = state
        .rate_limits
        .iter_mut()
        .find(|r| r.remaining > 0 && path.starts_with(&r.prefix))
        .map(|rule| {
            rule.remaining -= 1;
            (rule.status, rule.retry_after_secs)
        });
    match limit {
        Some((status, Some(secs))) => return rate_limited(status, secs),
        Some((status, None)) => return message(status, "Server Error"),
        None => {}
    }
    let segments = segments(&path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method(), &segments[..]) {
        // GitHub's own rate limit status (free of charge there), with the
        // token if one is configured.
        (&Method::GET, ["rate_limit"]) => match &state.access {
            Access::Token(token) if credential(request).as_deref() != Some(token.as_str()) => {
                message(401, "Bad credentials")
            }
            _ => json(
                200,
                &serde_json::json!({"resources": {"core": {"remaining": 5000}}}),
            ),
        },
        // The authenticated App, with its JWT.
        (&Method::GET, ["app"]) => match check_jwt(&state, request) {
            Ok(app) => json(200, &serde_json::json!({"id": app.app_id})),
            Err(refusal) => refusal.reply(),
        },
        (&Method::POST, ["app", "installations", id, "access_tokens"]) => {
            exchange(&mut state, request, id)
        }
        (&Method::GET, ["repos", owner, repo, "installation"]) => {
            installation(&state, request, owner, repo)
        }
        (&Method::GET, ["repos", owner, repo, "tags"]) => {
            if let Err(refusal) = check_access(&state, request, owner) {
                return refusal.reply();
            }
            tags(&mut state, request, api, owner, repo)
        }
        (&Method::GET, ["repos", owner, repo, "tarball", tag @ ..]) if !tag.is_empty() => {
            if let Err(refusal) = check_access(&state, request, owner) {
                return refusal.reply();
            }
            let tag = tag.join("/");
            let key = format!("{owner}/{repo}").to_ascii_lowercase();
            match state.repos.get(&key) {
                Some(r) if r.tarballs.contains_key(&tag) => {
                    let location = format!(
                        "{codeload}{}/{}/legacy.tar.gz/refs/tags/{}?token={}",
                        r.owner,
                        r.name,
                        utf8_percent_encode(&tag, TAG_SEGMENT),
                        state.codeload_secret
                    );
                    let mut reply = status(302);
                    match HeaderValue::from_str(&location) {
                        Ok(v) => {
                            reply.headers_mut().insert(LOCATION, v);
                            reply
                        }
                        Err(_) => status(500),
                    }
                }
                _ => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// The credential of an `Authorization: Bearer X` or `token X` header.
fn credential(request: &Request<hyper::body::Incoming>) -> Option<String> {
    let value = header(request, AUTHORIZATION)?;
    let (scheme, credential) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| credential.trim().to_owned())
}

/// Why a request is refused: a status and GitHub's message.
struct Refusal(u16, String);

impl Refusal {
    fn reply(&self) -> Reply {
        message(self.0, &self.1)
    }
}

fn refuse(code: u16, text: &str) -> Refusal {
    Refusal(code, text.to_owned())
}

fn check_access(
    state: &State,
    request: &Request<hyper::body::Incoming>,
    owner: &str,
) -> Result<(), Refusal> {
    match &state.access {
        Access::Open => Ok(()),
        Access::Token(token) => match credential(request) {
            Some(c) if c == *token => Ok(()),
            Some(_) => Err(refuse(401, "Bad credentials")),
            None => Err(refuse(401, "Requires authentication")),
        },
        Access::App(app) => {
            let Some(c) = credential(request) else {
                return Err(refuse(401, "Requires authentication"));
            };
            match state.issued.get(&c) {
                Some(expires) if *expires > SystemTime::now() => {
                    if owner.eq_ignore_ascii_case(&app.owner) {
                        Ok(())
                    } else {
                        Err(refuse(404, "Not Found"))
                    }
                }
                _ => Err(refuse(401, "Bad credentials")),
            }
        }
    }
}

/// Checks the App JWT of `request`, GitHub's way.
fn check_jwt<'a>(
    state: &'a State,
    request: &Request<hyper::body::Incoming>,
) -> Result<&'a App, Refusal> {
    let Access::App(app) = &state.access else {
        return Err(refuse(404, "Not Found"));
    };
    let Some(jwt) = credential(request) else {
        return Err(refuse(401, "A JSON web token could not be decoded"));
    };
    #[derive(Deserialize)]
    struct Claims {
        iat: u64,
        exp: u64,
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.set_issuer(&[&app.app_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let claims = match jsonwebtoken::decode::<Claims>(&jwt, &app.key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return Err(refuse(
                401,
                &format!("A JSON web token could not be decoded ({e})"),
            ))
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if claims.iat > now + 1 {
        return Err(refuse(
            401,
            "'Issued at' claim ('iat') must be an Integer representing a time in the past",
        ));
    }
    if claims.exp.saturating_sub(claims.iat) > 600 || claims.exp > now + 600 {
        return Err(refuse(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    Ok(app)
}

fn installation(
    state: &State,
    request: &Request<hyper::body::Incoming>,
    owner: &str,
    repo: &str,
) -> Reply {
    let app = match check_jwt(state, request) {
        Ok(app) => app,
        Err(refusal) => return refusal.reply(),
    };
    let exists = state
        .repos
        .contains_key(&format!("{owner}/{repo}").to_ascii_lowercase());
    if !exists || !owner.eq_ignore_ascii_case(&app.owner) {
        return message(404, "Not Found");
    }
    json(
        200,
        &serde_json::json!({
            "id": app.installation_id,
            "app_id": app.app_id,
            "account": { "login": app.owner },
            "repository_selection": "all",
        }),
    )
}

fn exchange(state: &mut State, request: &Request<hyper::body::Incoming>, id: &str) -> Reply {
    let installation_id = match check_jwt(state, request) {
        Ok(app) => app.installation_id,
        Err(refusal) => return refusal.reply(),
    };
    if id.parse::<u64>().ok() != Some(installation_id) {
        return message(404, "Not Found");
    }
    state.token_exchanges += 1;
    let token = format!(
        "ghs_fake{:08}{:016x}",
        state.token_exchanges,
        rand::random::<u64>()
    );
    let expires = SystemTime::now() + state.token_lifetime;
    state.issued.insert(token.clone(), expires);
    json(
        201,
        &serde_json::json!({
            "token": token,
            "expires_at": humantime::format_rfc3339_seconds(expires).to_string(),
            "permissions": { "contents": "read", "metadata": "read" },
            "repository_selection": "all",
        }),
    )
}

fn tags(
    state: &mut State,
    request: &Request<hyper::body::Incoming>,
    api: &Url,
    owner: &str,
    repo: &str,
) -> Reply {
    let key = format!("{owner}/{repo}").to_ascii_lowercase();
    let Some(r) = state.repos.get(&key) else {
        return message(404, "Not Found");
    };
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let per_page = query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let size = per_page.min(state.per_page_limit);
    let last = r.tags.len().div_ceil(size).max(1);
    let start = ((page - 1) * size).min(r.tags.len());
    let end = (page * size).min(r.tags.len());
    let list: Vec<serde_json::Value> = r.tags[start..end]
        .iter()
        .map(|tag| {
            let sha = hex(&Sha256::digest(format!("{key}@{tag}").as_bytes())[..20]);
            serde_json::json!({
                "name": tag,
                "zipball_url": format!("{api}repos/{}/{}/zipball/refs/tags/{tag}", r.owner, r.name),
                "tarball_url": format!("{api}repos/{}/{}/tarball/refs/tags/{tag}", r.owner, r.name),
                "commit": { "sha": sha, "url": format!("{api}repos/{}/{}/commits/{sha}", r.owner, r.name) },
                "node_id": format!("REF_{sha}"),
            })
        })
        .collect();
    let page_url = |n: usize| {
        format!(
            "{api}repos/{}/{}/tags?per_page={per_page}&page={n}",
            r.owner, r.name
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", page_url(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", page_url(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", page_url(page - 1)));
        links.push(format!("<{}>; rel=\"first\"", page_url(1)));
    }
    let link = links.join(", ");
    let content = serde_json::Value::Array(list).to_string();
    let etag = format!(
        "\"{}\"",
        hex(&Sha256::digest(format!("{content}\n{link}").as_bytes()))
    );
    let matches = header(request, IF_NONE_MATCH).is_some_and(|inm| {
        inm.split(',').any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == etag
        })
    });
    let mut reply = if matches {
        state.not_modified += 1;
        status(304)
    } else {
        body(200, "application/json; charset=utf-8", Bytes::from(content))
    };
    let headers = reply.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, v);
    }
    if !link.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert(LINK, v);
        }
    }
    reply
}

fn rate_limited(code: u16, secs: u64) -> Reply {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + secs;
    let mut reply = message(
        code,
        "API rate limit exceeded for installation. (But here's the good news: Authenticated requests get a higher rate limit.)",
    );
    let headers = reply.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(5000));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
    headers.insert("x-ratelimit-used", HeaderValue::from(5000));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    if code == 429 {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    reply
}

fn json(code: u16, doc: &serde_json::Value) -> Reply {
    body(
        code,
        "application/json; charset=utf-8",
        Bytes::from(doc.to_string()),
    )
}

/// GitHub's error body: `{"message": ..., "documentation_url": ...}`.
fn message(code: u16, text: &str) -> Reply {
    json(
        code,
        &serde_json::json!({
            "message": text,
            "documentation_url": "https://docs.github.com/rest",
            "status": code.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_themselves() {
        assert_eq!(pax_record("comment", &"a".repeat(40)).len(), 52);
        assert!(pax_record("comment", &"a".repeat(40)).starts_with(b"52 comment="));
        for n in 0..200 {
            let r = pax_record("k", &"x".repeat(n));
            let text = String::from_utf8(r.clone()).unwrap();
            let len: usize = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(len, r.len(), "{text:?}");
        }
    }
}
