//! The values SAM and cfn-lint let through but the code cannot live with: runtime and build
//! output, memory and timeouts, the deliver event source, the queue's visibility, retention and
//! redrive against the retry schedule, and the alarms.

use std::time::Duration;

use patchbay_core::config;
use patchbay_core::metrics::{self, catalog};
use patchbay_core::retry::{RetrySchedule, parse_duration};
use serde_json::{Value, json};

use crate::cfn::{as_getatt, as_ref, evaluate, mentions, number, parameter};
use crate::checker::Checker;
use crate::{DELIVER, Function, INGEST};

/// Lambda's largest timeout, and SQS's largest visibility timeout and retention.
const LAMBDA_MAX_TIMEOUT: u64 = 900;
const SQS_MAX_VISIBILITY: u64 = 43_200;
const FOURTEEN_DAYS: u64 = 14 * 86_400;
/// What deliver needs besides the sends themselves (DynamoDB and SQS calls, cold start).
const DELIVER_TIMEOUT_MARGIN: u64 = 30;

pub fn check_function(c: &mut Checker<'_>, f: &Function) {
    let id = f.logical_id;
    if c.resource_type(id) != Some("AWS::Serverless::Function") {
        c.fail(format!("{id} is missing or not an AWS::Serverless::Function"));
        return;
    }
    let runtime = c.function_prop(id, "Runtime");
    if runtime != "provided.al2023" {
        c.fail(format!("{id}: Runtime must be provided.al2023, not {runtime}"));
    }
    let architectures = c.function_prop(id, "Architectures");
    if *architectures != json!(["arm64"]) {
        c.fail(format!(
            "{id}: Architectures must be [arm64] (cargo lambda build --arm64), not {architectures}"
        ));
    }
    let handler = c.function_prop(id, "Handler");
    if handler != "bootstrap" {
        c.fail(format!("{id}: Handler must be bootstrap, not {handler}"));
    }
    let code_uri = c.function_prop(id, "CodeUri");
    let expected = format!("../target/lambda/{}/", f.name);
    if code_uri.as_str().map(|s| s.trim_end_matches('/')) != Some(expected.trim_end_matches('/')) {
        c.fail(format!("{id}: CodeUri must be {expected} (cargo lambda build's output), not {code_uri}"));
    }
    let manifest =
        std::fs::read_to_string(format!("{}/../functions/{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"), f.name))
            .unwrap_or_default();
    if !manifest.contains(&format!("name = \"{}\"", f.name)) {
        c.fail(format!("{id}: functions/{}/Cargo.toml does not build a binary named {}", f.name, f.name));
    }
    let logging = c.function_prop(id, "LoggingConfig");
    if logging["LogFormat"] != "JSON" || as_ref(&logging["ApplicationLogLevel"]) != Some("LogLevel") {
        c.fail(format!("{id}: LoggingConfig must have LogFormat JSON and ApplicationLogLevel !Ref LogLevel"));
    }
    match number(c.t, c.function_prop(id, "MemorySize")) {
        Some(128..=1024) => {}
        other => c.fail(format!("{id}: MemorySize should be 128..=1024 MB, not {other:?}")),
    }
    match number(c.t, c.function_prop(id, "Timeout")) {
        Some(1..=LAMBDA_MAX_TIMEOUT) => {}
        other => c.fail(format!("{id}: Timeout must be 1..=900 s, not {other:?}")),
    }
}

pub struct Queues {
    pub delivery: String,
    pub dead_letter: Option<String>,
}

