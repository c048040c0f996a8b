//! Wire configuration and adapters into the use cases, the same way for every entry point
//! (the three Lambda functions and `patchbay dev`).

use std::sync::Arc;
use std::time::Duration;

use patchbay_core::config::SendConfig;
use patchbay_core::http::{IngestApi, KeysApi};
use patchbay_core::ports::Sender;
use patchbay_core::retry::RetrySchedule;
use patchbay_core::secret::Secret;
use patchbay_core::service::deliver::Deliverer;
use patchbay_core::service::ingest::Ingest;
use patchbay_core::service::key_admin::KeyAdmin;
use patchbay_core::service::keys::KeyCheckService;
use patchbay_core::service::manage::Manage;

use crate::backends::Backends;
use crate::sender::ReqwestSender;

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("this function needs a queue, and the configuration names none")]
    NoQueue,
    #[error("this function needs a keys table, and the configuration names none")]
    NoKeys,
    #[error("HTTP client: {0}")]
    Sender(String),
}

/// Why a function could not start: its store, or a component it needs.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Store(#[from] patchbay_core::ports::StoreError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
}

/// The SSRF-guarded sender, built once.
///
/// # Errors
/// The HTTP client cannot be built (TLS roots).
pub fn sender(send: &SendConfig) -> Result<Arc<dyn Sender>, AssembleError> {
    ReqwestSender::new(send)
        .map(|s| Arc::new(s) as Arc<dyn Sender>)
        .map_err(|e| AssembleError::Sender(e.to_string()))
}

#[must_use]
pub fn deliverer(
    backends: &Backends,
    sender: Arc<dyn Sender>,
    retry: RetrySchedule,
    send: &SendConfig,
    auto_disable_after: Duration,
) -> Arc<Deliverer> {
    Arc::new(Deliverer::new(backends.store.clone(), sender, retry, send, auto_disable_after))
}

/// # Errors
/// No queue configured.
pub fn ingest_api(
    backends: &Backends,
    ingest_secret: Secret,
    admin_token: Secret,
    sender: Arc<dyn Sender>,
    deliverer: Arc<Deliverer>,
) -> Result<IngestApi, AssembleError> {
    let queue = backends.queue.clone().ok_or(AssembleError::NoQueue)?;
    Ok(IngestApi {
        ingest: Ingest::new(backends.store.clone(), queue.clone(), ingest_secret),
        manage: Manage::new(backends.store.clone(), queue, sender, deliverer),
        admin_token,
    })
}

/// # Errors
/// No keys table configured.
pub fn keys_api(backends: &Backends, admin_token: Secret) -> Result<KeysApi, AssembleError> {
    let keys = backends.keys.clone().ok_or(AssembleError::NoKeys)?;
    let store = backends.store.clone();
    Ok(KeysApi {
        check: KeyCheckService::new(keys.clone(), store.clone()),
        admin: KeyAdmin::new(keys, store),
        admin_token,
    })
}
