//! License key administration: generate, import, show, block, unblock; collections.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::license_key;
use crate::model::App;
use crate::model::{Collection, CollectionId, LicenseKey};
use crate::ports::{KeyStore, Store, StoreError};
use crate::service::app_secrets::AppSecretCache;
use crate::service::blocked_keys::BlockedKeys;
use crate::service::keys::KeyResponse;
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
    pub keys: Vec<ImportRecord>,
    /// For records that name none; the app's default collection when absent.
    #[serde(default)]
    pub collection_id: Option<CollectionId>,
}

/// One key to import: a key string, or a full record from another key service (PatchKit's
/// fields), so the secrets baked into shipped games carry over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRecord {
    pub key: String,
    pub key_secret: Option<String>,
    pub collection_id: Option<CollectionId>,
    pub registrations: Option<u64>,
    pub blocked: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordFields {
    key: String,
    #[serde(default)]
    key_secret: Option<String>,
    #[serde(default)]
    collection_id: Option<CollectionId>,
    #[serde(default)]
    registrations: Option<u64>,
    #[serde(default)]
    blocked: Option<bool>,
}

impl<'de> Deserialize<'de> for ImportRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Record;
        impl<'de> serde::de::Visitor<'de> for Record {
            type Value = ImportRecord;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key string, or an object with \"key\" and optionally \"key_secret\", \"collection_id\", \"registrations\", \"blocked\"")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<ImportRecord, E> {
                Ok(ImportRecord { key: key.to_owned(), ..ImportRecord::default() })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ImportRecord, A::Error> {
                let f = RecordFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ImportRecord {
                    key: f.key,
                    key_secret: f.key_secret,
                    collection_id: f.collection_id,
                    registrations: f.registrations,
                    blocked: f.blocked,
                })
            }
        }
        deserializer.deserialize_any(Record)
    }
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
    /// Written now.
    pub imported: usize,
    /// Already stored as given (a re-run): left as they are, live registrations and blocks
    /// included.
    pub unchanged: usize,
    /// Given more than once in this request, the same way each time: imported once.
    pub duplicates: Vec<String>,
}

/// A record that disagrees with what is stored (or with itself, given twice): the whole
/// batch is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportConflict {
    pub key: String,
    pub reason: &'static str,
}

/// How many conflicting keys an error message lists.
const CONFLICTS_SHOWN: usize = 20;

