//! PatchKit's administration routes under `/v2` (swagger-keys.json), `token` header, over
//! SQLite and over DynamoDB on moto.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{ADMIN_TOKEN, Answer, Harness, blocked};
use serde_json::{Value, json};

over_both_backends!(patchkit_administration_round_trip, patchkit_administration_needs_the_token);

async fn pk(h: &Harness, method: Method, uri: &str, form: Option<&str>, token: Option<&str>) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("token", token);
    }
    let body = match form {
        Some(form) => {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    h.send(builder.body(body).unwrap()).await
}

fn message(answer: &Answer, status: u16, text: &str) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    assert_eq!(answer.json(), json!({ "message": text }));
}

/// The swagger's LicenseKey: exactly these fields, of these JSON types.
fn assert_license_key(v: &Value) {
    let o = v.as_object().unwrap();
    assert_eq!(o.len(), 6, "{v}");
    for name in ["key", "app_secret", "key_secret"] {
        assert!(o[name].is_string(), "{name}: {v}");
    }
    assert!(o["collection_id"].is_i64() && o["registrations"].is_u64() && o["blocked"].is_boolean(), "{v}");
}

async fn patchkit_administration_round_trip(h: &Harness) {
    let app = h.new_app().await;
    let secret = app.app_secret.expose();
    let c = h.new_collection(&app.id, "retail").await;
    let t = Some(ADMIN_TOKEN);

    let form = format!("app_secret={secret}&count=3&collection_id={c}");
    let created = pk(h, Method::POST, "/v2/keys", Some(&form), t).await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let job = created.json();
    assert_eq!((job["pending"].clone(), job["finished"].clone()), (json!(false), json!(true)));
    let guid = job["guid"].as_str().unwrap();
    let got = pk(h, Method::GET, &format!("/v2/jobs/{guid}"), None, t).await;
    assert_eq!(got.json(), job);
    message(&pk(h, Method::GET, "/v2/jobs/not-a-job", None, t).await, 404, "Job not found");

    let listed = pk(h, Method::GET, &format!("/v2/collections/{c}/keys?size=2&offset=0"), None, t).await;
    assert_eq!(listed.status.as_u16(), 200, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(listed["_metadata"], json!({ "total_count": 3 }));
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    keys.iter().for_each(assert_license_key);
    assert_eq!(keys[0]["app_secret"], secret);
    assert_eq!(keys[0]["collection_id"], c);
    let key = keys[0]["key"].as_str().unwrap().to_owned();

    let answer = pk(h, Method::POST, &format!("/v2/keys/{key}/block"), None, t).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_license_key(&answer.json());
    assert_eq!(answer.json()["blocked"], true);
    h.check(&key, Some(secret), None).await.assert_patchkit(410, blocked());
    let answer = pk(h, Method::POST, &format!("/v2/keys/{key}/unblock"), None, t).await;
    assert_eq!(answer.json()["blocked"], false);
    assert_eq!(h.check(&key, Some(secret), None).await.status.as_u16(), 200);
    message(&pk(h, Method::POST, "/v2/keys/NOPE1-NOPE1/block", None, t).await, 404, "Key not known");
    // The key check itself is unchanged, and other POSTs under /v2/keys/ stay 405.
    assert_eq!(pk(h, Method::POST, &format!("/v2/keys/{key}"), None, t).await.status.as_u16(), 405);

    assert_eq!(
        pk(h, Method::POST, &format!("/v2/collections/{c}/block"), None, t).await.status.as_u16(),
        200
    );
    h.check(&key, Some(secret), None).await.assert_patchkit(410, blocked());
    assert_eq!(
        pk(h, Method::POST, &format!("/v2/collections/{c}/unblock"), None, t).await.status.as_u16(),
        200
    );
    assert_eq!(h.check(&key, Some(secret), None).await.status.as_u16(), 200);
    let missing = "Collection does not exist.";
    message(&pk(h, Method::POST, "/v2/collections/999999/block", None, t).await, 404, missing);
    message(&pk(h, Method::GET, "/v2/collections/999999/keys?size=1&offset=0", None, t).await, 404, missing);

    let answer = pk(h, Method::DELETE, &format!("/v2/apps/{secret}"), None, t).await;
    assert_eq!(answer.status.as_u16(), 204, "{}", answer.body);
    h.check(&key, Some(secret), None).await;
    let listed = pk(h, Method::GET, &format!("/v2/collections/{c}/keys?size=10&offset=0"), None, t).await;
    assert_eq!(listed.json()["_metadata"]["total_count"], 0);
    message(&pk(h, Method::DELETE, "/v2/apps/not-an-app-secret", None, t).await, 404, "Secret not known");
}

async fn patchkit_administration_needs_the_token(h: &Harness) {
    let app = h.new_app().await;
    let c = h.new_collection(&app.id, "retail").await;
    let form = format!("app_secret={}&count=1&collection_id={c}", app.app_secret.expose());
    for token in [None, Some("wrong-token"), Some("")] {
        for (method, uri, form) in [
            (Method::POST, "/v2/keys".to_owned(), Some(form.as_str())),
            (Method::GET, format!("/v2/collections/{c}/keys?size=1&offset=0"), None),
            (Method::POST, format!("/v2/collections/{c}/block"), None),
            (Method::POST, "/v2/keys/ANY-KEY/block".to_owned(), None),
            (Method::DELETE, format!("/v2/apps/{}", app.app_secret.expose()), None),
        ] {
            let answer = pk(h, method, &uri, form, token).await;
            message(&answer, 403, "Forbidden");
        }
    }
    // The bearer admin token of /v1 is not PatchKit's `token`.
    let answer = h.admin(Method::POST, &format!("/v2/collections/{c}/block"), None).await;
    message(&answer, 403, "Forbidden");
}
