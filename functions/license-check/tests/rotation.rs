//! Rotating an app secret (`POST /v1/apps/{id}/rotate-secret`, the management API) and the key
//! check's app cache. In one process (`patchbay dev`) the two share the cache and the old
//! secret stops working at once; as separate functions (AWS) it keeps working until the cache
//! entry expires (`APP_CACHE_TTL`), and the new one works at once in both.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use patchbay_adapters::backends::Backends;
use patchbay_adapters::wiring;
use patchbay_core::config::{IngestConfig, LicenseCheckConfig, SendConfig, StoreConfig};
use patchbay_core::http::{ingest_router, keys_router};
use patchbay_core::secret::Secret;
use patchbay_testing::samples::sample_app;

use common::{ADMIN_TOKEN, check_uri, forbidden, get_request, send_to};

/// The store configuration is not read when the adapters are given.
const GIVEN: &str = "(given backends)";

fn configs() -> (IngestConfig, LicenseCheckConfig) {
    let ingest = IngestConfig {
        store: StoreConfig::Sqlite(GIVEN.into()),
        ingest_secret: Secret::new("whsec_unused").into(),
        admin_token: Secret::new(ADMIN_TOKEN).into(),
        send: SendConfig::default(),
    };
    let keys = LicenseCheckConfig {
        store: StoreConfig::Sqlite(GIVEN.into()),
        admin_token: Secret::new(ADMIN_TOKEN).into(),
        verdict_key: None,
        key_registrations_per_hour: None,
    };
    (ingest, keys)
}

/// (ingest router, keys router) as `patchbay dev` wires them: one process, one app cache.
async fn one_process(backends: &Backends) -> (Router, Router) {
    let (ingest, keys) = configs();
    let (ingest, keys) = wiring::ingest_and_keys_apis(&ingest, &keys, backends).await.unwrap();
    (ingest_router(Arc::new(ingest)), keys_router(Arc::new(keys)))
}

/// The same as two Lambda functions wire them: each with its own cache.
async fn two_functions(backends: &Backends) -> (Router, Router) {
    let (ingest, keys) = configs();
    let ingest = wiring::ingest_api(&ingest, &backends.events()).await.unwrap();
    (
        ingest_router(Arc::new(ingest)),
        keys_router(Arc::new(wiring::keys_api(&keys, &backends.key_backends()).await.unwrap())),
    )
}

fn admin_post(uri: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"count":1}"#))
        .unwrap()
}

/// Rotates a checked app's secret; returns the status of a check with the old secret right
/// after, and asserts the new one works at once.
async fn old_secret_status_after_rotation(backends: &Backends, (ingest, keys): (Router, Router)) -> u16 {
    let app = sample_app();
    backends.store.create_app(&app).await.unwrap();
    let generated = send_to(keys.clone(), admin_post(&format!("/v1/apps/{}/keys", app.id))).await;
    let key = generated.json()["keys"][0].as_str().unwrap().to_owned();
    let old = app.app_secret.expose();
    // The check has seen (and cached) the old secret.
    let warm = send_to(keys.clone(), get_request(&check_uri(&key, Some(old), None))).await;
    assert_eq!(warm.status.as_u16(), 200, "{}", warm.body);

    let rotated = send_to(ingest, admin_post(&format!("/v1/apps/{}/rotate-secret", app.id))).await;
    assert_eq!(rotated.status.as_u16(), 200, "{}", rotated.body);
    let new = rotated.json()["app_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);

    let fresh = send_to(keys.clone(), get_request(&check_uri(&key, Some(&new), None))).await;
    assert_eq!(fresh.status.as_u16(), 200, "{}", fresh.body);
    assert_eq!(fresh.json()["app_secret"], new.as_str());
    let stale = send_to(keys, get_request(&check_uri(&key, Some(old), None))).await;
    if stale.status.as_u16() == 403 {
        stale.assert_patchkit(403, forbidden());
    }
    stale.status.as_u16()
}

async fn rotation_in_one_process(backends: &Backends) {
    assert_eq!(old_secret_status_after_rotation(backends, one_process(backends).await).await, 403);
}

async fn rotation_across_functions(backends: &Backends) {
    // Within APP_CACHE_TTL the license-check function has not heard of the rotation.
    assert_eq!(old_secret_status_after_rotation(backends, two_functions(backends).await).await, 200);
}

macro_rules! over_both_backends_raw {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&patchbay_testing::backends::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs moto: ./scripts/test runs it"]
            async fn dynamodb_on_moto() {
                let test = concat!(module_path!(), "::", stringify!($name));
                let Some(moto) = patchbay_testing::backends::moto(test, 5).await else {
                    return;
                };
                super::$name(&moto.backends).await;
            }
        }
    )*};
}

over_both_backends_raw!(rotation_in_one_process, rotation_across_functions);
