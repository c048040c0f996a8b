//! Store faults, one at a time, at every store call of an ingest and of a delivery: the failure
//! is visible (5xx or 409, or a processing error that leaves the message on the queue), and a
//! healthy retry finishes the job with nothing lost and nothing dangling.
//!
//! The faults come from `patchbay_testing::FaultyStore`, which delegates every port to the real
//! SQLite store and fails exactly the N-th call after being armed. N sweeps over every call a clean run makes,
//! counted first in pass-through mode.
//!
//! Network: webhooks point at receivers on 127.0.0.1 only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use chrono::{TimeDelta, Utc};
use http::Request;
use http_body_util::BodyExt;
use patchbay_adapters::backends::Backends;
use patchbay_adapters::wiring;
use patchbay_core::config::{DeliverConfig, IngestConfig, SendConfig, StoreConfig};
use patchbay_core::http::ingest_router;
use patchbay_core::ids::random_id;
use patchbay_core::model::{Delivery, DeliveryRef, DeliveryStatus, EventName, EventState, StoredEvent};
use patchbay_core::ports::{EventCreation, Queue, Store};
use patchbay_core::retry::RetrySchedule;
use patchbay_core::secret::Secret;
use patchbay_core::service::deliver::{Deliver, MessageOutcome};
use patchbay_core::service::message::DeliveryMessage;
use patchbay_core::signing::{generate_secret, signature_header};
use patchbay_e2e::Receiver;
use patchbay_testing::{FaultyQueue, FaultyStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "hardening-faults-admin-token";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn send_config() -> SendConfig {
    SendConfig {
        timeout: Duration::from_secs(2),
        allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..SendConfig::default()
    }
}

struct Harness {
    router: Router,
    faulty: Arc<FaultyStore>,
    /// The real store, bypassing the faults.
    store: Arc<dyn Store>,
    /// The real queue.
    queue: Arc<dyn Queue>,
    faulty_queue: Arc<FaultyQueue>,
    ingest_secret: Secret,
    deliver: Arc<Deliver>,
}

impl Harness {
    async fn new(retry: &str) -> Harness {
        let real = patchbay_testing::backends::sqlite().await;
        let faulty = FaultyStore::new(real.store.clone());
        let queue = real.queue.clone();
        let faulty_queue = FaultyQueue::new(queue.clone());
        let backends =
            Backends { store: faulty.clone(), keys: real.keys.clone(), queue: faulty_queue.clone() };
        let send = send_config();
        let ingest_secret = generate_secret();
        let store = StoreConfig::Sqlite("(testing::sqlite)".to_owned());
        let deliver_config = DeliverConfig {
            store: store.clone(),
            retry: RetrySchedule::parse(retry).unwrap(),
            send: send.clone(),
            auto_disable_after: Duration::from_secs(86_400),
        };
        let deliver = Arc::new(wiring::deliver(&deliver_config, &backends.events()).unwrap());
        let ingest_config = IngestConfig {
            store,
            ingest_secret: ingest_secret.clone().into(),
            admin_token: Secret::new(ADMIN_TOKEN).into(),
            send,
        };
        let api = wiring::ingest_api(&ingest_config, &backends.events()).await.unwrap();
        Harness {
            router: ingest_router(Arc::new(api)),
            faulty,
            store: real.store.clone(),
            queue,
            faulty_queue,
            ingest_secret,
            deliver,
        }
    }

    async fn call(&self, request: Request<Body>) -> (u16, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.call(request).await
    }

    /// An app with `hooks` webhooks on `version_published`, all sending to `url`.
    async fn app_with_webhooks(&self, hooks: usize, url: &str) -> (String, Vec<String>) {
        let app_id = random_id("app");
        let (status, app) = self
            .admin("POST", "/v1/apps", json!({"id": app_id, "name": "faults", "display_name": "Faults"}))
            .await;
        assert_eq!(status, 201, "{app}");
        let mut ids = Vec::new();
        for _ in 0..hooks {
            let (status, webhook) = self
                .admin(
                    "POST",
                    &format!("/v1/apps/{app_id}/webhooks"),
                    json!({"events": ["version_published"], "method": "POST", "url": url,
                           "payload": {"text": "{{app.display_name}} {{version.label}}"}}),
                )
                .await;
            assert_eq!(status, 201, "{webhook}");
            ids.push(webhook["id"].as_str().unwrap().to_owned());
        }
        (app_id, ids)
    }

    async fn post_event(&self, id: &str, app_id: &str) -> (u16, Value) {
        let body = event_body(app_id);
        let ts = Utc::now().timestamp();
        let signature = signature_header(&[&self.ingest_secret], id, ts, body.as_bytes()).unwrap();
        let request = Request::builder()
            .method("POST")
            .uri("/v1/events")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        self.call(request).await
    }

    /// Make an accepted event's lease lapse now, as 30 s passing would.
    async fn lapse_lease(&self, id: &str) {
        let event = self.store.get_event(id).await.unwrap().expect("the event was recorded");
        assert_eq!(event.state, EventState::Accepted, "only an unfinished event holds a lease");
        self.store
            .renew_event_lease(id, event.lease_until, Utc::now() - TimeDelta::seconds(1))
            .await
            .unwrap();
    }

    /// Every message on the queue now (removed from it), as delivery ids.
    async fn drain_queue(&self) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let batch = self.queue.receive(10, Duration::from_secs(600), Duration::ZERO).await.unwrap();
            if batch.is_empty() {
                return ids;
            }
            for message in batch {
                let parsed =
                    DeliveryMessage::parse(&message.body).expect("queue messages are delivery messages");
                ids.push(parsed.delivery_id);
                self.queue.delete(&message.receipt_handle).await.unwrap();
            }
        }
    }

    /// The invariants of a finished ingest of `event_id` with `webhooks` matching webhooks, given
    /// the messages that were put on the queue for it.
    async fn assert_ingested(&self, event_id: &str, webhooks: &[String], queued: &[String], context: &str) {
        let event = self
            .store
            .get_event(event_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{context}: event missing"));
        assert_eq!(event.state, EventState::Complete, "{context}: event not complete");
        assert_eq!(event.deliveries.len(), webhooks.len(), "{context}: one delivery per webhook");
        let mut for_webhooks: Vec<&str> = event.deliveries.iter().map(|d| d.webhook_id.as_str()).collect();
        for_webhooks.sort_unstable();
        let mut expected: Vec<&str> = webhooks.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(for_webhooks, expected, "{context}: deliveries for exactly the matching webhooks");
        for reference in &event.deliveries {
            let delivery = self
                .store
                .get_delivery(&reference.id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{context}: delivery {} listed but missing", reference.id));
            assert_eq!(delivery.event_id, event_id, "{context}");
            assert!(delivery.enqueued, "{context}: delivery {} not flagged enqueued", reference.id);
            let sent = queued.iter().filter(|q| **q == reference.id).count();
            assert!(sent >= 1, "{context}: delivery {} never reached the queue ({queued:?})", reference.id);
        }
        for id in queued {
            assert!(
                self.store.get_delivery(id).await.unwrap().is_some(),
                "{context}: queue message for delivery {id}, which does not exist"
            );
        }
    }
}

fn event_body(app_id: &str) -> String {
    let mut event =
        serde_json::to_value(patchbay_core::template::sample_event(EventName::VersionPublished)).unwrap();
    event["app"]["id"] = json!(app_id);
    event.to_string()
}

/// Retry a failed ingest the way the pipeline would, healthy: a 409 means a live lease from
/// the failed request, which we let lapse (instead of waiting 30 s) before trying again.
///
/// Returns the final status and how many 409s came first.
async fn retry_until_done(h: &Harness, id: &str, app_id: &str, context: &str) -> (u16, usize) {
    for conflicts in 0..3 {
        let (status, body) = h.post_event(id, app_id).await;
        match status {
            200 | 202 => return (status, conflicts),
            409 => h.lapse_lease(id).await,
            other => panic!("{context}: healthy retry answered {other}: {body}"),
        }
    }
    panic!("{context}: still not done after lapsing the lease");
}

// ---------------------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_survives_a_store_fault_at_every_call() {
    let h = Harness::new("1s").await;
    let (app_id, webhooks) = h.app_with_webhooks(3, "http://127.0.0.1:9/never-delivered-here").await;

    // Pass-through: how many store calls a clean ingest makes.
    let from = h.faulty.faults().calls();
    let (status, body) = h.post_event(&random_id("msg"), &app_id).await;
    assert_eq!(status, 202, "{body}");
    let clean = h.faulty.faults().calls_since(from);
    assert!(
        clean.len() >= 4,
        "a clean ingest reads webhooks, writes the event, flags and completes: {clean:?}"
    );
    h.drain_queue().await;

    for n in 0..clean.len() {
        let context = format!("fault at call {n} ({}) of {clean:?}", clean[n]);
        let id = random_id("msg");
        h.faulty.faults().fail_in(n);
        let (status, body) = h.post_event(&id, &app_id).await;
        assert!(status >= 500 || status == 409, "{context}: the failure was not visible: {status} {body}");
        assert!(!h.faulty.faults().armed(), "{context}: the fault did not fire");

        let (final_status, conflicts) = retry_until_done(&h, &id, &app_id, &context).await;
        // A failed request gives its lease back, so the very next retry finishes.
        assert_eq!(conflicts, 0, "{context}: the failed request kept its lease");
        eprintln!(
            "ingest, fault at {n} ({}): {status}, then {conflicts} x 409, then {final_status}",
            clean[n]
        );
        let queued = h.drain_queue().await;
        h.assert_ingested(&id, &webhooks, &queued, &context).await;

        // Once done, the same id is a plain duplicate and enqueues nothing more.
        let (status, again) = h.post_event(&id, &app_id).await;
        assert_eq!(status, 200, "{context}: {again}");
        assert!(h.drain_queue().await.is_empty(), "{context}: a duplicate enqueued again");
        if n == 0 {
            // Nothing was written before the first call: the retry is a first ingest.
            assert_eq!(final_status, 202, "{context}");
        }
    }
}

