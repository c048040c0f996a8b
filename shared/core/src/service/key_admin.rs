//! License key administration: generate, import, show, block, unblock; collections.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::license_key;
use crate::model::{Collection, CollectionId, LicenseKey};
use crate::ports::{AppStore, KeyStore, StoreError};
use crate::service::app_secrets::AppSecretCache;
use crate::service::keys::MAX_KEY_LEN;
use crate::validation::FieldError;

/// Per request, for generation and import alike.
pub const MAX_KEYS_PER_CALL: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateKeys {
    pub count: usize,
    /// The app's default collection when absent.
    #[serde(default)]
    pub collection_id: Option<CollectionId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportKeys {
    pub keys: Vec<String>,
    /// The app's default collection when absent.
    #[serde(default)]
    pub collection_id: Option<CollectionId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    pub name: String,
}

/// A collection as the API shows it.
#[derive(Debug, Serialize)]
pub struct CollectionView {
    pub id: CollectionId,
    pub name: String,
    pub blocked: bool,
}

impl From<&Collection> for CollectionView {
    fn from(c: &Collection) -> Self {
        CollectionView { id: c.id, name: c.name.clone(), blocked: c.blocked }
    }
}

#[derive(Debug, Serialize)]
pub struct CollectionList {
    pub collections: Vec<CollectionView>,
}

/// One key in a collection listing.
#[derive(Debug, Serialize)]
pub struct CollectionKey {
    pub key: String,
    pub registrations: u64,
    pub blocked: bool,
}

#[derive(Debug, Serialize)]
pub struct CollectionKeys {
    pub total_count: usize,
    pub keys: Vec<CollectionKey>,
}

/// Largest page of `GET /v1/collections/{id}/keys`; also the default.
pub const MAX_PAGE_SIZE: usize = 1000;

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
    pub collection_id: CollectionId,
    pub registrations: u64,
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
}

