//! Key administration (`/v1/apps/{id}/keys`, `/v1/keys/{key}`…) through the license-check
//! router, over SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::http::Method;
use common::{ADMIN_TOKEN, Harness, blocked, key_shape_ok, not_known, valid_body};
use serde_json::json;

over_both_backends!(
    generate_validates_count_and_app,
    generated_keys_have_the_documented_shape,
    import_reports_duplicates,
    import_with_an_invalid_key_imports_nothing,
    show_block_unblock,
    admin_routes_need_the_token,
);

async fn generate_validates_count_and_app(h: &Harness) {
    let app = h.new_app().await;
    let uri = format!("/v1/apps/{}/keys", app.id);
    for count in [0, 10_001] {
        h.admin(Method::POST, &uri, Some(json!({ "count": count }))).await.assert_api_error(
            422,
            "invalid_field",
            "count: must be 1 to 10000",
        );
    }
    // Not a number, missing, or with a field the API does not know: 422 naming the field.
    let answer = h.admin(Method::POST, &uri, Some(json!({ "count": "3" }))).await;
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    assert!(answer.json()["error"]["message"].as_str().unwrap().starts_with("count: "), "{}", answer.body);
    let answer = h.admin(Method::POST, &uri, Some(json!({ "count": 1, "extra": true }))).await;
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.body);
    h.admin(Method::POST, "/v1/apps/app_missing/keys", Some(json!({ "count": 3 }))).await.assert_api_error(
        404,
        "not_found",
        "app app_missing not found",
    );
}

async fn generated_keys_have_the_documented_shape(h: &Harness) {
    let app = h.new_app().await;
    let answer =
        h.admin(Method::POST, &format!("/v1/apps/{}/keys", app.id), Some(json!({ "count": 3 }))).await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `keys`: {body}");
    let keys: Vec<String> = serde_json::from_value(body["keys"].clone()).unwrap();
    assert_eq!(keys.len(), 3);
    // No collection given: the app's first, created on demand.
    let listed = h.admin(Method::GET, &format!("/v1/apps/{}/collections", app.id), None).await.json();
    let default = listed["collections"][0]["id"].as_i64().unwrap();
    assert_eq!(listed["collections"][0]["name"], "default");
    for key in &keys {
        // ^[2-9A-HJKMNP-TV-Z]{5}(-[2-9A-HJKMNP-TV-Z]{5}){3}$
        assert!(key_shape_ok(key), "{key:?}");
        let view = h.key_view(key).await;
        assert_eq!(view["app_id"], app.id.as_str());
        assert_eq!(view["registrations"], 0);
        assert_eq!(view["blocked"], false);
        assert_eq!(view["collection_id"], default);
        let secret = view["key_secret"].as_str().unwrap();
        assert_eq!(secret.len(), 32);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    }
    let distinct: std::collections::HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), 3);

    // Many keys at once: all well-formed and distinct, all checkable.
    let batch = h.new_collection(&app.id, "batch-2").await;
    let many = h.generate(&app.id, 250, Some(batch)).await;
    assert_eq!(many.iter().collect::<std::collections::HashSet<_>>().len(), 250);
    assert!(many.iter().all(|k| key_shape_ok(k)));
    let last = many.last().unwrap();
    let answer = h.check(last, Some(app.app_secret.expose()), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json()["collection_id"], batch);
}

async fn import_reports_duplicates(h: &Harness) {
    let app = h.new_app().await;
    let uri = format!("/v1/apps/{}/keys/import", app.id);
    let first = h.new_collection(&app.id, "first").await;
    let legacy = h.new_collection(&app.id, "legacy").await;
    let answer = h
        .admin(
            Method::POST,
            &uri,
            Some(json!({ "keys": ["OLD-key.1", "OLD-key.2", "OLD-key.1"], "collection_id": legacy })),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json(), json!({ "imported": 2, "unchanged": 0, "duplicates": ["OLD-key.1"] }));

    // Importing again: what exists as given is unchanged, the rest imported.
    let answer = h.admin(Method::POST, &uri, Some(json!({ "keys": ["OLD-key.2", "OLD_key_3"] }))).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json(), json!({ "imported": 1, "unchanged": 1, "duplicates": [] }));

    // Imported keys work like generated ones; the first import's collection stuck.
    let secret = app.app_secret.expose();
    let key_secret = h.key_secret("OLD-key.1").await;
    h.check("OLD-key.1", Some(secret), None)
        .await
        .assert_patchkit(200, &valid_body("OLD-key.1", secret, &key_secret, legacy, 1));
    assert_eq!(h.key_view("OLD-key.2").await["collection_id"], legacy);
    // Without a collection_id: the app's first collection.
    assert_eq!(h.key_view("OLD_key_3").await["collection_id"], first);
    // Another app importing an existing key is refused, naming it; nothing of that batch is
    // written.
    let other = h.new_app().await;
    let answer = h
        .admin(
            Method::POST,
            &format!("/v1/apps/{}/keys/import", other.id),
            Some(json!({ "keys": ["OTHER-NEW", "OLD-key.1"] })),
        )
        .await;
    answer.assert_api_error(
        409,
        "import_conflict",
        "nothing imported: 1 key(s) conflict with stored keys: OLD-key.1 (belongs to another app)",
    );
    assert_eq!(h.key_view("OLD-key.1").await["app_id"], app.id.as_str());
    assert_eq!(h.admin(Method::GET, "/v1/keys/OTHER-NEW", None).await.status.as_u16(), 404);

    h.admin(Method::POST, "/v1/apps/app_missing/keys/import", Some(json!({ "keys": ["NEW-1"] })))
        .await
        .assert_api_error(404, "not_found", "app app_missing not found");
    h.admin(Method::POST, &uri, Some(json!({ "keys": [] }))).await.assert_api_error(
        422,
        "invalid_field",
        "keys: must hold 1 to 10000 keys",
    );
}

