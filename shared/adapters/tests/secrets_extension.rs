//! The init path against a local stand-in of the Parameters and Secrets extension's HTTP
//! contract: `GET /secretsmanager/get?secretId=…` with `X-Aws-Parameters-Secrets-Token`,
//! answering `GetSecretValue` JSON.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use patchbay_adapters::secrets::{SecretResolver, SecretsError, SecretsExtension, TOKEN_HEADER};
use patchbay_adapters::wiring;
use patchbay_core::config::{
    ADMIN_TOKEN_VARIABLE, INGEST_SECRET_VARIABLE, IngestConfig, SecretSource, SendConfig, StoreConfig,
};
use patchbay_core::secret::{LiveSecret, Secret};
use patchbay_core::signing::generate_secret;
use serde_json::json;

const SESSION_TOKEN: &str = "stand-in-session-token";
const ADMIN_ID: &str = "patchbay/admin-token";
const INGEST_ID: &str = "patchbay/ingest-secret";
const FIRST_TOKEN: &str = "first-admin-token-0123456789";
const ROTATED_TOKEN: &str = "rotated-admin-token-0123456789";

/// What the stand-in serves, changeable while it runs.
#[derive(Clone, Default)]
struct Extension {
    secrets: Arc<Mutex<HashMap<String, String>>>,
    failing: Arc<AtomicBool>,
    /// Answers this many more requests as a still-starting extension does.
    starting: Arc<AtomicUsize>,
    reads: Arc<AtomicUsize>,
}

impl Extension {
    fn set(&self, id: &str, value: &str) {
        self.secrets.lock().expect("secrets").insert(id.to_owned(), value.to_owned());
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Serves on a free loopback port; the base URL.
    async fn start(&self) -> String {
        let app = Router::new().route("/secretsmanager/get", get(answer)).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }
}

async fn answer(
    State(ext): State<Extension>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    ext.reads.fetch_add(1, Ordering::SeqCst);
    if headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) != Some(SESSION_TOKEN) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong X-Aws-Parameters-Secrets-Token").into_response();
    }
    if ext.starting.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return (StatusCode::BAD_REQUEST, "not ready to serve traffic, please wait").into_response();
    }
    if ext.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Secrets Manager is unreachable").into_response();
    }
    let Some(id) = query.get("secretId") else {
        return (StatusCode::BAD_REQUEST, "secretId is required").into_response();
    };
    match ext.secrets.lock().expect("secrets").get(id) {
        None => (
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException: Secrets Manager can't find the specified secret.",
        )
            .into_response(),
        Some(value) => Json(json!({
            "ARN": format!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:{id}-AbCdEf"),
            "Name": id,
            "SecretString": value,
            "VersionId": "v1",
            "VersionStages": ["AWSCURRENT"],
        }))
        .into_response(),
    }
}

fn from_secrets_manager(id: &str, refresh: Duration) -> SecretSource {
    SecretSource::SecretsManager { id: id.to_owned(), refresh }
}

/// The admin token read through `secrets`, refreshed every `refresh`.
async fn admin_token(secrets: &SecretResolver, refresh: Duration) -> LiveSecret {
    secrets
        .resolve(&from_secrets_manager(ADMIN_ID, refresh), ADMIN_TOKEN_VARIABLE)
        .await
        .expect("the admin token")
}

/// The stand-in serving the first admin token, and a resolver using it with the right token.
async fn started() -> (Extension, SecretResolver) {
    let (ext, base) = stand_in().await;
    let client = SecretsExtension::new(&base, Secret::new(SESSION_TOKEN)).expect("client");
    (ext, SecretResolver::with_extension(client))
}

async fn stand_in() -> (Extension, String) {
    let ext = Extension::default();
    ext.set(ADMIN_ID, FIRST_TOKEN);
    let base = ext.start().await;
    (ext, base)
}

