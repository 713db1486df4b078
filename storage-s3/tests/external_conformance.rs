//! The same checks as `conformance.rs`, against an external S3-compatible
//! server: set `TFR_TEST_S3_ENDPOINT` (e.g. moto on `http://127.0.0.1:5000`;
//! credentials `testing`/`testing`, region us-east-1). Each run creates a fresh
//! random bucket per test, and every store uses a fresh random prefix.
//!
//! Without the variable: under `CI=true` every test fails (CI must run them);
//! otherwise each test prints a note to stderr, and the core's conformance suites
//! run against the in-process server instead while the S3-specific checks return
//! at once. `scripts/test` starts moto and sets the variable.
mod common;

use std::sync::Arc;

use common::Target;

/// The target named by `TFR_TEST_S3_ENDPOINT`, or `None` (after a note) when
/// it is unset outside CI.
async fn external() -> Option<Arc<Target>> {
    match std::env::var("TFR_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            Some(Target::external(endpoint.trim().to_owned()).await)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("TFR_TEST_S3_ENDPOINT is not set: run scripts/test, which starts moto")
        }
        _ => {
            eprintln!(
                "note: TFR_TEST_S3_ENDPOINT is not set, so this test does not run against an \
                 external S3 server (scripts/test starts moto and sets it)"
            );
            None
        }
    }
}

/// The external target, or the in-process server (for the conformance suites).
async fn external_or_in_process() -> Arc<Target> {
    match external().await {
        Some(t) => t,
        None => Target::in_process().await,
    }
}

mod storage {
    use super::*;
    registry_core::storage_conformance_tests!(|| async {
        external_or_in_process().await.storage()
    });
}

mod tokens {
    use super::*;
    registry_core::token_store_conformance_tests!(|| async {
        external_or_in_process().await.token_store()
    });
}

mod catalogue {
    use super::*;
    registry_core::catalogue_store_conformance_tests!(|| async {
        external_or_in_process().await.catalogue_store()
    });
}

mod pins {
    use super::*;
    registry_core::pin_store_conformance_tests!(|| async {
        external_or_in_process().await.pin_store()
    });
}

mod audit {
    use super::*;
    registry_core::audit_log_conformance_tests!(|| async {
        external_or_in_process().await.audit_log()
    });
}

macro_rules! s3_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            if let Some(t) = external().await {
                common::$check(t).await;
            }
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
