//! The secrets a webhook signs with, and how they overlap while they rotate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The secrets a webhook signs with. A replaced secret keeps signing next to the current one
/// until its own overlap ends, so receivers can switch without a gap however often it rotates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredSigningSecrets")]
pub struct SigningSecrets {
    pub current: Secret,
    /// Replaced secrets still in their overlap, newest first; at most [`MAX_RETIRED_SECRETS`].
    pub retired: Vec<RetiredSecret>,
}

/// How many replaced secrets keep signing at once: each adds a signature to every request.
pub const MAX_RETIRED_SECRETS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: Secret,
    /// It stops signing at this instant.
    pub until: DateTime<Utc>,
}

/// The stored form, which also reads records written before several secrets could overlap
/// (one `previous` with `previous_expires_at`).
#[derive(Deserialize)]
struct StoredSigningSecrets {
    current: Secret,
    #[serde(default)]
    retired: Vec<RetiredSecret>,
    #[serde(default)]
    previous: Option<Secret>,
    #[serde(default)]
    previous_expires_at: Option<DateTime<Utc>>,
}

impl From<StoredSigningSecrets> for SigningSecrets {
    fn from(stored: StoredSigningSecrets) -> Self {
        let mut retired = stored.retired;
        if let (Some(secret), Some(until)) = (stored.previous, stored.previous_expires_at) {
            retired.push(RetiredSecret { secret, until });
        }
        SigningSecrets { current: stored.current, retired }
    }
}

impl SigningSecrets {
    #[must_use]
    pub fn new(current: Secret) -> Self {
        SigningSecrets { current, retired: Vec::new() }
    }

    /// Make `next` the current secret; the replaced one keeps signing for `overlap`. Secrets
    /// whose overlap has ended are forgotten, and only the newest [`MAX_RETIRED_SECRETS`] kept.
    pub fn rotate(&mut self, next: Secret, now: DateTime<Utc>, overlap: chrono::TimeDelta) {
        let replaced = std::mem::replace(&mut self.current, next);
        self.retired.insert(0, RetiredSecret { secret: replaced, until: now + overlap });
        self.retired.retain(|r| r.until > now);
        self.retired.truncate(MAX_RETIRED_SECRETS);
    }

    /// The secrets that sign a request sent at `now`: the current one, then every replaced one
    /// still in its overlap.
    #[must_use]
    pub fn active(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        std::iter::once(&self.current)
            .chain(self.retired.iter().filter(|r| now < r.until).map(|r| &r.secret))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn secret(n: u8) -> Secret {
        Secret::new(format!("whsec_{n}"))
    }

    #[test]
    fn each_replaced_secret_signs_until_its_own_overlap_ends() {
        let start = Utc::now();
        let day = TimeDelta::hours(24);
        let mut secrets = SigningSecrets::new(secret(0));
        // Three rotations within a day: the original still signs until 24 h after it was replaced.
        for (n, hours) in [(1, 0), (2, 1), (3, 2)] {
            secrets.rotate(secret(n), start + TimeDelta::hours(hours), day);
        }
        let active = |at| secrets.active(at).into_iter().map(|s| s.expose().to_owned()).collect::<Vec<_>>();
        assert_eq!(active(start + TimeDelta::hours(3)), ["whsec_3", "whsec_2", "whsec_1", "whsec_0"]);
        assert_eq!(active(start + day + TimeDelta::minutes(30)), ["whsec_3", "whsec_2", "whsec_1"]);
        assert_eq!(active(start + day + TimeDelta::hours(2)), ["whsec_3"]);
    }

    #[test]
    fn at_most_five_replaced_secrets_are_kept() {
        let now = Utc::now();
        let mut secrets = SigningSecrets::new(secret(0));
        for n in 1..=8 {
            secrets.rotate(secret(n), now, TimeDelta::hours(24));
        }
        assert_eq!(secrets.retired.len(), MAX_RETIRED_SECRETS);
        assert_eq!(secrets.active(now).len(), 1 + MAX_RETIRED_SECRETS);
        assert_eq!(secrets.retired[0].secret.expose(), "whsec_7");
    }

    #[test]
    fn records_with_one_previous_secret_still_read() {
        let until = Utc::now() + TimeDelta::hours(1);
        let json = serde_json::json!({"current": "whsec_new", "previous": "whsec_old", "previous_expires_at": until});
        let secrets: SigningSecrets = serde_json::from_value(json).unwrap();
        assert_eq!(secrets.retired, vec![RetiredSecret { secret: Secret::new("whsec_old"), until }]);
        let round_trip: SigningSecrets =
            serde_json::from_value(serde_json::to_value(&secrets).unwrap()).unwrap();
        assert_eq!(round_trip, secrets);
    }
}
