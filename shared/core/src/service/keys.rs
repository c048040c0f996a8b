//! `GET /v2/keys/{key}?app_secret=…[&key_secret=…]`, compatible with PatchKit's Keys service:
//! same statuses, same `{"message":…}` error bodies, same 200 body. The hot path is one cached
//! app lookup plus one store round trip that both checks and counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ids::key_fingerprint;
use crate::metrics::{Metrics, catalog};
use crate::model::App;
use crate::ports::{AppSecretIndex, KeyStore, KeyVerdict, StoreError};

/// App secrets change rarely (rotation); caching the secret → app lookup keeps the hot path to
/// one store call. A rotated-out secret keeps working for at most this long.
const APP_CACHE_TTL: Duration = Duration::from_secs(30);
const APP_CACHE_MAX: usize = 10_000;
pub const MAX_KEY_LEN: usize = 128;

/// PatchKit's 200 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyResponse {
    pub key: String,
    pub app_secret: String,
    pub key_secret: String,
    pub collection_id: Option<String>,
    pub registrations: u64,
    pub blocked: bool,
}

/// Why a key check does not answer 200. The router turns each into PatchKit's status and
/// `{"message":…}` body (`http::errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("key not known")]
    NotFound,
    #[error("key has been blocked")]
    Blocked,
    #[error("app secret or key secret does not match")]
    Forbidden,
    #[error("app_secret is missing")]
    MissingAppSecret,
    #[error("key is malformed")]
    MalformedKey,
    #[error("store unavailable")]
    Unavailable,
}

pub struct KeyCheck {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn AppSecretIndex>,
    cache: Mutex<HashMap<String, (App, Instant)>>,
    metrics: Metrics,
}

impl KeyCheck {
    #[must_use]
    pub fn new(keys: Arc<dyn KeyStore>, apps: Arc<dyn AppSecretIndex>) -> Self {
        KeyCheck { keys, apps, cache: Mutex::new(HashMap::new()), metrics: Metrics::default() }
    }

    /// Report each answer's status to `metrics` ([`KeyCheck::count_answer`]).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Count one answer by its HTTP status; the route calls it, since the status is decided
    /// there (`http::errors`).
    pub fn count_answer(&self, status: u16) {
        self.metrics.emit(|| catalog::key_check(status));
    }

    /// # Errors
    /// The refusal to answer with (status + PatchKit message).
    pub async fn check(
        &self,
        key: &str,
        app_secret: Option<&str>,
        key_secret: Option<&str>,
    ) -> Result<KeyResponse, KeyRefusal> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
            return Err(KeyRefusal::MalformedKey);
        }
        let Some(app_secret) = app_secret.filter(|s| !s.is_empty()) else {
            return Err(KeyRefusal::MissingAppSecret);
        };
        let fingerprint = key_fingerprint(key);
        let Some(app) = self.app_for(app_secret).await.map_err(unavailable)? else {
            tracing::info!(key = %fingerprint, outcome = "forbidden", "key check: unknown app secret");
            return Err(KeyRefusal::Forbidden);
        };
        // Only a call without key_secret registers a use.
        let register = key_secret.is_none();
        let checked = self.keys.check_key(key, &app.id, register).await.map_err(unavailable)?;
        let found = match checked {
            KeyVerdict::Valid(found) => found,
            KeyVerdict::NotFound => return Err(refuse(&fingerprint, KeyRefusal::NotFound)),
            KeyVerdict::Blocked => return Err(refuse(&fingerprint, KeyRefusal::Blocked)),
            KeyVerdict::Forbidden => return Err(refuse(&fingerprint, KeyRefusal::Forbidden)),
        };
        if let Some(given) = key_secret
            && !found.key_secret.matches(given)
        {
            return Err(refuse(&fingerprint, KeyRefusal::Forbidden));
        }
        tracing::debug!(key = %fingerprint, app_id = %app.id, registrations = found.registrations, "key check: valid");
        Ok(KeyResponse {
            key: found.key,
            app_secret: app.app_secret.expose().to_owned(),
            key_secret: found.key_secret.expose().to_owned(),
            collection_id: found.collection_id,
            registrations: found.registrations,
            blocked: found.blocked,
        })
    }

    async fn app_for(&self, app_secret: &str) -> Result<Option<App>, StoreError> {
        let cache_key = crate::ids::secret_lookup_hash(app_secret);
        if let Some((app, at)) = self.lock_cache().get(&cache_key)
            && at.elapsed() < APP_CACHE_TTL
        {
            return Ok(Some(app.clone()));
        }
        let app = self.apps.app_for_secret(app_secret).await?;
        // The index matched a hash; confirm the secret itself in constant time.
        let app = app.filter(|a| a.app_secret.matches(app_secret));
        if let Some(app) = &app {
            let mut cache = self.lock_cache();
            if cache.len() >= APP_CACHE_MAX {
                cache.clear();
            }
            cache.insert(cache_key, (app.clone(), Instant::now()));
        }
        Ok(app)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (App, Instant)>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn refuse(fingerprint: &str, refusal: KeyRefusal) -> KeyRefusal {
    tracing::info!(key = %fingerprint, outcome = %refusal, "key check refused");
    refusal
}

fn unavailable(err: StoreError) -> KeyRefusal {
    tracing::error!(error = %err, "key check: store unavailable");
    KeyRefusal::Unavailable
}
