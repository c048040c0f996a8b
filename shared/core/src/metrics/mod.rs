//! Metrics as CloudWatch Embedded Metric Format (EMF): each [`MetricEvent`] becomes one JSON log
//! line that CloudWatch Logs turns into metrics, so counting costs no API call. The use cases
//! hold a [`Metrics`] handle (off unless wired); where its lines go is the sink's business.
//!
//! - `event`: what a use case reports (dimensions, metrics with units).
//! - `emf`: the EMF document for an event, within the spec's limits.
//! - `sinks`: stdout on Lambda, a recorder for tests.
//! - `catalog`: every metric Patchbay emits, by name (the README lists them).

pub mod catalog;
pub mod emf;
mod event;
pub mod sinks;

use std::sync::Arc;

pub use event::{Metric, MetricEvent, Unit};

/// CloudWatch namespace of every Patchbay metric.
pub const NAMESPACE: &str = "Patchbay";

/// Where metric events go. Called on the request path: implementations must not block for long
/// (no I/O beyond a write to a local stream, no awaiting).
pub trait MetricsSink: Send + Sync {
    fn emit(&self, event: &MetricEvent);
}

/// A use case's handle on a sink; the default is off (`patchbay dev`, tests).
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<dyn MetricsSink>>);

impl Metrics {
    #[must_use]
    pub fn to(sink: Arc<dyn MetricsSink>) -> Self {
        Metrics(Some(sink))
    }

    /// Report `event`, built only when someone listens.
    pub fn emit(&self, event: impl FnOnce() -> MetricEvent) {
        if let Some(sink) = &self.0 {
            sink.emit(&event());
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Metrics(on)" } else { "Metrics(off)" })
    }
}
