//! Local delivery pipeline and ingest fan-out, measured side by side with their baselines in
//! one run. Prints a table; `./scripts/bench` runs it with the other benchmarks.
//!
//! - pipeline: events ingested (SQLite store + queue) → worker → a local receiver answering 200,
//!   vs a bare reqwest POST loop to the same receiver at the same concurrency.
//! - fan-out: signed `POST /v1/events` through the ingest service with 1, 10 and 100 matching
//!   webhooks per event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use patchbay_core::config::SendConfig;
use patchbay_core::ids::random_id;
use patchbay_core::model::{DeliveryStatus, EventName, PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
use patchbay_core::service::ingest::Ingest;
use patchbay_core::service::worker;
use patchbay_core::signing::generate_secret;
use patchbay_e2e::LocalFunctions;
use patchbay_e2e::dev::event;
use patchbay_testing::backends as testing;
use patchbay_testing::samples::signed_ingest_request;

const ROUNDS: usize = 3;
const CONCURRENCY: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn receiver() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hits)
}

fn webhook(app_id: &str, url: &str) -> Webhook {
    let spec = WebhookSpec {
        events: vec![EventName::VersionPublished],
        method: WebhookMethod::Post,
        url: url.to_owned(),
        headers: [("X-Studio".to_owned(), "{{app.name}}".to_owned())].into_iter().collect(),
        format: PayloadFormat::Json,
        payload: serde_json::json!({
            "content": "**{{app.display_name}}** {{version.label}} is out ({{version.humanized_content_size}})",
            "changes": "{{version.changes}}",
            "url": "{{app.download_url}}",
        }),
        timeout: None,
        retry_schedule: None,
    };
    Webhook::new(app_id, spec, chrono::Utc::now())
}

fn send_config() -> SendConfig {
    SendConfig { allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()], ..SendConfig::default() }
}

