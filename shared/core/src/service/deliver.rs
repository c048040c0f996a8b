//! One queue message = one attempt at one delivery. The caller (the Lambda handler or the local
//! worker) turns the outcome into queue operations: delete, or hide until the next retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::SendConfig;
use crate::metrics::{Metrics, catalog};
use crate::model::{AttemptError, Delivery, DeliveryStatus, EventPayload, StoredEvent, Webhook};
use crate::ports::{Sender, Store, StoreError};
use crate::retry::RetrySchedule;
pub use crate::service::attempts::KEPT_BODY_BYTES;
use crate::service::attempts::Tried;
use crate::service::message::DeliveryMessage;
use crate::service::notices::Notices;
use crate::service::send::render_and_send;

/// What the queue should do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Finished (succeeded, failed for good, or nothing to do): delete the message.
    Done,
    /// Failed, attempts remain: hide the message this long, then try again.
    RetryIn(Duration),
}

/// Something outside the delivery broke (store down): leave the message alone so the queue
/// retries it, and redrives it to the DLQ if it keeps failing.
#[derive(Debug, thiserror::Error)]
#[error("delivery processing failed: {0}")]
pub struct ProcessingError(#[from] pub StoreError);

pub struct Deliver {
    store: Arc<dyn Store>,
    sender: Arc<dyn Sender>,
    /// The function's schedule, for webhooks without their own.
    retry: RetrySchedule,
    attempt_retention: Duration,
    auto_disable_after: Duration,
    metrics: Metrics,
    /// Where auto-disables, given-up deliveries and recoveries are raised as operational
    /// events; nowhere when `None`.
    notices: Option<Notices>,
}

impl Deliver {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        sender: Arc<dyn Sender>,
        retry: RetrySchedule,
        send: &SendConfig,
        auto_disable_after: Duration,
    ) -> Self {
        Deliver {
            store,
            sender,
            retry,
            attempt_retention: send.attempt_retention,
            auto_disable_after,
            metrics: Metrics::default(),
            notices: None,
        }
    }

    /// Raise `webhook.disabled`, `delivery.failed` and `webhook.recovered` through `notices`.
    #[must_use]
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = Some(notices);
        self
    }

    /// Report each attempt's outcome and latency to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Process one queue message body.
    ///
    /// # Errors
    /// The store failed; the message must stay on the queue untouched.
    pub async fn process(&self, body: &str) -> Result<MessageOutcome, ProcessingError> {
        let Some(message) = DeliveryMessage::parse(body) else {
            // Can never succeed; keeping it would only feed the DLQ.
            tracing::error!(body_len = body.len(), "unreadable queue message dropped");
            return Ok(MessageOutcome::Done);
        };
        let Some(mut delivery) = self.store.get_delivery(&message.delivery_id).await? else {
            tracing::warn!(delivery_id = %message.delivery_id, "message for unknown delivery dropped");
            return Ok(MessageOutcome::Done);
        };
        if delivery.status != DeliveryStatus::Pending {
            tracing::info!(delivery_id = %delivery.id, status = delivery.status.as_str(), "duplicate message for a finished delivery");
            return Ok(MessageOutcome::Done);
        }
        let webhook = match self.store.get_webhook(&delivery.webhook_id).await? {
            Some(w) if w.enabled => w,
            Some(_) => return self.finish_unsent(&mut delivery, "webhook is disabled").await,
            None => return self.finish_unsent(&mut delivery, "webhook was deleted").await,
        };
        let Some(event) = self.store.get_event(&delivery.event_id).await? else {
            return self.finish_unsent(&mut delivery, "event record is gone").await;
        };

        let tried = self.attempt(&delivery, &webhook, &event).await;
        self.record(&mut delivery, webhook, tried).await
    }

    async fn finish_unsent(
        &self,
        delivery: &mut Delivery,
        why: &str,
    ) -> Result<MessageOutcome, ProcessingError> {
        tracing::info!(delivery_id = %delivery.id, reason = why, "delivery finished without sending");
        delivery.status = DeliveryStatus::Failed;
        delivery.reason = Some(why.to_owned());
        delivery.updated_at = Utc::now();
        self.store.update_delivery(delivery).await?;
        Ok(MessageOutcome::Done)
    }

    /// Render, sign and send. Template problems become an `invalid_request` attempt.
    async fn attempt(&self, delivery: &Delivery, webhook: &Webhook, event: &StoredEvent) -> Tried {
        let at = Utc::now();
        let body = match EventPayload::parse(&event.body) {
            Ok(body) => body,
            Err(err) => return Tried::unsendable(at, format!("stored event is unreadable: {err}")),
        };
        match render_and_send(self.sender.as_ref(), webhook, &body, &delivery.id, at).await {
            Ok((_, outcome)) => Tried { outcome, at },
            Err(err) => Tried::unsendable(at, err.to_string()),
        }
    }

    async fn record(
        &self,
        delivery: &mut Delivery,
        webhook: Webhook,
        tried: Tried,
    ) -> Result<MessageOutcome, ProcessingError> {
        let number = delivery.attempt_count + 1;
        let attempt = tried.record(&delivery.id, number, self.attempt_retention);
        match self.store.record_attempt(&attempt).await {
            // Another worker recorded this number (a duplicate message raced us): keep ours
            // out of the history but carry on; the delivery state below is still right.
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        delivery.attempt_count = number;
        delivery.updated_at = Utc::now();

        delivery.next_attempt_at = None;
        let succeeded = tried.succeeded();
        let own_schedule = webhook.spec.own_retry_schedule();
        self.track_health(&webhook, succeeded, tried.at).await?;
        let outcome = if succeeded {
            delivery.status = DeliveryStatus::Succeeded;
            delivery.reason = None;
            MessageOutcome::Done
        } else {
            let failure = tried.failure();
            let (reason, permanent) = (failure.reason, failure.permanent);
            let next = if permanent {
                None
            } else {
                let schedule = own_schedule.as_ref().unwrap_or(&self.retry);
                schedule.next_delay(delivery.attempts_in_series(), failure.retry_after, &mut rand::rng())
            };
            if let Some(delay) = next {
                delivery.reason = Some(reason);
                delivery.next_attempt_at =
                    TimeDelta::from_std(delay).ok().and_then(|d| delivery.updated_at.checked_add_signed(d));
                MessageOutcome::RetryIn(delay)
            } else {
                delivery.status = DeliveryStatus::Failed;
                let reason = if permanent {
                    reason
                } else {
                    format!("{reason}; gave up after {} attempts", delivery.attempts_in_series())
                };
                if let Some(notices) = &self.notices {
                    notices.delivery_failed(delivery, &webhook, &reason, tried.at).await?;
                }
                delivery.reason = Some(reason);
                MessageOutcome::Done
            }
        };
        self.store.update_delivery(delivery).await?;
        tracing::info!(
            delivery_id = %delivery.id,
            attempt = number,
            status = delivery.status.as_str(),
            code = attempt.status_code,
            error = attempt.error.map(AttemptError::as_str),
            duration_ms = attempt.duration_ms,
            "delivery attempt"
        );
        self.metrics.emit(|| catalog::delivery_attempt(&attempt, delivery.status));
        Ok(outcome)
    }

    /// Auto-disable: a webhook whose attempts have all failed for `auto_disable_after` is
    /// switched off. Writes only when the failing streak starts, ends, or runs out; the end
    /// and the running out are raised as operational events first (see [`Notices`]).
    async fn track_health(
        &self,
        webhook: &Webhook,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessingError> {
        let window = TimeDelta::from_std(self.auto_disable_after).unwrap_or(TimeDelta::MAX);
        match (succeeded, webhook.failing_since) {
            (true, None) => return Ok(()),
            (false, Some(since)) if at - since < window => return Ok(()),
            _ => {}
        }
        let mut webhook = webhook.clone();
        match (succeeded, webhook.failing_since) {
            (true, None) => return Ok(()),
            (true, Some(since)) => {
                webhook.failing_since = None;
                if let Some(notices) = &self.notices {
                    notices.webhook_recovered(&webhook, since, at).await?;
                }
            }
            (false, None) => webhook.failing_since = Some(at),
            (false, Some(since)) if at - since >= window => {
                webhook.enabled = false;
                webhook.disabled_at = Some(at);
                webhook.disabled_reason = Some(format!(
                    "auto-disabled: every delivery attempt failed since {}",
                    since.to_rfc3339()
                ));
                tracing::warn!(webhook_id = %webhook.id, failing_since = %since, "webhook auto-disabled");
                if let Some(notices) = &self.notices {
                    notices.webhook_disabled(&webhook, at).await?;
                }
            }
            (false, Some(_)) => return Ok(()),
        }
        webhook.updated_at = at;
        match self.store.update_webhook(&webhook).await {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}
