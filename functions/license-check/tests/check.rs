//! `GET /v2/keys/{key}`: PatchKit's statuses and exact bodies, headers, and registration
//! counting, over SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::Method;
use common::{
    Harness, blocked, check_uri, forbidden, malformed_key, missing_app_secret, not_known, pct, valid_body,
};

over_both_backends!(
    valid_key_answers_patchkit_body,
    registrations_count_only_calls_without_key_secret,
    concurrent_registrations_are_all_counted,
    unknown_key_is_404,
    blocked_key_is_410_until_unblocked,
    wrong_secrets_are_403,
    missing_app_secret_is_400,
    malformed_keys_are_400,
    other_methods_are_405,
);

async fn valid_key_answers_patchkit_body(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    let answer = h.check(&key, Some(secret), None).await;
    answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), 1));

    // A key without a collection answers `"collection_id":null`.
    let bare = h.generate(&app.id, 1, None).await.remove(0);
    let bare_secret = h.key_secret(&bare).await;
    h.check(&bare, Some(secret), Some(&bare_secret))
        .await
        .assert_patchkit(200, &valid_body(&bare, secret, &bare_secret, None, 0));

    // Unknown query parameters are ignored.
    let answer =
        h.get(&format!("{}&launcher=1.2.3&foo", check_uri(&key, Some(secret), Some(&key_secret)))).await;
    answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), 1));
}

async fn registrations_count_only_calls_without_key_secret(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    assert_eq!(h.registrations(&key).await, 0);

    for expected in 1..=3 {
        let answer = h.check(&key, Some(secret), None).await;
        answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), expected));
        assert_eq!(h.registrations(&key).await, expected, "{}", h.backend);
    }
    // With the right key_secret: a verification, not a registration.
    for _ in 0..3 {
        let answer = h.check(&key, Some(secret), Some(&key_secret)).await;
        answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), 3));
    }
    assert_eq!(h.registrations(&key).await, 3);
    // Refused calls count nothing either.
    h.check(&key, Some(secret), Some("wrong")).await.assert_patchkit(403, forbidden());
    h.check(&key, Some(secret), Some("")).await.assert_patchkit(403, forbidden());
    h.check(&key, Some("not-the-app-secret"), None).await.assert_patchkit(403, forbidden());
    assert_eq!(h.registrations(&key).await, 3);
}

async fn concurrent_registrations_are_all_counted(h: &Harness) {
    const CALLS: u64 = 50;
    let (app, key, key_secret) = h.app_with_key().await;
    let uri = check_uri(&key, Some(app.app_secret.expose()), None);
    let mut tasks = Vec::new();
    for _ in 0..CALLS {
        let router = h.router.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move { common::send_to(router, common::get_request(&uri)).await }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        answer.assert_patchkit_headers();
        assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
        seen.push(answer.json()["registrations"].as_u64().unwrap());
    }
    seen.sort_unstable();
    let total = h.registrations(&key).await;
    if h.backend == "sqlite" {
        // Each call saw its own increment: the counts are exactly 1..=50, and all were kept.
        assert_eq!(seen, (1..=CALLS).collect::<Vec<_>>());
        assert_eq!(total, CALLS);
    } else {
        // The adapter registers with one conditional `ADD registrations :one` UpdateItem, which
        // DynamoDB applies atomically per item. moto does not: its update_item reads, computes
        // and writes the item in Python with no lock, and its server is threaded, so concurrent
        // ADDs may interleave and lose an increment. Hold moto only to what it guarantees.
        assert!(seen.iter().all(|n| (1..=CALLS).contains(n)), "{seen:?}");
        assert!((1..=CALLS).contains(&total), "{total}");
        if total != CALLS {
            eprintln!(
                "note: moto lost {} of {CALLS} concurrent increments (not atomic in moto)",
                CALLS - total
            );
        }
    }
    // A verification afterwards reports the total without adding to it.
    let secret = app.app_secret.expose();
    h.check(&key, Some(secret), Some(&key_secret))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), total));
    assert_eq!(h.registrations(&key).await, total);
}

async fn unknown_key_is_404(h: &Harness) {
    let (app, _, _) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    h.check("NOPE2-NOPE2-NOPE2-NOPE2", Some(secret), None).await.assert_patchkit(404, not_known());
    h.check("NOPE2-NOPE2-NOPE2-NOPE2", Some(secret), Some("x")).await.assert_patchkit(404, not_known());
    // Exactly 128 characters is a well-formed key (that nobody has).
    h.check(&"K".repeat(128), Some(secret), None).await.assert_patchkit(404, not_known());
    // Percent-decoded before the lookup: these are simply unknown keys, not errors.
    for raw in ["a/b", "with space", "ключ", "%ZZ", "'; DROP TABLE license_keys; --"] {
        h.check(raw, Some(secret), None).await.assert_patchkit(404, not_known());
    }
}

