//! `GET /v2/keys/{key}`: PatchKit's statuses and exact bodies, headers, and registration
//! counting, over SQLite and over DynamoDB on moto. (`HEAD`, `OPTIONS` and other methods:
//! `methods.rs`.)
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::Method;
use common::{Harness, blocked, check_uri, forbidden, missing_app_secret, not_known, pct, valid_body};

over_both_backends!(
    valid_key_answers_patchkit_body,
    registrations_count_calls_without_the_right_key_secret,
    wrong_or_stale_key_secret_registers_and_answers_the_real_one,
    concurrent_registrations_are_all_counted,
    unknown_key_is_404,
    blocked_key_is_410_until_unblocked,
    unknown_app_secret_is_403,
    other_apps_key_is_404_like_an_unknown_key,
    missing_app_secret_is_400,
    malformed_keys_are_404,
);

async fn valid_key_answers_patchkit_body(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    let answer = h.check(&key, Some(secret), None).await;
    answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));

    // A key generated without a collection is in the app's first one, an integer too.
    let bare = h.generate(&app.id, 1, None).await.remove(0);
    let bare_secret = h.key_secret(&bare).await;
    let first = h.collection_of(&key).await;
    h.check(&bare, Some(secret), Some(&bare_secret))
        .await
        .assert_patchkit(200, &valid_body(&bare, secret, &bare_secret, first, 0));

    // Unknown query parameters are ignored.
    let answer =
        h.get(&format!("{}&launcher=1.2.3&foo", check_uri(&key, Some(secret), Some(&key_secret)))).await;
    answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));
}

async fn registrations_count_calls_without_the_right_key_secret(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    assert_eq!(h.registrations(&key).await, 0);

    for expected in 1..=3 {
        let answer = h.check(&key, Some(secret), None).await;
        answer.assert_patchkit(
            200,
            &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, expected),
        );
        assert_eq!(h.registrations(&key).await, expected, "{}", h.backend);
    }
    // With the right key_secret: a verification, not a registration.
    for _ in 0..3 {
        let answer = h.check(&key, Some(secret), Some(&key_secret)).await;
        answer.assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 3));
    }
    assert_eq!(h.registrations(&key).await, 3);
    // Refused calls count nothing.
    h.check(&key, Some("not-the-app-secret"), None).await.assert_patchkit(403, forbidden());
    h.check(&key, Some("not-the-app-secret"), Some("stale")).await.assert_patchkit(403, forbidden());
    h.check(&key, None, None).await.assert_patchkit(400, missing_app_secret());
    assert_eq!(h.registrations(&key).await, 3);
}

async fn wrong_or_stale_key_secret_registers_and_answers_the_real_one(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let (_, others_key, _) = h.app_with_key().await;
    let others_secret = h.key_secret(&others_key).await;
    let secret = app.app_secret.expose();

    // Each counts as no key secret at all: one registration, and the real secret to cache.
    let stale = [
        "stale".to_owned(),
        String::new(),
        key_secret[..key_secret.len() - 1].to_owned(),
        format!("{key_secret}x"),
        key_secret.to_ascii_lowercase(),
        others_secret,
    ];
    for (registrations, given) in (1..).zip(&stale) {
        let answer = h.check(&key, Some(secret), Some(given)).await;
        answer.assert_patchkit(
            200,
            &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, registrations),
        );
        assert_eq!(h.registrations(&key).await, registrations, "{given:?} on {}", h.backend);
    }
    // The healed caller sends the real secret next time: no further registration.
    let total = h.registrations(&key).await;
    h.check(&key, Some(secret), Some(&key_secret))
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, total));
    assert_eq!(h.registrations(&key).await, total);
    assert_eq!(h.registrations(&others_key).await, 0);
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
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, total));
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
    // A stale key secret does not get past a block either.
    h.check(&key, Some(secret), Some("stale")).await.assert_patchkit(410, blocked());
    // Another app learns nothing about the key, not even that it exists.
    h.check(&key, Some(other.app_secret.expose()), None).await.assert_patchkit(404, not_known());
    // A blocked key counts no registrations.
    assert_eq!(h.registrations(&key).await, 0);

    let unblocked = h.admin(Method::POST, &format!("/v1/keys/{key}/unblock"), None).await;
    assert_eq!(unblocked.status.as_u16(), 200, "{}", unblocked.body);
    assert_eq!(unblocked.json()["blocked"], false);
    h.check(&key, Some(secret), None)
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 1));
}

