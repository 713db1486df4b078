//! `OidcIssuers` against real HTTP issuers on loopback: valid tokens, every
//! refusal, key rotation, caching and its limits.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use registry_core::exchange::{ExchangeError, OidcVerifier};
use serde_json::{json, Value};
use support::{b64, message, now, verifier, FakeIssuer, SigningKey, AUDIENCE, RSA};

#[tokio::test]
async fn a_github_actions_token_verifies_with_all_its_claims() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key, &RSA.key]).await;
    let verifier = issuer.verifier(json!({}));

    let claims = issuer.github_claims();
    let identity = verifier.verify(&key.sign(&claims)).await.unwrap();
    assert_eq!(identity.issuer, issuer.url);
    assert_eq!(identity.subject, "repo:acme/app:ref:refs/heads/main");
    assert_eq!(Value::Object(identity.claims.clone()), claims);
    assert_eq!(identity.claims["repository_owner"], "acme");

    // RS256 too, with the keys already cached: no further request.
    let identity = verifier.verify(&RSA.key.sign(&claims)).await.unwrap();
    assert_eq!(
        identity.claims["job_workflow_ref"],
        claims["job_workflow_ref"]
    );
    assert_eq!(issuer.requests(), (1, 1));
}

#[tokio::test]
async fn an_audience_list_needs_one_configured_audience() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({"audience": ["sts.amazonaws.com", AUDIENCE]}));

    let mut claims = issuer.github_claims();
    claims["aud"] = json!(["other", AUDIENCE]);
    assert!(verifier.verify(&key.sign(&claims)).await.is_ok());

    claims["aud"] = json!("https://other.example.com");
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(
        m.contains("audience \"https://other.example.com\" is not one configured"),
        "{m}"
    );
    assert!(m.contains(AUDIENCE), "{m}");

    claims.as_object_mut().unwrap().remove("aud");
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("no aud claim"), "{m}");
}

#[tokio::test]
async fn tokens_of_other_issuers_are_rejected() {
    // Both issuers call their key "key-1".
    let ours = SigningKey::es256("key-1");
    let theirs = SigningKey::es256("key-1");
    let issuer = FakeIssuer::start(&[&ours]).await;
    let other = FakeIssuer::start(&[&theirs]).await;
    let verifier = issuer.verifier(json!({}));

    // A token of an issuer that is not configured: nobody is asked.
    let token = theirs.sign(&other.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(
        m.contains(&format!("issuer \"{}\" is not configured", other.url)),
        "{m}"
    );
    assert_eq!(other.requests(), (0, 0));
    assert_eq!(issuer.requests(), (0, 0));

    // Our iss, their key.
    let token = theirs.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(
        m.contains("signature does not verify with key \"key-1\""),
        "{m}"
    );

    // A long made-up iss is shown cut short.
    let mut claims = issuer.github_claims();
    claims["iss"] = json!(format!("https://{}.example", "x".repeat(5000)));
    let token = ours.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("is not configured") && m.len() < 600, "{m}");

    // The iss must match exactly: a trailing slash is another issuer.
    let mut claims = issuer.github_claims();
    claims["iss"] = json!(format!("{}/", issuer.url));
    let token = ours.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("is not configured"), "{m}");
}

#[tokio::test]
async fn expiry_and_not_before_hold_within_the_clock_skew() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({"clock_skew": "60s"}));
    let now = now();

    let mut claims = issuer.github_claims();
    claims["exp"] = json!(now - 30);
    assert!(
        verifier.verify(&key.sign(&claims)).await.is_ok(),
        "expired within the skew"
    );

    claims["exp"] = json!(now - 120);
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("the token expired 1"), "{m}");
    assert!(m.contains("allowed clock skew 60 s"), "{m}");

    let mut claims = issuer.github_claims();
    claims["nbf"] = json!(now + 300);
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("not valid for another"), "{m}");

    let mut claims = issuer.github_claims();
    claims["nbf"] = json!(now + 30);
    claims["iat"] = json!(now + 30);
    assert!(
        verifier.verify(&key.sign(&claims)).await.is_ok(),
        "early within the skew"
    );

    let mut claims = issuer.github_claims();
    claims["iat"] = json!(now + 300);
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("issued 300 s in the future"), "{m}");

    let mut claims = issuer.github_claims();
    claims.as_object_mut().unwrap().remove("exp");
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("no exp claim"), "{m}");
}