async fn blocked_key_is_410_until_unblocked(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let other = h.new_app().await;
    let secret = app.app_secret.expose();

    let blocked_view = h.admin(Method::POST, &format!("/v1/keys/{key}/block"), None).await;
    assert_eq!(blocked_view.status.as_u16(), 200, "{}", blocked_view.body);
    assert_eq!(blocked_view.json()["blocked"], true);

    h.check(&key, Some(secret), None).await.assert_patchkit(410, blocked());
    h.check(&key, Some(secret), Some(&key_secret)).await.assert_patchkit(410, blocked());
    // Another app learns nothing about the key's state.
    h.check(&key, Some(other.app_secret.expose()), None).await.assert_patchkit(403, forbidden());
    // A blocked key counts no registrations.
    assert_eq!(h.registrations(&key).await, 0);

    let unblocked = h.admin(Method::POST, &format!("/v1/keys/{key}/unblock"), None).await;
    assert_eq!(unblocked.status.as_u16(), 200, "{}", unblocked.body);
    assert_eq!(unblocked.json()["blocked"], false);
    h.check(&key, Some(secret), None)
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, Some("col_1"), 1));
}

async fn wrong_secrets_are_403(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let other = h.new_app().await;
    let (_, others_key, _) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    // An app secret nobody has.
    h.check(&key, Some("no-such-app-secret"), None).await.assert_patchkit(403, forbidden());
    // A real app secret, but another app's.
    h.check(&key, Some(other.app_secret.expose()), None).await.assert_patchkit(403, forbidden());
    h.check(&key, Some(other.app_secret.expose()), Some(&key_secret)).await.assert_patchkit(403, forbidden());
    h.check(&others_key, Some(secret), None).await.assert_patchkit(403, forbidden());
    // The right app, the wrong key secret (also: another key's secret, a prefix of the right one).
    h.check(&key, Some(secret), Some("wrong")).await.assert_patchkit(403, forbidden());
    h.check(&key, Some(secret), Some(&key_secret[..key_secret.len() - 1]))
        .await
        .assert_patchkit(403, forbidden());
    let others_secret = h.key_secret(&others_key).await;
    h.check(&key, Some(secret), Some(&others_secret)).await.assert_patchkit(403, forbidden());
    // Secrets are case-sensitive.
    let flipped: String = secret
        .chars()
        .map(|c| if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
        .collect();
    if flipped != secret {
        h.check(&key, Some(&flipped), None).await.assert_patchkit(403, forbidden());
    }
    assert_eq!(h.registrations(&key).await, 0);
}

async fn missing_app_secret_is_400(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    h.check(&key, None, None).await.assert_patchkit(400, missing_app_secret());
    h.check(&key, None, Some(&key_secret)).await.assert_patchkit(400, missing_app_secret());
    h.check(&key, Some(""), None).await.assert_patchkit(400, missing_app_secret());
    // The name must be exact: `APP_SECRET` or a prefix is not the parameter.
    let secret = app.app_secret.expose();
    h.get(&format!("/v2/keys/{key}?APP_SECRET={secret}")).await.assert_patchkit(400, missing_app_secret());
    h.get(&format!("/v2/keys/{key}?app_secret_={secret}")).await.assert_patchkit(400, missing_app_secret());
    assert_eq!(h.registrations(&key).await, 0);
}

async fn malformed_keys_are_400(h: &Harness) {
    let (app, _, _) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    let uri = |encoded_key: &str| format!("/v2/keys/{encoded_key}?app_secret={secret}");

    // Over 128 characters (129 bytes; and 10 KB).
    h.get(&uri(&"K".repeat(129))).await.assert_patchkit(400, malformed_key());
    h.get(&uri(&"K".repeat(10 * 1024))).await.assert_patchkit(400, malformed_key());
    // 65 two-byte characters: 130 bytes.
    h.get(&uri(&pct("é".repeat(65).as_bytes()))).await.assert_patchkit(400, malformed_key());
    // Control characters, percent-encoded.
    for encoded in ["%0A", "ABCDE%0A", "ABC%00DE", "%1B%5B31m", "%7F", "%C2%85"] {
        h.get(&uri(encoded)).await.assert_patchkit(400, malformed_key());
    }
    // Not UTF-8 after percent-decoding.
    h.get(&uri("%FF%FE")).await.assert_patchkit(400, malformed_key());
    // A malformed key is refused before the app secret is even looked at.
    h.get(&format!("/v2/keys/{}", "K".repeat(129))).await.assert_patchkit(400, malformed_key());
    h.get("/v2/keys/%0A").await.assert_patchkit(400, malformed_key());
}

async fn other_methods_are_405(h: &Harness) {
    let (app, key, _) = h.app_with_key().await;
    let uri = check_uri(&key, Some(app.app_secret.expose()), None);
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = h.request(method.clone(), &uri).await;
        answer.assert_patchkit(405, r#"{"message":"Method not allowed"}"#);
    }
    // None of them registered anything.
    assert_eq!(h.registrations(&key).await, 0);
}
