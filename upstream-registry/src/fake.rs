//! [`FakeRegistry`]: an in-process upstream for tests (feature `fake`).
//!
//! One plain-HTTP server on `127.0.0.1` plays three roles:
//!
//! - a Terraform module registry: `/.well-known/terraform.json` (with
//!   `modules.v1` = `/v1/modules/` unless changed), and
//!   `{any prefix}/{ns}/{name}/{system}/versions` and
//!   `{any prefix}/{ns}/{name}/{system}/{version}/download`;
//! - an archive host: any path registered with [`FakeRegistry::add_archive`]
//!   (conventionally under `/archives/`);
//! - a codeload-like tarball host: `/codeload/{owner}/{repo}/tar.gz/{ref}`
//!   ([`FakeRegistry::codeload_url`] is the `github_tarball_base` to use).
//!
//! Every request is recorded (path, query, whether it carried
//! `Authorization`), and failures can be injected per path prefix.
//!
//! ```
//! use std::sync::Arc;
//! use registry_core::{ModuleAddress, Upstream};
//! use upstream_registry::fake::{tar_gz, FakeRegistry};
//! use upstream_registry::RegistryUpstream;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fake = FakeRegistry::start().await;
//! fake.publish("hashicorp/consul/aws", "0.1.0", tar_gz(&[("main.tf", b"# consul\n")]));
//! let upstream = RegistryUpstream::new(fake.config()).unwrap();
//! let module = ModuleAddress::new("hashicorp", "consul", "aws").unwrap();
//! let versions = upstream.list_versions(&module).await.unwrap();
//! assert_eq!(versions[0].to_string(), "0.1.0");
//! assert_eq!(fake.requests("/v1/modules/hashicorp/consul/aws/versions"), 1);
//! fake.shutdown().await;
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Method, Request};
use percent_encoding::percent_decode_str;
use reqwest::Url;
use upstream_http::fake::{body, status, Loopback, Reply, Server};

use crate::RegistryUpstreamConfig;

/// What a version's download endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// `204` with `X-Terraform-Get` set to this, verbatim: a path the client
    /// resolves against the download URL, e.g. `/archives/x.tar.gz` or
    /// `./../../x.tar.gz`.
    Relative(String),
    /// `204` with `X-Terraform-Get` set to this server's URL joined with this
    /// path, e.g. `/archives/x.tar.gz` -> `http://127.0.0.1:PORT/archives/x.tar.gz`.
    Absolute(String),
    /// `204` with `X-Terraform-Get` set to this, verbatim: any go-getter
    /// address, e.g. `git::https://github.com/o/r?ref=v1`.
    Raw(String),
    /// `200` with the JSON body `{"location": ...}` and no `X-Terraform-Get`.
    Body(String),
}

/// A failure to inject with [`FakeRegistry::fail_next`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Answer with this status and an empty body.
    Status(u16),
    /// `429 Too Many Requests` with `Retry-After: {retry_after_secs}`.
    TooManyRequests {
        /// The `Retry-After` delta-seconds.
        retry_after_secs: u64,
    },
    /// Answer with this status and this `Retry-After` value, verbatim.
    RetryAfter {
        /// The status, e.g. 503.
        status: u16,
        /// The header's value: delta-seconds or an HTTP-date.
        retry_after: String,
    },
    /// Never answer (until [`FakeRegistry::shutdown`]).
    Hang,
    /// Answer normally, but only after this delay.
    Delay(Duration),
    /// Close the connection without answering.
    Close,
}

/// One request the fake received.
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
}

#[derive(Debug)]
struct Injected {
    prefix: String,
    failure: Failure,
    remaining: usize,
}

#[derive(Debug)]
struct State {
    modules: HashMap<String, Vec<String>>,
    locations: HashMap<(String, String), Location>,
    archives: HashMap<String, Bytes>,
    tarballs: HashMap<(String, String, String), Bytes>,
    modules_v1: Option<String>,
    failures: Vec<Injected>,
    log: Vec<RecordedRequest>,
}

/// An in-process Terraform module registry, archive host and codeload-like
/// tarball host on `127.0.0.1:0`, for tests. See the [module docs](self).
///
/// All methods take `&self`; share it with `Arc` if tasks need it. Dropping
/// it stops the server like [`shutdown`](Self::shutdown).
///
/// The server runs as tasks on the Tokio runtime that called
/// [`start`](Self::start). From a synchronous test (e.g. one that drives the
/// Terraform CLI), keep a multi-thread runtime alive next to it:
///
/// ```
/// use upstream_registry::fake::FakeRegistry;
///
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let fake = rt.block_on(FakeRegistry::start());
/// fake.add_module("hashicorp/consul/aws", &["0.1.0"]);
/// // ... run `terraform init` against a registry proxying fake.url() ...
/// rt.block_on(fake.shutdown());
/// ```
pub struct FakeRegistry {
    url: Url,
    state: Arc<Mutex<State>>,
    server: Server,
}

