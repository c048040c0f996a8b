//! Driving the deliverer from a queue: the batch step the Lambda handler uses, the settle step
//! both use, and the local runtime's continuous worker loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{Instrument, Span};

use crate::bounded::BoundedTasks;
use crate::config::MAX_WEBHOOK_TIMEOUT;
use crate::ports::{OutgoingMessage, Queue, ReceivedMessage};
use crate::service::deliver::{Deliver, MessageOutcome, ProcessingError};

/// Messages processed at once from one batch: enough to overlap slow receivers, few enough
/// for a 128 MB function.
pub const BATCH_CONCURRENCY: usize = 10;

/// The most messages one receive may return (SQS's limit, kept by the SQLite queue too).
const RECEIVE_MAX: usize = 10;

/// How long a busy worker waits for more slots to free before a receive, so that one receive
/// (one SQLite transaction) takes several messages instead of one per finished delivery.
const RECEIVE_LINGER: Duration = Duration::from_millis(2);

/// The local worker's default bound on deliveries in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Process every message, concurrently (bounded), returning each outcome in input order;
/// their outcomes are written in one store call. One message's failure never affects another's.
pub async fn process_batch(
    deliverer: &Deliver,
    bodies: Vec<String>,
) -> Vec<Result<MessageOutcome, ProcessingError>> {
    process_batch_in_spans(deliverer, bodies.into_iter().map(|body| (body, Span::none())).collect()).await
}

/// [`process_batch`], each message's work (and so every log line of its attempt) inside its
/// own span, e.g. [`attempt_span`].
pub async fn process_batch_in_spans(
    deliverer: &Deliver,
    records: Vec<(String, Span)>,
) -> Vec<Result<MessageOutcome, ProcessingError>> {
    deliverer.process_all(&records, BATCH_CONCURRENCY).await
}

/// The span one attempt runs in: its event's correlation id (from the queue message) and, on
/// Lambda, the invocation's request id, so every log line of every attempt of a delivery can
/// be found by either.
#[must_use]
pub fn attempt_span(correlation_id: Option<&str>, request_id: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "attempt",
        correlation_id = tracing::field::Empty,
        request_id = tracing::field::Empty
    );
    if let Some(id) = correlation_id {
        span.record("correlation_id", id);
    }
    if let Some(id) = request_id {
        span.record("request_id", id);
    }
    span
}

/// Apply an outcome to the queue: delete a finished message, hide a retried one until its next
/// attempt, leave an errored one alone so its visibility timeout brings it back.
pub async fn settle(
    queue: &dyn Queue,
    message: &ReceivedMessage,
    outcome: &Result<MessageOutcome, ProcessingError>,
) {
    let result = match outcome {
        Ok(MessageOutcome::Done) => queue.delete(&message.receipt_handle).await,
        Ok(MessageOutcome::RetryIn(delay)) => queue.change_visibility(&message.receipt_handle, *delay).await,
        Ok(MessageOutcome::Defer(delay)) => {
            // A new message starts its receive count afresh; if it cannot be sent, waiting
            // through visibility costs one receive, which is bounded by the queue's limit.
            let again = OutgoingMessage {
                body: message.body.clone(),
                delay: *delay,
                correlation_id: message.correlation_id.clone(),
            };
            match queue.send(std::slice::from_ref(&again)).await {
                Ok(()) => queue.delete(&message.receipt_handle).await,
                Err(_) => queue.change_visibility(&message.receipt_handle, *delay).await,
            }
        }
        Err(err) => {
            tracing::warn!(message_id = %message.message_id, error = %err, "message left for the queue to retry");
            Ok(())
        }
    };
    if let Err(err) = result {
        tracing::warn!(message_id = %message.message_id, error = %err, "could not settle message; it will be received again");
    }
}

/// Run `work` for a message received with `visibility`. The visibility is sized for the
/// function's own timeout, so a kill's in-flight messages come back soon; a webhook's own
/// timeout may be longer. Once half of it has passed with `work` still running, the message is
/// hidden again for the longest send there can be, so it is not handed out twice mid-send.
async fn kept_hidden<T>(
    queue: &dyn Queue,
    message: &ReceivedMessage,
    visibility: Duration,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(visibility / 2) => {}
    }
    let longest = (MAX_WEBHOOK_TIMEOUT + Duration::from_secs(5)).max(visibility);
    if let Err(err) = queue.change_visibility(&message.receipt_handle, longest).await {
        tracing::warn!(message_id = %message.message_id, error = %err, "could not keep a slow delivery's message hidden");
    }
    work.await
}

