//! Leaked keys at scale: a key checked by many clients at once blocks itself above
//! `PATCHBAY_KEY_REGISTRATIONS_PER_HOUR`, and a blocked key is answered 410 from the instance's
//! negative cache without a store call (store calls counted by a wrapper), over SQLite and over
//! DynamoDB on moto; so is a key of a blocked collection after its first check.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::Method;
use common::{ADMIN_TOKEN, Harness, VERDICT_KEY, blocked, check_uri, get_request, send_to};
use patchbay_adapters::backends::{Backends, KeyBackends};
use patchbay_core::config::{KeysTable, LicenseCheckConfig, StoreConfig};
use patchbay_core::secret::Secret;
use patchbay_testing::backends as testing;
use patchbay_testing::counting::{CountingKeys, Counts};

const PER_HOUR: u64 = 20;
const CLIENTS: usize = 16;
const CHECKS_EACH: usize = 10;

/// The key-store calls a key check makes: a check, registering or not.
const CHECK_CALLS: &[&str] = &["check_key(register)", "check_key(read)", "register_limited"];

/// Key-store calls made so far that check a key.
fn checks(counts: &Counts) -> u64 {
    counts.calls_to(CHECK_CALLS)
}

async fn harness(
    backends: &Backends,
    store: StoreConfig<KeysTable>,
    backend: &'static str,
) -> (Harness, Counts) {
    let counts = Counts::default();
    let counting = Arc::new(CountingKeys { inner: backends.keys.clone(), counts: counts.clone() });
    let key_backends = KeyBackends { store: backends.store.clone(), keys: counting };
    let config = LicenseCheckConfig {
        store,
        admin_token: Secret::new(ADMIN_TOKEN).into(),
        verdict_key: Some(Secret::new(VERDICT_KEY).into()),
        key_registrations_per_hour: Some(PER_HOUR),
    };
    let router = license_check::router_with(&key_backends, &config).await.unwrap();
    (Harness { router, store: backends.store.clone(), keys: backends.keys.clone(), backend }, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooded_key_blocks_itself_on_sqlite() {
    let backends = testing::sqlite().await;
    let (h, calls) = harness(&backends, StoreConfig::Sqlite("(testing::sqlite)".into()), "sqlite").await;
    flood(&h, &calls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn flooded_key_blocks_itself_on_dynamodb_on_moto() {
    let Some(moto) = testing::moto("leaked_keys::flood", 5).await else {
        return;
    };
    let store = StoreConfig::Aws { table: moto.table.clone(), resource: KeysTable(moto.keys_table.clone()) };
    let (h, calls) = harness(&moto.backends, store, "dynamodb").await;
    flood(&h, &calls).await;
}

async fn flood(h: &Harness, calls: &Counts) {
    let (app, key, key_secret) = h.app_with_key().await;
    let secret = app.app_secret.expose().to_owned();

    // Many players at once, each starting the game (a registering check) again and again.
    let uri = check_uri(&key, Some(&secret), None);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (router, uri) = (h.router.clone(), uri.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..CHECKS_EACH {
                    statuses.push(send_to(router.clone(), get_request(&uri)).await.status.as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 200 || *s == 410), "{statuses:?}");
    assert!(statuses.contains(&410), "never blocked: {statuses:?}");

    // The key ends blocked, with the reason, as `patchbay keys show` prints it.
    let view = h.key_view(&key).await;
    assert_eq!(view["blocked"], true, "{view}");
    let reason = view["blocked_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("auto-blocked: ") && reason.ends_with(" registrations in the last hour"),
        "{view}"
    );
    let registrations = view["registrations"].as_u64().unwrap();
    let ok = statuses.iter().filter(|s| **s == 200).count() as u64;
    if h.backend == "sqlite" {
        // Exact on SQLite: the limit's worth of registrations, then the block.
        assert_eq!(registrations, PER_HOUR, "{view}");
        assert_eq!(ok, PER_HOUR);
        assert_eq!(reason, format!("auto-blocked: {} registrations in the last hour", PER_HOUR + 1));
    } else {
        // moto's UpdateItem is not atomic under concurrency: only the end state is certain.
        assert!(registrations >= 1, "{view}");
    }

    // Later checks, registering or not, are 410 without a store call.
    let before = checks(calls);
    for _ in 0..50 {
        h.check(&key, Some(&secret), None).await.assert_patchkit(410, blocked());
        h.check(&key, Some(&secret), Some(&key_secret)).await.assert_patchkit(410, blocked());
    }
    assert_eq!(checks(calls), before, "a cached blocked key reached the store");
    // Another app's check of the same key is not answered from the cache (it is 404 there).
    let (other_app, _, _) = h.app_with_key().await;
    h.check(&key, Some(other_app.app_secret.expose()), None).await.assert_patchkit(404, common::not_known());

    // Unblocking starts afresh: the key checks 200 again and the store is asked again.
    let unblocked = h.admin(Method::POST, &format!("/v1/keys/{key}/unblock"), None).await;
    assert_eq!(unblocked.status.as_u16(), 200, "{}", unblocked.body);
    assert!(unblocked.json().get("blocked_reason").is_none(), "{}", unblocked.body);
    let before = checks(calls);
    let answer = h.check(&key, Some(&secret), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(checks(calls), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_collections_key_stops_reaching_the_store_on_sqlite() {
    let backends = testing::sqlite().await;
    let (h, calls) = harness(&backends, StoreConfig::Sqlite("(testing::sqlite)".into()), "sqlite").await;
    blocked_collection(&h, &calls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: ./scripts/test runs it"]
async fn a_blocked_collections_key_stops_reaching_the_store_on_dynamodb_on_moto() {
    let Some(moto) = testing::moto("leaked_keys::collection", 5).await else {
        return;
    };
    let store = StoreConfig::Aws { table: moto.table.clone(), resource: KeysTable(moto.keys_table.clone()) };
    let (h, calls) = harness(&moto.backends, store, "dynamodb").await;
    blocked_collection(&h, &calls).await;
}

/// A leaked key of a blocked collection, hammered: the first check asks the store (which key
/// is in which collection is the store's), later ones are 410 from the cache and count no use.
async fn blocked_collection(h: &Harness, calls: &Counts) {
    let app = h.new_app().await;
    let secret = app.app_secret.expose().to_owned();
    let leaked = h.new_collection(&app.id, "leaked").await;
    let key = h.generate(&app.id, 1, Some(leaked)).await.remove(0);
    let key_secret = h.key_secret(&key).await;
    let answer = h.admin(Method::POST, &format!("/v1/collections/{leaked}/block"), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);

    let before = checks(calls);
    h.check(&key, Some(&secret), None).await.assert_patchkit(410, blocked());
    assert_eq!(checks(calls), before + 1, "the first check asks the store");
    let registrations = h.registrations(&key).await;
    for _ in 0..50 {
        h.check(&key, Some(&secret), None).await.assert_patchkit(410, blocked());
        h.check(&key, Some(&secret), Some(&key_secret)).await.assert_patchkit(410, blocked());
    }
    assert_eq!(checks(calls), before + 1, "a cached blocked key reached the store");
    assert_eq!(h.registrations(&key).await, registrations, "refused checks counted uses");
    assert_eq!(h.key_view(&key).await["blocked"], false, "the key itself is not blocked");

    // Unblocking the collection forgets the cached refusal at once in this process.
    let answer = h.admin(Method::POST, &format!("/v1/collections/{leaked}/unblock"), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    let answer = h.check(&key, Some(&secret), None).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(checks(calls), before + 2);
}
