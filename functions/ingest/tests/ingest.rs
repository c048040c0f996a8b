//! `POST /v1/events` through the real router, over SQLite and over DynamoDB + SQS on moto:
//! fan-out, duplicates (sequential and concurrent) and an enqueue failure with its retry.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use patchbay_adapters::backends::Backends;
use patchbay_core::ids::random_id;
use patchbay_core::model::{DeliveryStatus, EventName, EventState, Webhook};
use patchbay_testing::FaultyQueue;

use common::{Harness, delivery_ids, event_body, expected_deliveries, now_millis, on_both_backends, sorted};

on_both_backends!(
    fan_out,
    no_matching_webhook,
    duplicates,
    concurrent_duplicates,
    enqueue_failure_then_retry
);

/// One posted event and what it must have fanned out to.
struct Posted<'a> {
    id: &'a str,
    body: &'a str,
    app_id: &'a str,
    name: EventName,
    deliveries: &'a [(String, String)],
}

/// Checks what the store holds for an ingested event and its deliveries.
async fn assert_stored(h: &Harness, posted: &Posted<'_>, state: EventState, enqueued: bool) {
    let Posted { id: event_id, body, app_id, name, deliveries: expected } = *posted;
    let event = h.store.get_event(event_id).await.unwrap().expect("event stored");
    assert_eq!(event.id, event_id);
    assert_eq!(event.app_id, app_id);
    assert_eq!(event.name, name);
    assert_eq!(event.body, body, "the raw body is kept byte for byte");
    assert_eq!(event.state, state);
    let mut refs: Vec<(String, String)> =
        event.deliveries.iter().map(|d| (d.id.clone(), d.webhook_id.clone())).collect();
    refs.sort();
    assert_eq!(refs, expected);
    for (id, webhook_id) in expected {
        let delivery =
            h.store.get_delivery(id).await.unwrap().unwrap_or_else(|| panic!("delivery {id} stored"));
        assert_eq!(&delivery.webhook_id, webhook_id);
        assert_eq!(delivery.event_id, event_id);
        assert_eq!(delivery.app_id, app_id);
        assert_eq!(delivery.event_name, name);
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.enqueued, enqueued, "outbox flag of {id}");
        assert!(!delivery.test);
        assert_eq!(delivery.attempt_count, 0);
    }
}

/// How many deliveries a webhook has for one event.
async fn deliveries_of(h: &Harness, webhook: &Webhook, event_id: &str) -> usize {
    let page = h.store.list_deliveries(&webhook.id, None, None, 100).await.unwrap();
    assert!(page.next_cursor.is_none());
    page.items.iter().filter(|d| d.event_id == event_id).count()
}

async fn fan_out(backends: Backends) {
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    let b = h.app().await;
    let wh1 = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    let wh2 = h.webhook(&a.id, &[EventName::VersionProcessed], true).await;
    let wh3 = h.webhook(&a.id, &[EventName::VersionPublished, EventName::VersionProcessed], true).await;
    let wh4 = h.webhook(&b.id, &[EventName::VersionPublished], true).await;
    let off = h.webhook(&a.id, &[EventName::VersionPublished], false).await;

    // version_published for A: wh1 and wh3 only (not wh2's event, not B's, not the disabled one).
    let id = random_id("msg");
    let body = event_body("version_published", &a.id);
    let reply = h.post_event(&id, &body).await;
    let expected = expected_deliveries(&id, &[&wh1, &wh3]);
    assert_eq!(reply.ingest(202, &id), expected);
    assert!(expected.iter().all(|(d, _)| d.starts_with("dlv_")));
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &a.id,
        name: EventName::VersionPublished,
        deliveries: &expected,
    };
    assert_stored(&h, &posted, EventState::Complete, true).await;
    assert_eq!(sorted(h.drain().await), Vec::from_iter(delivery_ids(&expected)));
    for other in [&wh2, &wh4, &off] {
        assert_eq!(deliveries_of(&h, other, &id).await, 0, "{} got a delivery", other.id);
    }

    // version_processed for A: wh2 and wh3.
    let id = random_id("msg");
    let body = event_body("version_processed", &a.id);
    let expected = expected_deliveries(&id, &[&wh2, &wh3]);
    assert_eq!(h.post_event(&id, &body).await.ingest(202, &id), expected);
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &a.id,
        name: EventName::VersionProcessed,
        deliveries: &expected,
    };
    assert_stored(&h, &posted, EventState::Complete, true).await;
    assert_eq!(sorted(h.drain().await), Vec::from_iter(delivery_ids(&expected)));

    // version_published for B: wh4 alone.
    let id = random_id("msg");
    let body = event_body("version_published", &b.id);
    let expected = expected_deliveries(&id, &[&wh4]);
    assert_eq!(h.post_event(&id, &body).await.ingest(202, &id), expected);
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &b.id,
        name: EventName::VersionPublished,
        deliveries: &expected,
    };
    assert_stored(&h, &posted, EventState::Complete, true).await;
    assert_eq!(h.drain().await, vec![expected[0].0.clone()]);
}

