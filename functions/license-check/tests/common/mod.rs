//! Shared by the license-check integration tests: the real router over a SQLite backend or over
//! DynamoDB on moto, and small helpers to call it the way a launcher or an admin would.
//!
//! A scenario is an `async fn(&Harness)`; [`over_both_backends!`] turns each into a test per
//! backend. The moto variant is ignored by a plain `cargo test` (`./scripts/test` includes it);
//! included without moto running, it returns early, or fails when `PATCHBAY_REQUIRE_MOTO=1`.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use patchbay_adapters::backends::Backends;
use patchbay_core::config::{KeysTable, LicenseCheckConfig, StoreConfig};
use patchbay_core::model::App;
use patchbay_core::ports::{KeyStore, Store};
use patchbay_core::secret::Secret;
use patchbay_testing::backends as testing;
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
/// The deployment's verdict key (base64 of a 32-byte Ed25519 seed).
pub const VERDICT_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// On every key-check answer: the .NET clients decode by the charset.
pub const PATCHKIT_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The methods the key check answers, as its `Allow` header lists them.
pub const CHECK_METHODS: &str = "GET, HEAD, OPTIONS";

/// `ids::ALPHABET`: no 0/O/1/I/L/U. As a regex class: `[2-9A-HJKMNP-TV-Z]`.
pub const KEY_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

pub struct Harness {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub keys: Arc<dyn KeyStore>,
    pub backend: &'static str,
}

async fn harness(backends: &Backends, store: StoreConfig<KeysTable>, backend: &'static str) -> Harness {
    let config = LicenseCheckConfig {
        store,
        admin_token: Secret::new(ADMIN_TOKEN).into(),
        verdict_key: Some(Secret::new(VERDICT_KEY).into()),
        key_registrations_per_hour: None,
    };
    Harness {
        router: license_check::router_with(&backends.key_backends(), &config).await.expect("router"),
        store: backends.store.clone(),
        keys: backends.keys.clone(),
        backend,
    }
}

/// The router over a fresh SQLite database.
pub async fn sqlite() -> Harness {
    let backends = testing::sqlite().await;
    // `router_with` takes its stores from `backends`; the config's store is not reopened.
    harness(&backends, StoreConfig::Sqlite("(testing::sqlite)".into()), "sqlite").await
}

/// The router over fresh DynamoDB tables on moto; `None` when moto is not running.
pub async fn moto(test: &str) -> Option<Harness> {
    let moto = testing::moto(test, 5).await?;
    let store = StoreConfig::Aws { table: moto.table.clone(), resource: KeysTable(moto.keys_table.clone()) };
    Some(harness(&moto.backends, store, "dynamodb").await)
}

/// One test per backend for each named scenario `async fn NAME(h: &Harness)`.
#[macro_export]
macro_rules! over_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&$crate::common::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs moto: ./scripts/test runs it"]
            async fn dynamodb_on_moto() {
                let Some(h) = $crate::common::moto(concat!(module_path!(), "::", stringify!($name))).await else {
                    return;
                };
                super::$name(&h).await;
            }
        }
    )*};
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Status and exact body, with the PatchKit-style headers every key-check answer carries.
    #[track_caller]
    pub fn assert_patchkit(&self, status: u16, body: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body {}", self.body);
        assert_eq!(self.body, body);
        self.assert_patchkit_headers();
    }

    #[track_caller]
    pub fn assert_patchkit_headers(&self) {
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"), "cache-control ({})", self.status);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some(PATCHKIT_CONTENT_TYPE),
            "content-type ({})",
            self.status
        );
    }

    /// The project's admin error shape `{"error":{"code","message"}}`.
    #[track_caller]
    pub fn assert_api_error(&self, status: u16, code: &str, message: &str) {
        assert_eq!(self.status.as_u16(), status, "status; body {}", self.body);
        assert_eq!(self.json(), serde_json::json!({"error": {"code": code, "message": message}}));
    }
}

/// Percent-encode every byte (valid in any path segment or query component).
pub fn pct(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

pub fn not_known() -> &'static str {
    r#"{"message":"Key not known"}"#
}
pub fn blocked() -> &'static str {
    r#"{"message":"Key has been blocked"}"#
}
pub fn forbidden() -> &'static str {
    r#"{"message":"Forbidden"}"#
}
pub fn missing_app_secret() -> &'static str {
    r#"{"message":"app_secret is required"}"#
}