/// The takeover path: an event left accepted by an earlier failure, its lease lapsed, and a
/// fault at each store call of the request that resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_ingest_survives_a_store_fault_at_every_call() {
    let h = Harness::new("1s").await;
    let (app_id, webhooks) = h.app_with_webhooks(3, "http://127.0.0.1:9/never-delivered-here").await;

    /// Leave an event accepted (deliveries written, none enqueued) with its lease lapsed.
    async fn half_done(h: &Harness, app_id: &str) -> String {
        let id = random_id("msg");
        let from = h.faulty.faults().calls();
        // Find the first `ensure_deliveries` or `mark_enqueued`, fail it.
        let (status, _) = h.post_event(&random_id("msg"), app_id).await;
        assert_eq!(status, 202);
        let calls = h.faulty.faults().calls_since(from);
        let at = calls.iter().position(|c| *c == "ensure_deliveries").expect("ingest ensures deliveries");
        h.drain_queue().await;
        h.faulty.faults().fail_in(at);
        let (status, _) = h.post_event(&id, app_id).await;
        assert_eq!(status, 503);
        h.lapse_lease(&id).await;
        id
    }

    let id = half_done(&h, &app_id).await;
    let from = h.faulty.faults().calls();
    let (status, body) = h.post_event(&id, &app_id).await;
    assert_eq!(status, 200, "a resumed ingest answers as a duplicate: {body}");
    let clean = h.faulty.faults().calls_since(from);
    assert!(clean.contains(&"renew_event_lease"), "{clean:?}");
    let queued = h.drain_queue().await;
    h.assert_ingested(&id, &webhooks, &queued, "clean resume").await;

    for n in 0..clean.len() {
        let context = format!("resume with a fault at call {n} ({}) of {clean:?}", clean[n]);
        let id = half_done(&h, &app_id).await;
        h.faulty.faults().fail_in(n);
        let (status, body) = h.post_event(&id, &app_id).await;
        assert!(status >= 500 || status == 409, "{context}: the failure was not visible: {status} {body}");
        assert!(!h.faulty.faults().armed(), "{context}: the fault did not fire");
        let (final_status, conflicts) = retry_until_done(&h, &id, &app_id, &context).await;
        // A failed request gives its lease back, so the very next retry finishes.
        assert_eq!(conflicts, 0, "{context}: the failed request kept its lease");
        eprintln!(
            "resume, fault at {n} ({}): {status}, then {conflicts} x 409, then {final_status}",
            clean[n]
        );
        let queued = h.drain_queue().await;
        h.assert_ingested(&id, &webhooks, &queued, &context).await;
    }
}

