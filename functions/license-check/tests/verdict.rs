//! Signed verdicts: `&nonce=` gets every key-check answer signed in `x-patchbay-verdict`, checked
//! here by the game's own client (`patchbay-license-client`), over SQLite and DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use common::{Harness, VERDICT_KEY, blocked, check_uri, forbidden, missing_app_secret, not_known};
use patchbay_core::secret::Secret;
use patchbay_core::verdict::VerdictSigner;
use patchbay_license_client::{LicenseClient, Verdict, VerdictKey};

over_both_backends!(
    every_answer_is_signed_over_the_nonce,
    bad_nonces_are_ignored,
    the_game_client_accepts_real_verdicts,
);

const NONCE: &str = "n0nce_for-a-check-0123456789";

async fn public_key(h: &Harness) -> VerdictKey {
    let answer = h.get("/v1/verdict-key").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let json = answer.json();
    assert_eq!(json["alg"], "ed25519");
    assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
    VerdictKey::from_base64(json["public_key"].as_str().unwrap()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn every_answer_is_signed_over_the_nonce(h: &Harness) {
    let key = public_key(h).await;
    let (app, good, _) = h.app_with_key().await;
    let (_, others, _) = h.app_with_key().await;
    let gone = h.generate(&app.id, 1, None).await.remove(0);
    h.admin(Method::POST, &format!("/v1/keys/{gone}/block"), None).await;
    let secret = app.app_secret.expose();

    let cases: [(String, u16, Option<&str>); 6] = [
        (check_uri(&good, Some(secret), None), 200, None),
        (check_uri(&good, Some("not-the-app-secret"), None), 403, Some(forbidden())),
        (check_uri("NO-SUCH-KEY", Some(secret), None), 404, Some(not_known())),
        (check_uri(&others, Some(secret), None), 404, Some(not_known())),
        (check_uri(&gone, Some(secret), None), 410, Some(blocked())),
        (check_uri(&good, None, None), 400, Some(missing_app_secret())),
    ];
    for (uri, status, body) in cases {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let answer = h.get(&format!("{uri}{sep}nonce={NONCE}")).await;
        assert_eq!(answer.status.as_u16(), status, "{uri}: {}", answer.body);
        if let Some(body) = body {
            answer.assert_patchkit(status, body);
        }
        let header = answer.headers.get("x-patchbay-verdict").and_then(|v| v.to_str().ok());
        assert!(header.is_some_and(|v| v.contains(&format!(",n={NONCE},"))), "{uri}: {header:?}");
        key.verify(header, NONCE, now(), status, answer.body.as_bytes()).unwrap();
        // Bound to its status, body and nonce.
        assert!(key.verify(header, NONCE, now(), 299, answer.body.as_bytes()).is_err());
        assert!(key.verify(header, NONCE, now(), status, b"{}").is_err());
        assert!(
            key.verify(header, "another-nonce-0123456789", now(), status, answer.body.as_bytes()).is_err()
        );
        assert!(key.verify(header, NONCE, now() + 301, status, answer.body.as_bytes()).is_err());
    }
    // Without a nonce: no header, PatchKit's answer as before.
    let answer = h.check(&good, Some(secret), None).await;
    assert!(answer.headers.get("x-patchbay-verdict").is_none());
}

async fn bad_nonces_are_ignored(h: &Harness) {
    let (app, good, _) = h.app_with_key().await;
    let uri = check_uri(&good, Some(app.app_secret.expose()), None);
    let too_long = "a".repeat(65);
    for nonce in
        ["", "short", "fifteen-chars-x", "with%20a%20space-0123", "pad=ding-0123456789", too_long.as_str()]
    {
        let answer = h.get(&format!("{uri}&nonce={nonce}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{nonce}: {}", answer.body);
        assert!(answer.headers.get("x-patchbay-verdict").is_none(), "{nonce}");
    }
    let sixteen = h.get(&format!("{uri}&nonce=abcdefghijklmnop")).await;
    assert!(sixteen.headers.get("x-patchbay-verdict").is_some());
}

/// The router on a loopback port.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn the_game_client_accepts_real_verdicts(h: &Harness) {
    let key = public_key(h).await;
    let (app, good, _) = h.app_with_key().await;
    let gone = h.generate(&app.id, 1, None).await.remove(0);
    h.admin(Method::POST, &format!("/v1/keys/{gone}/block"), None).await;
    let url = serve(h.router.clone()).await;
    let client = LicenseClient::new(&url, app.app_secret.expose()).unwrap().with_verdict_key(key);

    let verdict = client.check(&good).await;
    assert!(verdict.is_valid(), "{verdict}");
    assert_eq!(verdict.info().unwrap().registrations, Some(1));
    assert_eq!(client.check(&gone).await, Verdict::Blocked);
    assert_eq!(client.check("NO-SUCH-KEY").await, Verdict::Invalid);
    let wrong = LicenseClient::new(&url, "not-the-app-secret").unwrap().with_verdict_key(key);
    assert_eq!(wrong.check(&good).await, Verdict::Forbidden);

    // The blocking API checks the same way.
    let blocking = client.clone();
    let verdict = tokio::task::spawn_blocking(move || blocking.check_blocking(&good)).await.unwrap();
    assert!(verdict.is_valid(), "{verdict}");

    // A client holding another deployment's key refuses these genuine answers.
    let other = VerdictSigner::new(Secret::new("//////////////////////////////////////////8="));
    let other = VerdictKey::from_base64(&other.public_key().unwrap()).unwrap();
    let stranger = LicenseClient::new(&url, app.app_secret.expose()).unwrap().with_verdict_key(other);
    assert!(matches!(stranger.check(&gone).await, Verdict::Spoofed { .. }));
}

fn spoofed(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Spoofed { reason } => reason,
        other => panic!("expected Spoofed, got {other}"),
    }
}

/// What a hosts-file entry or a local proxy can answer.
#[tokio::test]
async fn faked_answers_are_spoofed() {
    let signer = VerdictSigner::new(Secret::new(VERDICT_KEY));
    let key = VerdictKey::from_base64(&signer.public_key().unwrap()).unwrap();
    let body = r#"{"key":"ABCD","app_secret":"s","key_secret":"k","collection_id":null,"registrations":1,"blocked":false}"#;
    let header_for = move |nonce: &str, t: i64, status: u16, body: &str| {
        signer.header(nonce, t, status, body.as_bytes()).unwrap()
    };
    let nonce_of = |query: &str| form_urlencoded_nonce(query).unwrap_or_default();
    let h1 = header_for.clone();
    let router = Router::new()
        // A plain 200, no signature: the classic crack.
        .route("/plain/v2/keys/{key}", get(move || async move { body }))
        // Signed properly, but for another nonce (a replay of an earlier answer).
        .route(
            "/replay/v2/keys/{key}",
            get({
                let h = h1.clone();
                move || {
                    let header = h("an-old-nonce-0123456789", now(), 200, body);
                    async move { ([("x-patchbay-verdict", header)], body) }
                }
            }),
        )
        // Signed for this nonce, but ten minutes old.
        .route(
            "/stale/v2/keys/{key}",
            get({
                let h = h1.clone();
                move |uri: axum::http::Uri| {
                    let header = h(&nonce_of(uri.query().unwrap_or_default()), now() - 600, 200, body);
                    async move { ([("x-patchbay-verdict", header)], body) }
                }
            }),
        )
        // A genuine answer about key ABCD, served for another key.
        .route(
            "/swapped/v2/keys/{key}",
            get({
                let h = h1.clone();
                move |uri: axum::http::Uri| {
                    let header = h(&nonce_of(uri.query().unwrap_or_default()), now(), 200, body);
                    async move { ([("x-patchbay-verdict", header)], body) }
                }
            }),
        )
        // A signature over another body.
        .route(
            "/tampered/v2/keys/{key}",
            get({
                let h = h1.clone();
                move |uri: axum::http::Uri| {
                    let header = h(
                        &nonce_of(uri.query().unwrap_or_default()),
                        now(),
                        404,
                        r#"{"message":"Key not known"}"#,
                    );
                    async move { ([("x-patchbay-verdict", header)], body) }
                }
            }),
        )
        // The real thing, for contrast.
        .route(
            "/real/v2/keys/{key}",
            get({
                let h = h1.clone();
                move |uri: axum::http::Uri| {
                    let header = h(&nonce_of(uri.query().unwrap_or_default()), now(), 200, body);
                    async move { ([("x-patchbay-verdict", header)], body) }
                }
            }),
        )
        // A 503 says nothing about the key: unverified, as without signing.
        .route("/down/v2/keys/{key}", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "{}") }));
    let url = serve(router).await;
    let client =
        |prefix: &str| LicenseClient::new(&format!("{url}/{prefix}"), "s").unwrap().with_verdict_key(key);

    assert!(spoofed(&client("plain").check("ABCD").await).contains("no x-patchbay-verdict"));
    assert!(spoofed(&client("replay").check("ABCD").await).contains("another nonce"));
    assert!(spoofed(&client("stale").check("ABCD").await).contains("clock"));
    assert!(spoofed(&client("swapped").check("WXYZ").await).contains("another key"));
    assert!(spoofed(&client("tampered").check("ABCD").await).contains("bad signature"));
    assert!(client("real").check("ABCD").await.is_valid());
    assert!(matches!(client("down").check("ABCD").await, Verdict::Unverified { .. }));
    assert!(
        !Verdict::Spoofed { reason: String::new() }
            .allows_play(patchbay_license_client::UnverifiedPolicy::TreatAsValid)
    );

    // Without a verdict key the client takes a plain 200 as before.
    let trusting = LicenseClient::new(&format!("{url}/plain"), "s").unwrap();
    assert!(trusting.check("ABCD").await.is_valid());
}

fn form_urlencoded_nonce(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| pair.strip_prefix("nonce=")).map(str::to_owned)
}
