//! Parser hardening, in process over SQLite: whatever bytes, JSON, path segments or query
//! strings arrive, the ingest and keys routers answer with a 4xx or a success — never a 5xx, never
//! a panic.
//!
//! - (a) `POST /v1/events`: arbitrary bodies, correctly signed so they reach the parser; and
//!   arbitrary (unsigned, badly signed, stale) signature headers, which must all be 401.
//! - (b) every JSON route of the management and key administration APIs: arbitrary bytes and
//!   arbitrary JSON trees (biased towards each route's field names).
//! - (c) arbitrary path segments and query strings on `GET /v2/keys/{key}` and the management
//!   GET routes.
//!
//! Network safety: the only webhook ever sent to (by `POST /v1/webhooks/{id}/test`) points at a
//! receiver on 127.0.0.1, created here with a fixed URL; the test route's body can only choose an
//! event name. Generated bodies may set URLs on other webhooks, but nothing in this file delivers
//! to those.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use patchbay_core::config::SendConfig;

use patchbay_core::secret::Secret;
use patchbay_core::service::ingest::MAX_BODY_BYTES;
use patchbay_core::signing::{generate_secret, signature_header};
use patchbay_e2e::{LocalFunctions, Receiver};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

const INGEST_CASES: u32 = 512;
const JUNK_HEADER_CASES: u32 = 256;
/// Per JSON route, for byte bodies and again for JSON values.
const ROUTE_CASES: u32 = 256;
const PATH_CASES: u32 = 256;

/// The management app, its webhooks and keys; nothing ingested in this file targets it.
const APP_ID: &str = "app_mgmt";

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

struct Fixture {
    rt: tokio::runtime::Runtime,
    ingest: Router,
    keys: Router,
    ingest_secret: Secret,
    admin_token: String,
    app_secret: String,
    /// The target of generated PATCH bodies; never sent to.
    patch_webhook: String,
    /// The target of test sends: always the local receiver.
    test_webhook: String,
    /// A real license key of the app.
    key: String,
    receiver: Receiver,
    counter: AtomicU64,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (ingest, keys, ingest_secret, admin_token, receiver) = rt.block_on(async {
            let backends = patchbay_testing::backends::sqlite().await;
            let send = SendConfig {
                timeout: Duration::from_secs(2),
                allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
                ..SendConfig::default()
            };
            let ingest_secret = generate_secret();
            let admin_token = Secret::random_alphanumeric(32);
            let functions = LocalFunctions::new(&backends, &ingest_secret, &admin_token, &send, "1s").await;
            let receiver = Receiver::start(&[]).await;
            (functions.ingest, functions.keys, ingest_secret, admin_token.expose().to_owned(), receiver)
        });
        let mut fixture = Fixture {
            rt,
            ingest,
            keys,
            ingest_secret,
            admin_token,
            app_secret: String::new(),
            patch_webhook: String::new(),
            test_webhook: String::new(),
            key: String::new(),
            receiver,
            counter: AtomicU64::new(0),
        };
        let (status, app) = fixture.admin_json(
            Target::Ingest,
            "POST",
            "/v1/apps",
            &json!({"id": APP_ID, "name": "mgmt", "display_name": "Mgmt"}),
        );
        assert_eq!(status, 201, "{app}");
        app["app_secret"].as_str().unwrap().clone_into(&mut fixture.app_secret);
        let webhook = |fixture: &Fixture, url: String| {
            let (status, webhook) = fixture.admin_json(
                Target::Ingest,
                "POST",
                &format!("/v1/apps/{APP_ID}/webhooks"),
                &json!({
                    "events": ["version_published", "version_processed"],
                    "method": "POST",
                    "url": url,
                    "headers": {"X-Token": "t-{{app.name}}"},
                    "payload": {"text": "{{app.display_name}} {{version.label}}"}
                }),
            );
            assert_eq!(status, 201, "{webhook}");
            webhook["id"].as_str().unwrap().to_owned()
        };
        fixture.patch_webhook = webhook(&fixture, "http://127.0.0.1:9/never-sent".to_owned());
        fixture.test_webhook = webhook(&fixture, fixture.receiver.url("/hook"));
        let (status, keys) = fixture.admin_json(
            Target::Keys,
            "POST",
            &format!("/v1/apps/{APP_ID}/keys"),
            &json!({"count": 2}),
        );
        assert_eq!(status, 201, "{keys}");
        keys["keys"][0].as_str().unwrap().clone_into(&mut fixture.key);
        fixture
    }

    fn router(&self, target: Target) -> Router {
        match target {
            Target::Ingest => self.ingest.clone(),
            Target::Keys => self.keys.clone(),
        }
    }

    fn call(&self, target: Target, request: Request<Body>) -> (u16, Vec<u8>) {
        let router = self.router(target);
        self.rt.block_on(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
            (status, body)
        })
    }

    fn admin_request(&self, method: &str, path: &str, body: Vec<u8>) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.admin_token))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    }

    fn admin_bytes(&self, target: Target, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.call(target, self.admin_request(method, path, body))
    }

    fn admin_json(&self, target: Target, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let (status, bytes) = self.admin_bytes(target, method, path, body.to_string().into_bytes());
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn next_id(&self) -> String {
        format!("msg_hardening_{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// `POST /v1/events` signed with the ingest secret, now.
    fn signed_event(&self, id: &str, body: Vec<u8>) -> Request<Body> {
        let ts = chrono::Utc::now().timestamp();
        let signature = signature_header(&[&self.ingest_secret], id, ts, &body).unwrap();
        Request::builder()
            .method("POST")
            .uri("/v1/events")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    }
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Ingest,
    Keys,
}

/// Run `test` over `cases` inputs; panics with the minimal failing input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    // No regression files: this runner has no source file to put them next to.
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(cases) };
    let mut runner = TestRunner::new(config);
    if let Err(err) = runner.run(&strategy, test) {
        panic!("{err}");
    }
}