/// A queue failure gives the lease back: the very next retry finishes, with no 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_queue_fault_releases_the_lease() {
    let h = Harness::new("1s").await;
    let (app_id, webhooks) = h.app_with_webhooks(3, "http://127.0.0.1:9/never-delivered-here").await;
    let id = random_id("msg");
    h.faulty_queue.faults().fail_calls_to("send");
    let (status, body) = h.post_event(&id, &app_id).await;
    assert_eq!(status, 503, "{body}");
    h.faulty_queue.faults().heal();
    assert!(h.drain_queue().await.is_empty());
    let (status, body) = h.post_event(&id, &app_id).await;
    assert_eq!(status, 200, "the retry takes the released lease at once: {body}");
    let queued = h.drain_queue().await;
    h.assert_ingested(&id, &webhooks, &queued, "queue fault").await;
}

// ---------------------------------------------------------------------------------------------
// Deliver
// ---------------------------------------------------------------------------------------------

/// A pending delivery of a fresh event for `webhook_id`, written straight to the real store.
async fn pending_delivery(h: &Harness, app_id: &str, webhook_id: &str) -> Delivery {
    let event_id = random_id("msg");
    let now = Utc::now();
    let delivery = Delivery::new(&event_id, webhook_id, app_id, EventName::VersionPublished, now);
    let event = StoredEvent {
        id: event_id,
        app_id: app_id.to_owned(),
        name: EventName::VersionPublished,
        body: event_body(app_id),
        deliveries: vec![DeliveryRef { id: delivery.id.clone(), webhook_id: webhook_id.to_owned() }],
        state: EventState::Complete,
        lease_until: now,
        received_at: now,
    };
    let created = h.store.create_event(&event, std::slice::from_ref(&delivery)).await.unwrap();
    assert_eq!(created, EventCreation::Created);
    delivery
}

