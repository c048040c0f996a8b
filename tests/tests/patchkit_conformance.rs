//! PatchKit conformance: the real patcher's key-check flow (PatchKit's
//! `patchkit-patcher-unity`: `KeysApiConnection`, `ValidateLicenseCommand`, `LicenseKey.cs`)
//! replayed against `patchbay dev` as a process. Every 200 body must deserialize into the C#
//! model's exact field types with unknown fields denied, and match the swagger's `LicenseKey`
//! definition (`tests/fixtures/patchkit_license_key.json`).
#![allow(clippy::unwrap_used)]

use patchbay_e2e::DevServer;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// `PatchKit.Api.Models.Keys.LicenseKey`, field for field (Newtonsoft throws on a string
/// `collection_id`; here anything but these exact types fails).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LicenseKey {
    key: String,
    app_secret: String,
    key_secret: String,
    collection_id: i32,
    registrations: i32,
    blocked: bool,
}

/// The body checked against the swagger's `LicenseKey`: every property present with its type,
/// and no other.
fn conforms(body: &str) -> LicenseKey {
    let fixture: Value = serde_json::from_str(include_str!("../fixtures/patchkit_license_key.json")).unwrap();
    let properties = fixture["properties"].as_object().unwrap();
    let value: Value = serde_json::from_str(body).unwrap();
    let object = value.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    for (name, kind) in properties {
        let field = object.get(name).unwrap_or_else(|| panic!("{name} missing: {body}"));
        let ok = match kind.as_str().unwrap() {
            "string" => field.is_string(),
            "integer" => field.is_i64() || field.is_u64(),
            "boolean" => field.is_boolean(),
            other => panic!("fixture type {other}"),
        };
        assert!(ok, "{name} is not a swagger {kind}: {body}");
    }
    for name in object.keys() {
        assert!(properties.contains_key(name), "{name} is not in the swagger's LicenseKey: {body}");
    }
    serde_json::from_str(body).unwrap_or_else(|e| panic!("C# model: {e}: {body}"))
}

struct Check {
    status: u16,
    content_type: String,
    body: String,
}

/// One check as the patcher makes it: `GET {base}/v2/keys/{key}?app_secret=…[&key_secret=…]`.
async fn check(dev: &DevServer, key: &str, app_secret: &str, key_secret: Option<&str>) -> Check {
    let mut url = format!("{}/v2/keys/{key}?app_secret={app_secret}", dev.base);
    if let Some(s) = key_secret {
        url.push_str(&format!("&key_secret={s}"));
    }
    let response = dev.http().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    Check { status, content_type, body: response.text().await.unwrap() }
}

fn refused(c: &Check, status: u16, message: &str) {
    assert_eq!(c.status, status, "{}", c.body);
    assert_eq!(serde_json::from_str::<Value>(&c.body).unwrap(), json!({ "message": message }));
    assert_eq!(c.content_type, "application/json; charset=utf-8");
}

