//! The Lambda handler: an SQS batch in, a partial batch response out, and the queue told when to
//! show a retried message again. Messages really go through the SQLite queue (so receipt handles
//! are real); the queue is wrapped to record every visibility change.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    Receiver, attempts, config, create_delivery, create_webhook, delivery, failed_ids, message_body,
    recording_handler, send_and_receive, sqs_event, sqs_event_from, store_failing_handler, within_jitter,
};
use patchbay_core::model::{AttemptError, DeliveryStatus};
use patchbay_testing::backends as testing;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_batch_response_reports_only_the_retried_record() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let ok = create_delivery(store, &create_webhook(store, &receiver.url("/ok"), |_| {}).await).await;
    let failing = create_delivery(store, &create_webhook(store, &receiver.url("/fail"), |_| {}).await).await;
    let queue = backends.queue.clone();
    let received = send_and_receive(queue.as_ref(), &[&ok.id, &failing.id, "dlv_unknown"]).await;
    let (handler, recording) = recording_handler(&backends, &config("1s,1s"));

    let response = handler.handle(sqs_event_from(&received)).await;

    assert_eq!(failed_ids(&response), [received[1].message_id.as_str()], "only the record to retry");
    let changes = recording.visibility_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].receipt_handle, received[1].receipt_handle);
    assert!(within_jitter(changes[0].visibility, Duration::from_secs(1)), "{:?}", changes[0].visibility);
    assert!(changes[0].accepted, "the queue refused the receipt handle");
    assert!(recording.deletes().is_empty(), "Lambda deletes the successes itself");

    assert_eq!(delivery(store, &ok.id).await.status, DeliveryStatus::Succeeded);
    let retried = delivery(store, &failing.id).await;
    assert_eq!((retried.status, retried.attempt_count), (DeliveryStatus::Pending, 1));
    assert_eq!(receiver.hits_on("/ok"), 1);
    assert_eq!(receiver.hits_on("/fail"), 1);

    // The retried message is hidden until its next attempt; the others stay in flight.
    assert!(queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_sets_the_visibility_exactly() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let busy = create_delivery(store, &create_webhook(store, &receiver.url("/busy"), |_| {}).await).await;
    let (handler, recording) = recording_handler(&backends, &config("1s,1s"));

    let event = sqs_event(&[("m-1".into(), "r-1".into(), message_body(&busy.id))]);
    let response = handler.handle(event).await;

    assert_eq!(failed_ids(&response), ["m-1"]);
    let changes = recording.visibility_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].receipt_handle.as_str(), changes[0].visibility), ("r-1", Duration::from_secs(2)));
    // "r-1" was never handed out by the queue: the handler still reports the record as failed,
    // so SQS keeps the message (it comes back after the default visibility).
    assert!(!changes[0].accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_processing_error_is_a_batch_failure_without_touching_visibility() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let ok = create_delivery(store, &create_webhook(store, &receiver.url("/ok"), |_| {}).await).await;
    let received = send_and_receive(backends.queue.clone().as_ref(), &[&ok.id]).await;
    let (handler, recording) = store_failing_handler(&backends, &config("1s,1s"));

    let response = handler.handle(sqs_event_from(&received)).await;

    assert_eq!(failed_ids(&response), [received[0].message_id.as_str()]);
    assert!(recording.visibility_changes().is_empty(), "visibility must be left to the queue");
    assert!(recording.deletes().is_empty());
    assert_eq!(receiver.hits().len(), 0);
    let untouched = delivery(store, &ok.id).await;
    assert_eq!((untouched.status, untouched.attempt_count), (DeliveryStatus::Pending, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_address_fails_at_once_without_connecting() {
    // A tripwire on 127.0.0.2, outside the allowed 127.0.0.1/32: it counts connections.
    let tripwire = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).await.unwrap();
    let tripwire_addr: SocketAddr = tripwire.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while tripwire.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let webhook = create_webhook(store, &format!("http://{tripwire_addr}/hook"), |_| {}).await;
    let blocked = create_delivery(store, &webhook).await;
    let received = send_and_receive(backends.queue.clone().as_ref(), &[&blocked.id]).await;
    let cfg = config("1s,1s");
    assert_eq!(cfg.send.allow_cidrs, ["127.0.0.1/32".parse().unwrap()]);
    let (handler, recording) = recording_handler(&backends, &cfg);

    let response = handler.handle(sqs_event_from(&received)).await;

    assert!(failed_ids(&response).is_empty(), "a permanent failure is done: the message is deleted");
    assert!(recording.visibility_changes().is_empty(), "no retry delay for a permanent failure");
    let failed = delivery(store, &blocked.id).await;
    assert_eq!((failed.status, failed.attempt_count), (DeliveryStatus::Failed, 1));
    let reason = failed.reason.unwrap();
    assert!(reason.starts_with("blocked_address"), "{reason}");
    assert!(!reason.contains("gave up"), "failed at once, not after retries: {reason}");
    let recorded = attempts(store, &blocked.id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].status_code, recorded[0].error), (None, Some(AttemptError::BlockedAddress)));

    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the sender connected to a blocked address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_a_usable_body_are_dropped() {
    let backends = testing::sqlite().await;
    let (handler, recording) = recording_handler(&backends, &config("1s,1s"));
    let mut event = sqs_event(&[("m-garbage".into(), "r-1".into(), "{not json".into())]);
    event.records.push(serde_json::from_value(serde_json::json!({ "messageId": "m-empty" })).unwrap());

    let response = handler.handle(event).await;

    assert!(failed_ids(&response).is_empty(), "retrying them cannot help");
    assert!(recording.visibility_changes().is_empty());
}
