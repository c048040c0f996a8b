//! Collections (`/v1/apps/{id}/collections`, `/v1/collections/{id}/…`) through the
//! license-check router, over SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeSet;

use axum::http::Method;
use common::{Harness, blocked, valid_body};
use serde_json::json;

over_both_backends!(
    collections_have_integer_ids_unique_per_deployment,
    a_blocked_collection_answers_410_at_once,
    collection_keys_are_listed_by_page,
    collection_requests_are_validated,
    keys_from_before_collections_read_as_the_default,
);

async fn collections_have_integer_ids_unique_per_deployment(h: &Harness) {
    let (a, b) = (h.new_app().await, h.new_app().await);
    let answer = h
        .admin(Method::POST, &format!("/v1/apps/{}/collections", a.id), Some(json!({ "name": "Launch" })))
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
    let created = answer.json();
    assert!(created["id"].is_i64(), "{created}");
    assert_eq!(created, json!({ "id": created["id"], "name": "Launch", "blocked": false }));

    let mut ids = BTreeSet::from([created["id"].as_i64().unwrap()]);
    for (app, name) in [(&a, "Resellers"), (&b, "Launch"), (&b, "Press")] {
        assert!(ids.insert(h.new_collection(&app.id, name).await), "ids are unique across apps");
    }
    let listed = h.admin(Method::GET, &format!("/v1/apps/{}/collections", a.id), None).await;
    assert_eq!(listed.status.as_u16(), 200, "{}", listed.body);
    let listed = listed.json();
    let names: Vec<&str> =
        listed["collections"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Launch", "Resellers"], "by id, only the app's own");
}

async fn a_blocked_collection_answers_410_at_once(h: &Harness) {
    let app = h.new_app().await;
    let secret = app.app_secret.expose();
    let (sale, press) = (h.new_collection(&app.id, "sale").await, h.new_collection(&app.id, "press").await);
    let sale_key = h.generate(&app.id, 1, Some(sale)).await.remove(0);
    let press_key = h.generate(&app.id, 1, Some(press)).await.remove(0);
    let sale_secret = h.key_secret(&sale_key).await;
    // Cached app: the block must still take effect at once in this process.
    assert_eq!(h.check(&sale_key, Some(secret), None).await.status.as_u16(), 200);

    let answer = h.admin(Method::POST, &format!("/v1/collections/{sale}/block"), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(answer.json(), json!({ "id": sale, "name": "sale", "blocked": true }));
    h.check(&sale_key, Some(secret), None).await.assert_patchkit(410, blocked());
    h.check(&sale_key, Some(secret), Some(&sale_secret)).await.assert_patchkit(410, blocked());
    // Other collections are untouched; the key itself is not blocked.
    assert_eq!(h.check(&press_key, Some(secret), None).await.status.as_u16(), 200);
    assert_eq!(h.key_view(&sale_key).await["blocked"], false);

    let answer = h.admin(Method::POST, &format!("/v1/collections/{sale}/unblock"), None).await;
    assert_eq!(answer.json()["blocked"], false);
    let registrations = h.registrations(&sale_key).await;
    h.check(&sale_key, Some(secret), Some(&sale_secret))
        .await
        .assert_patchkit(200, &valid_body(&sale_key, secret, &sale_secret, sale, registrations));
}

async fn collection_keys_are_listed_by_page(h: &Harness) {
    let app = h.new_app().await;
    h.new_collection(&app.id, "first").await;
    let c = h.new_collection(&app.id, "batch").await;
    let mut keys = h.generate(&app.id, 7, Some(c)).await;
    // Into the app's first collection, not this one.
    h.generate(&app.id, 2, None).await;
    keys.sort();
    h.check(&keys[0], Some(app.app_secret.expose()), None).await;
    h.admin(Method::POST, &format!("/v1/keys/{}/block", keys[1]), None).await;

    let page = h.admin(Method::GET, &format!("/v1/collections/{c}/keys?size=3&offset=0"), None).await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.body);
    let page = page.json();
    assert_eq!(page["total_count"], 7);
    assert_eq!(
        page["keys"],
        json!([
            { "key": keys[0], "registrations": 1, "blocked": false },
            { "key": keys[1], "registrations": 0, "blocked": true },
            { "key": keys[2], "registrations": 0, "blocked": false },
        ])
    );
    let rest = h.admin(Method::GET, &format!("/v1/collections/{c}/keys?size=3&offset=6"), None).await.json();
    assert_eq!(rest["keys"].as_array().unwrap().len(), 1);
    assert_eq!(rest["keys"][0]["key"], keys[6].as_str());
    let all = h.admin(Method::GET, &format!("/v1/collections/{c}/keys"), None).await.json();
    assert_eq!(all["keys"].as_array().unwrap().len(), 7);
}

async fn collection_requests_are_validated(h: &Harness) {
    let app = h.new_app().await;
    let other = h.new_app().await;
    let theirs = h.new_collection(&other.id, "theirs").await;
    let uri = format!("/v1/apps/{}/collections", app.id);
    h.admin(Method::POST, &uri, Some(json!({ "name": "" }))).await.assert_api_error(
        422,
        "invalid_field",
        "name: must be 1 to 128 printable characters",
    );
    h.admin(Method::POST, "/v1/apps/app_missing/collections", Some(json!({ "name": "x" })))
        .await
        .assert_api_error(404, "not_found", "app app_missing not found");
    // Keys go only into the app's own collections.
    h.admin(
        Method::POST,
        &format!("/v1/apps/{}/keys", app.id),
        Some(json!({ "count": 1, "collection_id": theirs })),
    )
    .await
    .assert_api_error(
        422,
        "invalid_field",
        &format!("collection_id: app {} has no collection {theirs}", app.id),
    );
    for uri in ["/v1/collections/999999/block", "/v1/collections/nope/unblock"] {
        let answer = h.admin(Method::POST, uri, None).await;
        assert_eq!(answer.status.as_u16(), 404, "{uri}: {}", answer.body);
    }
    assert_eq!(h.admin(Method::GET, "/v1/collections/999999/keys", None).await.status.as_u16(), 404);
    h.admin(Method::GET, &format!("/v1/collections/{theirs}/keys?size=0"), None).await.assert_api_error(
        422,
        "invalid_field",
        "size: must be 1 to 1000",
    );
    h.admin(Method::GET, &format!("/v1/collections/{theirs}/keys?offset=-1"), None).await.assert_api_error(
        422,
        "invalid_field",
        "offset: must be a non-negative integer",
    );
}

async fn keys_from_before_collections_read_as_the_default(h: &Harness) {
    let app = h.new_app().await;
    let secret = app.app_secret.expose();
    let mut old = patchbay_testing::samples::sample_key(&app.id);
    old.collection_id = None;
    h.keys.create_keys(std::slice::from_ref(&old)).await.unwrap();
    let key_secret = old.key_secret.expose();
    // An app that never had a collection: 0, still an integer.
    h.check(&old.key, Some(secret), Some(key_secret))
        .await
        .assert_patchkit(200, &valid_body(&old.key, secret, key_secret, 0, 0));
    let first = h.new_collection(&app.id, "first").await;
    h.new_collection(&app.id, "second").await;
    h.check(&old.key, Some(secret), Some(key_secret))
        .await
        .assert_patchkit(200, &valid_body(&old.key, secret, key_secret, first, 0));
    assert_eq!(h.collection_of(&old.key).await, first);
    h.admin(Method::POST, &format!("/v1/collections/{first}/block"), None).await;
    h.check(&old.key, Some(secret), Some(key_secret)).await.assert_patchkit(410, blocked());
}
