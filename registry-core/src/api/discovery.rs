//! Bodies of the discovery routes, in the public registry's v1 shape
//! (field names as registry.terraform.io answers them).

use std::fmt::Display;

use bytes::Bytes;
use catalogue_index::ModuleEntry;
use http::header::{HeaderValue, LOCATION};
use http::{Response, StatusCode};
use module_metadata::ModulePart;
use serde::Serialize;

use super::error::{json as json_response, json_bytes};
use super::query::PageQuery;
use super::responses::{as_display, as_display_seq};
use crate::registry::{ModuleDetails, ModulePage};
use crate::Version;

/// The fields a module's summary in a list and its details share, in the
/// public registry's names and order.
#[derive(Serialize)]
struct ModuleHeader<'a, V: Display> {
    #[serde(serialize_with = "as_display")]
    id: ModuleId<'a, V>,
    owner: &'static str,
    namespace: &'a str,
    name: &'a str,
    #[serde(serialize_with = "as_display")]
    version: V,
    provider: &'a str,
    description: &'a str,
    source: &'static str,
    /// `None` (JSON `null`) when unknown (versions published before the
    /// registry kept metadata).
    published_at: Option<&'a str>,
    downloads: u64,
    verified: bool,
}

impl<'a, V: Display + Copy> ModuleHeader<'a, V> {
    fn new(
        (namespace, name, provider): (&'a str, &'a str, &'a str),
        version: V,
        description: &'a str,
        published_at: Option<&'a str>,
    ) -> Self {
        Self {
            id: ModuleId {
                namespace,
                name,
                provider,
                version,
            },
            owner: "",
            namespace,
            name,
            version,
            provider,
            description,
            source: "",
            published_at: published_at.filter(|p| !p.is_empty()),
            downloads: 0,
            verified: false,
        }
    }
}

/// `{namespace}/{name}/{provider}/{version}`, written without building a `String`.
struct ModuleId<'a, V> {
    namespace: &'a str,
    name: &'a str,
    provider: &'a str,
    version: V,
}

impl<V: Display> Display for ModuleId<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.namespace, self.name, self.provider, self.version
        )
    }
}

/// One module in a list: its latest version's summary. Borrows from the
/// catalogue entry and is written straight to bytes.
type ModuleSummary<'a> = ModuleHeader<'a, &'a str>;

/// The summary of a catalogue entry's latest version.
fn summary_of(entry: &ModuleEntry) -> ModuleSummary<'_> {
    let key = &entry.key;
    let latest = entry.latest();
    ModuleHeader::new(
        (&key.namespace, &key.name, &key.provider),
        latest.map_or("", |v| v.version.as_str()),
        &entry.description,
        latest.map(|v| v.published_at.as_str()),
    )
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
    serde_json::to_vec(&summary_of(entry))
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
    let modules: Vec<ModuleSummary<'_>> = entries.iter().map(summary_of).collect();
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

/// The body of `GET /v1/modules/{namespace}/{name}/{provider}[/{version}]`.
#[derive(Serialize)]
struct DetailsBody<'a> {
    #[serde(flatten)]
    header: ModuleHeader<'a, &'a Version>,
    root: &'a ModulePart,
    submodules: &'a [ModulePart],
    examples: &'a [ModulePart],
    providers: Vec<String>,
    #[serde(serialize_with = "as_display_seq")]
    versions: &'a [Version],
}

/// `GET /v1/modules/{namespace}/{name}/{provider}[/{version}]`.
pub(super) fn details_body(details: &ModuleDetails) -> Response<Bytes> {
    let module = &details.module;
    let document = &details.document;
    let metadata = &document.metadata;
    json_response(
        StatusCode::OK,
        &DetailsBody {
            header: ModuleHeader::new(
                (module.namespace(), module.name(), module.system()),
                &details.version,
                &document.description,
                document.published_at.as_deref(),
            ),
            root: &metadata.root,
            submodules: &metadata.submodules,
            examples: &metadata.examples,
            providers: metadata.providers(),
            versions: &details.versions,
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