impl fmt::Debug for FakeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRegistry")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl FakeRegistry {
    /// Starts the server on `127.0.0.1` and a free port, with no modules.
    ///
    /// # Panics
    /// If no loopback port can be bound, or outside a Tokio runtime.
    pub async fn start() -> Self {
        let port = Loopback::bind("the fake registry").await;
        let url = port.url();
        let state = Arc::new(Mutex::new(State {
            modules: HashMap::new(),
            locations: HashMap::new(),
            archives: HashMap::new(),
            tarballs: HashMap::new(),
            modules_v1: Some("/v1/modules/".to_owned()),
            failures: Vec::new(),
            log: Vec::new(),
        }));
        let server = {
            let (state, root) = (state.clone(), url.clone());
            port.serve(move |request| {
                let (state, root) = (state.clone(), root.clone());
                async move { answer(&state, &root, request).await }
            })
        };
        Self { url, state, server }
    }

    /// The server's root URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The codeload-like tarball host's base, `http://127.0.0.1:PORT/codeload/`:
    /// use it as [`RegistryUpstreamConfig::github_tarball_base`].
    pub fn codeload_url(&self) -> Url {
        self.url.join("codeload/").expect("a valid URL")
    }

    /// A configuration for this fake: [`url`](Self::url) as the registry,
    /// [`codeload_url`](Self::codeload_url) for GitHub tarballs, and a 10 ms
    /// backoff so retries do not slow tests down. Everything else is default.
    pub fn config(&self) -> RegistryUpstreamConfig {
        RegistryUpstreamConfig::new(self.url())
            .with_github_tarball_base(self.codeload_url())
            .with_backoff(Duration::from_millis(10))
    }

    /// Adds `versions` (any strings, SemVer or not) to `module`
    /// (`ns/name/system`), creating it if needed.
    pub fn add_module(&self, module: &str, versions: &[&str]) {
        let mut state = self.lock();
        let list = state.modules.entry(module.to_owned()).or_default();
        list.extend(versions.iter().map(|v| (*v).to_owned()));
    }

    /// Sets what the download endpoint of `module` `version` answers. Without
    /// one, it answers `404`.
    pub fn set_location(&self, module: &str, version: &str, location: Location) {
        self.lock()
            .locations
            .insert((module.to_owned(), version.to_owned()), location);
    }

    /// Serves `bytes` at `path` (e.g. `/archives/consul-0.1.0.tar.gz`).
    pub fn add_archive(&self, path: &str, bytes: impl Into<Bytes>) {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        self.lock().archives.insert(path, bytes.into());
    }

    /// Serves `bytes` as the codeload tarball of `owner/repo` at `git_ref`
    /// (`/codeload/{owner}/{repo}/tar.gz/{git_ref}`).
    pub fn add_tarball(&self, owner: &str, repo: &str, git_ref: &str, bytes: impl Into<Bytes>) {
        self.lock().tarballs.insert(
            (owner.to_owned(), repo.to_owned(), git_ref.to_owned()),
            bytes.into(),
        );
    }

    /// Publishes `version` of `module` with its archive: adds the version,
    /// serves `archive` at `/archives/{ns}/{name}/{system}/{version}.tar.gz`
    /// and points the download endpoint at it with a relative location.
    /// Returns the archive's path.
    pub fn publish(&self, module: &str, version: &str, archive: impl Into<Bytes>) -> String {
        let path = format!("/archives/{module}/{version}.tar.gz");
        self.add_module(module, &[version]);
        self.add_archive(&path, archive);
        self.set_location(module, version, Location::Relative(path.clone()));
        path
    }

    /// Sets the `modules.v1` value of the discovery document (a path or an
    /// absolute URL; default `/v1/modules/`), or leaves it out with `None`.
    /// The module API answers under any prefix, so any path works.
    pub fn set_modules_v1(&self, value: Option<&str>) {
        self.lock().modules_v1 = value.map(str::to_owned);
    }

    /// Makes the next `times` requests whose path starts with `path_prefix`
    /// fail with `failure`. Rules are used in the order added.
    pub fn fail_next(&self, path_prefix: &str, failure: Failure, times: usize) {
        self.lock().failures.push(Injected {
            prefix: path_prefix.to_owned(),
            failure,
            remaining: times,
        });
    }

    /// How many requests had a path starting with `path_prefix`.
    pub fn requests(&self, path_prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }

    /// How many requests had a path starting with `path_prefix` and an
    /// `Authorization` header.
    pub fn authorized_requests(&self, path_prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.path.starts_with(path_prefix) && r.authorization.is_some())
            .count()
    }

    /// Every request so far, oldest first.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        self.lock().log.clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// Stops the server: the port stops accepting (later connections are
    /// refused) and open connections, hanging ones included, are closed.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `.tar.gz` of `files` (`path`, contents), with a directory entry for
