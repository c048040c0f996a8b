//! The client against a real HTTP server on 127.0.0.1, plus argument and `app_data.json` parsing.

// `allow-unwrap-in-tests` covers `#[test]` functions only, not the helpers below.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use patchbay_license_client::{
    AppData, AppDataError, ArgsError, ConfigError, KeySecretCache, LaunchData, LaunchError, LicenseClient,
    UnverifiedPolicy, Verdict, check_from_launch, check_from_launch_blocking,
};

const APP_SECRET: &str = "app-s3cret/with&odd=chars+ é";
const KEY_SECRET: &str = "key-secret-value-42";

// ---------------------------------------------------------------------------------------------
// A fake Keys service

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    raw_path: String,
    key: String,
    query: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct ServerState {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ServerState {
    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().expect("no request reached the server")
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "message": text }))).into_response()
}

async fn key_handler(
    State(state): State<ServerState>,
    OriginalUri(uri): OriginalUri,
    UrlPath(key): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    state.seen.lock().unwrap().push(Seen {
        raw_path: uri.path().to_owned(),
        key: key.clone(),
        query: query.clone(),
    });
    if query.get("app_secret").map(String::as_str) != Some(APP_SECRET) {
        return message(StatusCode::FORBIDDEN, "App secret mismatch");
    }
    match key.as_str() {
        "UNKNOWN" => message(StatusCode::NOT_FOUND, "Key not known"),
        "BLOCKED" => message(StatusCode::GONE, "Key has been blocked"),
        "OTHER-APP" => message(StatusCode::FORBIDDEN, "Key belongs to another app"),
        "BOOM" => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "BAD" => message(StatusCode::BAD_REQUEST, "Malformed key"),
        "BUSY" => message(StatusCode::TOO_MANY_REQUESTS, "Slow down"),
        "MOVED" => (StatusCode::FOUND, [(header::LOCATION, "http://127.0.0.1:1/elsewhere")]).into_response(),
        "GARBAGE" => (StatusCode::OK, "<html>surprise</html>").into_response(),
        // A service that refuses a stale key secret instead of registering again.
        "STRICT" if query.get("key_secret").is_some_and(|secret| secret != KEY_SECRET) => {
            message(StatusCode::FORBIDDEN, "Key secret mismatch")
        }
        "SLOW" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            valid_body(&key, &query)
        }
        _ => valid_body(&key, &query),
    }
}

fn valid_body(key: &str, query: &HashMap<String, String>) -> Response {
    axum::Json(serde_json::json!({
        "key": key,
        "app_secret": query.get("app_secret"),
        "key_secret": KEY_SECRET,
        "collection_id": "col-1",
        "registrations": 7,
        "blocked": false,
    }))
    .into_response()
}

struct Server {
    base_url: String,
    state: ServerState,
    /// TCP connections accepted so far.
    connections: Arc<AtomicUsize>,
}

