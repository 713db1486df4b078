//! The few S3 calls the stores make, with their errors classified.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use base64::Engine as _;
use bytes::Bytes;
use registry_core::{Sha256Digest, StorageError};

use crate::config::{normalize_prefix, S3Config};
use crate::error::{classify, Context, BACKEND};

/// The user-metadata entry (`x-amz-meta-sha256`) holding an object's SHA-256 in hex.
pub(crate) const SHA256_METADATA: &str = "sha256";

/// How often a conditional put is retried when S3 answers `409 ConditionalRequestConflict`
/// (another conditional write on the key was in flight).
const CONFLICT_RETRIES: u32 = 5;

/// A bucket and a key prefix, with the client to reach them.
#[derive(Clone)]
pub(crate) struct Bucket {
    client: Client,
    pub(crate) name: String,
    pub(crate) prefix: String,
    endpoint_url: Option<String>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its configuration is no business of a log line.
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// The body of a `PutObject`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PutBody<'a> {
    /// Bytes in memory.
    Bytes(&'a Bytes),
    /// A file, streamed from disk on each attempt.
    File(&'a std::path::Path),
}

/// What [`Bucket::head`] reports about an object.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) size: u64,
    /// From the `sha256` user metadata, else from a full-object SHA-256 checksum.
    pub(crate) sha256: Option<Sha256Digest>,
}

/// An object's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) bytes: Bytes,
    /// The object's ETag, as S3 answered it (quotes included).
    pub(crate) etag: Option<String>,
}

/// One listing: object keys and common prefixes (with a delimiter), all pages.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) keys: Vec<String>,
    pub(crate) prefixes: Vec<String>,
}

fn misconfigured(message: String) -> StorageError {
    StorageError::Misconfigured {
        backend: BACKEND,
        message,
    }
}