/// every parent directory, e.g. `tar_gz(&[("main.tf", b"...")])` or, shaped
/// like a GitHub tarball, `tar_gz(&[("repo-v1/main.tf", b"...")])`.
///
/// # Panics
/// If a path is not a valid tar path (absolute, or with `..`).
pub fn tar_gz(files: &[(&str, &[u8])]) -> Bytes {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let dirs: BTreeSet<String> = files
        .iter()
        .flat_map(|(path, _)| {
            let parts: Vec<&str> = path.split('/').collect();
            (1..parts.len()).map(move |i| format!("{}/", parts[..i].join("/")))
        })
        .collect();
    for dir in dirs {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        builder
            .append_data(&mut header, &dir, std::io::empty())
            .expect("append a directory");
    }
    for (path, contents) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(contents.len() as u64);
        header.set_mtime(0);
        builder
            .append_data(&mut header, path, *contents)
            .expect("append a file");
    }
    let mut gz = builder.into_inner().expect("finish the tar");
    gz.flush().expect("flush gzip");
    Bytes::from(gz.finish().expect("finish gzip"))
}

async fn answer(
    state: &Mutex<State>,
    root: &Url,
    request: Request<hyper::body::Incoming>,
) -> Result<Reply, std::io::Error> {
    let path = request.uri().path().to_owned();
    let failure = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.log.push(RecordedRequest {
            method: request.method().to_string(),
            path: path.clone(),
            query: request.uri().query().map(str::to_owned),
            authorization: request
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        });
        let rule = state
            .failures
            .iter_mut()
            .find(|f| f.remaining > 0 && path.starts_with(&f.prefix));
        rule.map(|rule| {
            rule.remaining -= 1;
            rule.failure.clone()
        })
    };
    match failure {
        None => {}
        Some(Failure::Status(code)) => return Ok(status(code)),
        Some(Failure::TooManyRequests { retry_after_secs }) => {
            let mut r = status(429);
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(r);
        }
        Some(Failure::RetryAfter {
            status: code,
            retry_after,
        }) => {
            let mut r = status(code);
            if let Ok(v) = HeaderValue::from_str(&retry_after) {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Some(Failure::Hang) => {
            std::future::pending::<Infallible>().await;
        }
        Some(Failure::Delay(d)) => tokio::time::sleep(d).await,
        Some(Failure::Close) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "fake registry: injected connection close",
            ))
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(status(405));
    }
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(route(&state, root, &path))
}

fn route(state: &State, root: &Url, path: &str) -> Reply {
    if path == "/.well-known/terraform.json" {
        let mut doc = serde_json::json!({ "providers.v1": "/v1/providers/" });
        if let Some(m) = &state.modules_v1 {
            doc["modules.v1"] = m.clone().into();
        }
        return json(200, &doc);
    }
    if let Some(bytes) = state.archives.get(path) {
        return body(200, "application/octet-stream", bytes.clone());
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["codeload", owner, repo, kind, ref git_ref @ ..] = segments[..] {
        if kind == "tar.gz" && !git_ref.is_empty() {
            let key = (owner.to_owned(), repo.to_owned(), git_ref.join("/"));
            if let Some(bytes) = state.tarballs.get(&key) {
                return body(200, "application/x-gzip", bytes.clone());
            }
        }
        return not_found();
    }
    match segments[..] {
        [.., ns, name, system, "versions"] => {
            let module = format!("{ns}/{name}/{system}");
            match state.modules.get(&module) {
                Some(versions) => {
                    let list: Vec<_> = versions
                        .iter()
                        .map(|v| serde_json::json!({ "version": v }))
                        .collect();
                    json(
                        200,
                        &serde_json::json!({ "modules": [{ "source": module, "versions": list }] }),
                    )
                }
                None => not_found(),
            }
        }
        [.., ns, name, system, version, "download"] => {
            let key = (format!("{ns}/{name}/{system}"), version.to_owned());
            match state.locations.get(&key) {
                Some(Location::Relative(l) | Location::Raw(l)) => terraform_get(l),
                Some(Location::Absolute(p)) => match root.join(p.trim_start_matches('/')) {
                    Ok(url) => terraform_get(url.as_str()),
                    Err(_) => status(500),
                },
                Some(Location::Body(l)) => json(200, &serde_json::json!({ "location": l })),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn json(code: u16, doc: &serde_json::Value) -> Reply {
    body(code, "application/json", Bytes::from(doc.to_string()))
}

fn not_found() -> Reply {
    json(404, &serde_json::json!({ "errors": ["not found"] }))
}

fn terraform_get(location: &str) -> Reply {
    let mut r = status(204);
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert("x-terraform-get", v);
            r
        }
        Err(_) => status(500),
    }
}
