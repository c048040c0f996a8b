//! License key administration: generate, import, show, block, unblock.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::license_key;
use crate::model::LicenseKey;
use crate::ports::{AppStore, KeyStore, StoreError};
use crate::service::keys::MAX_KEY_LEN;
use crate::validation::FieldError;

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
    /// Set when the service blocked the key itself (`auto-blocked: N registrations in the
    /// last hour`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
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
            blocked_reason: k.blocked_reason.clone(),
        }
    }
}

/// Why a key administration request was refused, or could not be carried out now.
#[derive(Debug, thiserror::Error)]
pub enum KeyAdminError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}; retry")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct KeyAdmin {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn AppStore>,
}

/// Keys from other systems are accepted as they are, within what every client carries through
/// a URL path unchanged: RFC 3986's unreserved characters less `~` (some clients encode it),
/// and no leading `.` (so never a `.` or `..` segment, which clients and proxies collapse).
fn check_import_key(index: usize, key: &str) -> Result<(), FieldError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(ok_char) || key.starts_with('.') {
        return Err(FieldError::new(
            format!("keys[{index}]"),
            format!(
                "{key:?} is not a valid key: 1 to {MAX_KEY_LEN} of A-Z a-z 0-9 - _ . (not starting with .)"
            ),
        ));
    }
    Ok(())
}

fn check_collection(collection_id: Option<&String>) -> Result<(), FieldError> {
    if let Some(c) = collection_id
        && (c.is_empty() || c.len() > 128 || c.chars().any(char::is_control))
    {
        return Err(FieldError::new("collection_id", "must be 1 to 128 printable characters"));
    }
    Ok(())
}

impl KeyAdmin {
    #[must_use]
    pub fn new(keys: Arc<dyn KeyStore>, apps: Arc<dyn AppStore>) -> Self {
        KeyAdmin { keys, apps }
    }

    async fn require_app(&self, app_id: &str) -> Result<(), KeyAdminError> {
        match self.apps.get_app(app_id).await? {
            Some(_) => Ok(()),
            None => Err(KeyAdminError::NotFound(format!("app {app_id}"))),
        }
    }

    /// # Errors
    /// Unknown app, count out of range.
    pub async fn generate(&self, app_id: &str, req: GenerateKeys) -> Result<GeneratedKeys, KeyAdminError> {
        if !(1..=MAX_KEYS_PER_CALL).contains(&req.count) {
            return Err(FieldError::new("count", format!("must be 1 to {MAX_KEYS_PER_CALL}")).into());
        }
        check_collection(req.collection_id.as_ref())?;
        self.require_app(app_id).await?;
        let now = Utc::now();
        // ~98 random bits per key: a collision is astronomically unlikely, but the store's
        // all-or-nothing create still guards it; regenerate the few that clash.
        let mut keys: Vec<LicenseKey> = (0..req.count)
            .map(|_| LicenseKey::new(license_key(), app_id, req.collection_id.clone(), now))
            .collect();
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
        Err(KeyAdminError::Conflict("could not generate unique keys"))
    }

    /// Valid keys are all checked before anything is written; existing keys are reported, the
    /// rest imported.
    ///
    /// # Errors
    /// Unknown app, or the first invalid key named.
    pub async fn import(&self, app_id: &str, req: ImportKeys) -> Result<ImportResult, KeyAdminError> {
        if req.keys.is_empty() || req.keys.len() > MAX_KEYS_PER_CALL {
            return Err(FieldError::new("keys", format!("must hold 1 to {MAX_KEYS_PER_CALL} keys")).into());
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
                fresh.push(LicenseKey::new(key, app_id, req.collection_id.clone(), now));
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
                return Err(KeyAdminError::Conflict("keys were imported concurrently"));
            }
            duplicates.extend(existing);
        }
        tracing::info!(app_id, imported = fresh.len(), duplicates = duplicates.len(), "keys imported");
        Ok(ImportResult { imported: fresh.len(), duplicates })
    }

    /// # Errors
    /// Unknown key.
    pub async fn get(&self, key: &str) -> Result<KeyView, KeyAdminError> {
        let found = self.keys.get_key(key).await?.ok_or_else(|| KeyAdminError::NotFound("key".to_owned()))?;
        Ok(KeyView::from(&found))
    }

    /// # Errors
    /// Unknown key.
    pub async fn set_blocked(&self, key: &str, blocked: bool) -> Result<KeyView, KeyAdminError> {
        let updated = self.keys.set_key_blocked(key, blocked).await?;
        tracing::info!(key = %crate::ids::key_fingerprint(key), blocked, "key block state changed");
        Ok(KeyView::from(&updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_keys_survive_a_url_path() {
        for good in ["ABCDE-FGHJK-23456-789XY", "legacy_key.v2", "a"] {
            assert!(check_import_key(0, good).is_ok(), "{good}");
        }
        for bad in [".", "..", ".hidden", "a/b", "a b", "a~b", "a%2e", "ключ", ""] {
            assert_eq!(check_import_key(3, bad).unwrap_err().field, "keys[3]", "{bad:?}");
        }
    }
}
