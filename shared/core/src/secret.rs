//! Secrets that cannot leak through `Debug` and are only ever compared in constant time.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

/// A secret string (webhook signing secret, app secret, key secret, admin token).
///
/// `Debug` and `Display` print `***`; equality is constant-time. Use [`Secret::expose`] only at
/// the point where the raw value must leave the process (a response that returns it, a store).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison against an untrusted candidate.
    #[must_use]
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }

    /// A random secret of `len` characters from an alphanumeric alphabet, from the OS CSPRNG.
    #[must_use]
    pub fn random_alphanumeric(len: usize) -> Self {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        // ThreadRng is a CSPRNG (ChaCha12) reseeded from the OS.
        let value: String = rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect();
        Secret(value)
    }
}

/// Constant-time equality for byte strings (length is not hidden, content is).
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The current value of a secret that may be rotated while the process runs (read from Secrets
/// Manager and refreshed in the background on Lambda, fixed in `patchbay dev` and tests).
///
/// Reading it is a lock-free-in-practice borrow of a `watch` channel: no I/O, so request paths
/// may read it on every call and pick up a rotation as soon as the refresher publishes it.
#[derive(Clone)]
pub struct LiveSecret(watch::Receiver<Secret>);

/// The one writer of a [`LiveSecret`]: whoever refreshes it.
pub struct SecretPublisher(watch::Sender<Secret>);

impl LiveSecret {
    /// A secret that never changes.
    #[must_use]
    pub fn fixed(secret: Secret) -> Self {
        // The sender goes away at once; the receiver keeps the value for good.
        LiveSecret(watch::channel(secret).1)
    }

    /// A secret that `SecretPublisher` replaces, starting with `initial`.
    #[must_use]
    pub fn publisher(initial: Secret) -> (SecretPublisher, LiveSecret) {
        let (sender, receiver) = watch::channel(initial);
        (SecretPublisher(sender), LiveSecret(receiver))
    }

    /// Runs `f` on the current value (without cloning it).
    pub fn with<R>(&self, f: impl FnOnce(&Secret) -> R) -> R {
        f(&self.0.borrow())
    }

    /// A copy of the current value.
    #[must_use]
    pub fn current(&self) -> Secret {
        self.with(Secret::clone)
    }

    /// Constant-time comparison of the current value against an untrusted candidate.
    #[must_use]
    pub fn matches(&self, candidate: &str) -> bool {
        self.with(|secret| secret.matches(candidate))
    }
}

impl From<Secret> for LiveSecret {
    fn from(secret: Secret) -> Self {
        LiveSecret::fixed(secret)
    }
}

impl fmt::Debug for LiveSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LiveSecret(***)")
    }
}

impl SecretPublisher {
    /// Makes `secret` the current value for every holder.
    pub fn publish(&self, secret: Secret) {
        self.0.send_if_modified(|current| {
            let changed = !current.matches(secret.expose());
            *current = secret;
            changed
        });
    }

    /// Resolves once every [`LiveSecret`] holder is gone: nobody reads the value any more.
    pub async fn unused(&self) {
        self.0.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert!(!format!("{s:?}{s}").contains("hunter2"));
    }

    #[test]
    fn compares_by_value() {
        assert!(Secret::new("abc").matches("abc"));
        assert!(!Secret::new("abc").matches("abd"));
        assert!(!Secret::new("abc").matches("ab"));
        assert_eq!(Secret::new("x"), Secret::new("x"));
    }

    #[test]
    fn live_secret_follows_its_publisher_and_redacts() {
        let (publisher, live) = LiveSecret::publisher(Secret::new("first-value"));
        let held = live.clone();
        assert!(held.matches("first-value"));
        publisher.publish(Secret::new("second-value"));
        assert!(held.matches("second-value") && !held.matches("first-value"));
        assert_eq!(held.current(), Secret::new("second-value"));
        assert_eq!(format!("{held:?}"), "LiveSecret(***)");
        assert!(LiveSecret::fixed(Secret::new("x")).matches("x"));
    }

    #[test]
    fn random_is_long_and_distinct() {
        let a = Secret::random_alphanumeric(40);
        let b = Secret::random_alphanumeric(40);
        assert_eq!(a.expose().len(), 40);
        assert_ne!(a, b);
    }
}
