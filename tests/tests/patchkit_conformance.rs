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