/// The HTTP client: hyper with rustls on *ring* (never aws-lc), native roots.
fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl Bucket {
    /// Loads the AWS configuration (default credential chain and region, with the
    /// overrides of `config`) and builds a client.
    pub(crate) async fn connect(config: &S3Config) -> Result<Self, StorageError> {
        config
            .validate()
            .map_err(|e| misconfigured(e.to_string()))?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(misconfigured(
                "no AWS region configured: set `region` (or AWS_REGION) to the bucket's \
                 region"
                    .into(),
            ));
        }
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk);
        if let Some(url) = &config.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        builder = builder.force_path_style(config.force_path_style);
        let client = Client::from_conf(builder.build());
        Ok(Self::new(client, config))
    }

    /// Wraps a ready client.
    pub(crate) fn new(client: Client, config: &S3Config) -> Self {
        Self {
            client,
            name: config.bucket.clone(),
            prefix: normalize_prefix(&config.prefix),
            endpoint_url: config.endpoint_url.clone(),
        }
    }

    /// Checks that the bucket exists and the credentials may use it (`HeadBucket`).
    pub(crate) async fn check(&self) -> Result<(), StorageError> {
        match self.client.head_bucket().bucket(&self.name).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // HEAD answers carry no error code: name the two common cases.
                match status {
                    Some(404) => Err(misconfigured(format!(
                        "HeadBucket s3://{}: bucket {:?} does not exist: create it, or \
                         configure an existing bucket (`bucket`, and `region` / `endpoint_url`)",
                        self.name, self.name
                    ))),
                    _ => Err(classify(e, Context::op("HeadBucket", &self.name, ""))),
                }
            }
        }
    }

    /// `PutObject` with `If-None-Match: *`: creates `key` only if it is absent.
    /// With `sha256`, sends it as the S3 SHA-256 checksum (which S3 verifies) and
    /// as `x-amz-meta-sha256` (hex).
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] if the key exists (S3 answered 412).
    pub(crate) async fn put_if_absent(
        &self,
        key: &str,
        body: PutBody<'_>,
        sha256: Option<Sha256Digest>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let mut attempt = 0;
        loop {
            let stream = match body {
                PutBody::Bytes(bytes) => ByteStream::from(bytes.clone()),
                // Streamed from the file, so a large upload is never held whole.
                PutBody::File(path) => ByteStream::from_path(path).await.map_err(|e| {
                    StorageError::other(BACKEND, format!("reading {}: {e}", path.display()))
                })?,
            };
            let mut req = self
                .client
                .put_object()
                .bucket(&self.name)
                .key(key)
                .if_none_match("*")
                .content_type(content_type)
                .body(stream);
            if let Some(digest) = sha256 {
                req = req
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest.0))
                    .metadata(SHA256_METADATA, digest.to_hex());
            }
            match req.send().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let conflict = e.raw_response().is_some_and(|r| r.status().as_u16() == 409)
                        && aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                            == Some("ConditionalRequestConflict");
                    if conflict && attempt < CONFLICT_RETRIES {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                        continue;
                    }
                    return Err(classify(e, Context::op("PutObject", &self.name, key)));
                }
            }
        }
    }

    /// `PutObject` without conditions (replaces the object if it exists).
    pub(crate) async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(e, Context::op("PutObject", &self.name, key)))
    }

    /// `PutObject` only if the object is absent (`expected_etag` `None`:
    /// `If-None-Match: *`) or still has `expected_etag` (`If-Match`), and
    /// answers the new ETag.
    ///
    /// # Errors
    /// [`StorageError::Conflict`] if the condition failed (S3 answered 412,
    /// 404 for a vanished object, or 409 for a concurrent conditional write).
    pub(crate) async fn put_conditional(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        expected_etag: Option<&str>,
    ) -> Result<String, StorageError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let req = match expected_etag {
            None => req.if_none_match("*"),
            Some(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => out.e_tag().map(str::to_owned).ok_or_else(|| {
                StorageError::other(
                    BACKEND,
                    format!("PutObject s3://{}/{key}: the answer has no ETag", self.name),
                )
            }),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if matches!(status, Some(412 | 409))
                    || (status == Some(404) && expected_etag.is_some())
                {
                    return Err(StorageError::Conflict);
                }
                Err(classify(e, Context::op("PutObject", &self.name, key)))
            }
        }
    }

    /// `HeadObject` (with checksums). [`StorageError::NotFound`] if absent.
    pub(crate) async fn head(&self, key: &str) -> Result<Head, StorageError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify(e, Context::lookup("HeadObject", &self.name, key)))?;
        let size = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let from_metadata = out
            .metadata()
            .and_then(|m| m.get(SHA256_METADATA))
            .and_then(|hex| Sha256Digest::from_hex(hex));
        // A composite (multipart) checksum is a checksum of checksums: not the archive's.
        let full_object = !matches!(out.checksum_type(), Some(ChecksumType::Composite));
        let from_checksum = out
            .checksum_sha256()
            .filter(|_| full_object)
            .and_then(digest_from_base64);
        Ok(Head {
            size,
            sha256: from_metadata.or(from_checksum),
        })
    }

    /// `GetObject`. [`StorageError::NotFound`] if absent.
    pub(crate) async fn get(&self, key: &str) -> Result<Object, StorageError> {
        let cx = Context::lookup("GetObject", &self.name, key);
        let out = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(e, cx))?;
        let etag = out.e_tag().map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable {
                backend: BACKEND,
                message: format!("{cx}: reading the body failed: {e}"),
            })?
            .into_bytes();
        Ok(Object { bytes, etag })
    }

    /// `GetObject` with `If-None-Match: etag`: `None` when the object still
    /// has that ETag (S3 answers `304 Not Modified` without the body).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub(crate) async fn get_if_none_match(
        &self,
        key: &str,
        etag: &str,
    ) -> Result<Option<Object>, StorageError> {
        let cx = Context::lookup("GetObject", &self.name, key);
        let sent = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .if_none_match(etag)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                return Ok(None)
            }
            Err(e) => return Err(classify(e, cx)),
        };
        let etag = out.e_tag().map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable {
                backend: BACKEND,
                message: format!("{cx}: reading the body failed: {e}"),
            })?
            .into_bytes();
        Ok(Some(Object { bytes, etag }))
    }

    /// `DeleteObject` (succeeds whether or not the key exists, as S3 does).
    pub(crate) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(e, Context::op("DeleteObject", &self.name, key)))
    }

    /// `ListObjectsV2` under `prefix` with delimiter `/`, following continuation
    /// tokens to the end: the direct objects and the "sub-folders".
    pub(crate) async fn list(&self, prefix: &str) -> Result<Listing, StorageError> {
        self.list_with(prefix, Some("/")).await
    }

    /// `ListObjectsV2` under `prefix` without a delimiter, following continuation
    /// tokens to the end: every object below `prefix`, at any depth.
    pub(crate) async fn list_recursive(&self, prefix: &str) -> Result<Listing, StorageError> {
        self.list_with(prefix, None).await
    }

    async fn list_with(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Listing, StorageError> {
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| classify(e, Context::op("ListObjectsV2", &self.name, prefix)))?;
            listing.keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            listing.prefixes.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(listing),
            }
        }
    }

    /// `ListObjectsV2` under `prefix` with delimiter `/`, in key order: up to
    /// `limit` direct object keys after `start_after` (exclusive), following
    /// continuation tokens only as far as needed (each request asks for at most
    /// what is still missing, and S3 answers at most 1,000 per request).
    pub(crate) async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        while keys.len() < limit {
            let max_keys = i32::try_from((limit - keys.len()).min(1_000)).unwrap_or(1_000);
            let req = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(prefix)
                .delimiter("/")
                .max_keys(max_keys);
            // S3 ignores `start-after` once a continuation token is given.
            let req = match token.take() {
                Some(t) => req.continuation_token(t),
                None => req.set_start_after(start_after.map(str::to_owned)),
            };
            let out = req
                .send()
                .await
                .map_err(|e| classify(e, Context::op("ListObjectsV2", &self.name, prefix)))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.truncate(limit);
        Ok(keys)
    }

    /// A presigned `GetObject` URL for `key`, valid for `ttl`.
    pub(crate) async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let presigning = PresigningConfig::expires_in(ttl).map_err(|e| {
            misconfigured(format!(
                "presigned URL lifetime {ttl:?}: {e} (`presign_ttl`)"
            ))
        })?;
        let req = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| classify(e, Context::op("presigning GetObject", &self.name, key)))?;
        Ok(req.uri().to_owned())
    }
}

/// Decodes a base64 SHA-256 checksum as S3 reports it.
fn digest_from_base64(b64: &str) -> Option<Sha256Digest> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    <[u8; 32]>::try_from(raw.as_slice()).ok().map(Sha256Digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_checksums_decode() {
        let d = Sha256Digest::of(b"abc");
        let b64 = base64::engine::general_purpose::STANDARD.encode(d.0);
        assert_eq!(digest_from_base64(&b64), Some(d));
        assert_eq!(digest_from_base64("abc-2"), None);
        assert_eq!(digest_from_base64("AAAA"), None);
    }
}
