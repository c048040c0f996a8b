//! A dead endpoint cannot starve the others: 200 deliveries queued for a receiver that accepts
//! connections and never answers, 20 for a healthy one behind them, one local worker. The
//! healthy ones finish within seconds; the dead one sees only the first wave of requests
//! (bounded by the deliveries in flight) before its circuit opens, and its deliveries then wait
//! as new delayed messages without using up attempts or receive counts.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Receiver, config, create_delivery, create_webhook};
use deliver::Handler;
use patchbay_core::model::{CircuitState, DeliveryStatus, circuit};
use patchbay_core::ports::Queue;
use patchbay_core::service::message::DeliveryMessage;
use patchbay_core::service::worker::{self, WorkerOptions};
use patchbay_testing::backends as testing;
use tokio::net::TcpListener;

/// Accepts every connection and never answers; counts connections.
async fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_cannot_starve_a_healthy_one() {
    const IN_FLIGHT: usize = 8;
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let healthy = Receiver::start().await;
    let (dead_url, accepted) = black_hole().await;
    let dead = create_webhook(store, &dead_url, |w| w.spec.timeout = Some("1s".into())).await;
    let good = create_webhook(store, &healthy.url("/ok"), |_| {}).await;
    let mut queued = Vec::new();
    for _ in 0..200 {
        queued.push(create_delivery(store, &dead).await);
    }
    let mut good_ones = Vec::new();
    for _ in 0..20 {
        good_ones.push(create_delivery(store, &good).await);
    }
    let messages: Vec<_> = queued.iter().chain(&good_ones).map(DeliveryMessage::outgoing).collect();
    backends.queue.send(&messages).await.unwrap();

    let handler = Handler::with_backends(&backends.events(), &config("1s,1s,1s,1s,1s")).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let queue: Arc<dyn Queue> = backends.queue.clone();
    let running = tokio::spawn(worker::run(
        handler.deliver.clone(),
        queue,
        WorkerOptions { visibility: Duration::from_secs(30), max_in_flight: IN_FLIGHT },
        stopped,
    ));
    while healthy.hits_on("/ok") < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "healthy deliveries starved: {}",
            healthy.hits_on("/ok")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let healthy_done = started.elapsed();
    // Let the deferrals settle a moment, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    running.await.unwrap();

    eprintln!(
        "healthy done after {healthy_done:?}; the dead endpoint saw {} requests",
        accepted.load(Ordering::SeqCst)
    );
    assert!(healthy_done < Duration::from_secs(5), "healthy deliveries took {healthy_done:?}");
    let requests = accepted.load(Ordering::SeqCst);
    // The first wave, plus what the slots freed by the failures before the opening one took.
    let bound = IN_FLIGHT + circuit::OPEN_AFTER as usize - 1;
    assert!(requests <= bound, "the dead endpoint saw {requests} requests (bound {bound})");
    assert!(requests >= circuit::OPEN_AFTER as usize, "{requests}");
    for d in &good_ones {
        assert_eq!(store.get_delivery(&d.id).await.unwrap().unwrap().status, DeliveryStatus::Succeeded);
    }
    // The circuit is open, shown on the webhook; the deferred deliveries kept their attempts.
    let webhook = store.get_webhook(&dead.id).await.unwrap().unwrap();
    assert!(
        matches!(webhook.circuit.state(chrono::Utc::now()), CircuitState::Open(_)),
        "{:?}",
        webhook.circuit
    );
    assert_eq!(webhook.circuit.cooldown_s, 60);
    let mut untouched = 0;
    for d in &queued {
        let stored = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DeliveryStatus::Pending);
        untouched += usize::from(stored.attempt_count == 0);
    }
    assert!(untouched >= 200 - bound, "{untouched} deliveries without an attempt");
    // Deferred as new messages, hidden for the cool-down: the only visible ones are the first
    // wave's retries (1 s).
    loop {
        let visible = backends.queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
        if visible.is_empty() {
            break;
        }
        for m in visible {
            let id = DeliveryMessage::parse(&m.body).unwrap().delivery_id;
            assert!(
                store.get_delivery(&id).await.unwrap().unwrap().attempt_count >= 1,
                "a deferred message is visible"
            );
        }
    }
}

/// After the cool-down, one attempt claims the probe (the others keep waiting); an answer
/// closes the circuit, a timeout reopens it for twice as long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_probe_decides_after_the_cooldown() {
    use patchbay_core::model::Circuit;
    use patchbay_core::service::deliver::MessageOutcome;
    use patchbay_core::service::worker::process_batch;

    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let healthy = Receiver::start().await;
    let (dead_url, accepted) = black_hole().await;
    let cooled_down = Circuit {
        failures: 3,
        open_until: Some(chrono::Utc::now() - chrono::TimeDelta::seconds(1)),
        cooldown_s: 60,
    };
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();

    for (url, answers) in [(healthy.url("/ok"), true), (dead_url, false)] {
        let webhook = create_webhook(store, &url, |w| {
            w.spec.timeout = Some("1s".into());
            w.circuit = cooled_down.clone();
        })
        .await;
        let mut bodies = Vec::new();
        for _ in 0..3 {
            bodies.push(DeliveryMessage::outgoing(&create_delivery(store, &webhook).await).body);
        }
        let outcomes: Vec<MessageOutcome> =
            process_batch(&handler.deliver, bodies).await.into_iter().map(Result::unwrap).collect();
        let deferred = outcomes.iter().filter(|o| matches!(o, MessageOutcome::Defer(_))).count();
        assert_eq!(deferred, 2, "one probe, the others wait: {outcomes:?}");
        let after = store.get_webhook(&webhook.id).await.unwrap().unwrap().circuit;
        if answers {
            assert!(after.is_clean(), "an answer closes it: {after:?}");
        } else {
            assert_eq!(after.cooldown_s, 120, "a failed probe doubles the cool-down: {after:?}");
            assert!(matches!(after.state(chrono::Utc::now()), CircuitState::Open(_)));
            assert_eq!(accepted.load(Ordering::SeqCst), 1, "only the probe was sent");
        }
    }
    assert_eq!(healthy.hits_on("/ok"), 1, "only the probe was sent");
}