/// How the local worker takes messages from the queue.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// How long a received message stays hidden: longer than one attempt can take, so a
    /// running delivery is never handed out twice, short enough that a killed worker's
    /// messages come back soon.
    pub visibility: Duration,
    /// Deliveries in flight at once. Sends mostly wait on the network, so this is about how
    /// many slow receivers may hold a slot before healthy ones wait, not about CPU.
    pub max_in_flight: usize,
}

/// The local runtime's worker: keep up to `max_in_flight` deliveries running, taking a new
/// message as soon as a slot frees (never waiting for the slowest of a batch), until
/// `shutdown` flips to true. A message is received only when a slot is free for it, so its
/// visibility timeout starts when its delivery starts. In-flight deliveries finish before it
/// returns; anything not settled comes back after its visibility timeout, so a kill loses
/// nothing.
pub async fn run(
    deliverer: Arc<Deliver>,
    queue: Arc<dyn Queue>,
    options: WorkerOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(max_in_flight = options.max_in_flight, "delivery worker started");
    let mut in_flight = BoundedTasks::new(options.max_in_flight);
    while let Some(first) = in_flight.slot(&mut shutdown).await {
        // Take as many messages as there are free slots (SQS's 10 at most per receive).
        let mut slots = vec![first];
        while slots.len() < RECEIVE_MAX
            && let Some(slot) = in_flight.try_slot()
        {
            slots.push(slot);
        }
        // Busy: deliveries finish one at a time, so wait a moment for more of them.
        if slots.len() < RECEIVE_MAX && !in_flight.is_empty() {
            let linger = tokio::time::sleep(RECEIVE_LINGER);
            tokio::pin!(linger);
            while slots.len() < RECEIVE_MAX {
                tokio::select! {
                    slot = in_flight.slot(&mut shutdown) => match slot {
                        Some(slot) => slots.push(slot),
                        // Shutting down: receive nothing more.
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        let received = tokio::select! {
            r = queue.receive(slots.len(), options.visibility, Duration::from_secs(1)) => r,
            _ = shutdown.changed() => break,
        };
        let messages = match received {
            Ok(m) => m,
            Err(err) => {
                tracing::error!(error = %err, "queue receive failed; backing off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Unused slots drop here and free themselves.
        for (message, slot) in messages.into_iter().zip(slots) {
            let (deliverer, queue) = (deliverer.clone(), queue.clone());
            let span = attempt_span(message.correlation_id.as_deref(), None);
            in_flight.spawn(
                slot,
                async move {
                    let work = deliverer.process(&message.body);
                    let outcome = kept_hidden(queue.as_ref(), &message, options.visibility, work).await;
                    settle(queue.as_ref(), &message, &outcome).await;
                }
                .instrument(span),
            );
        }
    }
    if !in_flight.is_empty() {
        tracing::info!(in_flight = in_flight.len(), "delivery worker: finishing in-flight deliveries");
    }
    in_flight.finish().await;
    tracing::info!("delivery worker stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::ports::QueueResult;

    /// Records the visibility changes asked of it; nothing else is called.
    #[derive(Default)]
    struct VisibilityLog(Mutex<Vec<Duration>>);

    #[async_trait]
    impl Queue for VisibilityLog {
        async fn send(&self, _: &[OutgoingMessage]) -> QueueResult<()> {
            unreachable!()
        }
        async fn receive(&self, _: usize, _: Duration, _: Duration) -> QueueResult<Vec<ReceivedMessage>> {
            unreachable!()
        }
        async fn change_visibility(&self, _: &str, visibility: Duration) -> QueueResult<()> {
            self.0.lock().unwrap().push(visibility);
            Ok(())
        }
        async fn delete(&self, _: &str) -> QueueResult<()> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn only_a_send_outlasting_half_the_visibility_hides_its_message_again() {
        let message = ReceivedMessage {
            message_id: "m".into(),
            receipt_handle: "r".into(),
            body: String::new(),
            receive_count: 1,
            correlation_id: None,
        };
        let visibility = Duration::from_millis(400);
        let queue = VisibilityLog::default();
        let quick = kept_hidden(&queue, &message, visibility, async { 1 }).await;
        assert_eq!((quick, queue.0.lock().unwrap().len()), (1, 0));
        let slow = kept_hidden(&queue, &message, visibility, async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            2
        })
        .await;
        assert_eq!(slow, 2);
        assert_eq!(*queue.0.lock().unwrap(), [MAX_WEBHOOK_TIMEOUT + Duration::from_secs(5)]);
    }
}
