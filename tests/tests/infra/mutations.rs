//! Each check keeps its teeth: a copy of the template broken one way at a time must draw the
//! expected complaint, and every failure check of the checker must be drawn by some mutation.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::Location;

use serde_json::{Map, Value, json};

use crate::checker::Problem;
use crate::{check, template};

type Mutation = fn(&mut Value);

fn props_mut<'a>(t: &'a mut Value, id: &str) -> &'a mut Value {
    &mut t["Resources"][id]["Properties"]
}

fn env_mut<'a>(t: &'a mut Value, id: &str) -> &'a mut Map<String, Value> {
    props_mut(t, id)["Environment"]["Variables"].as_object_mut().expect("Environment.Variables")
}

fn sqs_event_mut(t: &mut Value) -> &mut Value {
    let events = props_mut(t, "DeliverFunction")["Events"].as_object_mut().expect("Events");
    let (_, e) = events.iter_mut().find(|(_, e)| e["Type"] == "SQS").expect("an SQS event");
    &mut e["Properties"]
}

/// Edit the dashboard's body text (the JSON inside its `!Sub`).
fn edit_dashboard(t: &mut Value, from: &str, to: &str) {
    let body = &mut props_mut(t, "OperationsDashboard")["DashboardBody"]["Fn::Sub"];
    let text = body.as_str().expect("a !Sub body").to_owned();
    assert!(text.contains(from), "the dashboard has no {from:?}");
    *body = json!(text.replace(from, to));
}

fn role_statements_mut<'a>(t: &'a mut Value, role: &str) -> &'a mut Vec<Value> {
    props_mut(t, role)["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut().expect("statements")
}

/// `{{resolve:secretsmanager:${parameter}}}`: a secret's value, resolved at deploy time.
fn dynamic_reference(parameter: &str) -> Value {
    json!({ "Fn::Sub": format!("{{{{resolve:secretsmanager:${{{parameter}}}}}}}") })
}

/// The ARN of the secret a parameter names, ending in `suffix`.
fn secret_arn(parameter: &str, suffix: &str) -> Value {
    json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{{parameter}}}{suffix}") })
}