impl KeyView {
    /// `collection_id` is the key's own, or for a record from before collections, the one it
    /// belongs to.
    fn new(k: &LicenseKey, collection_id: CollectionId) -> Self {
        KeyView {
            key: k.key.clone(),
            app_id: k.app_id.clone(),
            key_secret: k.key_secret.expose().to_owned(),
            collection_id,
            registrations: k.registrations,
            blocked: k.blocked,
            created_at: k.created_at,
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
    /// The key check's cache in this process: a collection blocked here takes effect at once.
    app_cache: Arc<AppSecretCache>,
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

fn check_collection_name(name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(FieldError::new("name", "must be 1 to 128 printable characters"));
    }
    Ok(())
}

/// The name of the collection an app gets when it needs one and has none.
pub const DEFAULT_COLLECTION_NAME: &str = "default";

impl KeyAdmin {
    #[must_use]
    pub fn new(keys: Arc<dyn KeyStore>, apps: Arc<dyn AppStore>, app_cache: Arc<AppSecretCache>) -> Self {
        KeyAdmin { keys, apps, app_cache }
    }

    /// The collection new keys of `app_id` go to: `requested` if it is the app's, else the
    /// app's first collection, created when it has none.
    async fn collection_for(
        &self,
        app_id: &str,
        requested: Option<CollectionId>,
    ) -> Result<CollectionId, KeyAdminError> {
        if let Some(id) = requested {
            return match self.keys.get_collection(id).await? {
                Some(c) if c.app_id == app_id => Ok(id),
                _ => {
                    Err(FieldError::new("collection_id", format!("app {app_id} has no collection {id}"))
                        .into())
                }
            };
        }
        if let Some(first) = self.keys.list_collections(app_id).await?.first() {
            return Ok(first.id);
        }
        let created = self.keys.create_collection(app_id, DEFAULT_COLLECTION_NAME, Utc::now()).await?;
        tracing::info!(app_id, collection_id = created.id, "default collection created");
        // Keys from before collections now read as this collection.
        self.app_cache.forget_app(app_id);
        // Two first uses at once may each have created one: the first by id is the default.
        Ok(self.keys.list_collections(app_id).await?.first().map_or(created.id, |c| c.id))
    }

    /// # Errors
    /// Unknown app, invalid name.
    pub async fn create_collection(
        &self,
        app_id: &str,
        req: CreateCollection,
    ) -> Result<CollectionView, KeyAdminError> {
        check_collection_name(&req.name)?;
        self.require_app(app_id).await?;
        let created = self.keys.create_collection(app_id, req.name.trim(), Utc::now()).await?;
        tracing::info!(app_id, collection_id = created.id, "collection created");
        // The app's first collection is the default of its keys from before collections.
        self.app_cache.forget_app(app_id);
        Ok(CollectionView::from(&created))
    }

    /// # Errors
    /// Unknown app.
    pub async fn list_collections(&self, app_id: &str) -> Result<CollectionList, KeyAdminError> {
        self.require_app(app_id).await?;
        let collections = self.keys.list_collections(app_id).await?;
        Ok(CollectionList { collections: collections.iter().map(CollectionView::from).collect() })
    }

    /// # Errors
    /// Unknown collection, page size out of range.
    pub async fn collection_keys(
        &self,
        id: CollectionId,
        size: Option<usize>,
        offset: Option<usize>,
    ) -> Result<CollectionKeys, KeyAdminError> {
        let size = size.unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(FieldError::new("size", format!("must be 1 to {MAX_PAGE_SIZE}")).into());
        }
        self.require_collection(id).await?;
        let (total_count, keys) = self.keys.list_collection_keys(id, offset.unwrap_or(0), size).await?;
        Ok(CollectionKeys {
            total_count,
            keys: keys
                .into_iter()
                .map(|k| CollectionKey { key: k.key, registrations: k.registrations, blocked: k.blocked })
                .collect(),
        })
    }

    /// # Errors
    /// Unknown collection.
    pub async fn set_collection_blocked(
        &self,
        id: CollectionId,
        blocked: bool,
    ) -> Result<CollectionView, KeyAdminError> {
        let updated = self.keys.set_collection_blocked(id, blocked).await.map_err(|e| match e {
            StoreError::NotFound(_) => KeyAdminError::NotFound(format!("collection {id}")),
            other => other.into(),
        })?;
        // At once in this process; within the app cache's TTL in others.
        self.app_cache.forget_app(&updated.app_id);
        tracing::info!(collection_id = id, blocked, "collection block state changed");
        Ok(CollectionView::from(&updated))
    }

    async fn require_collection(&self, id: CollectionId) -> Result<Collection, KeyAdminError> {
        self.keys.get_collection(id).await?.ok_or_else(|| KeyAdminError::NotFound(format!("collection {id}")))
    }

    /// The collection `k` belongs to, for a record from before collections too.
    async fn view(&self, k: &LicenseKey) -> Result<KeyView, KeyAdminError> {
        let collection_id = match k.collection_id {
            Some(id) => id,
            None => self.keys.app_collections(&k.app_id).await?.collection_of(k),
        };
        Ok(KeyView::new(k, collection_id))
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
        self.require_app(app_id).await?;
        let collection_id = self.collection_for(app_id, req.collection_id).await?;
        let now = Utc::now();
        // ~98 random bits per key: a collision is astronomically unlikely, but the store's
        // all-or-nothing create still guards it; regenerate the few that clash.
        let mut keys: Vec<LicenseKey> =
            (0..req.count).map(|_| LicenseKey::new(license_key(), app_id, collection_id, now)).collect();
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
        for (i, key) in req.keys.iter().enumerate() {
            check_import_key(i, key)?;
        }
        self.require_app(app_id).await?;
        let collection_id = self.collection_for(app_id, req.collection_id).await?;
        let now = Utc::now();
        let mut seen = HashSet::new();
        let mut duplicates = Vec::new();
        let mut fresh = Vec::new();
        for key in req.keys {
            if seen.insert(key.clone()) {
                fresh.push(LicenseKey::new(key, app_id, collection_id, now));
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
        self.view(&found).await
    }

    /// # Errors
    /// Unknown key.
    pub async fn set_blocked(&self, key: &str, blocked: bool) -> Result<KeyView, KeyAdminError> {
        let updated = self.keys.set_key_blocked(key, blocked).await?;
        tracing::info!(key = %crate::ids::key_fingerprint(key), blocked, "key block state changed");
        self.view(&updated).await
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
