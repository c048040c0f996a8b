//! A license key for Secure Running, and the collections keys are administered in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A collection's id: an integer unique per deployment (PatchKit's clients read it as a
/// 32-bit `int`).
pub type CollectionId = i64;

/// A license key for Secure Running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseKey {
    pub key: String,
    pub app_id: String,
    pub key_secret: Secret,
    /// `None` only on records from before collections: they belong to the app's default
    /// collection ([`AppCollections::collection_of`]).
    pub collection_id: Option<CollectionId>,
    pub registrations: u64,
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
    /// Why the key was blocked when the service blocked it itself (`auto-blocked: N
    /// registrations in the last hour`); `None` for a block by hand or an unblocked key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
}

/// The window `PATCHBAY_KEY_REGISTRATIONS_PER_HOUR` counts in: the clock hour (UTC) of `at`.
#[must_use]
pub fn registration_hour(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// The reason an automatic block records.
#[must_use]
pub fn auto_block_reason(registrations: u64) -> String {
    format!("auto-blocked: {registrations} registrations in the last hour")
}

impl LicenseKey {
    /// A new, unused, unblocked key of `app_id` with a fresh key secret.
    #[must_use]
    pub fn new(key: String, app_id: &str, collection_id: CollectionId, now: DateTime<Utc>) -> Self {
        LicenseKey {
            key,
            app_id: app_id.to_owned(),
            key_secret: Secret::random_alphanumeric(32),
            collection_id: Some(collection_id),
            registrations: 0,
            blocked: false,
            created_at: now,
            blocked_reason: None,
        }
    }
}

/// A named group of an app's keys, blocked and listed as one (PatchKit's unit of key
/// administration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub id: CollectionId,
    pub app_id: String,
    pub name: String,
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
}

/// What the key check needs to know of an app's collections; it travels with the cached app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppCollections {
    /// The app's first collection (lowest id), if it has any.
    pub default_collection: Option<CollectionId>,
    pub blocked: Vec<CollectionId>,
}

impl AppCollections {
    #[must_use]
    pub fn of(collections: &[Collection]) -> Self {
        AppCollections {
            default_collection: collections.iter().map(|c| c.id).min(),
            blocked: collections.iter().filter(|c| c.blocked).map(|c| c.id).collect(),
        }
    }

    /// The collection a key belongs to: its own, else (a record from before collections) the
    /// app's default, else 0 (an app that never had a collection).
    #[must_use]
    pub fn collection_of(&self, key: &LicenseKey) -> CollectionId {
        key.collection_id.or(self.default_collection).unwrap_or(0)
    }

    #[must_use]
    pub fn is_blocked(&self, collection: CollectionId) -> bool {
        self.blocked.contains(&collection)
    }
}
