//! The license-check function: `GET /v2/keys/{key}` (PatchKit-compatible) and key
//! administration. Runs without Lambda, so tests call it directly.

use std::sync::Arc;

use patchbay_adapters::backends::KeyBackends;
use patchbay_adapters::wiring::{self, InitError};
use patchbay_core::config::LicenseCheckConfig;

/// # Errors
/// The store cannot be opened, or the admin token cannot be read.
pub async fn router(config: &LicenseCheckConfig) -> Result<axum::Router, InitError> {
    router_with(&KeyBackends::open(&config.store).await?, config).await
}

/// The same, over adapters that already exist (tests).
///
/// # Errors
/// The admin token cannot be read.
pub async fn router_with(
    backends: &KeyBackends,
    config: &LicenseCheckConfig,
) -> Result<axum::Router, InitError> {
    Ok(patchbay_core::http::keys_router(Arc::new(wiring::keys_api(config, backends).await?)))
}
