//! The template engine end to end: compile a webhook spec, render it for an event, and check the
//! exact request that would go on the wire.

use std::collections::BTreeMap;

use chrono::{TimeDelta, TimeZone, Utc};
use patchbay_core::humanize::{human_duration, human_size};
use patchbay_core::model::{
    AppInfo, EventBody, EventName, PayloadFormat, VersionInfo, WebhookMethod, WebhookSpec,
};
use patchbay_core::template::{
    CONTENT_TYPE_FORM, CONTENT_TYPE_JSON, PATCHKIT_VARIABLES, RenderedRequest, TemplateError, Values,
    Variable, compile,
};
use serde_json::{Value, json};

fn spec(method: WebhookMethod, url: &str, payload: Value) -> WebhookSpec {
    WebhookSpec {
        events: EventName::ALL.to_vec(),
        method,
        url: url.to_owned(),
        headers: BTreeMap::new(),
        format: PayloadFormat::Json,
        payload,
        timeout: None,
        retry_schedule: None,
    }
}

fn post(payload: Value) -> WebhookSpec {
    spec(WebhookMethod::Post, "https://hooks.example.com/in", payload)
}

fn render(spec: &WebhookSpec, values: &Values) -> RenderedRequest {
    compile(spec).expect("compiles").render(values).expect("renders")
}

fn body_json(request: &RenderedRequest) -> Value {
    serde_json::from_str(request.body.as_deref().expect("has a body")).expect("body is JSON")
}

fn compile_err(spec: &WebhookSpec) -> TemplateError {
    compile(spec).expect_err("must not compile")
}

fn with_changes(changes: &str) -> Values {
    Values::sample(EventName::VersionPublished).with(Variable::VersionChanges, changes)
}

/// Every PatchKit variable as a payload field named after it.
fn all_variables_payload() -> Value {
    variables_payload(&Variable::ALL[..PATCHKIT_VARIABLES])
}

fn variables_payload(variables: &[Variable]) -> Value {
    Value::Object(
        variables
            .iter()
            .map(|v| (v.name().to_owned(), Value::String(format!("{{{{ {} }}}}", v.name()))))
            .collect(),
    )
}

// ---- every variable, every event ----

#[test]
fn operational_variables_render_their_samples() {
    let spec = post(variables_payload(&Variable::ALL));
    let body = body_json(&render(&spec, &Values::sample(EventName::DeliveryFailed)));
    assert_eq!(body["event.name"], "delivery.failed");
    assert_eq!(body["app.display_name"], "Test App");
    assert_eq!(body["event.occurred_at"], "2024-05-14T09:30:00Z");
    assert_eq!(body["webhook.id"], "wh_test");
    assert_eq!(body["webhook.url"], "https://example.com/hooks/patchbay");
    assert_eq!(body["webhook.failing_since"], "2024-05-09T09:30:00Z");
    assert_eq!(body["webhook.disabled_reason"], "");
    assert_eq!(body["delivery.id"], "dlv_test");
    assert_eq!(body["delivery.event_id"], "msg_test");
    assert_eq!(body["delivery.event_name"], "version_published");
    assert_eq!(body["delivery.attempts"], "14");
    assert_eq!(body["delivery.last_error"], "receiver answered 503; gave up after 14 attempts");
    assert_eq!(body["version.id"], "", "operational events carry no version");
    let body = body_json(&render(&spec, &Values::sample(EventName::WebhookDisabled)));
    assert!(body["webhook.disabled_reason"].as_str().unwrap_or_default().starts_with("auto-disabled: "));
    assert_eq!(body["delivery.id"], "");
}

