//! `patchbay dev`'s delivery worker keeps a bounded number of deliveries in flight, taking the
//! next message as soon as a slot frees: slow receivers never stall a healthy one (#14).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use patchbay_e2e::dev::event;
use patchbay_e2e::{DevServer, Receiver};
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncReadExt;

/// Sends time out after 4 s; a failed attempt is retried only after a minute, so nothing is
/// retried while the test runs.
const SLOW_SENDS: &[(&str, &str)] = &[("PATCHBAY_DELIVERY_TIMEOUT", "4s"), ("PATCHBAY_RETRY_SCHEDULE", "1m")];
const HANGING_WEBHOOKS: usize = 12;

/// A receiver that accepts every connection and never answers; counts the connections.
async fn hanging_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hang", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    (url, accepted)
}

async fn app_with_webhooks(dev: &DevServer, app_id: &str, url: &str, count: usize) {
    dev.create_app(app_id).await;
    for _ in 0..count {
        let webhook = json!({"events": ["version_published"], "method": "POST", "url": url, "format": "json",
                             "payload": {"text": "{{version.label}}"}});
        let (status, body) =
            dev.admin(Method::POST, &format!("/v1/apps/{app_id}/webhooks"), Some(webhook)).await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn wait_until(deadline: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_delivery_is_not_held_up_by_hanging_receivers() {
    let dev = DevServer::start(SLOW_SENDS);
    let (hang_url, accepted) = hanging_receiver().await;
    let healthy = Receiver::start(&[]).await;
    app_with_webhooks(&dev, "app_slow", &hang_url, HANGING_WEBHOOKS).await;
    app_with_webhooks(&dev, "app_fast", &healthy.url("/ok"), 1).await;

    let (status, body) = dev.post_event("msg_slow", &event("version_published", "app_slow", 1)).await;
    assert_eq!(status, 202, "{body}");
    // Every hanging delivery in flight (the old worker took 10 and waited for all of them).
    wait_until(Duration::from_secs(3), || accepted.load(Ordering::SeqCst) >= HANGING_WEBHOOKS).await;

    let posted = Instant::now();
    let (status, body) = dev.post_event("msg_fast", &event("version_published", "app_fast", 1)).await;
    assert_eq!(status, 202, "{body}");
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    dev.wait_for_delivery(&delivery, "succeeded", Duration::from_secs(1)).await;
    assert!(posted.elapsed() < Duration::from_secs(1), "healthy delivery took {:?}", posted.elapsed());
    assert_eq!(healthy.seen().len(), 1);
    assert_eq!(accepted.load(Ordering::SeqCst), HANGING_WEBHOOKS, "all hanging deliveries started");

    // Past the send timeout, none of the hanging deliveries was handed out a second time.
    tokio::time::sleep(Duration::from_millis(4500).saturating_sub(posted.elapsed())).await;
    assert_eq!(accepted.load(Ordering::SeqCst), HANGING_WEBHOOKS, "a running delivery was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_in_flight_are_bounded() {
    let mut env = SLOW_SENDS.to_vec();
    env.push(("PATCHBAY_WORKER_CONCURRENCY", "3"));
    let dev = DevServer::start(&env);
    let (hang_url, accepted) = hanging_receiver().await;
    app_with_webhooks(&dev, "app_slow", &hang_url, 5).await;

    let (status, body) = dev.post_event("msg_slow", &event("version_published", "app_slow", 1)).await;
    assert_eq!(status, 202, "{body}");
    wait_until(Duration::from_secs(2), || accepted.load(Ordering::SeqCst) >= 3).await;
    // Give a fourth delivery every chance to start: it must wait for a free slot.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    // The first sends time out at 4 s and free their slots for the other two.
    wait_until(Duration::from_secs(5), || accepted.load(Ordering::SeqCst) >= 5).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}
