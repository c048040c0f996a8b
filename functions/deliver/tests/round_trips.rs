//! Store round trips per attempt, counted: one read and one write on DynamoDB (every HTTP
//! request the SDK sends goes through a counting interceptor, on moto) and one store call of
//! each on SQLite (through `FaultyStore`'s call log), for a success, a retry, the final failure
//! and a duplicate message of a finished delivery.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use common::{Receiver, config, create_delivery, create_webhook};
use deliver::Handler;
use patchbay_adapters::backends::EventBackends;
use patchbay_adapters::dynamo::DynamoStore;
use patchbay_core::model::{Delivery, DeliveryStatus};
use patchbay_core::ports::Store;
use patchbay_core::service::deliver::MessageOutcome;
use patchbay_core::service::message::DeliveryMessage;
use patchbay_testing::FaultyStore;
use patchbay_testing::backends as testing;

/// Counts DynamoDB requests on the wire by operation (`x-amz-target`), retries included.
#[derive(Debug, Default, Clone)]
struct Counter(Arc<Mutex<BTreeMap<String, usize>>>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RoundTripCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

impl Counter {
    fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn ops(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

/// Runs the four cases; `counted` returns (and resets) what the store saw since last asked.
async fn scenario<C: Fn() -> BTreeMap<String, usize>>(
    store: Arc<dyn Store>,
    events: EventBackends,
    counted: C,
    read: &[(&str, usize)],
    steady_write: &[(&str, usize)],
    health_write: &[(&str, usize)],
    subscribers_read: &[(&str, usize)],
) {
    let receiver = Receiver::start().await;
    let handler = Handler::with_backends(&events, &config("1s,1s")).unwrap();
    let process = |d: &Delivery| {
        let body = DeliveryMessage::outgoing(d).body;
        let handler = &handler;
        async move { handler.deliver.process(&body).await.unwrap() }
    };
    let read_and = |write: &[(&str, usize)]| {
        let mut all = ops(read);
        all.extend(ops(write));
        all
    };

    // Success: one read, one write.
    let ok = create_webhook(store.as_ref(), &receiver.url("/ok"), |_| {}).await;
    let delivery = create_delivery(store.as_ref(), &ok).await;
    counted();
    assert_eq!(process(&delivery).await, MessageOutcome::Done);
    assert_eq!(counted(), read_and(steady_write), "success");

    // A duplicate message for the finished delivery: the read, nothing written.
    assert_eq!(process(&delivery).await, MessageOutcome::Done);
    assert_eq!(counted(), ops(read), "duplicate");

    // Retries, then the final failure: each attempt one read and one write; the first failure
    // starts the webhook's failing streak, which rides along in the same write.
    let failing = create_webhook(store.as_ref(), &receiver.url("/fail"), |_| {}).await;
    let delivery = create_delivery(store.as_ref(), &failing).await;
    counted();
    assert!(matches!(process(&delivery).await, MessageOutcome::RetryIn(_)));
    assert_eq!(counted(), read_and(health_write), "first failure");
    assert!(matches!(process(&delivery).await, MessageOutcome::RetryIn(_)));
    assert_eq!(counted(), read_and(steady_write), "retry");
    // Giving up raises `delivery.failed`: the one extra read is the listing of the app's
    // webhooks that finds its subscribers (none here, so nothing more is written).
    assert_eq!(process(&delivery).await, MessageOutcome::Done);
    let mut final_failure = read_and(steady_write);
    final_failure.extend(ops(subscribers_read));
    assert_eq!(counted(), final_failure, "final failure");

    let stored = store.get_delivery(&delivery.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempt_count), (DeliveryStatus::Failed, 3));
    assert_eq!(store.list_attempts(&delivery.id).await.unwrap().len(), 3);
    assert!(store.get_webhook(&failing.id).await.unwrap().unwrap().failing_since.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_read_and_one_write_call_per_attempt() {
    let backends = testing::sqlite().await;
    let faulty = FaultyStore::new(backends.store.clone());
    let store: Arc<dyn Store> = faulty.clone();
    let events = EventBackends { store: store.clone(), queue: backends.queue.clone() };
    let seen = Mutex::new(0);
    let counted = || {
        let mut from = seen.lock().unwrap();
        let calls = faulty.faults().calls_since(*from);
        *from += calls.len();
        let mut counts = BTreeMap::new();
        for call in calls {
            *counts.entry(call.to_owned()).or_default() += 1;
        }
        counts
    };
    let read = [("load_attempt_context", 1)];
    let write = [("record_outcomes", 1)];
    scenario(backends.store.clone(), events, counted, &read, &write, &write, &[("list_webhooks", 1)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn dynamodb_one_read_and_one_write_request_per_attempt() {
    let Some(moto) = testing::moto("dynamodb_one_read_and_one_write_request_per_attempt", 5).await else {
        return;
    };
    let counter = Counter::default();
    let sdk = patchbay_adapters::aws::aws_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
    );
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client, moto.table.clone()));
    let events = EventBackends { store: store.clone(), queue: moto.backends.queue.clone() };
    // Plain puts for an attempt and its delivery; a transaction (conditional on the webhook
    // still existing) when the webhook's health changes.
    scenario(
        store,
        events,
        || counter.take(),
        &[("BatchGetItem", 1)],
        &[("BatchWriteItem", 1)],
        &[("TransactWriteItems", 1)],
        &[("Query", 1)],
    )
    .await;
}

/// Claiming a half-open circuit's probe: exactly one claim on the `open_until` seen wins.
async fn probe_claims(store: &dyn Store) {
    use chrono::{TimeDelta, Utc};
    let seen = Utc::now() - TimeDelta::seconds(1);
    let webhook = create_webhook(store, "http://127.0.0.1:9/hook", |w| {
        w.circuit = patchbay_core::model::Circuit { failures: 3, open_until: Some(seen), cooldown_s: 60 };
    })
    .await;
    let until = Utc::now() + TimeDelta::seconds(35);
    assert!(store.claim_probe(&webhook.id, seen, until).await.unwrap());
    assert!(!store.claim_probe(&webhook.id, seen, until).await.unwrap(), "claimed twice");
    let stored = store.get_webhook(&webhook.id).await.unwrap().unwrap();
    assert_eq!(stored.circuit.open_until, Some(until));
    assert_eq!((stored.circuit.failures, stored.circuit.cooldown_s), (3, 60));
    assert!(!store.claim_probe("wh_gone", seen, until).await.unwrap());
}

#[tokio::test]
async fn sqlite_probe_is_claimed_once() {
    probe_claims(testing::sqlite().await.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn dynamodb_probe_is_claimed_once() {
    let Some(moto) = testing::moto("dynamodb_probe_is_claimed_once", 5).await else { return };
    probe_claims(moto.backends.store.as_ref()).await;
}
