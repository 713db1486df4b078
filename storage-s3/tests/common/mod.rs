//! Test support shared by `conformance.rs` (an in-process S3 server) and
//! `external_conformance.rs` (an S3-compatible server named by
//! `TFR_TEST_S3_ENDPOINT`): the servers, clients, and the S3-specific checks.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use registry_core::audit::{AuditAction, AuditEvent, AuditLog};
use registry_core::conformance::KeepAlive;
use registry_core::{
    Archive, ArchiveAccess, ArchiveFormat, ModuleAddress, NewToken, PinRecord, PinStore,
    Sha256Digest, Storage, StorageError, Tier, TokenRecord, TokenStore, Version,
};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use storage_s3::{S3AuditLog, S3Config, S3PinStore, S3Storage, S3TokenStore};

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "registry-test-access-key";
pub const SECRET_KEY: &str = "registry-test-secret-key";

// --- servers -------------------------------------------------------------------

/// An S3 endpoint with a bucket to use, and what keeps it alive.
pub struct Target {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Whether the server verifies SigV4 signatures (s3s does; moto does not).
    pub verifies_signatures: bool,
    _server: Option<InProcess>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// An `s3s-fs` server on 127.0.0.1 (on the current tokio runtime), over a
/// temporary directory, removed when dropped.
struct InProcess {
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

impl Target {
    /// Starts an in-process `s3s` + `s3s-fs` server with SigV4 verified against
    /// static test credentials ([`ACCESS_KEY`], [`SECRET_KEY`]), and creates a bucket.
    pub async fn in_process() -> Arc<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder as ConnBuilder;

        let dir = tempfile::tempdir().expect("temp dir");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs");
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(AtomicPuts::new(fs));
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        let target = Self {
            endpoint: format!("http://{addr}"),
            bucket: random_name("registry-"),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            verifies_signatures: true,
            _server: Some(InProcess { task, _dir: dir }),
        };
        target.create_bucket().await;
        Arc::new(target)
    }

    /// The server named by `TFR_TEST_S3_ENDPOINT` (credentials `testing`/`testing`,
    /// region us-east-1, as moto expects), with a fresh random bucket.
    pub async fn external(endpoint: String) -> Arc<Self> {
        let target = Self {
            endpoint,
            bucket: random_name("registry-"),
            access_key: "testing".into(),
            secret_key: "testing".into(),
            verifies_signatures: false,
            _server: None,
        };
        target.create_bucket().await;
        Arc::new(target)
    }

    async fn create_bucket(&self) {
        self.client()
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("create bucket");
    }

    /// A client with the target's credentials.
    pub fn client(&self) -> Client {
        self.client_with(Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "test",
        ))
    }

    /// A client with other credentials.
    pub fn client_with(&self, credentials: Credentials) -> Client {
        Client::from_conf(
            self.client_builder()
                .credentials_provider(credentials)
                .build(),
        )
    }

    /// A client config builder without credentials.
    pub fn client_builder(&self) -> aws_sdk_s3::config::Builder {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
    }

    /// A configuration on the target's bucket with a fresh random prefix.
    pub fn config(&self) -> S3Config {
        S3Config::new(&self.bucket)
            .with_prefix(random_name("test-"))
            .with_region(REGION)
            .with_endpoint_url(&self.endpoint)
            .with_force_path_style(true)
    }

    /// An `S3Storage` on a fresh prefix, keeping the server alive.
    pub fn storage(self: &Arc<Self>) -> Arc<dyn Storage> {
        Arc::new(KeepAlive::new(
            S3Storage::from_client(self.client(), self.config()),
            self.clone(),
        ))
    }

    /// An `S3CatalogueStore` on a fresh prefix, keeping the server alive.
    pub fn catalogue_store(self: &Arc<Self>) -> Arc<dyn registry_core::CatalogueStore> {
        Arc::new(KeepAlive::new(
            storage_s3::S3CatalogueStore::from_client(self.client(), self.config()),
            self.clone(),
        ))
    }

