//! What the management API shows: apps, webhooks, deliveries and their attempts, test sends.
//! Secrets appear only in the answers that create or rotate them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{
    App, Attempt, AttemptError, CircuitState, Delivery, DeliveryStatus, EventName, Webhook, WebhookSpec,
};

#[derive(Debug, Serialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub app_secret: String,
    pub created_at: DateTime<Utc>,
}

impl From<&App> for AppView {
    fn from(app: &App) -> Self {
        AppView {
            id: app.id.clone(),
            name: app.name.clone(),
            display_name: app.display_name.clone(),
            app_secret: app.app_secret.expose().to_owned(),
            created_at: app.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct WebhookView {
    pub id: String,
    pub app_id: String,
    #[serde(flatten)]
    pub spec: WebhookSpec,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// First failed attempt since the last success (auto-disable counts from here).
    pub failing_since: Option<DateTime<Utc>>,
    /// When each replaced signing secret stops signing next to the current one (newest
    /// first): the overlap of recent rotations. Never the secrets themselves.
    pub previous_secrets_until: Vec<DateTime<Utc>>,
    /// Delivery health: the failing streak and the circuit breaker.
    pub health: HealthView,
    /// Only in answers that create or rotate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    #[must_use]
    pub fn of(w: &Webhook, with_secret: bool) -> Self {
        WebhookView {
            id: w.id.clone(),
            app_id: w.app_id.clone(),
            spec: w.spec.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            disabled_at: w.disabled_at,
            failing_since: w.failing_since,
            previous_secrets_until: w.secrets.retired.iter().map(|r| r.until).collect(),
            health: HealthView::of(w, Utc::now()),
            secret: with_secret.then(|| w.secrets.current.expose().to_owned()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// `{"failing_since", "circuit": {"state": "closed"|"open"|"half_open", "open_until",
/// "consecutive_failures", "cooldown_s"}}`.
#[derive(Debug, Serialize)]
pub struct HealthView {
    /// First failed attempt since the last success (auto-disable counts from here).
    pub failing_since: Option<DateTime<Utc>>,
    pub circuit: CircuitView,
}

#[derive(Debug, Serialize)]
pub struct CircuitView {
    pub state: &'static str,
    /// While open: deliveries wait, without a request, until then; then one probe decides.
    pub open_until: Option<DateTime<Utc>>,
    /// Timeouts or connection failures in a row.
    pub consecutive_failures: u32,
    /// The last opening's cool-down (doubles from 60 s to 3600 s on each reopening).
    pub cooldown_s: u64,
}

impl HealthView {
    #[must_use]
    pub fn of(w: &Webhook, now: DateTime<Utc>) -> Self {
        let state = match w.circuit.state(now) {
            CircuitState::Closed => "closed",
            CircuitState::Open(_) => "open",
            CircuitState::HalfOpen => "half_open",
        };
        HealthView {
            failing_since: w.failing_since,
            circuit: CircuitView {
                state,
                open_until: w.circuit.open_until,
                consecutive_failures: w.circuit.failures,
                cooldown_s: w.circuit.cooldown_s,
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub number: u32,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<&'static str>,
    pub error_detail: Option<String>,
    pub duration_ms: u64,
    pub response_body: Option<String>,
    pub retry_after: Option<String>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        AttemptView {
            number: a.number,
            at: a.at,
            status_code: a.status_code,
            error: a.error.map(AttemptError::as_str),
            error_detail: a.error_detail.clone(),
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            retry_after: a.retry_after.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event: EventName,
    pub status: DeliveryStatus,
    pub test: bool,
    pub reason: Option<String>,
    pub attempt_count: u32,
    /// While a retry is scheduled: about when it runs.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    #[must_use]
    pub fn of(d: &Delivery, attempts: Option<&[Attempt]>) -> Self {
        DeliveryView {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            event: d.event_name,
            status: d.status,
            test: d.test,
            reason: d.reason.clone(),
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts: attempts.map(|list| list.iter().map(AttemptView::from).collect()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// A test send: the exact request, and what the receiver did with it.
#[derive(Debug, Serialize)]
pub struct TestResult {
    pub delivery_id: String,
    pub request: serde_json::Value,
    pub status_code: Option<u16>,
    pub error: Option<&'static str>,
    pub error_detail: Option<String>,
    pub duration_ms: u64,
    pub response_body: Option<String>,
}

/// A webhook rendered with sample values, unsent: `{"event","request":{"method","url","headers","body"}}`.
#[derive(Debug, Serialize)]
pub struct WebhookPreview {
    pub event: EventName,
    pub request: serde_json::Value,
}
