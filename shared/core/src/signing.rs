//! Standard Webhooks v1 signatures: `webhook-signature: v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`.
//!
//! The same code signs our outgoing deliveries and verifies the pipeline's incoming events.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from now, either way, by default.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("secret is not a whsec_ secret holding base64 of 24 to 64 bytes")]
    BadSecretFormat,
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// Present but not visible ASCII (e.g. UTF-8 or control bytes): not the same as missing.
    #[error("invalid header {0}")]
    InvalidHeader(&'static str),
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {skew_secs} s away from now, more than the {tolerance_secs} s tolerance")]
    StaleTimestamp { skew_secs: i64, tolerance_secs: i64 },
    #[error("no signature in webhook-signature matches")]
    NoMatchingSignature,
}

/// A decoded `whsec_` secret, ready to sign with.
#[derive(Clone)]
pub struct SigningKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Parse `whsec_<base64 of 24..=64 bytes>`.
    ///
    /// # Errors
    /// `BadSecretFormat` when the prefix, the base64 or the length is wrong.
    pub fn from_secret(secret: &Secret) -> Result<Self, VerifyError> {
        let encoded = secret.expose().strip_prefix(SECRET_PREFIX).ok_or(VerifyError::BadSecretFormat)?;
        let key = BASE64.decode(encoded).map_err(|_| VerifyError::BadSecretFormat)?;
        if !(24..=64).contains(&key.len()) {
            return Err(VerifyError::BadSecretFormat);
        }
        Ok(SigningKey { key })
    }

    /// `v1,<base64 signature>` for one message.
    #[must_use]
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// Check that one of the space-separated `v1,` signatures in `header` signs this message,
    /// comparing in constant time. The timestamp is not checked here (see [`verify`]).
    #[must_use]
    pub fn signature_matches(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.mac(id, timestamp, body);
        header
            .split(' ')
            .filter_map(|sig| sig.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            // Not short-circuiting on a match keeps the time independent of which one matched.
            .fold(false, |found, candidate| found | crate::secret::constant_time_eq(&candidate, &expected))
    }
}

/// A fresh `whsec_` secret with 32 random bytes.
#[must_use]
pub fn generate_secret() -> Secret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", BASE64.encode(bytes)))
}

/// The `webhook-signature` header value for a message, one `v1,` entry per secret (several
/// while a rotation is in progress).
///
/// # Errors
/// `BadSecretFormat` if any secret is malformed.
pub fn signature_header(
    secrets: &[&Secret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let mut parts = Vec::with_capacity(secrets.len());
    for secret in secrets {
        parts.push(SigningKey::from_secret(secret)?.sign(id, timestamp, body));
    }
    Ok(parts.join(" "))
}

/// What a receiver checks: the signature of `{id}.{timestamp}.{body}` under `secret`, and a
/// timestamp within `tolerance_secs` of `now` either way.
///
/// # Errors
/// The first reason the message cannot be trusted.
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let key = SigningKey::from_secret(secret)?;
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > tolerance_secs {
        return Err(VerifyError::StaleTimestamp { skew_secs: skew, tolerance_secs });
    }
    if key.signature_matches(id, ts, body, signature) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The three Standard Webhooks headers of a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `webhook-id`
    pub id: String,
    /// `webhook-timestamp`
    pub timestamp: String,
    /// `webhook-signature`
    pub signature: String,
}

impl SignatureHeaders {
    /// Read them from a request, telling a missing header from one that is not visible ASCII.
    ///
    /// # Errors
    /// The first header that is missing, empty or not visible ASCII.
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self, VerifyError> {
        let get = |name: &'static str| match headers.get(name) {
            None => Err(VerifyError::MissingHeader(name)),
            Some(value) => match value.to_str() {
                Ok("") => Err(VerifyError::MissingHeader(name)),
                Ok(text) => Ok(text.to_owned()),
                Err(_) => Err(VerifyError::InvalidHeader(name)),
            },
        };
        Ok(SignatureHeaders {
            id: get("webhook-id")?,
            timestamp: get("webhook-timestamp")?,
            signature: get("webhook-signature")?,
        })
    }

    /// [`verify`] this message.
    ///
    /// # Errors
    /// The reason from [`verify`].
    pub fn verify(
        &self,
        secret: &Secret,
        body: &[u8],
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        verify(secret, &self.id, &self.timestamp, &self.signature, body, now, tolerance_secs)
    }
}

