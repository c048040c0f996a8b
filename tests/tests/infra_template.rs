//! `infra/template.yaml` against the code. cfn-lint checks the template's CloudFormation
//! schema (run by `scripts/test`); this checks what it cannot know or does not check:
//!
//! * each function sets exactly the environment its config reads
//!   (`patchbay_core::config::*_VARIABLES`), the template's parameter defaults build a config
//!   the code accepts, and they equal the code's own defaults;
//! * the secrets come from Secrets Manager dynamic references, not parameters;
//! * the tables have the key schemas, index and TTL attribute the DynamoDB adapters use;
//! * runtime, architecture, handler and `CodeUri` match `cargo lambda build --arm64` output;
//! * the deliver event source: `ReportBatchItemFailures`, batch size, batching window,
//!   maximum concurrency (values SAM and cfn-lint let through);
//! * the queue: visibility ≥ 6 × deliver's timeout, the dead-letter queue's `maxReceiveCount`
//!   above the retry schedule's attempts, retention longer than the schedule;
//! * the routes reach the right function, and the key check is throttled;
//! * least privilege: no keys table for ingest, no queue for license-check, no wildcards.
//!
//! `template_matches_the_code` checks the real template. `each_drift_is_caught` breaks a copy
//! of it one way at a time and expects a complaint each time, so the checks keep their teeth.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use patchbay_core::config::{
    self, DELIVER_VARIABLES, DeliverConfig, Env, INGEST_VARIABLES, IngestConfig, LICENSE_CHECK_VARIABLES,
    LicenseCheckConfig, Need,
};
use patchbay_core::retry::{RetrySchedule, parse_duration};
use serde_json::{Map, Value, json};

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

// Table schemas implemented by `patchbay_adapters`' DynamoDB adapters (`dynamo::schema`).
const PK: &str = "pk";
const SK: &str = "sk";
const GSI1: &str = "gsi1";
const GSI1PK: &str = "gsi1pk";
const GSI1SK: &str = "gsi1sk";
const TTL_ATTRIBUTE: &str = "expires_at";
const KEY: &str = "key";

/// Lambda's largest timeout, and SQS's largest visibility timeout and retention.
const LAMBDA_MAX_TIMEOUT: u64 = 900;
const SQS_MAX_VISIBILITY: u64 = 43_200;
const FOURTEEN_DAYS: u64 = 14 * 86_400;
/// What deliver needs besides the sends themselves (DynamoDB and SQS calls, cold start).
const DELIVER_TIMEOUT_MARGIN: u64 = 30;

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

/// Variables whose value must be a Secrets Manager dynamic reference.
const SECRET_VARIABLES: [&str; 2] = [config::INGEST_SECRET, config::ADMIN_TOKEN];
/// Stand-ins for the secrets when the template's defaults are fed to the config parsers.
const SAMPLE_INGEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SAMPLE_ADMIN_TOKEN: &str = "0123456789abcdef0123";

