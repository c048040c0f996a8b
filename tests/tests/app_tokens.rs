//! Per-app tokens on the management and key-admin routes, in-process over the real routers
//! (wired as the functions wire them), on SQLite and on DynamoDB + SQS on moto.
//!
//! An app token reaches its own app's records on every route it may use, gets 404 (the body of
//! a truly missing id) for another app's, 403 on the admin-only routes, and 401 once revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use patchbay_adapters::backends::Backends;
use patchbay_core::config::SendConfig;
use patchbay_core::ids::random_id;
use patchbay_core::model::DeliveryStatus;
use patchbay_core::secret::Secret;
use patchbay_core::service::tokens::{CreateToken, Tokens};
use patchbay_e2e::LocalFunctions;
use patchbay_testing::samples::{now, sample_delivery};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Fixture {
    ingest: Router,
    keys: Router,
    backends: Backends,
    admin: String,
}

/// One app's records, made by the admin.
struct Records {
    app: String,
    webhook: String,
    /// A second webhook, for the delete.
    spare_webhook: String,
    delivery: String,
    key: String,
}

impl Fixture {
    async fn new(backends: Backends) -> Fixture {
        let admin = Secret::random_alphanumeric(32);
        let f = LocalFunctions::new(&backends, &generate(), &admin, &SendConfig::default(), "1s").await;
        Fixture { ingest: f.ingest, keys: f.keys, backends, admin: admin.expose().to_owned() }
    }

