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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    use super::{MAX_DIMENSIONS, MAX_METRICS, lines};
    use crate::metrics::{MetricEvent, Unit};

    /// The units the EMF specification allows.
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];

    /// Checks one log line against the EMF specification's required fields; returns the
    /// document for further checks.
    pub(crate) fn assert_valid_emf(line: &str) -> Value {
        assert!(!line.contains('\n'), "one document per line");
        let doc: Value = serde_json::from_str(line).unwrap();
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_u64(), "_aws.Timestamp must be integer ms: {aws}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics array");
        assert!(!directives.is_empty());
        for directive in directives {
            assert!(directive["Namespace"].as_str().is_some_and(|n| !n.is_empty()));
            for set in directive["Dimensions"].as_array().expect("Dimensions array") {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(set.len() <= MAX_DIMENSIONS);
                for key in set {
                    let key = key.as_str().expect("dimension keys are strings");
                    assert!(doc[key].is_string(), "dimension {key} needs a top-level string value");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics array");
            assert!(metrics.len() <= MAX_METRICS);
            for metric in metrics {
                let name = metric["Name"].as_str().expect("metric Name");
                let value = &doc[name];
                let numeric = value.is_number()
                    || value.as_array().is_some_and(|values| values.iter().all(Value::is_number));
                assert!(numeric, "metric {name} needs a top-level number, got {value}");
                let unit = metric["Unit"].as_str().expect("metric Unit");
                assert!(UNITS.contains(&unit), "unit {unit} is not in the spec");
            }
        }
        doc
    }

    #[test]
    fn a_document_carries_everything_the_spec_requires() {
        let event = MetricEvent::new()
            .dimension("StatusClass", "5xx")
            .and_overall()
            .count("DeliveryFailed", 1)
            .milliseconds("AttemptLatency", 42);
        let lines = lines(&event, 1_764_972_000_123);
        assert_eq!(lines.len(), 1);
        let doc = assert_valid_emf(&lines[0]);
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_972_000_123_u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Patchbay");
        assert_eq!(directive["Dimensions"], serde_json::json!([["StatusClass"], []]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([
                {"Name": "DeliveryFailed", "Unit": "Count"},
                {"Name": "AttemptLatency", "Unit": "Milliseconds"},
            ])
        );
        assert_eq!(doc["StatusClass"], "5xx");
        assert_eq!(doc["DeliveryFailed"].to_string(), "1");
        assert_eq!(doc["AttemptLatency"].to_string(), "42");
    }

    #[test]
    fn no_dimensions_is_one_empty_set() {
        let line = &lines(&MetricEvent::new().count("IngestFanOut", 3), 1)[0];
        let doc = assert_valid_emf(line);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
        assert_eq!(doc["IngestFanOut"], 3);
    }

    #[test]
    fn more_than_100_metrics_split_into_documents() {
        let names: Vec<&'static str> = (0..250).map(|i| &*format!("m{i}").leak()).collect();
        let event = names.iter().fold(MetricEvent::new().dimension("D", "x"), |e, n| e.count(n, 1));
        let lines = lines(&event, 1);
        assert_eq!(lines.len(), 3);
        let mut seen = 0;
        for line in &lines {
            let doc = assert_valid_emf(line);
            assert_eq!(doc["D"], "x", "every document repeats the dimension values");
            seen += doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().len();
        }
        assert_eq!(seen, 250);
    }

    #[test]
    fn dimensions_past_30_are_left_out() {
        let names: Vec<&'static str> = (0..35).map(|i| &*format!("d{i}").leak()).collect();
        let event = names.iter().fold(MetricEvent::new(), |e, n| e.dimension(n, "v")).count("C", 1);
        let doc = assert_valid_emf(&lines(&event, 1)[0]);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].as_array().unwrap().len(), 30);
        assert!(doc.get("d34").is_none());
    }

    #[test]
    fn values_json_cannot_hold_are_left_out_and_fractions_kept() {
        let event =
            MetricEvent::new().metric("Nan", Unit::Count, f64::NAN).metric("Half", Unit::Milliseconds, 0.5);
        let doc = assert_valid_emf(&lines(&event, 1)[0]);
        assert!(doc.get("Nan").is_none());
        assert_eq!(doc["Half"].as_f64(), Some(0.5));
    }
}
