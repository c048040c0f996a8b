//! Every key-check answer is counted by its status, through a recording sink (on Lambda the same
//! events go to stdout as EMF).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::http::Method;
use common::{ADMIN_TOKEN, Harness};
use patchbay_core::http::{KeysApi, keys_router};
use patchbay_core::metrics::Metrics;
use patchbay_core::metrics::catalog::{KEY_CHECK, STATUS};
use patchbay_core::metrics::sinks::RecordingSink;
use patchbay_core::ports::Store;
use patchbay_core::secret::Secret;
use patchbay_core::service::key_admin::KeyAdmin;
use patchbay_core::service::keys::KeyCheck;
use patchbay_core::service::tokens::Tokens;
use patchbay_testing::FaultyStore;
use patchbay_testing::backends as testing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_is_counted_by_status() {
    let backends = testing::sqlite().await;
    let store = FaultyStore::new(backends.store.clone());
    let sink = Arc::new(RecordingSink::default());
    let api = KeysApi {
        check: KeyCheck::new(backends.keys.clone(), store.clone(), Arc::default())
            .with_metrics(Metrics::to(sink.clone())),
        admin: KeyAdmin::new(backends.keys.clone(), store.clone(), Arc::default(), Arc::default()),
        admin_token: Secret::new(ADMIN_TOKEN).into(),
        tokens: Arc::new(Tokens::new(store.clone())),
        verdict: None,
    };
    let h = Harness {
        router: keys_router(Arc::new(api)),
        store: store.clone() as Arc<dyn Store>,
        keys: backends.keys.clone(),
        backend: "sqlite",
    };
    let (app, key, _) = h.app_with_key().await;
    let secret = app.app_secret.expose();

    let mut statuses = vec![
        h.check(&key, Some(secret), None).await.status,
        h.check("NOPE0-NOPE0-NOPE0-NOPE0", Some(secret), None).await.status,
        h.check(&key, Some("not-the-app-secret"), None).await.status,
    ];
    h.admin(Method::POST, &format!("/v1/keys/{key}/block"), None).await;
    statuses.push(h.check(&key, Some(secret), None).await.status);
    // An app secret not yet cached needs the store, which is down.
    store.faults().fail_calls_to("app_for_secret");
    statuses.push(h.check(&key, Some("another-app-secret"), None).await.status);
    let statuses: Vec<u16> = statuses.iter().map(axum::http::StatusCode::as_u16).collect();
    assert_eq!(statuses, [200, 404, 403, 410, 503]);

    let events = sink.events();
    let counted: Vec<(&str, f64)> =
        events.iter().map(|e| (e.dimension_value(STATUS).unwrap(), e.value(KEY_CHECK).unwrap())).collect();
    assert_eq!(counted, [("200", 1.0), ("404", 1.0), ("403", 1.0), ("410", 1.0), ("503", 1.0)]);
}
