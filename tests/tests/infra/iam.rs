//! Least privilege: each function's role grants what it uses and nothing more.

use std::collections::BTreeSet;

use patchbay_core::config;
use serde_json::Value;

use crate::cfn::{as_getatt, as_ref, mentions, strings};
use crate::checker::Checker;
use crate::sam_values::Queues;
use crate::{FUNCTIONS, Function, LICENSE_CHECK};

pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Value,
    pub condition: Value,
}

impl Statement {
    /// Whether the statement is limited to app-token items (`TOKHASH#…` partition keys) and
    /// to their keys and `last_used_at`.
    fn token_items_only(&self) -> bool {
        let leading = &self.condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
        let attributes = &self.condition["ForAllValues:StringEquals"]["dynamodb:Attributes"];
        strings(leading) == ["TOKHASH#*"]
            && !strings(attributes).is_empty()
            && strings(attributes).iter().all(|a| ["pk", "sk", "last_used_at"].contains(&a.as_str()))
    }
}

/// The IAM statements a function gets, from its own role resource, or from SAM `Policies`.
pub fn statements(c: &mut Checker<'_>, f: &Function) -> (Vec<Statement>, Value) {
    let id = f.logical_id;
    let role = c.function_prop(id, "Role");
    let mut material = Vec::new();
    if role.is_null() {
        if !c.events(id, "SQS").is_empty() {
            c.fail(format!(
                "{id}: with a SAM-generated role, the SQS event attaches AWSLambdaSQSQueueExecutionRole (any queue); give it its own Role"
            ));
        }
        material.push(c.function_prop(id, "Policies").clone());
    } else {
        match as_getatt(role).filter(|(r, a)| *a == "Arn" && c.resource_type(r) == Some("AWS::IAM::Role")) {
            None => c.fail(format!(
                "{id}: Role must be !GetAtt <an AWS::IAM::Role in this template>.Arn, not {role}"
            )),
            Some((role_id, _)) => {
                let p = c.props(role_id);
                for arn in strings(&p["ManagedPolicyArns"]) {
                    if !arn.ends_with("service-role/AWSLambdaBasicExecutionRole") {
                        c.fail(format!(
                            "{role_id}: managed policy {arn} is broader than this function needs"
                        ));
                    }
                }
                material.push(p["Policies"].clone());
            }
        }
        if !c.props(id)["Policies"].is_null() {
            c.fail(format!("{id}: has both Role and Policies; SAM ignores Policies then"));
        }
    }
    let material = Value::Array(material);
    let mut found = Vec::new();
    collect_statements(&material, &mut found);
    (found, material)
}

fn collect_statements(v: &Value, out: &mut Vec<Statement>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_statements(i, out)),
        Value::Object(map) => {
            if map.contains_key("Effect") {
                out.push(Statement {
                    actions: strings(&map["Action"]),
                    resources: map["Resource"].clone(),
                    condition: map.get("Condition").cloned().unwrap_or(Value::Null),
                });
            } else {
                map.values().for_each(|i| collect_statements(i, out));
            }
        }
        _ => {}
    }
}

pub fn check_policies(c: &mut Checker<'_>, main_table: Option<&str>, queues: Option<&Queues>) {
    let keys_table = c
        .environment(LICENSE_CHECK.logical_id)
        .get(config::KEYS_TABLE)
        .and_then(|v| as_ref(v))
        .map(str::to_owned);
    let mut queue_ids: Vec<String> = Vec::new();
    if let Some(q) = queues {
        queue_ids.push(q.delivery.clone());
        queue_ids.extend(q.dead_letter.clone());
    }
    for f in FUNCTIONS {
        let id = f.logical_id;
        let (found, material) = statements(c, f);
        if found.is_empty() {
            c.fail(format!("{id}: no IAM statements found"));
        }
        for s in &found {
            for a in &s.actions {
                if a == "*" || a.ends_with(":*") {
                    c.fail(format!("{id}: wildcard action {a}"));
                }
            }
            let data_actions = s.actions.iter().any(|a| a.starts_with("dynamodb:") || a.starts_with("sqs:"));
            if data_actions && strings(&s.resources).iter().any(|r| r == "*") {
                c.fail(format!("{id}: DynamoDB/SQS actions on Resource *"));
            }
        }
        let sqs: BTreeSet<&str> = found
            .iter()
            .flat_map(|s| s.actions.iter())
            .map(String::as_str)
            .filter(|a| a.starts_with("sqs:"))
            .collect();
        let mentions_keys = keys_table.as_deref().is_some_and(|k| mentions(&material, k));
        let mentions_queue = queue_ids.iter().any(|q| mentions(&material, q));
        match f.name {
            "ingest" => {
                if mentions_keys {
                    c.fail("IngestFunction's policies mention the keys table");
                }
                if sqs != BTreeSet::from(["sqs:SendMessage"]) {
                    c.fail(format!(
                        "IngestFunction: SQS actions must be exactly sqs:SendMessage, not {sqs:?}"
                    ));
                }
            }
            "deliver" => {
                if mentions_keys {
                    c.fail("DeliverFunction's policies mention the keys table");
                }
                for needed in [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ] {
                    if !sqs.contains(needed) {
                        c.fail(format!("DeliverFunction: lacks {needed} on the delivery queue"));
                    }
                }
            }
            _ => {
                if mentions_queue || !sqs.is_empty() {
                    c.fail("LicenseCheckFunction's policies mention a queue or SQS actions");
                }
                if let Some(main) = main_table {
                    for s in found.iter().filter(|s| mentions(&s.resources, main)) {
                        for a in &s.actions {
                            // Recording an app token's last use: UpdateItem on token items only.
                            if a == "dynamodb:UpdateItem" && s.token_items_only() {
                                continue;
                            }
                            if a != "dynamodb:GetItem" && a != "dynamodb:Query" {
                                c.fail(format!(
                                    "LicenseCheckFunction: {a} on the main table (GetItem and Query only)"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
}
