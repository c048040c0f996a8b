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

use crate::metrics::{Metrics, catalog};
use crate::model::{Delivery, DeliveryRef, EventBody, EventName, EventState, StoredEvent};
use crate::ports::{EventCreation, Queue, QueueError, Store, StoreError};
use crate::secret::LiveSecret;
use crate::service::message::DeliveryMessage;
use crate::signing::{DEFAULT_TOLERANCE_SECS, SignatureHeaders, VerifyError};
use crate::validation::{BodyError, FieldError, check_id, from_value, parse_value};

/// Larger bodies are refused with 413 before anything is parsed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a request may hold an event while it fans out before a retry may take over.
const LEASE: TimeDelta = TimeDelta::seconds(30);
pub const MAX_EVENT_ID_LEN: usize = 256;

/// One signed event as the pipeline sent it.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub signature: SignatureHeaders,
    pub body: Vec<u8>,
    /// The sender declared the body JSON (`Content-Type: application/json`). Checked after the
    /// signature, so an unsigned caller learns nothing but "unauthorized".
    pub declared_json: bool,
}

/// Why an event was refused, or could not be taken now.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("event signature: {0}")]
    Signature(#[from] VerifyError),
    #[error("webhook-id must be at most {MAX_EVENT_ID_LEN} printable characters")]
    BadEventId,
    #[error("send the body as JSON, with Content-Type: application/json")]
    NotDeclaredJson,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("event {event_id} is being ingested by another request; retry in a few seconds")]
    InProgress { event_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<FieldError> for IngestError {
    fn from(err: FieldError) -> Self {
        IngestError::Body(BodyError::Field(err))
    }
}

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
    /// The pipeline's signing secret, as currently rotated.
    secret: LiveSecret,
    metrics: Metrics,
}

impl Ingest {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, secret: impl Into<LiveSecret>) -> Self {
        Ingest { store, queue, secret: secret.into(), metrics: Metrics::default() }
    }

    /// Report each accepted event's fan-out to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// # Errors
    /// A bad signature, body or event id; `InProgress` when the same event is being ingested
    /// right now; store or queue down (safe to retry).
    pub async fn handle(&self, request: &IngestRequest) -> Result<IngestOutcome, IngestError> {
        let body = request.body.as_slice();
        if body.len() > MAX_BODY_BYTES {
            return Err(IngestError::TooLarge { limit: MAX_BODY_BYTES });
        }
        let now = Utc::now();
        self.secret
            .with(|secret| request.signature.verify(secret, body, now.timestamp(), DEFAULT_TOLERANCE_SECS))?;
        let event_id = request.signature.id.clone();
        if event_id.len() > MAX_EVENT_ID_LEN || event_id.chars().any(char::is_control) {
            return Err(IngestError::BadEventId);
        }
        if !request.declared_json {
            return Err(IngestError::NotDeclaredJson);
        }
        let event = parse_event(body)?;

        let webhooks = self.store.list_webhooks(&event.app.id).await?;
        let deliveries: Vec<Delivery> = webhooks
            .iter()
            .filter(|w| w.fires_on(event.event))
            .map(|w| Delivery::new(&event_id, &w.id, &event.app.id, event.event, now))
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
                self.metrics.emit(|| catalog::ingest_fan_out(deliveries.len()));
                Ok(IngestOutcome::Accepted(response(&stored)))
            }
            EventCreation::Exists(existing) => self.resume(existing, now).await,
        }
    }

    /// A known event id. Complete: answer as before. Accepted with a live lease: someone is
    /// on it. Accepted with a lapsed lease: an earlier request failed midway; finish its job.
    async fn resume(&self, existing: StoredEvent, now: DateTime<Utc>) -> Result<IngestOutcome, IngestError> {
        if existing.state == EventState::Complete {
            return Ok(IngestOutcome::Duplicate(response(&existing)));
        }
        if existing.lease_until > now {
            return Err(IngestError::InProgress { event_id: existing.id });
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

    async fn complete_resumed(&self, existing: &StoredEvent, taken: &StoredEvent) -> Result<(), IngestError> {
        let deliveries: Vec<Delivery> = existing
            .deliveries
            .iter()
            .map(|r| {
                Delivery::new(
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
    async fn finish(&self, event: &StoredEvent, deliveries: &[Delivery]) -> Result<(), IngestError> {
        let messages: Vec<_> = deliveries.iter().map(DeliveryMessage::outgoing).collect();
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

/// Parse and validate an event body, naming the field at fault.
///
/// # Errors
/// Not JSON, or the field at fault named by its path.
pub fn parse_event(body: &[u8]) -> Result<EventBody, BodyError> {
    let value = parse_value(body)?;
    let Some(object) = value.as_object() else {
        return Err(FieldError::new("(body)", "must be a JSON object").into());
    };
    if let Some(serde_json::Value::String(name)) = object.get("event")
        && EventName::parse(name).is_none()
    {
        let allowed: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
        return Err(FieldError::new(
            "event",
            format!("unknown event {name:?}; allowed: {}", allowed.join(", ")),
        )
        .into());
    }
    let event: EventBody = from_value(&value)?;
    // The same rule as app ids in the management API: an id that could never name an app is a
    // mistake, and one with control characters could forge log lines.
    check_id("app.id", &event.app.id)?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_message(body: &str) -> (u16, String) {
        match parse_event(body.as_bytes()).unwrap_err() {
            BodyError::NotJson(message) => (400, message),
            BodyError::Field(field) => (422, field.to_string()),
        }
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
        assert_eq!(message, "app.id: is required");
        let (_, message) =
            status_and_message(r#"{"event":"version_published","app":{"id":"a"},"version":{}}"#);
        assert_eq!(message, "version.id: is required");
        let (_, message) =
            status_and_message(r#"{"event":"version_published","app":{"id":" "},"version":{"id":1}}"#);
        assert!(message.starts_with("app.id: "), "{message}");
        for forged in ["../x", r"a\nINFO forged", r"a\u001b[31m"] {
            let body =
                format!(r#"{{"event":"version_published","app":{{"id":"{forged}"}},"version":{{"id":1}}}}"#);
            assert!(status_and_message(&body).1.starts_with("app.id: "), "{forged}");
        }
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
