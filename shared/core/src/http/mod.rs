//! The one HTTP router. The Lambda functions serve it through `lambda_http::run` (a tower
//! service) and `patchbay dev` serves it through hyper, so local behaviour is Lambda behaviour.
//!
//! - [`ingest_router`]: `POST /v1/events`, the management API and the studio console at
//!   `/console` (the ingest function).
//! - [`keys_router`]: `GET /v2/keys/{key}` and key administration (the license-check function).
//! - `patchbay dev` merges both.

mod api_error;
mod auth;
pub mod console;
pub mod errors;
pub mod extract;
mod routes_events;
mod routes_keys;
mod routes_manage;
mod routes_patchkit;
mod routes_tokens;

use std::sync::Arc;

use axum::Router;

use crate::secret::LiveSecret;
use crate::service::ingest::Ingest;
use crate::service::key_admin::KeyAdmin;
use crate::service::keys::KeyCheck;
use crate::service::manage::Manage;
use crate::service::tokens::Tokens;
use crate::verdict::VerdictSigner;

pub use api_error::{ApiError, method_not_allowed, not_found};
pub use auth::{Auth, Caller};
pub use routes_keys::PATCHKIT_CONTENT_TYPE;

/// What the ingest function serves.
pub struct IngestApi {
    pub ingest: Ingest,
    pub manage: Manage,
    pub admin_token: LiveSecret,
    /// Per-app tokens: accepted next to the admin token, scoped to their app.
    pub tokens: Arc<Tokens>,
}

/// What the license-check function serves.
pub struct KeysApi {
    pub check: KeyCheck,
    pub admin: KeyAdmin,
    pub admin_token: LiveSecret,
    /// Per-app tokens: accepted next to the admin token, scoped to their app.
    pub tokens: Arc<Tokens>,
    /// Signs the answers of checks that send a nonce; `None` signs nothing.
    pub verdict: Option<VerdictSigner>,
}

/// Routes without a fallback, for merging.
pub fn ingest_routes(api: Arc<IngestApi>) -> Router {
    let auth = Auth { admin_token: api.admin_token.clone(), tokens: api.tokens.clone() };
    routes_events::routes(api.clone())
        .merge(routes_manage::routes(api.clone(), auth.clone()))
        .merge(routes_tokens::routes(api.tokens.clone(), auth))
        // The console's files are public (it signs in with a token it sends as a bearer).
        .merge(console::routes())
}

/// Routes without a fallback, for merging.
pub fn keys_routes(api: Arc<KeysApi>) -> Router {
    let auth = Auth { admin_token: api.admin_token.clone(), tokens: api.tokens.clone() };
    routes_keys::check_routes(api.clone())
        .merge(routes_patchkit::routes(api.clone(), api.admin_token.clone()))
        .merge(routes_keys::admin_routes(api, auth))
}

/// The ingest function's router.
pub fn ingest_router(api: Arc<IngestApi>) -> Router {
    ingest_routes(api).fallback(not_found)
}

/// The license-check function's router.
pub fn keys_router(api: Arc<KeysApi>) -> Router {
    keys_routes(api).fallback(not_found)
}
