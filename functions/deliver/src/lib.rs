//! The deliver function: an SQS batch in, a partial batch response out. Each record is one
//! attempt; a record that must be retried gets its visibility set to the retry schedule's
//! next delay and is reported as failed so SQS keeps it.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use patchbay_adapters::backends::EventBackends;
use patchbay_adapters::wiring::{self, InitError};
use patchbay_core::config::DeliverConfig;
use patchbay_core::ports::{OutgoingMessage, Queue};
use patchbay_core::service::deliver::{Deliver, MessageOutcome};
use patchbay_core::service::worker::{attempt_span, process_batch_in_spans};
use tracing::Instrument;

/// The SQS message attribute ingest puts an event's correlation id in.
pub const CORRELATION_ATTRIBUTE: &str = patchbay_adapters::sqs::CORRELATION_ATTRIBUTE;

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
        self.handle_invocation(event, None).await
    }

    /// One batch of the Lambda invocation `request_id`: each record's log lines carry it and
    /// the record's correlation id (message attribute `correlation_id`).
    pub async fn handle_invocation(&self, event: SqsEvent, request_id: Option<&str>) -> SqsBatchResponse {
        let records = event.records;
        let spans: Vec<_> = records.iter().map(|r| attempt_span(correlation_id(r), request_id)).collect();
        let work =
            records.iter().zip(&spans).map(|(r, span)| (r.body.clone().unwrap_or_default(), span.clone()));
        let outcomes = process_batch_in_spans(&self.deliver, work.collect()).await;
        let mut response = SqsBatchResponse::default();
        // Deferred records (open circuit) go back as new messages, all in one send; they then
        // count as done, so Lambda deletes the originals.
        let deferred: Vec<OutgoingMessage> = records
            .iter()
            .zip(&outcomes)
            .filter_map(|(record, outcome)| match outcome {
                Ok(MessageOutcome::Defer(delay)) => Some(OutgoingMessage {
                    body: record.body.clone().unwrap_or_default(),
                    delay: *delay,
                    correlation_id: correlation_id(record).map(str::to_owned),
                }),
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
        for ((record, outcome), span) in records.iter().zip(outcomes).zip(spans) {
            let id = record.message_id.clone().unwrap_or_default();
            let failed = async {
                match outcome {
                    Ok(MessageOutcome::Done) => false,
                    Ok(MessageOutcome::RetryIn(delay)) => {
                        // Hide it until the next attempt; if that fails the message comes back
                        // after the queue's default visibility, which is only earlier, never lost.
                        if let Some(receipt) = record.receipt_handle.as_deref()
                            && let Err(err) = self.queue.change_visibility(receipt, delay).await
                        {
                            tracing::warn!(message_id = %id, error = %err, "could not set retry delay");
                        }
                        true
                    }
                    Err(err) => {
                        tracing::error!(message_id = %id, error = %err, "record failed; SQS will retry it");
                        true
                    }
                    Ok(MessageOutcome::Defer(_)) if requeued => false,
                    Ok(MessageOutcome::Defer(delay)) => {
                        if let Some(receipt) = record.receipt_handle.as_deref()
                            && let Err(err) = self.queue.change_visibility(receipt, delay).await
                        {
                            tracing::warn!(message_id = %id, error = %err, "could not defer");
                        }
                        true
                    }
                }
            }
            .instrument(span)
            .await;
            if failed {
                response.add_failure(id);
            }
        }
        response
    }
}

/// The correlation id ingest put on the record's message, if any.
fn correlation_id(record: &SqsMessage) -> Option<&str> {
    record.message_attributes.get(CORRELATION_ATTRIBUTE).and_then(|a| a.string_value.as_deref())
}
