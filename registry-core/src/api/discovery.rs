//! Bodies of the discovery routes, in the public registry's v1 shape
//! (field names as registry.terraform.io answers them).

use bytes::Bytes;
use catalogue_index::ModuleEntry;
use http::header::{HeaderValue, LOCATION};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::error::json as json_response;
use super::query::PageQuery;
use crate::registry::{ModuleDetails, ModulePage};

/// `published_at` as the public registry gives it; `null` when unknown
/// (versions published before the registry kept metadata).
fn published_at(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// One module in a list: its latest version's summary.
pub(super) fn module_summary(entry: &ModuleEntry) -> Value {
    let key = &entry.key;
    let latest = entry.latest();
    let version = latest.map_or("", |v| v.version.as_str());
    json!({
        "id": format!("{}/{}/{}/{version}", key.namespace, key.name, key.provider),
        "owner": "",
        "namespace": key.namespace,
        "name": key.name,
        "version": version,
        "provider": key.provider,
        "description": entry.description,
        "source": "",
        "published_at": published_at(latest.map_or("", |v| v.published_at.as_str())),
        "downloads": 0,
        "verified": false,
    })
}

/// `GET /v1/modules[/{namespace}]` and `/v1/modules/search`:
/// `{"meta":{limit,current_offset,next_offset?,prev_offset?,next_url?},"modules":[...]}`.
pub(super) fn page_body(path: &str, query: &PageQuery, page: &ModulePage) -> Response<Bytes> {
    let offset = query.filter.offset;
    let mut meta = json!({ "limit": page.limit, "current_offset": offset });
    if let Some(next) = page.next_offset {
        meta["next_offset"] = next.into();
        meta["next_url"] = query.url_at(path, page.limit, next).into();
    }
    if offset > 0 {
        let prev = offset.saturating_sub(page.limit);
        meta["prev_offset"] = prev.into();
        meta["prev_url"] = query.url_at(path, page.limit, prev).into();
    }
    let modules: Vec<Value> = page.modules.iter().map(module_summary).collect();
    json_response(StatusCode::OK, &json!({ "meta": meta, "modules": modules }))
}

/// `GET /v1/modules/{namespace}/{name}`: every provider of the module.
pub(super) fn providers_body(entries: &[ModuleEntry]) -> Response<Bytes> {
    let modules: Vec<Value> = entries.iter().map(module_summary).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "meta": { "limit": modules.len(), "current_offset": 0 },
            "modules": modules,
        }),
    )
}

/// `GET /v1/modules/{namespace}/{name}/{provider}[/{version}]`.
pub(super) fn details_body(details: &ModuleDetails) -> Response<Bytes> {
    let module = &details.module;
    let document = &details.document;
    let metadata = &document.metadata;
    let mut root = serde_json::to_value(&metadata.root).unwrap_or(Value::Null);
    root["name"] = module.name().into();
    json_response(
        StatusCode::OK,
        &json!({
            "id": format!("{module}/{}", details.version),
            "owner": "",
            "namespace": module.namespace(),
            "name": module.name(),
            "version": details.version.to_string(),
            "provider": module.system(),
            "description": document.description,
            "source": "",
            "published_at": published_at(document.published_at.as_deref().unwrap_or("")),
            "downloads": 0,
            "verified": false,
            "root": root,
            "submodules": metadata.submodules,
            "examples": metadata.examples,
            "providers": metadata.providers(),
            "versions": details.versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
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
