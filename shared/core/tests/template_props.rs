//! Properties of the template engine over arbitrary text: whatever a changelog or a studio's
//! template contains, rendering never panics, never produces invalid JSON or an unparsable URL,
//! and never lets a value break out of where it was placed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderValue;
use patchbay_core::model::{EventName, PayloadFormat, WebhookMethod, WebhookSpec};
use patchbay_core::template::{Template, Values, Variable, compile};
use percent_encoding::percent_decode_str;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

const CASES: u32 = 512;

/// Characters that matter to JSON, URLs, headers, forms and the template syntax, plus some
/// non-ASCII, so short strings hit the interesting cases often.
const AWKWARD: &[char] = &[
    '{', '}', '"', '\\', '\r', '\n', '\t', '\0', '\u{7f}', '%', '&', '#', '?', '/', '=', '+', ';', ' ', '.',
    ':', '@', '[', ']', '\'', 'a', 'Z', '0', 'é', '🎮', '\u{2028}', '\u{feff}',
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<char>(), 0..24).prop_map(String::from_iter),
        vec(select(AWKWARD), 0..24).prop_map(String::from_iter),
        any::<String>(),
    ]
}

/// Template-ish text: fragments of the syntax and of URLs glued together at random.
fn template_text() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{ app.name }}",
        "{{version.changes}}",
        "{{version.label",
        "{{nope}}",
        "{",
        "}",
        "https://",
        "http://",
        "example.com",
        "/",
        "?",
        "#",
        "&",
        "=",
        ":",
        "@",
        "%",
        "%2",
        " ",
        "\n",
        "é",
        "x",
        "[",
        "]",
        "\\",
        "..",
    ];
    prop_oneof![vec(select(PIECES), 0..12).prop_map(|p| p.concat()), text()]
}

/// One variable as a studio might write it, with or without spaces inside the braces.
fn variable() -> impl Strategy<Value = String> {
    (select(Variable::ALL.to_vec()), select(&["", " ", "  "][..]), select(&["", " "][..]))
        .prop_map(|(var, before, after)| format!("{{{{{before}{}{after}}}}}", var.name()))
}

/// Literal URL text after the authority: separators, escapes, dot segments and non-ASCII.
fn url_literal() -> impl Strategy<Value = &'static str> {
    select(
        &[
            "/", "hooks", "a", "?", "&", "=", "x=1", "#", "%20", "%", "%2", "é", "🎮", ".", "..", " ", ":",
            "@", "+", ";", "[", "]", "\\", "'", "~",
        ][..],
    )
}

/// URL templates that are well formed by construction (a scheme, a host, then a path, query or
/// fragment mixing literals and variables), so the properties about compiled URLs get to run.
fn url_template() -> impl Strategy<Value = String> {
    (
        select(&["https://", "http://", "HTTPS://"][..]),
        select(
            &["example.com", "hooks.example.com:8443", "127.0.0.1:9", "[::1]", "xn--bcher-kva.example"][..],
        ),
        select(&["/", "?", "#"][..]),
        vec(prop_oneof![variable(), url_literal().prop_map(str::to_owned)], 0..10),
    )
        .prop_map(|(scheme, host, start, rest)| format!("{scheme}{host}{start}{}", rest.concat()))
}

/// Mostly well-formed URL templates, sometimes arbitrary template-ish text.
fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![9 => url_template(), 1 => template_text()]
}

/// Text with variables that is a valid template and a valid header value once rendered: no
/// control characters, no stray `{{`.
fn value_template() -> impl Strategy<Value = String> {
    const LITERALS: &[&str] = &["v", " ", "x", "é", "🎮", "\"", "}", "{", "}}", ":", ",", "[]", "%", "&="];
    vec(prop_oneof![variable(), select(LITERALS).prop_map(str::to_owned)], 0..6).prop_map(|p| p.concat())
}

/// Mostly valid (and unreserved) header names, sometimes anything.
fn header_name() -> impl Strategy<Value = String> {
    const NAMES: &[&str] =
        &["X-Label", "x-patchbay-app", "Authorization", "X_Custom.1", "accept", "X-~!#$&'*+^`|"];
    prop_oneof![9 => select(NAMES).prop_map(str::to_owned), 1 => template_text()]
}