/// Requests (method, concrete path) and the function that must answer them.
const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/events", "IngestFunction"),
    ("POST", "/v1/apps", "IngestFunction"),
    ("GET", "/v1/apps/app_1", "IngestFunction"),
    ("POST", "/v1/apps/app_1/rotate-secret", "IngestFunction"),
    ("POST", "/v1/apps/app_1/webhooks", "IngestFunction"),
    ("GET", "/v1/apps/app_1/webhooks", "IngestFunction"),
    ("GET", "/v1/webhooks/wh_1", "IngestFunction"),
    ("PATCH", "/v1/webhooks/wh_1", "IngestFunction"),
    ("DELETE", "/v1/webhooks/wh_1", "IngestFunction"),
    ("POST", "/v1/webhooks/wh_1/enable", "IngestFunction"),
    ("POST", "/v1/webhooks/wh_1/disable", "IngestFunction"),
    ("POST", "/v1/webhooks/wh_1/rotate-secret", "IngestFunction"),
    ("POST", "/v1/webhooks/wh_1/test", "IngestFunction"),
    ("POST", "/v1/webhooks/wh_1/replay", "IngestFunction"),
    ("GET", "/v1/webhooks/wh_1/deliveries", "IngestFunction"),
    ("GET", "/v1/deliveries/dlv_1", "IngestFunction"),
    ("POST", "/v1/deliveries/dlv_1/redeliver", "IngestFunction"),
    ("GET", "/v2/keys/ABCD-1234", "LicenseCheckFunction"),
    ("POST", "/v1/apps/app_1/keys", "LicenseCheckFunction"),
    ("POST", "/v1/apps/app_1/keys/import", "LicenseCheckFunction"),
    ("GET", "/v1/keys/ABCD-1234", "LicenseCheckFunction"),
    ("POST", "/v1/keys/ABCD-1234/block", "LicenseCheckFunction"),
    ("POST", "/v1/keys/ABCD-1234/unblock", "LicenseCheckFunction"),
];
const KEY_CHECK_REQUEST: (&str, &str) = ("GET", "/v2/keys/ABCD-1234");

const PARAMETERS: &[&str] = &[
    "IngestSecretName",
    "AdminTokenName",
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
];
const OUTPUTS: &[&str] = &["ApiUrl", "KeyCheckUrl", "DeliveryQueueUrl", "DeadLetterQueueUrl"];

// ------------------------------------------------------------------------------ YAML → JSON

/// The template as JSON, with CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`,
/// `!Sub ...`, `!If [...]`) turned into their long forms (`{"Ref": "X"}`, ...).
fn parse(yaml: &str) -> Value {
    let doc: serde_norway::Value =
        serde_norway::from_str(yaml).expect("infra/template.yaml is not valid YAML");
    to_json(doc)
}

fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_u64() {
                json!(i)
            } else if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other).expect("YAML key").trim().to_owned(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => match s.split_once('.') {
                        Some((resource, attribute)) => json!({ "Fn::GetAtt": [resource, attribute] }),
                        None => json!({ "Fn::GetAtt": s }),
                    },
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

fn template() -> Value {
    parse(TEMPLATE)
}

// ------------------------------------------------------------------------------ helpers

fn as_ref(v: &Value) -> Option<&str> {
    v.as_object().filter(|o| o.len() == 1)?.get("Ref")?.as_str()
}

fn as_getatt(v: &Value) -> Option<(&str, &str)> {
    match v.as_object().filter(|o| o.len() == 1)?.get("Fn::GetAtt")? {
        Value::Array(parts) if parts.len() == 2 => Some((parts[0].as_str()?, parts[1].as_str()?)),
        Value::String(s) => s.split_once('.'),
        _ => None,
    }
}

/// The template string of an `Fn::Sub` (either form).
fn as_sub(v: &Value) -> Option<&str> {
    match v.as_object().filter(|o| o.len() == 1)?.get("Fn::Sub")? {
        Value::String(s) => Some(s),
        Value::Array(parts) => parts.first()?.as_str(),
        _ => None,
    }
}

/// `${Name}` references in a `Fn::Sub` template.
fn sub_names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if !after.starts_with('!') {
            names.push(&after[..end]);
        }
        rest = &after[end + 1..];
    }
    names
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Whether anything inside `v` refers to the resource `id` (`Ref`, `GetAtt`, `${id}` or
/// `${id.Attr}` in a `Sub`).
fn mentions(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => {
            s == id
                || s.starts_with(&format!("{id}."))
                || s.contains(&format!("${{{id}}}"))
                || s.contains(&format!("${{{id}."))
        }
        Value::Array(items) => items.iter().any(|i| mentions(i, id)),
        Value::Object(map) => map.values().any(|i| mentions(i, id)),
        _ => false,
    }
}

/// A number, given literally, as a numeric string, or as a `Ref` to a parameter (its default).
fn number(t: &Value, v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => as_ref(v).and_then(|p| parameter(t, p)).and_then(|p| number(t, &p["Default"])),
    }
}

