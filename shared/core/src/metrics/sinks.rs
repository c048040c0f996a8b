//! Where EMF lines go: stdout on Lambda (CloudWatch Logs extracts metrics from any log line
//! that is a JSON object with `_aws`), or a recorder in tests.

use std::io::Write;
use std::sync::Mutex;

use super::{MetricEvent, MetricsSink, emf};

/// Prints each document on its own line to stdout. One `write_all` per line under the stdout
/// lock, so it never interleaves with the log lines the tracing subscriber writes there.
#[derive(Debug, Default)]
pub struct StdoutEmf;

impl MetricsSink for StdoutEmf {
    fn emit(&self, event: &MetricEvent) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut out = std::io::stdout().lock();
        for line in emf::lines(event, now) {
            // A lost metric line must never fail the request it describes.
            let _ = out.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Keeps every event, for tests to assert on.
#[derive(Debug, Default)]
pub struct RecordingSink(Mutex<Vec<MetricEvent>>);

impl RecordingSink {
    #[must_use]
    pub fn events(&self) -> Vec<MetricEvent> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl MetricsSink for RecordingSink {
    fn emit(&self, event: &MetricEvent) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(event.clone());
    }
}
