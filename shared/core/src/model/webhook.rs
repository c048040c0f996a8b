//! What a studio configures: where and how to send, and the webhook around it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Circuit, EventName, SigningSecrets};
use crate::retry::{RetrySchedule, parse_duration};

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
    /// Its own per-request timeout, as the studio wrote it (`10s`); the deliver function's
    /// `PATCHBAY_DELIVERY_TIMEOUT` when absent. Checked when saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Its own delays between attempts, as the studio wrote them (`30s,2m,10m`); the deliver
    /// function's `PATCHBAY_RETRY_SCHEDULE` when absent. Checked when saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<String>,
}

impl WebhookSpec {
    /// Its fields as they appear in JSON, for requests that name them one by one.
    pub const FIELDS: [&str; 8] =
        ["events", "method", "url", "headers", "format", "payload", "timeout", "retry_schedule"];

    /// Its own timeout, parsed; `None` when it has none (or, never expected since saves check
    /// it, one that no longer parses: the function's timeout then applies).
    #[must_use]
    pub fn own_timeout(&self) -> Option<Duration> {
        self.timeout.as_deref().and_then(parse_duration).filter(|d| !d.is_zero())
    }

    /// Its own retry schedule, parsed; `None` as for [`Self::own_timeout`].
    #[must_use]
    pub fn own_retry_schedule(&self) -> Option<RetrySchedule> {
        self.retry_schedule.as_deref().and_then(|text| RetrySchedule::parse(text).ok())
    }
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
            .field("timeout", &self.timeout)
            .field("retry_schedule", &self.retry_schedule)
            .finish()
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
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
    /// The circuit breaker (absent while closed and clean).
    #[serde(default, skip_serializing_if = "Circuit::is_clean")]
    pub circuit: Circuit,
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
            circuit: Circuit::default(),
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
            self.circuit = Circuit::default();
        } else {
            self.disabled_at = Some(now);
        }
    }

    #[must_use]
    pub fn fires_on(&self, event: EventName) -> bool {
        self.enabled && self.spec.events.contains(&event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_saved_before_overrides_existed_still_read() {
        let stored = serde_json::json!({
            "id": "wh_1", "app_id": "app", "events": ["version_published"], "method": "POST",
            "url": "https://example.com/", "enabled": true,
            "secrets": {"current": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "retired": []},
            "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z"
        });
        let webhook: Webhook = serde_json::from_value(stored).unwrap();
        assert_eq!((&webhook.spec.timeout, &webhook.spec.retry_schedule), (&None, &None));
        assert_eq!((webhook.spec.own_timeout(), webhook.spec.own_retry_schedule()), (None, None));
        // Without overrides nothing new is written either, so older readers keep working.
        let written = serde_json::to_value(&webhook).unwrap();
        assert!(written.get("timeout").is_none() && written.get("retry_schedule").is_none());
    }
}
