//! The CloudWatch dashboard: it exists, shows every alarm, and plots only metrics the code
//! emits (its body is JSON inside a `!Sub`, which neither SAM nor cfn-lint reads).

use serde_json::Value;

use crate::checker::Checker;
use crate::sam_values::{check_emitted, patchbay_metrics};

pub fn check_dashboard(c: &mut Checker<'_>) {
    let Some(resources) = c.t["Resources"].as_object() else { return };
    let dashboards: Vec<(&String, &Value)> =
        resources.iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Dashboard").collect();
    let Some((id, dashboard)) = dashboards.first() else {
        c.fail("no AWS::CloudWatch::Dashboard showing the alarms and metrics");
        return;
    };
    let body = &dashboard["Properties"]["DashboardBody"];
    let text = body["Fn::Sub"].as_str().or_else(|| body.as_str()).unwrap_or_default();
    let Ok(parsed) = serde_json::from_str::<Value>(text) else {
        c.fail(format!("{id}: DashboardBody is not JSON (a string or a !Sub of one)"));
        return;
    };
    let mut plotted: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let widgets = parsed["widgets"].as_array().cloned().unwrap_or_default();
    for entry in widgets.iter().filter_map(|w| w["properties"]["metrics"].as_array()).flatten() {
        let Some(items) = entry.as_array() else { continue };
        let strings: Vec<&str> = items.iter().map_while(Value::as_str).collect();
        match strings.first() {
            Some(&".") => {
                c.fail(format!("{id}: a metric uses the \".\" shorthand; name its namespace in full"));
            }
            Some(&namespace) if namespace == patchbay_core::metrics::NAMESPACE => {
                let name = strings.get(1).copied().unwrap_or_default();
                let mut dimensions: Vec<(String, String)> = strings
                    .get(2..)
                    .unwrap_or_default()
                    .chunks(2)
                    .map(|pair| (pair[0].to_owned(), pair.get(1).copied().unwrap_or_default().to_owned()))
                    .collect();
                dimensions.sort();
                check_emitted(
                    c,
                    "dashboard plots",
                    name,
                    dimensions.iter().map(|(n, _)| n.clone()).collect(),
                );
                plotted.push((name.to_owned(), dimensions));
            }
            _ => {}
        }
    }
    for (alarm_id, alarm) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm") {
        if !text.contains(&format!("${{{alarm_id}.Arn}}")) {
            c.fail(format!("{id}: does not show alarm {alarm_id}"));
        }
        for metric in patchbay_metrics(&alarm["Properties"]) {
            if !plotted.contains(&metric) {
                let (name, dimensions) = metric;
                let namespace = patchbay_core::metrics::NAMESPACE;
                c.fail(format!("{id}: plots no {namespace}/{name} {dimensions:?}, which {alarm_id} watches"));
            }
        }
    }
}
