//! One queue message = one attempt at one delivery. The caller (the Lambda handler or the local
//! worker) turns the outcome into queue operations: delete, or hide until the next retry.
//!
//! Store round trips per attempt: one read ([`AttemptStore::load_attempt_context`]: delivery,
//! webhook and event together) and one write ([`AttemptStore::record_outcomes`]: attempt,
//! delivery state and any health change together). Outcomes that finish at the same time share
//! the write: concurrent attempts queue their outcomes and one of them writes them all (group
//! commit), so the local worker commits one SQLite transaction per batch of outcomes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::oneshot;

use crate::config::SendConfig;
use crate::metrics::{Metrics, catalog};
use crate::model::{
    Attempt, AttemptError, Circuit, CircuitChange, CircuitState, Delivery, DeliveryStatus, EventPayload,
    StoredEvent, Webhook,
};
use crate::ports::{AttemptContext, OutcomeRecord, Sender, Store, StoreError, StoreResult};
use crate::retry::RetrySchedule;
pub use crate::service::attempts::KEPT_BODY_BYTES;
use crate::service::attempts::Tried;
use crate::service::message::DeliveryMessage;
use crate::service::notices::Notices;
use crate::service::send::{PrepareError, prepare_compiled};
use crate::template::TemplateCache;

/// What the queue should do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Finished (succeeded, failed for good, or nothing to do): delete the message.
    Done,
    /// Failed, attempts remain: hide the message this long, then try again.
    RetryIn(Duration),
    /// The webhook's circuit is open: nothing was sent and no attempt used up. Put the message
    /// back as a new one delayed this long (at most [`MAX_DEFER`]) and delete this one, so a long
    /// outage never walks it toward the queue's `maxReceiveCount`.
    Defer(Duration),
}

/// SQS's longest message delay.
pub const MAX_DEFER: Duration = Duration::from_secs(900);

/// How long an instance trusts what it saw of a webhook's open circuit before reading it again.
const CIRCUIT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Something outside the delivery broke (store down): leave the message alone so the queue
/// retries it, and redrives it to the DLQ if it keeps failing.
#[derive(Debug, thiserror::Error)]
#[error("delivery processing failed: {0}")]
pub struct ProcessingError(#[from] pub StoreError);

/// How an attempt changed its webhook's health (written with the attempt, in the same round
/// trip). The one place that decides it is [`Deliver::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    /// Nothing to write.
    Unchanged,
    /// The first failure after a success: the failing streak starts.
    StartedFailing,
    /// The first success after a failing streak.
    Recovered { failing_since: DateTime<Utc> },
    /// Every attempt failed for the auto-disable window: switched off.
    AutoDisabled { failing_since: DateTime<Utc> },
}

/// The outcome of one attempt, decided but not yet written: what to write, what the queue does,
/// and how the webhook's health and circuit changed.
#[derive(Debug, Clone)]
pub struct Decision {
    pub record: OutcomeRecord,
    pub outcome: MessageOutcome,
    pub health: HealthChange,
    pub circuit: CircuitChange,
}

/// A message processed up to its write.
enum Step {
    /// Nothing to write (unreadable, unknown or already finished).
    Finished(MessageOutcome),
    /// Write this, then the message's outcome stands.
    Write(Box<Decision>),
}