#[tokio::test]
async fn a_token_needs_a_subject() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    for sub in [json!(null), json!(""), json!(42)] {
        let mut claims = issuer.github_claims();
        if sub.is_null() {
            claims.as_object_mut().unwrap().remove("sub");
        } else {
            claims["sub"] = sub;
        }
        let token = key.sign(&claims);
        let m = message(
            &verifier.verify(&token).await.unwrap_err(),
            "Rejected",
            &token,
        );
        assert!(m.contains("no sub claim"), "{m}");
    }
}

#[tokio::test]
async fn unsigned_tokens_are_refused_before_any_fetch() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    let claims = issuer.github_claims().to_string();
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"none","kid":"es-1"}"#,
    ] {
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!(
                "{}.{}.{signature}",
                b64(header.as_bytes()),
                b64(claims.as_bytes())
            );
            let m = message(
                &verifier.verify(&token).await.unwrap_err(),
                "Rejected",
                &token,
            );
            assert!(m.contains("unsigned (alg none)"), "{m}");
        }
    }
    assert_eq!(issuer.requests(), (0, 0));
}

#[tokio::test]
async fn hmac_with_the_public_key_as_secret_is_refused() {
    let issuer = FakeIssuer::start(&[&RSA.key]).await;
    let verifier = issuer.verifier(json!({}));
    let claims = issuer.github_claims();
    // Prime the cache, so the refusal is not down to missing keys.
    assert!(verifier.verify(&RSA.key.sign(&claims)).await.is_ok());

    let secrets: [&[u8]; 3] = [
        RSA.public_pem.as_bytes(),
        &RSA.modulus,
        RSA.key.jwk["n"].as_str().unwrap().as_bytes(),
    ];
    for secret in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some("rsa-1".to_owned());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
            let m = message(
                &verifier.verify(&token).await.unwrap_err(),
                "Rejected",
                &token,
            );
            assert!(m.contains("signed with HMAC"), "{m}");
        }
    }
}

#[tokio::test]
async fn algorithms_not_allowed_or_not_fitting_the_key_are_refused() {
    let ec = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&ec, &RSA.key]).await;
    let verifier = issuer.verifier(json!({"algorithms": ["RS256"]}));
    let claims = issuer.github_claims();
    let token = ec.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("signed with ES256, which is not allowed"), "{m}");
    assert_eq!(issuer.requests(), (0, 0));

    // An RS256 header naming the EC key.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("es-1".to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &RSA.key.encoding).unwrap();
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(
        m.contains("does not match key \"es-1\", which is a P-256 key"),
        "{m}"
    );

    // No kid, but two keys.
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &RSA.key.encoding).unwrap();
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("names no key"), "{m}");
}

#[tokio::test]
async fn without_a_kid_the_only_key_is_used() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &issuer.github_claims(),
        &key.encoding,
    )
    .unwrap();
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn malformed_tokens_are_malformed() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    let good = key.sign(&issuer.github_claims());
    let (head, rest) = good.split_once('.').unwrap();
    let huge = format!("{head}.{}.{}", "A".repeat(20_000), rest);
    let tampered_signature = format!("{good}!!");
    for token in [
        "not a jwt",
        "",
        "a.b",
        &huge,
        &format!("{head}.%%%.sig"),
        &tampered_signature,
    ] {
        let e = verifier.verify(token).await.unwrap_err();
        let m = message(&e, "Malformed", token);
        assert!(m.starts_with("not a JWT"), "{token:.40}: {m}");
    }
}

