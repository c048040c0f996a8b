//! Signed verdicts: the service signs each key-check answer with its Ed25519 key when the check
//! sends a nonce, in `x-patchbay-verdict: t=<unix>,n=<nonce>,s=<base64 signature>` over the
//! bytes `"{n}.{t}.{status}.{body}"`. A hosts-file entry or a local proxy can fake a `200`, but
//! not that signature.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// The response header carrying the signature.
pub const VERDICT_HEADER: &str = "x-patchbay-verdict";
/// How far the signed timestamp may be from this machine's clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;
/// Length of the nonces the client sends (the service takes 16 to 64 of `[A-Za-z0-9_-]`).
const NONCE_LEN: usize = 32;

/// The service's public verdict key, as `GET /v1/verdict-key` or `patchbay verdict-key` prints
/// it (base64 of 32 bytes). Embed it in the game.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerdictKey(VerifyingKey);

impl fmt::Debug for VerdictKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerdictKey({})", BASE64.encode(self.0.as_bytes()))
    }
}

/// The text given is not a base64 Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("verdict key is not the base64 of a 32-byte Ed25519 public key")]
pub struct InvalidVerdictKey;

impl VerdictKey {
    /// Parses the base64 public key.
    pub fn from_base64(text: &str) -> Result<Self, InvalidVerdictKey> {
        let bytes = BASE64.decode(text.trim()).map_err(|_| InvalidVerdictKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| InvalidVerdictKey)?;
        VerifyingKey::from_bytes(&bytes).map(VerdictKey).map_err(|_| InvalidVerdictKey)
    }

    /// Checks one answer: the header must be present, name `nonce`, carry a timestamp within
    /// [`MAX_CLOCK_SKEW_SECS`] of `now_unix`, and a valid signature over the status and exact
    /// body. Returns why not, for [`Verdict::Spoofed`](crate::Verdict::Spoofed).
    pub fn verify(
        &self,
        header: Option<&str>,
        nonce: &str,
        now_unix: i64,
        status: u16,
        body: &[u8],
    ) -> Result<(), String> {
        let header = header.ok_or_else(|| format!("no {VERDICT_HEADER} header"))?;
        let (t, n, s) = parse_header(header).ok_or_else(|| format!("malformed {VERDICT_HEADER} header"))?;
        if n != nonce {
            return Err("signed for another nonce (a replayed answer)".to_owned());
        }
        let unix: i64 = t.parse().map_err(|_| "malformed timestamp".to_owned())?;
        if (unix - now_unix).abs() > MAX_CLOCK_SKEW_SECS {
            return Err(format!("signed {}s away from this machine's clock", unix - now_unix));
        }
        let signature = BASE64
            .decode(s)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| "malformed signature".to_owned())?;
        let mut message = format!("{n}.{t}.{status}.").into_bytes();
        message.extend_from_slice(body);
        self.0.verify(&message, &signature).map_err(|_| "bad signature".to_owned())
    }
}

/// `t=…,n=…,s=…`, in that order.
fn parse_header(header: &str) -> Option<(&str, &str, &str)> {
    let mut parts = header.trim().splitn(3, ',');
    let t = parts.next()?.strip_prefix("t=")?;
    let n = parts.next()?.strip_prefix("n=")?;
    let s = parts.next()?.strip_prefix("s=")?;
    Some((t, n, s))
}

/// A fresh random nonce.
pub(crate) fn new_nonce() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng().sample_iter(&Alphanumeric).take(NONCE_LEN).map(char::from).collect()
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_keys_that_are_not_keys() {
        assert_eq!(VerdictKey::from_base64("c2hvcnQ="), Err(InvalidVerdictKey));
        assert_eq!(VerdictKey::from_base64("not base64"), Err(InvalidVerdictKey));
    }

    #[test]
    fn nonces_are_fresh_and_acceptable() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn header_parts() {
        assert_eq!(parse_header("t=1,n=abc,s=x/y+="), Some(("1", "abc", "x/y+=")));
        assert_eq!(parse_header("n=abc,t=1,s=x"), None);
        assert_eq!(parse_header("t=1,n=abc"), None);
    }
}
