//! Webhooks: create, list, show, patch, delete, switch, rotate the signing secret, test send.

use chrono::Utc;

use super::{
    CreateWebhook, Manage, ManageError, PatchWebhook, PreviewWebhook, ROTATION_GRACE, TestRequest,
    TestResult, WebhookPreview, WebhookView,
};
use crate::config::{MAX_RECEIVE_COUNT, MAX_WEBHOOK_TIMEOUT};
use crate::ids::random_id;
use crate::model::{Delivery, DeliveryRef, EventName, EventState, StoredEvent, Webhook, WebhookSpec};
use crate::retry::{RetrySchedule, parse_duration};
use crate::service::attempts::Tried;
use crate::service::outgoing::{describe, finalize};
use crate::service::send::render_and_send;
use crate::signing::generate_secret;
use crate::template;
use crate::validation::FieldError;

/// Longest URL a webhook may send, after rendering (receivers and proxies refuse longer ones).
pub const MAX_URL_BYTES: usize = 2 * 1024;
/// Most headers a webhook may add.
pub const MAX_HEADERS: usize = 50;
/// Longest header value a webhook may add (a typical server's whole header limit).
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;

/// Parse every template now, and render it with each subscribed event's sample values, so a
/// webhook that could never be delivered is refused when saved, not when it fires.
fn validated(mut spec: WebhookSpec) -> Result<WebhookSpec, FieldError> {
    spec.events.sort();
    spec.events.dedup();
    if spec.events.is_empty() {
        return Err(FieldError::new("events", "subscribe to at least one event"));
    }
    if spec.url.len() > MAX_URL_BYTES {
        return Err(FieldError::new("url", format!("must be at most {MAX_URL_BYTES} bytes")));
    }
    if spec.headers.len() > MAX_HEADERS {
        return Err(FieldError::new("headers", format!("at most {MAX_HEADERS} headers")));
    }
    if let Some((name, _)) = spec.headers.iter().find(|(_, value)| value.len() > MAX_HEADER_VALUE_BYTES) {
        return Err(FieldError::new(
            format!("headers.{name}"),
            format!("must be at most {MAX_HEADER_VALUE_BYTES} bytes"),
        ));
    }
    check_overrides(&spec)?;
    let compiled = template::compile(&spec).map_err(|e| FieldError::new(e.location, e.message))?;
    let (rendered_len, event) = compiled.longest_sample_url();
    if rendered_len > MAX_URL_BYTES {
        return Err(FieldError::new(
            "url",
            format!("renders to {rendered_len} bytes with {event}'s sample values; at most {MAX_URL_BYTES}"),
        ));
    }
    Ok(spec)
}