#[test]
fn each_drift_is_caught() {
    let mutations: &[(&str, Mutation, &str)] = &[
        (
            "required variable missing",
            |t| {
                env_mut(t, "IngestFunction").remove("PATCHBAY_TABLE");
            },
            "PATCHBAY_TABLE",
        ),
        (
            "variable the code ignores",
            |t| {
                env_mut(t, "IngestFunction")
                    .insert("PATCHBAY_KEYS_TABLE".into(), json!({"Ref": "KeysTable"}));
            },
            "does not read",
        ),
        (
            "RUST_LOG instead of LoggingConfig",
            |t| {
                env_mut(t, "DeliverFunction").insert("RUST_LOG".into(), json!("info"));
            },
            "RUST_LOG",
        ),
        (
            "store not aws",
            |t| {
                env_mut(t, "LicenseCheckFunction").insert("PATCHBAY_STORE".into(), json!("sqlite:/tmp/x.db"));
            },
            "PATCHBAY_STORE",
        ),
        // secrets
        (
            "secret value resolved into the environment",
            |t| {
                env_mut(t, "IngestFunction")
                    .insert("PATCHBAY_INGEST_SECRET".into(), dynamic_reference("IngestSecretName"));
            },
            "IngestFunction: sets PATCHBAY_INGEST_SECRET, a secret's value; set PATCHBAY_INGEST_SECRET_ID to the secret's name instead",
        ),
        (
            "dynamic reference in another variable",
            |t| {
                env_mut(t, "LicenseCheckFunction")
                    .insert("PATCHBAY_ADMIN_TOKEN_ID".into(), dynamic_reference("AdminTokenName"));
            },
            "LicenseCheckFunction: PATCHBAY_ADMIN_TOKEN_ID resolves a secret into the environment, where lambda:GetFunctionConfiguration shows it",
        ),
        (
            "secret id hard-coded",
            |t| {
                env_mut(t, "IngestFunction")
                    .insert("PATCHBAY_ADMIN_TOKEN_ID".into(), json!("patchbay/admin-token"));
            },
            "IngestFunction: PATCHBAY_ADMIN_TOKEN_ID must be !Ref to a parameter naming the secret, not \"patchbay/admin-token\"",
        ),
        (
            "extension layer missing",
            |t| {
                props_mut(t, "LicenseCheckFunction").as_object_mut().expect("props").remove("Layers");
            },
            "LicenseCheckFunction: reads secrets through the Parameters and Secrets extension but has no :layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64: layer",
        ),
        (
            "x86_64 extension layer",
            |t| {
                props_mut(t, "IngestFunction")["Layers"] = json!([{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${SecretsExtensionAccount}:layer:AWS-Parameters-and-Secrets-Lambda-Extension:${SecretsExtensionVersion}"}]);
            },
            "IngestFunction: reads secrets through the Parameters and Secrets extension but has no :layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64: layer",
        ),
        (
            "secrets refresh default drifts",
            |t| t["Parameters"]["SecretsRefresh"]["Default"] = json!("10m"),
            "parameter SecretsRefresh's default differs from DEFAULT_SECRETS_REFRESH",
        ),
        (
            "secretsmanager action beyond reading",
            |t| {
                role_statements_mut(t, "IngestRole").push(json!({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], "Resource": secret_arn("AdminTokenName", "-??????")}));
            },
            "IngestFunction: secretsmanager actions must be exactly secretsmanager:GetSecretValue, not secretsmanager:PutSecretValue",
        ),
        (
            "deliver may read every secret",
            |t| {
                role_statements_mut(t, "DeliverRole").push(
                    json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
                );
            },
            "DeliverFunction: secretsmanager:GetSecretValue on \"*\", which names none of its secrets",
        ),
        (
            "secret resource by prefix",
            |t| {
                for s in role_statements_mut(t, "LicenseCheckRole") {
                    if s["Sid"] == "ReadAdminToken" {
                        s["Resource"] = secret_arn("AdminTokenName", "*");
                    }
                }
            },
            "LicenseCheckFunction: secret resource arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AdminTokenName}* must end in ${Name}-?????? (the ARN's random suffix), so no other secret matches",
        ),
        (
            "license-check may read the ingest secret",
            |t| {
                role_statements_mut(t, "LicenseCheckRole").push(json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn("IngestSecretName", "-??????")}));
            },
            "LicenseCheckFunction: may read secret IngestSecretName, which it does not use",
        ),
        (
            "license-check cannot read the admin token",
            |t| role_statements_mut(t, "LicenseCheckRole").retain(|s| s["Sid"] != "ReadAdminToken"),
            "LicenseCheckFunction: cannot read its secret AdminTokenName (no secretsmanager:GetSecretValue on it)",
        ),
        (
            "optional variable hard-coded",
            |t| {
                env_mut(t, "DeliverFunction").insert("PATCHBAY_RETRY_SCHEDULE".into(), json!("1m,1h"));
            },
            "template parameter",
        ),
        ("runtime", |t| props_mut(t, "IngestFunction")["Runtime"] = json!("provided.al2"), "provided.al2023"),
        (
            "runtime typo",
            |t| props_mut(t, "DeliverFunction")["Runtime"] = json!("provided.al2023x"),
            "provided.al2023",
        ),
        ("architecture", |t| props_mut(t, "DeliverFunction")["Architectures"] = json!(["x86_64"]), "arm64"),
        ("handler", |t| props_mut(t, "LicenseCheckFunction")["Handler"] = json!("main"), "bootstrap"),
        (
            "code uri",
            |t| props_mut(t, "LicenseCheckFunction")["CodeUri"] = json!("../target/lambda/license_check/"),
            "CodeUri",
        ),
        (
            "response types typo",
            |t| sqs_event_mut(t)["FunctionResponseTypes"] = json!(["ReportBatchItemFailure"]),
            "FunctionResponseTypes",
        ),
        (
            "response types missing",
            |t| {
                sqs_event_mut(t).as_object_mut().expect("props").remove("FunctionResponseTypes");
            },
            "FunctionResponseTypes",
        ),
        (
            "batch size over 10 without window",
            |t| {
                sqs_event_mut(t)["BatchSize"] = json!(11);
                sqs_event_mut(t)["MaximumBatchingWindowInSeconds"] = json!(0);
            },
            "BatchSize",
        ),
        ("batch size over 10000", |t| sqs_event_mut(t)["BatchSize"] = json!(10_001), "BatchSize"),
        ("batch size 0", |t| sqs_event_mut(t)["BatchSize"] = json!(0), "BatchSize"),
        (
            "maximum concurrency not a parameter",
            |t| sqs_event_mut(t)["ScalingConfig"]["MaximumConcurrency"] = json!(10),
            "MaximumConcurrency",
        ),
        (
            "maximum concurrency parameter allows 1",
            |t| t["Parameters"]["DeliverMaxConcurrency"]["MinValue"] = json!(1),
            "MaximumConcurrency",
        ),
        (
            "maximum concurrency parameter allows 1001",
            |t| t["Parameters"]["DeliverMaxConcurrency"]["MaxValue"] = json!(1001),
            "MaximumConcurrency",
        ),
        (
            "maximum concurrency parameter unbounded",
            |t| {
                t["Parameters"]["DeliverMaxConcurrency"]
                    .as_object_mut()
                    .expect("parameter")
                    .remove("MaxValue");
            },
            "MaximumConcurrency",
        ),
        (
            "visibility under 6x",
            |t| props_mut(t, "DeliveryQueue")["VisibilityTimeout"] = json!(1000),
            "VisibilityTimeout",
        ),
        (
            "deliver timeout too short for a send",
            |t| {
                props_mut(t, "DeliverFunction")["Timeout"] = json!(60);
            },
            "largest delivery timeout",
        ),
        (
            "deliver timeout too short for a webhook's own timeout",
            |t| {
                t["Parameters"]["DeliveryTimeoutSeconds"]["MaxValue"] = json!(10);
                props_mut(t, "DeliverFunction")["Timeout"] = json!(60);
            },
            "a webhook's own timeout may reach 60 s",
        ),
        (
            "maxReceiveCount other than the one webhook schedules are checked against",
            |t| props_mut(t, "DeliveryQueue")["RedrivePolicy"]["maxReceiveCount"] = json!(25),
            "the bound webhooks' own retry schedules are checked against",
        ),
        (
            "maxReceiveCount at the attempts",
            |t| props_mut(t, "DeliveryQueue")["RedrivePolicy"]["maxReceiveCount"] = json!(14),
            "maxReceiveCount",
        ),
        (
            "retry schedule parameter longer than the redrive",
            |t| {
                t["Parameters"]["RetrySchedule"]["Default"] = json!(vec!["1m"; 25].join(","));
            },
            "maxReceiveCount",
        ),
        (
            "retry schedule parameter unparseable",
            |t| t["Parameters"]["RetrySchedule"]["Default"] = json!("30s,forever"),
            "RetrySchedule",
        ),
        (
            "retry schedule default drifts from the code",
            |t| t["Parameters"]["RetrySchedule"]["Default"] = json!("30s,2m"),
            "RetrySchedule::default",
        ),
        (
            "delivery timeout default drifts",
            |t| t["Parameters"]["DeliveryTimeoutSeconds"]["Default"] = json!(10),
            "SendConfig::default",
        ),
        (
            "queue retention",
            |t| props_mut(t, "DeliveryQueue")["MessageRetentionPeriod"] = json!(345_600),
            "MessageRetentionPeriod",
        ),
        (
            "main table range key",
            |t| props_mut(t, "MainTable")["KeySchema"][1]["AttributeName"] = json!("SK"),
            "KeySchema",
        ),
        (
            "gsi name",
            |t| props_mut(t, "MainTable")["GlobalSecondaryIndexes"][0]["IndexName"] = json!("GSI1"),
            "GSI",
        ),
        (
            "gsi projection",
            |t| {
                props_mut(t, "MainTable")["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] =
                    json!("KEYS_ONLY");
            },
            "GSI",
        ),
        (
            "ttl attribute",
            |t| props_mut(t, "MainTable")["TimeToLiveSpecification"]["AttributeName"] = json!("ttl"),
            "TTL",
        ),
        (
            "ttl disabled",
            |t| props_mut(t, "MainTable")["TimeToLiveSpecification"]["Enabled"] = json!(false),
            "TTL",
        ),
        (
            "keys table range key",
            |t| {
                let p = props_mut(t, "KeysTable");
                p["KeySchema"]
                    .as_array_mut()
                    .expect("keys")
                    .push(json!({"AttributeName": "app_id", "KeyType": "RANGE"}));
                p["AttributeDefinitions"]
                    .as_array_mut()
                    .expect("defs")
                    .push(json!({"AttributeName": "app_id", "AttributeType": "S"}));
            },
            "KeySchema",
        ),
        (
            "provisioned billing",
            |t| props_mut(t, "KeysTable")["BillingMode"] = json!("PROVISIONED"),
            "PAY_PER_REQUEST",
        ),
        (
            "no PITR",
            |t| {
                props_mut(t, "MainTable")
                    .as_object_mut()
                    .expect("props")
                    .remove("PointInTimeRecoverySpecification");
            },
            "point-in-time",
        ),
        (
            "ingest may read keys",
            |t| {
                role_statements_mut(t, "IngestRole").push(json!({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["KeysTable", "Arn"]}}));
            },
            "keys table",
        ),
        (
            "license-check may send",
            |t| {
                role_statements_mut(t, "LicenseCheckRole").push(json!({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}}));
            },
            "queue",
        ),
        (
            "license-check writes the main table",
            |t| {
                role_statements_mut(t, "LicenseCheckRole").push(json!({"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": {"Fn::GetAtt": ["MainTable", "Arn"]}}));
            },
            "GetItem and Query only",
        ),
        (
            "ingest may receive",
            |t| {
                role_statements_mut(t, "IngestRole").push(json!({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}}));
            },
            "sqs:SendMessage",
        ),
        (
            "wildcard action",
            |t| {
                role_statements_mut(t, "DeliverRole").push(json!({"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["MainTable", "Arn"]}}));
            },
            "wildcard",
        ),
        (
            "SAM role with an SQS event",
            |t| {
                props_mut(t, "DeliverFunction").as_object_mut().expect("props").remove("Role");
            },
            "AWSLambdaSQSQueueExecutionRole",
        ),
        (
            "key route to ingest",
            |t| {
                let events = props_mut(t, "LicenseCheckFunction")["Events"].as_object_mut().expect("events");
                let block = events.remove("BlockKey").expect("BlockKey event");
                props_mut(t, "IngestFunction")["Events"]["BlockKey"] = block;
            },
            "must reach LicenseCheckFunction",
        ),
        (
            "route removed",
            |t| {
                props_mut(t, "LicenseCheckFunction")["Events"]
                    .as_object_mut()
                    .expect("events")
                    .remove("ImportKeys");
            },
            "/v1/apps/app_1/keys/import",
        ),
        (
            "key check not throttled",
            |t| {
                let events = props_mut(t, "LicenseCheckFunction")["Events"].as_object_mut().expect("events");
                let (_, e) = events
                    .iter_mut()
                    .find(|(_, e)| e["Properties"]["Path"] == "/v2/keys/{key}")
                    .expect("key check");
                e["Properties"].as_object_mut().expect("props").remove("RouteSettings");
            },
            "RouteSettings",
        ),
        (
            "no DLQ alarm",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("DeadLetterQueueAlarm");
            },
            "alarm",
        ),
        (
            "parameter missing",
            |t| {
                t["Parameters"].as_object_mut().expect("parameters").remove("KeyCheckEndpoint");
            },
            "KeyCheckEndpoint",
        ),
        (
            "output missing",
            |t| {
                t["Outputs"].as_object_mut().expect("outputs").remove("DeadLetterQueueUrl");
            },
            "output DeadLetterQueueUrl is missing",
        ),
        // sam_values: each function's own settings
        (
            "function replaced by a plain Lambda function",
            |t| t["Resources"]["IngestFunction"]["Type"] = json!("AWS::Lambda::Function"),
            "IngestFunction is missing or not an AWS::Serverless::Function",
        ),
        (
            "text logs",
            |t| props_mut(t, "DeliverFunction")["LoggingConfig"]["LogFormat"] = json!("Text"),
            "DeliverFunction: LoggingConfig must have LogFormat JSON and ApplicationLogLevel !Ref LogLevel",
        ),
        (
            "log level hard-coded",
            |t| props_mut(t, "IngestFunction")["LoggingConfig"]["ApplicationLogLevel"] = json!("DEBUG"),
            "IngestFunction: LoggingConfig must have LogFormat JSON and ApplicationLogLevel !Ref LogLevel",
        ),
        (
            "memory size",
            |t| props_mut(t, "LicenseCheckFunction")["MemorySize"] = json!(2048),
            "LicenseCheckFunction: MemorySize should be 128..=1024 MB, not Some(2048)",
        ),
        (
            "timeout over Lambda's maximum",
            |t| props_mut(t, "IngestFunction")["Timeout"] = json!(901),
            "IngestFunction: Timeout must be 1..=900 s, not Some(901)",
        ),
        // env_drift
        (
            "required variable empty",
            |t| {
                env_mut(t, "IngestFunction").insert("PATCHBAY_TABLE".into(), json!(""));
            },
            "IngestFunction: PATCHBAY_TABLE is Required but set to an empty string",
        ),
        (
            "table variable not a reference",
            |t| {
                env_mut(t, "DeliverFunction").insert("PATCHBAY_TABLE".into(), json!("patchbay-main"));
            },
            "DeliverFunction: PATCHBAY_TABLE must be a !Ref to a AWS::DynamoDB::Table in the template",
        ),
        (
            "ingest rejects a default",
            |t| t["Parameters"]["AttemptRetention"]["Default"] = json!("forever"),
            "IngestFunction: the code rejects the template's defaults",
        ),
        (
            "deliver rejects a default",
            |t| t["Parameters"]["AutoDisableAfter"]["Default"] = json!("soon"),
            "DeliverFunction: the code rejects the template's defaults",
        ),
        (
            "license-check rejects its environment",
            |t| {
                env_mut(t, "LicenseCheckFunction").remove("PATCHBAY_KEYS_TABLE");
            },
            "LicenseCheckFunction: the code rejects the template's defaults",
        ),
        (
            "auto-disable default drifts",
            |t| t["Parameters"]["AutoDisableAfter"]["Default"] = json!("6d"),
            "parameter AutoDisableAfter's default differs from the code's default",
        ),
        // key_schemas
        (
            "functions on different main tables",
            |t| {
                let copy = t["Resources"]["MainTable"].clone();
                t["Resources"]["OtherTable"] = copy;
                env_mut(t, "DeliverFunction").insert("PATCHBAY_TABLE".into(), json!({"Ref": "OtherTable"}));
            },
            "PATCHBAY_TABLE point at different tables",
        ),
        (
            "main table attribute definitions",
            |t| {
                props_mut(t, "MainTable")["AttributeDefinitions"]
                    .as_array_mut()
                    .expect("defs")
                    .push(json!({"AttributeName": "status", "AttributeType": "S"}));
            },
            "MainTable: AttributeDefinitions must be exactly",
        ),
        (
            "keys table is the main table",
            |t| {
                env_mut(t, "LicenseCheckFunction")
                    .insert("PATCHBAY_KEYS_TABLE".into(), json!({"Ref": "MainTable"}));
            },
            "the keys table must not be the main table",
        ),
        (
            "keys table key is a number",
            |t| props_mut(t, "KeysTable")["AttributeDefinitions"][0]["AttributeType"] = json!("N"),
            "KeysTable: AttributeDefinitions must be exactly key (S)",
        ),
        (
            "keys table with the main table's index",
            |t| {
                let index = props_mut(t, "MainTable")["GlobalSecondaryIndexes"].clone();
                props_mut(t, "KeysTable")["GlobalSecondaryIndexes"] = index;
            },
            "KeysTable: must have exactly one GSI, by_collection",
        ),
        (
            "keys table index projecting every attribute",
            |t| {
                props_mut(t, "KeysTable")["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] =
                    json!("ALL");
            },
            "projection KEYS_ONLY",
        ),
        // sam_values: the queue and the deliver event source
        (
            "ingest sends to the dead-letter queue",
            |t| {
                env_mut(t, "IngestFunction")
                    .insert("PATCHBAY_QUEUE_URL".into(), json!({"Ref": "DeadLetterQueue"}));
            },
            "ingest and deliver use different queues",
        ),
        (
            "FIFO queue",
            |t| props_mut(t, "DeliveryQueue")["FifoQueue"] = json!(true),
            "DeliveryQueue: must be a standard queue",
        ),
        (
            "second SQS event",
            |t| {
                let events = props_mut(t, "DeliverFunction")["Events"].as_object_mut().expect("events");
                let copy = events["Deliveries"].clone();
                events.insert("MoreDeliveries".into(), copy);
            },
            "DeliverFunction must have exactly one SQS event, not 2",
        ),
        (
            "deliver consumes the dead-letter queue",
            |t| sqs_event_mut(t)["Queue"] = json!({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}),
            "DeliverFunction.Deliveries: Queue must be !GetAtt DeliveryQueue.Arn",
        ),
        (
            "batching window over 300 s",
            |t| sqs_event_mut(t)["MaximumBatchingWindowInSeconds"] = json!(301),
            "DeliverFunction.Deliveries: MaximumBatchingWindowInSeconds must be 0..=300, not Some(301)",
        ),
        (
            "delivery timeout unbounded",
            |t| {
                t["Parameters"]["DeliveryTimeoutSeconds"]
                    .as_object_mut()
                    .expect("parameter")
                    .remove("MaxValue");
            },
            "needs a bounded value (a parameter with MaxValue) to size the Timeout",
        ),
        (
            "retry schedule longer than the retention",
            |t| t["Parameters"]["RetrySchedule"]["Default"] = json!(vec!["12h"; 30].join(",")),
            "is shorter than a retry schedule",
        ),
        (
            "queue redrives to itself",
            |t| {
                props_mut(t, "DeliveryQueue")["RedrivePolicy"]["deadLetterTargetArn"] =
                    json!({"Fn::GetAtt": ["DeliveryQueue", "Arn"]});
            },
            "DeliveryQueue: RedrivePolicy.deadLetterTargetArn must be !GetAtt <dead-letter queue>.Arn",
        ),
        (
            "dead-letter queue retention",
            |t| props_mut(t, "DeadLetterQueue")["MessageRetentionPeriod"] = json!(345_600),
            "DeadLetterQueue: MessageRetentionPeriod must be 1209600 (14 days)",
        ),
        (
            "no errors alarm",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("DeliverErrorsAlarm");
            },
            "no alarm on DeliverFunction Errors > 0",
        ),
        (
            "no key-check unavailable alarm",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("KeyCheckUnavailableAlarm");
            },
            "no alarm on KeyCheck Status=503 > 0",
        ),
        (
            "alarm on a metric the code does not emit",
            |t| props_mut(t, "KeyCheckUnavailableAlarm")["MetricName"] = json!("KeyChecks"),
            "the code emits no such metric",
        ),
        (
            "no failure-rate alarm",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("DeliveryFailureRateAlarm");
            },
            "no alarm on the delivery failure rate",
        ),
        (
            "failure rate on a metric the code does not emit",
            |t| {
                props_mut(t, "DeliveryFailureRateAlarm")["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] =
                    json!("DeliveriesFailed");
            },
            "alarm on Patchbay/DeliveriesFailed by []: the code emits no such metric",
        ),
        (
            "no dashboard",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("OperationsDashboard");
            },
            "no AWS::CloudWatch::Dashboard",
        ),
        (
            "dashboard body not JSON",
            |t| edit_dashboard(t, "\"widgets\":", "widgets:"),
            "OperationsDashboard: DashboardBody is not JSON",
        ),
        (
            "dashboard plots a metric the code does not emit",
            |t| {
                edit_dashboard(
                    t,
                    "[\"Patchbay\", \"DeliveryRetried\"]",
                    "[\"Patchbay\", \"DeliveryRetries\"]",
                );
            },
            "dashboard plots Patchbay/DeliveryRetries by []: the code emits no such metric",
        ),
        (
            "dashboard plots a dimension the metric does not carry",
            |t| {
                edit_dashboard(
                    t,
                    "[\"Patchbay\", \"KeyCheck\", \"Status\", \"404\"]",
                    "[\"Patchbay\", \"KeyCheck\", \"StatusClass\", \"4xx\"]",
                );
            },
            "dashboard plots Patchbay/KeyCheck by [\"StatusClass\"]: the code emits no such metric",
        ),
        (
            "dashboard uses the shorthand",
            |t| edit_dashboard(t, "[\"Patchbay\", \"DeliveryFailed\"]", "[\".\", \"DeliveryFailed\"]"),
            "uses the \".\" shorthand",
        ),
        (
            "dashboard misses an alarm",
            |t| edit_dashboard(t, "\"${KeyCheckUnavailableAlarm.Arn}\", ", ""),
            "OperationsDashboard: does not show alarm KeyCheckUnavailableAlarm",
        ),
        (
            "dashboard misses what an alarm watches",
            |t| edit_dashboard(t, "\"Status\", \"503\"]", "\"Status\", \"403\"]"),
            "OperationsDashboard: plots no Patchbay/KeyCheck [(\"Status\", \"503\")], which KeyCheckUnavailableAlarm watches",
        ),
        (
            "alarm on a dimension the metric does not carry",
            |t| props_mut(t, "KeyCheckUnavailableAlarm")["Dimensions"][0]["Name"] = json!("StatusClass"),
            "the code emits no such metric",
        ),
        // iam
        (
            "role from another account",
            |t| props_mut(t, "IngestFunction")["Role"] = json!("arn:aws:iam::123456789012:role/ingest"),
            "IngestFunction: Role must be !GetAtt <an AWS::IAM::Role in this template>.Arn",
        ),
        (
            "broad managed policy",
            |t| {
                props_mut(t, "IngestRole")["ManagedPolicyArns"] =
                    json!(["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"]);
            },
            "IngestRole: managed policy arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess is broader than this function needs",
        ),
        (
            "Role and Policies both",
            |t| props_mut(t, "LicenseCheckFunction")["Policies"] = json!(["AWSLambdaBasicExecutionRole"]),
            "LicenseCheckFunction: has both Role and Policies; SAM ignores Policies then",
        ),
        (
            "role without statements",
            |t| props_mut(t, "LicenseCheckRole")["Policies"] = json!([]),
            "LicenseCheckFunction: no IAM statements found",
        ),
        (
            "Resource *",
            |t| {
                role_statements_mut(t, "DeliverRole")
                    .push(json!({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}));
            },
            "DeliverFunction: DynamoDB/SQS actions on Resource *",
        ),
        (
            "deliver may read keys",
            |t| {
                role_statements_mut(t, "DeliverRole").push(json!({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["KeysTable", "Arn"]}}));
            },
            "DeliverFunction's policies mention the keys table",
        ),
        (
            "deliver cannot change visibility",
            |t| {
                for statement in role_statements_mut(t, "DeliverRole") {
                    if let Some(actions) = statement["Action"].as_array_mut() {
                        actions.retain(|a| a != "sqs:ChangeMessageVisibility");
                    }
                }
            },
            "DeliverFunction: lacks sqs:ChangeMessageVisibility on the delivery queue",
        ),
        // routes
        (
            "duplicate route",
            |t| {
                let events = props_mut(t, "IngestFunction")["Events"].as_object_mut().expect("events");
                let copy = events["PostEvents"].clone();
                events.insert("PostEventsAgain".into(), copy);
            },
            "route POST /v1/events is defined twice",
        ),
        (
            "route on an API outside the template",
            |t| {
                props_mut(t, "IngestFunction")["Events"]["CreateApp"]["Properties"]["ApiId"] =
                    json!("abc123");
            },
            "IngestFunction.CreateApp: ApiId must be !Ref to the template's AWS::Serverless::HttpApi",
        ),
        (
            "routes on two APIs",
            |t| {
                let api = t["Resources"]["HttpApi"].clone();
                t["Resources"]["SecondHttpApi"] = api;
                props_mut(t, "IngestFunction")["Events"]["CreateApp"]["Properties"]["ApiId"] =
                    json!({"Ref": "SecondHttpApi"});
            },
            "all routes must be on one HTTP API",
        ),
        (
            "ambiguous route",
            |t| {
                props_mut(t, "IngestFunction")["Events"]["BlockWebhookKey"] = json!({"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "POST", "Path": "/v1/keys/{id}/block"}});
            },
            "POST /v1/keys/ABCD-1234/block: ambiguous routes",
        ),
        // routes: the Function URL
        (
            "Function URL on ingest",
            |t| {
                t["Resources"]["LicenseCheckFunctionUrl"]["Properties"]["TargetFunctionArn"] =
                    json!({"Fn::GetAtt": ["IngestFunction", "Arn"]});
            },
            "LicenseCheckFunctionUrl: only license-check gets a Function URL",
        ),
        (
            "Function URL config on deliver",
            |t| props_mut(t, "DeliverFunction")["FunctionUrlConfig"] = json!({"AuthType": "NONE"}),
            "DeliverFunction: only license-check gets a Function URL",
        ),
        (
            "Function URL without its condition",
            |t| {
                t["Resources"]["LicenseCheckFunctionUrl"].as_object_mut().expect("url").remove("Condition");
            },
            "LicenseCheckFunctionUrl: the Function URL must depend on KeyCheckEndpoint (a Condition)",
        ),
        (
            "Function URL permission missing",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("LicenseCheckUrlPermission");
            },
            "Function URL: needs a lambda:InvokeFunctionUrl permission (FunctionUrlAuthType NONE)",
        ),
        (
            "Function URL invoke permission missing",
            |t| {
                t["Resources"].as_object_mut().expect("resources").remove("LicenseCheckUrlInvokePermission");
            },
            "Function URL: needs a lambda:InvokeFunction permission (InvokedViaFunctionUrl true)",
        ),
        (
            "Function URL unthrottled",
            |t| {
                props_mut(t, "LicenseCheckFunction")
                    .as_object_mut()
                    .expect("props")
                    .remove("ReservedConcurrentExecutions");
            },
            "LicenseCheckFunction: ReservedConcurrentExecutions is the Function URL's throttle",
        ),
    ];
    let baseline = template();
    let mut missed = Vec::new();
    let mut reached = BTreeSet::new();
    let mut fired = BTreeSet::new();
    for (what, mutate, expected) in mutations {
        let mut t = baseline.clone();
        mutate(&mut t);
        let problems = check(&t);
        let caught: Vec<&Problem> = problems.iter().filter(|p| p.message.contains(expected)).collect();
        if caught.is_empty() {
            let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            missed.push(format!("{what}: expected a problem mentioning {expected:?}, got {messages:#?}"));
        }
        reached.extend(caught.iter().map(|p| check_site(p.check)));
        fired.extend(problems.iter().map(|p| check_site(p.check)));
    }
    assert!(missed.is_empty(), "drift the checks missed:\n{}", missed.join("\n"));

    let checks = failure_checks();
    let unreached: Vec<String> = checks
        .iter()
        .filter(|(site, _)| !reached.contains(*site))
        .map(|(site, line)| format!("{site}: {}", line.trim()))
        .collect();
    eprintln!(
        "the mutations reach {} of the checker's {} failure checks ({} fire, expected or not)",
        reached.len(),
        checks.len(),
        fired.len()
    );
    assert!(
        unreached.iter().all(|check| check.contains(MANIFEST_CHECK)),
        "failure checks no mutation reaches (add one above, expecting its message):\n{}",
        unreached.join("\n")
    );
}

