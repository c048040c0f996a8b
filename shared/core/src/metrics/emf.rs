//! The Embedded Metric Format document for a [`MetricEvent`]: a JSON object with an `_aws`
//! member (`Timestamp` in ms since the epoch, `CloudWatchMetrics` naming the namespace,
//! dimension sets and metrics with units), and every metric and dimension value as a top-level
//! member. <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use serde_json::{Map, Number, Value, json};

use super::{MetricEvent, NAMESPACE};

/// The spec's limit on metrics per document; an event with more is split.
pub const MAX_METRICS: usize = 100;
/// The spec's limit on dimensions per dimension set; further dimensions are left out.
pub const MAX_DIMENSIONS: usize = 30;

/// The event's documents, as one log line each (no newline inside).
#[must_use]
pub fn lines(event: &MetricEvent, timestamp_ms: i64) -> Vec<String> {
    documents(event, timestamp_ms).iter().map(Value::to_string).collect()
}

/// One document per [`MAX_METRICS`] metrics. Values JSON cannot hold (NaN, infinities) are left
/// out: CloudWatch would reject the whole document for one.
#[must_use]
pub fn documents(event: &MetricEvent, timestamp_ms: i64) -> Vec<Value> {
    let dimensions = &event.dimensions[..event.dimensions.len().min(MAX_DIMENSIONS)];
    let mut sets = vec![Value::from(dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>())];
    if event.overall && !dimensions.is_empty() {
        sets.push(json!([]));
    }
    let finite: Vec<_> = event.metrics.iter().filter(|m| m.value.is_finite()).collect();
    finite
        .chunks(MAX_METRICS)
        .map(|metrics| {
            let mut document = Map::new();
            for (name, value) in dimensions {
                document.insert((*name).to_owned(), Value::from(value.as_str()));
            }
            for metric in metrics {
                document.insert(metric.name.to_owned(), number(metric.value));
            }
            let definitions: Vec<Value> =
                metrics.iter().map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()})).collect();
            document.insert(
                "_aws".to_owned(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": sets, "Metrics": definitions}],
                }),
            );
            Value::Object(document)
        })
        .collect()
}

/// Whole numbers as integers (`1`, not `1.0`), the rest as they are.
fn number(value: f64) -> Value {
    // Exact for every whole number below 2^53, which is all a count or a latency ever is.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = value as u64;
    #[allow(clippy::cast_precision_loss, clippy::float_cmp)]
    if value >= 0.0 && whole as f64 == value {
        return Value::Number(Number::from(whole));
    }
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}