fn show(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Every field name any JSON route reads, plus the event body's.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "display_name",
    "events",
    "method",
    "url",
    "headers",
    "format",
    "payload",
    "enabled",
    "event",
    "count",
    "keys",
    "collection_id",
    "app",
    "version",
    "label",
    "published_at",
    "changes",
    "processing_errors",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "version_published",
    "version_processed",
    "version_process_failed",
    "version_deleted",
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "post",
    "json",
    "form",
    "{{app.name}}",
    "{{ version.changes }}",
    "{{version.label",
    "{{nope}}",
    "{{",
    "}}",
    "{{{{}}}}",
    "http://127.0.0.1:9/x?a={{app.name}}",
    "http://127.0.0.1:9/{{version.label}}",
    "not a url",
    "ftp://127.0.0.1/",
    "webhook-signature",
    "Content-Type",
    "X-Token",
    "bad header\r\nname",
    "app_mgmt",
    "ABCDE-FGHJK-MNPQR-STVWX",
    "2026-11-20T10:00:00Z",
    "yesterday",
    "\u{0}",
    "\u{7f}",
    "é🎮\u{2028}\u{feff}",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(STRINGS).prop_map(str::to_owned),
        2 => any::<String>(),
        1 => vec(select(STRINGS), 0..4).prop_map(|parts| parts.concat()),
        1 => (1usize..300).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        (-3i64..30).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        select(vec![0.5f64, -0.0, 1e300, 10_000.0, 10_001.0]).prop_map(Value::from),
        Just(json!(10_000)),
        Just(json!(10_001)),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ]
    .boxed()
}

fn key_name() -> BoxedStrategy<String> {
    prop_oneof![3 => select(FIELDS).prop_map(str::to_owned), 1 => text()].boxed()
}

