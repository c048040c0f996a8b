//! `infra/template.yaml` against the code. cfn-lint checks the template's CloudFormation
//! schema (run by `scripts/test`); this checks what it cannot know or does not check:
//!
//! * each function sets exactly the environment its config reads
//!   (`patchbay_core::config::*_VARIABLES`), the template's parameter defaults build a config
//!   the code accepts, and they equal the code's own defaults;
//! * secrets reach the functions as Secrets Manager names read through the Parameters and
//!   Secrets extension layer, never as values in the environment;
//! * the tables have the key schemas, index and TTL attribute the DynamoDB adapters use;
//! * runtime, architecture, handler and `CodeUri` match `cargo lambda build --arm64` output;
//! * the deliver event source: `ReportBatchItemFailures`, batch size, batching window,
//!   maximum concurrency (values SAM and cfn-lint let through);
//! * the queue: visibility ≥ 6 × deliver's timeout, the dead-letter queue's `maxReceiveCount`
//!   above the retry schedule's attempts, retention longer than the schedule;
//! * the routes reach the right function, and the key check is throttled;
//! * the alarms (failure rate, DLQ depth, key-check 503) and the dashboard read metrics the
//!   code emits, and the dashboard shows every alarm;
//! * least privilege: no keys table for ingest, no queue for license-check, no wildcards,
//!   `secretsmanager:GetSecretValue` on exactly each function's own secrets.
//!
//! `template_matches_the_code` checks the real template; `mutations` breaks copies of it.

mod cfn;
mod checker;
mod dashboard;
mod env_drift;
mod iam;
mod key_schemas;
mod mutations;
mod routes;
mod sam_values;
mod secrets;

use patchbay_core::config::{DELIVER_VARIABLES, INGEST_VARIABLES, LICENSE_CHECK_VARIABLES, Need};
use serde_json::Value;

use crate::cfn::{parameter, parse};
use crate::checker::{Checker, Problem};

const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

struct Function {
    logical_id: &'static str,
    /// The binary, `cargo lambda build`'s `target/lambda/<name>/` directory and the crate.
    name: &'static str,
    variables: &'static [(&'static str, Need)],
}

const INGEST: Function =
    Function { logical_id: "IngestFunction", name: "ingest", variables: INGEST_VARIABLES };
const DELIVER: Function =
    Function { logical_id: "DeliverFunction", name: "deliver", variables: DELIVER_VARIABLES };
const LICENSE_CHECK: Function = Function {
    logical_id: "LicenseCheckFunction",
    name: "license-check",
    variables: LICENSE_CHECK_VARIABLES,
};
const FUNCTIONS: [&Function; 3] = [&INGEST, &DELIVER, &LICENSE_CHECK];

const PARAMETERS: &[&str] = &[
    "IngestSecretName",
    "AdminTokenName",
    "VerdictKeyName",
    "SecretsRefresh",
    "SecretsExtensionAccount",
    "SecretsExtensionVersion",
    "RetrySchedule",
    "DeliveryTimeoutSeconds",
    "AllowCidrs",
    "AttemptRetention",
    "AutoDisableAfter",
    "LogLevel",
    "KeyCheckEndpoint",
    "KeyCheckThrottleRate",
    "KeyCheckThrottleBurst",
    "KeyCheckReservedConcurrency",
    "KeyRegistrationsPerHour",
];
const OUTPUTS: &[&str] = &["ApiUrl", "KeyCheckUrl", "DeliveryQueueUrl", "DeadLetterQueueUrl"];

fn template() -> Value {
    parse(TEMPLATE)
}

/// Every way `t` has drifted from the code.
fn check(t: &Value) -> Vec<Problem> {
    let mut c = Checker::new(t);
    for f in FUNCTIONS {
        sam_values::check_function(&mut c, f);
        env_drift::check_environment(&mut c, f);
    }
    env_drift::check_defaults(&mut c);
    secrets::check_environment(&mut c);
    secrets::check_policies(&mut c);
    let main_table = key_schemas::check_tables(&mut c);
    let queues = sam_values::check_queue(&mut c);
    iam::check_policies(&mut c, main_table.as_deref(), queues.as_ref());
    routes::check_routes(&mut c);
    routes::check_function_url(&mut c);
    sam_values::check_alarms(&mut c, queues.as_ref());
    dashboard::check_dashboard(&mut c);
    for name in PARAMETERS {
        if parameter(t, name).is_none() {
            c.fail(format!("parameter {name} is missing"));
        }
    }
    for name in OUTPUTS {
        if t["Outputs"].get(*name).is_none() {
            c.fail(format!("output {name} is missing"));
        }
    }
    c.problems
}

#[test]
fn template_matches_the_code() {
    let problems: Vec<String> = check(&template()).into_iter().map(|p| p.message).collect();
    assert!(
        problems.is_empty(),
        "infra/template.yaml has drifted from the code:\n  {}",
        problems.join("\n  ")
    );
}
