//! The use cases wired in-process over existing adapters, exactly as the functions wire them
//! (`patchbay_adapters::wiring`), for tests that drive routers without a process. Like
//! `patchbay dev`, the ingest and license-check routers share one process's app-secret cache.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use patchbay_adapters::backends::Backends;
use patchbay_adapters::wiring;
use patchbay_core::config::{DeliverConfig, IngestConfig, LicenseCheckConfig, SendConfig, StoreConfig};
use patchbay_core::http::{ingest_router, keys_router};
use patchbay_core::retry::RetrySchedule;
use patchbay_core::secret::Secret;
use patchbay_core::service::deliver::Deliver;

/// The store configuration is not read when the adapters are given; this names them.
const GIVEN: &str = "(given backends)";

/// The ingest and license-check routers and the deliver use case over `backends`.
pub struct LocalFunctions {
    pub ingest: Router,
    pub keys: Router,
    pub deliver: Arc<Deliver>,
}

impl LocalFunctions {
    pub async fn new(
        backends: &Backends,
        ingest_secret: &Secret,
        admin_token: &Secret,
        send: &SendConfig,
        retry: &str,
    ) -> Self {
        let ingest = IngestConfig {
            store: StoreConfig::Sqlite(GIVEN.to_owned()),
            ingest_secret: ingest_secret.clone().into(),
            admin_token: admin_token.clone().into(),
            send: send.clone(),
        };
        let deliver = DeliverConfig {
            store: StoreConfig::Sqlite(GIVEN.to_owned()),
            retry: RetrySchedule::parse(retry).expect("retry schedule"),
            send: send.clone(),
            auto_disable_after: Duration::from_secs(86_400),
        };
        let keys = LicenseCheckConfig {
            store: StoreConfig::Sqlite(GIVEN.to_owned()),
            admin_token: admin_token.clone().into(),
            verdict_key: Some(patchbay_core::verdict::generate_verdict_key().into()),
            key_registrations_per_hour: None,
        };
        // One process, as in `patchbay dev`: both share the key check's app cache.
        let (ingest, keys) = wiring::ingest_and_keys_apis(&ingest, &keys, backends).await.expect("ingest");
        LocalFunctions {
            ingest: ingest_router(Arc::new(ingest)),
            keys: keys_router(Arc::new(keys)),
            deliver: Arc::new(wiring::deliver(&deliver, &backends.events()).expect("deliver")),
        }
    }
}
