//! `Registry::admit` + `BodySpool` + `Registry::respond`, the path a streaming
//! adapter takes, on the in-memory fakes: what is refused on the head, and an
//! upload spooled to a file, validated from it and stored byte for byte.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use registry_core::memory::{InMemoryStorage, InMemoryTokenStore};
use registry_core::{
    ModuleAddress, Registry, RegistryConfig, SigningKey, Storage, TokenHash, Version,
};

const MASTER: &str = "tfr_admission-test-master-token";

fn registry(spool: &std::path::Path) -> (Registry, Arc<InMemoryStorage>) {
    let storage = Arc::new(InMemoryStorage::new());
    let registry = Registry::new(
        storage.clone(),
        Arc::new(InMemoryTokenStore::new()),
        RegistryConfig::new(SigningKey::generate())
            .with_master_token_hash(TokenHash::of(MASTER))
            .with_max_body_bytes(4 << 20)
            .with_spool_dir(spool),
    );
    (registry, storage)
}

fn head(
    method: &str,
    path: &str,
    token: Option<&str>,
    length: Option<u64>,
) -> http::request::Parts {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(len) = length {
        b = b.header("content-length", len);
    }
    b.body(()).unwrap().into_parts().0
}

/// A flat `.tar.gz` of `main.tf` and `size` bytes of incompressible data.
fn big_module(size: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let blob: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("main.tf", &b"output \"x\" { value = 1 }\n"[..]),
        ("blob.bin", &blob),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn refusals_come_from_the_head_alone() {
    let spool = tempfile::tempdir().unwrap();
    let (registry, _) = registry(spool.path());
    let put = "/v1/modules/acme/big/null/1.0.0";
    for (head, status) in [
        (head("PUT", put, None, Some(1 << 20)), 401),
        (head("PUT", put, Some("tfr_unknown"), Some(1 << 20)), 401),
        (head("PUT", put, Some(MASTER), Some(5 << 20)), 413),
        (
            head(
                "PUT",
                "/v1/modules/acme/big/null/not-semver",
                Some(MASTER),
                Some(10),
            ),
            400,
        ),
        (head("PATCH", put, Some(MASTER), None), 405),
        (head("PUT", "/v1/nothing/here", Some(MASTER), None), 404),
        (
            head("POST", "/v1/tokens", Some(MASTER), Some(65 * 1024)),
            413,
        ),
        (
            head("GET", "/v1/archives/acme/big/null/1.0.0.tar.gz", None, None),
            403,
        ),
    ] {
        let what = format!("{} {}", head.method, head.uri);
        let refused = registry.admit(head).await.expect_err(&what);
        assert_eq!(refused.status(), status, "{what}");
        let body: serde_json::Value = serde_json::from_slice(refused.body()).unwrap();
        assert!(body["errors"][0].is_string(), "{what}: {body}");
    }
    let admitted = registry
        .admit(head("PUT", put, Some(MASTER), Some(1 << 20)))
        .await
        .unwrap();
    assert_eq!(admitted.body_limit(), 4 << 20);
    assert!(admitted.is_upload());
    let admitted = registry
        .admit(head("POST", "/v1/tokens", Some(MASTER), None))
        .await
        .unwrap();
    assert_eq!(admitted.body_limit(), 64 * 1024, "a JSON body is small");
    assert!(!admitted.is_upload());
}

#[tokio::test]
async fn a_spooled_upload_is_validated_from_its_file_and_stored_whole() {
    let spool = tempfile::tempdir().unwrap();
    let (registry, storage) = registry(spool.path());
    let archive = big_module(3 << 20);
    let admitted = registry
        .admit(head(
            "PUT",
            "/v1/modules/acme/big/null/1.0.0",
            Some(MASTER),
            Some(archive.len() as u64),
        ))
        .await
        .unwrap();
    let mut body = registry.body_spool(&admitted);
    for chunk in archive.chunks(16 * 1024) {
        body.push(chunk).await.unwrap();
    }
    let body = body.finish().await.unwrap();
    assert!(body.is_spooled(), "3 MiB goes to a file");
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 1);
    let response = registry.respond(admitted, body).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());

    let module = ModuleAddress::new("acme", "big", "null").unwrap();
    let version: Version = "1.0.0".parse().unwrap();
    let stored = storage.read_archive(&module, &version).await.unwrap();
    assert_eq!(stored.to_bytes().unwrap(), Bytes::from(archive));
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the spool file is gone once the upload is stored"
    );
}

#[tokio::test]
async fn a_spooled_upload_that_is_not_a_module_is_refused_and_leaves_nothing() {
    let spool = tempfile::tempdir().unwrap();
    let (registry, storage) = registry(spool.path());
    let admitted = registry
        .admit(head(
            "PUT",
            "/v1/modules/acme/big/null/1.0.0",
            Some(MASTER),
            None,
        ))
        .await
        .unwrap();
    let mut body = registry.body_spool(&admitted);
    body.push(&vec![0x1f; 1 << 20]).await.unwrap();
    let body = body.finish().await.unwrap();
    assert!(body.is_spooled());
    let response = registry.respond(admitted, body).await;
    assert_eq!(response.status(), 400, "{:?}", response.body());
    let module = ModuleAddress::new("acme", "big", "null").unwrap();
    assert!(storage.list_versions(&module).await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
}