async fn unknown_app_secret_is_403(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    h.check(&key, Some("no-such-app-secret"), None).await.assert_patchkit(403, forbidden());
    h.check(&key, Some("no-such-app-secret"), Some(&key_secret)).await.assert_patchkit(403, forbidden());
    // Checked before the key: an unknown key or junk gets the same answer.
    h.check("NOPE2-NOPE2", Some("no-such-app-secret"), None).await.assert_patchkit(403, forbidden());
    h.get("/v2/keys/%0A?app_secret=no-such-app-secret").await.assert_patchkit(403, forbidden());
    // Secrets are case-sensitive, and a prefix is not the secret.
    let flipped: String = secret
        .chars()
        .map(|c| if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
        .collect();
    if flipped != secret {
        h.check(&key, Some(&flipped), None).await.assert_patchkit(403, forbidden());
    }
    h.check(&key, Some(&secret[..secret.len() - 1]), None).await.assert_patchkit(403, forbidden());
    assert_eq!(h.registrations(&key).await, 0);
}

async fn other_apps_key_is_404_like_an_unknown_key(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let other = h.new_app().await;
    let others_secret = other.app_secret.expose();
    let unknown = h.check("NOPE2-NOPE2-NOPE2-NOPE2", Some(others_secret), None).await;
    unknown.assert_patchkit(404, not_known());

    // The whole answer, headers included, is the unknown key's: nothing tells them apart. Also
    // with the key's own secret, and once the key is blocked.
    let foreign = [Some(key_secret.as_str()), None, Some("stale")];
    for key_secret in foreign {
        let answer = h.check(&key, Some(others_secret), key_secret).await;
        assert_eq!(
            (answer.status, &answer.headers, &answer.body),
            (unknown.status, &unknown.headers, &unknown.body)
        );
    }
    h.admin(Method::POST, &format!("/v1/keys/{key}/block"), None).await;
    for key_secret in foreign {
        let answer = h.check(&key, Some(others_secret), key_secret).await;
        assert_eq!(
            (answer.status, &answer.headers, &answer.body),
            (unknown.status, &unknown.headers, &unknown.body)
        );
    }
    assert_eq!(h.registrations(&key).await, 0);
    // Its own app still sees it blocked.
    h.check(&key, Some(app.app_secret.expose()), None).await.assert_patchkit(410, blocked());
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

async fn malformed_keys_are_404(h: &Harness) {
    let (app, _, _) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    let uri = |encoded_key: &str| format!("/v2/keys/{encoded_key}?app_secret={secret}");

    // No store holds such a key, so it is simply not known: over 128 characters (129 bytes;
    // and 10 KB), 65 two-byte characters (130 bytes), control characters, not UTF-8.
    let too_long = ["K".repeat(129), "K".repeat(10 * 1024), pct("é".repeat(65).as_bytes())];
    let control = ["%0A", "ABCDE%0A", "ABC%00DE", "%1B%5B31m", "%7F", "%C2%85"].map(str::to_owned);
    for encoded in too_long.iter().chain(&control).chain(&["%FF%FE".to_owned()]) {
        h.get(&uri(encoded)).await.assert_patchkit(404, not_known());
    }
    // The app secret is looked at first: without one, the request is incomplete whatever the key.
    h.get(&format!("/v2/keys/{}", "K".repeat(129))).await.assert_patchkit(400, missing_app_secret());
    h.get("/v2/keys/%0A").await.assert_patchkit(400, missing_app_secret());
}
