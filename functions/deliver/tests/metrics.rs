//! The metrics each attempt reports: outcome counts and latency by the receiver's status class,
//! through a recording sink (on Lambda the same events go to stdout as EMF).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;

use common::{Receiver, config, create_delivery, create_webhook, message_body};
use patchbay_adapters::wiring;
use patchbay_core::metrics::catalog::{
    ATTEMPT_LATENCY, DELIVERY_FAILED, DELIVERY_RETRIED, DELIVERY_SUCCEEDED, STATUS_CLASS,
};
use patchbay_core::metrics::sinks::RecordingSink;
use patchbay_core::metrics::{MetricEvent, Metrics, emf};
use patchbay_core::service::deliver::{Deliver, MessageOutcome};
use patchbay_testing::backends as testing;

/// (status class, succeeded, retried, failed) as one attempt reported them.
fn outcome_of(event: &MetricEvent) -> (&str, f64, f64, f64) {
    (
        event.dimension_value(STATUS_CLASS).unwrap(),
        event.value(DELIVERY_SUCCEEDED).unwrap(),
        event.value(DELIVERY_RETRIED).unwrap(),
        event.value(DELIVERY_FAILED).unwrap(),
    )
}

fn recording(deliver: Deliver) -> (Deliver, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::default());
    (deliver.with_metrics(Metrics::to(sink.clone())), sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_and_a_failure_report_their_outcome_and_latency_by_status_class() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    // One retry, then the delivery fails for good.
    let (deliver, sink) = recording(wiring::deliver(&config("1s"), &backends.events()).unwrap());

    let ok = create_delivery(store, &create_webhook(store, &receiver.url("/ok"), |_| {}).await).await;
    assert_eq!(deliver.process(&message_body(&ok.id)).await.unwrap(), MessageOutcome::Done);
    let failing = create_delivery(store, &create_webhook(store, &receiver.url("/fail"), |_| {}).await).await;
    assert!(matches!(deliver.process(&message_body(&failing.id)).await.unwrap(), MessageOutcome::RetryIn(_)));
    assert_eq!(deliver.process(&message_body(&failing.id)).await.unwrap(), MessageOutcome::Done);

    let events = sink.events();
    let outcomes: Vec<_> = events.iter().map(outcome_of).collect();
    assert_eq!(outcomes, [("2xx", 1.0, 0.0, 0.0), ("5xx", 0.0, 1.0, 0.0), ("5xx", 0.0, 0.0, 1.0)]);
    for event in &events {
        let latency = event.value(ATTEMPT_LATENCY).unwrap();
        assert!((0.0..5_000.0).contains(&latency), "{latency}");
        // Totals across status classes too, for alarms.
        assert!(event.overall);
        let line = &emf::lines(event, 1)[0];
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Patchbay");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_its_own_status_class() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    // A port that was just free: nothing listens there any more.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap();
    let (deliver, sink) = recording(wiring::deliver(&config("1s"), &backends.events()).unwrap());

    let created =
        create_delivery(store, &create_webhook(store, &format!("http://{closed}/"), |_| {}).await).await;
    deliver.process(&message_body(&created.id)).await.unwrap();

    let events = sink.events();
    assert_eq!(events.iter().map(outcome_of).collect::<Vec<_>>(), [("connect", 0.0, 1.0, 0.0)]);
}

#[tokio::test]
async fn nothing_is_reported_without_a_sink() {
    // The default wiring off Lambda: no AWS_LAMBDA_FUNCTION_NAME in a test's environment.
    assert!(std::env::var_os(wiring::LAMBDA_FUNCTION_NAME_VARIABLE).is_none());
    assert_eq!(format!("{:?}", wiring::metrics()), "Metrics(off)");
}