fn parameter<'a>(t: &'a Value, name: &str) -> Option<&'a Value> {
    t["Parameters"].get(name)
}

fn parameter_text(p: &Value, field: &str) -> Option<String> {
    match &p[field] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What `v` evaluates to when every referenced parameter takes `field` (`Default`, or
/// `MaxValue` for a worst case). `None` for anything else (resources, other intrinsics).
fn evaluate(t: &Value, v: &Value, field: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => {
            if let Some(name) = as_ref(v) {
                return parameter_text(parameter(t, name)?, field);
            }
            let template = as_sub(v)?;
            let mut out = template.to_owned();
            for name in sub_names(template) {
                let value = parameter_text(parameter(t, name)?, field)?;
                out = out.replace(&format!("${{{name}}}"), &value);
            }
            Some(out)
        }
    }
}

fn is_secret_reference(v: &Value) -> bool {
    let text = v.as_str().or_else(|| as_sub(v));
    text.is_some_and(|s| {
        s.trim_start().starts_with("{{resolve:secretsmanager:") && s.trim_end().ends_with("}}")
    })
}

struct Checker<'t> {
    t: &'t Value,
    problems: Vec<String>,
}

impl<'t> Checker<'t> {
    fn fail(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    fn resource(&self, id: &str) -> Option<&'t Value> {
        self.t["Resources"].get(id)
    }

