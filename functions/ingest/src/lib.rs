//! The ingest function: `POST /v1/events` from the publishing pipeline, and the management
//! API. Everything here runs without Lambda, so tests call it directly.

use std::sync::Arc;

use patchbay_adapters::assemble::{self, InitError};
use patchbay_adapters::backends::Backends;
use patchbay_core::config::{IngestConfig, SendConfig};
use patchbay_core::retry::RetrySchedule;

/// Test sends from the management API get one attempt; the auto-disable window is the
/// deliver function's business.
const NO_AUTO_DISABLE: std::time::Duration = std::time::Duration::from_secs(u64::MAX / 4);

const TEST_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Build the router once per sandbox: SDK clients, the HTTP sender and the services.
///
/// # Errors
/// The store cannot be reached at start-up, or a component cannot be built.
pub async fn router(config: &IngestConfig) -> Result<axum::Router, InitError> {
    let backends = Backends::from_config(&config.store).await?;
    router_with(&backends, config, &config.send)
}

/// The same, over adapters that already exist (tests, the local runtime).
///
/// # Errors
/// No queue configured, or the HTTP client cannot be built.
pub fn router_with(
    backends: &Backends,
    config: &IngestConfig,
    send: &SendConfig,
) -> Result<axum::Router, InitError> {
    // A test send answers inside an API Gateway request, which gives up after 30 s: keep the
    // receiver's share well under that, whatever the delivery timeout.
    let test_send = SendConfig { timeout: send.timeout.min(TEST_SEND_TIMEOUT), ..send.clone() };
    let sender = assemble::sender(&test_send)?;
    let deliverer =
        assemble::deliverer(backends, sender.clone(), RetrySchedule::default(), &test_send, NO_AUTO_DISABLE);
    let api = assemble::ingest_api(
        backends,
        config.ingest_secret.clone(),
        config.admin_token.clone(),
        sender,
        deliverer,
    )?;
    Ok(patchbay_core::http::ingest_router(Arc::new(api)))
}