/// A webhook's own timeout and retry schedule, in the syntax of `PATCHBAY_DELIVERY_TIMEOUT`
/// and `PATCHBAY_RETRY_SCHEDULE`, within what the queue and the deliver function can honour.
fn check_overrides(spec: &WebhookSpec) -> Result<(), FieldError> {
    if let Some(text) = &spec.timeout {
        match parse_duration(text) {
            None => {
                return Err(FieldError::new(
                    "timeout",
                    format!("{text:?} is not a duration like 10s or 500ms"),
                ));
            }
            Some(d) if d.is_zero() => return Err(FieldError::new("timeout", "must be longer than zero")),
            Some(d) if d > MAX_WEBHOOK_TIMEOUT => {
                return Err(FieldError::new(
                    "timeout",
                    format!(
                        "must be at most {}s (the deliver function's limit)",
                        MAX_WEBHOOK_TIMEOUT.as_secs()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(text) = &spec.retry_schedule {
        let schedule =
            RetrySchedule::parse(text).map_err(|e| FieldError::new("retry_schedule", e.to_string()))?;
        if schedule.max_attempts() >= MAX_RECEIVE_COUNT {
            return Err(FieldError::new(
                "retry_schedule",
                format!(
                    "gives {} attempts; at most {} delays ({} attempts), below the delivery queue's maxReceiveCount of {MAX_RECEIVE_COUNT}",
                    schedule.max_attempts(),
                    MAX_RECEIVE_COUNT - 2,
                    MAX_RECEIVE_COUNT - 1,
                ),
            ));
        }
    }
    Ok(())
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
        self.store.get_webhook(id).await?.ok_or_else(|| super::owners::webhook_not_found(id))
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

    /// New secret now; each replaced one keeps signing alongside for 24 h after it was
    /// replaced (at most five at once).
    ///
    /// # Errors
    /// Unknown webhook.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<WebhookView, ManageError> {
        let mut webhook = self.webhook(id).await?;
        let now = Utc::now();
        webhook.secrets.rotate(generate_secret(), now, ROTATION_GRACE);
        webhook.updated_at = now;
        self.store.update_webhook(&webhook).await?;
        tracing::info!(webhook_id = id, "webhook secret rotated");
        Ok(WebhookView::of(&webhook, true))
    }

    /// What a webhook would send, rendered with the test-send sample values of `req.event` (the
    /// webhook's first event by default) and checked as a save would check it: the console's
    /// live preview. Nothing is stored or sent; the signature headers are added when sent.
    ///
    /// # Errors
    /// Unknown app, or a problem naming the field, as creating it would answer.
    pub async fn preview_webhook(
        &self,
        app_id: &str,
        req: PreviewWebhook,
    ) -> Result<WebhookPreview, ManageError> {
        self.app(app_id).await?;
        let spec = validated(req.spec)?;
        let event = req.event.or_else(|| spec.events.first().copied()).unwrap_or(EventName::VersionPublished);
        let rendered = template::compile(&spec)
            .and_then(|compiled| compiled.render(&template::Values::sample(event)))
            .map_err(|e| FieldError::new(e.location, e.message))?;
        let request = finalize(rendered, &[], "msg_preview", Utc::now())
            .map_err(|e| ManageError::UnusableSecret(e.to_string()))?;
        Ok(WebhookPreview { event, request: describe(&request) })
    }

    /// Send one request now with sample values; recorded like any delivery, marked as a test.
    ///
    /// # Errors
    /// Unknown webhook, a template that does not render, the store down.
    pub async fn test_webhook(&self, id: &str, req: TestRequest) -> Result<TestResult, ManageError> {
        let webhook = self.webhook(id).await?;
        let event_name =
            req.event.or_else(|| webhook.spec.events.first().copied()).unwrap_or(EventName::VersionPublished);
        let body = template::sample_payload(event_name);
        let now = Utc::now();
        let event_id = random_id("test");
        let mut delivery = Delivery::new(&event_id, &webhook.id, &webhook.app_id, event_name, now);
        delivery.test = true;
        delivery.enqueued = true;
        let event = StoredEvent {
            id: event_id,
            app_id: webhook.app_id.clone(),
            name: event_name,
            body: body.to_json().map_err(crate::ports::StoreError::unavailable)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::manage::CreateWebhook;

    fn spec(extra: serde_json::Value) -> WebhookSpec {
        let mut body = serde_json::json!({"events": ["version_published"], "method": "GET", "url": "https://example.com/hook"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        CreateWebhook::from_json(body).unwrap().spec
    }

    #[test]
    fn webhooks_that_could_never_deliver_are_refused_by_field() {
        assert!(validated(spec(serde_json::json!({}))).is_ok());
        let long_url = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(validated(spec(serde_json::json!({"url": long_url}))).unwrap_err().field, "url");
        let headers: serde_json::Map<_, _> =
            (0..=MAX_HEADERS).map(|i| (format!("X-H{i}"), serde_json::json!("v"))).collect();
        assert_eq!(validated(spec(serde_json::json!({"headers": headers}))).unwrap_err().field, "headers");
        let big = "v".repeat(MAX_HEADER_VALUE_BYTES + 1);
        assert_eq!(
            validated(spec(serde_json::json!({"headers": {"X-Big": big}}))).unwrap_err().field,
            "headers.X-Big"
        );
        // A GET sends its payload in the query string: a large one makes the URL too long.
        let payload = serde_json::json!({"changes": "{{version.changes}}", "pad": "p".repeat(MAX_URL_BYTES)});
        let err = validated(spec(serde_json::json!({"payload": payload}))).unwrap_err();
        assert_eq!(err.field, "url", "{err}");
    }

    #[test]
    fn overrides_stay_within_the_queue_and_the_function() {
        let ok =
            validated(spec(serde_json::json!({"timeout": "10s", "retry_schedule": "30s,2m,10m"}))).unwrap();
        assert_eq!(ok.own_timeout(), Some(std::time::Duration::from_secs(10)));
        assert_eq!(ok.own_retry_schedule().unwrap().max_attempts(), 4);
        let longest = vec!["12h"; usize::try_from(MAX_RECEIVE_COUNT).unwrap() - 2].join(",");
        assert!(validated(spec(serde_json::json!({"timeout": "60s", "retry_schedule": longest}))).is_ok());
        for (extra, field) in [
            (serde_json::json!({"timeout": "61s"}), "timeout"),
            (serde_json::json!({"timeout": "0ms"}), "timeout"),
            (serde_json::json!({"timeout": "ten"}), "timeout"),
            (serde_json::json!({"retry_schedule": "1s,12h1s"}), "retry_schedule"),
            (serde_json::json!({"retry_schedule": "1s,13h"}), "retry_schedule"),
            (serde_json::json!({"retry_schedule": vec!["1s"; 19].join(",")}), "retry_schedule"),
            (serde_json::json!({"retry_schedule": " , "}), "retry_schedule"),
        ] {
            assert_eq!(validated(spec(extra.clone())).unwrap_err().field, field, "{extra}");
        }
    }
}
