//! The key check's per-instance negative cache: keys the store said are blocked are answered
//! 410 from memory for a while, without a store call. A leaked key checked thousands of times a
//! second then costs its instance nothing, and cannot throttle the key's store item into 503s
//! (which clients that let players in on 5xx would take as valid).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a blocked verdict is answered from memory. An unblock made elsewhere reaches an
/// instance within this; one made through this instance's admin API at once.
pub const BLOCKED_TTL: Duration = Duration::from_secs(30);
/// The most keys remembered per instance (about 100 bytes each).
pub const MAX_BLOCKED: usize = 10_000;

type Entries = HashMap<String, (String, Instant)>;

/// key → (its app, until when it is known blocked).
#[derive(Debug, Default)]
pub struct BlockedKeys {
    entries: Mutex<Entries>,
}

impl BlockedKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `key` of `app_id` is known blocked right now (another app's check of the same
    /// key is not: it goes to the store, which answers it like an unknown key).
    pub fn contains(&self, app_id: &str, key: &str) -> bool {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((app, until)) if *until > Instant::now() => app == app_id,
            Some(_) => {
                entries.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remember that `key` of `app_id` is blocked, for [`BLOCKED_TTL`].
    pub fn insert(&self, app_id: &str, key: &str) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_BLOCKED {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= MAX_BLOCKED {
                // Still full of live entries: forget the soonest-expiring tenth.
                let mut deadlines: Vec<Instant> = entries.values().map(|(_, until)| *until).collect();
                deadlines.sort_unstable();
                let cut = deadlines[MAX_BLOCKED / 10];
                entries.retain(|_, (_, until)| *until > cut);
            }
        }
        entries.insert(key.to_owned(), (app_id.to_owned(), now + BLOCKED_TTL));
    }

    /// Forget `key` (it was unblocked).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forget every key (a whole collection was unblocked: which keys it holds is the store's).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_app_and_forgets() {
        let cache = BlockedKeys::default();
        cache.insert("app_1", "K");
        assert!(cache.contains("app_1", "K"));
        assert!(!cache.contains("app_2", "K"));
        cache.forget("K");
        assert!(!cache.contains("app_1", "K"));
    }

    #[test]
    fn stays_bounded() {
        let cache = BlockedKeys::default();
        for i in 0..MAX_BLOCKED + 500 {
            cache.insert("app", &i.to_string());
        }
        assert!(cache.len() <= MAX_BLOCKED, "{}", cache.len());
        assert!(cache.contains("app", &(MAX_BLOCKED + 499).to_string()));
    }
}