impl Server {
    async fn start() -> Self {
        let state = ServerState::default();
        let app = Router::new()
            .route("/v2/keys/{key}", get(key_handler))
            .route("/prod/v2/keys/{key}", get(key_handler))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let listener = listener.tap_io(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base_url: format!("http://{addr}"), state, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn client(&self) -> LicenseClient {
        LicenseClient::new(&self.base_url, APP_SECRET).unwrap()
    }
}

/// A port on 127.0.0.1 with nothing listening.
fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn assert_unverified(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Unverified { reason } => {
            assert!(!reason.contains(APP_SECRET), "secret leaked into {reason:?}");
            reason
        }
        other => panic!("expected Unverified, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes, async API

#[tokio::test]
async fn valid_key_is_valid_and_carries_the_body() {
    let server = Server::start().await;
    let verdict = server.client().check("ABCD-EFGH-IJKL").await;
    let info = verdict.info().expect("200 body parsed").clone();
    assert!(verdict.is_valid());
    assert_eq!(info.key.as_deref(), Some("ABCD-EFGH-IJKL"));
    assert_eq!(info.registrations, Some(7));
    assert_eq!(info.collection_id.as_deref(), Some("col-1"));
    assert_eq!(info.key_secret.as_deref(), Some(KEY_SECRET));
    assert_eq!(info.blocked, Some(false));
    assert!(verdict.allows_play(UnverifiedPolicy::TreatAsInvalid));

    let seen = server.state.last();
    assert_eq!(seen.raw_path, "/v2/keys/ABCD-EFGH-IJKL");
    assert_eq!(seen.query.get("app_secret").map(String::as_str), Some(APP_SECRET));
    assert!(!seen.query.contains_key("key_secret"));
}

/// One client, one connection: checks (and clones' checks) reuse it instead of connecting again.
#[tokio::test]
async fn repeated_checks_reuse_one_connection() {
    let server = Server::start().await;
    let client = server.client();
    for _ in 0..5 {
        assert!(client.check("ABCD-EFGH-IJKL").await.is_valid());
    }
    assert!(client.clone().with_key_secret(KEY_SECRET).check("ABCD-EFGH-IJKL").await.is_valid());
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn unknown_key_is_invalid() {
    let server = Server::start().await;
    assert_eq!(server.client().check("UNKNOWN").await, Verdict::Invalid);
}

#[tokio::test]
async fn blocked_key_is_blocked() {
    let server = Server::start().await;
    assert_eq!(server.client().check("BLOCKED").await, Verdict::Blocked);
}

#[tokio::test]
async fn wrong_secret_or_foreign_key_is_forbidden() {
    let server = Server::start().await;
    let wrong = LicenseClient::new(&server.base_url, "not-the-secret").unwrap();
    assert_eq!(wrong.check("ABCD-EFGH-IJKL").await, Verdict::Forbidden);
    assert_eq!(server.client().check("OTHER-APP").await, Verdict::Forbidden);
}

#[tokio::test]
async fn server_errors_are_unverified() {
    let server = Server::start().await;
    for key in ["BOOM", "UNAVAILABLE"] {
        let verdict = server.client().check(key).await;
        let reason = assert_unverified(&verdict);
        assert!(reason.contains("HTTP 5"), "{reason}");
        assert!(verdict.allows_play(UnverifiedPolicy::TreatAsValid));
        assert!(!verdict.allows_play(UnverifiedPolicy::TreatAsInvalid));
    }
}

#[tokio::test]
async fn other_statuses_follow_the_documented_mapping() {
    let server = Server::start().await;
    let client = server.client();
    assert_eq!(client.check("BAD").await, Verdict::Invalid);
    assert!(assert_unverified(&client.check("BUSY").await).contains("429"));
    // Redirects are not followed: the app secret is never sent anywhere else.
    let moved = client.check("MOVED").await;
    assert!(assert_unverified(&moved).contains("302"));
}

#[tokio::test]
async fn unexpected_200_body_is_still_valid() {
    let server = Server::start().await;
    assert_eq!(server.client().check("GARBAGE").await, Verdict::Valid { info: None });
}

#[tokio::test]
async fn slow_server_times_out_as_unverified() {
    let server = Server::start().await;
    let client = server.client().with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let verdict = client.check("SLOW").await;
    let elapsed = started.elapsed();
    let reason = assert_unverified(&verdict);
    assert!(reason.contains("no answer within"), "{reason}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[tokio::test]
async fn connection_refused_is_unverified() {
    let client = LicenseClient::new(&refused_base_url(), APP_SECRET).unwrap();
    let verdict = client.check("ABCD-EFGH-IJKL").await;
    let reason = assert_unverified(&verdict);
    assert!(reason.contains("could not connect"), "{reason}");
}

#[tokio::test]
async fn key_secret_is_sent_when_configured() {
    let server = Server::start().await;
    let client = server.client().with_key_secret(KEY_SECRET);
    assert!(client.check("ABCD-EFGH-IJKL").await.is_valid());
    let seen = server.state.last();
    assert_eq!(seen.query.get("key_secret").map(String::as_str), Some(KEY_SECRET));
    assert_eq!(seen.query.get("app_secret").map(String::as_str), Some(APP_SECRET));
}

#[tokio::test]
async fn odd_keys_reach_the_server_intact() {
    let server = Server::start().await;
    let client = server.client();
    for key in
        ["AB/CD?E#F G+H%26&=é", "100%", "%2F", "a..b", "...", "tab\there", "line\nbreak\r\n", "ключ-🔑"]
    {
        let verdict = client.check(key).await;
        let seen = server.state.last();
        assert_eq!(seen.key, key, "raw path was {}", seen.raw_path);
        assert_eq!(
            seen.raw_path.matches('/').count(),
            3,
            "the key must stay one path segment: {}",
            seen.raw_path
        );
        assert_eq!(verdict.info().and_then(|i| i.key.as_deref()), Some(key));
    }
}

#[tokio::test]
async fn base_url_with_a_path_prefix_keeps_it() {
    let server = Server::start().await;
    for prefix in ["/prod", "/prod/"] {
        let base = format!("{}{prefix}?ignored=1#frag", server.base_url);
        let client = LicenseClient::new(&base, APP_SECRET).unwrap();
        assert!(client.check("ABCD").await.is_valid());
        let seen = server.state.last();
        assert_eq!(seen.raw_path, "/prod/v2/keys/ABCD");
        assert!(!seen.query.contains_key("ignored"));
    }
}

#[tokio::test]
async fn keys_that_cannot_be_a_path_segment_are_invalid_without_a_request() {
    let server = Server::start().await;
    for key in ["", ".", ".."] {
        assert_eq!(server.client().check(key).await, Verdict::Invalid);
    }
    assert!(server.state.seen.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Blocking API (run on a blocking thread, against the same kind of server)

async fn blocking(client: LicenseClient, key: &'static str) -> Verdict {
    tokio::task::spawn_blocking(move || client.check_blocking(key)).await.unwrap()
}

#[tokio::test]
async fn blocking_api_maps_every_outcome() {
    let server = Server::start().await;
    let client = server.client();

    let valid = blocking(client.clone(), "ABCD-EFGH-IJKL").await;
    assert_eq!(valid.info().and_then(|i| i.registrations), Some(7));
    assert_eq!(blocking(client.clone(), "UNKNOWN").await, Verdict::Invalid);
    assert_eq!(blocking(client.clone(), "BLOCKED").await, Verdict::Blocked);
    assert_eq!(blocking(client.clone(), "OTHER-APP").await, Verdict::Forbidden);
    assert_unverified(&blocking(client.clone(), "BOOM").await);
    assert_eq!(blocking(client.clone(), "GARBAGE").await, Verdict::Valid { info: None });

    let odd = "AB/CD?E#F G+H%&=é";
    assert!(blocking(client.clone(), odd).await.is_valid());
    assert_eq!(server.state.last().key, odd);
}

#[tokio::test]
async fn repeated_blocking_checks_reuse_one_connection() {
    let server = Server::start().await;
    let client = server.client();
    let verdicts: Vec<Verdict> = tokio::task::spawn_blocking(move || {
        (0..5).map(|_| client.check_blocking("ABCD-EFGH-IJKL")).collect()
    })
    .await
    .unwrap();
    assert_eq!(verdicts, vec![Verdict::Valid { info: verdicts[0].info().cloned() }; 5]);
    assert!(verdicts[0].is_valid());
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn blocking_api_times_out_and_handles_refusal() {
    let server = Server::start().await;
    let slow = server.client().with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let verdict = blocking(slow, "SLOW").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_unverified(&verdict);

    let refused = LicenseClient::new(&refused_base_url(), APP_SECRET).unwrap();
    assert_unverified(&blocking(refused, "ABCD").await);
}

#[test]
fn blocking_api_works_from_a_plain_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start());
    let client = server.client();
    let verdict = std::thread::spawn(move || client.check_blocking("ABCD-EFGH-IJKL")).join().unwrap();
    assert!(verdict.is_valid());
}

// ---------------------------------------------------------------------------------------------
// Verdict policy

#[test]
fn allows_play_follows_the_policy() {
    use UnverifiedPolicy::{TreatAsInvalid, TreatAsValid};
    assert_eq!(UnverifiedPolicy::default(), TreatAsValid);
    let unverified = Verdict::Unverified { reason: "down".into() };
    let cases = [
        (Verdict::Valid { info: None }, true, true),
        (Verdict::Invalid, false, false),
        (Verdict::Blocked, false, false),
        (Verdict::Forbidden, false, false),
        (unverified, true, false),
    ];
    for (verdict, lenient, strict) in cases {
        assert_eq!(verdict.allows_play(TreatAsValid), lenient, "{verdict:?}");
        assert_eq!(verdict.allows_play(TreatAsInvalid), strict, "{verdict:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn debug_never_shows_secrets() {
    let client =
        LicenseClient::new("https://keys.example.com", APP_SECRET).unwrap().with_key_secret(KEY_SECRET);
    let debug = format!("{client:?}");
    assert!(!debug.contains(APP_SECRET), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(!debug.contains(KEY_SECRET), "{debug}");
    assert!(debug.contains("keys.example.com"), "{debug}");
    let pretty = format!("{client:#?}");
    assert!(!pretty.contains("s3cret"), "{pretty}");
}

#[tokio::test]
async fn debug_of_the_valid_verdict_hides_the_key_secret() {
    let server = Server::start().await;
    let verdict = server.client().check("ABCD-EFGH-IJKL").await;
    let debug = format!("{verdict:?}");
    assert!(!debug.contains(KEY_SECRET), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

#[test]
fn bad_base_urls_are_rejected() {
    assert!(matches!(LicenseClient::new("not a url", APP_SECRET), Err(ConfigError::InvalidBaseUrl { .. })));
    assert!(matches!(
        LicenseClient::new("ftp://keys.example.com", APP_SECRET),
        Err(ConfigError::UnsupportedBaseUrl { .. })
    ));
    assert!(matches!(
        LicenseClient::new("mailto:keys@example.com", APP_SECRET),
        Err(ConfigError::UnsupportedBaseUrl { .. })
    ));
    let client = LicenseClient::new("https://keys.example.com", APP_SECRET).unwrap();
    assert_eq!(client.timeout(), LicenseClient::DEFAULT_TIMEOUT);
    assert_eq!(LicenseClient::DEFAULT_TIMEOUT, Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// Arguments

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn parsed(list: &[&str]) -> Result<Option<PathBuf>, ArgsError> {
    LaunchData::from_args(args(list)).map(|found| found.map(|l| l.path().to_path_buf()))
}

#[test]
fn flag_with_separate_value() {
    assert_eq!(
        parsed(&["game", "+patcher-data-location", "app_data.json"]),
        Ok(Some(PathBuf::from("app_data.json")))
    );
    assert_eq!(
        parsed(&["game", "-windowed", "+patcher-data-location", "../data/app_data.json", "-x"]),
        Ok(Some(PathBuf::from("../data/app_data.json")))
    );
}

#[test]
fn flag_with_equals_value() {
    assert_eq!(
        parsed(&["game", "+patcher-data-location=dir with space/app_data.json"]),
        Ok(Some(PathBuf::from("dir with space/app_data.json")))
    );
}

#[test]
fn flag_without_value_is_an_error() {
    assert_eq!(parsed(&["game", "+patcher-data-location"]), Err(ArgsError::MissingValue));
    assert_eq!(parsed(&["game", "+patcher-data-location="]), Err(ArgsError::MissingValue));
    assert_eq!(parsed(&["game", "+patcher-data-location", ""]), Err(ArgsError::MissingValue));
}

#[test]
fn absent_flag_is_none() {
    assert_eq!(parsed(&[]), Ok(None));
    assert_eq!(parsed(&["game", "-fullscreen", "app_data.json"]), Ok(None));
    assert_eq!(parsed(&["game", "+patcher-data-locationX", "a"]), Ok(None));
}

#[test]
fn last_flag_wins_and_os_strings_work() {
    let os: Vec<OsString> = ["game", "+patcher-data-location", "a.json", "+patcher-data-location=b.json"]
        .iter()
        .map(OsString::from)
        .collect();
    let found = LaunchData::from_args(os).unwrap().unwrap();
    assert_eq!(found.path(), Path::new("b.json"));
}

// ---------------------------------------------------------------------------------------------
// app_data.json

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "patchbay-license-client-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOOD_APP_DATA: &str = r#"{"file_id":"patcher_data","version":"1.0","product_key":"ABCD-EFGH-IJKL","product_key_encryption":"none"}"#;

#[test]
fn good_app_data_loads() {
    let dir = TempDir::new();
    let path = dir.write("app_data.json", GOOD_APP_DATA);
    let data = AppData::load(&path).unwrap();
    assert_eq!(data.product_key, "ABCD-EFGH-IJKL");
    assert_eq!(data.file_id, "patcher_data");
    assert_eq!(data.version.as_deref(), Some("1.0"));
    assert_eq!(data.product_key_encryption, "none");
    // Also through the launch arguments.
    let launch = LaunchData::from_args([
        "game".to_owned(),
        "+patcher-data-location".to_owned(),
        path.display().to_string(),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(launch.load_app_data().unwrap(), data);
    assert!(!format!("{data:?}").contains("ABCD-EFGH-IJKL"));
}

#[test]
fn missing_app_data_names_the_file() {
    let dir = TempDir::new();
    let path = dir.0.join("app_data.json");
    let err = AppData::load(&path).unwrap_err();
    assert!(matches!(err, AppDataError::NotFound { .. }), "{err:?}");
    assert_eq!(err.path(), path);
    let text = err.to_string();
    assert!(text.contains("app_data.json") && text.contains("not found"), "{text}");
}

#[test]
fn malformed_json_is_reported() {
    let dir = TempDir::new();
    let path = dir.write("app_data.json", r#"{"file_id":"patcher_data","#);
    let err = AppData::load(&path).unwrap_err();
    assert!(matches!(err, AppDataError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("app_data.json"), "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");

    // A wrong type is malformed too.
    let path = dir.write(
        "typed.json",
        r#"{"file_id":"patcher_data","product_key":42,"product_key_encryption":"none"}"#,
    );
    assert!(matches!(AppData::load(&path), Err(AppDataError::Malformed { .. })));
}

#[test]
fn wrong_file_id_is_rejected() {
    let dir = TempDir::new();
    let path = dir.write(
        "app_data.json",
        r#"{"file_id":"something_else","product_key":"K","product_key_encryption":"none"}"#,
    );
    let err = AppData::load(&path).unwrap_err();
    match &err {
        AppDataError::WrongFileId { found, .. } => assert_eq!(found, "something_else"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("patcher_data"), "{err}");
}

#[test]
fn encryption_other_than_none_is_rejected() {
    let dir = TempDir::new();
    let path = dir.write(
        "app_data.json",
        r#"{"file_id":"patcher_data","product_key":"K","product_key_encryption":"aes256"}"#,
    );
    let err = AppData::load(&path).unwrap_err();
    match &err {
        AppDataError::UnsupportedEncryption { found, .. } => assert_eq!(found, "aes256"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("aes256"), "{err}");
}

#[test]
fn missing_or_empty_fields_are_rejected() {
    let dir = TempDir::new();
    let cases = [
        (r#"{"file_id":"patcher_data","product_key_encryption":"none"}"#, "product_key"),
        (r#"{"product_key":"K","product_key_encryption":"none"}"#, "file_id"),
        (r#"{"file_id":"patcher_data","product_key":"K"}"#, "product_key_encryption"),
    ];
    for (json, field) in cases {
        let path = dir.write("app_data.json", json);
        match AppData::load(&path) {
            Err(AppDataError::MissingField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{json}: {other:?}"),
        }
    }
    let path = dir.write(
        "app_data.json",
        r#"{"file_id":"patcher_data","product_key":"  ","product_key_encryption":"none"}"#,
    );
    assert!(matches!(AppData::load(&path), Err(AppDataError::EmptyProductKey { .. })));
}

// ---------------------------------------------------------------------------------------------
// All three steps

#[tokio::test]
async fn check_from_launch_does_all_three_steps() {
    let server = Server::start().await;
    let dir = TempDir::new();
    let path = dir.write("app_data.json", GOOD_APP_DATA);
    let launch_args = args(&["game", &format!("+patcher-data-location={}", path.display())]);

    let verdict = check_from_launch(launch_args.clone(), &server.base_url, APP_SECRET).await.unwrap();
    assert!(verdict.is_valid());
    assert_eq!(server.state.last().key, "ABCD-EFGH-IJKL");

    let base_url = server.base_url.clone();
    let verdict =
        tokio::task::spawn_blocking(move || check_from_launch_blocking(launch_args, &base_url, APP_SECRET))
            .await
            .unwrap()
            .unwrap();
    assert!(verdict.is_valid());

    let not_launched = check_from_launch(args(&["game"]), &server.base_url, APP_SECRET).await;
    assert!(matches!(not_launched, Err(LaunchError::NotLaunched)));

    let missing = dir.0.join("nope.json");
    let missing_args = args(&["game", "+patcher-data-location", &missing.display().to_string()]);
    let err = check_from_launch(missing_args, &server.base_url, APP_SECRET).await.unwrap_err();
    assert!(matches!(err, LaunchError::AppData(AppDataError::NotFound { .. })), "{err:?}");
    assert!(err.to_string().contains("nope.json"), "{err}");

    let no_value =
        check_from_launch(args(&["game", "+patcher-data-location"]), &server.base_url, APP_SECRET).await;
    assert!(matches!(no_value, Err(LaunchError::Args(ArgsError::MissingValue))));
}

// ---------------------------------------------------------------------------------------------
// Key secret cache (the fake answers every 200 with KEY_SECRET, whatever secret it was sent:
// the service's rule that a wrong or stale secret counts as none and registers again)

const KEY: &str = "ABCD-EFGH-IJKL";

fn cached_client(server: &Server, dir: &TempDir) -> (LicenseClient, KeySecretCache) {
    let cache = KeySecretCache::in_dir(dir.0.join("keys"));
    (server.client().with_key_secret_cache(cache.clone()), cache)
}

/// A fake Keys service and a client whose cache is in a fresh directory.
struct CachedSetup {
    server: Server,
    dir: TempDir,
    client: LicenseClient,
    cache: KeySecretCache,
}

impl CachedSetup {
    async fn start() -> Self {
        let server = Server::start().await;
        let dir = TempDir::new();
        let (client, cache) = cached_client(&server, &dir);
        Self { server, dir, client, cache }
    }
}

fn sent_key_secret(server: &Server) -> Option<String> {
    server.state.last().query.get("key_secret").cloned()
}

/// The `key_secret` of every request so far, in order.
fn sent_key_secrets(server: &Server) -> Vec<Option<String>> {
    server.state.seen.lock().unwrap().iter().map(|seen| seen.query.get("key_secret").cloned()).collect()
}

#[tokio::test]
async fn first_check_registers_and_caches_the_key_secret_later_checks_send_it() {
    let CachedSetup { server, dir, client, cache } = CachedSetup::start().await;
    assert_eq!(cache.load(KEY), None);

    assert!(client.check(KEY).await.is_valid());
    assert_eq!(sent_key_secret(&server), None, "the first check must register");
    assert_eq!(cache.load(KEY).as_deref(), Some(KEY_SECRET));

    // A later start: a new client, the same cache.
    let (restarted, _) = cached_client(&server, &dir);
    assert!(restarted.check(KEY).await.is_valid());
    assert_eq!(sent_key_secret(&server).as_deref(), Some(KEY_SECRET));
    assert_eq!(sent_key_secrets(&server), [None, Some(KEY_SECRET.to_owned())]);
}

#[tokio::test]
async fn blocking_checks_use_the_cache_too() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    let verdicts: Vec<Verdict> =
        tokio::task::spawn_blocking(move || (0..2).map(|_| client.check_blocking(KEY)).collect())
            .await
            .unwrap();
    assert!(verdicts.iter().all(Verdict::is_valid));
    let sent = sent_key_secrets(&server);
    assert_eq!(sent, [None, Some(KEY_SECRET.to_owned())]);
    assert_eq!(cache.load(KEY).as_deref(), Some(KEY_SECRET));
}

#[tokio::test]
async fn a_different_key_secret_in_a_valid_answer_replaces_the_cached_one() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    cache.store(KEY, "stale-secret").unwrap();

    assert!(client.check(KEY).await.is_valid());
    assert_eq!(sent_key_secret(&server).as_deref(), Some("stale-secret"));
    assert_eq!(cache.load(KEY).as_deref(), Some(KEY_SECRET), "a stale cached secret heals");
    assert_eq!(sent_key_secrets(&server).len(), 1);
}

#[tokio::test]
async fn a_refused_cached_secret_is_retried_without_it_and_replaced() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    cache.store("STRICT", "stale-secret").unwrap();

    assert!(client.check("STRICT").await.is_valid());
    let sent = sent_key_secrets(&server);
    assert_eq!(sent, [Some("stale-secret".to_owned()), None]);
    assert_eq!(cache.load("STRICT").as_deref(), Some(KEY_SECRET));
}

#[tokio::test]
async fn answers_other_than_200_leave_the_cache_alone() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    let wrong_app_secret =
        LicenseClient::new(&server.base_url, "not-the-secret").unwrap().with_key_secret_cache(cache.clone());

    for key in ["UNKNOWN", "BLOCKED", "OTHER-APP", "BOOM", "UNAVAILABLE", "BAD", "BUSY", "MOVED"] {
        assert!(!client.check(key).await.is_valid(), "{key}");
        assert!(!cache.path_for(key).exists(), "{key}: nothing may be cached");

        cache.store(key, "seeded").unwrap();
        assert!(!client.check(key).await.is_valid(), "{key}");
        assert_eq!(cache.load(key).as_deref(), Some("seeded"), "{key}");
    }
    assert_eq!(wrong_app_secret.check(KEY).await, Verdict::Forbidden);
    assert!(!cache.path_for(KEY).exists());
    cache.store(KEY, "seeded").unwrap();
    assert_eq!(wrong_app_secret.check(KEY).await, Verdict::Forbidden);
    assert_eq!(cache.load(KEY).as_deref(), Some("seeded"));

    // A 200 without a readable secret caches nothing either.
    assert!(client.check("GARBAGE").await.is_valid());
    assert!(!cache.path_for("GARBAGE").exists());
}

#[tokio::test]
async fn an_unusable_cache_file_counts_as_no_secret() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    std::fs::create_dir_all(cache.dir()).unwrap();
    let oversized = format!(r#"{{"key_secret":"{}"}}"#, "x".repeat(8 * 1024));
    for contents in ["", "not json", r#"{"key_secret":""}"#, r#"{"key_secret":42}"#, "[]", &oversized] {
        std::fs::write(cache.path_for(KEY), contents).unwrap();
        assert_eq!(cache.load(KEY), None, "{contents:?}");
        assert!(client.check(KEY).await.is_valid(), "{contents:?}");
        assert_eq!(sent_key_secret(&server), None, "{contents:?}");
        assert_eq!(cache.load(KEY).as_deref(), Some(KEY_SECRET), "{contents:?}: rewritten");
    }
}

#[tokio::test]
async fn a_cache_that_cannot_be_written_does_not_change_the_verdict() {
    let server = Server::start().await;
    let dir = TempDir::new();
    // The cache directory's path is taken by a file.
    let blocker = dir.write("keys", "not a directory");
    let cache = KeySecretCache::in_dir(&blocker);
    let client = server.client().with_key_secret_cache(cache.clone());
    assert!(client.check(KEY).await.is_valid());
    assert!(cache.store(KEY, KEY_SECRET).is_err());
    assert_eq!(cache.load(KEY), None);
}

#[tokio::test]
async fn an_explicit_key_secret_is_sent_instead_of_the_cached_one() {
    let CachedSetup { server, dir: _dir, client, cache } = CachedSetup::start().await;
    cache.store(KEY, "cached-secret").unwrap();
    assert!(client.with_key_secret("explicit-secret").check(KEY).await.is_valid());
    assert_eq!(sent_key_secret(&server).as_deref(), Some("explicit-secret"));
    assert_eq!(cache.load(KEY).as_deref(), Some(KEY_SECRET));
}

#[test]
fn cache_files_are_named_by_a_fingerprint_and_written_atomically() {
    let dir = TempDir::new();
    let cache = KeySecretCache::in_dir(dir.0.join("patchbay").join("keys"));
    cache.store(KEY, "first").unwrap();
    cache.store(KEY, "second").unwrap();
    cache.store("OTHER-KEY", "other").unwrap();
    assert_eq!(cache.load(KEY).as_deref(), Some("second"));
    assert_eq!(cache.load("OTHER-KEY").as_deref(), Some("other"));
    assert_eq!(cache.load("NEVER-STORED"), None);

    let mut names: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = [KEY, "OTHER-KEY"]
        .iter()
        .map(|key| cache.path_for(key).file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(names, expected, "no temporary files may be left behind");
    for name in &names {
        assert!(!name.contains(KEY) && !name.contains("OTHER"), "{name}");
        assert!(std::path::Path::new(name).extension().is_some_and(|e| e == "json"), "{name}");
    }
    let contents: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.path_for(KEY)).unwrap()).unwrap();
    assert_eq!(contents, serde_json::json!({"key_secret": "second"}));
}

#[cfg(unix)]
#[test]
fn cache_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let cache = KeySecretCache::in_dir(dir.0.join("patchbay").join("keys"));
    cache.store(KEY, KEY_SECRET).unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache.path_for(KEY)), 0o600);
    assert_eq!(mode(cache.dir()), 0o700);
    assert_eq!(mode(cache.dir().parent().unwrap()), 0o700);

    // A file someone else left wider open is replaced by a private one.
    std::fs::set_permissions(cache.path_for(KEY), std::fs::Permissions::from_mode(0o644)).unwrap();
    cache.store(KEY, "rotated").unwrap();
    assert_eq!(mode(&cache.path_for(KEY)), 0o600);
}

#[test]
fn the_per_user_cache_lives_in_the_local_data_directory() {
    if let Some(cache) = KeySecretCache::per_user() {
        assert!(cache.dir().ends_with(Path::new("patchbay").join("keys")), "{}", cache.dir().display());
    }
}

#[test]
fn debug_of_a_cached_client_shows_where_not_what() {
    let cache = KeySecretCache::in_dir("/tmp/somewhere/keys");
    let client =
        LicenseClient::new("https://keys.example.com", APP_SECRET).unwrap().with_key_secret_cache(cache);
    let debug = format!("{client:?}");
    assert!(debug.contains("/tmp/somewhere/keys"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
}
