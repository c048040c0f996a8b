//! `POST /v1/events`: verify the pipeline's signature, record the event once, fan out one
//! delivery per matching webhook, and put each on the queue — with no way to lose one between
//! the write and the enqueue.
//!
//! Durability protocol: the event record (with the list of its deliveries) is the commit
//! point, written with its deliveries in one conditional write. Each delivery carries an
//! outbox flag set once its message is sent. Whoever holds the event's lease enqueues what is
//! not yet flagged, then marks the event complete. A request that fails to enqueue releases the
//! lease and answers 503; the pipeline's retry of the same `webhook-id` takes the lease and
//! finishes the job. Concurrent duplicates find the lease held and get 409, never a second set.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::error::ApiError;
use crate::ids::delivery_id;
use crate::model::{Delivery, DeliveryRef, DeliveryStatus, EventBody, EventName, EventState, StoredEvent};
use crate::ports::{EventCreation, Queue, Store};
use crate::secret::Secret;
use crate::service::message::DeliveryMessage;
use crate::signing::{DEFAULT_TOLERANCE_SECS, VerifyError, verify_headers};

/// Larger bodies are refused with 413 before anything is parsed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a request may hold an event while it fans out before a retry may take over.
const LEASE: TimeDelta = TimeDelta::seconds(30);
const MAX_EVENT_ID_LEN: usize = 256;

/// The body of 202/200 answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestResponse {
    pub event_id: String,
    pub deliveries: Vec<DeliveryRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// First time this event id was seen: 202.
    Accepted(IngestResponse),
    /// A repeat of a known event id: 200 with the first answer; nothing new was created.
    Duplicate(IngestResponse),
}

pub struct Ingest {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    secret: Secret,
}

impl Ingest {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, secret: Secret) -> Self {
        Ingest { store, queue, secret }
    }

    /// # Errors
    /// 401 bad signature, 413 too large, 400 not JSON, 422 invalid field, 409 the same event
    /// is being ingested right now, 503 store or queue down (safe to retry).
    pub async fn handle(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<IngestOutcome, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        let now = Utc::now();
        let event_id = verify_headers(&self.secret, headers, body, now.timestamp(), DEFAULT_TOLERANCE_SECS)
            .map_err(unauthorized)?;
        if event_id.len() > MAX_EVENT_ID_LEN || event_id.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "webhook-id must be at most {MAX_EVENT_ID_LEN} printable characters"
            )));
        }
        let event = parse_event(body)?;

        let webhooks = self.store.list_webhooks(&event.app.id).await?;
        let deliveries: Vec<Delivery> = webhooks
            .iter()
            .filter(|w| w.fires_on(event.event))
            .map(|w| new_delivery(&event_id, &w.id, &event.app.id, event.event, now))
            .collect();
        let stored = StoredEvent {
            id: event_id.clone(),
            app_id: event.app.id.clone(),
            name: event.event,
            body: String::from_utf8_lossy(body).into_owned(),
            deliveries: deliveries
                .iter()
                .map(|d| DeliveryRef { id: d.id.clone(), webhook_id: d.webhook_id.clone() })
                .collect(),
            state: EventState::Accepted,
            lease_until: now + LEASE,
            received_at: now,
        };

        match self.store.create_event(&stored, &deliveries).await? {
            EventCreation::Created => {
                // Deliveries written with the event may be missing if the adapter had to split
                // a very large fan-out; re-ensuring is idempotent.
                let fanned_out = match self.store.ensure_deliveries(&deliveries).await {
                    Ok(_) => self.finish(&stored, &deliveries).await,
                    Err(err) => Err(err.into()),
                };
                if let Err(err) = fanned_out {
                    self.release(&stored).await;
                    return Err(err);
                }
                tracing::info!(event_id, app_id = %stored.app_id, event = %stored.name, deliveries = deliveries.len(), "event accepted");
                Ok(IngestOutcome::Accepted(response(&stored)))
            }
            EventCreation::Exists(existing) => self.resume(existing, now).await,
        }
    }

    /// A known event id. Complete: answer as before. Accepted with a live lease: someone is
    /// on it. Accepted with a lapsed lease: an earlier request failed midway; finish its job.
    async fn resume(&self, existing: StoredEvent, now: DateTime<Utc>) -> Result<IngestOutcome, ApiError> {
        if existing.state == EventState::Complete {
            return Ok(IngestOutcome::Duplicate(response(&existing)));
        }
        if existing.lease_until > now {
            return Err(ApiError::conflict(format!(
                "event {} is being ingested by another request; retry in a few seconds",
                existing.id
            )));
        }
        let mut taken = existing.clone();
        taken.lease_until = now + LEASE;
        self.store.renew_event_lease(&existing.id, existing.lease_until, taken.lease_until).await?;
        if let Err(err) = self.complete_resumed(&existing, &taken).await {
            self.release(&taken).await;
            return Err(err);
        }
        Ok(IngestOutcome::Duplicate(response(&existing)))
    }

    async fn complete_resumed(&self, existing: &StoredEvent, taken: &StoredEvent) -> Result<(), ApiError> {
        let deliveries: Vec<Delivery> = existing
            .deliveries
            .iter()
            .map(|r| {
                new_delivery(
                    &existing.id,
                    &r.webhook_id,
                    &existing.app_id,
                    existing.name,
                    existing.received_at,
                )
            })
            .collect();
        self.store.ensure_deliveries(&deliveries).await?;
        let mut pending = Vec::new();
        for d in &deliveries {
            match self.store.get_delivery(&d.id).await? {
                Some(stored) if stored.enqueued => {}
                _ => pending.push(d.clone()),
            }
        }
        self.finish(taken, &pending).await?;
        tracing::info!(event_id = %existing.id, resumed = pending.len(), "event ingestion resumed");
        Ok(())
    }

    /// Give the lease back after a failure, so the pipeline's retry can finish the job at once
    /// instead of waiting for the lease to lapse. Best effort: if the store is down, the lease
    /// lapses on its own.
    async fn release(&self, event: &StoredEvent) {
        let released = Utc::now() - TimeDelta::milliseconds(1);
        if let Err(err) = self.store.renew_event_lease(&event.id, event.lease_until, released).await {
            tracing::warn!(event_id = %event.id, error = %err, "could not release lease; a retry waits for it to lapse");
        }
    }

    /// Enqueue, flag, complete. The caller releases the lease if any step fails.
    async fn finish(&self, event: &StoredEvent, deliveries: &[Delivery]) -> Result<(), ApiError> {
        let messages: Vec<_> = deliveries.iter().map(|d| DeliveryMessage::outgoing(&d.id)).collect();
        self.queue.send(&messages).await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        self.store.mark_enqueued(&ids).await?;
        self.store.set_event_state(&event.id, EventState::Complete, Utc::now()).await?;
        Ok(())
    }
}

