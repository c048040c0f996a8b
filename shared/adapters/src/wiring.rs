//! The one place that wires: from a function's configuration and its adapters to the use
//! cases it serves. The three Lambda functions and `patchbay dev` all build through here, so a
//! local test send and a Lambda test send run the same code under the same limits.

use std::sync::Arc;
use std::time::Duration;

use patchbay_core::config::{
    ADMIN_TOKEN_VARIABLE, DeliverConfig, INGEST_SECRET_VARIABLE, IngestConfig, LicenseCheckConfig,
    SendConfig, VERDICT_KEY_VARIABLE,
};
use patchbay_core::http::{IngestApi, KeysApi};
use patchbay_core::metrics::Metrics;
use patchbay_core::metrics::sinks::StdoutEmf;
use patchbay_core::ports::{Sender, StoreError};
use patchbay_core::service::app_secrets::AppSecretCache;
use patchbay_core::service::attempts::TestAttempts;
use patchbay_core::service::deliver::Deliver;
use patchbay_core::service::ingest::Ingest;
use patchbay_core::service::key_admin::KeyAdmin;
use patchbay_core::service::keys::KeyCheck;
use patchbay_core::service::manage::Manage;
use patchbay_core::service::notices::Notices;
use patchbay_core::service::tokens::Tokens;
use patchbay_core::verdict::VerdictSigner;

use crate::backends::{Backends, EventBackends, KeyBackends};
use crate::secrets::{SecretResolver, SecretsError};
use crate::sender::ReqwestSender;

