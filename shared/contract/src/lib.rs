//! The behaviour every adapter of Patchbay's ports must have, written once.
//!
//! [`adapter_contract!`] expands to one `#[tokio::test]` per clause for a given set of adapter
//! factories; `shared/adapters/tests/contract_sqlite.rs` runs it in-process and
//! `contract_aws.rs` runs it against DynamoDB and SQS on moto. Each clause makes its own ids,
//! so clauses can share a store.
#![allow(clippy::missing_panics_doc, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use patchbay_core::ids::random_id;
use patchbay_core::model::{AppToken, Attempt, AttemptError, DeliveryStatus, EventState, LicenseKey};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, DeliveryStore, EventCreation, EventStore, KeyStore, KeyVerdict,
    OutgoingMessage, Queue, StoreError, TokenStore, WebhookStore,
};
use patchbay_core::secret::Secret;
use patchbay_testing::samples::{now, sample_app, sample_delivery, sample_event, sample_key, sample_webhook};

/// Everything the main store implements.
pub trait MainStore:
    AppStore + AppSecretIndex + WebhookStore + EventStore + DeliveryStore + TokenStore
{
}
impl<T: AppStore + AppSecretIndex + WebhookStore + EventStore + DeliveryStore + TokenStore> MainStore for T {}

pub async fn apps_create_get_update<S: MainStore>(store: &S) {
    let app = sample_app();
    store.create_app(&app).await.unwrap();
    assert_eq!(store.get_app(&app.id).await.unwrap(), Some(app.clone()));
    assert!(matches!(store.create_app(&app).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(store.get_app("app_missing").await.unwrap(), None);

    assert_eq!(store.app_for_secret(app.app_secret.expose()).await.unwrap(), Some(app.clone()));
    let mut rotated = app.clone();
    rotated.app_secret = Secret::random_alphanumeric(40);
    store.update_app(&rotated).await.unwrap();
    assert_eq!(store.app_for_secret(rotated.app_secret.expose()).await.unwrap(), Some(rotated.clone()));
    assert_eq!(store.app_for_secret(app.app_secret.expose()).await.unwrap(), None, "old secret still maps");

    let ghost = sample_app();
    assert!(matches!(store.update_app(&ghost).await, Err(StoreError::NotFound(_))));
}

pub async fn tokens_create_find_list_revoke<S: MainStore>(store: &S) {
    let app_id = random_id("app");
    let (first, first_value) = AppToken::generate(&app_id, "ci", now());
    let (mut second, _) = AppToken::generate(&app_id, "console", now());
    second.created_at = first.created_at + TimeDelta::milliseconds(5);
    let (other, _) = AppToken::generate(&random_id("app"), "other", now());
    for t in [&first, &second, &other] {
        store.create_token(t).await.unwrap();
    }
    assert!(matches!(store.create_token(&first).await, Err(StoreError::AlreadyExists(_))));

    // Found by the hash of its value, and only by that.
    let hash = patchbay_core::ids::secret_lookup_hash(first_value.expose());
    assert_eq!(store.token_by_hash(&hash).await.unwrap(), Some(first.clone()));
    assert_eq!(store.token_by_hash(&patchbay_core::ids::secret_lookup_hash("pbt_nope")).await.unwrap(), None);

    let listed = store.list_tokens(&app_id).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [&first.id, &second.id]);
    assert!(store.list_tokens("app_none").await.unwrap().is_empty());

    // Last use is recorded, and shows in lookups and listings.
    let used = now() + TimeDelta::seconds(3);
    store.touch_token(&first.id, used).await.unwrap();
    assert_eq!(store.token_by_hash(&hash).await.unwrap().unwrap().last_used_at, Some(used));
    assert_eq!(store.list_tokens(&app_id).await.unwrap()[0].last_used_at, Some(used));

    // Revoked at once: the very next lookup misses; a second revoke and a touch are NotFound.
    let revoked = store.delete_token(&first.id).await.unwrap();
    assert_eq!((revoked.id.as_str(), revoked.app_id.as_str()), (first.id.as_str(), app_id.as_str()));
    assert_eq!(store.token_by_hash(&hash).await.unwrap(), None);
    assert!(matches!(store.delete_token(&first.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.touch_token(&first.id, used).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.token_by_hash(&hash).await.unwrap(), None, "a touch brought it back");
    let left = store.list_tokens(&app_id).await.unwrap();
    assert_eq!(left.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [&second.id]);
    assert_eq!(store.list_tokens(&other.app_id).await.unwrap(), vec![other]);
}

pub async fn webhooks_crud<S: MainStore>(store: &S) {
    let app = sample_app();
    let first = sample_webhook(&app.id);
    let mut second = sample_webhook(&app.id);
    second.created_at = first.created_at + TimeDelta::milliseconds(5);
    store.create_webhook(&first).await.unwrap();
    store.create_webhook(&second).await.unwrap();
    store.create_webhook(&sample_webhook("app_other")).await.unwrap();
    assert!(matches!(store.create_webhook(&first).await, Err(StoreError::AlreadyExists(_))));

    assert_eq!(store.get_webhook(&first.id).await.unwrap(), Some(first.clone()));
    let listed = store.list_webhooks(&app.id).await.unwrap();
    assert_eq!(listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), [&first.id, &second.id]);

    let mut changed = first.clone();
    changed.enabled = false;
    changed.disabled_reason = Some("manual".into());
    store.update_webhook(&changed).await.unwrap();
    assert_eq!(store.get_webhook(&first.id).await.unwrap(), Some(changed));

    store.delete_webhook(&first.id).await.unwrap();
    assert_eq!(store.get_webhook(&first.id).await.unwrap(), None);
    assert!(matches!(store.delete_webhook(&first.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.update_webhook(&first).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.list_webhooks(&app.id).await.unwrap().len(), 1);
}

pub async fn events_are_created_once_with_their_deliveries<S: MainStore>(store: &S) {
    let (event, deliveries) = sample_event("app_e", &["wh_1", "wh_2", "wh_3"]);
    assert_eq!(store.create_event(&event, &deliveries).await.unwrap(), EventCreation::Created);
    for d in &deliveries {
        assert_eq!(store.get_delivery(&d.id).await.unwrap().as_ref(), Some(d));
    }
    assert_eq!(store.get_event(&event.id).await.unwrap(), Some(event.clone()));

    // A second writer with the same id learns what was stored and writes nothing.
    let mut rival = event.clone();
    rival.body = "{}".into();
    rival.deliveries.clear();
    match store.create_event(&rival, &[]).await.unwrap() {
        EventCreation::Exists(stored) => assert_eq!(stored, event),
        EventCreation::Created => panic!("duplicate event id was created twice"),
    }
    // Re-ensuring deliveries is idempotent.
    assert_eq!(store.ensure_deliveries(&deliveries).await.unwrap(), 0);
}

pub async fn concurrent_event_creation_has_one_winner<S: MainStore + 'static>(store: Arc<S>) {
    let (event, deliveries) = sample_event("app_c", &["wh_1"]);
    let tasks = (0..8).map(|_| {
        let (store, event, deliveries) = (store.clone(), event.clone(), deliveries.clone());
        tokio::spawn(async move { store.create_event(&event, &deliveries).await.unwrap() })
    });
    let results = futures::future::join_all(tasks).await;
    let created = results.iter().filter(|r| matches!(r, Ok(EventCreation::Created))).count();
    assert_eq!(created, 1);
}

pub async fn event_lease_is_a_conditional_write<S: MainStore>(store: &S) {
    let (event, deliveries) = sample_event("app_l", &["wh_1"]);
    store.create_event(&event, &deliveries).await.unwrap();
    let new_lease = event.lease_until + TimeDelta::seconds(60);
    store.renew_event_lease(&event.id, event.lease_until, new_lease).await.unwrap();
    // The old lease value no longer matches: whoever read it lost the race.
    assert!(matches!(
        store.renew_event_lease(&event.id, event.lease_until, new_lease).await,
        Err(StoreError::Conflict(_))
    ));
    let done_at = now();
    store.set_event_state(&event.id, EventState::Complete, done_at).await.unwrap();
    let stored = store.get_event(&event.id).await.unwrap().unwrap();
    assert_eq!(stored.state, EventState::Complete);
    assert_eq!(stored.lease_until, done_at);
    assert_eq!(stored.body, event.body);
    assert!(matches!(
        store.set_event_state("msg_missing", EventState::Complete, done_at).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn deliveries_update_and_outbox<S: MainStore>(store: &S) {
    let (event, deliveries) = sample_event("app_d", &["wh_a", "wh_b"]);
    store.create_event(&event, &deliveries).await.unwrap();
    let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    store.mark_enqueued(&ids[..1]).await.unwrap();
    assert!(store.get_delivery(&ids[0]).await.unwrap().unwrap().enqueued);
    assert!(!store.get_delivery(&ids[1]).await.unwrap().unwrap().enqueued);

    let mut done = store.get_delivery(&ids[1]).await.unwrap().unwrap();
    done.status = DeliveryStatus::Succeeded;
    done.attempt_count = 2;
    done.reason = Some("ok".into());
    store.update_delivery(&done).await.unwrap();
    assert_eq!(store.get_delivery(&ids[1]).await.unwrap(), Some(done));

    let ghost = sample_delivery("msg_x", "wh_x", "app_x", now());
    assert!(matches!(store.update_delivery(&ghost).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.get_delivery("dlv_missing").await.unwrap(), None);
}

pub async fn deliveries_list_newest_first_with_filter_and_cursor<S: MainStore>(store: &S) {
    let webhook_id = random_id("wh");
    let start = now();
    let mut all = Vec::new();
    for i in 0..25 {
        let mut d =
            sample_delivery(&random_id("msg"), &webhook_id, "app_p", start + TimeDelta::milliseconds(i));
        if i % 3 == 0 {
            d.status = DeliveryStatus::Failed;
        }
        all.push(d);
    }
    // Another webhook's deliveries never show up.
    let other = sample_delivery("msg_o", "wh_other_listing", "app_p", start);
    store.ensure_deliveries(&all).await.unwrap();
    store.ensure_deliveries(&[other]).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list_deliveries(&webhook_id, None, cursor.as_deref(), 10).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    let expected: Vec<String> = all.iter().rev().map(|d| d.id.clone()).collect();
    assert_eq!(seen, expected, "newest first, each once");

    let failed = store.list_deliveries(&webhook_id, Some(DeliveryStatus::Failed), None, 100).await.unwrap();
    let expected_failed: Vec<String> =
        all.iter().rev().filter(|d| d.status == DeliveryStatus::Failed).map(|d| d.id.clone()).collect();
    assert_eq!(failed.items.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), expected_failed);
    assert_eq!(failed.next_cursor, None);
}

pub async fn attempts_append_once<S: MainStore>(store: &S) {
    let delivery = random_id("dlv");
    let attempt = |number: u32| Attempt {
        delivery_id: delivery.clone(),
        number,
        at: now(),
        duration_ms: 12,
        status_code: if number == 1 { Some(500) } else { None },
        error: if number == 1 { None } else { Some(AttemptError::Timeout) },
        error_detail: None,
        response_body: Some("oops \"quoted\"".into()),
        retry_after: Some("2".into()),
        expires_at: now() + TimeDelta::days(30),
    };
    store.record_attempt(&attempt(2)).await.unwrap();
    store.record_attempt(&attempt(1)).await.unwrap();
    assert!(matches!(store.record_attempt(&attempt(1)).await, Err(StoreError::AlreadyExists(_))));
    let listed = store.list_attempts(&delivery).await.unwrap();
    assert_eq!(listed.iter().map(|a| a.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(listed[0].status_code, Some(500));
    assert_eq!(listed[1].error, Some(AttemptError::Timeout));
    assert_eq!(listed[0].response_body.as_deref(), Some("oops \"quoted\""));
    assert!(store.list_attempts("dlv_none").await.unwrap().is_empty());
}

pub async fn keys_create_all_or_nothing<K: KeyStore>(keys: &K) {
    let batch: Vec<LicenseKey> = (0..5).map(|_| sample_key("app_k")).collect();
    assert!(keys.create_keys(&batch).await.unwrap().is_empty());
    assert_eq!(keys.get_key(&batch[0].key).await.unwrap(), Some(batch[0].clone()));

    let fresh = sample_key("app_k");
    let mixed = vec![fresh.clone(), batch[1].clone(), batch[3].clone()];
    let mut duplicates = keys.create_keys(&mixed).await.unwrap();
    duplicates.sort();
    let mut expected = vec![batch[1].key.clone(), batch[3].key.clone()];
    expected.sort();
    assert_eq!(duplicates, expected);
    assert_eq!(keys.get_key(&fresh.key).await.unwrap(), None, "half-imported");
}

pub async fn keys_check_and_register<K: KeyStore>(keys: &K) {
    let key = sample_key("app_r");
    keys.create_keys(std::slice::from_ref(&key)).await.unwrap();

    match keys.check_key(&key.key, "app_r", true).await.unwrap() {
        KeyVerdict::Valid(k) => assert_eq!(k.registrations, 1),
        other => panic!("{other:?}"),
    }
    match keys.check_key(&key.key, "app_r", false).await.unwrap() {
        KeyVerdict::Valid(k) => {
            assert_eq!(k.registrations, 1, "a check without registering must not count");
            assert_eq!(k.key_secret, key.key_secret);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(keys.check_key("NOPE-NOPE", "app_r", true).await.unwrap(), KeyVerdict::NotFound);
    assert_eq!(keys.check_key(&key.key, "app_other", true).await.unwrap(), KeyVerdict::OtherApp);

    let blocked = keys.set_key_blocked(&key.key, true).await.unwrap();
    assert!(blocked.blocked);
    assert_eq!(keys.check_key(&key.key, "app_r", true).await.unwrap(), KeyVerdict::Blocked);
    // Another app's blocked key is still forbidden, not "blocked": don't leak its state.
    assert_eq!(keys.check_key(&key.key, "app_other", true).await.unwrap(), KeyVerdict::OtherApp);
    let unblocked = keys.set_key_blocked(&key.key, false).await.unwrap();
    assert!(!unblocked.blocked);
    assert_eq!(unblocked.registrations, 1, "failed checks must not count");
    assert!(matches!(keys.set_key_blocked("NOPE", true).await, Err(StoreError::NotFound(_))));
}

/// Whether the store behind an adapter applies concurrent increments exactly. DynamoDB's `ADD`
/// does; moto, which stands in for it in tests, reads and writes the item without a lock and can
/// lose an increment under load. The adapter issues the same single atomic update either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Exact,
    /// Stand-in servers only: every call must still succeed and see a sane count.
    MayLoseUpdates,
}

pub async fn keys_count_concurrent_registrations<K: KeyStore + 'static>(keys: Arc<K>, counting: Counting) {
    let key = sample_key("app_n");
    keys.create_keys(std::slice::from_ref(&key)).await.unwrap();
    let tasks = (0..50).map(|_| {
        let (keys, k) = (keys.clone(), key.key.clone());
        tokio::spawn(async move { keys.check_key(&k, "app_n", true).await.unwrap() })
    });
    let results = futures::future::join_all(tasks).await;
    let mut counts: Vec<u64> = results
        .into_iter()
        .map(|r| match r.unwrap() {
            KeyVerdict::Valid(k) => k.registrations,
            other => panic!("{other:?}"),
        })
        .collect();
    counts.sort_unstable();
    let stored = keys.get_key(&key.key).await.unwrap().unwrap().registrations;
    match counting {
        Counting::Exact => {
            assert_eq!(counts, (1..=50).collect::<Vec<u64>>(), "each call sees its own increment");
            assert_eq!(stored, 50);
        }
        Counting::MayLoseUpdates => {
            assert!(counts.iter().all(|c| (1..=50).contains(c)), "{counts:?}");
            assert!((1..=50).contains(&stored), "stored {stored}");
        }
    }
}

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage { body: body.to_owned(), delay: Duration::ZERO, correlation_id: None }
}

const VISIBLE_SOON: Duration = Duration::from_secs(2);

pub async fn queue_hides_received_messages<Q: Queue>(queue: &Q) {
    queue.send(&[message("d1")]).await.unwrap();
    let got = queue.receive(10, Duration::from_secs(30), VISIBLE_SOON).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "d1");
    assert_eq!(got[0].receive_count, 1);
    assert!(
        queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.unwrap().is_empty(),
        "invisible now"
    );

    // Visibility zero makes it visible at once, and the count goes up.
    queue.change_visibility(&got[0].receipt_handle, Duration::ZERO).await.unwrap();
    let again = queue.receive(10, Duration::from_secs(30), VISIBLE_SOON).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(again[0].message_id, got[0].message_id);

    queue.delete(&again[0].receipt_handle).await.unwrap();
    queue.change_visibility(&again[0].receipt_handle, Duration::ZERO).await.ok();
    assert!(queue.receive(10, Duration::from_secs(1), Duration::ZERO).await.unwrap().is_empty(), "deleted");
}

pub async fn queue_visibility_timeout_expires<Q: Queue>(queue: &Q) {
    queue.send(&[message("v1")]).await.unwrap();
    let got = queue.receive(1, Duration::from_secs(1), VISIBLE_SOON).await.unwrap();
    assert_eq!(got.len(), 1);
    // Not deleted: it comes back once its 1 s visibility runs out.
    let back = queue.receive(1, Duration::from_secs(30), Duration::from_secs(5)).await.unwrap();
    assert_eq!(back.len(), 1, "message did not come back after its visibility timeout");
    assert_eq!(back[0].body, "v1");
    assert_eq!(back[0].receive_count, 2);
}

pub async fn queue_honours_delay<Q: Queue>(queue: &Q) {
    queue
        .send(&[OutgoingMessage {
            body: "later".into(),
            delay: Duration::from_secs(2),
            correlation_id: None,
        }])
        .await
        .unwrap();
    assert!(queue.receive(10, Duration::from_secs(30), Duration::ZERO).await.unwrap().is_empty(), "delayed");
    let got = queue.receive(10, Duration::from_secs(30), Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "later");
}

pub async fn queue_sends_and_receives_many<Q: Queue>(queue: &Q) {
    let bodies: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    // Every other message carries a correlation id (`cor_m3` for `m3`); it comes back with it.
    let messages: Vec<OutgoingMessage> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| OutgoingMessage {
            correlation_id: (i % 2 == 1).then(|| format!("cor_{b}")),
            ..message(b)
        })
        .collect();
    queue.send(&messages).await.unwrap();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let got = queue.receive(10, Duration::from_secs(60), Duration::from_secs(1)).await.unwrap();
        assert!(got.len() <= 10);
        for m in got {
            let sent = messages.iter().find(|s| s.body == m.body).expect("a message that was sent");
            assert_eq!(m.correlation_id, sent.correlation_id, "{}", m.body);
            assert!(seen.insert(m.body.clone()), "{} received twice while invisible", m.body);
            queue.delete(&m.receipt_handle).await.unwrap();
        }
        if seen.len() == bodies.len() {
            break;
        }
    }
    assert_eq!(seen, bodies.into_iter().collect::<HashSet<_>>());
}

/// Expands to one test per contract clause. `$main`, `$keys` and `$queue` are async blocks
/// (or expressions yielding futures) that build a fresh adapter; `$main`/`$keys` return values
/// implementing the store traits, `$queue` a `Queue`. Attributes written first (e.g.
/// `#[ignore = "..."]`) go on every test.
#[macro_export]
macro_rules! adapter_contract {
    ($(#[$attribute:meta])* main: $main:expr, keys: $keys:expr, queue: $queue:expr $(,)?) => {
        $crate::adapter_contract!(
            $(#[$attribute])* main: $main, keys: $keys, queue: $queue, counting: $crate::Counting::Exact
        );
    };
    ($(#[$attribute:meta])* main: $main:expr, keys: $keys:expr, queue: $queue:expr, counting: $counting:expr $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn apps_create_get_update() {
            let Some(s) = $main.await else { return };
            $crate::apps_create_get_update(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn tokens_create_find_list_revoke() {
            let Some(s) = $main.await else { return };
            $crate::tokens_create_find_list_revoke(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn webhooks_crud() {
            let Some(s) = $main.await else { return };
            $crate::webhooks_crud(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn events_are_created_once_with_their_deliveries() {
            let Some(s) = $main.await else { return };
            $crate::events_are_created_once_with_their_deliveries(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn concurrent_event_creation_has_one_winner() {
            let Some(s) = $main.await else { return };
            $crate::concurrent_event_creation_has_one_winner(std::sync::Arc::new(s)).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn event_lease_is_a_conditional_write() {
            let Some(s) = $main.await else { return };
            $crate::event_lease_is_a_conditional_write(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn deliveries_update_and_outbox() {
            let Some(s) = $main.await else { return };
            $crate::deliveries_update_and_outbox(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn deliveries_list_newest_first_with_filter_and_cursor() {
            let Some(s) = $main.await else { return };
            $crate::deliveries_list_newest_first_with_filter_and_cursor(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn attempts_append_once() {
            let Some(s) = $main.await else { return };
            $crate::attempts_append_once(&s).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn keys_create_all_or_nothing() {
            let Some(k) = $keys.await else { return };
            $crate::keys_create_all_or_nothing(&k).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn keys_check_and_register() {
            let Some(k) = $keys.await else { return };
            $crate::keys_check_and_register(&k).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn keys_count_concurrent_registrations() {
            let Some(k) = $keys.await else { return };
            $crate::keys_count_concurrent_registrations(std::sync::Arc::new(k), $counting).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn queue_hides_received_messages() {
            let Some(q) = $queue.await else { return };
            $crate::queue_hides_received_messages(&q).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn queue_visibility_timeout_expires() {
            let Some(q) = $queue.await else { return };
            $crate::queue_visibility_timeout_expires(&q).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn queue_honours_delay() {
            let Some(q) = $queue.await else { return };
            $crate::queue_honours_delay(&q).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn queue_sends_and_receives_many() {
            let Some(q) = $queue.await else { return };
            $crate::queue_sends_and_receives_many(&q).await;
        }
    };
}
