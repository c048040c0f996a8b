//! The nouns of Patchbay: what the pipeline tells us, what studios configure, what we record.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The three events the publishing pipeline reports (PatchKit's names, kept verbatim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    VersionPublished,
    VersionProcessed,
    VersionProcessFailed,
}

impl EventName {
    pub const ALL: [EventName; 3] =
        [EventName::VersionPublished, EventName::VersionProcessed, EventName::VersionProcessFailed];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::VersionPublished => "version_published",
            EventName::VersionProcessed => "version_processed",
            EventName::VersionProcessFailed => "version_process_failed",
        }
    }

    #[must_use]
    pub fn parse(name: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The application as the pipeline describes it in an event. This, not our stored `App`, is what
/// templates render, so a redelivery shows exactly what the first delivery showed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub group_name: Option<String>,
    #[serde(default)]
    pub download_url: Option<String>,
    #[serde(default)]
    pub direct_download_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionInfo {
    pub id: i64,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    /// Bytes.
    #[serde(default)]
    pub content_size: Option<u64>,
    /// Bytes.
    #[serde(default)]
    pub diff_size: Option<u64>,
    #[serde(default)]
    pub changes: Option<String>,
    #[serde(default)]
    pub known_issues: Option<String>,
    #[serde(default)]
    pub processing_errors: Vec<String>,
    #[serde(default)]
    pub processing_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub processing_finished_at: Option<DateTime<Utc>>,
}

/// The body the pipeline posts to `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBody {
    pub event: EventName,
    pub app: AppInfo,
    pub version: VersionInfo,
}

/// HTTP methods a webhook may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl WebhookMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookMethod::Get => "GET",
            WebhookMethod::Post => "POST",
            WebhookMethod::Put => "PUT",
            WebhookMethod::Patch => "PATCH",
            WebhookMethod::Delete => "DELETE",
        }
    }

    /// GET and DELETE carry the payload in the query string instead of a body.
    #[must_use]
    pub fn has_body(self) -> bool {
        !matches!(self, WebhookMethod::Get | WebhookMethod::Delete)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    #[default]
    Json,
    Form,
}

/// The part of a webhook a studio writes: what to send, where, and how.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSpec {
    pub events: Vec<EventName>,
    pub method: WebhookMethod,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub format: PayloadFormat,
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
}

impl WebhookSpec {
    /// Its fields as they appear in JSON, for requests that name them one by one.
    pub const FIELDS: [&str; 6] = ["events", "method", "url", "headers", "format", "payload"];
}

/// Header values often hold a studio's own credentials (`Authorization: Bearer …`): `Debug`
/// shows their names only.
impl fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("events", &self.events)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("format", &self.format)
            .field("payload", &self.payload)
            .finish()
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub app_id: String,
    #[serde(flatten)]
    pub spec: WebhookSpec,
    pub enabled: bool,
    pub secrets: SigningSecrets,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    #[serde(default)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// First failed attempt since the last success; drives auto-disable.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// A new, enabled webhook of `app_id` with a fresh signing secret.
    #[must_use]
    pub fn new(app_id: &str, spec: WebhookSpec, now: DateTime<Utc>) -> Self {
        Webhook {
            id: crate::ids::random_id("wh"),
            app_id: app_id.to_owned(),
            spec,
            enabled: true,
            secrets: SigningSecrets::new(crate::signing::generate_secret()),
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Switch on (clearing any auto-disable and failing streak) or off.
    pub fn set_enabled(&mut self, enabled: bool, now: DateTime<Utc>) {
        self.enabled = enabled;
        if enabled {
            self.disabled_reason = None;
            self.disabled_at = None;
            self.failing_since = None;
        } else {
            self.disabled_at = Some(now);
        }
    }

    #[must_use]
    pub fn fires_on(&self, event: EventName) -> bool {
        self.enabled && self.spec.events.contains(&event)
    }
}

/// An application registered with Patchbay (owner of webhooks and license keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub app_secret: Secret,
    pub created_at: DateTime<Utc>,
}

impl App {
    /// A new app with a freshly generated app secret.
    #[must_use]
    pub fn new(id: String, name: String, display_name: String, now: DateTime<Utc>) -> Self {
        App { id, name, display_name, app_secret: App::generate_secret(), created_at: now }
    }