/// The one check no template mutation can reach: it reads the function crates' manifests.
const MANIFEST_CHECK: &str = "Cargo.toml does not build a binary";

/// `file:line` of a `fail` call, the file named as in `failure_checks`.
fn check_site(location: &Location<'_>) -> String {
    let file = location.file().rsplit(['/', '\\']).next().unwrap_or_default();
    format!("{file}:{}", location.line())
}

/// Every `fail` call in the checker's sources: `file:line`, and that line.
fn failure_checks() -> BTreeMap<String, &'static str> {
    let sources = [
        ("main.rs", include_str!("main.rs")),
        ("checker.rs", include_str!("checker.rs")),
        ("env_drift.rs", include_str!("env_drift.rs")),
        ("key_schemas.rs", include_str!("key_schemas.rs")),
        ("iam.rs", include_str!("iam.rs")),
        ("routes.rs", include_str!("routes.rs")),
        ("sam_values.rs", include_str!("sam_values.rs")),
        ("secrets.rs", include_str!("secrets.rs")),
        ("dashboard.rs", include_str!("dashboard.rs")),
    ];
    let mut checks = BTreeMap::new();
    for (file, source) in sources {
        for (index, line) in source.lines().enumerate() {
            if line.contains(".fail(") {
                checks.insert(format!("{file}:{}", index + 1), line);
            }
        }
    }
    checks
}

#[test]
fn larger_batches_need_a_window() {
    let mut t = template();
    sqs_event_mut(&mut t)["BatchSize"] = json!(100);
    sqs_event_mut(&mut t)["MaximumBatchingWindowInSeconds"] = json!(5);
    let problems: Vec<String> = check(&t).into_iter().map(|p| p.message).collect();
    assert!(!problems.iter().any(|p| p.contains("BatchSize")), "{problems:#?}");
}
