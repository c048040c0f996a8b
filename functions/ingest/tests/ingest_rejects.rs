//! `POST /v1/events` refusing bad requests with the one JSON error shape, over SQLite and over
//! DynamoDB + SQS on moto, and writing nothing when it does.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::Request;
use patchbay_adapters::backends::Backends;
use patchbay_core::ids::random_id;
use patchbay_core::model::EventName;
use patchbay_core::service::ingest::MAX_BODY_BYTES;
use patchbay_core::signing::generate_secret;

use common::{
    Harness, Reply, event_body, expected_deliveries, now_secs, on_both_backends, signed_request, sorted,
};

on_both_backends!(rejects_bad_requests, accepts_a_body_of_exactly_the_limit);

/// Asserts the refused request left no trace: no event under its id, nothing on the queue.
async fn assert_nothing_written(h: &Harness, id: &str, case: &str) {
    assert_eq!(h.store.get_event(id).await.unwrap(), None, "{case}: an event was stored");
    assert_eq!(h.drain().await, Vec::<String>::new(), "{case}: something was queued");
}

/// A valid event body padded (inside `version.changes`) to exactly `len` bytes.
fn body_of_len(app_id: &str, len: usize) -> String {
    let empty = serde_json::json!({
        "event": "version_published",
        "app": {"id": app_id},
        "version": {"id": 1, "changes": ""}
    })
    .to_string();
    let body =
        empty.replacen(r#""changes":"""#, &format!(r#""changes":"{}""#, "x".repeat(len - empty.len())), 1);
    assert_eq!(body.len(), len);
    body
}

async fn rejects_bad_requests(backends: Backends) {
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    // Something to fan out to, so a request that wrongly got through would leave messages.
    h.webhook(&a.id, &EventName::ALL, true).await;
    let good = event_body("version_published", &a.id);

    // No webhook-* headers at all.
    let id = random_id("msg");
    let reply = h.call(Request::post("/v1/events").body(Body::from(good.clone())).unwrap()).await;
    assert_eq!(reply.error(401, "unauthorized"), "event signature: missing header webhook-id");
    assert_nothing_written(&h, &id, "no headers").await;

    // An id and a timestamp, but no signature.
    let id = random_id("msg");
    let request = Request::post("/v1/events")
        .header("webhook-id", &id)
        .header("webhook-timestamp", now_secs().to_string())
        .body(Body::from(good.clone()))
        .unwrap();
    assert_eq!(
        h.call(request).await.error(401, "unauthorized"),
        "event signature: missing header webhook-signature"
    );
    assert_nothing_written(&h, &id, "no signature").await;

    // Signed with another secret.
    let id = random_id("msg");
    let reply = h.call(signed_request(&generate_secret(), &id, now_secs(), good.clone().into_bytes())).await;
    assert_eq!(
        reply.error(401, "unauthorized"),
        "event signature: no signature in webhook-signature matches"
    );
    assert_nothing_written(&h, &id, "wrong secret").await;

    // Correctly signed, six minutes ago (a replay).
    let id = random_id("msg");
    let reply = h.call(h.signed_at(&id, now_secs() - 6 * 60, good.clone())).await;
    let message = reply.error(401, "unauthorized");
    assert!(message.starts_with("event signature: webhook-timestamp is 36"), "{message}");
    assert!(message.ends_with("s away from now, more than the 300 s tolerance"), "{message}");
    assert_nothing_written(&h, &id, "stale timestamp").await;

    // One byte over 256 KiB, validly signed.
    let id = random_id("msg");
    let reply = h.call(h.signed(&id, body_of_len(&a.id, MAX_BODY_BYTES + 1))).await;
    assert_eq!(reply.error(413, "payload_too_large"), "body exceeds 262144 bytes");
    assert_eq!(reply.text, r#"{"error":{"code":"payload_too_large","message":"body exceeds 262144 bytes"}}"#);
    assert_nothing_written(&h, &id, "too large").await;

    // Not JSON.
    let id = random_id("msg");
    let message = h.post_event(&id, "event=version_published").await.error(400, "invalid_json");
    assert!(message.starts_with("body is not JSON: "), "{message}");
    assert_nothing_written(&h, &id, "not JSON").await;

    // An event the pipeline does not send.
    let id = random_id("msg");
    let body = event_body("version_deleted", &a.id);
    assert_eq!(
        h.post_event(&id, &body).await.error(422, "invalid_field"),
        r#"event: unknown event "version_deleted"; allowed: version_published, version_processed, version_process_failed"#
    );
    assert_nothing_written(&h, &id, "unknown event").await;

    // version.id must be a number.
    let id = random_id("msg");
    let mut body: serde_json::Value = serde_json::from_str(&good).unwrap();
    body["version"]["id"] = serde_json::json!("42");
    let message = h.post_event(&id, &body.to_string()).await.error(422, "invalid_field");
    assert!(message.starts_with("version.id: "), "{message}");
    assert_nothing_written(&h, &id, "string version.id").await;

    // No app.
    let id = random_id("msg");
    let mut body: serde_json::Value = serde_json::from_str(&good).unwrap();
    body.as_object_mut().unwrap().remove("app");
    assert_eq!(h.post_event(&id, &body.to_string()).await.error(422, "invalid_field"), "app: is required");
    assert_nothing_written(&h, &id, "missing app").await;

    // Wrong method and unknown route: the same error shape.
    let reply: Reply = h.call(Request::get("/v1/events").body(Body::empty()).unwrap()).await;
    reply.error(405, "method_not_allowed");
    let reply = h.call(Request::post("/v1/event").body(Body::from(good.clone())).unwrap()).await;
    reply.error(404, "no_route");
    assert_eq!(h.drain().await, Vec::<String>::new());
}

async fn accepts_a_body_of_exactly_the_limit(backends: Backends) {
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    let webhook = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    let id = random_id("msg");
    let body = body_of_len(&a.id, MAX_BODY_BYTES);
    let expected = expected_deliveries(&id, &[&webhook]);
    assert_eq!(h.post_event(&id, &body).await.ingest(202, &id), expected);
    assert_eq!(h.store.get_event(&id).await.unwrap().unwrap().body, body);
    assert_eq!(sorted(h.drain().await), vec![expected[0].0.clone()]);
}
