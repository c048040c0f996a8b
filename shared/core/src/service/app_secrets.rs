//! Which app holds an app secret, remembered for the key check's hot path. One cache per
//! process: the key check reads it, and management forgets an app in it when it rotates that
//! app's secret, so in a process that serves both (`patchbay dev`) the old secret stops working
//! at once. Elsewhere (on AWS the two are different functions) an entry lives at most
//! [`APP_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::ids::secret_lookup_hash;
use crate::model::{App, AppCollections};

/// App secrets change rarely (rotation); remembering the secret → app lookup keeps the key
/// check to one store call. A secret rotated in another process keeps working this long, and a
/// collection blocked or unblocked in another process takes effect within it.
pub const APP_CACHE_TTL: Duration = Duration::from_secs(30);
/// Past this many entries the cache starts over (junk secrets are never remembered).
const APP_CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub struct AppSecretCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// By `secret_lookup_hash` of the secret: the secret itself is never a map key.
    apps: HashMap<String, (App, AppCollections, Instant)>,
    /// Goes up on every rotation. A lookup that started before one must not remember what the
    /// store told it: that may be the secret just rotated out.
    rotations: u64,
}

/// What the cache knows of one secret.
pub enum Cached {
    /// The app, with its default and blocked collections as they were when it was remembered.
    Hit(App, AppCollections),
    /// Ask the store, then hand its answer to [`AppSecretCache::remember`].
    Miss(Lookup),
}

/// A lookup the cache could not answer, begun at a known rotation count.
pub struct Lookup {
    hash: String,
    rotations: u64,
}

impl AppSecretCache {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, app_secret: &str) -> Cached {
        let hash = secret_lookup_hash(app_secret);
        let entries = self.lock();
        match entries.apps.get(&hash) {
            Some((app, collections, at)) if at.elapsed() < APP_CACHE_TTL => {
                Cached::Hit(app.clone(), collections.clone())
            }
            _ => Cached::Miss(Lookup { hash, rotations: entries.rotations }),
        }
    }

    /// Remember the store's answer to `lookup`, unless a rotation happened meanwhile.
    pub fn remember(&self, lookup: Lookup, app: &App, collections: &AppCollections) {
        let mut entries = self.lock();
        if entries.rotations != lookup.rotations {
            return;
        }
        if entries.apps.len() >= APP_CACHE_MAX {
            entries.apps.clear();
        }
        entries.apps.insert(lookup.hash, (app.clone(), collections.clone(), Instant::now()));
    }

    /// The app's secret was rotated, or its collections changed: stop answering with what was
    /// remembered for it.
    pub fn forget_app(&self, app_id: &str) {
        let mut entries = self.lock();
        entries.rotations += 1;
        entries.apps.retain(|_, (app, _, _)| app.id != app_id);
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn app(id: &str) -> App {
        App::new(id.into(), "n".into(), "d".into(), Utc::now())
    }

    fn miss(cache: &AppSecretCache, secret: &str) -> Lookup {
        match cache.get(secret) {
            Cached::Miss(lookup) => lookup,
            Cached::Hit(app, _) => panic!("unexpected hit for {}", app.id),
        }
    }

    #[test]
    fn remembers_until_the_app_is_forgotten() {
        let cache = AppSecretCache::new();
        let (a, b) = (app("a"), app("b"));
        cache.remember(miss(&cache, a.app_secret.expose()), &a, &AppCollections::default());
        cache.remember(miss(&cache, b.app_secret.expose()), &b, &AppCollections::default());
        assert!(matches!(cache.get(a.app_secret.expose()), Cached::Hit(hit, _) if hit.id == "a"));

        cache.forget_app("a");
        miss(&cache, a.app_secret.expose());
        assert!(matches!(cache.get(b.app_secret.expose()), Cached::Hit(hit, _) if hit.id == "b"));
    }

    #[test]
    fn a_lookup_that_straddles_a_rotation_is_not_remembered() {
        let cache = AppSecretCache::new();
        let a = app("a");
        let lookup = miss(&cache, a.app_secret.expose());
        // The store answered with the old secret's app just before the rotation landed.
        cache.forget_app("a");
        cache.remember(lookup, &a, &AppCollections::default());
        miss(&cache, a.app_secret.expose());
    }
}