pub fn check_queue(c: &mut Checker<'_>) -> Option<Queues> {
    let ingest_queue = c.env_resource(&INGEST, config::QUEUE_URL, "AWS::SQS::Queue");
    let deliver_queue = c.env_resource(&DELIVER, config::QUEUE_URL, "AWS::SQS::Queue");
    if ingest_queue != deliver_queue {
        c.fail(format!("ingest and deliver use different queues ({ingest_queue:?}, {deliver_queue:?})"));
    }
    let queue = deliver_queue?;
    let q = c.props(queue);
    if q["FifoQueue"] == true {
        c.fail(format!("{queue}: must be a standard queue (deliver uses a batching window)"));
    }

    // The event source.
    let sqs_events = c.events(DELIVER.logical_id, "SQS");
    let [(event, e)] = sqs_events.as_slice() else {
        c.fail(format!("DeliverFunction must have exactly one SQS event, not {}", sqs_events.len()));
        return Some(Queues { delivery: queue.to_owned(), dead_letter: None });
    };
    if as_getatt(&e["Queue"]) != Some((queue, "Arn")) {
        c.fail(format!("DeliverFunction.{event}: Queue must be !GetAtt {queue}.Arn, not {}", e["Queue"]));
    }
    if e["FunctionResponseTypes"] != json!(["ReportBatchItemFailures"]) {
        c.fail(format!(
            "DeliverFunction.{event}: FunctionResponseTypes must be exactly [ReportBatchItemFailures], not {}",
            e["FunctionResponseTypes"]
        ));
    }
    let window = if e["MaximumBatchingWindowInSeconds"].is_null() {
        Some(0)
    } else {
        number(c.t, &e["MaximumBatchingWindowInSeconds"])
    };
    let window = match window {
        Some(w @ 0..=300) => w,
        other => {
            c.fail(format!(
                "DeliverFunction.{event}: MaximumBatchingWindowInSeconds must be 0..=300, not {other:?}"
            ));
            0
        }
    };
    let batch = if e["BatchSize"].is_null() { Some(10) } else { number(c.t, &e["BatchSize"]) };
    let batch_limit = if window > 0 { 10_000 } else { 10 };
    if !batch.is_some_and(|b| (1..=batch_limit).contains(&b)) {
        c.fail(format!(
            "DeliverFunction.{event}: BatchSize must be 1..={batch_limit} (batching window {window} s), not {batch:?}"
        ));
    }
    // A parameter, so operators size it per stack; SQS allows 2..=1000, which cfn-lint does not
    // check: the parameter's own bounds must keep every value it accepts in that range.
    let max_concurrency = &e["ScalingConfig"]["MaximumConcurrency"];
    match as_ref(max_concurrency).and_then(|name| parameter(c.t, name).map(|p| (name, p))) {
        None => c.fail(format!(
            "DeliverFunction.{event}: ScalingConfig.MaximumConcurrency must be a !Ref to a parameter, not {max_concurrency}"
        )),
        Some((name, p)) => {
            let bound = |field: &str| number(c.t, &p[field]);
            let (min, max, default) = (bound("MinValue"), bound("MaxValue"), bound("Default"));
            let in_range = |v: Option<u64>| v.is_some_and(|n| (2..=1000).contains(&n));
            if p["Type"] != "Number" || !in_range(min) || !in_range(max) || !in_range(default) || min > max {
                c.fail(format!(
                    "DeliverFunction.{event}: ScalingConfig.MaximumConcurrency's parameter {name} must be a Number with MinValue, MaxValue and Default within 2..=1000 (min {min:?}, max {max:?}, default {default:?})"
                ));
            }
        }
    }

    // Timeouts: deliver outlives its slowest send, the queue hides a message for 6 × that.
    let deliver_timeout = number(c.t, c.function_prop(DELIVER.logical_id, "Timeout")).unwrap_or(0);
    let env = c.environment(DELIVER.logical_id);
    let mut function_send = Duration::ZERO;
    if let Some(value) = env.get(config::DELIVERY_TIMEOUT) {
        match evaluate(c.t, value, "MaxValue").and_then(|s| parse_duration(&s)) {
            None => c.fail(format!(
                "DeliverFunction: {} needs a bounded value (a parameter with MaxValue) to size the Timeout",
                config::DELIVERY_TIMEOUT
            )),
            Some(send) => function_send = send,
        }
    }
    // A webhook's own timeout (checked at save) may be longer than the function's.
    let (send, whose) = if config::MAX_WEBHOOK_TIMEOUT > function_send {
        (config::MAX_WEBHOOK_TIMEOUT, "a webhook's own timeout may reach")
    } else {
        (function_send, config::DELIVERY_TIMEOUT)
    };
    if deliver_timeout < send.as_secs() + DELIVER_TIMEOUT_MARGIN {
        c.fail(format!(
            "DeliverFunction: Timeout {deliver_timeout} s must be ≥ the largest delivery timeout ({whose} {} s) + {DELIVER_TIMEOUT_MARGIN} s",
            send.as_secs()
        ));
    }
    let visibility = number(c.t, &q["VisibilityTimeout"]).unwrap_or(30);
    if visibility < 6 * deliver_timeout + window || visibility > SQS_MAX_VISIBILITY {
        c.fail(format!(
            "{queue}: VisibilityTimeout {visibility} s must be ≥ 6 × DeliverFunction's Timeout ({deliver_timeout} s) + batching window ({window} s) and ≤ 12 h"
        ));
    }

    // Retention and redrive against the retry schedule.
    let parameter_schedule =
        evaluate(c.t, &json!({"Ref": "RetrySchedule"}), "Default").map(|s| RetrySchedule::parse(&s));
    let schedules = match parameter_schedule {
        Some(Ok(s)) => vec![RetrySchedule::default(), s],
        Some(Err(e)) => {
            c.fail(format!("parameter RetrySchedule's default does not parse: {e}"));
            vec![RetrySchedule::default()]
        }
        None => vec![RetrySchedule::default()],
    };
    let retention = number(c.t, &q["MessageRetentionPeriod"]).unwrap_or(345_600);
    if retention != FOURTEEN_DAYS {
        c.fail(format!("{queue}: MessageRetentionPeriod must be 1209600 (14 days), not {retention}"));
    }
    for s in &schedules {
        if Duration::from_secs(retention) <= s.total() + Duration::from_secs(visibility) {
            c.fail(format!(
                "{queue}: retention {retention} s is shorter than a retry schedule ({:?})",
                s.total()
            ));
        }
    }
    let redrive = &q["RedrivePolicy"];
    let dead_letter = match as_getatt(&redrive["deadLetterTargetArn"]) {
        Some((dlq, "Arn")) if c.resource_type(dlq) == Some("AWS::SQS::Queue") && dlq != queue => {
            Some(dlq.to_owned())
        }
        _ => {
            c.fail(format!(
                "{queue}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <dead-letter queue>.Arn"
            ));
            None
        }
    };
    let max_receive = number(c.t, &redrive["maxReceiveCount"]).unwrap_or(0);
    if max_receive != u64::from(config::MAX_RECEIVE_COUNT) {
        c.fail(format!(
            "{queue}: maxReceiveCount {max_receive} must be {}, the bound webhooks' own retry schedules are checked against when saved",
            config::MAX_RECEIVE_COUNT
        ));
    }
    for s in &schedules {
        if u64::from(s.max_attempts()) >= max_receive {
            c.fail(format!(
                "{queue}: maxReceiveCount {max_receive} must exceed the retry schedule's {} attempts, or deliveries reach the dead-letter queue before their last try",
                s.max_attempts()
            ));
        }
    }
    if let Some(dlq) = &dead_letter
        && number(c.t, &c.props(dlq)["MessageRetentionPeriod"]) != Some(FOURTEEN_DAYS)
    {
        c.fail(format!("{dlq}: MessageRetentionPeriod must be 1209600 (14 days)"));
    }
    Some(Queues { delivery: queue.to_owned(), dead_letter })
}

