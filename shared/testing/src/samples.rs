//! Valid records to store, each with fresh ids, so tests can share a store.

use chrono::{DateTime, TimeDelta, Utc};
use patchbay_core::ids::{delivery_id, license_key, random_id};
use patchbay_core::model::{
    App, Delivery, DeliveryRef, DeliveryStatus, EventName, EventState, LicenseKey, PayloadFormat,
    SigningSecrets, StoredEvent, Webhook, WebhookMethod, WebhookSpec,
};
use patchbay_core::secret::Secret;
use patchbay_core::signing::generate_secret;

/// Whole milliseconds: every adapter keeps at least that, so values round-trip exactly.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[must_use]
pub fn sample_app() -> App {
    App {
        id: random_id("app"),
        name: "space-race".into(),
        display_name: "Space Race".into(),
        app_secret: Secret::random_alphanumeric(40),
        created_at: now(),
    }
}

#[must_use]
pub fn sample_webhook(app_id: &str) -> Webhook {
    Webhook {
        id: random_id("wh"),
        app_id: app_id.to_owned(),
        spec: WebhookSpec {
            events: vec![EventName::VersionPublished],
            method: WebhookMethod::Post,
            url: "https://example.com/hook?app={{app.name}}".into(),
            headers: [("X-Token".to_owned(), "t".to_owned())].into_iter().collect(),
            format: PayloadFormat::Json,
            payload: serde_json::json!({"text": "{{app.display_name}} \"{{version.label}}\" 🚀"}),
        },
        enabled: true,
        secrets: SigningSecrets::new(generate_secret()),
        disabled_reason: None,
        disabled_at: None,
        failing_since: None,
        created_at: now(),
        updated_at: now(),
    }
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
    Delivery {
        id: delivery_id(event_id, webhook_id),
        webhook_id: webhook_id.to_owned(),
        app_id: app_id.to_owned(),
        event_id: event_id.to_owned(),
        event_name: EventName::VersionPublished,
        status: DeliveryStatus::Pending,
        enqueued: false,
        test: false,
        attempt_count: 0,
        series_start: 0,
        reason: None,
        created_at: at,
        updated_at: at,
    }
}

#[must_use]
pub fn sample_key(app_id: &str) -> LicenseKey {
    LicenseKey {
        key: license_key(),
        app_id: app_id.to_owned(),
        key_secret: Secret::random_alphanumeric(32),
        collection_id: Some("col_1".into()),
        registrations: 0,
        blocked: false,
        created_at: now(),
    }
}
