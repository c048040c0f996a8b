//! One correlation id per event: ingest puts it on each delivery's queue message (an SQS
//! message attribute, a column of the SQLite queue), and every log line of every attempt of
//! that delivery carries it, with the Lambda request id of the invocation that made it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use deliver::{CORRELATION_ATTRIBUTE, Handler};
use patchbay_adapters::backends::Backends;
use patchbay_core::ids::correlation_id;
use patchbay_core::service::ingest::{Ingest, IngestOutcome};
use patchbay_core::signing::generate_secret;
use patchbay_testing::backends::{moto, sqlite};
use patchbay_testing::samples::signed_ingest_request;
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use common::{Receiver, config, create_webhook, failed_ids};

/// Log output as the deliver function writes it on Lambda (JSON, one object a line).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// Every line written since the last call.
    fn take(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Post one signed `version_published` event for `app_id` through the ingest use case.
async fn ingest(backends: &Backends, app_id: &str) -> String {
    let secret = generate_secret();
    let ingest = Ingest::new(backends.store.clone(), backends.queue.clone(), secret.clone());
    let event_id = patchbay_core::ids::random_id("msg");
    let body = json!({"event": "version_published", "app": {"id": app_id}, "version": {"id": 7}}).to_string();
    let request = signed_ingest_request(&secret, &event_id, body.as_bytes());
    assert!(matches!(ingest.handle(&request).await.unwrap(), IngestOutcome::Accepted(_)));
    event_id
}

/// The SQS record Lambda would hand the deliver function for this message.
fn record_event(message_id: &str, receipt: &str, body: &str, correlation: Option<&str>) -> SqsEvent {
    let attributes = match correlation {
        Some(id) => json!({ CORRELATION_ATTRIBUTE: {"stringValue": id, "dataType": "String"} }),
        None => json!({}),
    };
    serde_json::from_value(json!({"Records": [{
        "messageId": message_id, "receiptHandle": receipt, "body": body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": attributes,
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:deliveries",
        "awsRegion": "us-east-1",
    }]}))
    .unwrap()
}

/// Three invocations of the handler for one delivery (fail, fail, succeed: `/flaky`), each
/// with its own request id. Every line each writes names the event's correlation id and that
/// invocation's request id.
async fn every_attempt_logs_its_ids(handler: &Handler, event: &SqsEvent, correlation: &str) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish();
    // The tests run on a current-thread runtime: everything the handler does logs here.
    let _guard = tracing::subscriber::set_default(subscriber);
    for (n, request_id) in ["req-1", "req-2", "req-3"].into_iter().enumerate() {
        let response = handler.handle_invocation(event.clone(), Some(request_id)).await;
        assert_eq!(failed_ids(&response).len(), usize::from(n < 2), "attempt {}", n + 1);
        let lines = captured.take();
        assert!(
            lines.iter().any(|l| l["fields"]["message"] == "delivery attempt"),
            "attempt {} logged: {lines:?}",
            n + 1
        );
        for line in &lines {
            let spans = line["spans"].as_array().unwrap_or_else(|| panic!("outside any span: {line}"));
            assert!(spans.iter().any(|s| s["correlation_id"] == correlation), "{line}");
            assert!(spans.iter().any(|s| s["request_id"] == request_id), "{line}");
        }
    }
}

#[tokio::test]
async fn sqlite_queue_carries_the_correlation_id_into_every_attempts_logs() {
    let backends = sqlite().await;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(backends.store.as_ref(), &receiver.url("/flaky"), |_| {}).await;
    let event_id = ingest(&backends, &webhook.app_id).await;

    let message = backends
        .queue
        .receive(1, std::time::Duration::from_secs(30), std::time::Duration::ZERO)
        .await
        .unwrap();
    let correlation = correlation_id(&event_id);
    assert_eq!(message[0].correlation_id.as_deref(), Some(correlation.as_str()));

    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let m = &message[0];
    let event = record_event(&m.message_id, &m.receipt_handle, &m.body, m.correlation_id.as_deref());
    every_attempt_logs_its_ids(&handler, &event, &correlation).await;
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn sqs_message_carries_the_correlation_id_attribute() {
    let Some(moto) = moto("correlation::sqs_message_carries_the_correlation_id_attribute", 5).await else {
        return;
    };
    let backends = moto.backends;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(backends.store.as_ref(), &receiver.url("/flaky"), |_| {}).await;
    let event_id = ingest(&backends, &webhook.app_id).await;

    // The message as SQS holds it: read with the raw SDK, not through our adapter.
    let out = moto
        .sqs
        .receive_message()
        .queue_url(&moto.queue_url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let message = &out.messages()[0];
    let attribute = &message.message_attributes().unwrap()[CORRELATION_ATTRIBUTE];
    let correlation = correlation_id(&event_id);
    assert_eq!(attribute.data_type(), "String");
    assert_eq!(attribute.string_value(), Some(correlation.as_str()));

    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let event = record_event(
        message.message_id().unwrap(),
        message.receipt_handle().unwrap(),
        message.body().unwrap(),
        attribute.string_value(),
    );
    every_attempt_logs_its_ids(&handler, &event, &correlation).await;
}