/// Arbitrary JSON trees, up to 4 levels deep.
fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                btree_map(key_name(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A plausible value for a named field, often of the right type, sometimes anything.
fn field_value(field: &'static str) -> BoxedStrategy<Value> {
    let specific: BoxedStrategy<Value> = match field {
        "events" => vec(text(), 0..4).prop_map(|v| json!(v)).boxed(),
        "headers" => btree_map(text(), text(), 0..4).prop_map(|m| json!(m)).boxed(),
        "count" => number(),
        "keys" => vec(text(), 0..6).prop_map(|v| json!(v)).boxed(),
        "enabled" => any::<bool>().prop_map(Value::Bool).boxed(),
        "payload" => json_value(),
        _ => text().prop_map(Value::String).boxed(),
    };
    prop_oneof![3 => specific, 1 => json_value()].boxed()
}

/// An object made of (some of) a route's own fields: these get past `deny_unknown_fields` and
/// into validation.
fn shaped(fields: &'static [&'static str]) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|&f| proptest::option::of(field_value(f).prop_map(move |v| (f.to_owned(), v))).boxed())
        .collect();
    entries.prop_map(|entries| Value::Object(entries.into_iter().flatten().collect())).boxed()
}

/// A valid body of the route, with up to three of its fields replaced or removed: these reach
/// the use case itself (and sometimes succeed).
fn near_valid(valid: BoxedStrategy<Value>, fields: &'static [&'static str]) -> BoxedStrategy<Value> {
    let edit = select(fields).prop_flat_map(|f| (Just(f), proptest::option::of(field_value(f))));
    (valid, vec(edit, 0..3))
        .prop_map(|(mut body, edits)| {
            if let Value::Object(map) = &mut body {
                for (field, value) in edits {
                    match value {
                        Some(v) => map.insert(field.to_owned(), v),
                        None => map.remove(field),
                    };
                }
            }
            body
        })
        .boxed()
}

/// One JSON route: how to call it, the fields it reads, a valid body.
struct Route {
    target: Target,
    method: &'static str,
    path: String,
    fields: &'static [&'static str],
    valid: BoxedStrategy<Value>,
}

/// Byte bodies for a JSON route: arbitrary bytes, truncated JSON, and fixed corners (empty,
/// BOM, duplicate keys, very deep nesting).
fn route_bytes(fields: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..512),
        2 => (shaped(fields), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(i.index(bytes.len() + 1));
            bytes
        }),
        1 => select(vec![
            b"".to_vec(), b"   ".to_vec(), b"null".to_vec(), b"[]".to_vec(), b"\"{}\"".to_vec(),
            b"{}".to_vec(), b"{\"a\":1,\"a\":2}".to_vec(), b"\xef\xbb\xbf{}".to_vec(),
            "[".repeat(10_000).into_bytes(), "{\"a\":".repeat(5_000).into_bytes(),
        ]),
    ]
    .boxed()
}

/// JSON bodies for a JSON route: arbitrary trees, objects of the route's fields, and valid
/// bodies with a few fields broken.
fn route_json(fields: &'static [&'static str], valid: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        1 => json_value(),
        1 => shaped(fields),
        1 => near_valid(valid, fields),
    ]
    .boxed()
}

/// A valid event body for an app without webhooks.
fn valid_event(app_id: &str) -> Value {
    json!({
        "event": "version_published",
        "app": {"id": app_id, "name": "space-race", "display_name": "Space Race", "group_name": null,
                "download_url": "https://example.com/d", "direct_download_url": "https://example.com/dd"},
        "version": {"id": 42, "label": "1.0.3", "published_at": "2026-11-20T10:00:00Z",
                    "content_size": 1_234_567, "diff_size": 2345, "changes": "Fixed \"jump\" bug",
                    "known_issues": "", "processing_errors": [], "processing_started_at": null,
                    "processing_finished_at": null}
    })
}

/// Paths into the event body that can be replaced or removed.
const EVENT_PATHS: &[&[&str]] = &[
    &["event"],
    &["app"],
    &["app", "id"],
    &["app", "name"],
    &["app", "download_url"],
    &["version"],
    &["version", "id"],
    &["version", "label"],
    &["version", "published_at"],
    &["version", "content_size"],
    &["version", "changes"],
    &["version", "processing_errors"],
    &["version", "processing_started_at"],
    &["extra"],
];

