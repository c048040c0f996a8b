//! The handler against DynamoDB and SQS on moto (started by `./scripts/test`; skipped without
//! it): a batch built from messages really received from SQS, visibility changes on real receipt
//! handles, and redrive to the dead-letter queue when processing keeps erroring.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use common::{
    Receiver, config, create_delivery, create_webhook, delivery, failed_ids, recording_handler, sqs_event,
    store_failing_handler, within_jitter,
};
use patchbay_core::model::DeliveryStatus;
use patchbay_core::service::message::DeliveryMessage;
use patchbay_core::signing::verify_headers;
use patchbay_testing::backends as testing;

/// (message id, receipt handle, body, receive count) of every message one raw receive returns.
async fn raw_receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    visibility: i32,
    wait: i32,
) -> Vec<(String, String, String, u32)> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .wait_time_seconds(wait)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap();
            (m.message_id.unwrap(), m.receipt_handle.unwrap(), m.body.unwrap(), count)
        })
        .collect()
}

fn records(messages: &[(String, String, String, u32)]) -> Vec<(String, String, String)> {
    messages.iter().map(|(id, receipt, body, _)| (id.clone(), receipt.clone(), body.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn batch_from_real_sqs_messages() {
    let Some(moto) = testing::moto("batch_from_real_sqs_messages", 2).await else { return };
    let store = moto.backends.store.as_ref();
    let queue = moto.backends.queue.clone();
    let receiver = Receiver::start().await;
    let ok_webhook = create_webhook(store, &receiver.url("/ok"), |_| {}).await;
    let ok = create_delivery(store, &ok_webhook).await;
    let failing = create_delivery(store, &create_webhook(store, &receiver.url("/fail"), |_| {}).await).await;
    queue.send(&[DeliveryMessage::outgoing(&ok), DeliveryMessage::outgoing(&failing)]).await.unwrap();

    let mut received = Vec::new();
    for _ in 0..5 {
        received.extend(raw_receive(&moto.sqs, &moto.queue_url, 30, 1).await);
        if received.len() == 2 {
            break;
        }
    }
    assert_eq!(received.len(), 2, "{received:?}");
    let failing_message =
        received.iter().find(|m| m.2 == DeliveryMessage::outgoing(&failing).body).unwrap().clone();
    let (handler, recording) = recording_handler(&moto.backends, &config("1s,1s"));

    let response = handler.handle(sqs_event(&records(&received))).await;

    assert_eq!(failed_ids(&response), [failing_message.0.as_str()]);
    let changes = recording.visibility_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].receipt_handle, failing_message.1);
    assert!(within_jitter(changes[0].visibility, Duration::from_secs(1)), "{:?}", changes[0].visibility);
    assert!(changes[0].accepted, "SQS refused the receipt handle");

    let done = delivery(store, &ok.id).await;
    assert_eq!((done.status, done.attempt_count), (DeliveryStatus::Succeeded, 1));
    let retried = delivery(store, &failing.id).await;
    assert_eq!((retried.status, retried.attempt_count), (DeliveryStatus::Pending, 1));
    let hit = receiver.hits().into_iter().find(|h| h.path == "/ok").unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        verify_headers(&ok_webhook.secrets.current, &hit.headers, &hit.body, now, 300).unwrap(),
        ok.id
    );

    // The retried message comes back once its new visibility (1–2 s, whole seconds) runs out;
    // the successful one stays hidden for its 30 s (Lambda would have deleted it).
    let mut back = Vec::new();
    for _ in 0..5 {
        back = raw_receive(&moto.sqs, &moto.queue_url, 30, 1).await;
        if !back.is_empty() {
            break;
        }
    }
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].0, failing_message.0);
    assert_eq!(back[0].3, 2, "received a second time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn erroring_message_is_redriven_to_the_dlq() {
    let Some(moto) = testing::moto("erroring_message_is_redriven_to_the_dlq", 2).await else { return };
    let store = moto.backends.store.as_ref();
    let receiver = Receiver::start().await;
    let stuck = create_delivery(store, &create_webhook(store, &receiver.url("/ok"), |_| {}).await).await;
    let body = DeliveryMessage::outgoing(&stuck).body;
    moto.backends.queue.clone().send(&[DeliveryMessage::outgoing(&stuck)]).await.unwrap();
    let (handler, recording) = store_failing_handler(&moto.backends, &config("1s,1s"));

    // Visibility 0: each failed record is visible again at once, as if its timeout ran out.
    let mut receives = 0;
    let mut message_id = None;
    for _ in 0..6 {
        let got = raw_receive(&moto.sqs, &moto.queue_url, 0, 1).await;
        if got.is_empty() {
            if receives > 0 {
                break;
            }
            continue;
        }
        receives += 1;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].3, receives, "receive count");
        message_id = Some(got[0].0.clone());
        let response = handler.handle(sqs_event(&records(&got))).await;
        assert_eq!(failed_ids(&response), [got[0].0.as_str()]);
    }
    assert_eq!(receives, 2, "maxReceiveCount is 2");
    assert!(recording.visibility_changes().is_empty(), "an erroring record keeps the queue's own visibility");

    let dead = moto.dlq.receive(10, Duration::from_secs(30), Duration::from_secs(2)).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, body);
    assert_eq!(Some(dead[0].message_id.clone()), message_id);
    assert_eq!(receiver.hits().len(), 0);
    assert_eq!(delivery(store, &stuck.id).await.status, DeliveryStatus::Pending);
}
