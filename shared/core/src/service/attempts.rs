//! Writing attempts down: the record of one try (status, latency, the first 4 KiB of the
//! answer, or why there was none), kept for the retention period. Shared by the deliver use
//! case and the management API's test sends.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{Attempt, AttemptError, Delivery, DeliveryStatus};
use crate::ports::{HttpResponse, SendFailure, SendOutcome, StoreError};
use crate::retry::parse_retry_after;

/// How many bytes of a response body are kept on the attempt record.
pub const KEPT_BODY_BYTES: usize = 4 * 1024;

/// The result of one try, before it is written down.
#[derive(Debug, Clone)]
pub struct Tried {
    pub outcome: SendOutcome,
    pub at: DateTime<Utc>,
}

impl Tried {
    /// A try that never reached the network: the request could not be built.
    #[must_use]
    pub fn unsendable(at: DateTime<Utc>, detail: String) -> Self {
        Tried {
            outcome: SendOutcome {
                duration: Duration::ZERO,
                result: Err(SendFailure { kind: AttemptError::InvalidRequest, detail }),
            },
            at,
        }
    }

    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(&self.outcome.result, Ok(r) if (200..300).contains(&r.status))
    }

    /// The receiver could not be reached: a timeout or a connection failure (what the circuit
    /// breaker counts; any answer, whatever its status, means it is reachable).
    #[must_use]
    pub fn unreachable(&self) -> bool {
        matches!(
            &self.outcome.result,
            Err(f) if matches!(f.kind, AttemptError::Timeout | AttemptError::Connect | AttemptError::Dns)
        )
    }

    /// Why it failed, whether retrying cannot help, and the receiver's `Retry-After`.
    #[must_use]
    pub fn failure(&self) -> Failure {
        match &self.outcome.result {
            Ok(HttpResponse { status, retry_after, .. }) => Failure {
                reason: format!("receiver answered {status}"),
                permanent: false,
                retry_after: retry_after.as_deref().and_then(|v| parse_retry_after(v, self.at)),
            },
            Err(failure) => Failure {
                reason: failure.to_string(),
                permanent: failure.kind.is_permanent(),
                retry_after: None,
            },
        }
    }

    /// The attempt record numbered `number`, forgotten after `retention`.
    #[must_use]
    pub fn record(&self, delivery_id: &str, number: u32, retention: Duration) -> Attempt {
        let (status_code, error, error_detail, response_body, retry_after) = match &self.outcome.result {
            Ok(r) => (Some(r.status), None, None, Some(kept_body(&r.body)), r.retry_after.clone()),
            Err(f) => (None, Some(f.kind), Some(f.detail.clone()), None, None),
        };
        Attempt {
            delivery_id: delivery_id.to_owned(),
            number,
            at: self.at,
            duration_ms: u64::try_from(self.outcome.duration.as_millis()).unwrap_or(u64::MAX),
            status_code,
            error,
            error_detail,
            response_body,
            retry_after,
            expires_at: self.at + TimeDelta::from_std(retention).unwrap_or(TimeDelta::days(30)),
        }
    }
}

/// A failed try, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub permanent: bool,
    pub retry_after: Option<Duration>,
}

/// Records a test send: one attempt, no retries, no effect on the webhook's health.
pub struct TestAttempts {
    store: std::sync::Arc<dyn crate::ports::Store>,
    retention: Duration,
}

impl TestAttempts {
    #[must_use]
    pub fn new(store: std::sync::Arc<dyn crate::ports::Store>, retention: Duration) -> Self {
        TestAttempts { store, retention }
    }

    /// # Errors
    /// The store failed.
    pub async fn record(&self, delivery: &mut Delivery, tried: &Tried) -> Result<Attempt, StoreError> {
        delivery.attempt_count += 1;
        let attempt = tried.record(&delivery.id, delivery.attempt_count, self.retention);
        self.store.record_attempt(&attempt).await?;
        let succeeded = tried.succeeded();
        delivery.status = if succeeded { DeliveryStatus::Succeeded } else { DeliveryStatus::Failed };
        delivery.reason = (!succeeded).then(|| tried.failure().reason);
        delivery.updated_at = Utc::now();
        self.store.update_delivery(delivery).await?;
        Ok(attempt)
    }
}

/// The first 4 KiB, cut on a character boundary.
fn kept_body(body: &[u8]) -> String {
    let mut kept = &body[..body.len().min(KEPT_BODY_BYTES)];
    // A character the cut split in two leaves an incomplete sequence at the very end: drop it
    // rather than decode it to U+FFFD (which would also push the text past 4 KiB).
    if let Some(last) = kept.utf8_chunks().last()
        && std::str::from_utf8(last.invalid()).is_err_and(|e| e.error_len().is_none())
    {
        kept = &kept[..kept.len() - last.invalid().len()];
    }
    String::from_utf8_lossy(kept).into_owned()
}
