//! [`RegistryUpstream`]: the `Upstream` port over Terraform's module registry protocol.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet};
use registry_core::version::parse_version;
use registry_core::{FetchedArchive, ModuleAddress, Upstream, UpstreamError, Version};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};
use upstream_http::{
    bearer, build_client, check_base_url, host_port, json, read_body, retry_after, shown_url,
    with_trailing_slash, Answer, AttemptError, Cache, ClientError, Fail, Overflow, Retries,
    Verdict, PATH_SEGMENT,
};

use crate::config::{ConfigError, RegistryUpstreamConfig};
use crate::source::{parse_source, shown_source, Source};

/// The header a registry's download endpoint answers with.
const X_TERRAFORM_GET: &str = "x-terraform-get";

/// Characters encoded in a git ref placed in a URL path (`/` is kept).
const GIT_REF: &AsciiSet = &PATH_SEGMENT.remove(b'/');

/// Another Terraform module registry, used as this registry's upstream.
///
/// Implements [`Upstream`]: version lists and download locations come from the
/// upstream's module registry API (found by service discovery) and are cached;
/// [`Upstream::fetch_archive`] fetches the archive a version's download
/// location points at (a GitHub repository at a fixed ref, or a `.tar.gz` /
/// `.zip` over HTTP(S)). See the [crate documentation](crate) for the details.
pub struct RegistryUpstream {
    config: RegistryUpstreamConfig,
    name: String,
    client: reqwest::Client,
    /// `Bearer <token>`, marked sensitive.
    auth: Option<HeaderValue>,
    discovery: Cache<(), Url, Fail>,
    versions: Cache<ModuleAddress, Option<Vec<Version>>, Fail>,
    locations: Cache<(ModuleAddress, Version), Option<String>, Fail>,
}

impl fmt::Debug for RegistryUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryUpstream")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("versions", &self.versions)
            .field("locations", &self.locations)
            .finish_non_exhaustive()
    }
}