#[tokio::test]
async fn an_unknown_kid_is_rejected_after_one_refetch() {
    let key = SigningKey::es256("es-1");
    let stranger = SigningKey::es256("es-9");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    let token = stranger.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("has no key \"es-9\""), "{m}");
    // Cold fetch, then one forced refetch of the JWKS.
    assert_eq!(issuer.requests(), (1, 2));
}

#[tokio::test]
async fn a_rotated_key_verifies_after_one_refetch_and_the_old_one_stops() {
    let old = SigningKey::es256("2024-01");
    let new = SigningKey::es256("2024-07");
    let issuer = FakeIssuer::start(&[&old]).await;
    let verifier = issuer.verifier(json!({}));
    let claims = issuer.github_claims();
    let old_token = old.sign(&claims);
    assert!(verifier.verify(&old_token).await.is_ok());
    assert_eq!(issuer.requests(), (1, 1));

    issuer.publish(&[&new]);
    let identity = verifier.verify(&new.sign(&claims)).await.unwrap();
    assert_eq!(identity.subject, "repo:acme/app:ref:refs/heads/main");
    assert_eq!(issuer.requests(), (1, 2), "one JWKS refetch, no discovery");
    // Cached now.
    assert!(verifier.verify(&new.sign(&claims)).await.is_ok());

    // The old key is gone from the cached set; its refetch is rate-limited.
    let m = message(
        &verifier.verify(&old_token).await.unwrap_err(),
        "Rejected",
        &old_token,
    );
    assert!(m.contains("has no key \"2024-01\""), "{m}");
    assert_eq!(issuer.requests(), (1, 2));
}

#[tokio::test]
async fn concurrent_verifications_on_a_cold_cache_share_one_fetch() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.delay = Duration::from_millis(100));
    let verifier = Arc::new(issuer.verifier(json!({})));
    let token = key.sign(&issuer.github_claims());

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let verifier = verifier.clone();
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.requests(), (1, 1));
}

#[tokio::test]
async fn a_flood_of_unknown_kids_forces_at_most_one_refetch() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.delay = Duration::from_millis(20));
    let verifier = Arc::new(issuer.verifier(json!({})));
    verifier
        .verify(&key.sign(&issuer.github_claims()))
        .await
        .unwrap();
    assert_eq!(issuer.requests(), (1, 1));

    let claims = issuer.github_claims();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let verifier = verifier.clone();
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(format!("random-{i}-{}", rand::random::<u64>()));
            let token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
            tokio::spawn(async move { (verifier.verify(&token).await, token) })
        })
        .collect();
    for task in tasks {
        let (result, token) = task.await.unwrap();
        let m = message(&result.unwrap_err(), "Rejected", &token);
        assert!(m.contains("has no key \"random-"), "{m}");
    }
    for i in 0..20 {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(format!("later-{i}"));
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(ExchangeError::Rejected(_))
        ));
    }
    assert_eq!(
        issuer.requests(),
        (1, 2),
        "one forced refetch in the window"
    );
    // Known keys keep verifying meanwhile.
    assert!(verifier.verify(&key.sign(&claims)).await.is_ok());
}

#[tokio::test]
async fn an_issuer_that_is_down_makes_verification_unavailable_until_it_is_back() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.down = true);
    let verifier = issuer.verifier(json!({}));
    let token = key.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains(&issuer.url), "names the issuer: {m}");
    assert!(m.contains("HTTP 503"), "{m}");

    // The failure is not cached.
    issuer.set(|b| b.down = false);
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let claims = issuer.github_claims();
    let verifier = issuer.verifier(json!({}));
    let url = issuer.url.clone();
    drop(issuer); // Nothing listens on the port any more.
    let token = key.sign(&claims);
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains(&url), "{m}");
}

