//! `GET /v2/keys/{key}?app_secret=…[&key_secret=…]`, compatible with PatchKit's Keys service:
//! same statuses, same `{"message":…}` error bodies, same 200 body. The hot path is one cached
//! app lookup plus one store round trip that both checks and counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ids::key_fingerprint;
use crate::model::App;
use crate::ports::{AppSecretIndex, KeyCheck, KeyStore, StoreError};

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

/// A non-200 answer: status and PatchKit's `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRefusal {
    pub status: u16,
    pub message: &'static str,
}

impl KeyRefusal {
    const fn new(status: u16, message: &'static str) -> Self {
        KeyRefusal { status, message }
    }
    pub const NOT_FOUND: KeyRefusal = KeyRefusal::new(404, "Key not known");
    pub const BLOCKED: KeyRefusal = KeyRefusal::new(410, "Key has been blocked");
    pub const FORBIDDEN: KeyRefusal = KeyRefusal::new(403, "Forbidden");
    pub const MISSING_APP_SECRET: KeyRefusal = KeyRefusal::new(400, "app_secret is required");
    pub const MALFORMED_KEY: KeyRefusal =
        KeyRefusal::new(400, "Key is malformed: 1 to 128 characters, no control characters");
    pub const UNAVAILABLE: KeyRefusal = KeyRefusal::new(503, "Service unavailable, retry");

    #[must_use]
    pub fn body(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }
}

pub struct KeyCheckService {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn AppSecretIndex>,
    cache: Mutex<HashMap<String, (App, Instant)>>,
}

impl KeyCheckService {
    #[must_use]
    pub fn new(keys: Arc<dyn KeyStore>, apps: Arc<dyn AppSecretIndex>) -> Self {
        KeyCheckService { keys, apps, cache: Mutex::new(HashMap::new()) }
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
            return Err(KeyRefusal::MALFORMED_KEY);
        }
        let Some(app_secret) = app_secret.filter(|s| !s.is_empty()) else {
            return Err(KeyRefusal::MISSING_APP_SECRET);
        };
        let fingerprint = key_fingerprint(key);
        let Some(app) = self.app_for(app_secret).await.map_err(unavailable)? else {
            tracing::info!(key = %fingerprint, outcome = "forbidden", "key check: unknown app secret");
            return Err(KeyRefusal::FORBIDDEN);
        };
        // Only a call without key_secret registers a use.
        let register = key_secret.is_none();
        let checked = self.keys.check_key(key, &app.id, register).await.map_err(unavailable)?;
        let found = match checked {
            KeyCheck::Valid(found) => found,
            KeyCheck::NotFound => return Err(refuse(&fingerprint, KeyRefusal::NOT_FOUND)),
            KeyCheck::Blocked => return Err(refuse(&fingerprint, KeyRefusal::BLOCKED)),
            KeyCheck::Forbidden => return Err(refuse(&fingerprint, KeyRefusal::FORBIDDEN)),
        };
        if let Some(given) = key_secret
            && !found.key_secret.matches(given)
        {
            return Err(refuse(&fingerprint, KeyRefusal::FORBIDDEN));
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
    tracing::info!(key = %fingerprint, status = refusal.status, "key check refused");
    refusal
}

fn unavailable(err: StoreError) -> KeyRefusal {
    tracing::error!(error = %err, "key check: store unavailable");
    KeyRefusal::UNAVAILABLE
}
