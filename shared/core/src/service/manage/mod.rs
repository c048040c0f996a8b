//! The management API's use cases, one file each: [`apps`], [`webhooks`] (including test
//! sends) and [`deliveries`] (history, redelivery, replay). Served by the ingest function on
//! AWS and by `patchbay dev`.

mod apps;
mod deliveries;
pub mod owners;
pub mod requests;
pub mod views;
mod webhooks;

use std::sync::Arc;

use chrono::TimeDelta;

use crate::ports::{Queue, QueueError, Sender, Store, StoreError};
use crate::service::app_secrets::AppSecretCache;
use crate::service::attempts::TestAttempts;
use crate::service::send::PrepareError;
use crate::validation::FieldError;

pub use requests::{CreateApp, CreateWebhook, DeliveryQuery, PatchWebhook, PreviewWebhook, TestRequest};
pub use views::{AppView, AttemptView, DeliveryPage, DeliveryView, TestResult, WebhookPreview, WebhookView};

/// How long a rotated-out webhook secret keeps signing next to the new one.
pub const ROTATION_GRACE: TimeDelta = TimeDelta::hours(24);

/// Why a management request was refused, or could not be carried out now.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("delivery {0} is still pending; wait for it to finish")]
    StillPending(String),
    #[error("cursor is not valid")]
    BadCursor,
    #[error("webhook secret is unusable: {0}")]
    UnusableSecret(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<PrepareError> for ManageError {
    fn from(err: PrepareError) -> Self {
        match err {
            PrepareError::Template(e) => ManageError::Invalid(FieldError::new(e.location, e.message)),
            PrepareError::Secret(e) => ManageError::UnusableSecret(e.to_string()),
        }
    }
}

pub struct Manage {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    /// For test sends.
    sender: Arc<dyn Sender>,
    test_attempts: TestAttempts,
    /// The key check's, when it runs in this process: a rotation makes it forget the app.
    app_secrets: Arc<AppSecretCache>,
}

impl Manage {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        sender: Arc<dyn Sender>,
        test_attempts: TestAttempts,
        app_secrets: Arc<AppSecretCache>,
    ) -> Self {
        Manage { store, queue, sender, test_attempts, app_secrets }
    }
}