async fn import_with_an_invalid_key_imports_nothing(h: &Harness) {
    let app = h.new_app().await;
    let uri = format!("/v1/apps/{}/keys/import", app.id);
    let long = "K".repeat(129);
    let cases: [(&[&str], usize); 5] = [
        (&["GOOD-A1", "bad key", "GOOD-A2"], 1),
        (&["bad\nkey", "GOOD-B1"], 0),
        (&["GOOD-C1", "GOOD-C2", ""], 2),
        (&["GOOD-D1", long.as_str()], 1),
        (&["GOOD-E1", "ключ"], 1),
    ];
    for (keys, bad) in cases {
        let answer = h.admin(Method::POST, &uri, Some(json!({ "keys": keys }))).await;
        assert_eq!(answer.status.as_u16(), 422, "{keys:?}: {}", answer.body);
        let body = answer.json();
        assert_eq!(body["error"]["code"], "invalid_field");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("keys[{bad}]: ")), "{keys:?}: {message}");
        // Nothing was imported, not even the valid keys before or after the bad one.
        for key in keys.iter().filter(|k| k.starts_with("GOOD-")) {
            let answer = h.admin(Method::GET, &format!("/v1/keys/{key}"), None).await;
            assert_eq!(answer.status.as_u16(), 404, "{key} was imported: {}", answer.body);
            h.check(key, Some(app.app_secret.expose()), None).await.assert_patchkit(404, not_known());
        }
    }
    // The same valid keys import fine on their own afterwards.
    let answer = h.admin(Method::POST, &uri, Some(json!({ "keys": ["GOOD-A1", "GOOD-A2"] }))).await;
    assert_eq!(answer.json(), json!({ "imported": 2, "unchanged": 0, "duplicates": [] }));
}

async fn show_block_unblock(h: &Harness) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose();
    h.check(&key, Some(secret), None).await;

    let view = h.key_view(&key).await;
    let fields: Vec<&String> = view.as_object().unwrap().keys().collect();
    assert_eq!(
        fields.len(),
        7,
        "key, app_id, key_secret, collection_id, registrations, blocked, created_at: {view}"
    );
    assert_eq!(view["key"], key.as_str());
    assert_eq!(view["app_id"], app.id.as_str());
    assert_eq!(view["key_secret"], key_secret.as_str());
    assert!(view["collection_id"].is_i64(), "{view}");
    assert_eq!(view["registrations"], 1);
    assert_eq!(view["blocked"], false);
    let created_at = view["created_at"].as_str().unwrap();
    assert!(
        created_at.len() >= 20 && created_at.as_bytes()[10] == b'T' && created_at.ends_with('Z'),
        "{view}"
    );

    let answer = h.admin(Method::POST, &format!("/v1/keys/{key}/block"), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json()["blocked"], true);
    assert_eq!(h.key_view(&key).await["blocked"], true);
    h.check(&key, Some(secret), None).await.assert_patchkit(410, blocked());
    // Blocking twice is fine.
    assert_eq!(h.admin(Method::POST, &format!("/v1/keys/{key}/block"), None).await.status.as_u16(), 200);

    let answer = h.admin(Method::POST, &format!("/v1/keys/{key}/unblock"), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json()["blocked"], false);
    h.check(&key, Some(secret), None)
        .await
        .assert_patchkit(200, &valid_body(&key, secret, &key_secret, h.collection_of(&key).await, 2));

    for uri in ["/v1/keys/NOPE2-NOPE2", "/v1/keys/NOPE2-NOPE2/block", "/v1/keys/NOPE2-NOPE2/unblock"] {
        let method = if uri.ends_with("block") { Method::POST } else { Method::GET };
        let answer = h.admin(method, uri, None).await;
        assert_eq!(answer.status.as_u16(), 404, "{uri}: {}", answer.body);
        assert_eq!(answer.json()["error"]["code"], "not_found");
    }
}

async fn admin_routes_need_the_token(h: &Harness) {
    let (app, key, _) = h.app_with_key().await;
    let routes = [
        (Method::POST, format!("/v1/apps/{}/keys", app.id), Some(json!({ "count": 1 }))),
        (Method::POST, format!("/v1/apps/{}/keys/import", app.id), Some(json!({ "keys": ["TOKEN-LESS"] }))),
        (Method::GET, format!("/v1/keys/{key}"), None),
        (Method::POST, format!("/v1/keys/{key}/block"), None),
        (Method::POST, format!("/v1/keys/{key}/unblock"), None),
    ];
    let wrong = format!("{ADMIN_TOKEN}x");
    for (method, uri, body) in routes {
        for token in [None, Some(wrong.as_str()), Some("")] {
            let answer = h.admin_as(token, method.clone(), &uri, body.clone()).await;
            assert_eq!(answer.status.as_u16(), 401, "{method} {uri} with {token:?}: {}", answer.body);
            assert_eq!(answer.json()["error"]["code"], "unauthorized");
        }
    }
    // Nothing happened: no key generated or imported, the key not blocked.
    assert_eq!(h.key_view(&key).await["blocked"], false);
    assert_eq!(h.admin(Method::GET, "/v1/keys/TOKEN-LESS", None).await.status.as_u16(), 404);
    let secret = app.app_secret.expose();
    assert_eq!(h.check(&key, Some(secret), None).await.status.as_u16(), 200);
}