/// Ingest `events` events with `fan_out` webhooks each, then let the worker drain the queue.
/// Returns deliveries per second for the drain.
async fn pipeline_round(
    url: &str,
    hits: &AtomicU64,
    events: usize,
    fan_out: usize,
    max_in_flight: usize,
    durable: bool,
) -> f64 {
    // Not durable: the same SQLite statements on an in-memory database (no WAL writes, no
    // fsync), to measure what durability costs the pipeline.
    let backends = if durable {
        testing::sqlite().await
    } else {
        patchbay_adapters::backends::Backends::sqlite(":memory:").unwrap()
    };
    let app_id = random_id("app");
    for _ in 0..fan_out {
        backends.store.create_webhook(&webhook(&app_id, url)).await.unwrap();
    }
    let secret = generate_secret();
    let ingest = Ingest::new(backends.store.clone(), backends.queue.clone(), secret.clone());
    for i in 0..events {
        let body = event("version_published", &app_id, i64::try_from(i).unwrap()).to_string();
        let id = random_id("msg");
        ingest.handle(&signed_ingest_request(&secret, &id, body.as_bytes())).await.unwrap();
    }
    let total = u64::try_from(events * fan_out).unwrap();
    let before = hits.load(Ordering::Relaxed);
    let deliver = LocalFunctions::new(&backends, &secret, &secret, &send_config(), "30s").await.deliver;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let worker = tokio::spawn(worker::run(
        deliver,
        backends.queue.clone(),
        worker::WorkerOptions { visibility: Duration::from_secs(60), max_in_flight },
        stop_rx,
    ));
    while hits.load(Ordering::Relaxed) - before < total {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    stop_tx.send(true).unwrap();
    worker.await.unwrap();
    // Sanity: the store agrees every delivery succeeded.
    let webhooks = backends.store.list_webhooks(&app_id).await.unwrap();
    let page = backends
        .store
        .list_deliveries(&webhooks[0].id, Some(DeliveryStatus::Succeeded), None, 1000)
        .await
        .unwrap();
    assert_eq!(page.items.len(), events);
    total as f64 / elapsed.as_secs_f64()
}

/// The baseline: the same number of POSTs with the same concurrency, nothing else.
async fn bare_round(url: &str, total: usize) -> f64 {
    let client = reqwest::Client::new();
    let body = serde_json::json!({"content": "Space Race 1.0.3 is out", "changes": "Fixed"}).to_string();
    let started = Instant::now();
    let per_task = total / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per_task * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

async fn fan_out_round(fan_out: usize, events: usize) -> f64 {
    let backends = testing::sqlite().await;
    let app_id = random_id("app");
    for _ in 0..fan_out {
        backends.store.create_webhook(&webhook(&app_id, "https://example.com/hook")).await.unwrap();
    }
    let secret = generate_secret();
    let ingest = Ingest::new(backends.store.clone(), backends.queue.clone(), secret.clone());
    let bodies: Vec<(String, String)> = (0..events)
        .map(|i| {
            (random_id("msg"), event("version_published", &app_id, i64::try_from(i).unwrap()).to_string())
        })
        .collect();
    let started = Instant::now();
    for (id, body) in &bodies {
        ingest.handle(&signed_ingest_request(&secret, id, body.as_bytes())).await.unwrap();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (url, hits) = receiver().await;
    let (events, fan_out) = (400, 5);
    let mut pipeline = Vec::new();
    let mut pipeline_matched = Vec::new();
    let mut pipeline_in_memory = Vec::new();
    let mut bare = Vec::new();
    // Warm-up: connection pools, SQLite page cache, allocator.
    pipeline_round(&url, &hits, 20, fan_out, worker::DEFAULT_MAX_IN_FLIGHT, true).await;
    bare_round(&url, 200).await;
    // Alternating: the default worker (64 in flight), the worker at the baseline's own
    // concurrency, and the baseline.
    for _ in 0..ROUNDS {
        pipeline
            .push(pipeline_round(&url, &hits, events, fan_out, worker::DEFAULT_MAX_IN_FLIGHT, true).await);
        pipeline_matched.push(pipeline_round(&url, &hits, events, fan_out, CONCURRENCY, true).await);
        pipeline_in_memory
            .push(pipeline_round(&url, &hits, events, fan_out, worker::DEFAULT_MAX_IN_FLIGHT, false).await);
        bare.push(bare_round(&url, events * fan_out).await);
    }
    let (p, pm, b) = (median(pipeline), median(pipeline_matched), median(bare));
    let in_memory = median(pipeline_in_memory);
    println!(
        "| local delivery pipeline (ingest → SQLite queue → worker → 200 receiver), {} in flight (default) | {p:.0} deliveries/s | goal ≥ 2000/s |",
        worker::DEFAULT_MAX_IN_FLIGHT
    );
    println!(
        "| the same, {CONCURRENCY} in flight (the baseline's concurrency) | {pm:.0} deliveries/s = {:.2} of bare | — |",
        pm / b
    );
    println!(
        "| the same on an in-memory SQLite (no WAL writes, no fsync: what durability costs), {} in flight | {in_memory:.0} deliveries/s = {:.2} of bare | — |",
        worker::DEFAULT_MAX_IN_FLIGHT,
        in_memory / b
    );
    println!(
        "| bare reqwest POST loop, {CONCURRENCY} concurrent, same receiver | {b:.0} requests/s | baseline |"
    );
    println!("| pipeline / bare | {:.2} | goal ≥ 0.5 |", p / b);
    for fan in [1, 5, 10, 100] {
        let events = if fan == 100 { 30 } else { 300 };
        let rounds: Vec<f64> = {
            let mut v = Vec::new();
            for _ in 0..ROUNDS {
                v.push(fan_out_round(fan, events).await);
            }
            v
        };
        let eps = median(rounds);
        println!(
            "| ingest fan-out {fan:>3} webhooks/event (SQLite) | {eps:.0} events/s = {:.0} deliveries/s | — |",
            eps * fan as f64
        );
    }
}
