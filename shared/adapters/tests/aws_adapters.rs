//! The DynamoDB and SQS adapters against moto (started by `./scripts/test`). A plain `cargo test`
//! reports these tests as ignored; included without `AWS_ENDPOINT_URL`, each prints a skip
//! notice and passes, unless `PATCHBAY_REQUIRE_MOTO=1`, where it fails. Every test makes its own
//! uniquely named tables and queues. The behaviour every adapter shares is in
//! `contract_aws.rs`; these cover what is specific to DynamoDB and SQS (layouts, TTL, chunking,
//! redrive).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeDelta, Utc};
use patchbay_adapters::aws::{aws_config, dynamodb_client, sqs_client};
use patchbay_adapters::dynamo::{DynamoKeyStore, DynamoStore};
use patchbay_adapters::sqs::SqsQueue;
use patchbay_core::ids::random_id;
use patchbay_core::model::{Attempt, DeliveryStatus, EventState};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, DeliveryStore, EventCreation, EventStore, KeyStore, KeyVerdict,
    OutgoingMessage, Queue, QueueError, StoreError, WebhookStore,
};
use patchbay_core::secret::Secret;
use patchbay_testing::aws::{
    aws_endpoint_available, create_keys_table, create_main_table, create_queue, queue_arn, unique_name,
};
use patchbay_testing::samples::{now, sample_app, sample_delivery, sample_event, sample_key, sample_webhook};