/// A valid event with a few fields replaced by arbitrary JSON, or removed.
fn mutated_event() -> BoxedStrategy<Value> {
    let edit = (select(EVENT_PATHS), proptest::option::of(json_value()));
    (vec(edit, 0..4), prop_oneof![Just("app_ingest".to_owned()), text()])
        .prop_map(|(edits, app_id)| {
            let mut event = valid_event(&app_id);
            for (path, value) in edits {
                let (last, parents) = path.split_last().unwrap();
                let mut at = &mut event;
                for p in parents {
                    at = &mut at[*p];
                }
                if let Value::Object(map) = at {
                    match value {
                        Some(v) => {
                            map.insert((*last).to_owned(), v);
                        }
                        None => {
                            map.remove(*last);
                        }
                    }
                }
            }
            event
        })
        .boxed()
}

fn event_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..1024),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        5 => mutated_event().prop_map(|v| v.to_string().into_bytes()),
        1 => (mutated_event(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(i.index(bytes.len() + 1));
            bytes
        }),
        1 => (0usize..3).prop_map(|extra| vec![b'{'; MAX_BODY_BYTES + 1 + extra]),
        1 => Just(MAX_BODY_BYTES).prop_map(|n| {
            // Exactly at the limit: read, signed, parsed (and refused as JSON).
            let mut body = b"{\"event\":\"version_published\",\"pad\":\"".to_vec();
            body.resize(n - 2, b'a');
            body.extend_from_slice(b"\"}");
            body
        }),
    ]
    .boxed()
}

/// A `webhook-id`: ours (unique per case) or arbitrary visible ASCII up to 300 characters.
#[derive(Debug, Clone)]
enum EventId {
    Fresh,
    Given(String),
}

fn event_id() -> BoxedStrategy<EventId> {
    prop_oneof![3 => Just(EventId::Fresh), 1 => "[!-~][ -~]{0,299}".prop_map(EventId::Given)].boxed()
}

/// Header bytes that make a valid `HeaderValue` (anything but controls other than tab).
fn header_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..80)
            .prop_map(|v| v.into_iter().filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)).collect()),
        text().prop_map(|s| s.bytes().filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)).collect()),
        Just(b"v1,".to_vec()),
        Just(b"v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_vec()),
        Just(b"1700000000".to_vec()),
    ]
    .boxed()
}

/// How an unauthenticated request is wrong.
#[derive(Debug, Clone)]
enum BadSignature {
    /// Each header present with junk, or absent.
    Junk { id: Option<Vec<u8>>, timestamp: Option<Vec<u8>>, signature: Option<Vec<u8>> },
    /// Correctly formed, signed with another secret.
    OtherSecret,
    /// Correctly signed, but with a timestamp outside the tolerance.
    Stale { offset: i64 },
    /// Correctly signed, but over another body.
    OtherBody,
}

fn bad_signature() -> BoxedStrategy<BadSignature> {
    prop_oneof![
        6 => (
            proptest::option::of(header_bytes()),
            proptest::option::of(header_bytes()),
            proptest::option::of(header_bytes()),
        )
            .prop_map(|(id, timestamp, signature)| BadSignature::Junk { id, timestamp, signature }),
        1 => Just(BadSignature::OtherSecret),
        1 => prop_oneof![301i64..100_000, -100_000i64..-301].prop_map(|offset| BadSignature::Stale { offset }),
        1 => Just(BadSignature::OtherBody),
    ]
    .boxed()
}

