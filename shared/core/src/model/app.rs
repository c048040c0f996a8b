//! An application registered with Patchbay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// An application registered with Patchbay (owner of webhooks and license keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub app_secret: Secret,
    pub created_at: DateTime<Utc>,
}

impl App {
    /// A new app with a freshly generated app secret.
    #[must_use]
    pub fn new(id: String, name: String, display_name: String, now: DateTime<Utc>) -> Self {
        App { id, name, display_name, app_secret: App::generate_secret(), created_at: now }
    }

    /// What games embed: 40 letters and digits.
    #[must_use]
    pub fn generate_secret() -> Secret {
        Secret::random_alphanumeric(40)
    }
}
