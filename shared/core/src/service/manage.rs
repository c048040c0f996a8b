//! The management API's use cases: apps, webhooks, deliveries (history, redelivery, replay,
//! test sends). Served by the ingest function on AWS and by `patchbay dev`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::random_id;
use crate::model::{
    App, Attempt, Delivery, DeliveryRef, DeliveryStatus, EventName, EventState, PayloadFormat,
    SigningSecrets, StoredEvent, Webhook, WebhookMethod, WebhookSpec,
};
use crate::ports::{Queue, Sender, Store};
use crate::secret::Secret;
use crate::service::deliver::Deliverer;
use crate::service::ingest::new_delivery;
use crate::service::message::DeliveryMessage;
use crate::service::outgoing::{describe, finalize};
use crate::signing::generate_secret;
use crate::template::{self, Values};

/// How long a rotated-out webhook secret keeps signing next to the new one.
pub const ROTATION_GRACE: TimeDelta = TimeDelta::hours(24);
const MAX_ID_LEN: usize = 64;
const PAGE_DEFAULT: usize = 50;

// ---------- request and response shapes ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub id: String,
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub app_secret: String,
    pub created_at: DateTime<Utc>,
}

impl From<&App> for AppView {
    fn from(app: &App) -> Self {
        AppView {
            id: app.id.clone(),
            name: app.name.clone(),
            display_name: app.display_name.clone(),
            app_secret: app.app_secret.expose().to_owned(),
            created_at: app.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub events: Vec<EventName>,
    pub method: WebhookMethod,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub format: PayloadFormat,
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    pub events: Option<Vec<EventName>>,
    pub method: Option<WebhookMethod>,
    pub url: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub format: Option<PayloadFormat>,
    pub payload: Option<serde_json::Value>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct WebhookView {
    pub id: String,
    pub app_id: String,
    pub events: Vec<EventName>,
    pub method: WebhookMethod,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub format: PayloadFormat,
    pub payload: serde_json::Value,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Only in answers that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    fn of(w: &Webhook, with_secret: bool) -> Self {
        WebhookView {
            id: w.id.clone(),
            app_id: w.app_id.clone(),
            events: w.spec.events.clone(),
            method: w.spec.method,
            url: w.spec.url.clone(),
            headers: w.spec.headers.clone(),
            format: w.spec.format,
            payload: w.spec.payload.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            disabled_at: w.disabled_at,
            secret: with_secret.then(|| w.secrets.current.expose().to_owned()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub number: u32,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<&'static str>,
    pub error_detail: Option<String>,
    pub duration_ms: u64,
    pub response_body: Option<String>,
    pub retry_after: Option<String>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        AttemptView {
            number: a.number,
            at: a.at,
            status_code: a.status_code,
            error: a.error.map(crate::model::AttemptError::as_str),
            error_detail: a.error_detail.clone(),
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            retry_after: a.retry_after.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event: EventName,
    pub status: DeliveryStatus,
    pub test: bool,
    pub reason: Option<String>,
    pub attempt_count: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    fn of(d: &Delivery, attempts: Option<&[Attempt]>) -> Self {
        DeliveryView {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            event: d.event_name,
            status: d.status,
            test: d.test,
            reason: d.reason.clone(),
            attempt_count: d.attempt_count,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts: attempts.map(|list| list.iter().map(AttemptView::from).collect()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub event: Option<EventName>,
}

#[derive(Debug, Serialize)]
pub struct TestResult {
    pub delivery_id: String,
    pub request: serde_json::Value,
    pub status_code: Option<u16>,
    pub error: Option<&'static str>,
    pub error_detail: Option<String>,
    pub duration_ms: u64,
    pub response_body: Option<String>,
}

// ---------- the service ----------

pub struct Manage {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    sender: Arc<dyn Sender>,
    deliverer: Arc<Deliverer>,
}

/// Ids studios choose: short, URL-safe.
fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ApiError::invalid_field(field, format!("must be 1 to {MAX_ID_LEN} characters")));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::invalid_field(field, "may hold only letters, digits, '_' and '-'"));
    }
    Ok(())
}

fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.len() > 256 || text.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(field, "must be 1 to 256 printable characters"));
    }
    Ok(())
}

/// Parse every template now, so a bad one is refused when saved, not when it fires.
fn validate_spec(spec: &WebhookSpec) -> Result<(), ApiError> {
    if spec.events.is_empty() {
        return Err(ApiError::invalid_field("events", "subscribe to at least one event"));
    }
    template::compile(spec).map_err(|e| ApiError::invalid_field(&e.location, e.message))?;
    Ok(())
}

impl Manage {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        sender: Arc<dyn Sender>,
        deliverer: Arc<Deliverer>,
    ) -> Self {
        Manage { store, queue, sender, deliverer }
    }

    // ----- apps -----

    /// # Errors
    /// 422 invalid fields, 409 id taken.
    pub async fn create_app(&self, req: CreateApp) -> Result<AppView, ApiError> {
        check_id("id", &req.id)?;
        check_text("name", &req.name)?;
        check_text("display_name", &req.display_name)?;
        let app = App {
            id: req.id,
            name: req.name,
            display_name: req.display_name,
            app_secret: Secret::random_alphanumeric(40),
            created_at: Utc::now(),
        };
        self.store.create_app(&app).await?;
        tracing::info!(app_id = %app.id, "app created");
        Ok(AppView::from(&app))
    }

    /// # Errors
    /// 404 unknown app.
    pub async fn get_app(&self, id: &str) -> Result<AppView, ApiError> {
        let app = self.store.get_app(id).await?.ok_or_else(|| ApiError::not_found(format!("app {id}")))?;
        Ok(AppView::from(&app))
    }

    /// # Errors
    /// 404 unknown app.
    pub async fn rotate_app_secret(&self, id: &str) -> Result<AppView, ApiError> {
        let mut app =
            self.store.get_app(id).await?.ok_or_else(|| ApiError::not_found(format!("app {id}")))?;
        app.app_secret = Secret::random_alphanumeric(40);
        self.store.update_app(&app).await?;
        tracing::info!(app_id = %app.id, "app secret rotated");
        Ok(AppView::from(&app))
    }

    // ----- webhooks -----

    /// # Errors
    /// 404 unknown app, 422 a template problem naming the field.
    pub async fn create_webhook(&self, app_id: &str, req: CreateWebhook) -> Result<WebhookView, ApiError> {
        if self.store.get_app(app_id).await?.is_none() {
            return Err(ApiError::not_found(format!("app {app_id}")));
        }
        let spec = WebhookSpec {
            events: dedup(req.events),
            method: req.method,
            url: req.url,
            headers: req.headers,
            format: req.format,
            payload: req.payload.unwrap_or_else(|| serde_json::json!({})),
        };
        validate_spec(&spec)?;
        let now = Utc::now();
        let webhook = Webhook {
            id: random_id("wh"),
            app_id: app_id.to_owned(),
            spec,
            enabled: req.enabled.unwrap_or(true),
            secrets: SigningSecrets::new(generate_secret()),
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_webhook(&webhook).await?;
        tracing::info!(webhook_id = %webhook.id, app_id, "webhook created");
        Ok(WebhookView::of(&webhook, true))
    }

    /// # Errors
    /// 503 store down.
    pub async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookView>, ApiError> {
        let list = self.store.list_webhooks(app_id).await?;
        Ok(list.iter().map(|w| WebhookView::of(w, false)).collect())
    }

    async fn webhook(&self, id: &str) -> Result<Webhook, ApiError> {
        self.store.get_webhook(id).await?.ok_or_else(|| ApiError::not_found(format!("webhook {id}")))
    }

    /// # Errors
    /// 404 unknown webhook.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookView, ApiError> {
        Ok(WebhookView::of(&self.webhook(id).await?, false))
    }

    /// # Errors
    /// 404 unknown webhook, 422 a template problem.
    pub async fn patch_webhook(&self, id: &str, patch: PatchWebhook) -> Result<WebhookView, ApiError> {
        let mut webhook = self.webhook(id).await?;
        let spec = &mut webhook.spec;
        if let Some(events) = patch.events {
            spec.events = dedup(events);
        }
        if let Some(method) = patch.method {
            spec.method = method;
        }
        if let Some(url) = patch.url {
            spec.url = url;
        }
        if let Some(headers) = patch.headers {
            spec.headers = headers;
        }
        if let Some(format) = patch.format {
            spec.format = format;
        }
        if let Some(payload) = patch.payload {
            spec.payload = payload;
        }
        validate_spec(&webhook.spec)?;
        if let Some(enabled) = patch.enabled {
            set_enabled(&mut webhook, enabled);
        }
        webhook.updated_at = Utc::now();
        self.store.update_webhook(&webhook).await?;
        Ok(WebhookView::of(&webhook, false))
    }

    /// # Errors
    /// 404 unknown webhook.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), ApiError> {
        self.store.delete_webhook(id).await?;
        tracing::info!(webhook_id = id, "webhook deleted");
        Ok(())
    }

    /// # Errors
    /// 404 unknown webhook.
    pub async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookView, ApiError> {
        let mut webhook = self.webhook(id).await?;
        set_enabled(&mut webhook, enabled);
        if !enabled {
            webhook.disabled_reason = Some("disabled by an operator".to_owned());
        }
        webhook.updated_at = Utc::now();
        self.store.update_webhook(&webhook).await?;
        tracing::info!(webhook_id = id, enabled, "webhook switched");
        Ok(WebhookView::of(&webhook, false))
    }

    /// New secret now; the old one keeps signing alongside for 24 h.
    ///
    /// # Errors
    /// 404 unknown webhook.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<WebhookView, ApiError> {
        let mut webhook = self.webhook(id).await?;
        let now = Utc::now();
        let old = std::mem::replace(&mut webhook.secrets.current, generate_secret());
        webhook.secrets.previous = Some(old);
        webhook.secrets.previous_expires_at = Some(now + ROTATION_GRACE);
        webhook.updated_at = now;
        self.store.update_webhook(&webhook).await?;
        tracing::info!(webhook_id = id, "webhook secret rotated");
        Ok(WebhookView::of(&webhook, true))
    }