async fn admin(dev: &DevServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, body) = dev.admin(method, path, body).await;
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patchers_flow_against_patchbay_dev() {
    let dev = DevServer::start(&[]);
    // A game moved from PatchKit keeps its app secret.
    let app_secret = "39b290146bea6ce975c37cfc23";
    let app = json!({"id": "moved-game", "name": "moved", "display_name": "Moved", "app_secret": app_secret});
    admin(&dev, Method::POST, "/v1/apps", Some(app)).await;
    let other = admin(
        &dev,
        Method::POST,
        "/v1/apps",
        Some(json!({"id": "other-game", "name": "other", "display_name": "Other"})),
    )
    .await;
    let retail =
        admin(&dev, Method::POST, "/v1/apps/moved-game/collections", Some(json!({"name": "retail"}))).await;
    let retail = retail["id"].as_i64().unwrap();
    let keys = admin(
        &dev,
        Method::POST,
        "/v1/apps/moved-game/keys",
        Some(json!({"count": 3, "collection_id": retail})),
    )
    .await;
    let keys: Vec<String> = serde_json::from_value(keys["keys"].clone()).unwrap();
    let others = admin(&dev, Method::POST, "/v1/apps/other-game/keys", Some(json!({"count": 1}))).await;
    let others_key = others["keys"][0].as_str().unwrap().to_owned();
    let key = &keys[0];

    // 1. First check: no cached key_secret yet (`while (KeySecret == null)`): registers, and
    //    hands the key_secret to cache.
    let first = check(&dev, key, app_secret, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.content_type, "application/json; charset=utf-8");
    let first = conforms(&first.body);
    assert_eq!((first.key.as_str(), first.app_secret.as_str()), (key.as_str(), app_secret));
    assert_eq!(
        (first.collection_id, first.registrations, first.blocked),
        (i32::try_from(retail).unwrap(), 1, false)
    );

    // 2. Later starts send the cached key_secret: a blocked-check only, no registration.
    let again = check(&dev, key, app_secret, Some(&first.key_secret)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let again = conforms(&again.body);
    assert_eq!((again.registrations, again.key_secret.as_str()), (1, first.key_secret.as_str()));

    // 3. A stale cached key_secret heals: 200, one registration, the real secret back.
    let stale = check(&dev, key, app_secret, Some("stale0secret0from0an0old0cache")).await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    let stale = conforms(&stale.body);
    assert_eq!((stale.registrations, stale.key_secret.as_str()), (2, first.key_secret.as_str()));

    // 4. Another app's key is not known with this app's secret (the swagger: "will find only
    //    key that matches given app_secret"), exactly like an unknown key.
    refused(&check(&dev, &others_key, app_secret, None).await, 404, "Key not known");
    refused(&check(&dev, "NOPE2-NOPE2-NOPE2-NOPE2", app_secret, None).await, 404, "Key not known");
    let other_secret = other["app_secret"].as_str().unwrap();
    assert_eq!(check(&dev, &others_key, other_secret, None).await.status, 200);
    refused(&check(&dev, key, "not-an-app-secret", None).await, 403, "Forbidden");

    // 5. A blocked key is 410 (the patcher: "blocked"), with or without its key_secret.
    admin(&dev, Method::POST, &format!("/v1/keys/{key}/block"), None).await;
    refused(&check(&dev, key, app_secret, None).await, 410, "Key has been blocked");
    refused(&check(&dev, key, app_secret, Some(&first.key_secret)).await, 410, "Key has been blocked");

    // 6. A key of a blocked collection is 410 too, through PatchKit's own admin route.
    let second = &keys[1];
    assert_eq!(check(&dev, second, app_secret, None).await.status, 200);
    let response = dev
        .http()
        .post(format!("{}/v2/collections/{retail}/block", dev.base))
        .header("token", &dev.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    refused(&check(&dev, second, app_secret, None).await, 410, "Key has been blocked");
    refused(&check(&dev, &keys[2], app_secret, None).await, 410, "Key has been blocked");
    admin(&dev, Method::POST, &format!("/v1/collections/{retail}/unblock"), None).await;
    conforms(&check(&dev, second, app_secret, None).await.body);
}

mod use_case {
    //! The same key-check clauses through the `KeyCheck` use case, over SQLite and over
    //! DynamoDB on moto: statuses as the router maps them (`http::errors::patchkit_refusal`),
    //! bodies against the same strict model.

    use std::sync::Arc;

    use chrono::Utc;
    use patchbay_adapters::backends::Backends;
    use patchbay_core::http::errors::patchkit_refusal;
    use patchbay_core::model::LicenseKey as StoredKey;
    use patchbay_core::service::keys::{KeyCheck, KeyQuery, Registration};
    use patchbay_testing::backends as testing;
    use patchbay_testing::samples::sample_app;

    use super::conforms;

    /// `(status, body)` as the key check answers.
    async fn check(kc: &KeyCheck, key: &str, app_secret: &str, key_secret: Option<&str>) -> (u16, String) {
        let query = KeyQuery { key: Some(key), app_secret: Some(app_secret), key_secret };
        match kc.check(query, Registration::UnlessKeySecretMatches).await {
            Ok(found) => (200, serde_json::to_string(&found).unwrap()),
            Err(refusal) => (patchkit_refusal(refusal).0, String::new()),
        }
    }

    async fn clauses(backends: &Backends) {
        let (store, keys) = (backends.store.clone(), backends.keys.clone());
        let (app, other) = (sample_app(), sample_app());
        store.create_app(&app).await.unwrap();
        store.create_app(&other).await.unwrap();
        let collection = keys.create_collection(&app.id, "retail", Utc::now()).await.unwrap().id;
        let other_collection = keys.create_collection(&other.id, "x", Utc::now()).await.unwrap().id;
        let mine: Vec<StoredKey> = (0..2)
            .map(|i| StoredKey::new(format!("CONF-{i}-{}", app.id), &app.id, collection, Utc::now()))
            .collect();
        let theirs = StoredKey::new(format!("CONF-X-{}", other.id), &other.id, other_collection, Utc::now());
        assert!(keys.create_keys(&mine).await.unwrap().is_empty());
        assert!(keys.create_keys(std::slice::from_ref(&theirs)).await.unwrap().is_empty());
        let kc = KeyCheck::new(keys.clone(), store.clone(), Arc::default());
        let (key, secret) = (mine[0].key.as_str(), app.app_secret.expose());

        let (status, body) = check(&kc, key, secret, None).await;
        assert_eq!(status, 200);
        let first = conforms(&body);
        assert_eq!((first.registrations, first.collection_id), (1, i32::try_from(collection).unwrap()));
        let again = conforms(&check(&kc, key, secret, Some(&first.key_secret)).await.1);
        assert_eq!(again.registrations, 1);
        let healed = conforms(&check(&kc, key, secret, Some("stale-secret")).await.1);
        assert_eq!((healed.registrations, healed.key_secret), (2, first.key_secret.clone()));
        assert_eq!(check(&kc, &theirs.key, secret, None).await.0, 404);
        assert_eq!(check(&kc, "CONF-NOPE", secret, None).await.0, 404);
        assert_eq!(check(&kc, key, "not-an-app-secret", None).await.0, 403);

        keys.set_key_blocked(key, true).await.unwrap();
        assert_eq!(check(&kc, key, secret, None).await.0, 410);
        assert_eq!(check(&kc, key, secret, Some(&first.key_secret)).await.0, 410);

        keys.set_collection_blocked(collection, true).await.unwrap();
        // A fresh cache, as another instance after the TTL.
        let kc = KeyCheck::new(keys.clone(), store.clone(), Arc::default());
        assert_eq!(check(&kc, &mine[1].key, secret, None).await.0, 410);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_check_clauses_on_sqlite() {
        clauses(&testing::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs moto: ./scripts/test runs it"]
    async fn key_check_clauses_on_dynamodb_on_moto() {
        let Some(moto) = testing::moto("patchkit_conformance::key_check_clauses", 5).await else { return };
        clauses(&moto.backends).await;
    }
}
