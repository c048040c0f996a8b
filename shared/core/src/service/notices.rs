//! Operational events: when a webhook is auto-disabled, gives up on a delivery, or recovers,
//! the app's other webhooks subscribed to `webhook.disabled`, `delivery.failed` or
//! `webhook.recovered` hear about it. They go through the same fan-out as the pipeline's
//! events (recorded, queued, signed, retried), never to the webhook they are about.
//!
//! Each occurrence has a derived event id (the webhook and the start of its failing streak, or
//! the delivery and its attempt count), so when the deliver step is retried after a store or
//! queue failure, the second raise finds the first record instead of sending twice.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{
    AppInfo, Delivery, EventName, EventPayload, FailedDelivery, OperationalBody, Webhook, WebhookInfo,
};
use crate::ports::{Queue, Store, StoreError};
use crate::service::ingest::{FanOut, IngestError, NewEvent};

/// Raises operational events for the deliver use case.
#[derive(Clone)]
pub struct Notices {
    store: Arc<dyn Store>,
    fan_out: FanOut,
}

impl Notices {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Self {
        Notices { fan_out: FanOut::new(store.clone(), queue), store }
    }

    /// `webhook` was just auto-disabled (its `disabled_reason` and `failing_since` set).
    ///
    /// # Errors
    /// The store or queue failed; raising again later is safe.
    pub async fn webhook_disabled(&self, webhook: &Webhook, at: DateTime<Utc>) -> Result<(), StoreError> {
        let id = streak_id("webhook.disabled", webhook, webhook.failing_since.unwrap_or(at));
        self.raise(EventName::WebhookDisabled, id, webhook, webhook.failing_since, None, at).await
    }

    /// `webhook` succeeded after failing since `failing_since`.
    ///
    /// # Errors
    /// As [`Self::webhook_disabled`].
    pub async fn webhook_recovered(
        &self,
        webhook: &Webhook,
        failing_since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = streak_id("webhook.recovered", webhook, failing_since);
        self.raise(EventName::WebhookRecovered, id, webhook, Some(failing_since), None, at).await
    }

    /// `delivery` to `webhook` failed for good with `last_error`. Deliveries of operational
    /// events raise nothing, so two failing webhooks cannot keep telling each other.
    ///
    /// # Errors
    /// As [`Self::webhook_disabled`].
    pub async fn delivery_failed(
        &self,
        delivery: &Delivery,
        webhook: &Webhook,
        last_error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if delivery.event_name.is_operational() {
            return Ok(());
        }
        let id = format!("delivery.failed:{}:{}", delivery.id, delivery.attempt_count);
        let failed = FailedDelivery {
            id: delivery.id.clone(),
            event_id: delivery.event_id.clone(),
            event_name: delivery.event_name,
            attempts: delivery.attempts_in_series(),
            last_error: last_error.to_owned(),
        };
        let failing_since = webhook.failing_since.or(Some(at));
        self.raise(EventName::DeliveryFailed, id, webhook, failing_since, Some(failed), at).await
    }

    async fn raise(
        &self,
        name: EventName,
        id: String,
        webhook: &Webhook,
        failing_since: Option<DateTime<Utc>>,
        delivery: Option<FailedDelivery>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Most apps subscribe to none of these: find out before reading or writing anything.
        let listeners = self.store.list_webhooks(&webhook.app_id).await?;
        if !listeners.iter().any(|w| w.id != webhook.id && w.fires_on(name)) {
            return Ok(());
        }
        let app = match self.store.get_app(&webhook.app_id).await? {
            Some(app) => AppInfo {
                id: app.id,
                name: Some(app.name),
                display_name: Some(app.display_name),
                ..AppInfo::default()
            },
            None => AppInfo { id: webhook.app_id.clone(), ..AppInfo::default() },
        };
        let body = OperationalBody {
            event: name,
            app,
            webhook: WebhookInfo {
                id: webhook.id.clone(),
                url: webhook.spec.url.split(['?', '#']).next().unwrap_or_default().to_owned(),
                failing_since,
                disabled_reason: webhook.disabled_reason.clone(),
            },
            delivery,
            occurred_at: at,
        };
        let body = EventPayload::Operational(body).to_json().map_err(StoreError::unavailable)?;
        let event = NewEvent {
            id: id.clone(),
            app_id: webhook.app_id.clone(),
            name,
            body,
            except_webhook: Some(webhook.id.clone()),
        };
        match self.fan_out.publish(event, at).await {
            Ok(_) => {
                tracing::info!(event_id = %id, webhook_id = %webhook.id, event = %name, "operational event raised");
                Ok(())
            }
            Err(IngestError::Store(err)) => Err(err),
            Err(err) => Err(StoreError::Unavailable(format!("raising {name}: {err}"))),
        }
    }
}

/// One id per webhook and failing streak.
fn streak_id(prefix: &str, webhook: &Webhook, since: DateTime<Utc>) -> String {
    format!("{prefix}:{}:{}", webhook.id, since.to_rfc3339_opts(SecondsFormat::Millis, true))
}
