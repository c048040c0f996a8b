//! Every metric Patchbay emits, in namespace `Patchbay`. The README's "Metrics" section lists
//! the same names; alarms in the SAM template reference them.

use super::MetricEvent;
use crate::model::{Attempt, AttemptError, DeliveryStatus};

/// Per delivery attempt, 1 or 0 each, so `Sum` counts and every status class has all three.
pub const DELIVERY_SUCCEEDED: &str = "DeliverySucceeded";
pub const DELIVERY_RETRIED: &str = "DeliveryRetried";
pub const DELIVERY_FAILED: &str = "DeliveryFailed";
/// How long the receiver took (ms), per attempt.
pub const ATTEMPT_LATENCY: &str = "AttemptLatency";
/// The receiver's answer: `2xx` … `5xx`, or why there was none (`timeout`, `connect`, `dns`,
/// `tls`, `blocked_address`, `invalid_request`, `redirect`).
pub const STATUS_CLASS: &str = "StatusClass";

/// One per key check answered, by HTTP status.
pub const KEY_CHECK: &str = "KeyCheck";
pub const STATUS: &str = "Status";

/// Deliveries created per accepted event (webhooks that fired).
pub const INGEST_FAN_OUT: &str = "IngestFanOut";

/// One delivery attempt, recorded, with the delivery's state after it: still pending means
/// it will be retried.
#[must_use]
pub fn delivery_attempt(attempt: &Attempt, after: DeliveryStatus) -> MetricEvent {
    MetricEvent::new()
        .dimension(STATUS_CLASS, status_class(attempt.status_code, attempt.error))
        .and_overall()
        .count(DELIVERY_SUCCEEDED, u64::from(after == DeliveryStatus::Succeeded))
        .count(DELIVERY_RETRIED, u64::from(after == DeliveryStatus::Pending))
        .count(DELIVERY_FAILED, u64::from(after == DeliveryStatus::Failed))
        .milliseconds(ATTEMPT_LATENCY, attempt.duration_ms)
}

/// `2xx` for any 200–299, and so on; the attempt error's own name when nothing answered.
#[must_use]
pub fn status_class(status_code: Option<u16>, error: Option<AttemptError>) -> String {
    match (status_code, error) {
        (Some(code), _) => format!("{}xx", code / 100),
        (None, Some(error)) => error.as_str().to_owned(),
        (None, None) => "unknown".to_owned(),
    }
}

/// One key check, answered with `status`.
#[must_use]
pub fn key_check(status: u16) -> MetricEvent {
    MetricEvent::new().dimension(STATUS, status.to_string()).count(KEY_CHECK, 1)
}

/// One accepted event and the deliveries it fanned out to.
#[must_use]
pub fn ingest_fan_out(deliveries: usize) -> MetricEvent {
    MetricEvent::new().count(INGEST_FAN_OUT, u64::try_from(deliveries).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::status_class;
    use crate::model::AttemptError;

    #[test]
    fn status_classes_name_the_hundred_or_the_error() {
        assert_eq!(status_class(Some(204), None), "2xx");
        assert_eq!(status_class(Some(404), None), "4xx");
        assert_eq!(status_class(Some(503), None), "5xx");
        assert_eq!(status_class(None, Some(AttemptError::Timeout)), "timeout");
        assert_eq!(status_class(None, Some(AttemptError::Connect)), "connect");
        assert_eq!(status_class(None, Some(AttemptError::BlockedAddress)), "blocked_address");
    }
}
