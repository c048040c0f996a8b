//! The deliver function: an SQS batch in, a partial batch response out. Each record is one
//! attempt; a record that must be retried gets its visibility set to the retry schedule's
//! next delay and is reported as failed so SQS keeps it.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use patchbay_adapters::backends::EventBackends;
use patchbay_adapters::wiring::{self, InitError};
use patchbay_core::config::DeliverConfig;
use patchbay_core::ports::{OutgoingMessage, Queue};
use patchbay_core::service::deliver::{Deliver, MessageOutcome};
use patchbay_core::service::worker::process_batch;

pub struct Handler {
    pub deliver: Arc<Deliver>,
    pub queue: Arc<dyn Queue>,
}

impl Handler {
    /// # Errors
    /// The store cannot be opened, or the HTTP client cannot be built.
    pub async fn from_config(config: &DeliverConfig) -> Result<Handler, InitError> {
        Handler::with_backends(&EventBackends::open(&config.store).await?, config)
    }

    /// # Errors
    /// The HTTP client cannot be built.
    pub fn with_backends(backends: &EventBackends, config: &DeliverConfig) -> Result<Handler, InitError> {
        Ok(Handler { deliver: Arc::new(wiring::deliver(config, backends)?), queue: backends.queue.clone() })
    }

    /// One batch. Never fails as a whole: every record's fate is in the response.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let records = event.records;
        let bodies = records.iter().map(|r| r.body.clone().unwrap_or_default()).collect();
        let outcomes = process_batch(&self.deliver, bodies).await;
        let mut response = SqsBatchResponse::default();
        // Deferred records (open circuit) go back as new messages, all in one send; they then
        // count as done, so Lambda deletes the originals.
        let deferred: Vec<OutgoingMessage> = records
            .iter()
            .zip(&outcomes)
            .filter_map(|(record, outcome)| match outcome {
                Ok(MessageOutcome::Defer(delay)) => {
                    Some(OutgoingMessage { body: record.body.clone().unwrap_or_default(), delay: *delay })
                }
                _ => None,
            })
            .collect();
        let requeued = deferred.is_empty()
            || {
                let sent = self.queue.send(&deferred).await;
                if let Err(err) = &sent {
                    tracing::warn!(error = %err, "could not re-send deferred records; they wait through visibility");
                }
                sent.is_ok()
            };
        for (record, outcome) in records.iter().zip(outcomes) {
            let id = record.message_id.clone().unwrap_or_default();
            match outcome {
                Ok(MessageOutcome::Done) => {}
                Ok(MessageOutcome::RetryIn(delay)) => {
                    // Hide it until the next attempt; if that fails the message comes back
                    // after the queue's default visibility, which is only earlier, never lost.
                    if let Some(receipt) = record.receipt_handle.as_deref()
                        && let Err(err) = self.queue.change_visibility(receipt, delay).await
                    {
                        tracing::warn!(message_id = %id, error = %err, "could not set retry delay");
                    }
                    response.add_failure(id);
                }
                Ok(MessageOutcome::Defer(_)) if requeued => {}
                Ok(MessageOutcome::Defer(delay)) => {
                    if let Some(receipt) = record.receipt_handle.as_deref()
                        && let Err(err) = self.queue.change_visibility(receipt, delay).await
                    {
                        tracing::warn!(message_id = %id, error = %err, "could not defer");
                    }
                    response.add_failure(id);
                }
                Err(err) => {
                    tracing::error!(message_id = %id, error = %err, "record failed; SQS will retry it");
                    response.add_failure(id);
                }
            }
        }
        response
    }
}