fn encode_all(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const X129: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// RFC 3986 `pchar`s, including a bare `%` (which may start an invalid escape).
const PCHARS: &str = "abcXYZ019-._~!$&'()*+,;=:@%";

/// A path segment: percent-encoded arbitrary bytes, raw `pchar` junk, or interesting values.
fn segment(fixture_values: Vec<String>) -> BoxedStrategy<String> {
    let chars: Vec<char> = PCHARS.chars().collect();
    prop_oneof![
        3 => vec(any::<u8>(), 0..200).prop_map(|b| encode_all(&b)),
        2 => any::<String>().prop_map(|s| encode_all(s.as_bytes())),
        2 => vec(select(chars), 0..40).prop_map(String::from_iter),
        1 => select(vec!["%", "%zz", "%FF", "%C0%AF", "%00", "..", ".", "%2F", "a%2Fb", X129])
            .prop_map(str::to_owned),
        1 => (1usize..400).prop_map(|n| "K".repeat(n)),
        2 => select(fixture_values),
    ]
    .boxed()
}

/// A query string: encoded pairs with the names routes read, or raw junk.
fn query(fixture_values: Vec<String>, app_secret: String) -> BoxedStrategy<Option<String>> {
    const NAMES: &[&str] = &["app_secret", "key_secret", "status", "cursor", "limit", "since", "x"];
    let chars: Vec<char> = format!("{PCHARS}/?").chars().collect();
    let value = prop_oneof![
        2 => any::<String>(),
        1 => text(),
        1 => select(vec!["pending", "succeeded", "failed", "0", "1", "200", "201", "-1", "18446744073709551616", "abc"])
            .prop_map(str::to_owned),
        1 => select(fixture_values),
        1 => vec(any::<u8>(), 0..40).prop_map(|b| hex_string(&b)),
    ];
    let pair = (prop_oneof![3 => select(NAMES).prop_map(str::to_owned), 1 => any::<String>()], value)
        .prop_map(|(k, v)| format!("{}={}", encode_all(k.as_bytes()), encode_all(v.as_bytes())));
    prop_oneof![
        1 => Just(None),
        4 => vec(pair, 0..5).prop_map(|pairs| Some(pairs.join("&"))),
        2 => vec(select(chars), 0..60).prop_map(|c| Some(String::from_iter(c))),
        // The real app secret, so key checks get past the app lookup.
        2 => proptest::option::of(any::<String>()).prop_map(move |key_secret| {
            let mut q = format!("app_secret={}", encode_all(app_secret.as_bytes()));
            if let Some(k) = key_secret {
                q.push_str(&format!("&key_secret={}", encode_all(k.as_bytes())));
            }
            Some(q)
        }),
    ]
    .boxed()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// (a) ingest
// ---------------------------------------------------------------------------------------------

#[test]
fn signed_arbitrary_event_bodies_never_5xx() {
    let fixture = Fixture::new();
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    check(INGEST_CASES, (event_id(), event_body()), |(id, body)| {
        let id = match id {
            EventId::Fresh => fixture.next_id(),
            EventId::Given(id) => id,
        };
        let len = body.len();
        let (status, answer) = fixture.call(Target::Ingest, fixture.signed_event(&id, body));
        seen.lock().unwrap().insert(status);
        prop_assert!(
            matches!(status, 200 | 202 | 400 | 413 | 422),
            "status {} for a {}-byte body (id {:?}): {}",
            status,
            len,
            id,
            show(&answer)
        );
        if len > MAX_BODY_BYTES {
            prop_assert_eq!(status, 413);
        }
        if id.len() > 256 && len <= MAX_BODY_BYTES {
            prop_assert_eq!(status, 400, "{}", show(&answer));
        }
        if status == 202 || status == 200 {
            let answer: Value = serde_json::from_slice(&answer).unwrap();
            prop_assert_eq!(answer["event_id"].as_str(), Some(id.as_str()));
        }
        Ok(())
    });
    // The generators reach every stage: size limit, JSON, validation, acceptance.
    let seen = seen.into_inner().unwrap();
    for expected in [202, 400, 413, 422] {
        assert!(seen.contains(&expected), "no case answered {expected}: {seen:?}");
    }
}

#[test]
fn unsigned_or_badly_signed_events_are_401() {
    let fixture = Fixture::new();
    let other_secret = generate_secret();
    let small_body =
        prop_oneof![vec(any::<u8>(), 0..512), mutated_event().prop_map(|v| v.to_string().into_bytes()),];
    check(JUNK_HEADER_CASES, (bad_signature(), small_body), |(bad, body)| {
        let mut builder = Request::builder().method("POST").uri("/v1/events");
        let now = chrono::Utc::now().timestamp();
        let id = fixture.next_id();
        match &bad {
            BadSignature::Junk { id, timestamp, signature } => {
                for (name, value) in
                    [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)]
                {
                    if let Some(value) = value {
                        builder = builder.header(name, HeaderValue::from_bytes(value).unwrap());
                    }
                }
            }
            BadSignature::OtherSecret => {
                let signature = signature_header(&[&other_secret], &id, now, &body).unwrap();
                builder = builder
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", now.to_string())
                    .header("webhook-signature", signature);
            }
            BadSignature::Stale { offset } => {
                let ts = now + offset;
                let signature = signature_header(&[&fixture.ingest_secret], &id, ts, &body).unwrap();
                builder = builder
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature);
            }
            BadSignature::OtherBody => {
                let signature = signature_header(&[&fixture.ingest_secret], &id, now, b"{}").unwrap();
                builder = builder
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", now.to_string())
                    .header("webhook-signature", signature);
            }
        }
        let (status, answer) = fixture.call(Target::Ingest, builder.body(Body::from(body)).unwrap());
        prop_assert_eq!(status, 401, "{:?}: {}", bad, show(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        prop_assert_eq!(&answer["error"]["code"], "unauthorized");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// (b) management JSON bodies
// ---------------------------------------------------------------------------------------------

/// Send arbitrary bodies to one JSON route ([`ROUTE_CASES`] byte bodies, then [`ROUTE_CASES`]
/// JSON values): never a 5xx, always the one error shape on 4xx. The generators must reach both
/// validation (422) and success, or they test too little.
fn fuzz_route(fixture: &Fixture, route: Route) {
    let Route { target, method, path, fields, valid } = route;
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let send = |body: Vec<u8>| -> Result<(), TestCaseError> {
        let sent = show(&body);
        let (status, answer) = fixture.admin_bytes(target, method, &path, body);
        *seen.lock().unwrap().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{} {} answered {} to {}: {}", method, path, status, sent, show(&answer));
        prop_assert!(status != 401, "{} {}: the admin token was refused", method, path);
        if status >= 400 {
            let error: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            prop_assert!(
                error["error"]["code"].is_string(),
                "{} {}: {} is not the error shape",
                method,
                path,
                show(&answer)
            );
        }
        Ok(())
    };
    check(ROUTE_CASES, route_bytes(fields), send);
    check(ROUTE_CASES, route_json(fields, valid), |value| send(value.to_string().into_bytes()));
    let seen = seen.into_inner().unwrap();
    assert!(seen.contains_key(&422), "{method} {path}: no body reached validation: {seen:?}");
    assert!(seen.keys().any(|s| (200..300).contains(s)), "{method} {path}: no body succeeded: {seen:?}");
}

fn valid_webhook() -> BoxedStrategy<Value> {
    (
        select(&["version_published", "version_processed", "version_process_failed"][..]),
        select(&["POST", "PUT", "GET"][..]),
        select(&["json", "form"][..]),
    )
        .prop_map(|(event, method, format)| {
            json!({
                "events": [event],
                "method": method,
                "url": "http://127.0.0.1:9/x?app={{app.name}}",
                "headers": {"X-Token": "t-{{app.name}}"},
                "format": format,
                "payload": {"text": "{{app.display_name}} {{version.label}}", "n": 1},
                "enabled": true
            })
        })
        .boxed()
}

#[test]
fn create_app_bodies_never_5xx() {
    let fixture = Fixture::new();
    fuzz_route(
        &fixture,
        Route {
            target: Target::Ingest,
            method: "POST",
            path: "/v1/apps".to_owned(),
            fields: &["id", "name", "display_name"],
            valid: "[a-zA-Z0-9_-]{1,16}"
                .prop_map(|id| json!({"id": id, "name": "n", "display_name": "N"}))
                .boxed(),
        },
    );
}

const WEBHOOK_FIELDS: &[&str] =
    &["events", "method", "url", "headers", "format", "payload", "timeout", "retry_schedule", "enabled"];

#[test]
fn create_webhook_bodies_never_5xx() {
    let fixture = Fixture::new();
    fuzz_route(
        &fixture,
        Route {
            target: Target::Ingest,
            method: "POST",
            path: format!("/v1/apps/{APP_ID}/webhooks"),
            fields: WEBHOOK_FIELDS,
            valid: valid_webhook(),
        },
    );
}

#[test]
fn patch_webhook_bodies_never_5xx() {
    let fixture = Fixture::new();
    let path = format!("/v1/webhooks/{}", fixture.patch_webhook);
    fuzz_route(
        &fixture,
        Route {
            target: Target::Ingest,
            method: "PATCH",
            path: path.clone(),
            fields: WEBHOOK_FIELDS,
            valid: valid_webhook(),
        },
    );
    // The webhook is still readable afterwards.
    let (status, webhook) = fixture.admin_json(Target::Ingest, "GET", &path, &Value::Null);
    assert_eq!(status, 200, "{webhook}");
}

#[test]
fn test_send_bodies_never_5xx() {
    let fixture = Fixture::new();
    let before = fixture.receiver.seen().len();
    fuzz_route(
        &fixture,
        Route {
            target: Target::Ingest,
            method: "POST",
            path: format!("/v1/webhooks/{}/test", fixture.test_webhook),
            fields: &["event"],
            valid: select(&["version_published", "version_processed", "version_process_failed"][..])
                .prop_map(|e| json!({"event": e}))
                .boxed(),
        },
    );
    // Test sends really went out, and only to the local receiver.
    assert!(fixture.receiver.seen().len() > before, "no test send reached the receiver");
}

#[test]
fn generate_keys_bodies_never_5xx() {
    let fixture = Fixture::new();
    fuzz_route(
        &fixture,
        Route {
            target: Target::Keys,
            method: "POST",
            path: format!("/v1/apps/{APP_ID}/keys"),
            fields: &["count", "collection_id"],
            valid: (1u32..20).prop_map(|count| json!({"count": count})).boxed(),
        },
    );
}

#[test]
fn import_keys_bodies_never_5xx() {
    let fixture = Fixture::new();
    fuzz_route(
        &fixture,
        Route {
            target: Target::Keys,
            method: "POST",
            path: format!("/v1/apps/{APP_ID}/keys/import"),
            fields: &["keys", "collection_id"],
            valid: vec("[A-Za-z0-9._-]{1,30}", 1..5).prop_map(|keys| json!({"keys": keys})).boxed(),
        },
    );
}

// ---------------------------------------------------------------------------------------------
// (c) path segments and query strings
// ---------------------------------------------------------------------------------------------

const GET_ROUTES: &[(&str, &str)] = &[
    ("keys", "/v2/keys/{}"),
    ("keys", "/v1/keys/{}"),
    ("ingest", "/v1/apps/{}"),
    ("ingest", "/v1/apps/{}/webhooks"),
    ("ingest", "/v1/webhooks/{}"),
    ("ingest", "/v1/webhooks/{}/deliveries"),
    ("ingest", "/v1/deliveries/{}"),
];

#[test]
fn arbitrary_paths_and_queries_never_5xx() {
    let fixture = Fixture::new();
    let known = vec![
        APP_ID.to_owned(),
        fixture.patch_webhook.clone(),
        fixture.test_webhook.clone(),
        fixture.key.clone(),
        fixture.app_secret.clone(),
    ];
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let strategy =
        (select(GET_ROUTES), segment(known.clone()), query(known, fixture.app_secret.clone()), any::<bool>());
    check(
        PATH_CASES * u32::try_from(GET_ROUTES.len()).unwrap(),
        strategy,
        |((router, template), segment, query, with_token)| {
            let mut uri = template.replace("{}", &segment);
            if let Some(q) = &query {
                uri.push('?');
                uri.push_str(q);
            }
            let Ok(parsed) = uri.parse::<http::Uri>() else {
                // Not a request a client could send.
                return Ok(());
            };
            let mut request = Request::builder().method("GET").uri(parsed);
            if with_token {
                request = request.header("authorization", format!("Bearer {}", fixture.admin_token));
            }
            let target = if router == "keys" { Target::Keys } else { Target::Ingest };
            let (status, answer) = fixture.call(target, request.body(Body::empty()).unwrap());
            seen.lock().unwrap().insert(status);
            prop_assert!(status < 500, "GET {} answered {}: {}", uri, status, show(&answer));
            if segment.is_empty() {
                // `/v2/keys/` is a check for no key; `/v1/apps//webhooks` matches with an empty id.
                prop_assert!(status < 500, "GET {} answered {}", uri, status);
            } else if template.starts_with("/v2/keys/") {
                // What a PatchKit client understands, and 400 for a missing app secret.
                prop_assert!(
                    matches!(status, 200 | 400 | 403 | 404 | 410),
                    "GET {} answered {}",
                    uri,
                    status
                );
                let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                if status != 200 {
                    prop_assert!(
                        answer["message"].is_string(),
                        "GET {}: not PatchKit's shape: {}",
                        uri,
                        answer
                    );
                }
            } else if !with_token {
                prop_assert!(matches!(status, 401 | 404), "GET {} without a token answered {}", uri, status);
            }
            Ok(())
        },
    );
    let seen = seen.into_inner().unwrap();
    for expected in [200, 400, 401, 403, 404] {
        assert!(seen.contains(&expected), "no case answered {expected}: {seen:?}");
    }
}

/// The deterministic corners the generators above only hit by chance.
#[test]
fn corner_cases() {
    let fixture = Fixture::new();
    // The valid key with the right app secret: 200 (and a registration); a wrong key secret
    // counts as none (200, and another registration).
    let base = format!("/v2/keys/{}?app_secret={}", fixture.key, fixture.app_secret);
    let request = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
    assert_eq!(fixture.call(Target::Keys, request(&base)).0, 200);
    assert_eq!(fixture.call(Target::Keys, request(&format!("{base}&key_secret=nope"))).0, 200);
    assert_eq!(fixture.call(Target::Keys, request(&format!("/v2/keys/{}", fixture.key))).0, 400);
    assert_eq!(
        fixture.call(Target::Keys, request(&format!("/v2/keys/{}?app_secret=wrong", fixture.key))).0,
        403
    );
    // Blocked: 410, whatever else the query holds.
    let (status, _) =
        fixture.admin_bytes(Target::Keys, "POST", &format!("/v1/keys/{}/block", fixture.key), Vec::new());
    assert_eq!(status, 200);
    assert_eq!(fixture.call(Target::Keys, request(&base)).0, 410);
    assert_eq!(
        fixture.call(Target::Keys, request(&format!("{base}&key_secret=%FF%00&&=&app_secret=x"))).0,
        410
    );

    // A path segment that is not UTF-8 once decoded: 400. (The body is axum's plain-text
    // rejection, not the JSON error shape; management routes extract ids with plain `Path`.)
    for uri in ["/v1/apps/%FF", "/v1/webhooks/%C0%AF/deliveries"] {
        let (status, body) = fixture.admin_bytes(Target::Ingest, "GET", uri, Vec::new());
        assert_eq!(status, 400, "{uri}: {}", show(&body));
    }
    // On the key check, no such key: 404 for a known app (403 for an unknown app secret).
    let (status, body) = fixture.call(Target::Keys, request("/v2/keys/%FF?app_secret=x"));
    assert_eq!(status, 403, "{}", show(&body));
    let (status, body) =
        fixture.call(Target::Keys, request(&format!("/v2/keys/%FF?app_secret={}", fixture.app_secret)));
    assert_eq!(status, 404, "{}", show(&body));
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["message"].is_string(), "PatchKit's shape");

    // Deeply nested JSON is refused, not a stack overflow.
    for body in ["[".repeat(100_000), "{\"a\":".repeat(50_000)] {
        let (status, _) = fixture.admin_bytes(Target::Ingest, "POST", "/v1/apps", body.clone().into_bytes());
        assert_eq!(status, 400);
        let id = fixture.next_id();
        let (status, _) = fixture.call(Target::Ingest, fixture.signed_event(&id, body.into_bytes()));
        assert_eq!(status, 400);
    }

    // A management body over the 1 MiB limit: 413.
    let (status, _) = fixture.admin_bytes(Target::Ingest, "POST", "/v1/apps", vec![b' '; 1024 * 1024 + 1]);
    assert_eq!(status, 413);

    // A valid event for an app without webhooks: 202, then 200 for the same id.
    let id = fixture.next_id();
    let body = valid_event("app_ingest").to_string().into_bytes();
    assert_eq!(fixture.call(Target::Ingest, fixture.signed_event(&id, body.clone())).0, 202);
    assert_eq!(fixture.call(Target::Ingest, fixture.signed_event(&id, body)).0, 200);
}
