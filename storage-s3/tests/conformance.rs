//! `S3Storage`, `S3TokenStore`, `S3PinStore` and `S3AuditLog` against an S3
//! server started in-process (`s3s` + `s3s-fs`, SigV4 verified), one server and
//! bucket per test and a fresh random key prefix per store: the core's conformance suites, the
//! S3-specific checks shared with `external_conformance.rs`, and error
//! classification.
mod common;

use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_sdk_s3::config::Credentials;
use common::Target;
use registry_core::audit::{AuditAction, AuditEvent, AuditLog};
use registry_core::{ArchiveFormat, PinStore, Storage, StorageError, TokenStore};
use storage_s3::{S3AuditLog, S3Config, S3PinStore, S3Storage, S3TokenStore};

mod storage {
    use super::*;
    registry_core::storage_conformance_tests!(|| async { Target::in_process().await.storage() });
}

mod tokens {
    use super::*;
    registry_core::token_store_conformance_tests!(|| async {
        Target::in_process().await.token_store()
    });
}

mod catalogue {
    use super::*;
    registry_core::catalogue_store_conformance_tests!(|| async {
        Target::in_process().await.catalogue_store()
    });
}

mod pins {
    use super::*;
    registry_core::pin_store_conformance_tests!(|| async {
        Target::in_process().await.pin_store()
    });
}

mod audit {
    use super::*;
    registry_core::audit_log_conformance_tests!(|| async {
        Target::in_process().await.audit_log()
    });
}

macro_rules! s3_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            common::$check(Target::in_process().await).await;
        }
    )*};
}

s3_checks!(
    racing_publishes_have_one_winner,
    racing_publishes_of_both_formats_have_one_winner,
    pagination_lists_every_version_in_semver_order,
    presigned_url_serves_the_exact_bytes,
    serve_through_registry_is_honoured,
    versions_uploaded_by_hand,
    token_objects_hold_only_hashes,
    token_listing_follows_pages,
    pin_objects_follow_the_key_layout,
    pin_listing_follows_pages,
    catalogue_snapshot_follows_the_key_layout,
    metadata_documents_follow_the_key_layout,
    audit_objects_follow_the_key_layout,
    audit_listing_follows_pages,
);

fn assert_misconfigured(err: StorageError, needles: &[&str]) {
    match &err {
        StorageError::Misconfigured { backend, message } => {
            assert_eq!(*backend, "s3");
            for needle in needles {
                assert!(message.contains(needle), "{needle:?} not in: {message}");
            }
        }
        e => panic!("expected Misconfigured, got {e:?}"),
    }
}

#[tokio::test]
async fn wrong_credentials_are_misconfigured() {
    let t = Target::in_process().await;
    let m = common::module("acme", "vpc", "aws");
    for creds in [
        Credentials::new(common::ACCESS_KEY, "wrong-secret", None, None, "test"),
        Credentials::new("unknown-access-key", "x", None, None, "test"),
    ] {
        let client = t.client_with(creds);
        let storage = S3Storage::from_client(client.clone(), t.config());
        let tokens = S3TokenStore::from_client(client.clone(), t.config());
        let pins = S3PinStore::from_client(client.clone(), t.config());
        let audit = S3AuditLog::from_client(client, t.config());
        assert_misconfigured(
            storage.list_versions(&m).await.unwrap_err(),
            &["credentials", "AWS_ACCESS_KEY_ID"],
        );
        assert_misconfigured(
            storage
                .publish(
                    &m,
                    &common::v("1.0.0"),
                    &common::archive(ArchiveFormat::TarGz, 0, 10),
                )
                .await
                .unwrap_err(),
            &["AWS_ACCESS_KEY_ID"],
        );
        assert_misconfigured(tokens.list().await.unwrap_err(), &["AWS_ACCESS_KEY_ID"]);
        assert_misconfigured(pins.list().await.unwrap_err(), &["AWS_ACCESS_KEY_ID"]);
        let pin = common::pin(&m, "1.0.0", "s");
        assert_misconfigured(pins.put(&pin).await.unwrap_err(), &["AWS_ACCESS_KEY_ID"]);
        assert_misconfigured(
            audit.list(None, 10).await.unwrap_err(),
            &["AWS_ACCESS_KEY_ID"],
        );
        let event = AuditEvent::new(
            std::time::SystemTime::now(),
            "ci",
            AuditAction::Publish,
            "acme/vpc/aws/1.0.0",
            201,
            None,
        );
        assert_misconfigured(
            audit.append(&event).await.unwrap_err(),
            &["AWS_ACCESS_KEY_ID"],
        );
    }
}

/// A credentials provider that never finds any.
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no credentials in this test",
        )))
    }
}

#[tokio::test]
async fn missing_credentials_are_misconfigured() {
    let t = Target::in_process().await;
    let client = aws_sdk_s3::Client::from_conf(
        t.client_builder()
            .credentials_provider(NoCredentials)
            .build(),
    );
    let storage = S3Storage::from_client(client, t.config());
    let err = storage
        .list_versions(&common::module("acme", "vpc", "aws"))
        .await
        .unwrap_err();
    assert_misconfigured(err, &["no usable AWS credentials", "AWS_PROFILE"]);
}

#[tokio::test]
async fn a_missing_bucket_is_misconfigured() {
    let t = Target::in_process().await;
    let config = S3Config::new("no-such-bucket-here")
        .with_endpoint_url(&t.endpoint)
        .with_force_path_style(true);
    let storage = S3Storage::from_client(t.client(), config.clone());
    let m = common::module("acme", "vpc", "aws");
    assert_misconfigured(
        storage.list_versions(&m).await.unwrap_err(),
        &["\"no-such-bucket-here\" does not exist", "`bucket`"],
    );
    let tokens = S3TokenStore::from_client(t.client(), config.clone());
    assert_misconfigured(tokens.list().await.unwrap_err(), &["`bucket`"]);
    let pins = S3PinStore::from_client(t.client(), config);
    assert_misconfigured(pins.list().await.unwrap_err(), &["`bucket`"]);
    // (No publish here: s3s-fs creates a missing bucket's directory on PutObject.
    // `connect` checks the bucket with HeadBucket: see tests/connect.rs.)
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    // A port that was just free: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Target::in_process().await;
    let client = aws_sdk_s3::Client::from_conf(
        t.client_builder()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let storage = S3Storage::from_client(client, t.config());
    let err = storage
        .list_versions(&common::module("acme", "vpc", "aws"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn debug_output_names_the_bucket_not_the_credentials() {
    let t = Target::in_process().await;
    let storage: Arc<dyn Storage> = t.storage();
    let tokens: Arc<dyn TokenStore> = t.token_store();
    let pins: Arc<dyn PinStore> = t.pin_store();
    let audit: Arc<dyn AuditLog> = t.audit_log();
    for text in [
        format!("{storage:?}"),
        format!("{tokens:?}"),
        format!("{pins:?}"),
        format!("{audit:?}"),
    ] {
        assert!(text.contains(&t.bucket), "{text}");
        assert!(!text.contains(common::SECRET_KEY), "{text}");
    }
}
