//! Shared by the ingest function's integration tests: the real router over real adapters, signed
//! requests, and the queue read back.
//!
//! Every scenario is an `async fn(Backends)` written once; [`on_both_backends!`] runs it over a
//! fresh SQLite database and over fresh DynamoDB tables and an SQS queue on moto (ignored by a
//! plain `cargo test`; `./scripts/test` starts moto and includes them).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use patchbay_adapters::backends::Backends;
use patchbay_core::config::{IngestConfig, SendConfig, StoreConfig};
use patchbay_core::ids::delivery_id;
use patchbay_core::model::{App, EventName, Webhook};
use patchbay_core::ports::{Queue, Store};
use patchbay_core::secret::Secret;
use patchbay_core::signing::{generate_secret, signature_header};
use patchbay_testing::samples::{sample_app, sample_webhook};
use serde_json::Value;
use tower::ServiceExt;

/// Expands to `sqlite::<scenario>` and `moto::<scenario>` tests for each scenario function
/// (`async fn scenario(backends: Backends)`) of the calling file.
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
                async fn $scenario() {
                    super::$scenario(::patchbay_testing::backends::sqlite().await).await;
                }
            )+
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
                #[ignore = "needs moto: ./scripts/test runs it"]
                async fn $scenario() {
                    let test = concat!(module_path!(), "::", stringify!($scenario));
                    let Some(moto) = ::patchbay_testing::backends::moto(test, 5).await else {
                        return;
                    };
                    super::$scenario(moto.backends).await;
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The ingest router over some backends, with the secrets it was built with.
pub struct Harness {
    pub router: Router,
    pub store: Arc<dyn Store>,
    /// The real queue (not any wrapper the router was built over), for reading messages back.
    pub queue: Arc<dyn Queue>,
    pub secret: Secret,
}

impl Harness {
    pub async fn new(backends: &Backends) -> Harness {
        Harness::build(backends, backends.queue.clone()).await
    }

    /// The router over the same store, but sending through `queue` (e.g. a failure injector);
    /// [`Harness::queue`] stays the real one.
    pub async fn with_queue(backends: &Backends, queue: Arc<dyn Queue>) -> Harness {
        let real = backends.queue.clone();
        let wrapped = Backends { store: backends.store.clone(), keys: backends.keys.clone(), queue };
        let mut harness = Harness::build(&wrapped, real.clone()).await;
        harness.queue = real;
        harness
    }

    async fn build(backends: &Backends, queue: Arc<dyn Queue>) -> Harness {
        let secret = generate_secret();
        let config = IngestConfig {
            // Not read by `router_with`: the adapters are given.
            store: StoreConfig::Sqlite("unused.db".into()),
            ingest_secret: secret.clone().into(),
            admin_token: Secret::new(ADMIN_TOKEN).into(),
            send: SendConfig::default(),
        };
        let router = ingest::router_with(&backends.events(), &config).await.unwrap();
        Harness { router, store: backends.store.clone(), queue, secret }
    }

    /// `POST /v1/events` signed with the ingest secret at `timestamp`.
    pub fn signed_at(&self, id: &str, timestamp: i64, body: impl Into<Vec<u8>>) -> Request<Body> {
        signed_request(&self.secret, id, timestamp, body.into())
    }

    /// `POST /v1/events` signed with the ingest secret, now.
    pub fn signed(&self, id: &str, body: impl Into<Vec<u8>>) -> Request<Body> {
        self.signed_at(id, now_secs(), body)
    }

    pub async fn post_event(&self, id: &str, body: &str) -> Reply {
        self.call(self.signed(id, body)).await
    }

    pub async fn call(&self, request: Request<Body>) -> Reply {
        call(self.router.clone(), request).await
    }

    /// A management API call with the admin token.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
        let request = match body {
            Some(json) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        self.call(request).await
    }

    pub async fn app(&self) -> App {
        let app = sample_app();
        self.store.create_app(&app).await.unwrap();
        app
    }

    pub async fn webhook(&self, app_id: &str, events: &[EventName], enabled: bool) -> Webhook {
        let mut webhook = sample_webhook(app_id);
        webhook.spec.events = events.to_vec();
        webhook.enabled = enabled;
        self.store.create_webhook(&webhook).await.unwrap();
        webhook
    }

    /// Every delivery id on the queue right now (each message is deleted once read, so the
    /// next drain sees only what was sent after this one).
    pub async fn drain(&self) -> Vec<String> {
        drain(self.queue.as_ref()).await
    }
}

pub fn signed_request(secret: &Secret, id: &str, timestamp: i64, body: Vec<u8>) -> Request<Body> {
    let signature = signature_header(&[secret], id, timestamp, &body).unwrap();
    Request::post("/v1/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

/// One request through a clone of the router, the answer read in full.
pub async fn call<B>(router: Router, request: Request<B>) -> Reply
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, text: String::from_utf8(bytes.to_vec()).unwrap() }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a 202/200 ingest answer of exactly `{"event_id", "deliveries":[{"id","webhook_id"}]}`
    /// and returns its deliveries as (delivery id, webhook id), sorted.
    pub fn ingest(&self, status: u16, event_id: &str) -> Vec<(String, String)> {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type(), "application/json");
        let json = self.json();
        let object = json.as_object().unwrap();
        assert_eq!(keys(&json), ["deliveries", "event_id"], "{json}");
        assert_eq!(object["event_id"], event_id);
        let mut deliveries: Vec<(String, String)> = object["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                assert_eq!(keys(d), ["id", "webhook_id"], "{d}");
                (d["id"].as_str().unwrap().to_owned(), d["webhook_id"].as_str().unwrap().to_owned())
            })
            .collect();
        deliveries.sort();
        deliveries
    }

    /// Asserts the one error shape, `{"error":{"code","message"}}`, with this status and code;
    /// returns the message.
    pub fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.content_type(), "application/json", "{}", self.text);
        let json = self.json();
        assert_eq!(keys(&json), ["error"], "{json}");
        assert_eq!(keys(&json["error"]), ["code", "message"], "{json}");
        assert_eq!(json["error"]["code"], code, "{json}");
        json["error"]["message"].as_str().unwrap().to_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).map_or("", |v| v.to_str().unwrap())
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// What the answer for `event_id` fanned out to `webhooks` must list, sorted.
pub fn expected_deliveries(event_id: &str, webhooks: &[&Webhook]) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> =
        webhooks.iter().map(|w| (delivery_id(event_id, &w.id), w.id.clone())).collect();
    refs.sort();
    refs
}