    /// Send one request now with sample values; recorded like any delivery, marked as a test.
    ///
    /// # Errors
    /// 404 unknown webhook, 503 store down.
    pub async fn test_webhook(&self, id: &str, req: TestRequest) -> Result<TestResult, ApiError> {
        let webhook = self.webhook(id).await?;
        let event_name =
            req.event.or_else(|| webhook.spec.events.first().copied()).unwrap_or(EventName::VersionPublished);
        let body = template::sample_event(event_name);
        let now = Utc::now();
        let event_id = random_id("test");
        let mut delivery = new_delivery(&event_id, &webhook.id, &webhook.app_id, event_name, now);
        delivery.test = true;
        delivery.enqueued = true;
        let event = StoredEvent {
            id: event_id.clone(),
            app_id: webhook.app_id.clone(),
            name: event_name,
            body: serde_json::to_string(&body).map_err(|e| ApiError::unavailable(e.to_string()))?,
            deliveries: vec![DeliveryRef { id: delivery.id.clone(), webhook_id: webhook.id.clone() }],
            state: EventState::Complete,
            lease_until: now,
            received_at: now,
        };
        self.store.create_event(&event, std::slice::from_ref(&delivery)).await?;

        let rendered = template::compile(&webhook.spec)
            .and_then(|c| c.render(&Values::from_event(&body)))
            .map_err(|e| ApiError::invalid_field(&e.location, e.message))?;
        let request = finalize(rendered, &webhook.secrets.active(now), &delivery.id, now)
            .map_err(|e| ApiError::unavailable(format!("webhook secret is unusable: {e}")))?;
        let outcome = self.sender.send(&request).await;
        let attempt = self.deliverer.record_test_attempt(&mut delivery, &outcome, now).await?;
        Ok(TestResult {
            delivery_id: delivery.id,
            request: describe(&request),
            status_code: attempt.status_code,
            error: attempt.error.map(crate::model::AttemptError::as_str),
            error_detail: attempt.error_detail,
            duration_ms: attempt.duration_ms,
            response_body: attempt.response_body,
        })
    }