/// Waits up to 5 s for `done`.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test]
async fn values_are_read_at_init() {
    let (ext, secrets) = started().await;
    let ingest_secret = generate_secret();
    ext.set(INGEST_ID, ingest_secret.expose());
    let hour = Duration::from_secs(3600);

    let admin = admin_token(&secrets, hour).await;
    let ingest =
        secrets.resolve(&from_secrets_manager(INGEST_ID, hour), INGEST_SECRET_VARIABLE).await.unwrap();
    assert!(admin.matches(FIRST_TOKEN));
    assert_eq!(ingest.current(), ingest_secret);
    assert_eq!(ext.reads(), 2);

    // An extension still starting is asked again.
    ext.starting.store(2, Ordering::SeqCst);
    let again = admin_token(&secrets, hour).await;
    assert!(again.matches(FIRST_TOKEN));
    assert_eq!(ext.reads(), 5);

    // A value given directly never asks the extension.
    let given = secrets.resolve(&Secret::new(FIRST_TOKEN).into(), ADMIN_TOKEN_VARIABLE).await.unwrap();
    assert!(given.matches(FIRST_TOKEN));
    assert_eq!(ext.reads(), 5);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused() {
    let (_ext, base) = stand_in().await;
    let wrong = SecretsExtension::new(&base, Secret::new("someone-elses-token")).expect("client");
    let err = SecretResolver::with_extension(wrong)
        .resolve(&from_secrets_manager(ADMIN_ID, Duration::from_secs(60)), ADMIN_TOKEN_VARIABLE)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::Refused { status: 401, .. }), "{err}");
    assert!(err.to_string().contains(ADMIN_ID), "{err}");
    assert!(!err.to_string().contains(FIRST_TOKEN), "{err}");

    let without = reqwest::get(format!("{base}/secretsmanager/get?secretId={ADMIN_ID}")).await.unwrap();
    assert_eq!(without.status(), 401);
}

#[tokio::test]
async fn a_rotation_is_picked_up_after_the_refresh_period() {
    let (ext, secrets) = started().await;
    let admin = admin_token(&secrets, Duration::from_millis(50)).await;
    assert!(admin.matches(FIRST_TOKEN));
    ext.set(ADMIN_ID, ROTATED_TOKEN);
    assert!(eventually(|| admin.matches(ROTATED_TOKEN)).await, "the rotated token never arrived");
    assert!(!admin.matches(FIRST_TOKEN));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_value() {
    let (ext, secrets) = started().await;
    let admin = admin_token(&secrets, Duration::from_millis(30)).await;

    ext.failing.store(true, Ordering::SeqCst);
    let before = ext.reads();
    assert!(eventually(|| ext.reads() >= before + 3).await, "no refresh was attempted");
    assert!(admin.matches(FIRST_TOKEN));

    // A value that fails its check (too short for an admin token) is not taken either.
    ext.failing.store(false, Ordering::SeqCst);
    ext.set(ADMIN_ID, "too-short");
    let before = ext.reads();
    assert!(eventually(|| ext.reads() >= before + 3).await, "no refresh was attempted");
    assert!(admin.matches(FIRST_TOKEN));

    // Once the secret is good again, it arrives.
    ext.set(ADMIN_ID, ROTATED_TOKEN);
    assert!(eventually(|| admin.matches(ROTATED_TOKEN)).await);
}

#[tokio::test]
async fn init_fails_naming_the_secret_never_its_value() {
    let (ext, secrets) = started().await;
    let minute = Duration::from_secs(60);
    let err = secrets
        .resolve(&from_secrets_manager("patchbay/missing", minute), ADMIN_TOKEN_VARIABLE)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("secret patchbay/missing: "), "{err}");

    ext.set(INGEST_ID, "whsec_not-base64-at-all!");
    let err =
        secrets.resolve(&from_secrets_manager(INGEST_ID, minute), INGEST_SECRET_VARIABLE).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains(INGEST_ID) && message.contains("PATCHBAY_INGEST_SECRET"), "{message}");
    assert!(!message.contains("not-base64-at-all"), "{message}");

    let unreachable =
        SecretsExtension::new("http://127.0.0.1:9", Secret::new(SESSION_TOKEN)).expect("client");
    let err = SecretResolver::with_extension(unreachable)
        .resolve(&from_secrets_manager(ADMIN_ID, minute), ADMIN_TOKEN_VARIABLE)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::Unreachable { .. }), "{err}");
}

/// A rotated admin token reaches the management API's `require_admin` without a restart.
#[tokio::test]
async fn the_management_api_follows_a_rotated_admin_token() {
    let (ext, secrets) = started().await;
    ext.set(INGEST_ID, generate_secret().expose());
    let refresh = Duration::from_millis(50);
    let config = IngestConfig {
        store: StoreConfig::Sqlite("(given backends)".into()),
        ingest_secret: from_secrets_manager(INGEST_ID, refresh),
        admin_token: from_secrets_manager(ADMIN_ID, refresh),
        send: SendConfig::default(),
    };
    let backends = patchbay_testing::backends::sqlite().await;
    let api = wiring::ingest_api_with(&config, &backends.events(), &secrets).await.unwrap();
    let router = patchbay_core::http::ingest_router(Arc::new(api));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/apps/nope", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let status = |token: &'static str| {
        let url = url.clone();
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status() }
    };

    assert_eq!(status(FIRST_TOKEN).await, 404);
    ext.set(ADMIN_ID, ROTATED_TOKEN);
    let mut rotated = false;
    for _ in 0..100 {
        if status(ROTATED_TOKEN).await == 404 {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rotated, "the API never accepted the rotated token");
    assert_eq!(status(FIRST_TOKEN).await, 401);
}