fn response(event: &StoredEvent) -> IngestResponse {
    IngestResponse { event_id: event.id.clone(), deliveries: event.deliveries.clone() }
}

#[must_use]
pub fn new_delivery(
    event_id: &str,
    webhook_id: &str,
    app_id: &str,
    event: EventName,
    now: DateTime<Utc>,
) -> Delivery {
    Delivery {
        id: delivery_id(event_id, webhook_id),
        webhook_id: webhook_id.to_owned(),
        app_id: app_id.to_owned(),
        event_id: event_id.to_owned(),
        event_name: event,
        status: DeliveryStatus::Pending,
        enqueued: false,
        test: false,
        attempt_count: 0,
        series_start: 0,
        reason: None,
        created_at: now,
        updated_at: now,
    }
}

fn unauthorized(err: VerifyError) -> ApiError {
    ApiError::unauthorized(format!("event signature: {err}"))
}

/// Parse and validate an event body, naming the field at fault.
///
/// # Errors
/// 400 when the body is not JSON, 422 naming the field path otherwise.
pub fn parse_event(body: &[u8]) -> Result<EventBody, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(format!("body is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid_field("(body)", "must be a JSON object"));
    };
    match object.get("event") {
        None => return Err(ApiError::invalid_field("event", "is required")),
        Some(serde_json::Value::String(name)) if EventName::parse(name).is_none() => {
            let allowed: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
            return Err(ApiError::invalid_field(
                "event",
                format!("unknown event {name:?}; allowed: {}", allowed.join(", ")),
            ));
        }
        _ => {}
    }
    for required in ["app", "version"] {
        if !object.contains_key(required) {
            return Err(ApiError::invalid_field(required, "is required"));
        }
    }
    let event: EventBody = serde_path_to_error::deserialize(&value).map_err(|err| {
        let path = err.path().to_string();
        ApiError::invalid_field(&path, err.into_inner())
    })?;
    if event.app.id.trim().is_empty() {
        return Err(ApiError::invalid_field("app.id", "must not be empty"));
    }
    if event.app.id.len() > 128 {
        return Err(ApiError::invalid_field("app.id", "must be at most 128 characters"));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_message(body: &str) -> (u16, String) {
        let err = parse_event(body.as_bytes()).unwrap_err();
        (err.status, err.message)
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(status_and_message("not json").0, 400);
        assert_eq!(status_and_message("[]"), (422, "(body): must be a JSON object".into()));
        assert_eq!(status_and_message("{}"), (422, "event: is required".into()));
        let (status, message) =
            status_and_message(r#"{"event":"version_deleted","app":{"id":"a"},"version":{"id":1}}"#);
        assert_eq!(status, 422);
        assert!(
            message.contains("version_published, version_processed, version_process_failed"),
            "{message}"
        );
        let (status, message) =
            status_and_message(r#"{"event":"version_published","app":{"id":"a"},"version":{"id":"x"}}"#);
        assert_eq!(status, 422);
        assert!(message.starts_with("version.id:"), "{message}");
        let (_, message) = status_and_message(
            r#"{"event":"version_published","app":{"id":"a"},"version":{"id":1,"published_at":"yesterday"}}"#,
        );
        assert!(message.starts_with("version.published_at:"), "{message}");
        let (_, message) = status_and_message(r#"{"event":"version_published","app":{},"version":{"id":1}}"#);
        assert!(message.starts_with("app"), "{message}");
        let (_, message) =
            status_and_message(r#"{"event":"version_published","app":{"id":" "},"version":{"id":1}}"#);
        assert_eq!(message, "app.id: must not be empty");
        let (_, message) = status_and_message(r#"{"event":"version_published","app":{"id":"a"}}"#);
        assert_eq!(message, "version: is required");
    }

    #[test]
    fn accepts_the_documented_body() {
        let body = r#"{"event":"version_published",
 "app":{"id":"app_7","name":"space-race","display_name":"Space Race","group_name":null,"download_url":"https://x","direct_download_url":"https://y"},
 "version":{"id":42,"label":"1.0.3","published_at":"2026-11-20T10:00:00Z","content_size":1234567,"diff_size":2345,"changes":"Fixed \"jump\" bug\nNew map","known_issues":"","processing_errors":[],"processing_started_at":null,"processing_finished_at":null}}"#;
        let event = parse_event(body.as_bytes()).unwrap();
        assert_eq!(event.event, EventName::VersionPublished);
        assert_eq!(event.version.id, 42);
        assert_eq!(event.version.changes.as_deref(), Some("Fixed \"jump\" bug\nNew map"));
    }
}
