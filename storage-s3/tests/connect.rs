//! `S3Storage::connect` / `S3TokenStore::connect`: the standard AWS
//! configuration (here: credentials from `AWS_*` variables) with the config's
//! overrides, and the `HeadBucket` check. One test in its own binary, because it
//! sets environment variables.
mod common;

use std::time::Duration;

use registry_core::{ArchiveFormat, Storage, StorageError, TokenStore};
use storage_s3::{S3Storage, S3TokenStore};

fn misconfigured(err: StorageError) -> String {
    match err {
        StorageError::Misconfigured { message, .. } => message,
        e => panic!("expected Misconfigured, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_uses_the_credential_chain_and_checks_the_bucket() {
    let t = common::Target::in_process().await;
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::set_var("AWS_ACCESS_KEY_ID", common::ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", common::SECRET_KEY);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws/config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws/credentials",
    );
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_SESSION_TOKEN");

    let storage = S3Storage::connect(t.config()).await.expect("connect");
    let m = common::module("acme", "vpc", "aws");
    let a = common::archive(ArchiveFormat::TarGz, 1, 100);
    storage.publish(&m, &common::v("1.0.0"), &a).await.unwrap();
    assert_eq!(
        storage.list_versions(&m).await.unwrap(),
        [common::v("1.0.0")]
    );
    let tokens = S3TokenStore::connect(t.config()).await.expect("connect");
    assert!(tokens.list().await.unwrap().is_empty());

    let mut missing = t.config();
    missing.bucket = "no-such-bucket-here".into();
    let msg = misconfigured(S3Storage::connect(missing.clone()).await.unwrap_err());
    assert!(
        msg.contains("\"no-such-bucket-here\" does not exist"),
        "{msg}"
    );
    assert!(msg.contains("`bucket`"), "{msg}");
    misconfigured(S3TokenStore::connect(missing).await.unwrap_err());

    let msg = misconfigured(
        S3Storage::connect(t.config().with_presign_ttl(Duration::ZERO))
            .await
            .unwrap_err(),
    );
    assert!(msg.contains("presign_ttl"), "{msg}");

    std::env::set_var("AWS_SECRET_ACCESS_KEY", "wrong");
    let msg = misconfigured(S3Storage::connect(t.config()).await.unwrap_err());
    assert!(msg.contains("AWS_ACCESS_KEY_ID"), "{msg}");
}