impl RegistryUpstream {
    /// Builds the HTTP client (rustls with *ring*; the webpki roots plus any
    /// [`extra_root_certificates`](RegistryUpstreamConfig::extra_root_certificates)).
    /// Makes no request: discovery happens on first use.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`], naming the field, for a base URL or tarball
    /// base that is not http(s) (or has credentials, a query or a fragment), a
    /// token that cannot be sent in a header, or PEM text holding no valid
    /// certificate; [`ConfigError::Client`] if the client cannot be built.
    pub fn new(mut config: RegistryUpstreamConfig) -> Result<Self, ConfigError> {
        // Shown without credentials or query: those are what a refused URL may hold.
        check_base_url(&config.base_url).map_err(|r| ConfigError::Invalid {
            field: "base_url",
            reason: format!("{}: {r}", shown_url(&config.base_url)),
        })?;
        check_base_url(&config.github_tarball_base).map_err(|r| ConfigError::Invalid {
            field: "github_tarball_base",
            reason: format!("{}: {r}", shown_url(&config.github_tarball_base)),
        })?;
        with_trailing_slash(&mut config.base_url);
        with_trailing_slash(&mut config.github_tarball_base);
        // Checked above: the base URL has a host.
        let name = host_port(&config.base_url);
        let auth = match &config.token {
            None => None,
            Some(token) => Some(bearer(token.trim()).ok_or_else(|| ConfigError::Invalid {
                field: "token",
                reason: "the upstream token is empty or holds characters an HTTP header cannot carry"
                    .to_owned(),
            })?),
        };
        let builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!(
                "terraform-registry-upstream/",
                env!("CARGO_PKG_VERSION")
            ));
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
            client,
            auth,
            discovery: Cache::new(1),
            versions: Cache::new(entries),
            locations: Cache::new(entries),
        })
    }

    /// The upstream's name: `host[:port]` of the base URL. Every
    /// [`UpstreamError`] and [`FetchedArchive`] names it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in use (base URLs normalised to end in `/`).
    pub fn config(&self) -> &RegistryUpstreamConfig {
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

    /// The upstream's `modules.v1` endpoint, ending in `/`.
    async fn modules_v1(&self) -> Result<Url, Fail> {
        let ttl = self.config.discovery_ttl;
        self.discovery
            .get_or_fetch(&(), |_| ttl, || self.discover())
            .await
    }

    async fn discover(&self) -> Result<Url, Fail> {
        let url = self
            .config
            .base_url
            .join(".well-known/terraform.json")
            .map_err(|e| Fail::other(format!("cannot build the discovery URL: {e}")))?;
        let shown = shown_url(&url);
        let answer = self.get(&url, Target::Api).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(Fail::other(format!(
                "{} offers no module registry: its service discovery document {shown} answered HTTP 404",
                self.name
            )));
        }
        if answer.status != StatusCode::OK {
            return Err(unexpected_status(&shown, answer.status));
        }
        let doc: serde_json::Value = json(&shown, &answer.body)?;
        let Some(modules) = doc.get("modules.v1") else {
            return Err(Fail::other(format!(
                "{} offers no module registry: its service discovery document {shown} has no \"modules.v1\"",
                self.name
            )));
        };
        let Some(modules) = modules.as_str() else {
            return Err(Fail::other(format!(
                "the service discovery document {shown} has a \"modules.v1\" that is not a string"
            )));
        };
        let mut endpoint = url.join(modules).map_err(|e| {
            Fail::other(format!(
                "the service discovery document {shown} has an invalid \"modules.v1\" ({e})"
            ))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Fail::other(format!(
                "the service discovery document {shown} has a \"modules.v1\" that is not an http(s) URL"
            )));
        }
        endpoint.set_fragment(None);
        with_trailing_slash(&mut endpoint);
        tracing::debug!(upstream = %self.name, modules_v1 = %shown_url(&endpoint), "discovered the module registry");
        Ok(endpoint)
    }

    /// `{modules.v1}{ns}/{name}/{system}/{rest...}`, each segment percent-encoded.
    async fn module_url(&self, module: &ModuleAddress, rest: &[&str]) -> Result<Url, Fail> {
        let base = self.modules_v1().await?;
        let mut relative = String::from(".");
        for segment in [module.namespace(), module.name(), module.system()]
            .into_iter()
            .chain(rest.iter().copied())
        {
            relative.push('/');
            relative.extend(utf8_percent_encode(segment, PATH_SEGMENT));
        }
        base.join(&relative)
            .map_err(|e| Fail::other(format!("cannot build a module API URL: {e}")))
    }

    /// The versions of `module`, or `None` if the upstream has no such module.
    async fn fetch_versions(&self, module: &ModuleAddress) -> Result<Option<Vec<Version>>, Fail> {
        let url = self.module_url(module, &["versions"]).await?;
        let shown = shown_url(&url);
        let answer = self.get(&url, Target::Api).await?;
        match answer.status {
            StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::OK => {}
            other => return Err(unexpected_status(&shown, other)),
        }
        let doc: serde_json::Value = json(&shown, &answer.body)?;
        let Some(modules) = doc.get("modules").and_then(serde_json::Value::as_array) else {
            return Err(Fail::other(format!(
                "{shown} answered JSON without a \"modules\" list"
            )));
        };
        let Some(first) = modules.first() else {
            return Ok(None);
        };
        let entries = match first.get("versions") {
            None | Some(serde_json::Value::Null) => &[][..],
            Some(serde_json::Value::Array(list)) => &list[..],
            Some(_) => {
                return Err(Fail::other(format!(
                    "{shown} answered JSON whose \"versions\" is not a list"
                )))
            }
        };
        let mut versions = Vec::with_capacity(entries.len());
        for entry in entries {
            let raw = entry.get("version").and_then(serde_json::Value::as_str);
            match raw.map(parse_version) {
                Some(Ok(v)) => versions.push(v),
                Some(Err(e)) => {
                    tracing::debug!(upstream = %self.name, %module, error = %e, "skipping an upstream version that is not SemVer");
                }
                None => {
                    tracing::debug!(upstream = %self.name, %module, "skipping an upstream version entry without a version string");
                }
            }
        }
        Ok(Some(versions))
    }

    /// The download location of `version` of `module`, resolved like
    /// Terraform does; `None` if the upstream has no such version.
    async fn fetch_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<Option<String>, Fail> {
        let version_text = version.to_string();
        let url = self
            .module_url(module, &[&version_text, "download"])
            .await?;
        let shown = shown_url(&url);
        let answer = self.get(&url, Target::Api).await?;
        match answer.status {
            StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::OK | StatusCode::NO_CONTENT => {}
            other => return Err(unexpected_status(&shown, other)),
        }
        let header = match answer.headers.get(X_TERRAFORM_GET) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| {
                        Fail::other(format!(
                            "{shown} answered an X-Terraform-Get header that is not ASCII text"
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
        };
        let location = match header {
            Some(h) if !h.is_empty() => h,
            _ if answer.status == StatusCode::OK && !answer.body.is_empty() => {
                let doc: serde_json::Value = json(&shown, &answer.body)?;
                match doc.get("location").and_then(serde_json::Value::as_str) {
                    Some(l) if !l.trim().is_empty() => l.trim().to_owned(),
                    _ => {
                        return Err(Fail::other(format!(
                            "{shown} answered neither an X-Terraform-Get header nor a JSON \"location\""
                        )))
                    }
                }
            }
            _ => {
                return Err(Fail::other(format!(
                    "{shown} answered HTTP {} without an X-Terraform-Get header",
                    answer.status.as_u16()
                )))
            }
        };
        resolve_location(&url, &location).map(Some).map_err(|e| {
            Fail::other(format!(
                "{shown} answered a relative location that is not a valid URL reference ({e})"
            ))
        })
    }

    /// GET `url` with retries (see the crate docs). Returns every answer that
    /// is not retried: its body is read (capped) only for 2xx statuses.
    async fn get(&self, url: &Url, target: Target) -> Result<Answer, Fail> {
        let shown = shown_url(url);
        let retries = Retries {
            upstream: &self.name,
            peer: "upstream",
            max_attempts: self.config.max_attempts,
            backoff: self.config.backoff,
            max_retry_wait: self.config.max_retry_wait,
            timeout: self.config.timeout,
        };
        retries
            .run(
                &Method::GET,
                &shown,
                || self.attempt(url, target),
                |answer, attempt| self.judge(&shown, target, answer, attempt),
            )
            .await
    }

    /// Which answers are retried: `429` and `5xx` (after their
    /// `Retry-After`, unless it is longer than `max_retry_wait`); `401` and
    /// `403` fail at once, saying whose credentials were refused.
    fn judge(&self, shown: &str, target: Target, answer: &Answer, attempt: u32) -> Verdict {
        let status = answer.status;
        tracing::debug!(upstream = %self.name, url = %shown, status = status.as_u16(), attempt, "upstream answered");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = retry_after(&answer.headers, SystemTime::now());
            let fail = status_fail(shown, status, retry_after, attempt);
            if let Some(after) = retry_after.filter(|a| *a > self.config.max_retry_wait) {
                tracing::warn!(upstream = %self.name, url = %shown, status = status.as_u16(), retry_after_secs = after.as_secs(), "upstream asks to retry later than this registry waits; giving up");
                return Verdict::Fail(fail);
            }
            Verdict::Retry {
                fail,
                wait: retry_after,
            }
        } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            Verdict::Fail(Fail::other(match (target, &self.auth) {
                (Target::Api, Some(_)) => format!(
                    "{shown} answered HTTP {}: the upstream refused the registry's credentials; check the upstream token (`token`)",
                    status.as_u16()
                ),
                (Target::Api, None) => format!(
                    "{shown} answered HTTP {}: the upstream refused the registry's credentials (none are configured; set an upstream token, `token`)",
                    status.as_u16()
                ),
                (Target::Archive, _) => format!(
                    "{shown} answered HTTP {}: the archive host refused access (no credentials are sent to archive hosts)",
                    status.as_u16()
                ),
            }))
        } else {
            Verdict::Accept
        }
    }

    /// One GET of `url`.
    async fn attempt(&self, url: &Url, target: Target) -> Result<Answer, AttemptError> {
        let mut request = self.client.get(url.clone());
        if let (Target::Api, Some(auth)) = (target, &self.auth) {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(AttemptError::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            return Ok(Answer {
                status,
                headers,
                body: Bytes::new(),
            });
        }
        let cap = self.config.max_archive_bytes;
        let too_large = || {
            let shown = shown_url(url);
            match target {
                Target::Archive => Fail::Unsupported(format!(
                    "the archive {shown} is larger than this registry's limit of {cap} bytes for pinned archives (max_archive_bytes)"
                )),
                Target::Api => Fail::other(format!(
                    "{shown} answered more than this registry's limit of {cap} bytes"
                )),
            }
        };
        let body = read_body(response, cap, Overflow::Refuse, too_large).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Fetches an archive (no credentials) and insists on a 2xx answer.
    async fn fetch_bytes(&self, url: &Url) -> Result<Bytes, Fail> {
        let answer = self.get(url, Target::Archive).await?;
        if !answer.status.is_success() {
            return Err(unexpected_status(&shown_url(url), answer.status));
        }
        Ok(answer.body)
    }

    /// `{github_tarball_base}{owner}/{repo}/tar.gz/{ref}`.
    fn tarball_url(&self, owner: &str, repo: &str, git_ref: &str) -> Result<Url, Fail> {
        let relative = format!(
            "./{owner}/{repo}/tar.gz/{}",
            utf8_percent_encode(git_ref, GIT_REF)
        );
        self.config
            .github_tarball_base
            .join(&relative)
            .map_err(|e| Fail::other(format!("cannot build the tarball URL: {e}")))
    }
}

#[async_trait]
impl Upstream for RegistryUpstream {
    /// Fetches the service discovery document afresh (not from the cache).
    async fn probe(&self) -> Result<(), UpstreamError> {
        self.discover()
            .await
            .map(|_| ())
            .map_err(|fail| self.error(fail))
    }

    async fn list_versions(&self, module: &ModuleAddress) -> Result<Vec<Version>, UpstreamError> {
        let (found, missing) = (self.config.versions_ttl, self.config.not_found_ttl);
        let ttl = |v: &Option<Vec<Version>>| if v.is_some() { found } else { missing };
        match self
            .versions
            .get_or_fetch(module, ttl, || self.fetch_versions(module))
            .await
        {
            Ok(Some(versions)) => Ok(versions),
            Ok(None) => Err(self.not_found()),
            Err(fail) => Err(self.error(fail)),
        }
    }

    async fn download_location(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<String, UpstreamError> {
        let (found, missing) = (self.config.versions_ttl, self.config.not_found_ttl);
        let ttl = |v: &Option<String>| if v.is_some() { found } else { missing };
        let key = (module.clone(), version.clone());
        match self
            .locations
            .get_or_fetch(&key, ttl, || self.fetch_location(module, version))
            .await
        {
            Ok(Some(location)) => Ok(location),
            Ok(None) => Err(self.not_found()),
            Err(fail) => Err(self.error(fail)),
        }
    }

    async fn fetch_archive(
        &self,
        module: &ModuleAddress,
        version: &Version,
    ) -> Result<FetchedArchive, UpstreamError> {
        let location = match self.fetch_location(module, version).await {
            Ok(Some(location)) => location,
            Ok(None) => return Err(self.not_found()),
            Err(fail) => return Err(self.error(fail)),
        };
        let source = parse_source(&location).map_err(|message| UpstreamError::Unsupported {
            upstream: self.name.clone(),
            message,
        })?;
        // Logged without its query string: it may hold a signature.
        let logged = shown_source(&location);
        let logged = logged.split('?').next().unwrap_or_default();
        tracing::info!(upstream = %self.name, %module, %version, source = %logged, "fetching an upstream archive to pin");
        match source {
            Source::GitHub {
                owner,
                repo,
                git_ref,
                subdir,
            } => {
                let url = self
                    .tarball_url(&owner, &repo, &git_ref)
                    .map_err(|f| self.error(f))?;
                let bytes = self.fetch_bytes(&url).await.map_err(|f| self.error(f))?;
                let fetched =
                    FetchedArchive::new(bytes, self.name.clone(), shown_source(&location))
                        .with_strip_top_dir(true)
                        .with_git_ref(git_ref);
                Ok(match subdir {
                    Some(subdir) => fetched.with_subdir(subdir),
                    None => fetched,
                })
            }
            Source::Archive {
                url,
                subdir,
                sha256,
            } => {
                let bytes = self.fetch_bytes(&url).await.map_err(|f| self.error(f))?;
                if let Some(want) = sha256 {
                    let got: [u8; 32] = Sha256::digest(&bytes).into();
                    if got != want {
                        return Err(self.error(Fail::other(format!(
                            "checksum mismatch for module {module} version {version}: the download location's checksum= says sha256 {} but the archive fetched from {} has sha256 {}",
                            hex::encode(want),
                            shown_url(&url),
                            hex::encode(got)
                        ))));
                    }
                }
                let fetched =
                    FetchedArchive::new(bytes, self.name.clone(), shown_source(&location));
                Ok(match subdir {
                    Some(subdir) => fetched.with_subdir(subdir),
                    None => fetched,
                })
            }
        }
    }
}

/// Resolves a download location like Terraform's registry client: one that
/// starts with `/`, `./` or `../` is a URL reference relative to the download
/// request's URL; anything else is a go-getter address, returned unchanged.
pub(crate) fn resolve_location(request: &Url, location: &str) -> Result<String, String> {
    if location.starts_with('/') || location.starts_with("./") || location.starts_with("../") {
        request
            .join(location)
            .map(String::from)
            .map_err(|e| e.to_string())
    } else {
        Ok(location.to_owned())
    }
}

fn unexpected_status(shown: &str, status: StatusCode) -> Fail {
    Fail::other(format!("{shown} answered unexpected HTTP {status}"))
}

/// What a retryable status means once retrying stops.
fn status_fail(
    shown: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    attempts: u32,
) -> Fail {
    let after = retry_after.map_or(String::new(), |a| {
        format!(", asking to retry after {} s", a.as_secs())
    });
    let message = format!("{shown} answered HTTP {status}{after} (attempt {attempts})");
    Fail::from_status(status, message, retry_after)
}

/// Who a request goes to: credentials go to the registry's API only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Discovery and the module API: the token is sent.
    Api,
    /// Archive and tarball hosts: no token.
    Archive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_base_urls_are_shown_without_their_secrets() {
        for base in [
            "https://u:hunter2@r.example/",
            "https://r.example/?token=hunter2",
        ] {
            let e = RegistryUpstream::new(RegistryUpstreamConfig::new(Url::parse(base).unwrap()))
                .unwrap_err();
            let text = e.to_string();
            assert!(text.contains("https://r.example/"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn locations_resolve_like_terraform() {
        let req = Url::parse("https://r.example/v1/modules/a/b/c/1.0.0/download").unwrap();
        for (loc, want) in [
            ("/archives/x.tgz", "https://r.example/archives/x.tgz"),
            ("./x.tgz", "https://r.example/v1/modules/a/b/c/1.0.0/x.tgz"),
            (
                "../x.zip?archive=zip",
                "https://r.example/v1/modules/a/b/c/x.zip?archive=zip",
            ),
            ("//other.example/x.tgz", "https://other.example/x.tgz"),
            (
                "git::https://github.com/o/r?ref=v1",
                "git::https://github.com/o/r?ref=v1",
            ),
            ("https://cdn.example/x.tgz", "https://cdn.example/x.tgz"),
            ("x.tgz", "x.tgz"),
        ] {
            assert_eq!(resolve_location(&req, loc).unwrap(), want, "{loc}");
        }
    }

    #[test]
    fn name_is_host_and_port() {
        let u = RegistryUpstream::new(RegistryUpstreamConfig::default()).unwrap();
        assert_eq!(u.name(), "registry.terraform.io");
        let u = RegistryUpstream::new(RegistryUpstreamConfig::new(
            Url::parse("http://127.0.0.1:8080/prefix").unwrap(),
        ))
        .unwrap();
        assert_eq!(u.name(), "127.0.0.1:8080");
        assert_eq!(
            u.config().base_url.as_str(),
            "http://127.0.0.1:8080/prefix/"
        );
    }

    #[test]
    fn refuses_unusable_settings() {
        let field = |config| match RegistryUpstream::new(config) {
            Err(ConfigError::Invalid { field, reason }) => {
                assert!(!reason.contains("TFR_"), "{reason}");
                field
            }
            other => panic!("{other:?}"),
        };
        let bad_token = RegistryUpstreamConfig::default().with_token("a\nb");
        assert_eq!(field(bad_token), "token");
        let bad_pem = RegistryUpstreamConfig::default()
            .with_extra_root_certificates(vec![b"not a certificate".to_vec()]);
        assert_eq!(field(bad_pem), "extra_root_certificates");
        let bad_base = RegistryUpstreamConfig::new(Url::parse("file:///tmp").unwrap());
        assert_eq!(field(bad_base), "base_url");
        let bad_tarballs = RegistryUpstreamConfig::default()
            .with_github_tarball_base(Url::parse("https://u:p@codeload.example.com/").unwrap());
        assert_eq!(field(bad_tarballs), "github_tarball_base");
    }
}