#[test]
fn every_variable_renders_the_sample_for_every_event() {
    let spec = post(all_variables_payload());
    for event in EventName::PIPELINE {
        let body = body_json(&render(&spec, &Values::sample(event)));
        let processing_error = match event {
            EventName::VersionProcessFailed => {
                "Content file is not a valid ZIP archive;Diff could not be computed"
            }
            _ => "",
        };
        assert_eq!(
            body,
            json!({
                "event.name": event.as_str(),
                "app.name": "Test App",
                "app.display_name": "Test App",
                "app.group_name": "Test Group",
                "app.download_url": "https://example.com/apps/test-app",
                "app.direct_download_url": "https://example.com/apps/test-app/launcher.zip",
                "version.id": "1",
                "version.label": "Test Version",
                "version.published_at": "2024-05-14T10:00:00Z",
                "version.humanized_content_size": "118 MB",
                "version.humanized_diff_size": "1.18 MB",
                "version.changes": "Fixed a crash on start",
                "version.known_issues": "Saving may be slow on older hard drives",
                "version.processing_error": processing_error,
                "version.processing_started_at": "2024-05-14T09:30:00Z",
                "version.processing_finished_at": "2024-05-14T09:33:20Z",
                "version.humanized_processing_duration": "3m 20s",
            }),
            "{event}"
        );
    }
}

#[test]
fn every_variable_renders_a_real_event_for_every_event() {
    let spec = post(all_variables_payload());
    let started = Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).single().expect("valid date");
    for event in EventName::PIPELINE {
        let body = EventBody {
            event,
            app: AppInfo {
                id: "app_1".into(),
                name: Some("space-miner".into()),
                display_name: Some("Space Miner".into()),
                group_name: Some("Miners".into()),
                download_url: Some("https://dl.example.net/space-miner".into()),
                direct_download_url: Some("https://dl.example.net/space-miner/direct".into()),
            },
            version: VersionInfo {
                id: 4521,
                label: Some("1.4.0".into()),
                published_at: Some(started + TimeDelta::hours(2)),
                content_size: Some(1_234_567_890),
                diff_size: Some(12_345),
                changes: Some("New ship".into()),
                known_issues: Some("None".into()),
                processing_errors: vec!["bad zip".into(), "disk full".into()],
                processing_started_at: Some(started),
                processing_finished_at: Some(started + TimeDelta::seconds(3_930)),
            },
        };
        let rendered = body_json(&render(&spec, &Values::from_event(&body)));
        assert_eq!(
            rendered,
            json!({
                "event.name": event.as_str(),
                "app.name": "space-miner",
                "app.display_name": "Space Miner",
                "app.group_name": "Miners",
                "app.download_url": "https://dl.example.net/space-miner",
                "app.direct_download_url": "https://dl.example.net/space-miner/direct",
                "version.id": "4521",
                "version.label": "1.4.0",
                "version.published_at": "2025-03-01T10:00:00Z",
                "version.humanized_content_size": "1.15 GB",
                "version.humanized_diff_size": "12.1 KB",
                "version.changes": "New ship",
                "version.known_issues": "None",
                "version.processing_error": "bad zip;disk full",
                "version.processing_started_at": "2025-03-01T08:00:00Z",
                "version.processing_finished_at": "2025-03-01T09:05:30Z",
                "version.humanized_processing_duration": "1h 5m",
            }),
            "{event}"
        );
    }
}

#[test]
fn missing_values_render_empty() {
    let body = EventBody {
        event: EventName::VersionProcessed,
        app: AppInfo { id: "app_1".into(), ..AppInfo::default() },
        version: VersionInfo { id: 9, ..VersionInfo::default() },
    };
    let rendered = body_json(&render(&post(variables_payload(&Variable::ALL)), &Values::from_event(&body)));
    for var in Variable::ALL {
        let expected = match var {
            Variable::EventName => "version_processed",
            Variable::VersionId => "9",
            _ => "",
        };
        assert_eq!(rendered[var.name()], expected, "{var}");
    }
}

// ---- JSON escaping ----

#[test]
fn json_payload_keeps_awkward_text_exact() {
    let changes = "Fixed \"quotes\", back\\slash\\n, tab\t, newline\nline 2, emoji 🎮🚀, nul \0, \u{2028} and {{app.name}} {{nope";
    let spec = post(json!({
        "text": "*{{app.display_name}}* {{version.label}}:\n{{version.changes}}",
        "raw": "{{version.changes}}",
        "nested": [{"{{version.changes}}": "{{version.changes}}"}],
    }));
    let request = render(&spec, &with_changes(changes));
    assert_eq!(request.content_type, Some(CONTENT_TYPE_JSON));
    let body = body_json(&request);
    assert_eq!(body["raw"], changes);
    assert_eq!(body["text"], format!("*Test App* Test Version:\n{changes}"));
    assert_eq!(body["nested"][0][changes], changes);
    // The literal `{{app.name}}` inside the value was not expanded.
    assert!(request.body.as_deref().is_some_and(|b| b.contains("{{app.name}} {{nope")));
}