/// Outcomes waiting for a write, and the turn to write them: whoever holds `turn` takes every
/// waiting outcome and writes them in one call.
#[derive(Default)]
struct GroupCommit {
    waiting: Mutex<Vec<(OutcomeRecord, oneshot::Sender<StoreResult<()>>)>>,
    turn: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    async fn write(&self, store: &dyn Store, record: OutcomeRecord) -> StoreResult<()> {
        let (tx, mut rx) = oneshot::channel();
        self.lock_waiting().push((record, tx));
        let turn = self.turn.lock().await;
        // A writer before us may have taken ours along.
        if let Ok(result) = rx.try_recv() {
            return result;
        }
        let batch = std::mem::take(&mut *self.lock_waiting());
        if !batch.is_empty() {
            let (records, senders): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let results = store.record_outcomes(&records).await;
            for (sender, result) in senders.into_iter().zip(results) {
                // The waiter may have been cancelled; nothing to tell it then.
                let _ = sender.send(result);
            }
        }
        drop(turn);
        rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("outcome write was abandoned".to_owned())))
    }

    fn lock_waiting(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<(OutcomeRecord, oneshot::Sender<StoreResult<()>>)>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct Deliver {
    store: Arc<dyn Store>,
    sender: Arc<dyn Sender>,
    /// The function's schedule, for webhooks without their own.
    retry: RetrySchedule,
    attempt_retention: Duration,
    auto_disable_after: Duration,
    metrics: Metrics,
    commits: GroupCommit,
    /// Compiled templates per webhook revision: no parsing on the hot path.
    templates: TemplateCache,
    /// The function's send timeout (a probe's claim lasts this plus a margin).
    timeout: Duration,
    /// What this instance last saw or decided of each webhook's circuit, and when: open
    /// circuits defer without a read, and concurrent outcomes for one webhook count on each
    /// other rather than each on the same stale snapshot.
    circuits: Mutex<HashMap<String, (Circuit, Instant)>>,
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
            commits: GroupCommit::default(),
            templates: TemplateCache::default(),
            timeout: send.timeout,
            circuits: Mutex::new(HashMap::new()),
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

    /// Process one queue message body: one read round trip, the request, one write round trip
    /// (shared with the outcomes of concurrent calls that are ready at the same time).
    ///
    /// # Errors
    /// The store failed; the message must stay on the queue untouched.
    pub async fn process(&self, body: &str) -> Result<MessageOutcome, ProcessingError> {
        match self.prepare(body).await? {
            Step::Finished(outcome) => Ok(outcome),
            Step::Write(decision) => {
                self.commits.write(self.store.as_ref(), decision.record.clone()).await?;
                Ok(self.written(&decision))
            }
        }
    }

    /// Process a batch of message bodies, each in its span (its log lines carry the span's
    /// fields, e.g. the correlation id): attempts run concurrently (at most `concurrency` at
    /// once), then every outcome is written in one call. One result per body, in order.
    pub async fn process_all(
        &self,
        records: &[(String, tracing::Span)],
        concurrency: usize,
    ) -> Vec<Result<MessageOutcome, ProcessingError>> {
        use futures::StreamExt;
        use tracing::Instrument;
        let steps: Vec<Result<Step, ProcessingError>> = futures::stream::iter(records)
            .map(|(body, span)| self.prepare(body).instrument(span.clone()))
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let writes: Vec<OutcomeRecord> = steps
            .iter()
            .filter_map(|s| match s {
                Ok(Step::Write(d)) => Some(d.record.clone()),
                _ => None,
            })
            .collect();
        let mut written =
            if writes.is_empty() { Vec::new() } else { self.store.record_outcomes(&writes).await }
                .into_iter();
        steps
            .into_iter()
            .zip(records)
            .map(|(step, (_, span))| match step? {
                Step::Finished(outcome) => Ok(outcome),
                Step::Write(decision) => {
                    written.next().unwrap_or_else(|| {
                        Err(StoreError::Unavailable("store returned too few results".to_owned()))
                    })?;
                    Ok(span.in_scope(|| self.written(&decision)))
                }
            })
            .collect()
    }

    /// Read, check, send and decide; everything but the write.
    async fn prepare(&self, body: &str) -> Result<Step, ProcessingError> {
        let Some(message) = DeliveryMessage::parse(body) else {
            // Can never succeed; keeping it would only feed the DLQ.
            tracing::error!(body_len = body.len(), "unreadable queue message dropped");
            return Ok(Step::Finished(MessageOutcome::Done));
        };
        if let Some(until) = message.webhook_id.as_deref().and_then(|id| self.known_open(id)) {
            return Ok(Step::Finished(defer_until(until)));
        }
        let context = self.load(&message).await?;
        let Some(mut delivery) = context.delivery else {
            tracing::warn!(delivery_id = %message.delivery_id, "message for unknown delivery dropped");
            return Ok(Step::Finished(MessageOutcome::Done));
        };
        if delivery.status != DeliveryStatus::Pending {
            tracing::info!(delivery_id = %delivery.id, status = delivery.status.as_str(), "duplicate message for a finished delivery");
            return Ok(Step::Finished(MessageOutcome::Done));
        }
        let webhook = match context.webhook {
            Some(w) if w.enabled => w,
            Some(_) => return Ok(Step::Write(Box::new(Self::unsent(&mut delivery, "webhook is disabled")))),
            None => return Ok(Step::Write(Box::new(Self::unsent(&mut delivery, "webhook was deleted")))),
        };
        let Some(event) = context.event else {
            return Ok(Step::Write(Box::new(Self::unsent(&mut delivery, "event record is gone"))));
        };
        let mut webhook = webhook;
        let mut probe = false;
        match webhook.circuit.state(Utc::now()) {
            CircuitState::Closed => {}
            CircuitState::Open(until) => {
                self.remember(&webhook.id, &webhook.circuit);
                return Ok(Step::Finished(defer_until(until)));
            }
            CircuitState::HalfOpen => {
                let seen = webhook.circuit.open_until.unwrap_or_else(Utc::now);
                let window = webhook.spec.own_timeout().unwrap_or(self.timeout) + Duration::from_secs(5);
                let until = Utc::now() + TimeDelta::from_std(window).unwrap_or(TimeDelta::minutes(1));
                webhook.circuit.open_until = Some(until);
                if !self.store.claim_probe(&webhook.id, seen, until).await? {
                    // Another attempt is the probe: wait for its verdict.
                    self.remember(&webhook.id, &webhook.circuit);
                    return Ok(Step::Finished(defer_until(until)));
                }
                tracing::info!(webhook_id = %webhook.id, delivery_id = %delivery.id, "circuit half-open: this attempt is the probe");
                probe = true;
            }
        }
        let tried = self.attempt(&delivery, &webhook, &event).await;
        let before = self.notices.is_some().then(|| webhook.clone());
        let decision = self.decide(delivery, webhook, &tried, probe);
        if let (Some(notices), Some(before)) = (&self.notices, before) {
            Self::raise_notices(notices, &decision, &before, tried.at).await?;
        }
        Ok(Step::Write(Box::new(decision)))
    }

    /// Tell the app's other webhooks what this attempt changed, before its own write: if
    /// raising fails the message stays and the attempt runs again, and the notices' ids are
    /// derived from the streak or the attempt, so a second raise is the same event.
    async fn raise_notices(
        notices: &Notices,
        decision: &Decision,
        before: &Webhook,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessingError> {
        let webhook = decision.record.webhook.as_ref().unwrap_or(before);
        match decision.health {
            HealthChange::Recovered { failing_since } => {
                notices.webhook_recovered(webhook, failing_since, at).await?;
            }
            HealthChange::AutoDisabled { .. } => notices.webhook_disabled(webhook, at).await?,
            HealthChange::Unchanged | HealthChange::StartedFailing => {}
        }
        let delivery = &decision.record.delivery;
        if decision.record.attempt.is_some() && delivery.status == DeliveryStatus::Failed {
            let last_error = delivery.reason.as_deref().unwrap_or("failed");
            notices.delivery_failed(delivery, webhook, last_error, at).await?;
        }
        Ok(())
    }

    /// The delivery, webhook and event in one round trip. A message from before messages named
    /// the webhook and event costs one read more.
    async fn load(&self, message: &DeliveryMessage) -> StoreResult<AttemptContext> {
        let id = &message.delivery_id;
        if let (Some(webhook_id), Some(event_id)) = (&message.webhook_id, &message.event_id) {
            return self.store.load_attempt_context(id, webhook_id, event_id).await;
        }
        match self.store.get_delivery(id).await? {
            Some(d) => self.store.load_attempt_context(id, &d.webhook_id, &d.event_id).await,
            None => Ok(AttemptContext { delivery: None, webhook: None, event: None }),
        }
    }

    /// Finish without sending: no attempt, the delivery fails with `why`.
    fn unsent(delivery: &mut Delivery, why: &str) -> Decision {
        tracing::info!(delivery_id = %delivery.id, reason = why, "delivery finished without sending");
        delivery.status = DeliveryStatus::Failed;
        delivery.reason = Some(why.to_owned());
        delivery.updated_at = Utc::now();
        Decision {
            record: OutcomeRecord { attempt: None, delivery: delivery.clone(), webhook: None },
            outcome: MessageOutcome::Done,
            health: HealthChange::Unchanged,
            circuit: CircuitChange::Unchanged,
        }
    }

    /// Render, sign and send. Template problems become an `invalid_request` attempt.
    async fn attempt(&self, delivery: &Delivery, webhook: &Webhook, event: &StoredEvent) -> Tried {
        let at = Utc::now();
        let body = match EventPayload::parse(&event.body) {
            Ok(body) => body,
            Err(err) => return Tried::unsendable(at, format!("stored event is unreadable: {err}")),
        };
        let request = self
            .templates
            .get(webhook)
            .map_err(PrepareError::from)
            .and_then(|compiled| prepare_compiled(webhook, &compiled, &body, &delivery.id, at));
        match request {
            Ok(request) => Tried { outcome: self.sender.send(&request).await, at },
            Err(err) => Tried::unsendable(at, err.to_string()),
        }
    }

    /// The one place an attempt's consequences are decided: the attempt record, the delivery's
    /// new state, what the queue does next, and how the webhook's health changed (written in
    /// the same round trip when it did). `probe`: this attempt claimed the probe of a half-open
    /// circuit.
    #[must_use]
    pub fn decide(
        &self,
        mut delivery: Delivery,
        mut webhook: Webhook,
        tried: &Tried,
        probe: bool,
    ) -> Decision {
        let number = delivery.attempt_count + 1;
        let attempt = tried.record(&delivery.id, number, self.attempt_retention);
        delivery.attempt_count = number;
        delivery.updated_at = Utc::now();
        delivery.next_attempt_at = None;

        let succeeded = tried.succeeded();
        let own_schedule = webhook.spec.own_retry_schedule();
        let health = self.health(&mut webhook, succeeded, tried.at);
        let circuit = self.count_on_circuit(&mut webhook, tried.unreachable(), probe, tried.at);
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
                delivery.next_attempt_at =
                    TimeDelta::from_std(delay).ok().and_then(|d| delivery.updated_at.checked_add_signed(d));
                delivery.reason = Some(reason);
                MessageOutcome::RetryIn(delay)
            } else {
                delivery.status = DeliveryStatus::Failed;
                delivery.reason = Some(if permanent {
                    reason
                } else {
                    format!("{reason}; gave up after {} attempts", delivery.attempts_in_series())
                });
                MessageOutcome::Done
            }
        };
        let webhook =
            (health != HealthChange::Unchanged || circuit != CircuitChange::Unchanged).then_some(webhook);
        Decision {
            record: OutcomeRecord { attempt: Some(attempt), delivery, webhook },
            outcome,
            health,
            circuit,
        }
    }

    /// Auto-disable: a webhook whose attempts have all failed for `auto_disable_after` is
    /// switched off. Changes `webhook` only when the failing streak starts, ends, or runs out.
    fn health(&self, webhook: &mut Webhook, succeeded: bool, at: DateTime<Utc>) -> HealthChange {
        let window = TimeDelta::from_std(self.auto_disable_after).unwrap_or(TimeDelta::MAX);
        let change = match (succeeded, webhook.failing_since) {
            (true, None) => return HealthChange::Unchanged,
            (false, Some(since)) if at - since < window => return HealthChange::Unchanged,
            (true, Some(since)) => {
                webhook.failing_since = None;
                HealthChange::Recovered { failing_since: since }
            }
            (false, None) => {
                webhook.failing_since = Some(at);
                HealthChange::StartedFailing
            }
            (false, Some(since)) => {
                webhook.enabled = false;
                webhook.disabled_at = Some(at);
                webhook.disabled_reason = Some(format!(
                    "auto-disabled: every delivery attempt failed since {}",
                    since.to_rfc3339()
                ));
                tracing::warn!(webhook_id = %webhook.id, failing_since = %since, "webhook auto-disabled");
                HealthChange::AutoDisabled { failing_since: since }
            }
        };
        webhook.updated_at = at;
        change
    }

    fn seen_circuits(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Circuit, Instant)>> {
        self.circuits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open circuit this instance saw for `webhook_id` in the last few seconds, if any.
    fn known_open(&self, webhook_id: &str) -> Option<DateTime<Utc>> {
        let seen = self.seen_circuits();
        let (circuit, at) = seen.get(webhook_id)?;
        match circuit.state(Utc::now()) {
            CircuitState::Open(until) if at.elapsed() < CIRCUIT_CACHE_TTL => Some(until),
            _ => None,
        }
    }

    /// Count the attempt on the webhook's circuit, starting from what this instance decided a
    /// moment ago when that is further along than the stored copy (concurrent attempts read
    /// the same snapshot); under one lock, so concurrent outcomes count on each other.
    fn count_on_circuit(
        &self,
        webhook: &mut Webhook,
        unreachable: bool,
        probe: bool,
        at: DateTime<Utc>,
    ) -> CircuitChange {
        let mut seen = self.seen_circuits();
        let stored = &mut webhook.circuit;
        if let Some((circuit, when)) = seen.get(&webhook.id)
            && when.elapsed() < CIRCUIT_CACHE_TTL
        {
            stored.failures = stored.failures.max(circuit.failures);
            if circuit.open_until > stored.open_until {
                stored.open_until = circuit.open_until;
                stored.cooldown_s = stored.cooldown_s.max(circuit.cooldown_s);
            }
        }
        let change = stored.record(unreachable, probe, at);
        if stored.is_clean() {
            seen.remove(&webhook.id);
        } else {
            if seen.len() >= 1_024 {
                seen.clear();
            }
            seen.insert(webhook.id.clone(), (stored.clone(), Instant::now()));
        }
        drop(seen);
        match change {
            CircuitChange::Opened { until } => {
                tracing::warn!(webhook_id = %webhook.id, open_until = %until, cooldown_s = webhook.circuit.cooldown_s, "circuit opened: deliveries wait without sending");
            }
            CircuitChange::Closed => {
                tracing::info!(webhook_id = %webhook.id, "circuit closed: the receiver answers again");
            }
            CircuitChange::Unchanged | CircuitChange::Counted => {}
        }
        change
    }

    fn remember(&self, webhook_id: &str, circuit: &Circuit) {
        let mut seen = self.seen_circuits();
        if seen.len() >= 1_024 {
            seen.clear();
        }
        seen.insert(webhook_id.to_owned(), (circuit.clone(), Instant::now()));
    }

    /// Log and report a written outcome; the message's outcome stands.
    fn written(&self, decision: &Decision) -> MessageOutcome {
        if let Some(attempt) = &decision.record.attempt {
            report(&self.metrics, attempt, &decision.record.delivery);
        }
        decision.outcome.clone()
    }
}

/// Defer until `until`, spread by up to a tenth so deferred messages do not all come back at
/// once, and capped at what SQS can delay.
fn defer_until(until: DateTime<Utc>) -> MessageOutcome {
    let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    let spread = left.mul_f64(rand::random::<f64>() / 10.0);
    MessageOutcome::Defer((left + spread).clamp(Duration::from_secs(1), MAX_DEFER))
}

fn report(metrics: &Metrics, attempt: &Attempt, delivery: &Delivery) {
    tracing::info!(
        delivery_id = %delivery.id,
        attempt = attempt.number,
        status = delivery.status.as_str(),
        code = attempt.status_code,
        error = attempt.error.map(AttemptError::as_str),
        duration_ms = attempt.duration_ms,
        "delivery attempt"
    );
    metrics.emit(|| catalog::delivery_attempt(attempt, delivery.status));
}