#[tokio::test]
async fn cached_keys_keep_serving_while_the_issuer_is_down() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({"jwks_cache": "1s"}));
    let token = key.sign(&issuer.github_claims());
    assert!(verifier.verify(&token).await.is_ok());

    // Fresh keys: no request at all.
    issuer.set(|b| b.down = true);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(), (1, 1));

    // Expired keys: one refresh attempt fails, the old keys still serve,
    // and the next tokens do not ask again at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(issuer.requests(), (2, 1));
}

#[tokio::test]
async fn cache_control_max_age_shortens_the_cache_but_not_below_the_floor() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.cache_control = Some("public, max-age=0"));
    let verifier = issuer.verifier(json!({"jwks_cache": "1s"}));
    let token = key.sign(&issuer.github_claims());
    assert!(verifier.verify(&token).await.is_ok());
    // max-age=0 is raised to the floor (here jwks_cache, 1 s).
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(), (1, 1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.requests(), (2, 2));
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let padding = "x".repeat(300 * 1024);
    let jwks = json!({"keys": [key.jwk], "padding": padding}).to_string();
    issuer.set(|b| b.jwks = jwks.into());
    let verifier = issuer.verifier(json!({}));
    let token = key.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains("more than 256 KiB"), "{m}");
}

#[tokio::test]
async fn a_jwks_without_usable_keys_is_unavailable() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.jwks = r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.into());
    let verifier = issuer.verifier(json!({}));
    let token = key.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains("holds no usable signing key"), "{m}");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    issuer.set(|b| b.discovery_issuer = Some("https://evil.example".to_owned()));
    let verifier = issuer.verifier(json!({}));
    let token = key.sign(&issuer.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(
        m.contains("names the issuer \"https://evil.example\""),
        "{m}"
    );
    assert_eq!(issuer.requests(), (1, 0), "the JWKS is not fetched");
}

#[tokio::test]
async fn each_issuer_has_its_own_keys() {
    let a_key = SigningKey::es256("key-1");
    let b_key = SigningKey::es256("key-1");
    let a = FakeIssuer::start(&[&a_key]).await;
    let b = FakeIssuer::start(&[&b_key]).await;
    let verifier = verifier(&[a.config(json!({})), b.config(json!({}))]);
    assert_eq!(
        verifier.issuers().collect::<Vec<_>>(),
        [a.url.as_str(), b.url.as_str()]
    );
    let from_a = verifier
        .verify(&a_key.sign(&a.github_claims()))
        .await
        .unwrap();
    let from_b = verifier
        .verify(&b_key.sign(&b.github_claims()))
        .await
        .unwrap();
    assert_eq!(from_a.issuer, a.url);
    assert_eq!(from_b.issuer, b.url);
    let token = b_key.sign(&a.github_claims());
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Rejected",
        &token,
    );
    assert!(m.contains("signature does not verify"), "{m}");
    assert_eq!(a.requests(), (1, 1));
    assert_eq!(b.requests(), (1, 1));
}

#[tokio::test]
async fn keys_are_fetched_over_https_only() {
    let key = SigningKey::es256("es-1");
    let issuer = FakeIssuer::start(&[&key]).await;
    let verifier = issuer.verifier(json!({}));
    let token = key.sign(&issuer.github_claims());

    // A jwks_uri on plain http to a host that is not loopback.
    issuer.set(|b| b.jwks_uri = Some("http://keys.example.com/jwks".to_owned()));
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains("jwks_uri that is unusable"), "{m}");
    assert!(
        m.contains("http://keys.example.com/jwks must be https"),
        "{m}"
    );

    // A redirect away from https (here: to a non-loopback http URL).
    issuer.set(|b| {
        b.jwks_uri = None;
        b.redirect_discovery = Some("http://elsewhere.example.com/openid".to_owned());
    });
    let m = message(
        &verifier.verify(&token).await.unwrap_err(),
        "Unavailable",
        &token,
    );
    assert!(m.contains("could not be read"), "{m}");
    assert!(m.contains("must be https"), "{m}");
    assert_eq!(issuer.requests(), (2, 0));
}