#[test]
fn a_lone_variable_stays_a_string_and_scalars_stay_scalars() {
    let spec = post(json!({"id": "{{version.id}}", "n": 3, "b": false, "z": null}));
    let body = body_json(&render(&spec, &Values::sample(EventName::VersionPublished)));
    assert_eq!(body, json!({"id": "1", "n": 3, "b": false, "z": null}));
}

#[test]
fn json_payload_need_not_be_an_object() {
    let request = render(&post(json!("{{version.changes}}")), &with_changes("a\"b"));
    assert_eq!(request.body.as_deref(), Some(r#""a\"b""#));
    let request = render(&post(json!(["{{version.id}}", 2])), &with_changes(""));
    assert_eq!(request.body.as_deref(), Some(r#"["1",2]"#));
}

// ---- form bodies and GET/DELETE queries ----

#[test]
fn form_body_encodes_nesting_arrays_and_scalars() {
    // Keys in sorted order so the expectation holds with or without serde_json's preserve_order.
    let mut spec = post(json!({
        "app": {"name": "{{app.name}}", "tags": ["a b", 2]},
        "b": true,
        "changes": "{{version.changes}}",
        "n": 1.5,
        "z": null,
    }));
    spec.format = PayloadFormat::Form;
    let request = render(&spec, &with_changes("x&y=z+1 é\n"));
    assert_eq!(request.content_type, Some(CONTENT_TYPE_FORM));
    assert_eq!(
        request.body.as_deref(),
        Some(
            "app%5Bname%5D=Test+App&app%5Btags%5D%5B%5D=a+b&app%5Btags%5D%5B%5D=2&b=true\
             &changes=x%26y%3Dz%2B1+%C3%A9%0A&n=1.5&z="
        )
    );
    let decoded: Vec<(String, String)> =
        form_urlencoded::parse(request.body.as_deref().unwrap_or_default().as_bytes()).into_owned().collect();
    assert!(decoded.contains(&("changes".into(), "x&y=z+1 é\n".into())));
    assert!(decoded.contains(&("app[tags][]".into(), "a b".into())));
}

#[test]
fn get_and_delete_put_the_payload_in_the_query() {
    for method in [WebhookMethod::Get, WebhookMethod::Delete] {
        let spec = spec(
            method,
            "https://hooks.example.com/in?token=abc#frag",
            json!({"changes": "{{version.changes}}", "v": {"id": "{{version.id}}"}}),
        );
        let request = render(&spec, &with_changes("a b&c"));
        assert_eq!(request.method, method);
        assert_eq!(request.body, None);
        assert_eq!(request.content_type, None);
        assert_eq!(request.url, "https://hooks.example.com/in?token=abc&changes=a+b%26c&v%5Bid%5D=1#frag");
    }
    // Without an existing query, and with an empty payload nothing is added.
    let with_payload = spec(WebhookMethod::Get, "https://hooks.example.com/in", json!({"a": "1"}));
    assert_eq!(render(&with_payload, &with_changes("")).url, "https://hooks.example.com/in?a=1");
    let empty = spec(WebhookMethod::Get, "https://hooks.example.com/in", json!({}));
    assert_eq!(render(&empty, &with_changes("")).url, "https://hooks.example.com/in");
    // The format does not matter for GET: there is no body.
    let mut form = spec(WebhookMethod::Get, "https://hooks.example.com/in?x=1", json!({"a": "1"}));
    form.format = PayloadFormat::Form;
    let request = render(&form, &with_changes(""));
    assert_eq!(
        (request.url.as_str(), request.body, request.content_type),
        ("https://hooks.example.com/in?x=1&a=1", None, None)
    );
}

#[test]
fn form_and_query_payloads_must_be_objects() {
    let mut form = post(json!(["a"]));
    form.format = PayloadFormat::Form;
    let err = compile_err(&form);
    assert_eq!(err.location, "payload");
    assert_eq!(err.message, "must be a JSON object with the form format");
    for method in [WebhookMethod::Get, WebhookMethod::Delete] {
        let err = compile_err(&spec(method, "https://hooks.example.com/", json!("text")));
        assert_eq!(err.location, "payload");
        assert!(err.message.contains("query parameters"), "{err}");
    }
    for method in [WebhookMethod::Put, WebhookMethod::Patch] {
        compile(&spec(method, "https://hooks.example.com/", json!("text")))
            .expect("JSON bodies may be any value");
    }
}

// ---- URLs ----

#[test]
fn url_values_are_percent_encoded_and_decode_back() {
    let value = "a b/c?d&e=f#g 🎮 ü%20";
    let spec = spec(
        WebhookMethod::Post,
        "https://hooks.example.com/apps/{{version.changes}}/v?label={{version.changes}}&x=1#{{version.changes}}",
        json!({}),
    );
    let request = render(&spec, &with_changes(value));
    assert_eq!(
        request.url,
        "https://hooks.example.com/apps/a%20b%2Fc%3Fd&e=f%23g%20%F0%9F%8E%AE%20%C3%BC%2520/v\
         ?label=a%20b/c?d%26e%3Df%23g%20%F0%9F%8E%AE%20%C3%BC%2520&x=1\
         #a%20b/c?d&e=f%23g%20%F0%9F%8E%AE%20%C3%BC%2520"
    );
    let url = url::Url::parse(&request.url).expect("parses");
    let segments: Vec<_> = url.path_segments().expect("has a path").collect();
    assert_eq!(segments.len(), 3, "the value stayed one segment");
    assert_eq!(percent_encoding::percent_decode_str(segments[1]).decode_utf8_lossy(), value);
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(query, [("label".to_owned(), value.to_owned()), ("x".to_owned(), "1".to_owned())]);
    assert_eq!(
        percent_encoding::percent_decode_str(url.fragment().unwrap_or_default()).decode_utf8_lossy(),
        value
    );
}

#[test]
fn url_must_be_absolute_http_at_compile() {
    for bad in [
        "not a url",
        "/relative/{{app.name}}",
        "ftp://files.example.com/{{app.name}}",
        "https://exa mple.com/",
        "mailto:a@example.com",
    ] {
        let err = compile_err(&post_to(bad));
        assert_eq!(err.location, "url", "{bad}");
        assert!(err.message.starts_with("must be an absolute http(s) URL"), "{bad}: {err}");
    }
    compile(&post_to("http://hooks.example.com:8080/x/{{app.name}}?q={{version.label}}"))
        .expect("http with a port is fine");
}

#[test]
fn url_host_cannot_come_from_a_variable() {
    for bad in
        ["https://{{app.name}}.example.com/", "{{app.download_url}}", "https://example.com:{{version.id}}/"]
    {
        let err = compile_err(&post_to(bad));
        assert_eq!(err.location, "url", "{bad}");
        assert!(err.message.contains("only appear in the path, query or fragment"), "{bad}: {err}");
    }
}

fn post_to(url: &str) -> WebhookSpec {
    spec(WebhookMethod::Post, url, json!({}))
}

// ---- headers ----

fn with_headers(pairs: &[(&str, &str)]) -> WebhookSpec {
    let mut spec = post(json!({}));
    spec.headers = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    spec
}

#[test]
fn headers_render_in_order() {
    let spec = with_headers(&[("X-Version", "{{ version.label }}"), ("Authorization", "Bearer s3cret")]);
    let request = render(&spec, &Values::sample(EventName::VersionProcessed));
    assert_eq!(
        request.headers,
        [
            ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
            ("X-Version".to_owned(), "Test Version".to_owned())
        ]
    );
}

#[test]
fn header_values_with_line_breaks_are_errors_not_injections() {
    let compiled = compile(&with_headers(&[("X-Label", "{{version.changes}}")])).expect("compiles");
    for bad in ["ok\r\nX-Evil: 1", "ok\nX-Evil: 1", "ok\rX-Evil: 1", "bell\u{7}"] {
        let err = compiled.render(&with_changes(bad)).expect_err("must not render");
        assert_eq!(err.location, "headers.X-Label");
        assert!(err.message.contains("not a valid HTTP header value"), "{err}");
    }
    // Non-ASCII text is sent as UTF-8 bytes (http accepts obs-text).
    let request = compiled.render(&with_changes("Café ✓")).expect("renders");
    assert_eq!(request.headers, [("X-Label".to_owned(), "Café ✓".to_owned())]);
}

#[test]
fn reserved_and_invalid_header_names_are_refused() {
    for name in [
        "webhook-id",
        "Webhook-Timestamp",
        "WEBHOOK-SIGNATURE",
        "content-type",
        "User-Agent",
        "Host",
        "Content-Length",
    ] {
        let err = compile_err(&with_headers(&[(name, "x")]));
        assert_eq!(err.location, format!("headers.{name}"));
    }
    let err = compile_err(&with_headers(&[("webhook-signature", "v1,forged")]));
    assert!(err.message.contains("reserved"), "{err}");
    let err = compile_err(&with_headers(&[("Content-Type", "text/plain")]));
    assert!(err.message.contains("request format"), "{err}");
    let err = compile_err(&with_headers(&[("X-{{app.name}}", "x")]));
    assert_eq!(
        err.to_string(),
        "headers.X-{{app.name}}: header names cannot contain variables; only values can"
    );
    let err = compile_err(&with_headers(&[("X Bad", "x")]));
    assert_eq!(err.to_string(), "headers.X Bad: is not a valid HTTP header name");
}

#[test]
fn literal_header_values_are_checked_at_compile() {
    let err = compile_err(&with_headers(&[("X-A", "line\nbreak")]));
    assert_eq!(err.location, "headers.X-A");
}

// ---- template errors, located ----

#[test]
fn template_errors_name_the_variable_and_where_it_is() {
    let cases: Vec<(WebhookSpec, &str)> = vec![
        (
            post_to("https://hooks.example.com/{{app.nme}}"),
            "url: unknown variable `{{app.nme}}` at character 27",
        ),
        (
            post_to("https://hooks.example.com/{{app.name"),
            "url: `{{` at character 27 is never closed by `}}`",
        ),
        (
            with_headers(&[("X-Token", "Bearer {{ app.secret }}")]),
            "headers.X-Token: unknown variable `{{app.secret}}` at character 8",
        ),
        (post(json!("{{version}}")), "payload: unknown variable `{{version}}` at character 1"),
        (
            post(json!({"a": {"b": [1, 2, "x {{version.label"]}})),
            "payload.a.b[2]: `{{` at character 3 is never closed by `}}`",
        ),
        (
            post(json!({"a": {"{{app.title}}": "x"}})),
            "payload.a.{{app.title}}: in the key itself: unknown variable `{{app.title}}` at character 1",
        ),
        (
            post(json!({"{{app.name}}": {"x": "{{bad}}"}})),
            "payload.{{app.name}}.x: unknown variable `{{bad}}` at character 1",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(compile_err(&spec).to_string(), expected);
    }
}

#[test]
fn compiled_webhook_remembers_its_spec() {
    let spec = post(json!({"a": "{{app.name}}"}));
    let compiled = compile(&spec).expect("compiles");
    assert_eq!(compiled.spec(), &spec);
    assert_eq!(compiled.method, WebhookMethod::Post);
}

// ---- humanize ----

#[test]
fn human_sizes() {
    for (bytes, expected) in [
        (0, "0 Bytes"),
        (1, "1 Byte"),
        (500, "500 Bytes"),
        (1023, "1023 Bytes"),
        (1024, "1 KB"),
        (1234, "1.21 KB"),
        (12_345, "12.1 KB"),
        (1_048_575, "1020 KB"),
        (1_234_567, "1.18 MB"),
        (1_234_567_890, "1.15 GB"),
    ] {
        assert_eq!(human_size(bytes), expected, "{bytes}");
    }
}

#[test]
fn human_durations() {
    for (secs, expected) in
        [(0, "0s"), (45, "45s"), (200, "3m 20s"), (3_900, "1h 5m"), (187_200, "2d 4h"), (-5, "")]
    {
        assert_eq!(human_duration(TimeDelta::seconds(secs)), expected, "{secs}");
    }
}