async fn no_matching_webhook(backends: Backends) {
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    h.webhook(&a.id, &[EventName::VersionProcessFailed], false).await;

    // A's only enabled webhook is on another event; an app nobody registered has none at all.
    for (event, app_id) in [("version_process_failed", a.id.as_str()), ("version_published", "app_nobody")] {
        let id = random_id("msg");
        let body = event_body(event, app_id);
        let reply = h.post_event(&id, &body).await;
        assert_eq!(reply.ingest(202, &id), []);
        assert_eq!(reply.json(), serde_json::json!({"event_id": id, "deliveries": []}));
        let name = EventName::parse(event).unwrap();
        let posted = Posted { id: &id, body: &body, app_id, name, deliveries: &[] };
        assert_stored(&h, &posted, EventState::Complete, true).await;
        assert_eq!(h.drain().await, Vec::<String>::new());
    }
}

async fn duplicates(backends: Backends) {
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    let wh1 = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    let wh2 = h.webhook(&a.id, &[EventName::VersionPublished], true).await;

    let id = random_id("msg");
    let body = event_body("version_published", &a.id);
    let first = h.post_event(&id, &body).await;
    let expected = expected_deliveries(&id, &[&wh1, &wh2]);
    assert_eq!(first.ingest(202, &id), expected);
    assert_eq!(sorted(h.drain().await), Vec::from_iter(delivery_ids(&expected)));

    // The pipeline's retry: same webhook-id, signed again later. Same answer, with 200, and
    // nothing new anywhere. A webhook added since does not join an event already fanned out.
    let late = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    for _ in 0..2 {
        let again = h.call(h.signed_at(&id, common::now_secs() - 1, body.clone())).await;
        assert_eq!(again.ingest(200, &id), expected);
        assert_eq!(again.text, first.text, "a duplicate gets the identical body");
        assert_eq!(h.drain().await, Vec::<String>::new(), "no new queue messages");
    }
    assert_eq!(deliveries_of(&h, &wh1, &id).await, 1);
    assert_eq!(deliveries_of(&h, &wh2, &id).await, 1);
    assert_eq!(deliveries_of(&h, &late, &id).await, 0);
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &a.id,
        name: EventName::VersionPublished,
        deliveries: &expected,
    };
    assert_stored(&h, &posted, EventState::Complete, true).await;
}