pub fn delivery_ids(refs: &[(String, String)]) -> BTreeSet<String> {
    refs.iter().map(|(id, _)| id.clone()).collect()
}

/// Read every visible message, check each is exactly
/// `{"delivery_id":"dlv_…","event_id":…,"webhook_id":…}` (references only, the delivery id
/// derived from the other two), delete it, and return the delivery ids in the order read.
pub async fn drain(queue: &dyn Queue) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::from_secs(30), Duration::from_secs(1)).await.unwrap();
        if batch.is_empty() {
            return ids;
        }
        for message in batch {
            let body: Value = serde_json::from_str(&message.body).unwrap();
            assert_eq!(keys(&body), ["delivery_id", "event_id", "webhook_id"], "{body}");
            let id = body["delivery_id"].as_str().unwrap().to_owned();
            let (event_id, webhook_id) =
                (body["event_id"].as_str().unwrap(), body["webhook_id"].as_str().unwrap());
            assert_eq!(id, patchbay_core::ids::delivery_id(event_id, webhook_id), "{body}");
            assert!(id.starts_with("dlv_"), "{id}");
            ids.push(id);
            queue.delete(&message.receipt_handle).await.unwrap();
        }
    }
}

pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

pub fn now_secs() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

pub fn now_millis() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// An event body as the pipeline sends it.
pub fn event_body(event: &str, app_id: &str) -> String {
    serde_json::json!({
        "event": event,
        "app": {
            "id": app_id,
            "name": "space-race",
            "display_name": "Space Race",
            "group_name": null,
            "download_url": "https://example.com/d",
            "direct_download_url": "https://example.com/dd"
        },
        "version": {
            "id": 42,
            "label": "1.0.3",
            "published_at": "2026-11-20T10:00:00Z",
            "content_size": 1_234_567,
            "diff_size": 2345,
            "changes": "Fixed \"jump\" bug\nNew map",
            "known_issues": "",
            "processing_errors": [],
            "processing_started_at": null,
            "processing_finished_at": null
        }
    })
    .to_string()
}
