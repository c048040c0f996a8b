//! The tables' key schemas, index and TTL against the ones the DynamoDB adapters use.

use std::collections::BTreeSet;

use patchbay_adapters::dynamo::schema::{
    COLLECTION, GSI1, GSI1PK, GSI1SK, KEY, KEYS_BY_COLLECTION, PK, SK, TTL_ATTRIBUTE,
};
use patchbay_core::config;
use serde_json::Value;

use crate::checker::Checker;
use crate::{FUNCTIONS, LICENSE_CHECK};

fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|keys| {
            keys.iter()
                .map(|k| {
                    (
                        k["AttributeName"].as_str().unwrap_or("?").to_owned(),
                        k["KeyType"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn attribute_definitions(v: &Value) -> BTreeSet<(String, String)> {
    v.as_array()
        .map(|defs| {
            defs.iter()
                .map(|d| {
                    (
                        d["AttributeName"].as_str().unwrap_or("?").to_owned(),
                        d["AttributeType"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

fn check_table_basics(c: &mut Checker<'_>, id: &str) {
    let p = c.props(id);
    if p["BillingMode"] != "PAY_PER_REQUEST" {
        c.fail(format!("{id}: BillingMode must be PAY_PER_REQUEST (on demand)"));
    }
    if p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true {
        c.fail(format!("{id}: point-in-time recovery must be enabled"));
    }
}

/// Returns the main table's logical id.
pub fn check_tables(c: &mut Checker<'_>) -> Option<String> {
    let mut main_ids = BTreeSet::new();
    for f in FUNCTIONS {
        if let Some(id) = c.env_resource(f, config::TABLE, "AWS::DynamoDB::Table") {
            main_ids.insert(id);
        }
    }
    if main_ids.len() > 1 {
        c.fail(format!("{} point at different tables: {main_ids:?}", config::TABLE));
    }
    let main = main_ids.first().copied();
    if let Some(id) = main {
        check_table_basics(c, id);
        let p = c.props(id);
        if key_schema(&p["KeySchema"]) != pairs(&[(PK, "HASH"), (SK, "RANGE")]) {
            c.fail(format!("{id}: KeySchema must be {PK} HASH, {SK} RANGE, not {}", p["KeySchema"]));
        }
        let expected: BTreeSet<_> =
            pairs(&[(PK, "S"), (SK, "S"), (GSI1PK, "S"), (GSI1SK, "S")]).into_iter().collect();
        if attribute_definitions(&p["AttributeDefinitions"]) != expected {
            c.fail(format!("{id}: AttributeDefinitions must be exactly {expected:?}"));
        }
        let indexes = p["GlobalSecondaryIndexes"].as_array().cloned().unwrap_or_default();
        let gsi_ok = indexes.len() == 1
            && indexes[0]["IndexName"] == GSI1
            && key_schema(&indexes[0]["KeySchema"]) == pairs(&[(GSI1PK, "HASH"), (GSI1SK, "RANGE")])
            && indexes[0]["Projection"]["ProjectionType"] == "ALL";
        if !gsi_ok {
            c.fail(format!(
                "{id}: must have exactly one GSI, {GSI1} ({GSI1PK} HASH, {GSI1SK} RANGE, projection ALL), not {}",
                p["GlobalSecondaryIndexes"]
            ));
        }
        let ttl = &p["TimeToLiveSpecification"];
        if ttl["AttributeName"] != TTL_ATTRIBUTE || ttl["Enabled"] != true {
            c.fail(format!("{id}: TTL must be enabled on {TTL_ATTRIBUTE}, not {ttl}"));
        }
    }
    if let Some(id) = c.env_resource(&LICENSE_CHECK, config::KEYS_TABLE, "AWS::DynamoDB::Table") {
        if Some(id) == main {
            c.fail("the keys table must not be the main table");
        }
        check_table_basics(c, id);
        let p = c.props(id);
        if key_schema(&p["KeySchema"]) != pairs(&[(KEY, "HASH")]) {
            c.fail(format!("{id}: KeySchema must be {KEY} HASH only, not {}", p["KeySchema"]));
        }
        if attribute_definitions(&p["AttributeDefinitions"])
            != pairs(&[(KEY, "S"), (COLLECTION, "N")]).into_iter().collect()
        {
            c.fail(format!("{id}: AttributeDefinitions must be exactly {KEY} (S), {COLLECTION} (N)"));
        }
        let indexes = p["GlobalSecondaryIndexes"].as_array().cloned().unwrap_or_default();
        // KEYS_ONLY: a registration (the key check's write) then writes nothing to the index.
        let gsi_ok = indexes.len() == 1
            && indexes[0]["IndexName"] == KEYS_BY_COLLECTION
            && key_schema(&indexes[0]["KeySchema"]) == pairs(&[(COLLECTION, "HASH"), (KEY, "RANGE")])
            && indexes[0]["Projection"]["ProjectionType"] == "KEYS_ONLY";
        if !gsi_ok {
            c.fail(format!(
                "{id}: must have exactly one GSI, {KEYS_BY_COLLECTION} ({COLLECTION} HASH, {KEY} RANGE, \
                 projection KEYS_ONLY), not {}",
                p["GlobalSecondaryIndexes"]
            ));
        }
    }
    main.map(str::to_owned)
}
