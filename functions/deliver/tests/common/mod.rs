//! Shared by the deliver function's integration tests: a loopback receiver that records every
//! request, handlers whose queue records visibility changes or whose store fails every
//! `get_delivery`, and helpers to set a delivery up directly through the store.
//!
//! Network safety: the receiver listens on 127.0.0.1 only, and every webhook URL these helpers
//! build points at it. (One test binds a tripwire on 127.0.0.2 to prove nothing connects.)

// Test support: not every binary uses every helper, and unwrapping is the point.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use deliver::Handler;
use patchbay_adapters::backends::{Backends, EventBackends};
use patchbay_core::config::{DeliverConfig, SendConfig, StoreConfig};
use patchbay_core::ids::random_id;
use patchbay_core::model::{
    Attempt, Delivery, DeliveryRef, DeliveryStatus, EventName, EventState, StoredEvent, Webhook,
};
use patchbay_core::ports::{EventCreation, OutgoingMessage, Queue, ReceivedMessage, Store};
use patchbay_core::retry::RetrySchedule;
use patchbay_core::service::message::DeliveryMessage;
use patchbay_testing::samples::{now, sample_webhook};
use patchbay_testing::{FaultyQueue, FaultyStore};
use tokio::net::TcpListener;

/// The delivery timeout every test uses: `/hang` answers long after it. Generous, so a receiver
/// that answers at once never times out on a loaded machine; only the timeout test waits it out.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// How long `/hang` keeps the request waiting: well past [`TIMEOUT`], so only the timeout ends it.
pub const HANG: Duration = Duration::from_secs(10);

/// The body `/big` answers with: 4095 ASCII bytes, then two-byte characters, so the 4 KiB cut
/// falls in the middle of one.
#[must_use]
pub fn big_body() -> String {
    let mut body = "a".repeat(4095);
    body.push_str(&"é".repeat(1000));
    body
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Hit {
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query string's pairs, decoded.
    #[must_use]
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect()
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    flaky: Arc<AtomicUsize>,
}

/// An HTTP receiver on 127.0.0.1:<random port>. Paths:
/// `/ok` 200 · `/flaky` 500 twice, then 200 · `/busy` 503 with `Retry-After: 2` · `/hang`
/// answers after [`HANG`] · `/redirect` 302 to `/target` · `/target` 200 · `/fail` always 500 ·
/// `/big` 200 with [`big_body`]. Every request is recorded, whatever the path.
pub struct Receiver {
    pub addr: SocketAddr,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = ReceiverState::default();
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    /// `http://127.0.0.1:<port><path_and_query>`
    #[must_use]
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    #[must_use]
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    #[must_use]
    pub fn hits_on(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| h.path == path).count()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    state.hits.lock().unwrap().push(Hit {
        method,
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
    });
    match path.as_str() {
        "/ok" | "/target" => (StatusCode::OK, "ok").into_response(),
        "/flaky" => {
            if state.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                (StatusCode::INTERNAL_SERVER_ERROR, "not yet").into_response()
            } else {
                (StatusCode::OK, "finally").into_response()
            }
        }
        "/busy" => (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "2")], "busy").into_response(),
        "/hang" => {
            tokio::time::sleep(HANG).await;
            (StatusCode::OK, "too late").into_response()
        }
        "/redirect" => (StatusCode::FOUND, [(header::LOCATION, "/target")], "moved").into_response(),
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "/big" => (StatusCode::OK, big_body()).into_response(),
        _ => (StatusCode::NOT_FOUND, "no such path").into_response(),
    }
}

/// Deliver configuration for tests: retry `schedule`, [`TIMEOUT`], 127.0.0.1 allowed.
#[must_use]
pub fn config(schedule: &str) -> DeliverConfig {
    DeliverConfig {
        // Not read: tests hand `Handler::with_backends` their own backends.
        store: StoreConfig::Sqlite("unused".into()),
        retry: RetrySchedule::parse(schedule).unwrap(),
        send: SendConfig {
            timeout: TIMEOUT,
            allow_cidrs: vec!["127.0.0.1/32".parse().unwrap()],
            ..SendConfig::default()
        },
        auto_disable_after: Duration::from_secs(86_400),
    }
}

/// A webhook of `patchbay_testing::samples`' shape (POST, JSON payload, an `X-Token` header, a
/// query template) sending to `url`, saved in `store`.
pub async fn create_webhook(store: &dyn Store, url: &str, edit: impl FnOnce(&mut Webhook)) -> Webhook {
    let mut webhook = sample_webhook(&random_id("app"));
    webhook.spec.url = url.to_owned();
    edit(&mut webhook);
    store.create_webhook(&webhook).await.unwrap();
    webhook
}