    /// What games embed: 40 letters and digits.
    #[must_use]
    pub fn generate_secret() -> Secret {
        Secret::random_alphanumeric(40)
    }
}

/// Where an event stands in its own ingestion: accepted (deliveries written, maybe not yet all
/// enqueued) or complete (every delivery has its queue message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    Accepted,
    Complete,
}

/// One delivery as named in the ingest response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRef {
    pub id: String,
    pub webhook_id: String,
}

/// An event as received, with the outcome of its fan-out. The raw body is kept byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The pipeline's `webhook-id`.
    pub id: String,
    pub app_id: String,
    pub name: EventName,
    pub body: String,
    pub deliveries: Vec<DeliveryRef>,
    pub state: EventState,
    /// Until when the request that holds the event may finish its fan-out undisturbed.
    pub lease_until: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One webhook's copy of one event: retried until it succeeds, fails for good, or is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub app_id: String,
    pub event_id: String,
    pub event_name: EventName,
    pub status: DeliveryStatus,
    /// Outbox flag: the queue message for the current series has been sent.
    pub enqueued: bool,
    /// A test send from the management API (sample values, not a real event).
    #[serde(default)]
    pub test: bool,
    /// Attempts made so far, across every series.
    pub attempt_count: u32,
    /// `attempt_count` when the current series (first delivery or a redelivery) started; the
    /// retry schedule counts from here.
    #[serde(default)]
    pub series_start: u32,
    /// Why it failed, or why it finished without sending.
    #[serde(default)]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A pending delivery of `event_id` to `webhook_id`; its id is derived from both, so the
    /// same pair always names the same delivery.
    #[must_use]
    pub fn new(event_id: &str, webhook_id: &str, app_id: &str, event: EventName, now: DateTime<Utc>) -> Self {
        Delivery {
            id: crate::ids::delivery_id(event_id, webhook_id),
            webhook_id: webhook_id.to_owned(),
            app_id: app_id.to_owned(),
            event_id: event_id.to_owned(),
            event_name: event,
            status: DeliveryStatus::Pending,
            enqueued: false,
            test: false,
            attempt_count: 0,
            series_start: 0,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Attempts made in the current series.
    #[must_use]
    pub fn attempts_in_series(&self) -> u32 {
        self.attempt_count.saturating_sub(self.series_start)
    }
}

/// Why an attempt produced no HTTP status. These names are recorded and shown to studios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptError {
    Timeout,
    Dns,
    Connect,
    Tls,
    BlockedAddress,
    InvalidRequest,
    Redirect,
}

impl AttemptError {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptError::Timeout => "timeout",
            AttemptError::Dns => "dns",
            AttemptError::Connect => "connect",
            AttemptError::Tls => "tls",
            AttemptError::BlockedAddress => "blocked_address",
            AttemptError::InvalidRequest => "invalid_request",
            AttemptError::Redirect => "redirect",
        }
    }

    /// Retrying cannot help: the request itself is refused or malformed.
    #[must_use]
    pub fn is_permanent(self) -> bool {
        matches!(self, AttemptError::BlockedAddress | AttemptError::InvalidRequest)
    }
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub delivery_id: String,
    pub number: u32,
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<AttemptError>,
    /// Detail for `error` (never contains secrets).
    #[serde(default)]
    pub error_detail: Option<String>,
    /// First 4 KiB of the response body, lossily decoded.
    pub response_body: Option<String>,
    pub retry_after: Option<String>,
    /// When the store may forget this record (DynamoDB TTL).
    pub expires_at: DateTime<Utc>,
}

/// A license key for Secure Running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseKey {
    pub key: String,
    pub app_id: String,
    pub key_secret: Secret,
    pub collection_id: Option<String>,
    pub registrations: u64,
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
}

impl LicenseKey {
    /// A new, unused, unblocked key of `app_id` with a fresh key secret.
    #[must_use]
    pub fn new(key: String, app_id: &str, collection_id: Option<String>, now: DateTime<Utc>) -> Self {
        LicenseKey {
            key,
            app_id: app_id.to_owned(),
            key_secret: Secret::random_alphanumeric(32),
            collection_id,
            registrations: 0,
            blocked: false,
            created_at: now,
        }
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
