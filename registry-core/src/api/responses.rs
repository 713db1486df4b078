//! Typed response bodies and the responses built from the use cases' answers.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG};
use http::{Response, StatusCode};
use serde::Serialize;

use super::error::ApiError;
use crate::pins::PinRecord;
use crate::registry::Published;
use crate::storage::{Archive, StorageError};
use crate::tokens::TokenRecord;
use crate::{ModuleAddress, Version};

/// The OpenAPI 3 document of this API, served at `GET /openapi.json`.
const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub(super) fn openapi_response() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(OPENAPI_JSON.as_bytes()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `GET .../versions`: `{"modules":[{"source":"ns/name/system","versions":[{"version":"1.0.0"}]}]}`.
#[derive(Serialize)]
pub(super) struct VersionsBody<'a> {
    modules: [ModuleVersions<'a>; 1],
}

#[derive(Serialize)]
struct ModuleVersions<'a> {
    #[serde(serialize_with = "as_display")]
    source: &'a ModuleAddress,
    versions: Vec<VersionEntry<'a>>,
}

#[derive(Serialize)]
struct VersionEntry<'a> {
    #[serde(serialize_with = "as_display")]
    version: &'a Version,
}

impl<'a> VersionsBody<'a> {
    pub(super) fn new(module: &'a ModuleAddress, versions: &'a [Version]) -> Self {
        Self {
            modules: [ModuleVersions {
                source: module,
                versions: versions
                    .iter()
                    .map(|version| VersionEntry { version })
                    .collect(),
            }],
        }
    }
}

/// `PUT .../{version}`'s `201` body.
#[derive(Serialize)]
pub(super) struct PublishedBody<'a> {
    namespace: &'a str,
    name: &'a str,
    system: &'a str,
    #[serde(serialize_with = "as_display")]
    version: &'a Version,
    #[serde(serialize_with = "as_display")]
    sha256: &'a crate::storage::Sha256Digest,
    size: u64,
    /// What metadata extraction could not read (the version is published).
    warnings: &'a [String],
}

impl<'a> From<&'a Published> for PublishedBody<'a> {
    fn from(p: &'a Published) -> Self {
        Self {
            namespace: p.module.namespace(),
            name: p.module.name(),
            system: p.module.system(),
            version: &p.version,
            sha256: &p.info.sha256,
            size: p.info.size,
            warnings: &p.warnings,
        }
    }
}

/// One pin in `GET /v1/pins` and `POST /v1/pins/...` (which adds `size`).
pub(super) fn pin_body(p: &PinRecord) -> serde_json::Value {
    serde_json::json!({
        "namespace": p.module.namespace(),
        "name": p.module.name(),
        "system": p.module.system(),
        "version": p.version.to_string(),
        "upstream": p.upstream,
        "source": p.source,
        "ref": p.git_ref,
        "sha256": p.sha256.to_hex(),
        "pinned_at": rfc3339(p.pinned_at),
    })
}

/// One token in `GET /v1/tokens` and `POST /v1/tokens` (which adds `token`).
pub(crate) fn token_body(r: &TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "name": r.name,
        "tier": r.tier,
        "created_at": rfc3339(r.created_at),
        "expires_at": r.expires_at.map(rfc3339),
        "created_by": r.created_by,
        "namespaces": r.namespaces.as_ref().map(|s| s.patterns()),
    })
}

/// Serializes a value as the string its `Display` writes, without an
/// intermediate `String`.
pub(super) fn as_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serializes values as an array of the strings their `Display` writes.
pub(super) fn as_display_seq<S: serde::Serializer, T: std::fmt::Display>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(ToString::to_string))
}

/// `200` with the archive, its content type, and its SHA-256 as the `ETag`.
pub(super) fn archive_response(archive: &Archive) -> Response<Bytes> {
    // Archives served here come from `read_archive` or an upstream, in memory.
    let bytes = match archive.to_bytes() {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::Storage(StorageError::other("archive", e)).into_response(),
    };
    let mut r = Response::new(bytes);
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(archive.info().format.content_type()),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300, immutable"),
    );
    if let Ok(etag) =
        HeaderValue::from_str(&format!("\"sha256:{}\"", archive.info().sha256.to_hex()))
    {
        h.insert(ETAG, etag);
    }
    r
}

/// The `HEAD` answer of an archive URL: `archive_response`'s headers, with
/// `Content-Length` only when the size is known here (else the
/// [`UnknownLength`] mark keeps `HEAD` handling from claiming `0`).
pub(super) fn archive_head_response(head: &crate::ArchiveHead) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(head.format.content_type()),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300, immutable"),
    );
    if let Some(sha256) = &head.sha256 {
        if let Ok(etag) = HeaderValue::from_str(&format!("\"sha256:{}\"", sha256.to_hex())) {
            h.insert(ETAG, etag);
        }
    }
    match head.size {
        Some(size) => {
            h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
        }
        None => {
            r.extensions_mut().insert(UnknownLength);
        }
    }
    r
}

/// Marks a `HEAD` answer whose `GET` body length is not known here.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnknownLength;

/// `204` with `X-Terraform-Get: url`.
pub(super) fn terraform_get(url: &str) -> Response<Bytes> {
    let mut r = no_content();
    match HeaderValue::from_str(url) {
        Ok(v) => {
            r.headers_mut().insert("x-terraform-get", v);
            r
        }
        Err(_) => {
            tracing::error!("download location is not a valid header value");
            ApiError::Storage(StorageError::other("download", "invalid download location"))
                .into_response()
        }
    }
}

pub(super) fn no_content() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
