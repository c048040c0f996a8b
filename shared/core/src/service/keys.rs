//! `GET /v2/keys/{key}?app_secret=…[&key_secret=…]`, compatible with PatchKit's Keys service:
//! same statuses, same `{"message":…}` error bodies, same 200 body. The hot path is one cached
//! app lookup plus one store round trip that both checks and counts.

use std::sync::Arc;

use serde::Serialize;

use crate::ids::key_fingerprint;
use crate::metrics::{Metrics, catalog};
use crate::model::{App, AppCollections, CollectionId, LicenseKey};
use crate::ports::{AppSecretIndex, KeyStore, KeyVerdict, StoreError};
use crate::service::app_secrets::{AppSecretCache, Cached};
use crate::service::blocked_keys::BlockedKeys;

pub const MAX_KEY_LEN: usize = 128;

/// PatchKit's 200 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyResponse {
    pub key: String,
    pub app_secret: String,
    pub key_secret: String,
    pub collection_id: CollectionId,
    pub registrations: u64,
    pub blocked: bool,
}

/// Why a key check does not answer 200. The router turns each into PatchKit's status and
/// `{"message":…}` body (`http::errors`); the cases it answers alike stay apart here for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("key not known")]
    NotFound,
    #[error("key belongs to another app")]
    OtherAppsKey,
    #[error("key is malformed")]
    MalformedKey,
    #[error("key has been blocked")]
    Blocked,
    #[error("app secret not known")]
    UnknownAppSecret,
    #[error("app_secret is missing")]
    MissingAppSecret,
    #[error("store unavailable")]
    Unavailable,
}

/// One key check as it arrived. (No `Debug`: it holds secrets.)
#[derive(Clone, Copy)]
pub struct KeyQuery<'a> {
    /// `None` when the key was not UTF-8 once percent-decoded.
    pub key: Option<&'a str>,
    pub app_secret: Option<&'a str>,
    pub key_secret: Option<&'a str>,
}

/// Whether a check may count a use of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// `GET`: one use is counted unless the key's own secret is given.
    UnlessKeySecretMatches,
    /// `HEAD`: the same verdict, counting nothing.
    Never,
}

pub struct KeyCheck {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn AppSecretIndex>,
    app_secrets: Arc<AppSecretCache>,
    metrics: Metrics,
    /// Keys the store said are blocked, answered 410 without asking again for a while.
    blocked: Arc<BlockedKeys>,
    /// `PATCHBAY_KEY_REGISTRATIONS_PER_HOUR`: above it a key blocks itself.
    registrations_per_hour: Option<u64>,
}

impl KeyCheck {
    #[must_use]
    pub fn new(
        keys: Arc<dyn KeyStore>,
        apps: Arc<dyn AppSecretIndex>,
        app_secrets: Arc<AppSecretCache>,
    ) -> Self {
        KeyCheck {
            keys,
            apps,
            app_secrets,
            metrics: Metrics::default(),
            blocked: Arc::default(),
            registrations_per_hour: None,
        }
    }

    /// Block a key automatically once it is registered more than `per_hour` times in a clock
    /// hour (`None`: never).
    #[must_use]
    pub fn with_registration_limit(mut self, per_hour: Option<u64>) -> Self {
        self.registrations_per_hour = per_hour.filter(|n| *n > 0);
        self
    }

