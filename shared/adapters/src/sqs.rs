//! The delivery queue on SQS. No SDK type leaves this module except the `Client` handed to
//! [`SqsQueue::new`].
//!
//! Limits SQS imposes and this adapter passes on: a delay is at most 15 minutes (longer ones are
//! cut to 900 s); a visibility timeout at most 12 hours (longer ones are cut to 43 200 s), and
//! SQS also refuses a `change_visibility` that would keep a message hidden past 12 hours after
//! it was first received (that comes back as `QueueError::Unavailable`). Sub-second durations
//! round up to whole seconds.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry};
use futures::{StreamExt, TryStreamExt, stream};
use patchbay_core::ports::{OutgoingMessage, Queue, QueueError, QueueResult, ReceivedMessage};

/// SQS takes at most 10 messages per batch and per receive.
const BATCH: usize = 10;
/// The longest delay SQS allows on a message (15 minutes).
const MAX_DELAY_SECS: u64 = 900;
/// The longest visibility timeout SQS allows (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// The longest long-poll SQS allows.
const MAX_WAIT_SECS: u64 = 20;
/// Batches sent at once by one `send`.
const SEND_CONCURRENCY: usize = 4;
/// The message attribute that carries an event's correlation id (what the deliver function
/// reads from its SQS records too).
pub const CORRELATION_ATTRIBUTE: &str = "correlation_id";

/// A standard SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    #[must_use]
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue { client, queue_url: queue_url.into() }
    }

    #[must_use]
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn send_batch(&self, batch: &[OutgoingMessage]) -> QueueResult<()> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .delay_seconds(secs_i32(m.delay, MAX_DELAY_SECS));
                let entry = match m.correlation_id.as_deref().filter(|id| !id.is_empty()) {
                    Some(id) => entry.message_attributes(
                        CORRELATION_ATTRIBUTE,
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(id)
                            .build()
                            .map_err(|e| QueueError::Unavailable(format!("building an attribute: {e}")))?,
                    ),
                    None => entry,
                };
                entry.build().map_err(|e| QueueError::Unavailable(format!("building a batch entry: {e}")))
            })
            .collect::<QueueResult<Vec<_>>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(first) = out.failed().first() {
            return Err(QueueError::Unavailable(format!(
                "{} of {} messages not sent: {} {}",
                out.failed().len(),
                batch.len(),
                first.code(),
                first.message().unwrap_or_default()
            )));
        }
        Ok(())
    }
}

/// Whole seconds, rounded up (a delay or timeout is never shortened), clamped to `max`.
fn secs_i32(d: Duration, max: u64) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

fn unavailable<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    QueueError::Unavailable(DisplayErrorContext(err).to_string())
}

/// SQS says a receipt handle is no good in several ways: malformed or unknown
/// (`ReceiptHandleIsInvalid`), no longer in flight (`MessageNotInflight`, the visibility ran
/// out), or `InvalidParameterValue` naming the receipt handle (a deleted message).
fn receipt_error<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: fmt::Debug,
{
    let stale = err.as_service_error().is_some_and(|e| match e.code() {
        Some(
            "ReceiptHandleIsInvalid"
            | "AWS.SimpleQueueService.ReceiptHandleIsInvalid"
            | "MessageNotInflight"
            | "AWS.SimpleQueueService.MessageNotInflight"
            | "InvalidIdFormat",
        ) => true,
        Some("InvalidParameterValue") => {
            e.message().is_some_and(|m| m.to_ascii_lowercase().contains("receipthandle"))
        }
        _ => false,
    });
    if stale { QueueError::InvalidReceipt } else { unavailable(err) }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> QueueResult<()> {
        let batches: Vec<_> = messages.chunks(BATCH).map(|batch| self.send_batch(batch)).collect();
        stream::iter(batches).buffer_unordered(SEND_CONCURRENCY).try_collect::<Vec<()>>().await.map(|_| ())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, BATCH)).unwrap_or(1))
            .visibility_timeout(secs_i32(visibility, MAX_VISIBILITY_SECS))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(MAX_WAIT_SECS)).unwrap_or(0))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(CORRELATION_ATTRIBUTE)
            .send()
            .await
            .map_err(unavailable)?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let correlation_id = m
                    .message_attributes()
                    .and_then(|a| a.get(CORRELATION_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                match (m.message_id, m.receipt_handle) {
                    (Some(message_id), Some(receipt_handle)) => Ok(ReceivedMessage {
                        message_id,
                        receipt_handle,
                        body: m.body.unwrap_or_default(),
                        receive_count,
                        correlation_id,
                    }),
                    _ => Err(QueueError::Unavailable("message without id or receipt handle".into())),
                }
            })
            .collect()
    }

    async fn change_visibility(&self, receipt_handle: &str, visibility: Duration) -> QueueResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs_i32(visibility, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map(|_| ())
            .map_err(receipt_error)
    }

    async fn delete(&self, receipt_handle: &str) -> QueueResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(receipt_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up_and_clamp() {
        assert_eq!(secs_i32(Duration::ZERO, MAX_DELAY_SECS), 0);
        assert_eq!(secs_i32(Duration::from_millis(1500), MAX_DELAY_SECS), 2);
        assert_eq!(secs_i32(Duration::from_secs(3600), MAX_DELAY_SECS), 900);
        assert_eq!(secs_i32(Duration::from_secs(86_400), MAX_VISIBILITY_SECS), 43_200);
    }
}