pub fn check_alarms(c: &mut Checker<'_>, queues: Option<&Queues>) {
    let alarms: Vec<&Value> = c.t["Resources"]
        .as_object()
        .map(|r| {
            r.values().filter(|r| r["Type"] == "AWS::CloudWatch::Alarm").map(|r| &r["Properties"]).collect()
        })
        .unwrap_or_default();
    let fires_above_zero = |a: &Value| {
        a["ComparisonOperator"] == "GreaterThanThreshold" && number(c.t, &a["Threshold"]) == Some(0)
    };
    if let Some(dlq) = queues.and_then(|q| q.dead_letter.as_deref()) {
        let watched = alarms.iter().any(|a| {
            a["Namespace"] == "AWS/SQS"
                && a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && fires_above_zero(a)
                && mentions(&a["Dimensions"], dlq)
        });
        if !watched {
            c.fail(format!("no alarm on {dlq} ApproximateNumberOfMessagesVisible > 0"));
        }
    }
    let watched = alarms.iter().any(|a| {
        a["Namespace"] == "AWS/Lambda"
            && a["MetricName"] == "Errors"
            && fires_above_zero(a)
            && mentions(&a["Dimensions"], DELIVER.logical_id)
    });
    if !watched {
        c.fail("no alarm on DeliverFunction Errors > 0");
    }
    for alarm in &alarms {
        for (name, dimensions) in patchbay_metrics(alarm) {
            check_emitted(c, "alarm on", &name, dimensions.into_iter().map(|(n, _)| n).collect());
        }
    }
    let watched = alarms.iter().any(|a| {
        let used = patchbay_metrics(a);
        let uses = |metric: &str| used.iter().any(|(name, dims)| name == metric && dims.is_empty());
        uses(catalog::DELIVERY_FAILED)
            && uses(catalog::DELIVERY_SUCCEEDED)
            && a["Metrics"].as_array().is_some_and(|ms| {
                ms.iter().any(|m| m["Expression"].as_str().is_some_and(|e| e.contains('/')))
            })
            && a["ComparisonOperator"] == "GreaterThanThreshold"
            && number(c.t, &a["Threshold"]).is_some_and(|t| t > 0)
    });
    if !watched {
        c.fail("no alarm on the delivery failure rate (DeliveryFailed / (DeliveryFailed + DeliverySucceeded) above a threshold)");
    }
    let watched = alarms.iter().any(|a| {
        a["Namespace"] == metrics::NAMESPACE
            && a["MetricName"] == catalog::KEY_CHECK
            && a["Dimensions"] == json!([{"Name": catalog::STATUS, "Value": "503"}])
            && fires_above_zero(a)
    });
    if !watched {
        c.fail("no alarm on KeyCheck Status=503 > 0");
    }
}

