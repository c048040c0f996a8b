//! One queue message = one attempt at one delivery. The caller (the Lambda handler or the local
//! worker) turns the outcome into queue operations: delete, or hide until the next retry.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::SendConfig;
use crate::model::{Attempt, AttemptError, Delivery, DeliveryStatus, EventBody, StoredEvent, Webhook};
use crate::ports::{HttpResponse, SendFailure, SendOutcome, Sender, Store, StoreError};
use crate::retry::{RetrySchedule, parse_retry_after};
use crate::service::message::DeliveryMessage;
use crate::service::outgoing::finalize;
use crate::template::{self, Values};

/// How many bytes of a response body are kept on the attempt record.
pub const KEPT_BODY_BYTES: usize = 4 * 1024;

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

pub struct Deliverer {
    store: Arc<dyn Store>,
    sender: Arc<dyn Sender>,
    retry: RetrySchedule,
    attempt_retention: Duration,
    auto_disable_after: Duration,
}

/// The result of one attempt, before it is written down.
struct Tried {
    outcome: SendOutcome,
    at: DateTime<Utc>,
}

impl Deliverer {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        sender: Arc<dyn Sender>,
        retry: RetrySchedule,
        send: &SendConfig,
        auto_disable_after: Duration,
    ) -> Self {
        Deliverer { store, sender, retry, attempt_retention: send.attempt_retention, auto_disable_after }
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
        let values = match serde_json::from_str::<EventBody>(&event.body) {
            Ok(body) => Values::from_event(&body),
            Err(err) => return invalid(at, format!("stored event is unreadable: {err}")),
        };
        let rendered = match template::compile(&webhook.spec).and_then(|c| c.render(&values)) {
            Ok(r) => r,
            Err(err) => return invalid(at, err.to_string()),
        };
        let request = match finalize(rendered, &webhook.secrets.active(at), &delivery.id, at) {
            Ok(r) => r,
            Err(err) => return invalid(at, format!("signing secret: {err}")),
        };
        Tried { outcome: self.sender.send(&request).await, at }
    }

    async fn record(
        &self,
        delivery: &mut Delivery,
        webhook: Webhook,
        tried: Tried,
    ) -> Result<MessageOutcome, ProcessingError> {
        let number = delivery.attempt_count + 1;
        let attempt = attempt_record(&delivery.id, number, &tried, self.attempt_retention);
        match self.store.record_attempt(&attempt).await {
            // Another worker recorded this number (a duplicate message raced us): keep ours
            // out of the history but carry on; the delivery state below is still right.
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
        delivery.attempt_count = number;
        delivery.updated_at = Utc::now();

        let succeeded = matches!(&tried.outcome.result, Ok(r) if (200..300).contains(&r.status));
        self.track_health(webhook, succeeded, tried.at).await?;
        let outcome = if succeeded {
            delivery.status = DeliveryStatus::Succeeded;
            delivery.reason = None;
            MessageOutcome::Done
        } else {
            let (reason, permanent, retry_after) = failure_summary(&tried.outcome, tried.at);
            let next = if permanent {
                None
            } else {
                self.retry.next_delay(delivery.attempts_in_series(), retry_after, &mut rand::rng())
            };
            match next {
                Some(delay) => {
                    delivery.reason = Some(reason);
                    MessageOutcome::RetryIn(delay)
                }
                None => {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.reason = Some(if permanent {
                        reason
                    } else {
                        format!("{reason}; gave up after {} attempts", delivery.attempts_in_series())
                    });
                    MessageOutcome::Done
                }
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
        Ok(outcome)
    }

    /// Record a test send (management API): one attempt, no retries, no effect on the
    /// webhook's health.
    ///
    /// # Errors
    /// The store failed.
    pub async fn record_test_attempt(
        &self,
        delivery: &mut Delivery,
        outcome: &SendOutcome,
        at: DateTime<Utc>,
    ) -> Result<Attempt, StoreError> {
        let tried = Tried { outcome: outcome.clone(), at };
        delivery.attempt_count += 1;
        let attempt = attempt_record(&delivery.id, delivery.attempt_count, &tried, self.attempt_retention);
        self.store.record_attempt(&attempt).await?;
        let succeeded = matches!(&outcome.result, Ok(r) if (200..300).contains(&r.status));
        delivery.status = if succeeded { DeliveryStatus::Succeeded } else { DeliveryStatus::Failed };
        delivery.reason = (!succeeded).then(|| failure_summary(outcome, at).0);
        delivery.updated_at = Utc::now();
        self.store.update_delivery(delivery).await?;
        Ok(attempt)
    }

    /// Auto-disable: a webhook whose attempts have all failed for `auto_disable_after` is
    /// switched off. Writes only when the failing streak starts, ends, or runs out.
    async fn track_health(
        &self,
        mut webhook: Webhook,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessingError> {
        let window = TimeDelta::from_std(self.auto_disable_after).unwrap_or(TimeDelta::MAX);
        match (succeeded, webhook.failing_since) {
            (true, None) => return Ok(()),
            (true, Some(_)) => webhook.failing_since = None,
            (false, None) => webhook.failing_since = Some(at),
            (false, Some(since)) if at - since >= window => {
                webhook.enabled = false;
                webhook.disabled_at = Some(at);
                webhook.disabled_reason = Some(format!(
                    "auto-disabled: every delivery attempt failed since {}",
                    since.to_rfc3339()
                ));
                tracing::warn!(webhook_id = %webhook.id, failing_since = %since, "webhook auto-disabled");
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

fn invalid(at: DateTime<Utc>, detail: String) -> Tried {
    Tried {
        outcome: SendOutcome {
            duration: Duration::ZERO,
            result: Err(SendFailure { kind: AttemptError::InvalidRequest, detail }),
        },
        at,
    }
}

/// (reason, permanent, Retry-After delay)
fn failure_summary(outcome: &SendOutcome, now: DateTime<Utc>) -> (String, bool, Option<Duration>) {
    match &outcome.result {
        Ok(HttpResponse { status, retry_after, .. }) => (
            format!("receiver answered {status}"),
            false,
            retry_after.as_deref().and_then(|v| parse_retry_after(v, now)),
        ),
        Err(failure) => (failure.to_string(), failure.kind.is_permanent(), None),
    }
}

fn attempt_record(delivery_id: &str, number: u32, tried: &Tried, retention: Duration) -> Attempt {
    let (status_code, error, error_detail, response_body, retry_after) = match &tried.outcome.result {
        Ok(r) => (Some(r.status), None, None, Some(kept_body(&r.body)), r.retry_after.clone()),
        Err(f) => (None, Some(f.kind), Some(f.detail.clone()), None, None),
    };
    Attempt {
        delivery_id: delivery_id.to_owned(),
        number,
        at: tried.at,
        duration_ms: u64::try_from(tried.outcome.duration.as_millis()).unwrap_or(u64::MAX),
        status_code,
        error,
        error_detail,
        response_body,
        retry_after,
        expires_at: tried.at + TimeDelta::from_std(retention).unwrap_or(TimeDelta::days(30)),
    }
}

/// The first 4 KiB, cut on a character boundary.
fn kept_body(body: &[u8]) -> String {
    let mut kept = &body[..body.len().min(KEPT_BODY_BYTES)];
    // A character the cut split in two leaves an incomplete sequence at the very end: drop it
    // rather than decode it to U+FFFD (which would also push the text past 4 KiB).
    if let Some(last) = kept.utf8_chunks().last()
        && std::str::from_utf8(last.invalid()).is_err_and(|e| e.error_len().is_none())
    {
        kept = &kept[..kept.len() - last.invalid().len()];
    }
    String::from_utf8_lossy(kept).into_owned()
}