async fn concurrent_duplicates(backends: Backends) {
    const N: usize = 8;
    let h = Harness::new(&backends).await;
    let a = h.app().await;
    let webhooks = [
        h.webhook(&a.id, &[EventName::VersionPublished], true).await,
        h.webhook(&a.id, &[EventName::VersionPublished, EventName::VersionProcessed], true).await,
        h.webhook(&a.id, &[EventName::VersionPublished], true).await,
    ];
    let id = random_id("msg");
    let body = event_body("version_published", &a.id);
    let expected = expected_deliveries(&id, &webhooks.iter().collect::<Vec<_>>());

    // All requests built and signed first, then released together.
    let start = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let router = h.router.clone();
            let request = h.signed(&id, body.clone());
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                common::call(router, request).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }

    let accepted: Vec<_> = replies.iter().filter(|r| r.status.as_u16() == 202).collect();
    // One 202 on any store whose conditional writes are atomic (SQLite here, DynamoDB in
    // production; the contract suite holds both to it). moto's are not under concurrency and
    // once in a while let two requests in: both must then give the same answer.
    let statuses: Vec<_> = replies.iter().map(|r| r.status).collect();
    assert!(!accepted.is_empty() && accepted.len() <= 2, "one 202 (two on moto at most): {statuses:?}");
    for extra in &accepted[1..] {
        assert_eq!(extra.text, accepted[0].text);
    }
    assert_eq!(accepted[0].ingest(202, &id), expected);
    for reply in &replies {
        match reply.status.as_u16() {
            202 => {}
            200 => {
                assert_eq!(reply.ingest(200, &id), expected);
                assert_eq!(reply.text, accepted[0].text);
            }
            409 => {
                let message = reply.error(409, "conflict");
                assert!(message.contains(&id), "{message}");
                assert_eq!(reply.headers.get("retry-after").unwrap(), "5");
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }

    // One set of deliveries, each on the queue once per accepting request.
    let queued = h.drain().await;
    assert_eq!(queued.len(), webhooks.len() * accepted.len(), "{queued:?}");
    assert_eq!(queued.iter().cloned().collect::<BTreeSet<_>>(), delivery_ids(&expected));
    for webhook in &webhooks {
        assert_eq!(deliveries_of(&h, webhook, &id).await, 1);
    }
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &a.id,
        name: EventName::VersionPublished,
        deliveries: &expected,
    };
    assert_stored(&h, &posted, EventState::Complete, true).await;

    // Once settled, a late duplicate gets the first answer.
    let late = h.post_event(&id, &body).await;
    assert_eq!(late.ingest(200, &id), expected);
    assert_eq!(late.text, accepted[0].text);
    assert_eq!(h.drain().await, Vec::<String>::new());
}

async fn enqueue_failure_then_retry(backends: Backends) {
    let failing = FaultyQueue::new(backends.queue.clone());
    failing.faults().fail_calls_to("send");
    let h = Harness::with_queue(&backends, failing.clone()).await;
    let a = h.app().await;
    let wh1 = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    let wh2 = h.webhook(&a.id, &[EventName::VersionPublished], true).await;
    let id = random_id("msg");
    let body = event_body("version_published", &a.id);
    let expected = expected_deliveries(&id, &[&wh1, &wh2]);
    let posted = Posted {
        id: &id,
        body: &body,
        app_id: &a.id,
        name: EventName::VersionPublished,
        deliveries: &expected,
    };

    // The queue is down: 503, the event and its deliveries are recorded but not flagged, the
    // lease is given back, nothing is on the queue.
    let unavailable = r#"{"error":{"code":"unavailable","message":"queue unavailable; retry later"}}"#;
    for attempt in 1..=2 {
        let reply = h.post_event(&id, &body).await;
        assert_eq!(reply.error(503, "unavailable"), "queue unavailable; retry later");
        assert_eq!(reply.text, unavailable);
        assert_eq!(reply.headers.get("retry-after").unwrap(), "5");
        assert_eq!(failing.faults().count("send"), attempt, "attempt {attempt} tried to send");
        assert_stored(&h, &posted, EventState::Accepted, false).await;
        let event = h.store.get_event(&id).await.unwrap().unwrap();
        assert!(
            event.lease_until.timestamp_millis() <= now_millis(),
            "attempt {attempt}: the lease was not released ({})",
            event.lease_until
        );
        assert_eq!(h.drain().await, Vec::<String>::new());
    }

    // The queue is back: the pipeline's retry finishes the job and gets the deliveries.
    failing.faults().heal();
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    let retried = h.post_event(&id, &body).await;
    assert_eq!(retried.ingest(200, &id), expected);
    for d in h.drain().await {
        *per_delivery.entry(d).or_default() += 1;
    }
    assert_stored(&h, &posted, EventState::Complete, true).await;

    let third = h.post_event(&id, &body).await;
    assert_eq!(third.ingest(200, &id), expected);
    assert_eq!(third.text, retried.text);
    for d in h.drain().await {
        *per_delivery.entry(d).or_default() += 1;
    }
    let want: HashMap<String, usize> = expected.iter().map(|(d, _)| (d.clone(), 1)).collect();
    assert_eq!(per_delivery, want, "each delivery reaches the queue exactly once");
    assert_eq!(deliveries_of(&h, &wh1, &id).await, 1);
    assert_eq!(deliveries_of(&h, &wh2, &id).await, 1);
    // The two failed tries and the retry sent; the complete event's duplicate did not.
    assert_eq!(failing.faults().count("send"), 3);
}