fn conflicts_message(conflicts: &[ImportConflict]) -> String {
    let shown: Vec<String> =
        conflicts.iter().take(CONFLICTS_SHOWN).map(|c| format!("{} ({})", c.key, c.reason)).collect();
    let more = conflicts.len().saturating_sub(CONFLICTS_SHOWN);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!(
        "nothing imported: {} key(s) conflict with stored keys: {}{more}",
        conflicts.len(),
        shown.join(", ")
    )
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
    /// Set when the service blocked the key itself (`auto-blocked: N registrations in the
    /// last hour`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
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
    #[error("{}", conflicts_message(.0))]
    ImportConflicts(Vec<ImportConflict>),
    /// PatchKit's routes name the app by its secret: no app has this one.
    #[error("app secret not known")]
    UnknownAppSecret,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct KeyAdmin {
    keys: Arc<dyn KeyStore>,
    apps: Arc<dyn Store>,
    /// The key check's cache in this process: a collection blocked here takes effect at once.
    app_cache: Arc<AppSecretCache>,
    /// The key check's blocked-key cache in this process: an unblock here takes effect at once.
    blocked: Arc<BlockedKeys>,
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

/// A key secret from another system: what survives a query string unchanged.
fn check_import_secret(index: usize, secret: &str) -> Result<(), FieldError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if secret.is_empty() || secret.len() > MAX_KEY_LEN || !secret.chars().all(ok_char) {
        return Err(FieldError::new(
            format!("keys[{index}].key_secret"),
            format!("must be 1 to {MAX_KEY_LEN} of A-Z a-z 0-9 - _ ."),
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
    pub fn new(
        keys: Arc<dyn KeyStore>,
        apps: Arc<dyn Store>,
        app_cache: Arc<AppSecretCache>,
        blocked: Arc<BlockedKeys>,
    ) -> Self {
        KeyAdmin { keys, apps, app_cache, blocked }
    }

    /// What the key check remembers as blocked is checked against the store again.
    fn forget_blocked(&self, key: &str, blocked: bool) {
        if !blocked {
            self.blocked.forget(key);
        }
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
        // At once in this process; within the caches' TTL in others. Which keys the collection
        // holds is the store's, so an unblock forgets every remembered block.
        self.app_cache.forget_app(&updated.app_id);
        if !blocked {
            self.blocked.clear();
        }
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

    /// All or nothing per call, and re-runnable: every record is validated and compared with
    /// what is stored before anything is written. A record already stored as given is
    /// unchanged; one that disagrees (another app's key, another `key_secret` or
    /// `collection_id` than given) refuses the whole call, naming each such key.
    ///
    /// # Errors
    /// Unknown app or collection, the first invalid record named, or the conflicts.
    pub async fn import(&self, app_id: &str, req: ImportKeys) -> Result<ImportResult, KeyAdminError> {
        if req.keys.is_empty() || req.keys.len() > MAX_KEYS_PER_CALL {
            return Err(FieldError::new("keys", format!("must hold 1 to {MAX_KEYS_PER_CALL} keys")).into());
        }
        for (i, record) in req.keys.iter().enumerate() {
            check_import_key(i, &record.key)?;
            if let Some(secret) = &record.key_secret {
                check_import_secret(i, secret)?;
            }
        }
        self.require_app(app_id).await?;
        // Every collection named must be the app's; records naming none go to `fallback`.
        let mut named: HashSet<CollectionId> = req.keys.iter().filter_map(|r| r.collection_id).collect();
        named.extend(req.collection_id);
        for id in &named {
            self.collection_for(app_id, Some(*id)).await?;
        }
        let needs_default = req.collection_id.is_none() && req.keys.iter().any(|r| r.collection_id.is_none());
        let fallback = match req.collection_id {
            Some(id) => Some(id),
            None if needs_default => Some(self.collection_for(app_id, None).await?),
            None => None,
        };

        // One record per key; a key given twice must be given the same way.
        let mut by_key: HashMap<&str, &ImportRecord> = HashMap::new();
        let mut order: Vec<&ImportRecord> = Vec::new();
        let mut duplicates = Vec::new();
        let mut conflicts = Vec::new();
        for record in &req.keys {
            match by_key.get(record.key.as_str()) {
                None => {
                    by_key.insert(&record.key, record);
                    order.push(record);
                }
                Some(first) if **first == *record => duplicates.push(record.key.clone()),
                Some(_) => conflicts
                    .push(ImportConflict { key: record.key.clone(), reason: "given twice, differently" }),
            }
        }
        let names: Vec<&str> = order.iter().map(|r| r.key.as_str()).collect();
        let mut stored: HashMap<String, LicenseKey> = HashMap::new();
        for chunk in names.chunks(1000) {
            stored.extend(self.keys.get_keys(chunk).await?.into_iter().map(|k| (k.key.clone(), k)));
        }
        let default = match fallback {
            Some(id) => Some(id),
            None if stored.values().any(|k| k.collection_id.is_none()) => {
                self.keys.app_collections(app_id).await?.default_collection
            }
            None => None,
        };
        let now = Utc::now();
        let mut fresh = Vec::new();
        let mut unchanged = 0;
        for record in order {
            // Explicitly given, on the record or for the whole call.
            let given_collection = record.collection_id.or(req.collection_id);
            if let Some(k) = stored.get(&record.key) {
                let reason = if k.app_id != app_id {
                    Some("belongs to another app")
                } else if record.key_secret.as_deref().is_some_and(|s| !k.key_secret.matches(s)) {
                    Some("stored with another key_secret")
                } else if given_collection.is_some_and(|c| Some(c) != k.collection_id.or(default)) {
                    Some("stored in another collection")
                } else {
                    None
                };
                match reason {
                    Some(reason) => conflicts.push(ImportConflict { key: record.key.clone(), reason }),
                    None => unchanged += 1,
                }
            } else {
                let collection = given_collection.or(fallback).unwrap_or_default();
                let mut k = LicenseKey::new(record.key.clone(), app_id, collection, now);
                if let Some(secret) = &record.key_secret {
                    k.key_secret = crate::secret::Secret::new(secret.clone());
                }
                k.registrations = record.registrations.unwrap_or(0);
                k.blocked = record.blocked.unwrap_or(false);
                fresh.push(k);
            }
        }
        if !conflicts.is_empty() {
            tracing::info!(app_id, conflicts = conflicts.len(), "key import refused: conflicts");
            return Err(KeyAdminError::ImportConflicts(conflicts));
        }
        if !fresh.is_empty() && !self.keys.create_keys(&fresh).await?.is_empty() {
            // Created by someone else since the read above; nothing of ours was written.
            return Err(KeyAdminError::Conflict("keys were imported concurrently"));
        }
        tracing::info!(
            app_id,
            imported = fresh.len(),
            unchanged,
            duplicates = duplicates.len(),
            "keys imported"
        );
        Ok(ImportResult { imported: fresh.len(), unchanged, duplicates })
    }

    /// The app holding `app_secret` (PatchKit's administration names apps so).
    async fn app_by_secret(&self, app_secret: &str) -> Result<App, KeyAdminError> {
        self.apps
            .app_for_secret(app_secret)
            .await?
            .filter(|a| a.app_secret.matches(app_secret))
            .ok_or(KeyAdminError::UnknownAppSecret)
    }

    /// A key as PatchKit's administration shows it (the key check's 200 body).
    async fn patchkit_view(&self, k: &LicenseKey, app: Option<&App>) -> Result<KeyResponse, KeyAdminError> {
        let fetched;
        let app = if let Some(app) = app {
            app
        } else {
            fetched =
                self.apps.get_app(&k.app_id).await?.ok_or_else(|| KeyAdminError::NotFound("key".into()))?;
            &fetched
        };
        Ok(KeyResponse {
            key: k.key.clone(),
            app_secret: app.app_secret.expose().to_owned(),
            key_secret: k.key_secret.expose().to_owned(),
            collection_id: self.view(k).await?.collection_id,
            registrations: k.registrations,
            blocked: k.blocked,
        })
    }

    /// PatchKit's `POST /v2/keys`: generated before this returns (the job is finished).
    ///
    /// # Errors
    /// Unknown app secret or collection, count out of range.
    pub async fn patchkit_generate(
        &self,
        app_secret: &str,
        count: usize,
        collection_id: CollectionId,
    ) -> Result<usize, KeyAdminError> {
        let app = self.app_by_secret(app_secret).await?;
        let generated =
            self.generate(&app.id, GenerateKeys { count, collection_id: Some(collection_id) }).await?;
        Ok(generated.keys.len())
    }

    /// PatchKit's `GET /v2/collections/{id}/keys`: (total, page).
    ///
    /// # Errors
    /// Unknown collection, page size out of range.
    pub async fn patchkit_collection_keys(
        &self,
        id: CollectionId,
        size: usize,
        offset: usize,
    ) -> Result<(usize, Vec<KeyResponse>), KeyAdminError> {
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(FieldError::new("size", format!("must be 1 to {MAX_PAGE_SIZE}")).into());
        }
        let collection = self.require_collection(id).await?;
        let app = self
            .apps
            .get_app(&collection.app_id)
            .await?
            .ok_or_else(|| KeyAdminError::NotFound(format!("collection {id}")))?;
        let (total, keys) = self.keys.list_collection_keys(id, offset, size).await?;
        let mut out = Vec::with_capacity(keys.len());
        for k in &keys {
            out.push(self.patchkit_view(k, Some(&app)).await?);
        }
        Ok((total, out))
    }

    /// PatchKit's `POST /v2/keys/{key}/block|unblock`.
    ///
    /// # Errors
    /// Unknown key.
    pub async fn patchkit_set_blocked(&self, key: &str, blocked: bool) -> Result<KeyResponse, KeyAdminError> {
        let updated = self.keys.set_key_blocked(key, blocked).await.map_err(|e| match e {
            StoreError::NotFound(_) => KeyAdminError::NotFound("key".into()),
            other => other.into(),
        })?;
        self.forget_blocked(key, blocked);
        self.patchkit_view(&updated, None).await
    }

    /// PatchKit's `DELETE /v2/apps/{app_secret}`: every key of the app; how many.
    ///
    /// # Errors
    /// Unknown app secret.
    pub async fn patchkit_delete_app_keys(&self, app_secret: &str) -> Result<usize, KeyAdminError> {
        let app = self.app_by_secret(app_secret).await?;
        let deleted = self.keys.delete_app_keys(&app.id).await?;
        tracing::info!(app_id = %app.id, deleted, "every key of the app deleted");
        Ok(deleted)
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
        self.forget_blocked(key, blocked);
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
