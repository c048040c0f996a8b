//! The license-check function: `GET /v2/keys/{key}` (PatchKit-compatible) and key
//! administration. Runs without Lambda, so tests call it directly.

use std::sync::Arc;

use patchbay_adapters::assemble::{self, InitError};
use patchbay_adapters::backends::Backends;
use patchbay_core::config::LicenseCheckConfig;

/// # Errors
/// The store cannot be opened, or no keys table is configured.
pub async fn router(config: &LicenseCheckConfig) -> Result<axum::Router, InitError> {
    let backends = Backends::from_config(&config.store).await?;
    router_with(&backends, config)
}

/// # Errors
/// No keys table configured.
pub fn router_with(backends: &Backends, config: &LicenseCheckConfig) -> Result<axum::Router, InitError> {
    let api = assemble::keys_api(backends, config.admin_token.clone())?;
    Ok(patchbay_core::http::keys_router(Arc::new(api)))
}