/// A test send answers inside an API Gateway request, which gives up after 30 s: the
/// receiver's share stays well under that, whatever the delivery timeout.
pub const TEST_SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("HTTP client: {0}")]
    Sender(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Set by the Lambda runtime in every function's environment, never by `patchbay dev`.
pub const LAMBDA_FUNCTION_NAME_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// EMF lines on stdout on Lambda, where CloudWatch Logs turns them into metrics; off
/// elsewhere (`patchbay dev`, tests), where nothing would read them.
#[must_use]
pub fn metrics() -> Metrics {
    if std::env::var_os(LAMBDA_FUNCTION_NAME_VARIABLE).is_some() {
        Metrics::to(Arc::new(StdoutEmf))
    } else {
        Metrics::default()
    }
}

fn sender(send: &SendConfig, ceiling: Option<Duration>) -> Result<Arc<dyn Sender>, InitError> {
    let sender = ReqwestSender::new(send).map_err(|e| InitError::Sender(e.to_string()))?;
    let sender = match ceiling {
        Some(ceiling) => sender.with_timeout_ceiling(ceiling),
        None => sender,
    };
    Ok(Arc::new(sender))
}

/// The ingest function: events from the pipeline, and the management API. Secrets named by
/// id are read through the Parameters and Secrets extension ([`SecretResolver::from_env`]).
///
/// # Errors
/// The HTTP client for test sends cannot be built (TLS roots), or a secret cannot be read.
pub async fn ingest_api(config: &IngestConfig, backends: &EventBackends) -> Result<IngestApi, InitError> {
    ingest_api_with(config, backends, &SecretResolver::from_env()).await
}

/// [`ingest_api`], reading secrets through `secrets`.
///
/// # Errors
/// As [`ingest_api`].
pub async fn ingest_api_with(
    config: &IngestConfig,
    backends: &EventBackends,
    secrets: &SecretResolver,
) -> Result<IngestApi, InitError> {
    // No key check in this process: what a rotation forgets here, nobody had remembered.
    ingest_api_sharing(config, backends, secrets, Arc::default()).await
}

async fn ingest_api_sharing(
    config: &IngestConfig,
    backends: &EventBackends,
    secrets: &SecretResolver,
    app_secrets: Arc<AppSecretCache>,
) -> Result<IngestApi, InitError> {
    let test_send = SendConfig { timeout: config.send.timeout.min(TEST_SEND_TIMEOUT), ..config.send.clone() };
    let test_attempts = TestAttempts::new(backends.store.clone(), test_send.attempt_retention);
    Ok(IngestApi {
        ingest: Ingest::new(
            backends.store.clone(),
            backends.queue.clone(),
            secrets.resolve(&config.ingest_secret, INGEST_SECRET_VARIABLE).await?,
        )
        .with_metrics(metrics()),
        manage: Manage::new(
            backends.store.clone(),
            backends.queue.clone(),
            // A webhook's own timeout applies to its test sends too, but never past the cap.
            sender(&test_send, Some(TEST_SEND_TIMEOUT))?,
            test_attempts,
            app_secrets,
        ),
        admin_token: secrets.resolve(&config.admin_token, ADMIN_TOKEN_VARIABLE).await?,
        tokens: Arc::new(Tokens::new(backends.store.clone())),
    })
}

/// The deliver function's use case (one queue message = one attempt). It raises operational
/// events (`webhook.disabled`, …) onto the same store and queue.
///
/// # Errors
/// The HTTP client cannot be built (TLS roots).
pub fn deliver(config: &DeliverConfig, backends: &EventBackends) -> Result<Deliver, InitError> {
    Ok(Deliver::new(
        backends.store.clone(),
        sender(&config.send, None)?,
        config.retry.clone(),
        &config.send,
        config.auto_disable_after,
    )
    .with_metrics(metrics())
    .with_notices(Notices::new(backends.store.clone(), backends.queue.clone())))
}

/// The license-check function: the key check and key administration. The admin token, if
/// named by id, is read through the Parameters and Secrets extension, as for [`ingest_api`].
/// An app secret rotated by the ingest function (another process) keeps working here for up
/// to the app cache's TTL.
///
/// # Errors
/// The admin token cannot be read.
pub async fn keys_api(config: &LicenseCheckConfig, backends: &KeyBackends) -> Result<KeysApi, InitError> {
    keys_api_sharing(config, backends, &SecretResolver::from_env(), Arc::default()).await
}

async fn keys_api_sharing(
    config: &LicenseCheckConfig,
    backends: &KeyBackends,
    secrets: &SecretResolver,
    app_secrets: Arc<AppSecretCache>,
) -> Result<KeysApi, InitError> {
    let check = KeyCheck::new(backends.keys.clone(), backends.store.clone(), app_secrets.clone())
        .with_metrics(metrics())
        .with_registration_limit(config.key_registrations_per_hour);
    let admin =
        KeyAdmin::new(backends.keys.clone(), backends.store.clone(), app_secrets, check.blocked_keys());
    Ok(KeysApi {
        check,
        admin,
        admin_token: secrets.resolve(&config.admin_token, ADMIN_TOKEN_VARIABLE).await?,
        tokens: Arc::new(Tokens::new(backends.store.clone())),
        verdict: match &config.verdict_key {
            Some(source) => Some(VerdictSigner::new(secrets.resolve(source, VERDICT_KEY_VARIABLE).await?)),
            None => None,
        },
    })
}

/// Both APIs in one process (`patchbay dev`), sharing the key check's app cache: a secret
/// rotated through the management API stops working at once.
///
/// # Errors
/// The HTTP client for test sends cannot be built (TLS roots), or a secret cannot be read.
pub async fn ingest_and_keys_apis(
    ingest: &IngestConfig,
    keys: &LicenseCheckConfig,
    backends: &Backends,
) -> Result<(IngestApi, KeysApi), InitError> {
    let secrets = SecretResolver::from_env();
    let app_secrets = Arc::new(AppSecretCache::new());
    Ok((
        ingest_api_sharing(ingest, &backends.events(), &secrets, app_secrets.clone()).await?,
        keys_api_sharing(keys, &backends.key_backends(), &secrets, app_secrets).await?,
    ))
}