/// Mostly valid templates, sometimes arbitrary template-ish text.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![9 => value_template(), 1 => template_text()]
}

/// Run `test` over `CASES` inputs; panics with the minimal failing input.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    // No regression files: these tests pin their reach with counters, not saved cases.
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(CASES) };
    if let Err(err) = TestRunner::new(config).run(&strategy, test) {
        panic!("{err}");
    }
}

/// `count` is at least `percent` % of the cases run.
fn assert_reached(what: &str, count: &AtomicUsize, percent: u32) {
    let count = count.load(Ordering::Relaxed);
    let cases = usize::try_from(CASES).unwrap_or(usize::MAX);
    eprintln!("{count} of {cases} cases {what}");
    assert!(
        count * 100 >= cases * usize::try_from(percent).unwrap_or(100),
        "only {count} of {cases} cases {what} (want ≥ {percent} %): the generator no longer reaches the property"
    );
}

fn values_with(var: Variable, value: &str) -> Values {
    Values::sample(EventName::VersionPublished).with(var, value)
}

fn spec(method: WebhookMethod, url: &str, payload: Value) -> WebhookSpec {
    WebhookSpec {
        events: vec![EventName::VersionPublished],
        method,
        url: url.to_owned(),
        headers: BTreeMap::new(),
        format: PayloadFormat::Json,
        payload,
        timeout: None,
        retry_schedule: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn json_payload_parses_and_round_trips(value in text()) {
        let compiled = compile(&spec(
            WebhookMethod::Post,
            "https://hooks.example.com/",
            json!({"v": "{{version.changes}}", "w": "<{{ version.changes }}>", "k": {"{{version.changes}}": 1}}),
        ))
        .expect("compiles");
        let request = compiled.render(&values_with(Variable::VersionChanges, &value)).expect("renders");
        let body: Value = serde_json::from_str(request.body.as_deref().expect("body")).expect("valid JSON");
        prop_assert_eq!(&body["v"], &Value::String(value.clone()));
        prop_assert_eq!(&body["w"], &Value::String(format!("<{value}>")));
        prop_assert_eq!(body["k"].as_object().map(|k| k.keys().cloned().collect::<Vec<_>>()), Some(vec![value]));
    }

    #[test]
    fn form_body_and_query_round_trip(value in text()) {
        for method in [WebhookMethod::Post, WebhookMethod::Get] {
            let mut spec = spec(method, "https://hooks.example.com/?a=1", json!({"v": "{{version.changes}}", "n": {"m": ["{{version.changes}}"]}}));
            spec.format = PayloadFormat::Form;
            let request = compile(&spec).expect("compiles").render(&values_with(Variable::VersionChanges, &value)).expect("renders");
            let encoded = match method {
                WebhookMethod::Get => url::Url::parse(&request.url).expect("URL parses").query().unwrap_or_default().to_owned(),
                _ => request.body.clone().expect("body"),
            };
            let pairs: Vec<(String, String)> = form_urlencoded::parse(encoded.as_bytes()).into_owned().collect();
            let mut expected = vec![("v".to_owned(), value.clone()), ("n[m][]".to_owned(), value.clone())];
            if method == WebhookMethod::Get {
                expected.push(("a".to_owned(), "1".to_owned()));
            }
            expected.sort();
            let mut pairs = pairs;
            pairs.sort();
            prop_assert_eq!(pairs, expected);
        }
    }

    #[test]
    fn url_values_parse_and_decode_back(value in text()) {
        let compiled = compile(&spec(
            WebhookMethod::Post,
            "https://hooks.example.com/a/{{version.label}}/b?label={{version.label}}&x=1#f{{version.label}}",
            json!({}),
        ))
        .expect("compiles");
        let request = compiled.render(&values_with(Variable::VersionLabel, &value)).expect("renders");
        let url = url::Url::parse(&request.url).expect("rendered URL parses");
        prop_assert_eq!(url.host_str(), Some("hooks.example.com"));
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        prop_assert_eq!(query, vec![("label".to_owned(), value.clone()), ("x".to_owned(), "1".to_owned())]);
        let fragment = percent_decode_str(url.fragment().unwrap_or_default()).decode_utf8_lossy().into_owned();
        prop_assert_eq!(fragment, format!("f{value}"));
        // A whole segment of `.` or `..` is a dot segment to any URL parser; see url_template.rs.
        if value != "." && value != ".." {
            let segments: Vec<&str> = url.path_segments().expect("path").collect();
            prop_assert_eq!(segments.len(), 3);
            prop_assert_eq!(percent_decode_str(segments[1]).decode_utf8_lossy().into_owned(), value);
        }
    }

    #[test]
    fn headers_never_carry_line_breaks(value in text()) {
        let mut spec = spec(WebhookMethod::Post, "https://hooks.example.com/", json!({}));
        spec.headers.insert("X-Label".to_owned(), "v {{version.label}}".to_owned());
        let compiled = compile(&spec).expect("compiles");
        match compiled.render(&values_with(Variable::VersionLabel, &value)) {
            Ok(request) => {
                let (name, rendered) = &request.headers[0];
                prop_assert_eq!(name, "X-Label");
                prop_assert!(!rendered.contains(['\r', '\n', '\0']));
                prop_assert!(HeaderValue::from_str(rendered).is_ok());
                prop_assert_eq!(rendered, &format!("v {value}"));
            }
            Err(err) => {
                prop_assert_eq!(err.location, "headers.X-Label");
                prop_assert!(value.chars().any(|c| c.is_ascii_control() && c != '\t'));
            }
        }
    }

    #[test]
    fn parser_never_panics_and_plain_text_is_itself(template in template_text()) {
        let values = Values::sample(EventName::VersionProcessFailed);
        match Template::parse(&template) {
            Ok(parsed) => {
                let rendered = parsed.render(&values);
                if !template.contains("{{") {
                    prop_assert_eq!(rendered, template.clone());
                }
            }
            Err(err) => prop_assert!(template.contains("{{"), "{err}"),
        }
    }
}

/// A URL template that compiles renders, for any value of its variables, to an http(s) URL that
/// parses. Most generated templates compile and hold variables, or this would prove nothing.
#[test]
fn compiled_urls_render_for_any_value() {
    let compiled_with_variables = AtomicUsize::new(0);
    check((url_text(), text()), |(template, value)| {
        if let Ok(compiled) = compile(&spec(WebhookMethod::Post, &template, json!({}))) {
            let values = Values::sample(EventName::VersionPublished)
                .with(Variable::AppName, value.as_str())
                .with(Variable::VersionChanges, value.as_str());
            let request = compiled.render(&values).expect("a URL that compiled always renders");
            let url = url::Url::parse(&request.url).expect("and parses");
            prop_assert!(matches!(url.scheme(), "http" | "https"));
            if template.contains("{{") {
                compiled_with_variables.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    assert_reached("compiled with a variable", &compiled_with_variables, 50);
}

/// Compiling never panics, and whatever compiles renders the sample of every pipeline event (what
/// the generated specs subscribe to: compiling checks exactly the subscribed events). Most
/// generated specs compile, so the rendering half is exercised too.
#[test]
fn compile_never_panics_on_arbitrary_specs() {
    const METHODS: &[WebhookMethod] = &[
        WebhookMethod::Get,
        WebhookMethod::Post,
        WebhookMethod::Put,
        WebhookMethod::Patch,
        WebhookMethod::Delete,
    ];
    let compiled_specs = AtomicUsize::new(0);
    let inputs = (url_text(), header_name(), value_text(), value_text(), any::<bool>(), select(METHODS));
    check(inputs, |(url, name, value, key, format_form, method)| {
        let mut spec =
            spec(method, &url, json!({ key.clone(): value.clone(), "x": [value.clone(), {"y": key}] }));
        spec.headers.insert(name, value);
        if format_form {
            spec.format = PayloadFormat::Form;
        }
        if let Ok(compiled) = compile(&spec) {
            for event in EventName::PIPELINE {
                compiled.render(&Values::sample(event)).expect("compiled specs render their samples");
            }
            compiled_specs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    assert_reached("compiled", &compiled_specs, 50);
}