    // ----- deliveries -----

    /// # Errors
    /// 404 unknown webhook, 400 bad cursor.
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<DeliveryPage, ApiError> {
        self.webhook(webhook_id).await?;
        let status = parse_status(status)?;
        let limit = limit.unwrap_or(PAGE_DEFAULT).clamp(1, 200);
        let page =
            self.store.list_deliveries(webhook_id, status, cursor, limit).await.map_err(|e| match e {
                crate::ports::StoreError::NotFound(_) => ApiError::bad_request("cursor is not valid"),
                other => other.into(),
            })?;
        Ok(DeliveryPage {
            deliveries: page.items.iter().map(|d| DeliveryView::of(d, None)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// # Errors
    /// 404 unknown delivery.
    pub async fn get_delivery(&self, id: &str) -> Result<DeliveryView, ApiError> {
        let delivery = self.delivery(id).await?;
        let attempts = self.store.list_attempts(id).await?;
        Ok(DeliveryView::of(&delivery, Some(&attempts)))
    }

    async fn delivery(&self, id: &str) -> Result<Delivery, ApiError> {
        self.store.get_delivery(id).await?.ok_or_else(|| ApiError::not_found(format!("delivery {id}")))
    }

    /// Start a new attempt series for a finished delivery (same `webhook-id`).
    ///
    /// # Errors
    /// 404 unknown, 409 still pending, 503 queue down.
    pub async fn redeliver(&self, id: &str) -> Result<DeliveryView, ApiError> {
        let mut delivery = self.delivery(id).await?;
        if delivery.status == DeliveryStatus::Pending {
            return Err(ApiError::conflict(format!("delivery {id} is still pending; wait for it to finish")));
        }
        self.requeue(&mut delivery).await?;
        Ok(DeliveryView::of(&delivery, None))
    }

    async fn requeue(&self, delivery: &mut Delivery) -> Result<(), ApiError> {
        delivery.status = DeliveryStatus::Pending;
        delivery.series_start = delivery.attempt_count;
        delivery.enqueued = false;
        delivery.reason = None;
        delivery.updated_at = Utc::now();
        self.store.update_delivery(delivery).await?;
        self.queue.send(&[DeliveryMessage::outgoing(&delivery.id)]).await?;
        self.store.mark_enqueued(std::slice::from_ref(&delivery.id)).await?;
        delivery.enqueued = true;
        tracing::info!(delivery_id = %delivery.id, "redelivery queued");
        Ok(())
    }

    /// Re-enqueue every finished delivery of a webhook with this status (default `failed`)
    /// created at or after `since`. Returns how many.
    ///
    /// # Errors
    /// 404 unknown webhook, 422 bad status or timestamp, 503 store or queue down.
    pub async fn replay(
        &self,
        webhook_id: &str,
        status: Option<&str>,
        since: Option<&str>,
    ) -> Result<usize, ApiError> {
        self.webhook(webhook_id).await?;
        let status = parse_status(status.or(Some("failed")))?;
        if status == Some(DeliveryStatus::Pending) {
            return Err(ApiError::invalid_field("status", "pending deliveries are already queued"));
        }
        let since: Option<DateTime<Utc>> = since
            .map(|s| s.parse().map_err(|_| ApiError::invalid_field("since", "must be an RFC 3339 timestamp")))
            .transpose()?;
        let mut cursor: Option<String> = None;
        let mut replayed = 0;
        loop {
            let page = self.store.list_deliveries(webhook_id, status, cursor.as_deref(), 200).await?;
            let mut older_than_since = false;
            for mut delivery in page.items {
                if since.is_some_and(|s| delivery.created_at < s) {
                    older_than_since = true;
                    break;
                }
                if delivery.status != DeliveryStatus::Pending {
                    self.requeue(&mut delivery).await?;
                    replayed += 1;
                }
            }
            match page.next_cursor {
                Some(next) if !older_than_since => cursor = Some(next),
                _ => break,
            }
        }
        tracing::info!(webhook_id, replayed, "replay queued");
        Ok(replayed)
    }
}

fn set_enabled(webhook: &mut Webhook, enabled: bool) {
    webhook.enabled = enabled;
    if enabled {
        webhook.disabled_reason = None;
        webhook.disabled_at = None;
        webhook.failing_since = None;
    } else {
        webhook.disabled_at = Some(Utc::now());
    }
}

fn dedup(mut events: Vec<EventName>) -> Vec<EventName> {
    events.sort();
    events.dedup();
    events
}

fn parse_status(status: Option<&str>) -> Result<Option<DeliveryStatus>, ApiError> {
    match status.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DeliveryStatus::parse(s)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_field("status", "must be pending, succeeded or failed")),
    }
}
