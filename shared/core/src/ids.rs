//! Identifiers: random ones for things studios create, derived ones where a retry must land on
//! the same record.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Crockford-style alphabet without 0/O/1/I/L/U, so ids and keys read back unambiguously.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `prefix_` followed by 20 random characters (~98 bits) from the CSPRNG.
#[must_use]
pub fn random_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let body: String = (0..20).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    format!("{prefix}_{}", body.to_ascii_lowercase())
}

/// The delivery of `event_id` to `webhook_id`: the same inputs always give the same id, so a
/// retried ingest finds the deliveries it already wrote instead of making new ones.
#[must_use]
pub fn delivery_id(event_id: &str, webhook_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(event_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(webhook_id.as_bytes());
    let digest = hasher.finalize();
    format!("dlv_{}", hex::encode(&digest[..16]))
}

/// The correlation id of everything an event causes (its deliveries' queue messages and every
/// attempt's log lines): derived from the event id, so a retried ingest, a redelivery and a
/// replay carry the same one.
#[must_use]
pub fn correlation_id(event_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"correlation\0");
    hasher.update(event_id.as_bytes());
    format!("cor_{}", hex::encode(&hasher.finalize()[..8]))
}

/// A short, non-reversible tag for a license key, for logs (the key itself never is logged).
#[must_use]
pub fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..4])
}

/// SHA-256 of a secret, hex: lets a store index apps by secret without making the secret a
/// key attribute. Lookups by this hash leak nothing an attacker could use to forge the secret.
#[must_use]
pub fn secret_lookup_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A license key `XXXXX-XXXXX-XXXXX-XXXXX` (20 symbols of 30: ~98 bits) from the CSPRNG.
#[must_use]
pub fn license_key() -> String {
    let mut rng = rand::rng();
    let mut key = String::with_capacity(23);
    for group in 0..4 {
        if group > 0 {
            key.push('-');
        }
        for _ in 0..5 {
            key.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_deterministic_and_distinct() {
        assert_eq!(delivery_id("evt", "wh_a"), delivery_id("evt", "wh_a"));
        assert_ne!(delivery_id("evt", "wh_a"), delivery_id("evt", "wh_b"));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(delivery_id("ab", "c"), delivery_id("a", "bc"));
    }

    #[test]
    fn license_keys_have_the_documented_shape() {
        for _ in 0..200 {
            let key = license_key();
            assert_eq!(key.len(), 23);
            let groups: Vec<&str> = key.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(groups.iter().all(|g| g.len() == 5));
            assert!(!key.contains(['0', 'O', '1', 'I']));
        }
    }

    #[test]
    fn random_ids_carry_prefix() {
        let id = random_id("wh");
        assert!(id.starts_with("wh_"));
        assert_eq!(id.len(), 23);
        assert_ne!(random_id("wh"), id);
    }
}
