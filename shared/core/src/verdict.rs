//! Signed key-check verdicts. A plain `200` can be faked by a hosts-file entry or a local proxy;
//! a game that sends `&nonce=…` gets every answer signed with the deployment's Ed25519 key in
//! the `x-patchbay-verdict` header, and checks it against the public key it embeds:
//!
//! `x-patchbay-verdict: t=<unix seconds>,n=<nonce>,s=<base64 signature of "{n}.{t}.{status}.{body}">`
//!
//! `{body}` is the exact response body; the body itself stays PatchKit's.

use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::secret::{LiveSecret, Secret};

/// The response header carrying the signature.
pub const VERDICT_HEADER: &str = "x-patchbay-verdict";
/// The query parameter a game sends its nonce in.
pub const NONCE_PARAM: &str = "nonce";
pub const MIN_NONCE_LEN: usize = 16;
pub const MAX_NONCE_LEN: usize = 64;

/// A nonce the service signs: 16 to 64 characters of `[A-Za-z0-9_-]`. Anything else is ignored
/// (no header), never an error a PatchKit client could trip on.
#[must_use]
pub fn is_valid_nonce(nonce: &str) -> bool {
    (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bytes signed: `{nonce}.{unix}.{status}.{body}`.
#[must_use]
pub fn signed_message(nonce: &str, unix: i64, status: u16, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{nonce}.{unix}.{status}.").into_bytes();
    message.extend_from_slice(body);
    message
}

/// Why a `PATCHBAY_VERDICT_KEY` value is unusable; never quotes the value.
///
/// # Errors
/// Not standard base64 of exactly 32 bytes.
pub fn check_verdict_key(value: &str) -> Result<(), String> {
    seed(value).map(drop)
}

fn seed(value: &str) -> Result<[u8; 32], String> {
    let bytes = BASE64
        .decode(value.trim())
        .map_err(|_| "must be the standard base64 of a 32-byte Ed25519 seed".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must decode to 32 bytes (an Ed25519 seed), not {}", bytes.len()))
}

/// A new random verdict key (base64 of a 32-byte seed from the OS CSPRNG).
#[must_use]
pub fn generate_verdict_key() -> Secret {
    let seed: [u8; 32] = rand::random();
    Secret::new(BASE64.encode(seed))
}

/// Signs verdicts with the current value of `PATCHBAY_VERDICT_KEY`: a rotated key (read again
/// from Secrets Manager) signs from the next answer on. The expanded key is kept between calls
/// and rebuilt only when the value changes.
///
/// Signing is aws-lc's Ed25519 (assembly, already linked for TLS): half the time of the pure
/// Rust implementation (9 µs against 18 µs a signature here), and a signature is most of what a
/// signed verdict costs. Games verify with any Ed25519 implementation (the license client uses
/// `ed25519-dalek`; the tests check that it accepts these signatures).
#[derive(Clone)]
pub struct VerdictSigner {
    key: LiveSecret,
    expanded: Arc<RwLock<Option<Expanded>>>,
}

/// A key value and the key pair expanded from it.
type Expanded = (Secret, Arc<Ed25519KeyPair>);

impl std::fmt::Debug for VerdictSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerdictSigner(***)")
    }
}

impl VerdictSigner {
    #[must_use]
    pub fn new(key: impl Into<LiveSecret>) -> Self {
        VerdictSigner { key: key.into(), expanded: Arc::default() }
    }

    /// The current signing key; `None` if the value is unusable (checked when read, so only a
    /// broken test fixture gets here).
    fn signing_key(&self) -> Option<Arc<Ed25519KeyPair>> {
        self.key.with(|current| {
            if let Ok(guard) = self.expanded.read()
                && let Some((value, key)) = guard.as_ref()
                && value.matches(current.expose())
            {
                return Some(key.clone());
            }
            let key = Arc::new(Ed25519KeyPair::from_seed_unchecked(&seed(current.expose()).ok()?).ok()?);
            if let Ok(mut guard) = self.expanded.write() {
                *guard = Some((current.clone(), key.clone()));
            }
            Some(key)
        })
    }

    /// The public key, base64 (32 bytes), for `GET /v1/verdict-key`.
    #[must_use]
    pub fn public_key(&self) -> Option<String> {
        self.signing_key().map(|k| BASE64.encode(k.public_key().as_ref()))
    }

    /// The `x-patchbay-verdict` value for one answer.
    #[must_use]
    pub fn header(&self, nonce: &str, unix: i64, status: u16, body: &[u8]) -> Option<String> {
        let key = self.signing_key()?;
        let signature = key.sign(&signed_message(nonce, unix, status, body));
        Some(format!("t={unix},n={nonce},s={}", BASE64.encode(signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;

    const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn nonces() {
        assert!(is_valid_nonce("abcdefghijklmnop"));
        assert!(is_valid_nonce(&"A-_9".repeat(16)));
        assert!(!is_valid_nonce("short"));
        assert!(!is_valid_nonce(&"a".repeat(65)));
        assert!(!is_valid_nonce("abcdefghijklmnop="));
        assert!(!is_valid_nonce("abcdefgh ijklmnop"));
    }

    #[test]
    fn keys_are_checked_without_quoting_them() {
        assert!(check_verdict_key(SEED).is_ok());
        assert!(check_verdict_key(generate_verdict_key().expose()).is_ok());
        let err = check_verdict_key("c2hvcnQ=").unwrap_err();
        assert!(err.contains("32 bytes") && !err.contains("c2hvcnQ"), "{err}");
        assert!(check_verdict_key("not base64!").is_err());
    }

    #[test]
    fn header_verifies_with_the_public_key() {
        let signer = VerdictSigner::new(Secret::new(SEED));
        let public = BASE64.decode(signer.public_key().unwrap()).unwrap();
        let public = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let body = br#"{"message":"Key not known"}"#;
        let header = signer.header("abcdefghijklmnop", 1_700_000_000, 404, body).unwrap();
        let (prefix, s) = header.rsplit_once(",s=").unwrap();
        assert_eq!(prefix, "t=1700000000,n=abcdefghijklmnop");
        let signature = Signature::from_slice(&BASE64.decode(s).unwrap()).unwrap();
        let message = b"abcdefghijklmnop.1700000000.404.{\"message\":\"Key not known\"}";
        assert!(public.verify(message, &signature).is_ok());
        assert!(
            public.verify(&signed_message("abcdefghijklmnop", 1_700_000_000, 200, body), &signature).is_err()
        );
    }

    /// Games embed the public key: the same `PATCHBAY_VERDICT_KEY` must give the key it gave when
    /// verdicts were signed with `ed25519-dalek` (RFC 8032 seeds), or shipped games would call
    /// every answer spoofed.
    #[test]
    fn the_public_key_of_a_seed_is_the_rfc_8032_one() {
        let seed: [u8; 32] = BASE64.decode(SEED).unwrap().try_into().unwrap();
        let dalek = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let signer = VerdictSigner::new(Secret::new(SEED));
        assert_eq!(signer.public_key().unwrap(), BASE64.encode(dalek.as_bytes()));
    }

    #[test]
    fn a_rotated_key_signs_from_the_next_answer() {
        let (publisher, live) = LiveSecret::publisher(Secret::new(SEED));
        let signer = VerdictSigner::new(live);
        let before = signer.public_key().unwrap();
        publisher.publish(generate_verdict_key());
        assert_ne!(signer.public_key().unwrap(), before);
    }
}