/// [`verify`] over request headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
///
/// # Errors
/// A missing or invalid header, or the reason from [`verify`].
pub fn verify_headers(
    secret: &Secret,
    headers: &http::HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<String, VerifyError> {
    let signed = SignatureHeaders::from_headers(headers)?;
    signed.verify(secret, body, now, tolerance_secs)?;
    Ok(signed.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn vector_secret() -> Secret {
        Secret::new(VECTOR_SECRET)
    }

    #[test]
    fn signs_the_public_vector() {
        let key = SigningKey::from_secret(&vector_secret()).unwrap();
        assert_eq!(key.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY), VECTOR_SIG);
    }

    #[test]
    fn verifies_the_public_vector() {
        let ts = VECTOR_TS.to_string();
        verify(&vector_secret(), VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS, 300).unwrap();
    }

    #[test]
    fn tampered_body_fails() {
        let ts = VECTOR_TS.to_string();
        let err =
            verify(&vector_secret(), VECTOR_ID, &ts, VECTOR_SIG, br#"{"test": 2432232315}"#, VECTOR_TS, 300)
                .unwrap_err();
        assert_eq!(err, VerifyError::NoMatchingSignature);
    }

    #[test]
    fn tampered_id_fails() {
        let ts = VECTOR_TS.to_string();
        let err =
            verify(&vector_secret(), "msg_other", &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS, 300).unwrap_err();
        assert_eq!(err, VerifyError::NoMatchingSignature);
    }

    #[test]
    fn wrong_secret_fails() {
        let other = generate_secret();
        let ts = VECTOR_TS.to_string();
        let err = verify(&other, VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS, 300).unwrap_err();
        assert_eq!(err, VerifyError::NoMatchingSignature);
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let ts = VECTOR_TS.to_string();
        let stale = verify(&vector_secret(), VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS + 301, 300);
        assert_eq!(stale, Err(VerifyError::StaleTimestamp { skew_secs: 301, tolerance_secs: 300 }));
        let future = verify(&vector_secret(), VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS - 301, 300);
        assert_eq!(future, Err(VerifyError::StaleTimestamp { skew_secs: -301, tolerance_secs: 300 }));
        // At the edge of the tolerance it still passes.
        verify(&vector_secret(), VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS + 300, 300).unwrap();
    }

    #[test]
    fn bad_timestamp_and_secret_format() {
        assert_eq!(
            verify(&vector_secret(), VECTOR_ID, "soon", VECTOR_SIG, VECTOR_BODY, VECTOR_TS, 300),
            Err(VerifyError::BadTimestamp)
        );
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="] {
            assert_eq!(SigningKey::from_secret(&Secret::new(bad)).unwrap_err(), VerifyError::BadSecretFormat);
        }
    }

    #[test]
    fn rotated_secrets_both_verify() {
        let old = generate_secret();
        let new = generate_secret();
        let header = signature_header(&[&new, &old], "msg_1", 100, b"body").unwrap();
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            verify(secret, "msg_1", "100", &header, b"body", 100, 300).unwrap();
        }
        let stranger = generate_secret();
        assert_eq!(
            verify(&stranger, "msg_1", "100", &header, b"body", 100, 300),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn ignores_unknown_versions_and_garbage() {
        let key = SigningKey::from_secret(&vector_secret()).unwrap();
        let good = key.sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY);
        let header = format!("v2,abc v1,@@@ {good}");
        assert!(key.signature_matches(VECTOR_ID, VECTOR_TS, VECTOR_BODY, &header));
        assert!(!key.signature_matches(VECTOR_ID, VECTOR_TS, VECTOR_BODY, "v1,"));
    }

    #[test]
    fn generated_secret_parses() {
        let secret = generate_secret();
        assert!(secret.expose().starts_with(SECRET_PREFIX));
        SigningKey::from_secret(&secret).unwrap();
    }

    #[test]
    fn verify_headers_names_missing_header() {
        let headers = http::HeaderMap::new();
        assert_eq!(
            verify_headers(&vector_secret(), &headers, b"", 0, 300),
            Err(VerifyError::MissingHeader("webhook-id"))
        );
    }

    #[test]
    fn verify_headers_tells_invalid_from_missing() {
        let mut headers = http::HeaderMap::new();
        let non_ascii = http::HeaderValue::from_bytes("msg_é".as_bytes()).unwrap();
        headers.insert("webhook-id", non_ascii);
        assert_eq!(
            verify_headers(&vector_secret(), &headers, b"", 0, 300),
            Err(VerifyError::InvalidHeader("webhook-id"))
        );
    }
}