fn seen_with_id(receiver: &Receiver, delivery_id: &str) -> usize {
    receiver.seen().iter().filter(|r| r.header("webhook-id") == Some(delivery_id)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_survives_a_store_fault_at_every_call() {
    let h = Harness::new("1s").await;
    let receiver = Receiver::start(&[]).await;
    let (app_id, webhooks) = h.app_with_webhooks(1, &receiver.url("/hook")).await;

    // Pass-through: the store calls of a clean, successful attempt.
    let delivery = pending_delivery(&h, &app_id, &webhooks[0]).await;
    let from = h.faulty.faults().calls();
    let outcome = h.deliver.process(&DeliveryMessage::outgoing(&delivery).body).await.unwrap();
    assert_eq!(outcome, MessageOutcome::Done);
    let clean = h.faulty.faults().calls_since(from);
    assert_eq!(clean, ["load_attempt_context", "record_outcomes"], "one read, one write");

    for n in 0..clean.len() {
        let context = format!("fault at call {n} ({}) of {clean:?}", clean[n]);
        let delivery = pending_delivery(&h, &app_id, &webhooks[0]).await;
        let message = DeliveryMessage::outgoing(&delivery).body;
        h.faulty.faults().fail_in(n);
        let first = h.deliver.process(&message).await;
        eprintln!("deliver, fault at {n} ({}): {:?}", clean[n], first.as_ref().map_err(ToString::to_string));
        assert!(!h.faulty.faults().armed(), "{context}: the fault did not fire");
        match first {
            // The message stays on the queue: it comes back, healthy this time.
            Err(_) => {
                let again = h.deliver.process(&message).await;
                assert_eq!(again.unwrap(), MessageOutcome::Done, "{context}");
            }
            Ok(outcome) => assert_eq!(outcome, MessageOutcome::Done, "{context}"),
        }
        let stored = h.store.get_delivery(&delivery.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DeliveryStatus::Succeeded, "{context}: {stored:?}");
        let attempts = h.store.list_attempts(&delivery.id).await.unwrap();
        assert!(!attempts.is_empty(), "{context}: no attempt recorded");
        assert!(attempts.iter().any(|a| a.status_code == Some(200)), "{context}: {attempts:?}");
        assert!(seen_with_id(&receiver, &delivery.id) >= 1, "{context}: the receiver never saw it");
        // Settled: one more copy of the message sends nothing.
        let seen = seen_with_id(&receiver, &delivery.id);
        assert_eq!(h.deliver.process(&message).await.unwrap(), MessageOutcome::Done);
        assert_eq!(
            seen_with_id(&receiver, &delivery.id),
            seen,
            "{context}: a finished delivery was sent again"
        );
    }
}

/// The failure path too (an attempt that fails marks the webhook as failing): a fault at each of
/// its store calls still ends with the attempt recorded and a retry scheduled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempt_survives_a_store_fault_at_every_call() {
    let h = Harness::new("1s,1s,1s").await;
    let receiver = Receiver::start(&[500; 64]).await;

    // A fresh webhook each time: its first failure writes `failing_since`.
    let (app_id, webhooks) = h.app_with_webhooks(1, &receiver.url("/hook")).await;
    let delivery = pending_delivery(&h, &app_id, &webhooks[0]).await;
    let from = h.faulty.faults().calls();
    let outcome = h.deliver.process(&DeliveryMessage::outgoing(&delivery).body).await.unwrap();
    assert!(matches!(outcome, MessageOutcome::RetryIn(_)), "{outcome:?}");
    let clean = h.faulty.faults().calls_since(from);
    // The first failure marks the webhook failing, in the same write as the attempt.
    assert_eq!(clean, ["load_attempt_context", "record_outcomes"], "one read, one write");

    for n in 0..clean.len() {
        let context = format!("fault at call {n} ({}) of {clean:?}", clean[n]);
        let (app_id, webhooks) = h.app_with_webhooks(1, &receiver.url("/hook")).await;
        let delivery = pending_delivery(&h, &app_id, &webhooks[0]).await;
        let message = DeliveryMessage::outgoing(&delivery).body;
        h.faulty.faults().fail_in(n);
        let outcome = match h.deliver.process(&message).await {
            Err(_) => h.deliver.process(&message).await.unwrap(),
            Ok(outcome) => outcome,
        };
        assert!(matches!(outcome, MessageOutcome::RetryIn(_)), "{context}: {outcome:?}");
        let stored = h.store.get_delivery(&delivery.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DeliveryStatus::Pending, "{context}");
        assert!(stored.attempt_count >= 1, "{context}: {stored:?}");
        assert!(stored.reason.as_deref().is_some_and(|r| r.contains("500")), "{context}: {stored:?}");
        assert!(!h.store.list_attempts(&delivery.id).await.unwrap().is_empty(), "{context}");
        let webhook = h.store.get_webhook(&webhooks[0]).await.unwrap().unwrap();
        assert!(webhook.failing_since.is_some(), "{context}: the failure was not tracked");
        assert!(seen_with_id(&receiver, &delivery.id) >= 1, "{context}");
    }
}
