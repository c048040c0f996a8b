//! What the publishing pipeline tells us, and the event as we keep it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a webhook can subscribe to: the three events the publishing pipeline reports
/// (PatchKit's names, kept verbatim), and the operational events Patchbay itself raises about
/// an app's webhooks (dotted names, so they can never clash with a pipeline name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    VersionPublished,
    VersionProcessed,
    VersionProcessFailed,
    /// A webhook was switched off by auto-disable.
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    /// A delivery of a pipeline event gave up (its retry schedule ran out, or it cannot succeed).
    #[serde(rename = "delivery.failed")]
    DeliveryFailed,
    /// A webhook's first success after a failing streak.
    #[serde(rename = "webhook.recovered")]
    WebhookRecovered,
}

impl EventName {
    /// Every name a webhook may subscribe to.
    pub const ALL: [EventName; 6] = [
        EventName::VersionPublished,
        EventName::VersionProcessed,
        EventName::VersionProcessFailed,
        EventName::WebhookDisabled,
        EventName::DeliveryFailed,
        EventName::WebhookRecovered,
    ];
    /// What the publishing pipeline may post to `POST /v1/events`.
    pub const PIPELINE: [EventName; 3] =
        [EventName::VersionPublished, EventName::VersionProcessed, EventName::VersionProcessFailed];
    /// What Patchbay raises itself.
    pub const OPERATIONAL: [EventName; 3] =
        [EventName::WebhookDisabled, EventName::DeliveryFailed, EventName::WebhookRecovered];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::VersionPublished => "version_published",
            EventName::VersionProcessed => "version_processed",
            EventName::VersionProcessFailed => "version_process_failed",
            EventName::WebhookDisabled => "webhook.disabled",
            EventName::DeliveryFailed => "delivery.failed",
            EventName::WebhookRecovered => "webhook.recovered",
        }
    }

    /// Raised by Patchbay about a webhook, not posted by the pipeline.
    #[must_use]
    pub fn is_operational(self) -> bool {
        EventName::OPERATIONAL.contains(&self)
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

/// The webhook an operational event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub id: String,
    /// Its URL template up to any `?` or `#` (a query may hold the studio's credentials).
    pub url: String,
    /// First failed attempt of the streak (`webhook.disabled`), or of the streak that just
    /// ended (`webhook.recovered`); `None` in `delivery.failed` when the webhook was healthy.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub disabled_reason: Option<String>,
}

/// The delivery a `delivery.failed` event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDelivery {
    pub id: String,
    /// The pipeline event it carried (its `webhook-id`) and that event's name.
    pub event_id: String,
    pub event_name: EventName,
    /// Attempts in the series that gave up.
    pub attempts: u32,
    /// Why the last attempt failed (`receiver answered 500`, `timeout: …`).
    pub last_error: String,
}

/// The body of an operational event, as stored and rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationalBody {
    pub event: EventName,
    pub app: AppInfo,
    pub webhook: WebhookInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<FailedDelivery>,
    /// When it happened (the attempt that disabled, failed or recovered).
    pub occurred_at: DateTime<Utc>,
}

/// A stored event's body: posted by the pipeline, or raised by Patchbay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPayload {
    Pipeline(EventBody),
    Operational(OperationalBody),
}

impl EventPayload {
    /// Read a stored body; its `event` says which kind it is.
    ///
    /// # Errors
    /// The body is not one of the two shapes.
    pub fn parse(stored: &str) -> Result<EventPayload, serde_json::Error> {
        #[derive(Deserialize)]
        struct Name {
            event: EventName,
        }
        let Name { event } = serde_json::from_str(stored)?;
        Ok(if event.is_operational() {
            EventPayload::Operational(serde_json::from_str(stored)?)
        } else {
            EventPayload::Pipeline(serde_json::from_str(stored)?)
        })
    }

    #[must_use]
    pub fn name(&self) -> EventName {
        match self {
            EventPayload::Pipeline(body) => body.event,
            EventPayload::Operational(body) => body.event,
        }
    }

    /// The stored form.
    ///
    /// # Errors
    /// Never expected (plain data); passed on rather than unwrapped.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            EventPayload::Pipeline(body) => serde_json::to_string(body),
            EventPayload::Operational(body) => serde_json::to_string(body),
        }
    }
}

impl From<EventBody> for EventPayload {
    fn from(body: EventBody) -> Self {
        EventPayload::Pipeline(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operational_names_are_dotted_and_parse_back() {
        for name in EventName::ALL {
            assert_eq!(EventName::parse(name.as_str()), Some(name));
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
            assert_eq!(name.is_operational(), name.as_str().contains('.'), "{name}");
        }
        assert_eq!(EventName::PIPELINE.len() + EventName::OPERATIONAL.len(), EventName::ALL.len());
    }

    #[test]
    fn stored_bodies_of_both_kinds_read_back() {
        let operational = OperationalBody {
            event: EventName::WebhookDisabled,
            app: AppInfo { id: "a".into(), ..AppInfo::default() },
            webhook: WebhookInfo {
                id: "wh_1".into(),
                url: "https://example.com/hook".into(),
                failing_since: Some(Utc::now()),
                disabled_reason: Some("auto-disabled".into()),
            },
            delivery: None,
            occurred_at: Utc::now(),
        };
        let stored = EventPayload::Operational(operational.clone()).to_json().unwrap();
        assert_eq!(EventPayload::parse(&stored).unwrap(), EventPayload::Operational(operational));
        let pipeline = r#"{"event":"version_published","app":{"id":"a"},"version":{"id":1}}"#;
        assert_eq!(EventPayload::parse(pipeline).unwrap().name(), EventName::VersionPublished);
        assert!(EventPayload::parse(r#"{"event":"webhook.disabled","app":{"id":"a"}}"#).is_err());
    }
}