    async fn call(&self, bearer: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let router = if path.starts_with("/v1/keys") || path.contains("/keys") || path.contains("collections")
        {
            self.keys.clone()
        } else {
            self.ingest.clone()
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.call(&self.admin, method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn records(&self) -> Records {
        let app = random_id("studio").replace('_', "-");
        self.admin("POST", "/v1/apps", Some(json!({"id": app, "name": "game", "display_name": "Game"})))
            .await;
        let hook = || {
            json!({"events": ["version_published"], "method": "POST", "url": "http://127.0.0.1:9/hook",
                   "payload": {"text": "{{app.display_name}}"}})
        };
        let path = format!("/v1/apps/{app}/webhooks");
        let webhook = self.admin("POST", &path, Some(hook())).await["id"].as_str().unwrap().to_owned();
        let spare_webhook = self.admin("POST", &path, Some(hook())).await["id"].as_str().unwrap().to_owned();
        let mut delivery = sample_delivery(&random_id("evt"), &webhook, &app, now());
        delivery.status = DeliveryStatus::Failed;
        self.backends.store.ensure_deliveries(std::slice::from_ref(&delivery)).await.unwrap();
        let keys = self.admin("POST", &format!("/v1/apps/{app}/keys"), Some(json!({"count": 1}))).await;
        let key = keys["keys"][0].as_str().unwrap().to_owned();
        Records { app, webhook, spare_webhook, delivery: delivery.id, key }
    }

    async fn token(&self, app: &str) -> (String, String) {
        let (status, text) = self
            .call(&self.admin, "POST", &format!("/v1/apps/{app}/tokens"), Some(json!({"name": "ci"})))
            .await;
        assert_eq!(status, 201, "{text}");
        let created: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(created["name"], "ci");
        let id = created["id"].as_str().unwrap().to_owned();
        let value = created["token"].as_str().unwrap().to_owned();
        assert!(id.starts_with("tok_") && value.starts_with("pbt_"), "{created}");
        (id, value)
    }
}

fn generate() -> Secret {
    patchbay_core::signing::generate_secret()
}

/// Every route an app token may use, with the status it answers on its own app's records.
fn scoped_routes(r: &Records) -> Vec<(&'static str, String, Option<Value>, u16)> {
    let (app, wh, dlv, key) = (&r.app, &r.webhook, &r.delivery, &r.key);
    let hook = json!({"events": ["version_published"], "method": "POST", "url": "http://127.0.0.1:9/new",
                      "payload": {"text": "hi"}});
    vec![
        ("GET", format!("/v1/apps/{app}"), None, 200),
        ("GET", format!("/v1/apps/{app}/webhooks"), None, 200),
        ("POST", format!("/v1/apps/{app}/webhooks/preview"), Some(hook.clone()), 200),
        ("POST", format!("/v1/apps/{app}/webhooks"), Some(hook), 201),
        ("GET", format!("/v1/webhooks/{wh}"), None, 200),
        ("PATCH", format!("/v1/webhooks/{wh}"), Some(json!({"url": "http://127.0.0.1:9/changed"})), 200),
        ("POST", format!("/v1/webhooks/{wh}/disable"), None, 200),
        ("POST", format!("/v1/webhooks/{wh}/enable"), None, 200),
        ("POST", format!("/v1/webhooks/{wh}/rotate-secret"), None, 200),
        ("POST", format!("/v1/webhooks/{wh}/test"), Some(json!({})), 200),
        ("GET", format!("/v1/webhooks/{wh}/deliveries"), None, 200),
        ("GET", format!("/v1/deliveries/{dlv}"), None, 200),
        ("POST", format!("/v1/deliveries/{dlv}/redeliver"), None, 202),
        ("POST", format!("/v1/webhooks/{wh}/replay"), None, 202),
        ("GET", format!("/v1/keys/{key}"), None, 200),
        ("POST", format!("/v1/keys/{key}/block"), None, 200),
        ("POST", format!("/v1/keys/{key}/unblock"), None, 200),
        ("DELETE", format!("/v1/webhooks/{}", r.spare_webhook), None, 204),
    ]
}

/// The same routes for ids that exist nowhere.
fn missing() -> Records {
    Records {
        app: "studio-missing".into(),
        webhook: "wh_missing".into(),
        spare_webhook: "wh_missing2".into(),
        delivery: "dlv_missing".into(),
        key: "MISSING-KEY".into(),
    }
}

fn unify(text: &str, r: &Records) -> String {
    text.replace(&r.app, "APP")
        .replace(&r.spare_webhook, "WH")
        .replace(&r.webhook, "WH")
        .replace(&r.delivery, "DLV")
        .replace(&r.key, "KEY")
}

async fn another_apps_ids_are_404_own_work_admin_only_403(backends: Backends) {
    let f = Fixture::new(backends).await;
    let (mine, theirs) = (f.records().await, f.records().await);
    let (token_id, token) = f.token(&mine.app).await;

    // Another app's records: exactly what a missing id answers, and nothing changes.
    let nowhere = missing();
    for ((method, path, body, _), (_, missing_path, missing_body, _)) in
        scoped_routes(&theirs).into_iter().zip(scoped_routes(&nowhere))
    {
        let (status, text) = f.call(&token, method, &path, body).await;
        let (missing_status, missing_text) = f.call(&token, method, &missing_path, missing_body).await;
        assert_eq!((status, missing_status), (404, 404), "{method} {path}: {text} / {missing_text}");
        assert_eq!(unify(&text, &theirs), unify(&missing_text, &nowhere), "{method} {path}");
    }
    let (_, text) = f.call(&f.admin, "GET", &format!("/v1/webhooks/{}", theirs.spare_webhook), None).await;
    assert!(text.contains(&theirs.spare_webhook), "another app's webhook was deleted: {text}");
    let key = f.admin("GET", &format!("/v1/keys/{}", theirs.key), None).await;
    assert_eq!(key["blocked"], false, "{key}");

    // Its own: every route works.
    for (method, path, body, expected) in scoped_routes(&mine) {
        let (status, text) = f.call(&token, method, &path, body).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
    }

    // Admin-only, even on its own app: 403 in the project's error shape.
    let admin_only = [
        ("POST", "/v1/apps".to_owned(), Some(json!({"id": "x-app", "name": "x", "display_name": "X"}))),
        ("POST", format!("/v1/apps/{}/rotate-secret", mine.app), None),
        ("POST", format!("/v1/apps/{}/tokens", mine.app), Some(json!({"name": "more"}))),
        ("GET", format!("/v1/apps/{}/tokens", mine.app), None),
        ("DELETE", format!("/v1/tokens/{token_id}"), None),
        ("POST", format!("/v1/apps/{}/keys", mine.app), Some(json!({"count": 1}))),
        ("POST", format!("/v1/apps/{}/keys/import", mine.app), Some(json!({"keys": ["abc"]}))),
        ("POST", format!("/v1/apps/{}/collections", mine.app), Some(json!({"name": "more"}))),
        ("GET", format!("/v1/apps/{}/collections", mine.app), None),
        ("GET", "/v1/collections/1/keys".to_owned(), None),
        ("POST", "/v1/collections/1/block".to_owned(), None),
        ("POST", "/v1/collections/1/unblock".to_owned(), None),
        // A malformed body does not turn the 403 into a 422.
        ("POST", format!("/v1/apps/{}/collections", mine.app), Some(json!({"nope": 1}))),
        ("POST", format!("/v1/apps/{}/tokens", mine.app), Some(json!({"nope": 1}))),
    ];
    for (method, path, body) in admin_only {
        let (status, text) = f.call(&token, method, &path, body).await;
        assert_eq!(status, 403, "{method} {path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "forbidden", "{text}");
    }

    // The listing shows ids, names and times, never the token or its hash.
    let listed = f.admin("GET", &format!("/v1/apps/{}/tokens", mine.app), None).await;
    let listed_text = listed.to_string();
    assert!(!listed_text.contains(&token), "{listed_text}");
    assert!(!listed_text.contains(&patchbay_core::ids::secret_lookup_hash(&token)), "{listed_text}");
    let entry = &listed["tokens"][0];
    assert_eq!(entry["id"], token_id.as_str());
    assert_eq!(entry["name"], "ci");
    assert!(entry["created_at"].is_string() && entry["last_used_at"].is_string(), "{listed}");
    assert!(entry.get("token").is_none() && entry.get("hash").is_none(), "{entry}");
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);

    // Revoked: the very next request is a 401, on both functions' routes.
    let revoked = f.admin("DELETE", &format!("/v1/tokens/{token_id}"), None).await;
    assert_eq!(revoked["id"], token_id.as_str());
    for path in [format!("/v1/apps/{}", mine.app), format!("/v1/keys/{}", mine.key)] {
        let (status, text) = f.call(&token, "GET", &path, None).await;
        assert_eq!(status, 401, "{path}: {text}");
    }
    let (status, _) = f.call(&f.admin, "DELETE", &format!("/v1/tokens/{token_id}"), None).await;
    assert_eq!(status, 404);
    // Unknown tokens are 401 too, and the admin token still works.
    let (status, _) = f.call("pbt_unknown0000000000", "GET", &format!("/v1/apps/{}", mine.app), None).await;
    assert_eq!(status, 401);
    f.admin("GET", &format!("/v1/apps/{}", mine.app), None).await;
}

async fn token_values_stay_out_of_debug_output(backends: Backends) {
    let f = Fixture::new(backends.clone()).await;
    let records = f.records().await;
    let tokens = Tokens::new(backends.store.clone());
    let created = tokens.create(&records.app, CreateToken { name: "dbg".into() }).await.unwrap();
    let value = created.token.expose().to_owned();
    assert!(!format!("{created:?}").contains(&value), "{created:?}");
    let found = tokens.authenticate(&value).await.unwrap().unwrap();
    assert!(!format!("{found:?}").contains(&value));
    let listed = tokens.list(&records.app).await.unwrap();
    assert!(!format!("{listed:?}").contains(&value));
    // Tokens are made for apps that exist.
    let (status, _) =
        f.call(&f.admin, "POST", "/v1/apps/studio-nope/tokens", Some(json!({"name": "x"}))).await;
    assert_eq!(status, 404);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn another_apps_ids_are_404_own_work_admin_only_403() {
        super::another_apps_ids_are_404_own_work_admin_only_403(patchbay_testing::backends::sqlite().await)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn token_values_stay_out_of_debug_output() {
        super::token_values_stay_out_of_debug_output(patchbay_testing::backends::sqlite().await).await;
    }
}

mod moto {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs moto: ./scripts/test runs it"]
    async fn another_apps_ids_are_404_own_work_admin_only_403() {
        let Some(moto) = patchbay_testing::backends::moto("app_tokens", 5).await else { return };
        super::another_apps_ids_are_404_own_work_admin_only_403(moto.backends).await;
    }
}

/// `last_used_at` is written on first use, then not again within a minute; a store that cannot
/// record the use does not refuse the request; a store that cannot be read is a 503, not a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_use_is_recorded_at_most_once_a_minute() {
    use patchbay_testing::FaultyStore;

    let backends = patchbay_testing::backends::sqlite().await;
    let store = FaultyStore::new(backends.store.clone());
    let app = patchbay_testing::samples::sample_app();
    backends.store.create_app(&app).await.unwrap();
    let tokens = Tokens::new(store.clone());
    let created = tokens.create(&app.id, CreateToken { name: "ci".into() }).await.unwrap();
    let value = created.token.expose().to_owned();
    for _ in 0..5 {
        assert!(tokens.authenticate(&value).await.unwrap().is_some());
    }
    assert_eq!(store.faults().count("touch_token"), 1, "last_used_at written more than once");
    assert_eq!(store.faults().count("token_by_hash"), 5, "a lookup was cached");
    assert!(tokens.list(&app.id).await.unwrap()[0].last_used_at.is_some());

    // Recording the use fails: the request still passes.
    let fresh = tokens.create(&app.id, CreateToken { name: "new".into() }).await.unwrap();
    store.faults().fail_calls_to("touch_token");
    assert!(tokens.authenticate(fresh.token.expose()).await.unwrap().is_some());
    store.faults().heal();

    // Not an app token at all: no store call.
    let lookups = store.faults().count("token_by_hash");
    assert!(tokens.authenticate("not-a-token").await.unwrap().is_none());
    assert_eq!(store.faults().count("token_by_hash"), lookups);

    store.faults().fail_calls_to("token_by_hash");
    assert!(tokens.authenticate(&value).await.is_err());
    let f = Fixture::new(Backends { store: store.clone(), ..backends.clone() }).await;
    let (status, text) = f.call(&value, "GET", &format!("/v1/apps/{}", app.id), None).await;
    assert_eq!(status, 503, "{text}");
    store.faults().heal();
    let (status, _) = f.call(&value, "GET", &format!("/v1/apps/{}", app.id), None).await;
    assert_eq!(status, 200);
}