    /// An `S3TokenStore` on a fresh prefix, keeping the server alive.
    pub fn token_store(self: &Arc<Self>) -> Arc<dyn TokenStore> {
        Arc::new(KeepAlive::new(
            S3TokenStore::from_client(self.client(), self.config()),
            self.clone(),
        ))
    }

    /// An `S3PinStore` on a fresh prefix, keeping the server alive.
    pub fn pin_store(self: &Arc<Self>) -> Arc<dyn PinStore> {
        Arc::new(KeepAlive::new(
            S3PinStore::from_client(self.client(), self.config()),
            self.clone(),
        ))
    }

    /// An `S3AuditLog` on a fresh prefix, keeping the server alive.
    pub fn audit_log(self: &Arc<Self>) -> Arc<dyn AuditLog> {
        Arc::new(KeepAlive::new(
            S3AuditLog::from_client(self.client(), self.config()),
            self.clone(),
        ))
    }
}

// --- S3's server-side atomicity for s3s-fs ---------------------------------------

/// Stands in for S3's server-side atomicity of conditional writes.
///
/// `s3s-fs` implements `If-None-Match: *` on `PutObject` as check-then-write
/// (`path.exists()`, then write a temporary file and rename it over the target),
/// so racing conditional puts of one key can all succeed, the last rename
/// winning. S3 itself (and this wrapper) lets exactly one win and answers the
/// others `412 Precondition Failed`. What `storage-s3` owns is the client side:
/// it sends `If-None-Match: *` and turns a 412 into `AlreadyExists`; that is what
/// these tests check. This wrapper serialises `PutObject` per key, so `s3s-fs`'s
/// own check (which answers 412) is no longer raced by another put.
/// Every other call is passed through.
pub struct AtomicPuts<S> {
    inner: S,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<S> AtomicPuts<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            locks: Mutex::default(),
        }
    }

    fn lock_for(&self, bucket: &str, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap()
            .entry(format!("{bucket}/{key}"))
            .or_default()
            .clone()
    }
}

#[async_trait]
impl<S: S3> S3 for AtomicPuts<S> {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let lock = self.lock_for(&req.input.bucket, &req.input.key);
        let _guard = lock.lock().await;
        self.inner.put_object(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }
}

// --- stores that keep their server alive -----------------------------------------

// --- helpers ---------------------------------------------------------------------

pub fn module(ns: &str, name: &str, system: &str) -> ModuleAddress {
    ModuleAddress::new(ns, name, system).unwrap()
}

pub fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

pub fn archive(format: ArchiveFormat, seed: u8, len: usize) -> Archive {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    Archive::new(format, Bytes::from(bytes))
}

pub fn pin(m: &ModuleAddress, ver: &str, source: &str) -> PinRecord {
    PinRecord::new(
        m.clone(),
        v(ver),
        "registry.terraform.io",
        source,
        Some(format!("v{ver}")),
        Sha256Digest::of(source.as_bytes()),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

async fn get_object(client: &Client, bucket: &str, key: &str) -> Option<(Bytes, Option<String>)> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let meta = out.metadata().and_then(|m| m.get("sha256")).cloned();
            Some((out.body.collect().await.unwrap().into_bytes(), meta))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
        Err(e) => panic!("GetObject {key}: {e:?}"),
    }
}

async fn all_keys(client: &Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys.sort();
    keys
}

// --- checks ----------------------------------------------------------------------

