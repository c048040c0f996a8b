//! The ingest function: `POST /v1/events` from the publishing pipeline, and the management
//! API. Everything here runs without Lambda, so tests call it directly.

use std::sync::Arc;

use patchbay_adapters::backends::EventBackends;
use patchbay_adapters::wiring::{self, InitError};
use patchbay_core::config::IngestConfig;

/// Build the router once per sandbox: SDK clients, secrets, the HTTP sender and the services.
///
/// # Errors
/// The store cannot be reached at start-up, a secret cannot be read, or a component cannot be
/// built.
pub async fn router(config: &IngestConfig) -> Result<axum::Router, InitError> {
    router_with(&EventBackends::open(&config.store).await?, config).await
}

/// The same, over adapters that already exist (tests).
///
/// # Errors
/// A secret cannot be read, or the HTTP client cannot be built.
pub async fn router_with(backends: &EventBackends, config: &IngestConfig) -> Result<axum::Router, InitError> {
    Ok(patchbay_core::http::ingest_router(Arc::new(wiring::ingest_api(config, backends).await?)))
}