struct Main {
    store: DynamoStore,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

async fn main_store(test: &str) -> Option<Main> {
    if !aws_endpoint_available(test) {
        return None;
    }
    let client = dynamodb_client(&aws_config().await);
    let table = unique_name("main");
    create_main_table(&client, &table).await.unwrap();
    Some(Main { store: DynamoStore::new(client.clone(), &table), client, table })
}

async fn key_store(test: &str) -> Option<DynamoKeyStore> {
    if !aws_endpoint_available(test) {
        return None;
    }
    let client = dynamodb_client(&aws_config().await);
    let table = unique_name("keys");
    create_keys_table(&client, &table).await.unwrap();
    Some(DynamoKeyStore::new(client, table))
}

async fn raw_item(main: &Main, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    main.client
        .get_item()
        .table_name(&main.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn apps_and_the_secret_index() {
    let Some(main) = main_store("apps_and_the_secret_index").await else { return };
    let s = &main.store;
    let app = sample_app();
    s.create_app(&app).await.unwrap();
    assert!(matches!(s.create_app(&app).await, Err(StoreError::AlreadyExists(_))));
    // Another app with the same secret is refused too (the index item is create-if-absent).
    let mut twin = sample_app();
    twin.app_secret = app.app_secret.clone();
    assert!(matches!(s.create_app(&twin).await, Err(StoreError::AlreadyExists(_))));
    assert_eq!(s.get_app(&twin.id).await.unwrap(), None, "nothing of the failed create was written");

    assert_eq!(s.app_for_secret(app.app_secret.expose()).await.unwrap(), Some(app.clone()));
    assert_eq!(s.app_for_secret("not-a-secret").await.unwrap(), None);

    // A rename refreshes the app copy in the index; a rotation moves the index item.
    let mut renamed = app.clone();
    renamed.display_name = "Space Race II".into();
    s.update_app(&renamed).await.unwrap();
    assert_eq!(s.app_for_secret(app.app_secret.expose()).await.unwrap(), Some(renamed.clone()));

    let old_hash = patchbay_core::ids::secret_lookup_hash(app.app_secret.expose());
    let mut rotated = renamed.clone();
    rotated.app_secret = Secret::random_alphanumeric(40);
    s.update_app(&rotated).await.unwrap();
    assert_eq!(s.get_app(&app.id).await.unwrap(), Some(rotated.clone()));
    assert_eq!(s.app_for_secret(rotated.app_secret.expose()).await.unwrap(), Some(rotated.clone()));
    assert_eq!(s.app_for_secret(app.app_secret.expose()).await.unwrap(), None);
    assert!(
        raw_item(&main, &format!("APPSECRET#{old_hash}"), "APPSECRET").await.is_none(),
        "old index item deleted"
    );

    // The stored secret is the raw value (the adapter stores `expose()`), never "***".
    let raw = raw_item(&main, &format!("APP#{}", app.id), "APP").await.unwrap();
    let AttributeValue::S(doc) = &raw["doc"] else { panic!("doc is not a string") };
    assert!(doc.contains(rotated.app_secret.expose()));

    assert!(matches!(s.update_app(&sample_app()).await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn webhooks_create_if_absent_and_list_oldest_first() {
    let Some(main) = main_store("webhooks_create_if_absent_and_list_oldest_first").await else { return };
    let s = &main.store;
    let app_id = random_id("app");
    let mut hooks = Vec::new();
    for i in 0..3 {
        let mut h = sample_webhook(&app_id);
        h.created_at = now() - TimeDelta::seconds(10 - i);
        hooks.push(h);
    }
    // Created out of order: listing sorts by created_at.
    for h in hooks.iter().rev() {
        s.create_webhook(h).await.unwrap();
    }
    assert!(matches!(s.create_webhook(&hooks[0]).await, Err(StoreError::AlreadyExists(_))));
    let listed: Vec<String> = s.list_webhooks(&app_id).await.unwrap().into_iter().map(|h| h.id).collect();
    assert_eq!(listed, hooks.iter().map(|h| h.id.clone()).collect::<Vec<_>>());
    assert!(s.list_webhooks("app_nobody").await.unwrap().is_empty());

    let raw = raw_item(&main, &format!("WH#{}", hooks[0].id), "WH").await.unwrap();
    assert_eq!(raw["gsi1pk"], AttributeValue::S(format!("APPWH#{app_id}")));

    s.delete_webhook(&hooks[1].id).await.unwrap();
    assert!(matches!(s.delete_webhook(&hooks[1].id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.update_webhook(&hooks[1]).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.list_webhooks(&app_id).await.unwrap().len(), 2);
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn events_with_large_fan_out_and_duplicates() {
    let Some(main) = main_store("events_with_large_fan_out_and_duplicates").await else { return };
    let s = &main.store;
    // 150 deliveries: 99 go with the event in one transaction, the rest after it.
    let webhooks: Vec<String> = (0..150).map(|i| format!("wh_{i}")).collect();
    let refs: Vec<&str> = webhooks.iter().map(String::as_str).collect();
    let (event, deliveries) = sample_event("app_big", &refs);
    assert_eq!(s.create_event(&event, &deliveries).await.unwrap(), EventCreation::Created);
    for d in &deliveries {
        assert_eq!(s.get_delivery(&d.id).await.unwrap().as_ref(), Some(d));
    }
    assert_eq!(s.ensure_deliveries(&deliveries).await.unwrap(), 0);

    let mut rival = event.clone();
    rival.body = "{}".into();
    match s.create_event(&rival, &deliveries).await.unwrap() {
        EventCreation::Exists(stored) => assert_eq!(stored, event),
        EventCreation::Created => panic!("created twice"),
    }
    // The stored event reflects later state changes, not the first write.
    s.set_event_state(&event.id, EventState::Complete, event.lease_until).await.unwrap();
    match s.create_event(&event, &[]).await.unwrap() {
        EventCreation::Exists(stored) => assert_eq!(stored.state, EventState::Complete),
        EventCreation::Created => panic!("created twice"),
    }
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn event_whose_deliveries_already_exist_is_still_created() {
    let Some(main) = main_store("event_whose_deliveries_already_exist_is_still_created").await else {
        return;
    };
    let s = &main.store;
    let (event, deliveries) = sample_event("app_half", &["wh_1", "wh_2", "wh_3"]);
    // An interrupted earlier write left one delivery behind (and a duplicate in the input).
    assert_eq!(s.ensure_deliveries(&deliveries[1..2]).await.unwrap(), 1);
    let mut input = deliveries.clone();
    input.push(deliveries[0].clone());
    assert_eq!(s.create_event(&event, &input).await.unwrap(), EventCreation::Created);
    assert_eq!(s.get_event(&event.id).await.unwrap(), Some(event.clone()));
    for d in &deliveries {
        assert!(s.get_delivery(&d.id).await.unwrap().is_some());
    }
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn lease_renewal_is_conditional() {
    let Some(main) = main_store("lease_renewal_is_conditional").await else { return };
    let s = &main.store;
    let (event, deliveries) = sample_event("app_l", &["wh_1"]);
    s.create_event(&event, &deliveries).await.unwrap();
    // Sub-millisecond precision matters: the condition compares exact instants.
    let new_lease = event.lease_until + TimeDelta::nanoseconds(1_500);
    s.renew_event_lease(&event.id, event.lease_until, new_lease).await.unwrap();
    assert!(matches!(
        s.renew_event_lease(&event.id, event.lease_until, new_lease).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_event(&event.id).await.unwrap().unwrap().lease_until, new_lease);
    s.renew_event_lease(&event.id, new_lease, new_lease + TimeDelta::seconds(1)).await.unwrap();
    assert!(matches!(
        s.renew_event_lease("msg_missing", event.lease_until, new_lease).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.set_event_state("msg_missing", EventState::Complete, new_lease).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn deliveries_list_newest_first_with_filter_and_cursor() {
    let Some(main) = main_store("deliveries_list_newest_first_with_filter_and_cursor").await else { return };
    let s = &main.store;
    let webhook_id = random_id("wh");
    let start = now();
    let mut all = Vec::new();
    for i in 0..25 {
        let mut d =
            sample_delivery(&random_id("msg"), &webhook_id, "app_p", start + TimeDelta::milliseconds(i));
        if i % 4 == 0 {
            d.status = DeliveryStatus::Failed;
        }
        all.push(d);
    }
    s.ensure_deliveries(&all).await.unwrap();
    s.ensure_deliveries(&[sample_delivery("msg_o", &random_id("wh"), "app_p", start)]).await.unwrap();
    let newest_first: Vec<String> = all.iter().rev().map(|d| d.id.clone()).collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let page = s.list_deliveries(&webhook_id, None, cursor.as_deref(), 10).await.unwrap();
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, newest_first);

    // Filtered pages are full even though most items read do not match (7 failed of 25).
    let failed: Vec<String> =
        all.iter().rev().filter(|d| d.status == DeliveryStatus::Failed).map(|d| d.id.clone()).collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let page =
            s.list_deliveries(&webhook_id, Some(DeliveryStatus::Failed), cursor.as_deref(), 3).await.unwrap();
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, failed);

    // An exact fit has no next page.
    let page = s.list_deliveries(&webhook_id, None, None, 25).await.unwrap();
    assert_eq!(page.items.len(), 25);
    assert_eq!(page.next_cursor, None);

    // Status changes move a delivery between filters (the filter reads the status attribute).
    let mut succeeded = all[24].clone();
    succeeded.status = DeliveryStatus::Succeeded;
    s.update_delivery(&succeeded).await.unwrap();
    let page = s.list_deliveries(&webhook_id, Some(DeliveryStatus::Succeeded), None, 10).await.unwrap();
    assert_eq!(page.items, vec![succeeded]);

    assert!(matches!(
        s.list_deliveries(&webhook_id, None, Some("not a cursor!"), 10).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn outbox_flag_and_updates() {
    let Some(main) = main_store("outbox_flag_and_updates").await else { return };
    let s = &main.store;
    let (event, deliveries) = sample_event("app_o", &["wh_1", "wh_2"]);
    s.create_event(&event, &deliveries).await.unwrap();
    let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    // Unknown ids are ignored and create nothing.
    s.mark_enqueued(&[ids[0].clone(), "dlv_unknown".into()]).await.unwrap();
    assert!(s.get_delivery(&ids[0]).await.unwrap().unwrap().enqueued);
    assert!(!s.get_delivery(&ids[1]).await.unwrap().unwrap().enqueued);
    assert!(raw_item(&main, "DLV#dlv_unknown", "DLV").await.is_none());
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn attempts_are_appended_once_with_a_ttl() {
    let Some(main) = main_store("attempts_are_appended_once_with_a_ttl").await else { return };
    let s = &main.store;
    let delivery = random_id("dlv");
    let attempt = |number: u32, expires_at: DateTime<Utc>| Attempt {
        delivery_id: delivery.clone(),
        number,
        at: now(),
        duration_ms: 5,
        status_code: Some(503),
        error: None,
        error_detail: None,
        response_body: Some("busy".into()),
        retry_after: None,
        expires_at,
    };
    let expires = now() + TimeDelta::days(30);
    let mut recorded = Vec::new();
    for number in [3, 1, 2, 10] {
        let a = attempt(number, expires);
        s.record_attempt(&a).await.unwrap();
        recorded.push(a);
    }
    assert!(matches!(s.record_attempt(&attempt(2, expires)).await, Err(StoreError::AlreadyExists(_))));
    // Expired but not yet swept by DynamoDB's TTL: hidden.
    s.record_attempt(&attempt(11, now() - TimeDelta::seconds(5))).await.unwrap();
    recorded.sort_by_key(|a| a.number);
    assert_eq!(s.list_attempts(&delivery).await.unwrap(), recorded);

    let raw = raw_item(&main, &format!("DLV#{delivery}"), "ATT#000010").await.unwrap();
    assert_eq!(raw["expires_at"], AttributeValue::N(expires.timestamp().to_string()));
    // The delivery's own item is untouched by its attempts.
    assert!(s.get_delivery(&delivery).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn keys_are_created_all_or_nothing_in_chunks() {
    let Some(keys) = key_store("keys_are_created_all_or_nothing_in_chunks").await else { return };
    // 250 keys: three transactions of up to 100.
    let batch: Vec<_> = (0..250).map(|_| sample_key("app_k")).collect();
    assert!(keys.create_keys(&batch).await.unwrap().is_empty());
    for k in [&batch[0], &batch[120], &batch[249]] {
        assert_eq!(keys.get_key(&k.key).await.unwrap().as_ref(), Some(k));
    }

    let fresh: Vec<_> = (0..150).map(|_| sample_key("app_k")).collect();
    let mut mixed = fresh.clone();
    mixed.push(batch[7].clone());
    let existing = keys.create_keys(&mixed).await.unwrap();
    assert_eq!(existing, vec![batch[7].key.clone()]);
    assert_eq!(keys.get_key(&fresh[0].key).await.unwrap(), None, "nothing written");
    assert_eq!(keys.get_key(&fresh[149].key).await.unwrap(), None, "nothing written");

    // A key given twice is a duplicate of itself.
    let twice = sample_key("app_k");
    let existing = keys.create_keys(&[twice.clone(), twice.clone()]).await.unwrap();
    assert_eq!(existing, vec![twice.key.clone()]);
    assert_eq!(keys.get_key(&twice.key).await.unwrap(), None);

    // No collection id round-trips as none.
    let mut bare = sample_key("app_k");
    bare.collection_id = None;
    keys.create_keys(std::slice::from_ref(&bare)).await.unwrap();
    assert_eq!(keys.get_key(&bare.key).await.unwrap(), Some(bare));
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn key_checks_tell_every_outcome_apart() {
    let Some(keys) = key_store("key_checks_tell_every_outcome_apart").await else { return };
    let key = sample_key("app_r");
    keys.create_keys(std::slice::from_ref(&key)).await.unwrap();
    for register in [true, false] {
        assert_eq!(keys.check_key("NOPE-NOPE", "app_r", register).await.unwrap(), KeyVerdict::NotFound);
        assert_eq!(keys.check_key(&key.key, "app_x", register).await.unwrap(), KeyVerdict::OtherApp);
    }
    match keys.check_key(&key.key, "app_r", true).await.unwrap() {
        KeyVerdict::Valid(k) => {
            assert_eq!(k.registrations, 1);
            assert_eq!(LicenseKeyView::from(&k), LicenseKeyView::from(&key));
        }
        other => panic!("{other:?}"),
    }
    keys.set_key_blocked(&key.key, true).await.unwrap();
    for register in [true, false] {
        assert_eq!(keys.check_key(&key.key, "app_r", register).await.unwrap(), KeyVerdict::Blocked);
        assert_eq!(keys.check_key(&key.key, "app_x", register).await.unwrap(), KeyVerdict::OtherApp);
    }
    let unblocked = keys.set_key_blocked(&key.key, false).await.unwrap();
    assert_eq!(unblocked.registrations, 1);
    assert!(matches!(keys.set_key_blocked("NOPE-NOPE", true).await, Err(StoreError::NotFound(_))));
}

/// A key minus its registration count.
#[derive(Debug, PartialEq)]
struct LicenseKeyView<'a>(&'a str, &'a str, &'a str, Option<i64>, bool, DateTime<Utc>);

impl<'a> From<&'a patchbay_core::model::LicenseKey> for LicenseKeyView<'a> {
    fn from(k: &'a patchbay_core::model::LicenseKey) -> Self {
        LicenseKeyView(&k.key, &k.app_id, k.key_secret.expose(), k.collection_id, k.blocked, k.created_at)
    }
}

async fn queue(test: &str, dlq: Option<(&str, u32)>) -> Option<(SqsQueue, aws_sdk_sqs::Client)> {
    if !aws_endpoint_available(test) {
        return None;
    }
    let client = sqs_client(&aws_config().await);
    let url = create_queue(&client, &unique_name("q"), dlq).await.unwrap();
    Some((SqsQueue::new(client.clone(), url), client))
}

fn msg(body: &str, delay: Duration) -> OutgoingMessage {
    OutgoingMessage { body: body.into(), delay, correlation_id: None }
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn sqs_visibility_receive_count_and_delete() {
    let Some((q, _)) = queue("sqs_visibility_receive_count_and_delete", None).await else { return };
    q.send(&[msg("later", Duration::from_secs(2))]).await.unwrap();
    assert!(q.receive(10, LONG, Duration::ZERO).await.unwrap().is_empty(), "delayed");
    let got = q.receive(10, LONG, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].body.as_str(), got[0].receive_count), ("later", 1));
    assert!(q.receive(10, LONG, Duration::ZERO).await.unwrap().is_empty(), "invisible");

    q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await.unwrap();
    let again = q.receive(10, LONG, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, got[0].message_id);
    assert_eq!(again[0].receive_count, 2);

    q.change_visibility(&again[0].receipt_handle, Duration::from_secs(3600)).await.unwrap();
    // SQS caps a message's visibility at 12 hours after it was first received: asking for more
    // is an error, not a silent cap.
    assert!(matches!(
        q.change_visibility(&again[0].receipt_handle, Duration::from_secs(7 * 86_400)).await,
        Err(QueueError::Unavailable(_))
    ));
    q.delete(&again[0].receipt_handle).await.unwrap();
    assert!(q.receive(10, Duration::from_secs(1), Duration::ZERO).await.unwrap().is_empty());
    assert!(matches!(q.delete("garbage").await, Err(QueueError::InvalidReceipt)));
    assert!(matches!(q.change_visibility("garbage", Duration::ZERO).await, Err(QueueError::InvalidReceipt)));
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn sqs_sends_many_in_batches() {
    let Some((q, _)) = queue("sqs_sends_many_in_batches", None).await else { return };
    let bodies: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    q.send(&bodies.iter().map(|b| msg(b, Duration::ZERO)).collect::<Vec<_>>()).await.unwrap();
    q.send(&[]).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let got = q.receive(25, LONG, Duration::from_secs(1)).await.unwrap();
        assert!(got.len() <= 10);
        for m in got {
            seen.push(m.body);
            q.delete(&m.receipt_handle).await.unwrap();
        }
        if seen.len() >= bodies.len() {
            break;
        }
    }
    seen.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn sqs_redrives_to_the_dead_letter_queue() {
    let Some((dlq, client)) = queue("sqs_redrives_to_the_dead_letter_queue", None).await else { return };
    let arn = queue_arn(&client, dlq.queue_url()).await.unwrap();
    let url = create_queue(&client, &unique_name("q"), Some((&arn, 2))).await.unwrap();
    let q = SqsQueue::new(client, url);
    q.send(&[msg("poison", Duration::ZERO)]).await.unwrap();
    for expected in 1..=2 {
        let got = q.receive(1, LONG, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receive_count, expected);
        q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await.unwrap();
    }
    assert!(
        q.receive(1, LONG, Duration::from_secs(1)).await.unwrap().is_empty(),
        "moved on the third receive"
    );
    let dead = dlq.receive(1, LONG, Duration::from_secs(2)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}
