//! A per-app API token: lets a studio manage its own app's webhooks, deliveries and keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{random_id, secret_lookup_hash};
use crate::secret::Secret;

/// What every token value starts with (so the auth middleware tells it from the admin token,
/// and secret scanners can spot one).
pub const TOKEN_PREFIX: &str = "pbt_";
/// Random characters after the prefix: 43 alphanumerics, ~256 bits.
const TOKEN_RANDOM_CHARS: usize = 43;

/// A stored app token. The token value itself is never stored: only `hash`, its SHA-256 (hex).
/// A hash without a salt is enough because the value is high-entropy random, not a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppToken {
    /// `tok_…`: names the token in listings and `DELETE /v1/tokens/{id}`.
    pub id: String,
    pub app_id: String,
    pub name: String,
    /// SHA-256 hex of the token value (`ids::secret_lookup_hash`).
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most about once a minute (see `service::tokens::TOUCH_INTERVAL`).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl AppToken {
    /// A new token for `app_id`, and its value (to show once).
    #[must_use]
    pub fn generate(app_id: &str, name: &str, now: DateTime<Utc>) -> (AppToken, Secret) {
        let random = Secret::random_alphanumeric(TOKEN_RANDOM_CHARS);
        let value = Secret::new(format!("{TOKEN_PREFIX}{}", random.expose()));
        let token = AppToken {
            id: random_id("tok"),
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            hash: secret_lookup_hash(value.expose()),
            created_at: now,
            last_used_at: None,
        };
        (token, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_random_and_stored_only_hashed() {
        let (a, value_a) = AppToken::generate("app_1", "ci", Utc::now());
        let (b, value_b) = AppToken::generate("app_1", "ci", Utc::now());
        assert!(value_a.expose().starts_with("pbt_") && value_a.expose().len() == 47);
        assert!(a.id.starts_with("tok_"));
        assert_ne!(value_a, value_b);
        assert_ne!(a.id, b.id);
        assert_eq!(a.hash, secret_lookup_hash(value_a.expose()));
        let stored = serde_json::to_string(&a).unwrap();
        assert!(!stored.contains(value_a.expose()), "{stored}");
        assert!(!format!("{value_a:?}").contains(value_a.expose()));
    }
}
