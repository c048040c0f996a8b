//! One queue message = one attempt: what goes on the wire, what is recorded, and what the queue
//! is told to do next, against real HTTP receivers on 127.0.0.1 and the SQLite store.
//!
//! Messages are processed back to back through the `Deliverer`: the retry delay is asserted on
//! the outcome, never waited for.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::{
    HANG, Receiver, TIMEOUT, attempts, big_body, config, create_delivery, create_webhook, delivery,
    message_body, within_jitter,
};
use deliver::Handler;
use patchbay_core::model::{AttemptError, DeliveryStatus, PayloadFormat, RetiredSecret, WebhookMethod};
use patchbay_core::secret::Secret;
use patchbay_core::service::deliver::{KEPT_BODY_BYTES, MessageOutcome};
use patchbay_core::signing::{VerifyError, generate_secret, verify_headers};
use patchbay_testing::backends as testing;
use patchbay_testing::samples::now;

const ONE_SECOND: Duration = Duration::from_secs(1);

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn verify(secret: &Secret, hit: &common::Hit) -> Result<String, VerifyError> {
    verify_headers(secret, &hit.headers, &hit.body, unix_now(), 300)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_records_one_attempt_and_sends_a_signed_json_request() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/ok?app={{app.name}}"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();

    let outcome = handler.deliver.process(&message_body(&created.id)).await.unwrap();
    assert_eq!(outcome, MessageOutcome::Done);

    let done = delivery(store, &created.id).await;
    assert_eq!(done.status, DeliveryStatus::Succeeded);
    assert_eq!(done.attempt_count, 1);
    assert_eq!(done.reason, None);
    let recorded = attempts(store, &created.id).await;
    assert_eq!(recorded.len(), 1);
    let a = &recorded[0];
    assert_eq!((a.number, a.status_code, a.error), (1, Some(200), None));
    assert_eq!(a.response_body.as_deref(), Some("ok"));
    assert_eq!(a.retry_after, None);
    assert_eq!(a.delivery_id, created.id);
    assert!(a.duration_ms < 5_000, "{}", a.duration_ms);
    assert!(a.expires_at > a.at + TimeDelta::days(29), "kept for the retention period");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/ok");
    assert_eq!(hit.query_pairs(), [("app".to_owned(), "Test App".to_owned())]);
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert!(
        hit.header("user-agent").unwrap().starts_with("Patchbay-Webhooks/"),
        "{:?}",
        hit.header("user-agent")
    );
    assert_eq!(hit.header("x-token"), Some("t"), "studio header");
    assert_eq!(hit.header("webhook-id"), Some(created.id.as_str()), "webhook-id is the delivery id");
    assert_eq!(verify(&webhook.secrets.current, hit).unwrap(), created.id);
    assert_eq!(verify(&generate_secret(), hit), Err(VerifyError::NoMatchingSignature));
    let body: serde_json::Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"text": "Test App \"Test Version\" 🚀"}),
        "rendered from the stored event"
    );

    // The same message again (SQS delivers at least once): nothing is sent twice.
    let again = handler.deliver.process(&message_body(&created.id)).await.unwrap();
    assert_eq!(again, MessageOutcome::Done);
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(attempts(store, &created.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_twice_then_succeeds_on_the_schedule_with_one_webhook_id() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/flaky"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let body = message_body(&created.id);

    for attempt in 1..=2 {
        match handler.deliver.process(&body).await.unwrap() {
            MessageOutcome::RetryIn(d) => assert!(within_jitter(d, ONE_SECOND), "attempt {attempt}: {d:?}"),
            other => panic!("attempt {attempt}: {other:?}, expected a retry"),
        }
        let pending = delivery(store, &created.id).await;
        assert_eq!(pending.status, DeliveryStatus::Pending);
        assert_eq!(pending.attempt_count, attempt);
        assert_eq!(pending.reason.as_deref(), Some("receiver answered 500"));
        let w = store.get_webhook(&webhook.id).await.unwrap().unwrap();
        assert!(w.failing_since.is_some() && w.enabled, "failing streak noted, not yet disabled");
    }
    assert_eq!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::Done);

    let done = delivery(store, &created.id).await;
    assert_eq!(done.status, DeliveryStatus::Succeeded);
    assert_eq!(done.attempt_count, 3);
    assert_eq!(done.reason, None, "a success clears the last failure's reason");
    assert_eq!(done.next_attempt_at, None, "no retry once it succeeded");
    let recorded = attempts(store, &created.id).await;
    assert_eq!(recorded.iter().map(|a| a.number).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(recorded.iter().map(|a| a.status_code).collect::<Vec<_>>(), [Some(500), Some(500), Some(200)]);
    assert_eq!(
        recorded.iter().map(|a| a.response_body.as_deref()).collect::<Vec<_>>(),
        [Some("not yet"), Some("not yet"), Some("finally")]
    );
    assert!(recorded.iter().all(|a| a.error.is_none()));
    assert!(store.get_webhook(&webhook.id).await.unwrap().unwrap().failing_since.is_none(), "streak ended");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for hit in &hits {
        assert_eq!(hit.header("webhook-id"), Some(created.id.as_str()), "same webhook-id on every attempt");
        assert_eq!(verify(&webhook.secrets.current, hit).unwrap(), created.id);
    }
    assert!(hits.windows(2).all(|w| w[0].body == w[1].body), "the same body every time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_wins_when_longer_than_the_schedule() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/busy"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();

    let outcome = handler.deliver.process(&message_body(&created.id)).await.unwrap();
    assert_eq!(outcome, MessageOutcome::RetryIn(Duration::from_secs(2)));
    let recorded = attempts(store, &created.id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status_code, Some(503));
    assert_eq!(recorded[0].retry_after.as_deref(), Some("2"));
    assert_eq!(recorded[0].response_body.as_deref(), Some("busy"));
    let pending = delivery(store, &created.id).await;
    assert_eq!((pending.status, pending.attempt_count), (DeliveryStatus::Pending, 1));
    assert_eq!(pending.reason.as_deref(), Some("receiver answered 503"));
    // When the retry runs, for people (the console's "next retry"): the queue's delay from now.
    let next = pending.next_attempt_at.expect("next attempt time while a retry is scheduled");
    assert_eq!(next - pending.updated_at, chrono::TimeDelta::seconds(2));
}

/// A `1s,1s` schedule against a failing receiver: two retries a second apart, then done.
async fn retries_twice_a_second_apart_then_gives_up(handler: &Handler, body: &str) {
    for _ in 0..2 {
        let outcome = handler.deliver.process(body).await.unwrap();
        assert!(matches!(outcome, MessageOutcome::RetryIn(d) if within_jitter(d, ONE_SECOND)), "{outcome:?}");
    }
    assert_eq!(handler.deliver.process(body).await.unwrap(), MessageOutcome::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_receiver_gives_up_after_the_schedule() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/fail"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let body = message_body(&created.id);

    retries_twice_a_second_apart_then_gives_up(&handler, &body).await;

    let failed = delivery(store, &created.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempt_count, 3);
    let reason = failed.reason.unwrap();
    assert!(
        reason.contains("receiver answered 500") && reason.contains("gave up after 3 attempts"),
        "{reason}"
    );
    assert_eq!(attempts(store, &created.id).await.len(), 3);

    // A stray duplicate of the message after the end sends nothing more.
    assert_eq!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::Done);
    assert_eq!(receiver.hits().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_recorded_and_retried() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/hang"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();

    let started = std::time::Instant::now();
    let outcome = handler.deliver.process(&message_body(&created.id)).await.unwrap();
    // The timeout, not the receiver, ended it (with room for a loaded machine).
    assert!(
        started.elapsed() < HANG.checked_sub(Duration::from_secs(2)).unwrap(),
        "the timeout did not cut the request short"
    );
    assert!(matches!(outcome, MessageOutcome::RetryIn(d) if within_jitter(d, ONE_SECOND)), "{outcome:?}");

    let recorded = attempts(store, &created.id).await;
    assert_eq!(recorded.len(), 1);
    let a = &recorded[0];
    assert_eq!((a.status_code, a.error), (None, Some(AttemptError::Timeout)));
    let timeout_ms = u64::try_from(TIMEOUT.as_millis()).unwrap();
    let expected = timeout_ms - 50..timeout_ms + 5_000;
    assert!(expected.contains(&a.duration_ms), "duration {} ms for a {TIMEOUT:?} timeout", a.duration_ms);
    assert_eq!(a.response_body, None);
    assert!(a.error_detail.as_deref().unwrap().contains(&format!("{TIMEOUT:?}")), "{:?}", a.error_detail);
    let pending = delivery(store, &created.id).await;
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert!(pending.reason.as_deref().unwrap().starts_with("timeout"), "{:?}", pending.reason);
    assert_eq!(receiver.hits_on("/hang"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhooks_own_schedule_replaces_the_functions() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook =
        create_webhook(store, &receiver.url("/fail"), |w| w.spec.retry_schedule = Some("1s,1s".into())).await;
    let created = create_delivery(store, &webhook).await;
    // The function's own schedule would retry ten times, a minute apart.
    let handler = Handler::with_backends(&backends.events(), &config(&["1m"; 10].join(","))).unwrap();
    let body = message_body(&created.id);

    retries_twice_a_second_apart_then_gives_up(&handler, &body).await;
    let failed = delivery(store, &created.id).await;
    assert_eq!((failed.status, failed.attempt_count), (DeliveryStatus::Failed, 3));
    assert!(failed.reason.unwrap().contains("gave up after 3 attempts"));
    assert_eq!(receiver.hits_on("/fail"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhooks_own_timeout_cuts_the_request_before_the_functions() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/hang"), |w| w.spec.timeout = Some("1s".into())).await;
    let created = create_delivery(store, &webhook).await;
    let mut config = config("1s,1s");
    // Longer than the webhook's 1 s, still shorter than the receiver's hang.
    config.send.timeout = HANG.checked_sub(Duration::from_secs(2)).unwrap();
    let handler = Handler::with_backends(&backends.events(), &config).unwrap();

    let started = std::time::Instant::now();
    let outcome = handler.deliver.process(&message_body(&created.id)).await.unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < config.send.timeout.checked_sub(Duration::from_secs(3)).unwrap(), "{elapsed:?}");
    assert!(matches!(outcome, MessageOutcome::RetryIn(_)), "{outcome:?}");

    let recorded = attempts(store, &created.id).await;
    let a = &recorded[0];
    assert_eq!((a.status_code, a.error), (None, Some(AttemptError::Timeout)));
    assert!((950..4_000).contains(&a.duration_ms), "duration {} ms for a 1 s timeout", a.duration_ms);
    assert!(a.error_detail.as_deref().unwrap().contains("within 1s"), "{:?}", a.error_detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_retried_and_never_followed() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/redirect"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let body = message_body(&created.id);

    for _ in 0..2 {
        let outcome = handler.deliver.process(&body).await.unwrap();
        assert!(matches!(outcome, MessageOutcome::RetryIn(_)), "a redirect is not permanent: {outcome:?}");
    }
    assert_eq!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::Done);

    let recorded = attempts(store, &created.id).await;
    assert_eq!(recorded.len(), 3);
    for a in &recorded {
        assert_eq!((a.status_code, a.error), (None, Some(AttemptError::Redirect)));
        assert_eq!(a.error_detail.as_deref(), Some("302 to /target"));
    }
    let failed = delivery(store, &created.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    let reason = failed.reason.unwrap();
    assert!(reason.starts_with("redirect: 302 to /target") && reason.contains("gave up"), "{reason}");
    assert_eq!(receiver.hits_on("/redirect"), 3);
    assert_eq!(receiver.hits_on("/target"), 0, "the redirect target must never be hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_signs_with_both_secrets_until_the_previous_expires() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    let (old, new) = (generate_secret(), generate_secret());

    let rotating = create_webhook(store, &receiver.url("/ok"), |w| {
        w.secrets.current = new.clone();
        w.secrets.retired = vec![RetiredSecret { secret: old.clone(), until: now() + TimeDelta::hours(1) }];
    })
    .await;
    let created = create_delivery(store, &rotating).await;
    assert_eq!(handler.deliver.process(&message_body(&created.id)).await.unwrap(), MessageOutcome::Done);
    let hit = receiver.hits().pop().unwrap();
    let signatures = hit.header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(signatures.split(' ').all(|s| s.starts_with("v1,")), "{signatures}");
    assert_eq!(verify(&new, &hit).unwrap(), created.id);
    assert_eq!(verify(&old, &hit).unwrap(), created.id);
    assert_eq!(verify(&generate_secret(), &hit), Err(VerifyError::NoMatchingSignature));

    // Once the grace period is over, only the current secret signs.
    let rotated = create_webhook(store, &receiver.url("/ok"), |w| {
        w.secrets.current = new.clone();
        w.secrets.retired = vec![RetiredSecret { secret: old.clone(), until: now() - TimeDelta::minutes(1) }];
    })
    .await;
    let created = create_delivery(store, &rotated).await;
    assert_eq!(handler.deliver.process(&message_body(&created.id)).await.unwrap(), MessageOutcome::Done);
    let hit = receiver.hits().pop().unwrap();
    assert_eq!(hit.header("webhook-signature").unwrap().split(' ').count(), 1);
    assert_eq!(verify(&new, &hit).unwrap(), created.id);
    assert_eq!(verify(&old, &hit), Err(VerifyError::NoMatchingSignature));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_webhook_sends_urlencoded_nested_fields() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/ok"), |w| {
        w.spec.format = PayloadFormat::Form;
        w.spec.payload = serde_json::json!({"a": {"b": "v"}, "label": "{{version.label}}"});
    })
    .await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    assert_eq!(handler.deliver.process(&message_body(&created.id)).await.unwrap(), MessageOutcome::Done);

    let hit = receiver.hits().pop().unwrap();
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.header("content-type"), Some("application/x-www-form-urlencoded"));
    let raw = String::from_utf8(hit.body.clone()).unwrap();
    assert_eq!(raw, "a%5Bb%5D=v&label=Test+Version");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&hit.body).into_owned().collect();
    assert!(pairs.contains(&("a[b]".to_owned(), "v".to_owned())), "{pairs:?}");
    assert_eq!(verify(&webhook.secrets.current, &hit).unwrap(), created.id, "signed over the form body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_webhook_sends_the_payload_in_the_query_and_no_body() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/ok?app={{app.name}}"), |w| {
        w.spec.method = WebhookMethod::Get;
        w.spec.payload = serde_json::json!({"label": "{{version.label}}", "n": {"x": 1}});
    })
    .await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    assert_eq!(handler.deliver.process(&message_body(&created.id)).await.unwrap(), MessageOutcome::Done);

    let hit = receiver.hits().pop().unwrap();
    assert_eq!(hit.method, "GET");
    assert!(hit.body.is_empty(), "{:?}", String::from_utf8_lossy(&hit.body));
    assert_eq!(hit.header("content-type"), None);
    assert_eq!(
        hit.query_pairs(),
        [
            ("app".to_owned(), "Test App".to_owned()),
            ("label".to_owned(), "Test Version".to_owned()),
            ("n[x]".to_owned(), "1".to_owned()),
        ]
    );
    assert!(hit.header("user-agent").unwrap().starts_with("Patchbay-Webhooks/"));
    assert_eq!(verify(&webhook.secrets.current, &hit).unwrap(), created.id, "signed over the empty body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_body_keeps_the_first_4_kib_on_a_character_boundary() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/big"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();
    assert_eq!(handler.deliver.process(&message_body(&created.id)).await.unwrap(), MessageOutcome::Done);

    let kept = attempts(store, &created.id).await.pop().unwrap().response_body.unwrap();
    assert!(kept.len() <= KEPT_BODY_BYTES, "{} bytes kept", kept.len());
    assert!(!kept.contains('\u{FFFD}'), "a character was cut in two");
    assert!(big_body().starts_with(&kept), "not a prefix of the response");
    assert_eq!(kept.len(), 4095, "everything up to the split character");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_or_deleted_webhooks_and_finished_deliveries_send_nothing() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let handler = Handler::with_backends(&backends.events(), &config("1s,1s")).unwrap();

    let disabled = create_webhook(store, &receiver.url("/ok"), |w| w.enabled = false).await;
    let to_disabled = create_delivery(store, &disabled).await;
    let deleted = create_webhook(store, &receiver.url("/ok"), |_| {}).await;
    let to_deleted = create_delivery(store, &deleted).await;
    store.delete_webhook(&deleted.id).await.unwrap();
    let live = create_webhook(store, &receiver.url("/ok"), |_| {}).await;
    let mut finished = create_delivery(store, &live).await;
    finished.status = DeliveryStatus::Succeeded;
    finished.attempt_count = 1;
    store.update_delivery(&finished).await.unwrap();

    for (id, reason) in [(&to_disabled.id, "webhook is disabled"), (&to_deleted.id, "webhook was deleted")] {
        assert_eq!(handler.deliver.process(&message_body(id)).await.unwrap(), MessageOutcome::Done);
        let d = delivery(store, id).await;
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.reason.as_deref(), Some(reason));
        assert_eq!(d.attempt_count, 0);
        assert!(attempts(store, id).await.is_empty());
    }
    assert_eq!(handler.deliver.process(&message_body(&finished.id)).await.unwrap(), MessageOutcome::Done);
    assert_eq!(delivery(store, &finished.id).await, finished, "a finished delivery is left as it was");

    // Messages that can never be processed are dropped rather than fed to the DLQ.
    for body in [message_body("dlv_unknown"), "not json".to_owned(), String::new()] {
        assert_eq!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::Done, "{body:?}");
    }
    assert_eq!(receiver.hits().len(), 0, "nothing may be sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_for_the_whole_window_is_auto_disabled() {
    let backends = testing::sqlite().await;
    let store = backends.store.as_ref();
    let receiver = Receiver::start().await;
    let webhook = create_webhook(store, &receiver.url("/fail"), |_| {}).await;
    let created = create_delivery(store, &webhook).await;
    let mut cfg = config("1s,1s,1s");
    cfg.auto_disable_after = Duration::from_millis(1);
    let handler = Handler::with_backends(&backends.events(), &cfg).unwrap();
    let body = message_body(&created.id);

    assert!(matches!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::RetryIn(_)));
    let w = store.get_webhook(&webhook.id).await.unwrap().unwrap();
    assert!(w.enabled, "one failure does not disable");
    let since = w.failing_since.unwrap();

    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(matches!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::RetryIn(_)));
    let w = store.get_webhook(&webhook.id).await.unwrap().unwrap();
    assert!(!w.enabled, "failing for longer than the window disables");
    let reason = w.disabled_reason.unwrap();
    assert!(reason.starts_with("auto-disabled"), "{reason}");
    assert!(reason.contains(&since.to_rfc3339()), "{reason}");
    assert!(w.disabled_at.is_some());

    // The next attempt finds the webhook off and finishes without sending.
    assert_eq!(handler.deliver.process(&body).await.unwrap(), MessageOutcome::Done);
    let d = delivery(store, &created.id).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.reason.as_deref(), Some("webhook is disabled"));
    assert_eq!(d.attempt_count, 2);
    assert_eq!(receiver.hits().len(), 2);
}
