//! Every request reaches the function that serves it, and the key check is throttled, on the
//! HTTP API and on the optional Function URL.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::FUNCTIONS;
use crate::LICENSE_CHECK;
use crate::cfn::{as_getatt, as_ref, mentions};
use crate::checker::Checker;

/// Requests (method, concrete path) and the function that must answer them.
const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/events", "IngestFunction"),
    ("POST", "/v1/apps", "IngestFunction"),
    ("GET", "/v1/apps/app_1", "IngestFunction"),
    ("POST", "/v1/apps/app_1/rotate-secret", "IngestFunction"),
    ("POST", "/v1/apps/app_1/webhooks", "IngestFunction"),
    ("GET", "/v1/apps/app_1/webhooks", "IngestFunction"),
    ("POST", "/v1/apps/app_1/webhooks/preview", "IngestFunction"),
    ("GET", "/console", "IngestFunction"),
    ("GET", "/console/app.js", "IngestFunction"),
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
    ("POST", "/v1/apps/app_1/tokens", "IngestFunction"),
    ("GET", "/v1/apps/app_1/tokens", "IngestFunction"),
    ("DELETE", "/v1/tokens/tok_1", "IngestFunction"),
    ("GET", "/v2/keys/ABCD-1234", "LicenseCheckFunction"),
    ("HEAD", "/v2/keys/ABCD-1234", "LicenseCheckFunction"),
    ("OPTIONS", "/v2/keys/ABCD-1234", "LicenseCheckFunction"),
    ("POST", "/v1/apps/app_1/keys", "LicenseCheckFunction"),
    ("POST", "/v1/apps/app_1/keys/import", "LicenseCheckFunction"),
    ("GET", "/v1/keys/ABCD-1234", "LicenseCheckFunction"),
    ("POST", "/v1/keys/ABCD-1234/block", "LicenseCheckFunction"),
    ("POST", "/v1/keys/ABCD-1234/unblock", "LicenseCheckFunction"),
    ("POST", "/v1/apps/app_1/collections", "LicenseCheckFunction"),
    ("GET", "/v1/apps/app_1/collections", "LicenseCheckFunction"),
    ("GET", "/v1/collections/7/keys", "LicenseCheckFunction"),
    ("POST", "/v1/collections/7/block", "LicenseCheckFunction"),
    ("POST", "/v1/collections/7/unblock", "LicenseCheckFunction"),
    ("POST", "/v2/keys", "LicenseCheckFunction"),
    ("GET", "/v2/jobs/0b7e6a52-8f0e-4c1e-9a51-3d2f1c0e9b77", "LicenseCheckFunction"),
    ("GET", "/v2/collections/7/keys", "LicenseCheckFunction"),
    ("POST", "/v2/collections/7/block", "LicenseCheckFunction"),
    ("POST", "/v2/collections/7/unblock", "LicenseCheckFunction"),
    ("POST", "/v2/keys/ABCD-1234/block", "LicenseCheckFunction"),
    ("POST", "/v2/keys/ABCD-1234/unblock", "LicenseCheckFunction"),
    ("DELETE", "/v2/apps/app-secret-1", "LicenseCheckFunction"),
    ("GET", "/v1/verdict-key", "LicenseCheckFunction"),
];
const KEY_CHECK_REQUEST: (&str, &str) = ("GET", "/v2/keys/ABCD-1234");

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

pub fn check_routes(c: &mut Checker<'_>) {
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

pub fn check_function_url(c: &mut Checker<'_>) {
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
