//! Secrets that cannot leak through `Debug` and are only ever compared in constant time.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

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
    fn random_is_long_and_distinct() {
        let a = Secret::random_alphanumeric(40);
        let b = Secret::random_alphanumeric(40);
        assert_eq!(a.expose().len(), 40);
        assert_ne!(a, b);
    }
}
