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

/// Every metric with the dimension sets CloudWatch keeps it under (an empty set: the total), so
/// the SAM template's alarms can be checked against what the code emits.
pub const DIMENSION_SETS: &[(&str, &[&[&str]])] = &[
    (DELIVERY_SUCCEEDED, &[&[STATUS_CLASS], &[]]),
    (DELIVERY_RETRIED, &[&[STATUS_CLASS], &[]]),
    (DELIVERY_FAILED, &[&[STATUS_CLASS], &[]]),
    (ATTEMPT_LATENCY, &[&[STATUS_CLASS], &[]]),
    (KEY_CHECK, &[&[STATUS]]),
    (INGEST_FAN_OUT, &[&[]]),
];

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
    #![allow(clippy::unwrap_used)]

    use super::{DIMENSION_SETS, delivery_attempt, ingest_fan_out, key_check, status_class};
    use crate::metrics::{MetricEvent, emf};
    use crate::model::{Attempt, AttemptError, DeliveryStatus};

    /// The dimension sets an event's metrics are kept under, read back from its EMF document.
    fn sets_of(event: &MetricEvent) -> Vec<Vec<String>> {
        let document = &emf::documents(event, 1)[0];
        serde_json::from_value(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone()).unwrap()
    }

    #[test]
    fn the_listed_dimension_sets_are_those_emitted() {
        let attempt = Attempt {
            delivery_id: "dlv_1".into(),
            number: 1,
            at: chrono::Utc::now(),
            duration_ms: 5,
            status_code: Some(200),
            error: None,
            error_detail: None,
            response_body: None,
            retry_after: None,
            expires_at: chrono::Utc::now(),
        };
        let events =
            [delivery_attempt(&attempt, DeliveryStatus::Succeeded), key_check(200), ingest_fan_out(1)];
        let mut emitted = 0;
        for event in &events {
            for metric in &event.metrics {
                let (_, listed) = DIMENSION_SETS.iter().find(|(name, _)| *name == metric.name).unwrap();
                let listed: Vec<Vec<String>> =
                    listed.iter().map(|set| set.iter().map(|d| (*d).to_owned()).collect()).collect();
                assert_eq!(listed, sets_of(event), "{}", metric.name);
                emitted += 1;
            }
        }
        assert_eq!(emitted, DIMENSION_SETS.len(), "every listed metric is emitted");
    }

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
