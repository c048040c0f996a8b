//! Valid records to store, each with fresh ids, so tests can share a store.

use chrono::{DateTime, TimeDelta, Utc};
use patchbay_core::ids::{license_key, random_id};
use patchbay_core::model::{
    App, Delivery, DeliveryRef, EventName, EventState, LicenseKey, PayloadFormat, StoredEvent, Webhook,
    WebhookMethod, WebhookSpec,
};
use patchbay_core::secret::Secret;
use patchbay_core::service::ingest::IngestRequest;
use patchbay_core::signing::{SignatureHeaders, signature_header};

/// Whole milliseconds: every adapter keeps at least that, so values round-trip exactly.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[must_use]
pub fn sample_app() -> App {
    App::new(random_id("app"), "space-race".into(), "Space Race".into(), now())
}

#[must_use]
pub fn sample_webhook(app_id: &str) -> Webhook {
    let spec = WebhookSpec {
        events: vec![EventName::VersionPublished],
        method: WebhookMethod::Post,
        url: "https://example.com/hook?app={{app.name}}".into(),
        headers: [("X-Token".to_owned(), "t".to_owned())].into_iter().collect(),
        format: PayloadFormat::Json,
        payload: serde_json::json!({"text": "{{app.display_name}} \"{{version.label}}\" 🚀"}),
        timeout: None,
        retry_schedule: None,
    };
    Webhook::new(app_id, spec, now())
}

#[must_use]
pub fn sample_event(app_id: &str, webhook_ids: &[&str]) -> (StoredEvent, Vec<Delivery>) {
    let id = random_id("msg");
    let deliveries: Vec<Delivery> =
        webhook_ids.iter().map(|wh| sample_delivery(&id, wh, app_id, now())).collect();
    let event = StoredEvent {
        id: id.clone(),
        app_id: app_id.to_owned(),
        name: EventName::VersionPublished,
        body: r#"{"event":"version_published","app":{"id":"x"},"version":{"id":1,"changes":"a \"b\"\n"}}"#
            .to_owned(),
        deliveries: deliveries
            .iter()
            .map(|d| DeliveryRef { id: d.id.clone(), webhook_id: d.webhook_id.clone() })
            .collect(),
        state: EventState::Accepted,
        lease_until: now() + TimeDelta::seconds(30),
        received_at: now(),
    };
    (event, deliveries)
}

#[must_use]
pub fn sample_delivery(event_id: &str, webhook_id: &str, app_id: &str, at: DateTime<Utc>) -> Delivery {
    Delivery::new(event_id, webhook_id, app_id, EventName::VersionPublished, at)
}

#[must_use]
pub fn sample_key(app_id: &str) -> LicenseKey {
    LicenseKey::new(license_key(), app_id, 1, now())
}

/// An ingest request for `body`, signed now with `secret` under message id `id`, as the
/// publishing pipeline sends it (JSON declared).
///
/// # Panics
/// Signing with a well-formed secret cannot fail; a malformed test secret panics.
#[must_use]
pub fn signed_ingest_request(secret: &Secret, id: &str, body: &[u8]) -> IngestRequest {
    let timestamp = Utc::now().timestamp();
    let signature = signature_header(&[secret], id, timestamp, body).expect("sign a test event");
    IngestRequest {
        signature: SignatureHeaders { id: id.to_owned(), timestamp: timestamp.to_string(), signature },
        body: body.to_vec(),
        declared_json: true,
    }
}
