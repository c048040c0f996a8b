//! Cost per million, from counted operations: the ingest and deliver use cases and the key
//! check run over SQLite behind counting wrappers of the ports; each counted call becomes the
//! DynamoDB or SQS request the AWS adapter makes for it (`units`), and the measured handler
//! durations (this build) plus an assumed network time per round trip become Lambda GB-seconds.
//! Priced with `prices.rs`. `./scripts/bench` prints the table; the README's Cost section shows it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod prices;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use patchbay_adapters::backends::EventBackends;
use patchbay_adapters::wiring;
use patchbay_core::config::{DeliverConfig, SendConfig, StoreConfig};
use patchbay_core::ids::random_id;
use patchbay_core::model::{App, EventName, LicenseKey, PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
use patchbay_core::ports::{KeyStore, Queue, Store};
use patchbay_core::retry::RetrySchedule;
use patchbay_core::service::app_secrets::AppSecretCache;
use patchbay_core::service::ingest::Ingest;
use patchbay_core::service::keys::{KeyCheck, KeyQuery, Registration};
use patchbay_core::signing::generate_secret;
use patchbay_e2e::dev::event;
use patchbay_testing::backends as testing;
use patchbay_testing::samples::signed_ingest_request;

use patchbay_testing::counting::{CountingKeys, CountingQueue, CountingStore, Counts};
use prices::{
    DYNAMODB_PER_MILLION_RRU, DYNAMODB_PER_MILLION_WRU, HTTP_API_PER_MILLION_REQUESTS,
    LAMBDA_ARM_PER_GB_SECOND, LAMBDA_MEMORY_GB, LAMBDA_PER_MILLION_REQUESTS, READ_ON,
    SQS_PER_MILLION_REQUESTS,
};

/// Assumed in-region round trips (not measured here: the bench runs on SQLite).
const DYNAMODB_RTT_MS: f64 = 5.0;
const SQS_RTT_MS: f64 = 10.0;
/// Assumed receiver answer time: on Lambda a delivery waits for it.
const RECEIVER_MS: f64 = 100.0;
/// The event source mapping's `BatchSize`: records of one invocation run concurrently, so
/// with full batches an invocation lasts about one record's time for ten deliveries.
const BATCH: f64 = 10.0;
const EVENTS: usize = 300;
const KEY_CHECKS: usize = 2000;

/// DynamoDB read and write request units for `calls` calls of a port method carrying `items`
/// items in all, as the DynamoDB adapter makes them (items ≤ 1 KB to write, ≤ 4 KB to read:
/// true of Patchbay's records except attempts keeping a long answer).
fn units(method: &str, calls: u64, items: u64) -> (f64, f64) {
    let (c, i) = (calls as f64, items as f64);
    match method {
        // Consistent GetItem, or one Query page.
        "get_app"
        | "get_webhook"
        | "get_event"
        | "get_delivery"
        | "app_for_secret"
        | "get_key"
        | "list_webhooks"
        | "list_deliveries"
        | "list_attempts"
        | "token_by_hash"
        | "list_tokens"
        | "get_collection"
        | "list_collections"
        | "app_collections"
        | "list_collection_keys" => (c, 0.0),
        // One strongly consistent BatchGetItem: a unit per item read.
        "load_attempt_context" => (i, 0.0),
        // BatchWriteItem puts: a unit per item; TransactWriteItems: two per item.
        "record_outcomes(batch)" => (0.0, i),
        "record_outcomes(transact)" => (0.0, 2.0 * i),
        // Eventually consistent GetItem.
        "check_key(read)" => (0.5 * c, 0.0),
        // TransactWriteItems: the event and each delivery, two units per item.
        "create_event" => (0.0, 2.0 * (c + i)),
        // One conditional PutItem / UpdateItem per item.
        "ensure_deliveries" | "mark_enqueued" | "create_keys" => (0.0, i),
        // Queue calls: SQS, not DynamoDB.
        "send" | "receive" | "change_visibility" | "delete" => (0.0, 0.0),
        // One PutItem / UpdateItem / DeleteItem.
        _ => (0.0, c),
    }
}

/// SQS requests: the adapter sends by 10 per `SendMessageBatch`.
fn sqs_requests(method: &str, calls: u64, items: u64) -> f64 {
    match method {
        "send" => calls as f64 * ((items as f64 / calls as f64) / 10.0).ceil(),
        "receive" | "change_visibility" | "delete" => calls as f64,
        _ => 0.0,
    }
}

/// One workload's bill, per operation of it.
#[derive(Default, Debug, Clone, Copy)]
struct Bill {
    rru: f64,
    wru: f64,
    sqs: f64,
    lambda_requests: f64,
    gb_seconds: f64,
    http_api: f64,
}

impl Bill {
    fn add(self, o: Bill) -> Bill {
        Bill {
            rru: self.rru + o.rru,
            wru: self.wru + o.wru,
            sqs: self.sqs + o.sqs,
            lambda_requests: self.lambda_requests + o.lambda_requests,
            gb_seconds: self.gb_seconds + o.gb_seconds,
            http_api: self.http_api + o.http_api,
        }
    }

    fn dollars(self) -> f64 {
        self.rru * DYNAMODB_PER_MILLION_RRU / 1e6
            + self.wru * DYNAMODB_PER_MILLION_WRU / 1e6
            + self.sqs * SQS_PER_MILLION_REQUESTS / 1e6
            + self.lambda_requests * LAMBDA_PER_MILLION_REQUESTS / 1e6
            + self.gb_seconds * LAMBDA_ARM_PER_GB_SECOND
            + self.http_api * HTTP_API_PER_MILLION_REQUESTS / 1e6
    }

    fn row(self, what: &str) {
        let m = |x: f64| x * 1e6;
        println!(
            "| {what} | {:.2} M | {:.2} M | {:.2} M | {:.2} M | {:.0} | {:.2} M | **${:.2}** |",
            self.rru,
            self.wru,
            self.sqs,
            self.lambda_requests,
            m(self.gb_seconds),
            self.http_api,
            m(self.dollars())
        );
    }
}

/// Units and round trips per operation from counts over `per` operations.
fn store_bill(counts: &BTreeMap<&'static str, (u64, u64)>, per: f64) -> (Bill, f64, f64) {
    let mut bill = Bill::default();
    let (mut dynamo_trips, mut sqs_trips) = (0.0, 0.0);
    for (method, (calls, items)) in counts {
        let (r, w) = units(method, *calls, *items);
        let q = sqs_requests(method, *calls, *items);
        bill.rru += r / per;
        bill.wru += w / per;
        bill.sqs += q / per;
        if q > 0.0 {
            sqs_trips += *calls as f64 / per;
        } else {
            dynamo_trips += *calls as f64 / per;
        }
    }
    (bill, dynamo_trips, sqs_trips)
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

async fn receiver() -> String {
    let app = Router::new().route("/hook", post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

fn webhook(app_id: &str, url: &str) -> Webhook {
    let spec = WebhookSpec {
        events: vec![EventName::VersionPublished],
        method: WebhookMethod::Post,
        url: url.to_owned(),
        headers: [("X-Studio".to_owned(), "{{app.name}}".to_owned())].into_iter().collect(),
        format: PayloadFormat::Json,
        payload: serde_json::json!({"text": "{{app.display_name}} {{version.label}}", "changes": "{{version.changes}}"}),
        timeout: None,
        retry_schedule: None,
    };
    Webhook::new(app_id, spec, chrono::Utc::now())
}

/// Per delivery at `fan_out`: the counted bill and a line of what was counted.
async fn deliveries(url: &str, fan_out: usize) -> (Bill, String) {
    let backends = testing::sqlite().await;
    let counts = Counts::default();
    let store: Arc<dyn Store> =
        Arc::new(CountingStore { inner: backends.store.clone(), counts: counts.clone() });
    let queue: Arc<dyn Queue> =
        Arc::new(CountingQueue { inner: backends.queue.clone(), counts: counts.clone() });
    let app_id = random_id("app");
    backends
        .store
        .create_app(&App::new(app_id.clone(), "n".into(), "N".into(), chrono::Utc::now()))
        .await
        .unwrap();
    for _ in 0..fan_out {
        backends.store.create_webhook(&webhook(&app_id, url)).await.unwrap();
    }
    let secret = generate_secret();
    let ingest = Ingest::new(store.clone(), queue.clone(), secret.clone());
    let config = DeliverConfig {
        store: StoreConfig::Sqlite("unused".into()),
        retry: RetrySchedule::parse("30s").unwrap(),
        send: SendConfig { allow_cidrs: vec!["127.0.0.1/32".parse().unwrap()], ..SendConfig::default() },
        auto_disable_after: Duration::from_secs(86_400),
    };
    let deliver = wiring::deliver(&config, &EventBackends { store, queue }).unwrap();

    let mut ingest_times = Vec::new();
    for i in 0..EVENTS {
        let body = event("version_published", &app_id, i64::try_from(i).unwrap()).to_string();
        let started = Instant::now();
        ingest.handle(&signed_ingest_request(&secret, &random_id("msg"), body.as_bytes())).await.unwrap();
        ingest_times.push(started.elapsed());
    }
    let ingest_counts = counts.take();
    // What the event source mapping does on Lambda (receive, then delete a batch's finished
    // records): modelled below, so read through the uncounted queue.
    let mut deliver_times = Vec::new();
    let total = EVENTS * fan_out;
    while deliver_times.len() < total {
        for m in backends.queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap() {
            let started = Instant::now();
            deliver.process(&m.body).await.unwrap();
            deliver_times.push(started.elapsed());
            backends.queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
    let deliver_counts = counts.take();

    let f = fan_out as f64;
    let (ingest_bill, ingest_dynamo, ingest_sqs) = store_bill(&ingest_counts, EVENTS as f64);
    let (deliver_bill, deliver_dynamo, _) = store_bill(&deliver_counts, total as f64);
    let (ingest_ms, deliver_ms) = (median(ingest_times), median(deliver_times));
    // Per event: measured + round trips; per delivery: shared by the event's fan-out.
    let ingest_event_ms = ingest_ms + ingest_dynamo * DYNAMODB_RTT_MS + ingest_sqs * SQS_RTT_MS;
    let record_ms = deliver_ms + deliver_dynamo * DYNAMODB_RTT_MS + RECEIVER_MS;
    let per_delivery = Bill {
        rru: ingest_bill.rru / f,
        wru: ingest_bill.wru / f,
        sqs: ingest_bill.sqs / f + 2.0 / BATCH, // + the mapping's ReceiveMessage and DeleteMessageBatch
        lambda_requests: 1.0 / f + 1.0 / BATCH,
        gb_seconds: (ingest_event_ms.ceil() / f + record_ms.ceil() / BATCH) / 1000.0 * LAMBDA_MEMORY_GB,
        http_api: 1.0 / f,
    }
    .add(Bill { sqs: deliver_bill.sqs, ..deliver_bill });
    let listed = |counts: &BTreeMap<&'static str, (u64, u64)>, per: usize| {
        counts
            .iter()
            .map(|(m, (c, _))| format!("{m} {:.2}", *c as f64 / per as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = format!(
        "fan-out {fan_out}: per event {} (handler {ingest_ms:.2} ms); per delivery {} (handler {deliver_ms:.2} ms)",
        listed(&ingest_counts, EVENTS),
        listed(&deliver_counts, total)
    );
    (per_delivery, detail)
}

/// Per key check: (registering, repeat with the key's secret), and a line of what was counted.
async fn key_checks() -> (Bill, Bill, String) {
    let backends = testing::sqlite().await;
    let counts = Counts::default();
    let keys: Arc<dyn KeyStore> =
        Arc::new(CountingKeys { inner: backends.keys.clone(), counts: counts.clone() });
    let apps = Arc::new(CountingStore { inner: backends.store.clone(), counts: counts.clone() });
    let app = App::new(random_id("app"), "n".into(), "N".into(), chrono::Utc::now());
    backends.store.create_app(&app).await.unwrap();
    let key = LicenseKey::new(patchbay_core::ids::license_key(), &app.id, 0, chrono::Utc::now());
    backends.keys.create_keys(std::slice::from_ref(&key)).await.unwrap();
    let check = KeyCheck::new(keys, apps, Arc::new(AppSecretCache::new()));
    let run = async |key_secret: Option<&str>| {
        let mut times = Vec::new();
        for _ in 0..KEY_CHECKS {
            let query =
                KeyQuery { key: Some(&key.key), app_secret: Some(app.app_secret.expose()), key_secret };
            let started = Instant::now();
            check.check(query, Registration::UnlessKeySecretMatches).await.unwrap();
            times.push(started.elapsed());
        }
        let (bill, dynamo, _) = store_bill(&counts.take(), KEY_CHECKS as f64);
        let ms = median(times);
        let billed = (ms + dynamo * DYNAMODB_RTT_MS).ceil();
        let bill = Bill { lambda_requests: 1.0, gb_seconds: billed / 1000.0 * LAMBDA_MEMORY_GB, ..bill };
        (bill, ms, dynamo)
    };
    let (registering, reg_ms, reg_trips) = run(None).await;
    let secret = key.key_secret.expose().to_owned();
    let (repeat, rep_ms, rep_trips) = run(Some(&secret)).await;
    let detail = format!(
        "key check: registering {reg_trips:.3} store calls (handler {reg_ms:.3} ms), repeat {rep_trips:.3} (handler {rep_ms:.3} ms)"
    );
    (registering, repeat, detail)
}

#[tokio::main]
async fn main() {
    let url = receiver().await;
    let (one, detail_one) = deliveries(&url, 1).await;
    let (five, detail_five) = deliveries(&url, 5).await;
    let (registering, repeat, detail_keys) = key_checks().await;
    let http_api = Bill { http_api: 1.0, ..Bill::default() };
    println!(
        "| per 1 000 000 | DynamoDB RRU | DynamoDB WRU | SQS requests | Lambda requests | Lambda GB-s | HTTP API requests | total |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    one.row("deliveries, fan-out 1");
    five.row("deliveries, fan-out 5");
    registering.row("key checks, registering, Function URL");
    registering.add(http_api).row("key checks, registering, HTTP API");
    repeat.row("key checks, repeat start (`key_secret`), Function URL");
    repeat.add(http_api).row("key checks, repeat start (`key_secret`), HTTP API");
    println!();
    println!("Counted (port calls per operation): {detail_one}; {detail_five}; {detail_keys}.");
    println!(
        "Assumed: DynamoDB round trip {DYNAMODB_RTT_MS} ms, SQS {SQS_RTT_MS} ms, receiver {RECEIVER_MS} ms, full batches of {BATCH}, {LAMBDA_MEMORY_GB} GB arm64; prices read {READ_ON} (tests/benches/cost/prices.rs)."
    );
}