/// The Patchbay metrics an alarm reads, with their dimensions (name, value), sorted: its own
/// metric, or those of its metric-math `Metrics`.
pub fn patchbay_metrics(alarm: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let single = std::iter::once(alarm);
    let math = alarm["Metrics"].as_array().into_iter().flatten().map(|m| &m["MetricStat"]["Metric"]);
    single
        .chain(math)
        .filter(|m| m["Namespace"] == metrics::NAMESPACE)
        .map(|m| {
            let mut dimensions: Vec<(String, String)> = m["Dimensions"]
                .as_array()
                .map(|ds| {
                    ds.iter()
                        .map(|d| {
                            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (text(&d["Name"]), text(&d["Value"]))
                        })
                        .collect()
                })
                .unwrap_or_default();
            dimensions.sort();
            (m["MetricName"].as_str().unwrap_or_default().to_owned(), dimensions)
        })
        .collect()
}

/// A Patchbay metric in an alarm or on the dashboard must be one the code emits (EMF,
/// `metrics::catalog`), with exactly one of the dimension sets it is kept under: any other
/// combination has no data, and such an alarm would never fire.
pub fn check_emitted(c: &mut Checker<'_>, what: &str, name: &str, mut dimensions: Vec<String>) {
    dimensions.sort_unstable();
    let emitted =
        catalog::DIMENSION_SETS.iter().find(|(metric, _)| *metric == name).is_some_and(|(_, sets)| {
            sets.iter().any(|set| {
                let mut set = set.to_vec();
                set.sort_unstable();
                set == dimensions
            })
        });
    if !emitted {
        c.fail(format!(
            "{what} {}/{name} by {dimensions:?}: the code emits no such metric (metrics::catalog)",
            metrics::NAMESPACE
        ));
    }
}