/// The real JSON body of a `version_published` event (the test-send sample).
#[must_use]
pub fn event_body() -> String {
    serde_json::to_string(&patchbay_core::template::sample_event(EventName::VersionPublished)).unwrap()
}

/// A stored event with one pending delivery for `webhook`, written as ingest writes it.
pub async fn create_delivery(store: &dyn Store, webhook: &Webhook) -> Delivery {
    let event_id = random_id("msg");
    let at = now();
    let delivery = Delivery::new(&event_id, &webhook.id, &webhook.app_id, EventName::VersionPublished, at);
    let event = StoredEvent {
        id: event_id,
        app_id: webhook.app_id.clone(),
        name: EventName::VersionPublished,
        body: event_body(),
        deliveries: vec![DeliveryRef { id: delivery.id.clone(), webhook_id: webhook.id.clone() }],
        state: EventState::Complete,
        lease_until: at,
        received_at: at,
    };
    assert_eq!(
        store.create_event(&event, std::slice::from_ref(&delivery)).await.unwrap(),
        EventCreation::Created
    );
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    delivery
}

/// The queue message body for a delivery.
#[must_use]
pub fn message_body(delivery_id: &str) -> String {
    DeliveryMessage::for_id(delivery_id).body
}

pub async fn delivery(store: &dyn Store, id: &str) -> Delivery {
    store.get_delivery(id).await.unwrap().unwrap()
}

pub async fn attempts(store: &dyn Store, id: &str) -> Vec<Attempt> {
    store.list_attempts(id).await.unwrap()
}

/// Put one message per delivery id on `queue`, then receive them all (30 s visibility),
/// returned in the order of `ids`.
pub async fn send_and_receive(queue: &dyn Queue, ids: &[&str]) -> Vec<ReceivedMessage> {
    let messages: Vec<OutgoingMessage> = ids.iter().map(|id| DeliveryMessage::for_id(id)).collect();
    queue.send(&messages).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(queue.receive(10, Duration::from_secs(30), Duration::from_secs(1)).await.unwrap());
        if got.len() >= ids.len() {
            break;
        }
    }
    assert_eq!(got.len(), ids.len(), "not every message came back from the queue");
    ids.iter().map(|id| got.iter().find(|m| m.body == message_body(id)).cloned().unwrap()).collect()
}

/// The Lambda event for these messages, in the JSON shape SQS hands Lambda.
#[must_use]
pub fn sqs_event(records: &[(String, String, String)]) -> SqsEvent {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(message_id, receipt_handle, body)| {
            serde_json::json!({
                "messageId": message_id,
                "receiptHandle": receipt_handle,
                "body": body,
                "attributes": { "ApproximateReceiveCount": "1" },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:deliveries",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

#[must_use]
pub fn sqs_event_from(messages: &[ReceivedMessage]) -> SqsEvent {
    let records: Vec<(String, String, String)> =
        messages.iter().map(|m| (m.message_id.clone(), m.receipt_handle.clone(), m.body.clone())).collect();
    sqs_event(&records)
}

/// The message ids a batch response reports as failed.
#[must_use]
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

/// The real handler for `backends` and `config`, with its queue wrapped to record what the
/// handler settles.
#[must_use]
pub fn recording_handler(backends: &Backends, config: &DeliverConfig) -> (Handler, Arc<FaultyQueue>) {
    recording_handler_over(&backends.events(), config)
}

fn recording_handler_over(backends: &EventBackends, config: &DeliverConfig) -> (Handler, Arc<FaultyQueue>) {
    let handler = Handler::with_backends(backends, config).unwrap();
    let recording = FaultyQueue::new(handler.queue.clone());
    (Handler { deliver: handler.deliver, queue: recording.clone() }, recording)
}

/// A handler whose store fails every `get_delivery` as a store outage would (everything else
/// works).
#[must_use]
pub fn store_failing_handler(backends: &Backends, config: &DeliverConfig) -> (Handler, Arc<FaultyQueue>) {
    let store = FaultyStore::new(backends.store.clone());
    store.faults().fail_calls_to("load_attempt_context");
    store.faults().fail_calls_to("get_delivery");
    let failing = EventBackends { store, queue: backends.queue.clone() };
    recording_handler_over(&failing, config)
}

/// Whether `d` is `nominal` ±20 % (the schedule's jitter).
#[must_use]
pub fn within_jitter(d: Duration, nominal: Duration) -> bool {
    d >= nominal.mul_f64(0.8) && d <= nominal.mul_f64(1.2)
}
