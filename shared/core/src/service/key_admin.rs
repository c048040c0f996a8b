//! License key administration: generate, import, show, block, unblock.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::license_key;
use crate::model::LicenseKey;
use crate::ports::{AppStore, KeyStore};
use crate::secret::Secret;
use crate::service::keys::MAX_KEY_LEN;

/// Per request, for generation and import alike.
pub const MAX_KEYS_PER_CALL: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateKeys {
    pub count: usize,
    #[serde(default)]
    pub collection_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportKeys {
    pub keys: Vec<String>,
    #[serde(default)]
    pub collection_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct GeneratedKeys {
    pub keys: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ImportResult {
    pub imported: usize,
    pub duplicates: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct KeyView {
    pub key: String,
    pub app_id: String,
    pub key_secret: String,
    pub collection_id: Option<String>,
    pub registrations: u64,
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&LicenseKey> for KeyView {
    fn from(k: &LicenseKey) -> Self {
        KeyView {
            key: k.key.clone(),
            app_id: k.app_id.clone(),
            key_secret: k.key_secret.expose().to_owned(),
            collection_id: k.collection_id.clone(),
            registrations: k.registrations,
            blocked: k.blocked,
            created_at: k.created_at,
        }
    }
}

pub struct KeyAdmin {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn AppStore>,
}

fn new_key(key: String, app_id: &str, collection_id: Option<&String>, now: DateTime<Utc>) -> LicenseKey {
    LicenseKey {
        key,
        app_id: app_id.to_owned(),
        key_secret: Secret::random_alphanumeric(32),
        collection_id: collection_id.cloned(),
        registrations: 0,
        blocked: false,
        created_at: now,
    }
}

/// Keys from other systems are accepted as they are, within what a URL path segment and a
/// launcher's `app_data.json` can carry without surprises.
fn check_import_key(index: usize, key: &str) -> Result<(), ApiError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(ok_char) {
        return Err(ApiError::invalid_field(
            &format!("keys[{index}]"),
            format!("{key:?} is not a valid key: 1 to {MAX_KEY_LEN} of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(())
}

fn check_collection(collection_id: Option<&String>) -> Result<(), ApiError> {
    if let Some(c) = collection_id
        && (c.is_empty() || c.len() > 128 || c.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_field("collection_id", "must be 1 to 128 printable characters"));
    }
    Ok(())
}

impl KeyAdmin {
    #[must_use]
    pub fn new(keys: Arc<dyn KeyStore>, apps: Arc<dyn AppStore>) -> Self {
        KeyAdmin { keys, apps }
    }

    async fn require_app(&self, app_id: &str) -> Result<(), ApiError> {
        match self.apps.get_app(app_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(format!("app {app_id}"))),
        }
    }

    /// # Errors
    /// 404 unknown app, 422 count out of range.
    pub async fn generate(&self, app_id: &str, req: GenerateKeys) -> Result<GeneratedKeys, ApiError> {
        if !(1..=MAX_KEYS_PER_CALL).contains(&req.count) {
            return Err(ApiError::invalid_field("count", format!("must be 1 to {MAX_KEYS_PER_CALL}")));
        }
        check_collection(req.collection_id.as_ref())?;
        self.require_app(app_id).await?;
        let now = Utc::now();
        // ~98 random bits per key: a collision is astronomically unlikely, but the store's
        // all-or-nothing create still guards it; regenerate the few that clash.
        let mut keys: Vec<LicenseKey> =
            (0..req.count).map(|_| new_key(license_key(), app_id, req.collection_id.as_ref(), now)).collect();
        for _ in 0..3 {
            let clashes = self.keys.create_keys(&keys).await?;
            if clashes.is_empty() {
                tracing::info!(app_id, count = keys.len(), "keys generated");
                return Ok(GeneratedKeys { keys: keys.into_iter().map(|k| k.key).collect() });
            }
            let clashes: HashSet<String> = clashes.into_iter().collect();
            for k in &mut keys {
                if clashes.contains(&k.key) {
                    k.key = license_key();
                }
            }
        }
        Err(ApiError::conflict("could not generate unique keys; retry"))
    }

    /// Valid keys are all checked before anything is written; existing keys are reported, the
    /// rest imported.
    ///
    /// # Errors
    /// 404 unknown app, 422 naming the first invalid key.
    pub async fn import(&self, app_id: &str, req: ImportKeys) -> Result<ImportResult, ApiError> {
        if req.keys.is_empty() || req.keys.len() > MAX_KEYS_PER_CALL {
            return Err(ApiError::invalid_field("keys", format!("must hold 1 to {MAX_KEYS_PER_CALL} keys")));
        }
        check_collection(req.collection_id.as_ref())?;
        for (i, key) in req.keys.iter().enumerate() {
            check_import_key(i, key)?;
        }
        self.require_app(app_id).await?;
        let now = Utc::now();
        let mut seen = HashSet::new();
        let mut duplicates = Vec::new();
        let mut fresh = Vec::new();
        for key in req.keys {
            if seen.insert(key.clone()) {
                fresh.push(new_key(key, app_id, req.collection_id.as_ref(), now));
            } else {
                duplicates.push(key);
            }
        }
        let existing = self.keys.create_keys(&fresh).await?;
        if !existing.is_empty() {
            let existing_set: HashSet<&String> = existing.iter().collect();
            fresh.retain(|k| !existing_set.contains(&k.key));
            let again = self.keys.create_keys(&fresh).await?;
            if !again.is_empty() {
                return Err(ApiError::conflict("keys were imported concurrently; retry"));
            }
            duplicates.extend(existing);
        }
        tracing::info!(app_id, imported = fresh.len(), duplicates = duplicates.len(), "keys imported");
        Ok(ImportResult { imported: fresh.len(), duplicates })
    }

    /// # Errors
    /// 404 unknown key.
    pub async fn get(&self, key: &str) -> Result<KeyView, ApiError> {
        let found = self.keys.get_key(key).await?.ok_or_else(|| ApiError::not_found("key"))?;
        Ok(KeyView::from(&found))
    }

    /// # Errors
    /// 404 unknown key.
    pub async fn set_blocked(&self, key: &str, blocked: bool) -> Result<KeyView, ApiError> {
        let updated = self.keys.set_key_blocked(key, blocked).await?;
        tracing::info!(key = %crate::ids::key_fingerprint(key), blocked, "key block state changed");
        Ok(KeyView::from(&updated))
    }
}
