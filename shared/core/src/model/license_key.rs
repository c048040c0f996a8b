//! A license key for Secure Running.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A license key for Secure Running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseKey {
    pub key: String,
    pub app_id: String,
    pub key_secret: Secret,
    pub collection_id: Option<String>,
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
    pub fn new(key: String, app_id: &str, collection_id: Option<String>, now: DateTime<Utc>) -> Self {
        LicenseKey {
            key,
            app_id: app_id.to_owned(),
            key_secret: Secret::random_alphanumeric(32),
            collection_id,
            registrations: 0,
            blocked: false,
            created_at: now,
            blocked_reason: None,
        }
    }
}
