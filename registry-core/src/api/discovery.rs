//! Bodies of the discovery routes, in the public registry's v1 shape
//! (field names as registry.terraform.io answers them).

use bytes::Bytes;
use catalogue_index::ModuleEntry;
use http::header::{HeaderValue, LOCATION};
use http::{Response, StatusCode};
use module_metadata::ModulePart;
use serde::Serialize;

use super::error::{json as json_response, json_bytes};
use super::query::PageQuery;
use crate::registry::{ModuleDetails, ModulePage};
use crate::{ModuleAddress, Version};

/// One module in a list: its latest version's summary, in the public
/// registry's field names. Borrows from the catalogue entry and is written
/// straight to the response bytes (a page of 100 makes no `Value` tree).
#[derive(Serialize)]
pub(super) struct ModuleSummary<'a> {
    id: SummaryId<'a>,
    owner: &'static str,
    namespace: &'a str,
    name: &'a str,
    version: &'a str,
    provider: &'a str,
    description: &'a str,
    source: &'static str,
    /// `None` (JSON `null`) when unknown.
    published_at: Option<&'a str>,
    downloads: u64,
    verified: bool,
}

impl<'a> ModuleSummary<'a> {
    pub(super) fn of(entry: &'a ModuleEntry) -> Self {
        let key = &entry.key;
        let latest = entry.latest();
        let version = latest.map_or("", |v| v.version.as_str());
        Self {
            id: SummaryId { entry, version },
            owner: "",
            namespace: &key.namespace,
            name: &key.name,
            version,
            provider: &key.provider,
            description: &entry.description,
            source: "",
            published_at: latest
                .map(|v| v.published_at.as_str())
                .filter(|p| !p.is_empty()),
            downloads: 0,
            verified: false,
        }
    }
}

/// `{namespace}/{name}/{provider}/{version}`, written without building a `String`.
struct SummaryId<'a> {
    entry: &'a ModuleEntry,
    version: &'a str,
}

impl Serialize for SummaryId<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let key = &self.entry.key;
        serializer.collect_str(&format_args!(
            "{}/{}/{}/{}",
            key.namespace, key.name, key.provider, self.version
        ))
    }
}

/// The `meta` of a page.
#[derive(Serialize)]
struct PageMeta {
    limit: usize,
    current_offset: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_url: Option<String>,
}

/// A page body: `{"meta": ..., "modules": [...]}`.
#[derive(Serialize)]
struct PageBody<'a> {
    meta: PageMeta,
    modules: Vec<ModuleSummary<'a>>,
}

/// One module's summary as JSON bytes: what a page keeps per module in the
/// loaded index, so a page is written by copying (no escaping per request).
fn summary_json(entry: &ModuleEntry) -> Box<[u8]> {
    // Plain data with string keys: serializing it cannot fail.
    serde_json::to_vec(&ModuleSummary::of(entry))
        .unwrap_or_default()
        .into_boxed_slice()
}

/// `GET /v1/modules[/{namespace}]` and `/v1/modules/search`:
/// `{"meta":{limit,current_offset,next_offset?,prev_offset?,next_url?,prev_url?},"modules":[...]}`.
pub(super) fn page_body(path: &str, query: &PageQuery, page: &ModulePage) -> Response<Bytes> {
    let offset = query.filter.offset;
    let prev = (offset > 0).then(|| offset.saturating_sub(page.limit));
    let meta = PageMeta {
        limit: page.limit,
        current_offset: offset,
        next_offset: page.next_offset,
        prev_offset: prev,
        next_url: page
            .next_offset
            .map(|next| query.url_at(path, page.limit, next)),
        prev_url: prev.map(|prev| query.url_at(path, page.limit, prev)),
    };
    let summaries = page.rendered(summary_json);
    let mut body = Vec::with_capacity(512 + summaries.len() * 512);
    body.extend_from_slice(b"{\"meta\":");
    if serde_json::to_writer(&mut body, &meta).is_err() {
        body.extend_from_slice(b"{}");
    }
    body.extend_from_slice(b",\"modules\":[");
    for (i, summary) in summaries.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(summary);
    }
    body.extend_from_slice(b"]}");
    json_bytes(StatusCode::OK, body)
}

/// `GET /v1/modules/{namespace}/{name}`: every provider of the module.
pub(super) fn providers_body(entries: &[ModuleEntry]) -> Response<Bytes> {
    let modules: Vec<ModuleSummary<'_>> = entries.iter().map(ModuleSummary::of).collect();
    let meta = PageMeta {
        limit: modules.len(),
        current_offset: 0,
        next_offset: None,
        prev_offset: None,
        next_url: None,
        prev_url: None,
    };
    json_response(StatusCode::OK, &PageBody { meta, modules })
}

/// A value written as its `Display` form, without building a `String`.
struct Displayed<T>(T);

impl<T: std::fmt::Display> Serialize for Displayed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// `{namespace}/{name}/{provider}/{version}`.
struct VersionId<'a>(&'a ModuleAddress, &'a Version);

impl std::fmt::Display for VersionId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// Versions as a JSON array of strings.
struct VersionList<'a>(&'a [Version]);

impl Serialize for VersionList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Displayed))
    }
}

/// The body of `GET /v1/modules/{namespace}/{name}/{provider}[/{version}]`.
#[derive(Serialize)]
struct DetailsBody<'a> {
    id: Displayed<VersionId<'a>>,
    owner: &'static str,
    namespace: &'a str,
    name: &'a str,
    version: Displayed<&'a Version>,
    provider: &'a str,
    description: &'a str,
    source: &'static str,
    published_at: Option<&'a str>,
    downloads: u64,
    verified: bool,
    root: &'a ModulePart,
    submodules: &'a [ModulePart],
    examples: &'a [ModulePart],
    providers: Vec<String>,
    versions: VersionList<'a>,
}

/// `GET /v1/modules/{namespace}/{name}/{provider}[/{version}]`.
pub(super) fn details_body(details: &ModuleDetails) -> Response<Bytes> {
    let module = &details.module;
    let document = &details.document;
    let metadata = &document.metadata;
    json_response(
        StatusCode::OK,
        &DetailsBody {
            id: Displayed(VersionId(module, &details.version)),
            owner: "",
            namespace: module.namespace(),
            name: module.name(),
            version: Displayed(&details.version),
            provider: module.system(),
            description: &document.description,
            source: "",
            published_at: document.published_at.as_deref().filter(|p| !p.is_empty()),
            downloads: 0,
            verified: false,
            root: &metadata.root,
            submodules: &metadata.submodules,
            examples: &metadata.examples,
            providers: metadata.providers(),
            versions: VersionList(&details.versions),
        },
    )
}

/// `GET .../{provider}/download`: `302` to the latest version's download.
pub(super) fn redirect(location: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, value);
    }
    r
}
