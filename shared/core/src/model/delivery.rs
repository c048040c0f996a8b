//! One webhook's copy of one event, and each try at sending it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventName;

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
    /// While pending after a failed attempt: about when the retry runs (the queue's delay
    /// decides; this is for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
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
            next_attempt_at: None,
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
