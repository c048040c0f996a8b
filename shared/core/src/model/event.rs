//! What the publishing pipeline tells us, and the event as we keep it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
