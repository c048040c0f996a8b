//! Webhooks: create, list, show, patch, delete, switch, rotate the signing secret, test send.

use chrono::Utc;

use super::{
    CreateWebhook, Manage, ManageError, PatchWebhook, ROTATION_GRACE, TestRequest, TestResult, WebhookView,
};
use crate::ids::random_id;
use crate::model::{Delivery, DeliveryRef, EventName, EventState, StoredEvent, Webhook, WebhookSpec};
use crate::service::attempts::Tried;
use crate::service::outgoing::describe;
use crate::service::send::render_and_send;
use crate::signing::generate_secret;
use crate::template;
use crate::validation::FieldError;

/// Parse every template now, so a bad one is refused when saved, not when it fires.
fn validated(mut spec: WebhookSpec) -> Result<WebhookSpec, FieldError> {
    spec.events.sort();
    spec.events.dedup();
    if spec.events.is_empty() {
        return Err(FieldError::new("events", "subscribe to at least one event"));
    }
    template::compile(&spec).map_err(|e| FieldError::new(e.location, e.message))?;
    Ok(spec)
}

impl Manage {
    /// # Errors
    /// Unknown app, or a template problem naming the field.
    pub async fn create_webhook(&self, app_id: &str, req: CreateWebhook) -> Result<WebhookView, ManageError> {
        self.app(app_id).await?;
        let mut webhook = Webhook::new(app_id, validated(req.spec)?, Utc::now());
        webhook.enabled = req.enabled;
        self.store.create_webhook(&webhook).await?;
        tracing::info!(webhook_id = %webhook.id, app_id, "webhook created");
        Ok(WebhookView::of(&webhook, true))
    }

    /// # Errors
    /// The store is down.
    pub async fn list_webhooks(&self, app_id: &str) -> Result<Vec<WebhookView>, ManageError> {
        let list = self.store.list_webhooks(app_id).await?;
        Ok(list.iter().map(|w| WebhookView::of(w, false)).collect())
    }

    pub(super) async fn webhook(&self, id: &str) -> Result<Webhook, ManageError> {
        self.store.get_webhook(id).await?.ok_or_else(|| ManageError::NotFound(format!("webhook {id}")))
    }

    /// # Errors
    /// Unknown webhook.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookView, ManageError> {
        Ok(WebhookView::of(&self.webhook(id).await?, false))
    }

    /// # Errors
    /// Unknown webhook, or a template problem.
    pub async fn patch_webhook(&self, id: &str, patch: PatchWebhook) -> Result<WebhookView, ManageError> {
        let mut webhook = self.webhook(id).await?;
        webhook.spec = validated(patch.apply(&webhook.spec)?)?;
        let now = Utc::now();
        if let Some(enabled) = patch.enabled {
            webhook.set_enabled(enabled, now);
        }
        webhook.updated_at = now;
        self.store.update_webhook(&webhook).await?;
        Ok(WebhookView::of(&webhook, false))
    }

    /// # Errors
    /// Unknown webhook.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), ManageError> {
        self.store.delete_webhook(id).await?;
        tracing::info!(webhook_id = id, "webhook deleted");
        Ok(())
    }

    /// # Errors
    /// Unknown webhook.
    pub async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<WebhookView, ManageError> {
        let mut webhook = self.webhook(id).await?;
        let now = Utc::now();
        webhook.set_enabled(enabled, now);
        if !enabled {
            webhook.disabled_reason = Some("disabled by an operator".to_owned());
        }
        webhook.updated_at = now;
        self.store.update_webhook(&webhook).await?;
        tracing::info!(webhook_id = id, enabled, "webhook switched");
        Ok(WebhookView::of(&webhook, false))
    }

    /// New secret now; the old one keeps signing alongside for 24 h.
    ///
    /// # Errors
    /// Unknown webhook.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<WebhookView, ManageError> {
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
    /// Unknown webhook, a template that does not render, the store down.
    pub async fn test_webhook(&self, id: &str, req: TestRequest) -> Result<TestResult, ManageError> {
        let webhook = self.webhook(id).await?;
        let event_name =
            req.event.or_else(|| webhook.spec.events.first().copied()).unwrap_or(EventName::VersionPublished);
        let body = template::sample_event(event_name);
        let now = Utc::now();
        let event_id = random_id("test");
        let mut delivery = Delivery::new(&event_id, &webhook.id, &webhook.app_id, event_name, now);
        delivery.test = true;
        delivery.enqueued = true;
        let event = StoredEvent {
            id: event_id,
            app_id: webhook.app_id.clone(),
            name: event_name,
            body: serde_json::to_string(&body).map_err(|e| crate::ports::StoreError::unavailable(e))?,
            deliveries: vec![DeliveryRef { id: delivery.id.clone(), webhook_id: webhook.id.clone() }],
            state: EventState::Complete,
            lease_until: now,
            received_at: now,
        };
        self.store.create_event(&event, std::slice::from_ref(&delivery)).await?;

        let (request, outcome) =
            render_and_send(self.sender.as_ref(), &webhook, &body, &delivery.id, now).await?;
        let attempt = self.test_attempts.record(&mut delivery, &Tried { outcome, at: now }).await?;
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
}
