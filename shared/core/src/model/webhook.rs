//! What a studio configures: where and how to send, and the webhook around it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EventName, SigningSecrets};

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