/// PatchKit's 200 body, byte for byte (field order included).
pub fn valid_body(
    key: &str,
    app_secret: &str,
    key_secret: &str,
    collection_id: i64,
    registrations: u64,
) -> String {
    let key = serde_json::to_string(key).unwrap();
    let app_secret = serde_json::to_string(app_secret).unwrap();
    let key_secret = serde_json::to_string(key_secret).unwrap();
    format!(
        "{{\"key\":{key},\"app_secret\":{app_secret},\"key_secret\":{key_secret},\
         \"collection_id\":{collection_id},\"registrations\":{registrations},\"blocked\":false}}"
    )
}

/// `/v2/keys/{key}?app_secret=…&key_secret=…` (key and secrets percent-encoded where needed).
pub fn check_uri(key: &str, app_secret: Option<&str>, key_secret: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(s) = app_secret {
        query.push(format!("app_secret={}", pct_if_needed(s.as_bytes())));
    }
    if let Some(s) = key_secret {
        query.push(format!("key_secret={}", pct_if_needed(s.as_bytes())));
    }
    let mut uri = format!("/v2/keys/{}", pct_if_needed(key.as_bytes()));
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    uri
}

/// Unreserved characters as they are, everything else percent-encoded.
pub fn pct_if_needed(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn key_shape_ok(key: &str) -> bool {
    let groups: Vec<&str> = key.split('-').collect();
    groups.len() == 4 && groups.iter().all(|g| g.len() == 5 && g.chars().all(|c| KEY_ALPHABET.contains(c)))
}

/// One request through a router (a clone: routers are cheap `Arc`s).
pub async fn send_to(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

pub fn get_request(uri: &str) -> Request<Body> {
    Request::builder().method(Method::GET).uri(uri).body(Body::empty()).unwrap()
}

impl Harness {
    pub async fn send(&self, request: Request<Body>) -> Answer {
        send_to(self.router.clone(), request).await
    }

    pub async fn request(&self, method: Method, uri: &str) -> Answer {
        self.send(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.request(Method::GET, uri).await
    }

    pub async fn check(&self, key: &str, app_secret: Option<&str>, key_secret: Option<&str>) -> Answer {
        self.get(&check_uri(key, app_secret, key_secret)).await
    }

    /// The same check as `HEAD`.
    pub async fn head(&self, key: &str, app_secret: Option<&str>, key_secret: Option<&str>) -> Answer {
        self.request(Method::HEAD, &check_uri(key, app_secret, key_secret)).await
    }

    /// An admin call with the bearer token (`token: None` sends none).
    pub async fn admin_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn admin(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        self.admin_as(Some(ADMIN_TOKEN), method, uri, body).await
    }

    /// A new app, written straight to the store (app creation lives in the ingest function).
    pub async fn new_app(&self) -> App {
        let app = patchbay_testing::samples::sample_app();
        self.store.create_app(&app).await.unwrap();
        app
    }

    /// `count` keys generated through the admin route.
    pub async fn generate(&self, app_id: &str, count: usize, collection_id: Option<i64>) -> Vec<String> {
        let mut body = serde_json::json!({ "count": count });
        if let Some(c) = collection_id {
            body["collection_id"] = c.into();
        }
        let answer = self.admin(Method::POST, &format!("/v1/apps/{app_id}/keys"), Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        serde_json::from_value(answer.json()["keys"].clone()).unwrap()
    }

    /// `GET /v1/keys/{key}`, which must succeed.
    pub async fn key_view(&self, key: &str) -> Value {
        let answer =
            self.admin(Method::GET, &format!("/v1/keys/{}", pct_if_needed(key.as_bytes())), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }

    pub async fn registrations(&self, key: &str) -> u64 {
        self.key_view(key).await["registrations"].as_u64().unwrap()
    }

    pub async fn key_secret(&self, key: &str) -> String {
        self.key_view(key).await["key_secret"].as_str().unwrap().to_owned()
    }

    /// A new collection of `app_id`, through the admin route: its id.
    pub async fn new_collection(&self, app_id: &str, name: &str) -> i64 {
        let answer = self
            .admin(
                Method::POST,
                &format!("/v1/apps/{app_id}/collections"),
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.json()["id"].as_i64().unwrap()
    }

    /// The collection a key is filed under (`GET /v1/keys/{key}`).
    pub async fn collection_of(&self, key: &str) -> i64 {
        self.key_view(key).await["collection_id"].as_i64().unwrap()
    }

    /// An app with one generated key in a collection `col_1`: (app, key, key_secret).
    pub async fn app_with_key(&self) -> (App, String, String) {
        let app = self.new_app().await;
        let collection = self.new_collection(&app.id, "col_1").await;
        let key = self.generate(&app.id, 1, Some(collection)).await.remove(0);
        let secret = self.key_secret(&key).await;
        (app, key, secret)
    }
}
