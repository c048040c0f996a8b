//! The outcome of a key check and the policy deciding whether the game may start.

use std::fmt;

/// What the Keys service said about a product key.
///
/// | response                                   | verdict          |
/// |--------------------------------------------|------------------|
/// | `200 OK`                                   | [`Valid`](Verdict::Valid) |
/// | `404 Not Found` (`Key not known`)          | [`Invalid`](Verdict::Invalid) |
/// | `400 Bad Request` (the key is unusable)    | [`Invalid`](Verdict::Invalid) |
/// | `410 Gone` (`Key has been blocked`)        | [`Blocked`](Verdict::Blocked) |
/// | `403 Forbidden`, `401 Unauthorized`        | [`Forbidden`](Verdict::Forbidden) |
/// | `5xx`, timeout, network/TLS error          | [`Unverified`](Verdict::Unverified) |
/// | `408`, `429`, any other `4xx`, `3xx`, other `2xx`, `1xx` | [`Unverified`](Verdict::Unverified) |
///
/// With a [`VerdictKey`](crate::VerdictKey) configured, a `200`, `400`, `403`, `404` or `410`
/// whose `x-patchbay-verdict` signature is missing or wrong, names another nonce, is dated more
/// than 5 minutes from this machine's clock, or (a `200`) whose body's `key` is not the key
/// asked about, is [`Spoofed`](Verdict::Spoofed) instead.
///
/// Only a definite answer about *the key* is a negative verdict. A status the contract does not
/// define (`405` from a misconfigured URL, `429` rate limiting, a redirect — which the client
/// never follows, so the app secret in the query cannot be sent elsewhere) says nothing about the
/// key, so it is `Unverified` and [`UnverifiedPolicy`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key is known, belongs to this app and is not blocked. `info` is the parsed response
    /// body, when it could be parsed; an unexpected body never turns `Valid` into anything else.
    Valid { info: Option<KeyInfo> },
    /// The key is not known (or the service rejected it as malformed).
    Invalid,
    /// The key exists but has been blocked.
    Blocked,
    /// The service refused the app secret (wrong secret, or another app's key).
    Forbidden,
    /// The service could not give an answer: outage, timeout, network error, unexpected status.
    /// `reason` is for logs and never contains the app secret.
    Unverified { reason: String },
    /// The answer failed the signed-verdict check (only with a
    /// [`VerdictKey`](crate::VerdictKey)): it did not come from the Keys service, or was
    /// replayed. Never lets the game start.
    Spoofed { reason: String },
}

/// What to do when the Keys service cannot be reached or gives no usable answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum UnverifiedPolicy {
    /// Let the player in: a Keys outage must not lock out paying players (the Secure Running
    /// contract recommends treating `5xx` as valid). The default.
    #[default]
    TreatAsValid,
    /// Refuse to start unless the key is positively verified.
    TreatAsInvalid,
}

impl Verdict {
    /// Whether the game should start, given how to treat [`Verdict::Unverified`].
    #[must_use]
    pub fn allows_play(&self, policy: UnverifiedPolicy) -> bool {
        match self {
            Self::Valid { .. } => true,
            Self::Unverified { .. } => policy == UnverifiedPolicy::TreatAsValid,
            Self::Invalid | Self::Blocked | Self::Forbidden | Self::Spoofed { .. } => false,
        }
    }

    /// `true` only for [`Verdict::Valid`].
    #[must_use]
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    /// The parsed `200` body, if any.
    #[must_use]
    pub fn info(&self) -> Option<&KeyInfo> {
        match self {
            Self::Valid { info } => info.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid { .. } => f.write_str("valid"),
            Self::Invalid => f.write_str("invalid (key not known)"),
            Self::Blocked => f.write_str("blocked"),
            Self::Forbidden => f.write_str("forbidden (app secret refused)"),
            Self::Unverified { reason } => write!(f, "unverified ({reason})"),
            Self::Spoofed { reason } => write!(f, "spoofed ({reason})"),
        }
    }
}

/// The fields of a `200` response, each read independently and leniently: a field that is
/// missing or of an unexpected type is `None`. The echoed `app_secret` is deliberately dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    pub key: Option<String>,
    /// The key secret. Pass it back with
    /// [`LicenseClient::with_key_secret`](crate::LicenseClient::with_key_secret) on later checks
    /// so they do not each register one more use. Redacted in `Debug`.
    pub key_secret: Option<String>,
    pub collection_id: Option<String>,
    /// How many times the key has been registered (a check without `key_secret` adds one).
    pub registrations: Option<u64>,
    pub blocked: Option<bool>,
}

impl fmt::Debug for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInfo")
            .field("key", &self.key)
            .field("key_secret", &self.key_secret.as_ref().map(|_| "***"))
            .field("collection_id", &self.collection_id)
            .field("registrations", &self.registrations)
            .field("blocked", &self.blocked)
            .finish()
    }
}

impl KeyInfo {
    /// Parses a `200` body; `None` when it is not a JSON object.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let object = value.as_object()?;
        let string = |name: &str| match object.get(name)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Some(Self {
            key: string("key"),
            key_secret: string("key_secret"),
            collection_id: string("collection_id"),
            registrations: object.get("registrations").and_then(serde_json::Value::as_u64),
            blocked: object.get("blocked").and_then(serde_json::Value::as_bool),
        })
    }
}