/// 16 publishes of one version with different bytes, each through its own
/// client (as separate registry processes would): exactly one succeeds, the
/// others are `AlreadyExists`, and the stored object (bytes and recorded
/// SHA-256) is the winner's.
pub async fn racing_publishes_have_one_winner(t: Arc<Target>) {
    let config = t.config();
    let (m, ver) = (module("acme", "race", "aws"), v("1.0.0"));
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = S3Storage::from_client(t.client(), config.clone());
            let (m, ver) = (m.clone(), ver.clone());
            tokio::spawn(async move {
                let a = archive(ArchiveFormat::TarGz, i, 10_000 + usize::from(i));
                (store.publish(&m, &ver, &a).await, a)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (Ok(()), a) => winners.push(a),
            (Err(StorageError::AlreadyExists), _) => {}
            (Err(e), _) => panic!("a losing publish must be AlreadyExists, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 16 racing publishes wins");
    let winner = &winners[0];
    let key = format!("{}acme/race/aws/1.0.0/race-aws-1.0.0.tar.gz", config.prefix);
    let (bytes, sha) = get_object(&t.client(), &t.bucket, &key)
        .await
        .expect("the winner's object");
    assert!(
        bytes == winner.to_bytes().unwrap(),
        "stored bytes are the winner's"
    );
    assert_eq!(sha.as_deref(), Some(&*winner.info().sha256.to_hex()));
    let store = S3Storage::from_client(t.client(), config);
    assert_eq!(store.read_archive(&m, &ver).await.unwrap(), *winner);
}

/// 8 `.tar.gz` and 8 `.zip` publishes of one version race: exactly one wins,
/// and only the winner's archive (and the claim) remain.
pub async fn racing_publishes_of_both_formats_have_one_winner(t: Arc<Target>) {
    let config = t.config();
    let (m, ver) = (module("acme", "mixed", "aws"), v("2.0.0"));
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = S3Storage::from_client(t.client(), config.clone());
            let (m, ver) = (m.clone(), ver.clone());
            let format = if i % 2 == 0 {
                ArchiveFormat::TarGz
            } else {
                ArchiveFormat::Zip
            };
            tokio::spawn(async move {
                let a = archive(format, i, 5_000);
                (store.publish(&m, &ver, &a).await, a)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (Ok(()), a) => winners.push(a),
            (Err(StorageError::AlreadyExists), _) => {}
            (Err(e), _) => panic!("a losing publish must be AlreadyExists, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 16 racing publishes wins");
    let winner = &winners[0];
    let vdir = format!("{}acme/mixed/aws/2.0.0/", config.prefix);
    let suffix = winner.info().format.suffix();
    assert_eq!(
        all_keys(&t.client(), &t.bucket, &vdir).await,
        [
            format!("{vdir}.claim"),
            format!("{vdir}mixed-aws-2.0.0{suffix}")
        ]
    );
    let store = S3Storage::from_client(t.client(), config);
    assert_eq!(store.read_archive(&m, &ver).await.unwrap(), *winner);
    assert_eq!(
        store.locate_archive(&m, &ver).await.unwrap().info,
        *winner.info()
    );
}

/// 1,100 versions of one module (seeded with concurrent `PutObject`s, 32 at a
/// time, as uploads by hand would be) list completely and in SemVer order,
/// while folders that are not canonical versions are ignored.
pub async fn pagination_lists_every_version_in_semver_order(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let m = module("acme", "many", "aws");
    let mut versions: Vec<String> = (0..1_100u32)
        .map(|i| format!("{}.{}.{}", i / 100, i % 100 / 10, i % 10))
        .collect();
    versions.push("1.0.0-rc.1+build.7".into());
    let mut keys: Vec<String> = versions
        .iter()
        .map(|ver| format!("{}acme/many/aws/{ver}/many-aws-{ver}.tar.gz", config.prefix))
        .collect();
    for junk in ["v1.0.0", "latest", "01.0.0", "1.0"] {
        keys.push(format!(
            "{}acme/many/aws/{junk}/many-aws-{junk}.tar.gz",
            config.prefix
        ));
    }
    keys.push(format!("{}acme/many/aws/README.md", config.prefix));
    futures_util::stream::iter(keys)
        .map(|key| {
            let client = client.clone();
            let bucket = t.bucket.clone();
            async move {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .metadata("sha256", registry_core::Sha256Digest::of(b"x").to_hex())
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("{key}: {e:?}"))
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .expect("seed");
    let store = S3Storage::from_client(client, config);
    let listed: Vec<String> = store
        .list_versions(&m)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut expected: Vec<Version> = versions.iter().map(|s| v(s)).collect();
    expected.sort();
    let expected: Vec<String> = expected.iter().map(ToString::to_string).collect();
    assert_eq!(listed.len(), 1_101);
    assert_eq!(listed, expected, "complete and in SemVer order");
    assert!(listed.contains(&"1.0.0-rc.1+build.7".to_owned()));
}

/// A presigned download URL, fetched with a plain HTTP GET, returns exactly the
/// published bytes; its path ends in the archive suffix. Also for a version
/// with build metadata (`+` in the key) and for `.zip`.
pub async fn presigned_url_serves_the_exact_bytes(t: Arc<Target>) {
    let store = S3Storage::from_client(t.client(), t.config());
    let m = module("acme", "dl", "aws");
    let http = reqwest::Client::new();
    for (ver, format, seed) in [
        ("1.2.0", ArchiveFormat::TarGz, 1),
        ("1.3.0-rc.1+build.5", ArchiveFormat::Zip, 2),
    ] {
        let a = archive(format, seed, 300_000);
        store.publish(&m, &v(ver), &a).await.unwrap();
        let loc = store.locate_archive(&m, &v(ver)).await.unwrap();
        assert_eq!(loc.info, *a.info());
        let ArchiveAccess::Presigned { url } = loc.access else {
            panic!("expected a presigned URL, got {:?}", loc.access);
        };
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert!(parsed.path().ends_with(format.suffix()), "{url}");
        assert!(url.contains("X-Amz-Expires=300"), "{url}");
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}: {:?}", resp.text().await);
        let body = resp.bytes().await.unwrap();
        assert!(
            body == a.to_bytes().unwrap(),
            "{ver}: downloaded bytes differ"
        );
    }
}

/// With `serve_through_registry`, locate answers `ThroughRegistry` (and reads work).
pub async fn serve_through_registry_is_honoured(t: Arc<Target>) {
    let store = S3Storage::from_client(t.client(), t.config().with_serve_through_registry(true));
    let (m, ver) = (module("acme", "dl", "aws"), v("1.0.0"));
    let a = archive(ArchiveFormat::TarGz, 3, 100);
    store.publish(&m, &ver, &a).await.unwrap();
    let loc = store.locate_archive(&m, &ver).await.unwrap();
    assert_eq!(loc.access, ArchiveAccess::ThroughRegistry);
    assert_eq!(loc.info, *a.info());
    assert_eq!(store.read_archive(&m, &ver).await.unwrap(), a);
}

/// The documented key layout: an archive uploaded by hand with its SHA-256 in
/// metadata is a version; without a recorded SHA-256 it can be read but not
/// located (the error says how to upload it).
pub async fn versions_uploaded_by_hand(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let store = S3Storage::from_client(client.clone(), config.clone());
    let m = module("acme", "hand", "aws");
    let a = archive(ArchiveFormat::Zip, 4, 1234);
    let put = |ver: &str, meta: bool| {
        let mut req = client
            .put_object()
            .bucket(&t.bucket)
            .key(format!(
                "{}acme/hand/aws/{ver}/hand-aws-{ver}.zip",
                config.prefix
            ))
            .body(ByteStream::from(a.to_bytes().unwrap()));
        if meta {
            req = req.metadata("sha256", a.info().sha256.to_hex());
        }
        req.send()
    };
    put("1.0.0", true).await.unwrap();
    put("1.1.0", false).await.unwrap();
    assert_eq!(
        store.list_versions(&m).await.unwrap(),
        [v("1.0.0"), v("1.1.0")]
    );
    let loc = store.locate_archive(&m, &v("1.0.0")).await.unwrap();
    assert_eq!(loc.info, *a.info());
    assert_eq!(store.read_archive(&m, &v("1.1.0")).await.unwrap(), a);
    match store.locate_archive(&m, &v("1.1.0")).await {
        Err(e @ StorageError::Other { .. }) => {
            assert!(e.to_string().contains("sha256"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Publishing the other format of a hand-uploaded version conflicts.
    let err = store
        .publish(&m, &v("1.0.0"), &archive(ArchiveFormat::TarGz, 5, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists), "{err:?}");
    store.delete_version(&m, &v("1.0.0")).await.unwrap();
    assert_eq!(store.list_versions(&m).await.unwrap(), [v("1.1.0")]);
}

/// Token objects: keyed by hash and name, never holding the token; a left-over
/// hash object (its name record deleted) does not authenticate.
pub async fn token_objects_hold_only_hashes(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let store = S3TokenStore::from_client(client.clone(), config.clone());
    let token = NewToken::generate();
    let rec = TokenRecord {
        name: "ci".into(),
        tier: Tier::Uploader,
        hash: token.hash(),
        created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        expires_at: None,
        namespaces: None,
        created_by: None,
    };
    store.create(&rec).await.unwrap();
    let p = &config.prefix;
    let hash_key = format!("{p}tokens/by-hash/{}.json", token.hash().to_hex());
    let name_key = format!("{p}tokens/by-name/ci.json");
    assert_eq!(
        all_keys(&client, &t.bucket, p).await,
        [hash_key.clone(), name_key.clone()]
    );
    for key in [&name_key, &hash_key] {
        let (bytes, _) = get_object(&client, &t.bucket, key).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains(token.expose_secret()), "{text}");
        assert!(text.contains(&token.hash().to_hex()), "{text}");
    }
    // Remove only the name record: the hash object alone does not authenticate.
    client
        .delete_object()
        .bucket(&t.bucket)
        .key(&name_key)
        .send()
        .await
        .unwrap();
    assert_eq!(store.find_by_hash(&token.hash()).await.unwrap(), None);
    assert!(store.list().await.unwrap().is_empty());
}

/// More than a page (1,000 keys) of token records lists completely.
pub async fn token_listing_follows_pages(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let store = Arc::new(S3TokenStore::from_client(client, config));
    let names: Vec<String> = (0..1_005).map(|i| format!("t{i:04}")).collect();
    futures_util::stream::iter(names.clone())
        .map(|name| {
            let store = store.clone();
            async move {
                let rec = TokenRecord {
                    name,
                    tier: Tier::Downloader,
                    hash: NewToken::generate().hash(),
                    created_at: SystemTime::UNIX_EPOCH,
                    expires_at: None,
                    namespaces: None,
                    created_by: None,
                };
                store.create(&rec).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let mut listed: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    listed.sort();
    assert_eq!(listed, names);
}

/// Pin objects: the documented keys (also for a `+build` version), bodies and
/// content type; a second pin of a version replaces the object; listing skips
/// objects that are not pin records of their key, and archives of a module in
/// a namespace called `pins`.
pub async fn pin_objects_follow_the_key_layout(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let store = S3PinStore::from_client(client.clone(), config.clone());
    let p = &config.prefix;
    let consul = pin(&module("hashicorp", "consul", "aws"), "0.1.0+b.5", "git::x");
    let vpc = pin(&module("acme", "vpc", "aws"), "1.0.0", "https://x/old.zip");
    store.put(&consul).await.unwrap();
    store.put(&vpc).await.unwrap();
    let vpc = pin(&module("acme", "vpc", "aws"), "1.0.0", "https://x/new.zip");
    store.put(&vpc).await.unwrap();
    let (consul_key, vpc_key) = (
        format!("{p}pins/hashicorp/consul/aws/0.1.0+b.5.json"),
        format!("{p}pins/acme/vpc/aws/1.0.0.json"),
    );
    assert_eq!(
        all_keys(&client, &t.bucket, p).await,
        [vpc_key.clone(), consul_key.clone()]
    );
    for (key, record) in [(&consul_key, &consul), (&vpc_key, &vpc)] {
        let (bytes, _) = get_object(&client, &t.bucket, key).await.unwrap();
        assert_eq!(bytes, record.to_json(), "{key}");
        let head = client
            .head_object()
            .bucket(&t.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("application/json"), "{key}");
    }

    // Objects that are not pin records of their key, and a module called `pins/vpc/aws`.
    let other = pin(&module("acme", "vpc", "aws"), "2.0.0", "s").to_json();
    for (key, body) in [
        (
            format!("{p}pins/acme/vpc/aws/1.1.0.json"),
            b"not json".to_vec(),
        ),
        (format!("{p}pins/acme/vpc/aws/3.0.0.json"), other.clone()),
        (format!("{p}pins/acme/vpc/gcp/2.0.0.json"), other.clone()),
        (format!("{p}pins/acme/vpc/aws/notes.txt"), other.clone()),
        (format!("{p}pins/acme/stray.json"), other),
    ] {
        client
            .put_object()
            .bucket(&t.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let storage = S3Storage::from_client(client.clone(), config.clone());
    let pins_module = module("pins", "vpc", "aws");
    storage
        .publish(
            &pins_module,
            &v("1.0.0"),
            &archive(ArchiveFormat::TarGz, 1, 10),
        )
        .await
        .unwrap();
    assert_eq!(store.list().await.unwrap(), [vpc.clone(), consul.clone()]);
    assert_eq!(
        storage.list_versions(&pins_module).await.unwrap(),
        [v("1.0.0")]
    );

    store.delete(&vpc.module, &vpc.version).await.unwrap();
    assert!(get_object(&client, &t.bucket, &vpc_key).await.is_none());
    assert!(matches!(
        store.delete(&vpc.module, &vpc.version).await,
        Err(StorageError::NotFound)
    ));
    assert_eq!(store.list().await.unwrap(), [consul]);
}

/// More than a page (1,000 keys) of pin records lists completely.
pub async fn pin_listing_follows_pages(t: Arc<Target>) {
    let store = Arc::new(S3PinStore::from_client(t.client(), t.config()));
    let m = module("acme", "many", "aws");
    let records: Vec<PinRecord> = (0..1_005)
        .map(|i| pin(&m, &format!("1.{}.{}", i / 100, i % 100), "s"))
        .collect();
    futures_util::stream::iter(records.clone())
        .map(|record| {
            let store = store.clone();
            async move { store.put(&record).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let mut expected = records;
    expected.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(store.list().await.unwrap(), expected);
}

/// The snapshot lives at `{prefix}_catalogue/snapshot.json.gz`; a write
/// with a tag whose object was removed by hand (S3 answers 404 to the
/// `If-Match`) is a `Conflict`, and nothing is stored.
pub async fn catalogue_snapshot_follows_the_key_layout(t: Arc<Target>) {
    use registry_core::CatalogueStore as _;
    let config = t.config();
    let client = t.client();
    let store = storage_s3::S3CatalogueStore::from_client(client.clone(), config.clone());
    let key = format!("{}_catalogue/snapshot.json.gz", config.prefix);
    assert_eq!(store.key(), key);
    let tag = store.store(Bytes::from_static(b"one"), None).await.unwrap();
    let got = client
        .get_object()
        .bucket(&t.bucket)
        .key(&key)
        .send()
        .await
        .expect("the snapshot is at its documented key");
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), &b"one"[..]);
    client
        .delete_object()
        .bucket(&t.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let err = store
        .store(Bytes::from_static(b"two"), Some(&tag))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict), "{err:?}");
    assert_eq!(store.load().await.unwrap(), None, "nothing was stored");
}

/// Metadata documents live outside the version's prefix, at
/// `{prefix}_metadata/{ns}/{name}/{system}/{version}.json`, so one left
/// behind by hand (or by a racing delete) never makes a version appear.
pub async fn metadata_documents_follow_the_key_layout(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let store = S3Storage::from_client(client.clone(), config.clone());
    let m = module("acme", "meta", "aws");
    store
        .publish(&m, &v("1.0.0"), &archive(ArchiveFormat::TarGz, 1, 64))
        .await
        .unwrap();
    store
        .write_metadata(&m, &v("1.0.0"), Bytes::from_static(b"{\"a\":1}"))
        .await
        .unwrap();
    let key = format!("{}_metadata/acme/meta/aws/1.0.0.json", config.prefix);
    let got = client
        .get_object()
        .bucket(&t.bucket)
        .key(&key)
        .send()
        .await
        .expect("the document is at its documented key");
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes(),
        &b"{\"a\":1}"[..]
    );
    // A stray document of a version that does not exist.
    client
        .put_object()
        .bucket(&t.bucket)
        .key(format!(
            "{}_metadata/acme/meta/aws/9.9.9.json",
            config.prefix
        ))
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(store.list_versions(&m).await.unwrap(), [v("1.0.0")]);
    assert_eq!(
        store.list_modules().await.unwrap(),
        std::slice::from_ref(&m)
    );
    store.delete_version(&m, &v("1.0.0")).await.unwrap();
    let gone = client.get_object().bucket(&t.bucket).key(&key).send().await;
    assert!(gone.is_err(), "delete_version removes the document");
}

fn audit_event(time: SystemTime, n: usize) -> AuditEvent {
    AuditEvent::new(
        time,
        "ci",
        AuditAction::Publish,
        format!("acme/vpc/aws/1.0.{n}"),
        201,
        None,
    )
}

/// Audit events live at `{prefix}audit/{id}.json` (the stored JSON,
/// `application/json`); listing skips objects that do not hold the event of
/// their key (and fills the page past them), and ignores other keys below
/// `audit/`, including the archives of a module in a namespace called `audit`.
pub async fn audit_objects_follow_the_key_layout(t: Arc<Target>) {
    let config = t.config();
    let client = t.client();
    let log = S3AuditLog::from_client(client.clone(), config.clone());
    let p = &config.prefix;
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let event = audit_event(base, 1);
    log.append(&event).await.unwrap();
    let key = format!("{p}audit/{}.json", event.id);
    let got = client
        .get_object()
        .bucket(&t.bucket)
        .key(&key)
        .send()
        .await
        .expect("the event is at its documented key");
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes(),
        event.to_stored_json()
    );

    // Newer than `event`, so listed before it: not JSON, and another event's body.
    let garbage = audit_event(base + Duration::from_secs(1), 2);
    let misfiled = audit_event(base + Duration::from_secs(2), 3);
    let put = |key: String, body: Vec<u8>| {
        let client = client.clone();
        let bucket = t.bucket.clone();
        async move {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
    };
    put(
        format!("{p}audit/{}.json", garbage.id),
        b"not json".to_vec(),
    )
    .await;
    put(
        format!("{p}audit/{}.json", misfiled.id),
        event.to_stored_json(),
    )
    .await;
    put(format!("{p}audit/README"), b"notes".to_vec()).await;
    put(format!("{p}audit/0-not-an-id.json"), b"{}".to_vec()).await;
    put(
        format!("{p}audit/sub/{}.json", audit_event(base, 4).id),
        audit_event(base, 4).to_stored_json(),
    )
    .await;
    let storage = S3Storage::from_client(client.clone(), config.clone());
    storage
        .publish(
            &module("audit", "vpc", "aws"),
            &v("1.0.0"),
            &archive(ArchiveFormat::TarGz, 1, 64),
        )
        .await
        .unwrap();

    let only = std::slice::from_ref(&event);
    assert_eq!(log.list(None, 10).await.unwrap(), only);
    assert_eq!(log.list(None, 1).await.unwrap(), only);
    assert_eq!(log.list(Some(&garbage.id), 1).await.unwrap(), only);
    assert!(matches!(
        log.append(&garbage).await,
        Err(StorageError::AlreadyExists)
    ));
}

/// More than a page (1,000 keys) of events lists completely, in order, in one
/// call and in pages.
pub async fn audit_listing_follows_pages(t: Arc<Target>) {
    let log = Arc::new(S3AuditLog::from_client(t.client(), t.config()));
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut events: Vec<AuditEvent> = (0..1_005)
        .map(|n| audit_event(base + Duration::from_secs(601) * n as u32, n))
        .collect();
    futures_util::stream::iter(events.clone())
        .map(|event| {
            let log = log.clone();
            async move { log.append(&event).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    events.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(log.list(None, 5_000).await.unwrap(), events);
    assert_eq!(log.list(None, 1_003).await.unwrap(), events[..1_003]);
    let mut walked: Vec<AuditEvent> = Vec::new();
    loop {
        let page = log.list(walked.last().map(|e| &e.id), 400).await.unwrap();
        let done = page.len() < 400;
        walked.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(walked, events);
}