    /// The blocked-key cache, for [`KeyAdmin`](crate::service::key_admin::KeyAdmin) to clear
    /// what it unblocks (at once on this instance; others within
    /// [`BLOCKED_TTL`](crate::service::blocked_keys::BLOCKED_TTL)).
    #[must_use]
    pub fn blocked_keys(&self) -> Arc<BlockedKeys> {
        self.blocked.clone()
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
        query: KeyQuery<'_>,
        registration: Registration,
    ) -> Result<KeyResponse, KeyRefusal> {
        // Logs name keys by fingerprint only.
        let fingerprint = query.key.map_or_else(|| "-".to_owned(), key_fingerprint);
        let Some(app_secret) = query.app_secret.filter(|s| !s.is_empty()) else {
            return Err(KeyRefusal::MissingAppSecret);
        };
        let Some((app, collections)) = self.app_for(app_secret).await.map_err(unavailable)? else {
            return Err(refuse(&fingerprint, KeyRefusal::UnknownAppSecret));
        };
        // No store holds such a key: it is answered like any unknown key, without asking.
        let Some(key) = query.key.filter(|k| is_well_formed(k)) else {
            return Err(refuse(&fingerprint, KeyRefusal::MalformedKey));
        };
        // A blocked key stays blocked for a while: no store call (a leaked key hammered by
        // thousands of players must not throttle its item into 503s).
        if self.blocked.contains(&app.id, key) {
            tracing::debug!(key = %fingerprint, "key check refused: blocked (cached)");
            return Err(KeyRefusal::Blocked);
        }
        let found = match (registration, query.key_secret.filter(|s| !s.is_empty())) {
            (Registration::Never, _) => self.verdict(key, &app, false, &fingerprint).await?,
            (Registration::UnlessKeySecretMatches, None) => {
                self.verdict(key, &app, true, &fingerprint).await?
            }
            (Registration::UnlessKeySecretMatches, Some(given)) => {
                let found = self.verdict(key, &app, false, &fingerprint).await?;
                if found.key_secret.matches(given) {
                    found
                } else {
                    // A wrong or stale secret (a launcher's cache that no longer matches)
                    // counts as none: the call registers and answers the real secret, so the
                    // caller heals instead of being locked out. Only this case costs a second
                    // round trip, the registering update after the read.
                    tracing::info!(key = %fingerprint, "key check: key secret does not match; registering");
                    self.verdict(key, &app, true, &fingerprint).await?
                }
            }
        };
        // Blocked collections travel with the cached app (within `APP_CACHE_TTL`), so this
        // costs no store call; the key then joins the negative cache like a blocked key, so
        // a leaked key of a blocked collection stops reaching the store (and counting uses)
        // after its first check. Unblocking a collection clears that cache.
        let collection_id = collections.collection_of(&found);
        if collections.is_blocked(collection_id) {
            self.blocked.insert(&app.id, key);
            return Err(refuse(&fingerprint, KeyRefusal::Blocked));
        }
        tracing::debug!(key = %fingerprint, app_id = %app.id, registrations = found.registrations, "key check: valid");
        Ok(KeyResponse {
            key: found.key,
            app_secret: app.app_secret.expose().to_owned(),
            key_secret: found.key_secret.expose().to_owned(),
            collection_id,
            registrations: found.registrations,
            blocked: found.blocked,
        })
    }

    /// The store's verdict on `key` for `app`, registering a use when `register` is set.
    async fn verdict(
        &self,
        key: &str,
        app: &App,
        register: bool,
        fingerprint: &str,
    ) -> Result<LicenseKey, KeyRefusal> {
        let verdict = match self.registrations_per_hour.filter(|_| register) {
            Some(per_hour) => {
                let hour = crate::model::registration_hour(chrono::Utc::now());
                self.keys.register_limited(key, &app.id, per_hour, hour).await
            }
            None => self.keys.check_key(key, &app.id, register).await,
        };
        match verdict.map_err(unavailable)? {
            KeyVerdict::Valid(found) => Ok(found),
            KeyVerdict::NotFound => Err(refuse(fingerprint, KeyRefusal::NotFound)),
            KeyVerdict::OtherApp => Err(refuse(fingerprint, KeyRefusal::OtherAppsKey)),
            KeyVerdict::Blocked => {
                self.blocked.insert(&app.id, key);
                Err(refuse(fingerprint, KeyRefusal::Blocked))
            }
        }
    }

    async fn app_for(&self, app_secret: &str) -> Result<Option<(App, AppCollections)>, StoreError> {
        let lookup = match self.app_secrets.get(app_secret) {
            Cached::Hit(app, collections) => return Ok(Some((app, collections))),
            Cached::Miss(lookup) => lookup,
        };
        let app = self.apps.app_for_secret(app_secret).await?;
        // The index matched a hash; confirm the secret itself in constant time.
        let Some(app) = app.filter(|a| a.app_secret.matches(app_secret)) else {
            return Ok(None);
        };
        let collections = self.keys.app_collections(&app.id).await?;
        self.app_secrets.remember(lookup, &app, &collections);
        Ok(Some((app, collections)))
    }
}

/// What any store could hold as a key: 1 to `MAX_KEY_LEN` bytes, no control characters.
fn is_well_formed(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control)
}

fn refuse(fingerprint: &str, refusal: KeyRefusal) -> KeyRefusal {
    tracing::info!(key = %fingerprint, outcome = %refusal, "key check refused");
    refusal
}

fn unavailable(err: StoreError) -> KeyRefusal {
    tracing::error!(error = %err, "key check: store unavailable");
    KeyRefusal::Unavailable
}
