//! The whole exchange against moto's STS and IAM, on the wire: credentials
//! from a real `AssumeRole` (or a new IAM user's access key), a request
//! signed by [`sign_get_caller_identity`], checked and forwarded by the
//! verifier, the caller read from moto's answer.
//!
//! moto serves every service on `TFR_TEST_S3_ENDPOINT` (scripts/test starts
//! it). Without the variable: under `CI=true` every test fails; otherwise
//! each prints a note and returns. moto does not check SigV4 signatures:
//! `stand_in.rs` covers what STS does with a bad one.
mod common;

use std::time::SystemTime;

use common::{
    assume_role, moto_call, moto_endpoint, moto_root, unique, verifier, xml_text, SERVER_ID,
};
use identity_aws::sign_get_caller_identity;
use registry_core::exchange::{CallerIdentityVerifier, ExchangeError};

#[tokio::test]
async fn an_assumed_role_is_verified_with_its_role_and_session() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let role = unique("ci-role");
    let credentials = assume_role(
        &endpoint,
        &format!("arn:aws:iam::123456789012:role/{role}"),
        "build-42",
    )
    .await;
    assert!(credentials.session_token().is_some());

    let request = sign_get_caller_identity(
        &credentials,
        "us-east-1",
        &endpoint,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    let identity = verifier(&endpoint).verify(&request).await.unwrap();

    let arn = format!("arn:aws:sts::123456789012:assumed-role/{role}/build-42");
    assert_eq!(identity.issuer, "aws");
    assert_eq!(identity.subject, arn);
    let claims = &identity.claims;
    assert_eq!(claims["arn"], arn.as_str());
    assert_eq!(claims["type"], "assumed-role");
    assert_eq!(claims["name"], role.as_str());
    assert_eq!(claims["session"], "build-42");
    assert_eq!(claims["account"], "123456789012");
    assert!(
        claims["user_id"].as_str().unwrap().ends_with(":build-42"),
        "{claims:?}"
    );
    assert!(
        !claims.contains_key("path"),
        "an assumed role's ARN shows no path"
    );
}

#[tokio::test]
async fn an_iam_user_is_verified_with_its_path() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let user = unique("alice");
    moto_call(
        &endpoint,
        "iam",
        &moto_root(),
        &format!("Action=CreateUser&Version=2010-05-08&UserName={user}&Path=%2Fteam%2F"),
    )
    .await;
    let xml = moto_call(
        &endpoint,
        "iam",
        &moto_root(),
        &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={user}"),
    )
    .await;
    let credentials = aws_credential_types::Credentials::new(
        xml_text(&xml, "AccessKeyId"),
        xml_text(&xml, "SecretAccessKey"),
        None,
        None,
        "moto-iam",
    );

    let request = sign_get_caller_identity(
        &credentials,
        "us-east-1",
        &endpoint,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    assert!(!request.headers.contains_key("x-amz-security-token"));
    let identity = verifier(&endpoint).verify(&request).await.unwrap();

    assert_eq!(
        identity.subject,
        format!("arn:aws:iam::123456789012:user/team/{user}")
    );
    assert_eq!(identity.claims["type"], "user");
    assert_eq!(identity.claims["name"], user.as_str());
    assert_eq!(identity.claims["path"], "/team/");
    assert!(!identity.claims.contains_key("session"));
}

#[tokio::test]
async fn refusals_happen_before_moto_is_asked() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let credentials = assume_role(
        &endpoint,
        "arn:aws:iam::123456789012:role/ci-role",
        "refusals",
    )
    .await;
    let verifier = verifier(&endpoint);

    // Bound to another registry.
    let other = sign_get_caller_identity(
        &credentials,
        "us-east-1",
        &endpoint,
        "other.registry",
        SystemTime::now(),
    )
    .unwrap();
    let e = verifier.verify(&other).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("x-tfr-server-id")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("other.registry"), "{e}");

    // Another action, even one moto would carry out.
    let assume = identity_aws::sign_sts_request(
        &credentials,
        "us-east-1",
        &endpoint,
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fadmin&RoleSessionName=x1",
        &[("x-tfr-server-id", SERVER_ID)],
        SystemTime::now(),
    )
    .unwrap();
    let e = verifier.verify(&assume).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Malformed(m) if m.contains("sts:AssumeRole")),
        "{e:?}"
    );
}

/// moto answers `GetCallerIdentity` for any access key it does not know
/// with `arn:aws:sts::123456789012:user/moto`, not an error (real STS
/// answers 403 `InvalidClientTokenId`: `stand_in.rs`). That ARN is no form
/// STS answers, and is refused as such.
#[tokio::test]
async fn an_unknown_key_gets_an_arn_that_is_refused() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let credentials =
        aws_credential_types::Credentials::new("AKIAUNKNOWNEXAMPLE00", "nope", None, None, "test");
    let request = sign_get_caller_identity(
        &credentials,
        "us-east-1",
        &endpoint,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    let e = verifier(&endpoint).verify(&request).await.unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Rejected(m) if m.contains("cannot read")),
        "{e:?}"
    );
}
