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
        }
    }
}
