//! Driving the deliverer from a queue: the batch step both the Lambda handler and the local
//! worker loop use, and the loop itself for the local runtime.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::ports::{Queue, ReceivedMessage};
use crate::service::deliver::{Deliver, MessageOutcome, ProcessingError};

/// Messages processed at once from one batch: enough to overlap slow receivers, few enough
/// for a 128 MB function.
pub const BATCH_CONCURRENCY: usize = 10;

/// Process every message, concurrently (bounded), returning each outcome in input order.
/// One message's failure never affects another's.
pub async fn process_batch(
    deliverer: &Deliver,
    bodies: Vec<String>,
) -> Vec<Result<MessageOutcome, ProcessingError>> {
    // Owned bodies keep the future `Send` for `tokio::spawn` (borrowed ones trip a
    // higher-ranked lifetime limitation of the compiler).
    futures::stream::iter(bodies)
        .map(|body| async move { deliverer.process(&body).await })
        .buffered(BATCH_CONCURRENCY)
        .collect()
        .await
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
        Err(err) => {
            tracing::warn!(message_id = %message.message_id, error = %err, "message left for the queue to retry");
            Ok(())
        }
    };
    if let Err(err) = result {
        tracing::warn!(message_id = %message.message_id, error = %err, "could not settle message; it will be received again");
    }
}

/// The local runtime's worker: long-poll, process, settle, until `shutdown` flips to true.
/// In-flight messages finish before it returns; anything not settled comes back after its
/// visibility timeout, so a kill loses nothing.
pub async fn run(
    deliverer: Arc<Deliver>,
    queue: Arc<dyn Queue>,
    visibility: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!("delivery worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let received = tokio::select! {
            r = queue.receive(10, visibility, Duration::from_secs(1)) => r,
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
        if messages.is_empty() {
            continue;
        }
        let outcomes = process_batch(&deliverer, messages.iter().map(|m| m.body.clone()).collect()).await;
        futures::future::join_all(messages.iter().zip(&outcomes).map(|(m, o)| settle(queue.as_ref(), m, o)))
            .await;
    }
    tracing::info!("delivery worker stopped");
}
