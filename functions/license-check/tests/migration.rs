//! Moving from PatchKit: full key records imported through `POST /v1/apps/{id}/keys/import`
//! keep working with the secrets shipped launchers cached, and the import is re-runnable.
//! Over SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::time::Instant;

use axum::http::Method;
use common::{Harness, blocked, valid_body};
use serde_json::{Value, json};

over_both_backends!(ten_thousand_patchkit_records_check_with_their_secrets, import_conflicts_write_nothing);

/// 10 000 on SQLite; moto (one Python process) answers a few hundred calls a second, so the
/// DynamoDB run takes a tenth of them through the same code.
fn records(h: &Harness) -> usize {
    if h.backend == "sqlite" { 10_000 } else { 1_000 }
}
/// Records per request: a call takes up to 10 000 keys but at most 1 MiB of JSON, as the CLI
/// splits them.
const PER_CALL: usize = 2_500;

/// A record as PatchKit's `GET /v2/collections/{id}/keys` lists it, less `app_secret`.
fn patchkit_record(i: usize, collections: [i64; 2]) -> Value {
    json!({
        "key": format!("PK{i:05}-{:05X}-LEGACY", i * 7919 % 0xFFFFF),
        "key_secret": format!("ks{:030x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)),
        "collection_id": collections[i % 2],
        "registrations": i % 5,
        "blocked": i.is_multiple_of(97),
    })
}

/// Import in calls of [`PER_CALL`]: (imported, unchanged).
async fn import(h: &Harness, uri: &str, records: &[Value]) -> (usize, usize) {
    let (mut imported, mut unchanged) = (0, 0);
    for batch in records.chunks(PER_CALL) {
        let answer = h.admin(Method::POST, uri, Some(json!({ "keys": batch }))).await;
        assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
        let body = answer.json();
        assert_eq!(body["duplicates"], json!([]));
        imported += usize::try_from(body["imported"].as_u64().unwrap()).unwrap();
        unchanged += usize::try_from(body["unchanged"].as_u64().unwrap()).unwrap();
    }
    (imported, unchanged)
}

async fn ten_thousand_patchkit_records_check_with_their_secrets(h: &Harness) {
    let app = h.new_app().await;
    let secret = app.app_secret.expose();
    let collections = [h.new_collection(&app.id, "retail").await, h.new_collection(&app.id, "press").await];
    let count = records(h);
    let records: Vec<Value> = (0..count).map(|i| patchkit_record(i, collections)).collect();
    let uri = format!("/v1/apps/{}/keys/import", app.id);

    let started = Instant::now();
    assert_eq!(import(h, &uri, &records).await, (count, 0));
    eprintln!("{}: imported {count} records in {:?}", h.backend, started.elapsed());

    // Every key answers 200 with its original key_secret (no registration: the launcher's
    // cached secret is right), or 410 when it came blocked.
    let started = Instant::now();
    for (i, record) in records.iter().enumerate() {
        let key = record["key"].as_str().unwrap();
        let key_secret = record["key_secret"].as_str().unwrap();
        let answer = h.check(key, Some(secret), Some(key_secret)).await;
        if record["blocked"] == true {
            answer.assert_patchkit(410, blocked());
        } else {
            let collection = record["collection_id"].as_i64().unwrap();
            let registrations = record["registrations"].as_u64().unwrap();
            answer.assert_patchkit(200, &valid_body(key, secret, key_secret, collection, registrations));
        }
        if i == 0 {
            // A check without the secret registers and hands back the same secret.
            let answer = h.check(key, Some(secret), None).await;
            assert_eq!(answer.status.as_u16(), 410, "record 0 is blocked: {}", answer.body);
        }
    }
    eprintln!("{}: checked {count} keys in {:?}", h.backend, started.elapsed());
    let first_open = records.iter().find(|r| r["blocked"] == false).unwrap();
    let answer = h.check(first_open["key"].as_str().unwrap(), Some(secret), None).await;
    assert_eq!(answer.json()["key_secret"], first_open["key_secret"]);

    // A re-run imports nothing new; keys used since are left as they are.
    assert_eq!(import(h, &uri, &records).await, (0, count));
    assert_eq!(
        h.registrations(first_open["key"].as_str().unwrap()).await,
        first_open["registrations"].as_u64().unwrap() + 1
    );
}

async fn import_conflicts_write_nothing(h: &Harness) {
    let app = h.new_app().await;
    let c = h.new_collection(&app.id, "retail").await;
    let other_c = h.new_collection(&app.id, "press").await;
    let uri = format!("/v1/apps/{}/keys/import", app.id);
    let record = json!({ "key": "MIG-1", "key_secret": "secret-one", "collection_id": c });
    let answer = h.admin(Method::POST, &uri, Some(json!({ "keys": [record] }))).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);

    let batch = json!({ "keys": [
        "MIG-NEW",
        { "key": "MIG-1", "key_secret": "secret-two" },
        { "key": "MIG-1x", "blocked": true },
        { "key": "MIG-1x", "blocked": false },
    ]});
    h.admin(Method::POST, &uri, Some(batch)).await.assert_api_error(
        409,
        "import_conflict",
        "nothing imported: 2 key(s) conflict with stored keys: MIG-1x (given twice, differently), \
         MIG-1 (stored with another key_secret)",
    );
    let moved = json!({ "keys": [{ "key": "MIG-1", "collection_id": other_c }] });
    h.admin(Method::POST, &uri, Some(moved)).await.assert_api_error(
        409,
        "import_conflict",
        "nothing imported: 1 key(s) conflict with stored keys: MIG-1 (stored in another collection)",
    );
    assert_eq!(h.admin(Method::GET, "/v1/keys/MIG-NEW", None).await.status.as_u16(), 404);

    // Field by field validation names the record.
    for (record, message) in [
        (json!({ "key": "MIG-2", "key_secret": "has space" }), "keys[0].key_secret: must be 1 to 128"),
        (json!({ "key": "MIG-2", "extra": 1 }), "keys[0].extra: is not a known field"),
        (json!({ "key": "MIG-2", "collection_id": "7" }), "keys[0].collection_id: "),
        (json!({ "key": "MIG-2", "collection_id": 999_999 }), "collection_id: app "),
        (json!({ "key_secret": "s" }), "keys[0].key: is required"),
    ] {
        let answer = h.admin(Method::POST, &uri, Some(json!({ "keys": [record] }))).await;
        assert_eq!(answer.status.as_u16(), 422, "{record}: {}", answer.body);
        let got = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(got.starts_with(message), "{record}: {got}");
    }
}