    fn props(&self, id: &str) -> &'t Value {
        self.resource(id).map_or(&Value::Null, |r| &r["Properties"])
    }

    fn resource_type(&self, id: &str) -> Option<&'t str> {
        self.resource(id)?["Type"].as_str()
    }

    /// A function property, falling back to `Globals.Function`.
    fn function_prop(&self, id: &str, name: &str) -> &'t Value {
        match self.props(id).get(name) {
            Some(v) if !v.is_null() => v,
            _ => &self.t["Globals"]["Function"][name],
        }
    }

    /// Environment variables, `Globals.Function` merged under the function's own.
    fn environment(&self, id: &str) -> BTreeMap<String, &'t Value> {
        let mut vars = BTreeMap::new();
        for source in [&self.t["Globals"]["Function"], self.props(id)] {
            if let Some(map) = source["Environment"]["Variables"].as_object() {
                for (k, v) in map {
                    vars.insert(k.clone(), v);
                }
            }
        }
        vars
    }

    fn events(&self, id: &str, kind: &str) -> Vec<(&'t str, &'t Value)> {
        self.props(id)["Events"]
            .as_object()
            .map(|events| {
                events
                    .iter()
                    .filter(|(_, e)| e["Type"] == kind)
                    .map(|(name, e)| (name.as_str(), &e["Properties"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The logical id a function's variable `Ref`s, if it refs a resource of type `kind`.
    fn env_resource(&mut self, f: &Function, var: &str, kind: &str) -> Option<&'t str> {
        let env = self.environment(f.logical_id);
        let value = env.get(var)?;
        match as_ref(value) {
            Some(id) if self.resource_type(id) == Some(kind) => Some(id),
            _ => {
                self.fail(format!(
                    "{}: {var} must be a !Ref to a {kind} in the template, not {value}",
                    f.logical_id
                ));
                None
            }
        }
    }
}

// ------------------------------------------------------------------------------ the checks

fn check(t: &Value) -> Vec<String> {
    let mut c = Checker { t, problems: Vec::new() };
    for f in FUNCTIONS {
        check_function(&mut c, f);
        check_environment(&mut c, f);
    }
    check_defaults(&mut c);
    let main_table = check_tables(&mut c);
    let queues = check_queue(&mut c);
    check_policies(&mut c, main_table.as_deref(), queues.as_ref());
    check_routes(&mut c);
    check_function_url(&mut c);
    check_alarms(&mut c, queues.as_ref());
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

fn check_function(c: &mut Checker<'_>, f: &Function) {
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

fn check_environment(c: &mut Checker<'_>, f: &Function) {
    let id = f.logical_id;
    let env = c.environment(id);
    let read: BTreeSet<&str> = f.variables.iter().map(|(name, _)| *name).collect();
    for (name, need) in f.variables {
        match env.get(*name) {
            None => c.fail(format!("{id}: {name} ({need:?}) is not set; {} reads it", f.name)),
            Some(value) if *value == "" && *need == Need::Required => {
                c.fail(format!("{id}: {name} is Required but set to an empty string"));
            }
            Some(value) if *need == Need::Optional => {
                let names: Vec<&str> = as_ref(value)
                    .map_or_else(|| as_sub(value).map(sub_names).unwrap_or_default(), |r| vec![r]);
                if !names.iter().any(|n| parameter(c.t, n).is_some()) {
                    c.fail(format!(
                        "{id}: optional {name} should come from a template parameter, not {value}"
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for name in env.keys() {
        if !read.contains(name.as_str()) {
            c.fail(format!("{id}: sets {name}, which {} does not read (not in its config list)", f.name));
        }
    }
    if let Some(store) = env.get(config::STORE)
        && *store != "aws"
    {
        c.fail(format!("{id}: {} must be aws, not {store}", config::STORE));
    }
    for name in SECRET_VARIABLES {
        if let Some(value) = env.get(name)
            && !is_secret_reference(value)
        {
            c.fail(format!(
                "{id}: {name} must be a {{{{resolve:secretsmanager:...}}}} dynamic reference, not {value}"
            ));
        }
    }
}

/// The environment a function gets with every parameter at its default, secrets and
/// resource names replaced by stand-ins.
fn default_environment(c: &Checker<'_>, f: &Function) -> BTreeMap<String, String> {
    c.environment(f.logical_id)
        .into_iter()
        .filter_map(|(name, value)| {
            let text = if is_secret_reference(value) {
                Some(
                    if name == config::INGEST_SECRET { SAMPLE_INGEST_SECRET } else { SAMPLE_ADMIN_TOKEN }
                        .to_owned(),
                )
            } else if let Some(id) = as_ref(value).filter(|id| c.resource(id).is_some()) {
                Some(id.to_owned())
            } else {
                evaluate(c.t, value, "Default")
            };
            text.map(|text| (name, text))
        })
        .collect()
}

/// The template's defaults must make configs the code accepts, equal to the code's defaults.
fn check_defaults(c: &mut Checker<'_>) {
    let envs: BTreeMap<&str, BTreeMap<String, String>> =
        FUNCTIONS.iter().map(|f| (f.logical_id, default_environment(c, f))).collect();
    let lookup = |id: &str| {
        let env = envs[id].clone();
        Env::new(move |k| env.get(k).cloned())
    };
    if let Err(e) = IngestConfig::from_env(&lookup(INGEST.logical_id)) {
        c.fail(format!("IngestFunction: the code rejects the template's defaults: {e}"));
    }
    if let Err(e) = LicenseCheckConfig::from_env(&lookup(LICENSE_CHECK.logical_id)) {
        c.fail(format!("LicenseCheckFunction: the code rejects the template's defaults: {e}"));
    }
    let code_default =
        DeliverConfig::from_env(&Env::new(|k| (k == config::STORE).then(|| "sqlite:x.db".to_owned())))
            .expect("deliver's own defaults");
    match DeliverConfig::from_env(&lookup(DELIVER.logical_id)) {
        Err(e) => c.fail(format!("DeliverFunction: the code rejects the template's defaults: {e}")),
        Ok(cfg) => {
            if cfg.retry != code_default.retry {
                c.fail("parameter RetrySchedule's default differs from RetrySchedule::default()");
            }
            if cfg.send != code_default.send {
                c.fail(format!(
                    "delivery parameter defaults ({:?}) differ from SendConfig::default() ({:?})",
                    cfg.send, code_default.send
                ));
            }
            if cfg.auto_disable_after != code_default.auto_disable_after {
                c.fail("parameter AutoDisableAfter's default differs from the code's default");
            }
        }
    }
}

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
fn check_tables(c: &mut Checker<'_>) -> Option<String> {
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
        if attribute_definitions(&p["AttributeDefinitions"]) != pairs(&[(KEY, "S")]).into_iter().collect() {
            c.fail(format!("{id}: AttributeDefinitions must be exactly {KEY} (S)"));
        }
        if p.get("GlobalSecondaryIndexes").is_some_and(|g| !g.is_null()) {
            c.fail(format!("{id}: the keys table has no secondary index"));
        }
    }
    main.map(str::to_owned)
}

struct Queues {
    delivery: String,
    dead_letter: Option<String>,
}

fn check_queue(c: &mut Checker<'_>) -> Option<Queues> {
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
    let concurrency = number(c.t, &e["ScalingConfig"]["MaximumConcurrency"]);
    if !concurrency.is_some_and(|n| (2..=1000).contains(&n)) {
        c.fail(format!(
            "DeliverFunction.{event}: ScalingConfig.MaximumConcurrency must be 2..=1000, not {concurrency:?}"
        ));
    }

    // Timeouts: deliver outlives its slowest send, the queue hides a message for 6 × that.
    let deliver_timeout = number(c.t, c.function_prop(DELIVER.logical_id, "Timeout")).unwrap_or(0);
    let env = c.environment(DELIVER.logical_id);
    if let Some(value) = env.get(config::DELIVERY_TIMEOUT) {
        let worst = evaluate(c.t, value, "MaxValue").and_then(|s| parse_duration(&s));
        match worst {
            None => c.fail(format!(
                "DeliverFunction: {} needs a bounded value (a parameter with MaxValue) to size the Timeout",
                config::DELIVERY_TIMEOUT
            )),
            Some(send) if deliver_timeout < send.as_secs() + DELIVER_TIMEOUT_MARGIN => c.fail(format!(
                "DeliverFunction: Timeout {deliver_timeout} s must be ≥ the largest delivery timeout ({} s) + {DELIVER_TIMEOUT_MARGIN} s",
                send.as_secs()
            )),
            Some(_) => {}
        }
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

struct Statement {
    actions: Vec<String>,
    resources: Value,
}

/// The IAM statements a function gets, from its own role resource, or from SAM `Policies`.
fn statements(c: &mut Checker<'_>, f: &Function) -> (Vec<Statement>, Value) {
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
                out.push(Statement { actions: strings(&map["Action"]), resources: map["Resource"].clone() });
            } else {
                map.values().for_each(|i| collect_statements(i, out));
            }
        }
        _ => {}
    }
}

fn check_policies(c: &mut Checker<'_>, main_table: Option<&str>, queues: Option<&Queues>) {
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

/// How specifically an HTTP API route matches a request, or `None` when it does not:
/// (no greedy variable, literal segments, exact method). Higher wins, as in API Gateway.
fn route_match(
    route_method: &str,
    route_path: &str,
    method: &str,
    path: &str,
) -> Option<(bool, usize, bool)> {
    let exact_method = route_method.eq_ignore_ascii_case(method);
    if !exact_method && !route_method.eq_ignore_ascii_case("ANY") {
        return None;
    }
    let pattern: Vec<&str> = route_path.trim_matches('/').split('/').collect();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut literals = 0;
    for (i, part) in pattern.iter().enumerate() {
        if part.starts_with('{') && part.ends_with("+}") {
            return (segments.len() > i).then_some((false, literals, exact_method));
        }
        let segment = segments.get(i)?;
        if part.starts_with('{') && part.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
        } else if part != segment {
            return None;
        } else {
            literals += 1;
        }
    }
    (pattern.len() == segments.len()).then_some((true, literals, exact_method))
}

fn check_routes(c: &mut Checker<'_>) {
    // Every HTTP API event of every function: (function, event name, method, path, properties).
    let mut routes = Vec::new();
    let mut seen = BTreeSet::new();
    let mut apis = BTreeSet::new();
    for f in FUNCTIONS {
        for (event, e) in c.events(f.logical_id, "HttpApi") {
            let method = e["Method"].as_str().unwrap_or("ANY").to_ascii_uppercase();
            let path = e["Path"].as_str().unwrap_or("").to_owned();
            if !seen.insert((method.clone(), path.clone())) {
                c.fail(format!("route {method} {path} is defined twice"));
            }
            match as_ref(&e["ApiId"]) {
                Some(api) if c.resource_type(api) == Some("AWS::Serverless::HttpApi") => {
                    apis.insert(api.to_owned());
                }
                _ => c.fail(format!(
                    "{}.{event}: ApiId must be !Ref to the template's AWS::Serverless::HttpApi",
                    f.logical_id
                )),
            }
            routes.push((f.logical_id, event, method, path, e));
        }
    }
    if apis.len() != 1 {
        c.fail(format!("all routes must be on one HTTP API, not {apis:?}"));
    }
    for (method, path, expected) in ROUTES {
        let mut best: Vec<_> = routes
            .iter()
            .filter_map(|r| route_match(&r.2, &r.3, method, path).map(|score| (score, r)))
            .collect();
        best.sort_by_key(|b| std::cmp::Reverse(b.0));
        match best.as_slice() {
            [] => c.fail(format!("{method} {path}: no route")),
            [(score, _), (next, _), ..] if score == next => {
                c.fail(format!("{method} {path}: ambiguous routes"));
            }
            [(_, (function, event, ..)), ..] if function != expected => {
                c.fail(format!("{method} {path}: routed to {function}.{event}, must reach {expected}"));
            }
            [(_, (_, event, _, _, e)), ..] if (*method, *path) == KEY_CHECK_REQUEST => {
                let settings = &e["RouteSettings"];
                if !mentions(&settings["ThrottlingRateLimit"], "KeyCheckThrottleRate")
                    || !mentions(&settings["ThrottlingBurstLimit"], "KeyCheckThrottleBurst")
                {
                    c.fail(format!(
                        "LicenseCheckFunction.{event}: RouteSettings must throttle with KeyCheckThrottleRate/KeyCheckThrottleBurst"
                    ));
                }
            }
            _ => {}
        }
    }
}

fn check_function_url(c: &mut Checker<'_>) {
    let resources = c.t["Resources"].as_object().cloned().unwrap_or_else(Map::new);
    let mut urls = 0;
    for (id, r) in &resources {
        let p = &r["Properties"];
        match r["Type"].as_str() {
            Some("AWS::Lambda::Url") => {
                urls += 1;
                if as_getatt(&p["TargetFunctionArn"]) != Some((LICENSE_CHECK.logical_id, "Arn")) {
                    c.fail(format!("{id}: only license-check gets a Function URL"));
                }
                if r["Condition"].is_null() {
                    c.fail(format!("{id}: the Function URL must depend on KeyCheckEndpoint (a Condition)"));
                }
            }
            Some("AWS::Serverless::Function")
                if !p["FunctionUrlConfig"].is_null() && id != LICENSE_CHECK.logical_id =>
            {
                c.fail(format!("{id}: only license-check gets a Function URL"));
            }
            _ => {}
        }
    }
    if urls == 0 {
        return;
    }
    let permission = |action: &str, field: &str, value: &Value| {
        resources.values().any(|r| {
            r["Type"] == "AWS::Lambda::Permission"
                && r["Properties"]["Action"] == action
                && as_ref(&r["Properties"]["FunctionName"]) == Some(LICENSE_CHECK.logical_id)
                && r["Properties"]["Principal"] == "*"
                && r["Properties"][field] == *value
        })
    };
    if !permission("lambda:InvokeFunctionUrl", "FunctionUrlAuthType", &json!("NONE")) {
        c.fail("Function URL: needs a lambda:InvokeFunctionUrl permission (FunctionUrlAuthType NONE)");
    }
    if !permission("lambda:InvokeFunction", "InvokedViaFunctionUrl", &json!(true)) {
        c.fail("Function URL: needs a lambda:InvokeFunction permission (InvokedViaFunctionUrl true)");
    }
    if c.props(LICENSE_CHECK.logical_id)["ReservedConcurrentExecutions"].is_null() {
        c.fail("LicenseCheckFunction: ReservedConcurrentExecutions is the Function URL's throttle");
    }
}

fn check_alarms(c: &mut Checker<'_>, queues: Option<&Queues>) {
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
}

// ------------------------------------------------------------------------------ tests

#[test]
fn short_form_tags_become_long_form() {
    let v = parse(
        "a: !Ref X\nb: !GetAtt T.Arn\nc: !Sub \"${T.Arn}/index/x\"\nd: !If [C, 1, !Ref AWS::NoValue]\n",
    );
    assert_eq!(v["a"], json!({"Ref": "X"}));
    assert_eq!(v["b"], json!({"Fn::GetAtt": ["T", "Arn"]}));
    assert_eq!(v["c"], json!({"Fn::Sub": "${T.Arn}/index/x"}));
    assert_eq!(v["d"], json!({"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]}));
    assert!(mentions(&v["c"], "T"));
    assert!(!mentions(&v["c"], "Tx"));
}

#[test]
fn routes_pick_the_most_specific() {
    assert!(
        route_match("POST", "/v1/apps/{app_id}/keys", "POST", "/v1/apps/a/keys")
            > route_match("ANY", "/v1/{proxy+}", "POST", "/v1/apps/a/keys")
    );
    assert_eq!(route_match("GET", "/v1/keys/{key}", "POST", "/v1/keys/k"), None);
    assert_eq!(route_match("GET", "/v1/keys/{key}", "GET", "/v1/keys/k/block"), None);
    assert!(route_match("ANY", "/v1/{proxy+}", "DELETE", "/v1/webhooks/w").is_some());
}

#[test]
fn template_matches_the_code() {
    let problems = check(&template());
    assert!(
        problems.is_empty(),
        "infra/template.yaml has drifted from the code:\n  {}",
        problems.join("\n  ")
    );
}

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

fn role_statements_mut<'a>(t: &'a mut Value, role: &str) -> &'a mut Vec<Value> {
    props_mut(t, role)["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut().expect("statements")
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
        (
            "secret from a plain parameter",
            |t| {
                env_mut(t, "IngestFunction")
                    .insert("PATCHBAY_INGEST_SECRET".into(), json!({"Ref": "IngestSecretName"}));
            },
            "dynamic reference",
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
            "maximum concurrency 1",
            |t| sqs_event_mut(t)["ScalingConfig"]["MaximumConcurrency"] = json!(1),
            "MaximumConcurrency",
        ),
        (
            "maximum concurrency 1001",
            |t| sqs_event_mut(t)["ScalingConfig"]["MaximumConcurrency"] = json!(1001),
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
    ];
    let baseline = template();
    let mut missed = Vec::new();
    for (what, mutate, expected) in mutations {
        let mut t = baseline.clone();
        mutate(&mut t);
        let problems = check(&t);
        if !problems.iter().any(|p| p.contains(expected)) {
            missed.push(format!("{what}: expected a problem mentioning {expected:?}, got {problems:#?}"));
        }
    }
    assert!(missed.is_empty(), "drift the checks missed:\n{}", missed.join("\n"));
}

#[test]
fn larger_batches_need_a_window() {
    let mut t = template();
    sqs_event_mut(&mut t)["BatchSize"] = json!(100);
    sqs_event_mut(&mut t)["MaximumBatchingWindowInSeconds"] = json!(5);
    let problems = check(&t);
    assert!(!problems.iter().any(|p| p.contains("BatchSize")), "{problems:#?}");
}
