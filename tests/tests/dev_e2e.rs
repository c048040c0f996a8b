//! `patchbay dev` as a real process, driven only through HTTP and the CLI.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use patchbay_core::secret::Secret;
use patchbay_core::signing::verify_headers;
use patchbay_e2e::dev::event;
use patchbay_e2e::{DevServer, Receiver};
use reqwest::Method;
use serde_json::{Value, json};

const FAST: &[(&str, &str)] = &[("PATCHBAY_RETRY_SCHEDULE", "1s,1s"), ("PATCHBAY_DELIVERY_TIMEOUT", "2s")];

async fn app_and_webhook(dev: &DevServer, app_id: &str, url: &str) -> Value {
    dev.create_app(app_id).await;
    let (status, webhook) = dev
        .admin(
            Method::POST,
            &format!("/v1/apps/{app_id}/webhooks"),
            Some(json!({
                "events": ["version_published"],
                "method": "POST",
                "url": url,
                "headers": {"X-Token": "t-{{app.name}}"},
                "format": "json",
                "payload": {"text": "{{app.display_name}} {{version.label}}", "changes": "{{version.changes}}"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{webhook}");
    assert!(webhook["secret"].as_str().unwrap().starts_with("whsec_"));
    webhook
}

fn verify(request: &patchbay_e2e::receiver::Request, secret: &str) {
    let now = chrono::Utc::now().timestamp();
    verify_headers(&Secret::new(secret), &request.headers, &request.body, now, 300)
        .expect("signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_event_reaches_the_receiver_and_is_recorded() {
    let dev = DevServer::start(FAST);
    let receiver = Receiver::start(&[]).await;
    let webhook = app_and_webhook(&dev, "app_e2e", &receiver.url("/hook")).await;

    let (status, body) = dev.post_event("msg_e2e_1", &event("version_published", "app_e2e", 42)).await;
    assert_eq!(status, 202, "{body}");
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["deliveries"][0]["webhook_id"], webhook["id"]);

    let delivery = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(20)).await;
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["number"], 1);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    verify(&seen[0], webhook["secret"].as_str().unwrap());
    assert_eq!(seen[0].header("webhook-id"), Some(delivery_id.as_str()));
    assert_eq!(seen[0].header("x-token"), Some("t-space-race"));
    assert!(seen[0].header("user-agent").unwrap().starts_with("Patchbay-Webhooks/"));
    let payload: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(payload["changes"], "Fixed \"jump\" bug\nNew map 🚀");
    assert_eq!(payload["text"], "Space Race 1.0.3");

    // The same event again: same answer, nothing new sent.
    let (status, again) = dev.post_event("msg_e2e_1", &event("version_published", "app_e2e", 42)).await;
    assert_eq!(status, 200);
    assert_eq!(again, body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receiver_is_retried_then_redelivered_and_replayed() {
    let dev = DevServer::start(FAST);
    // Two failures, then success: three attempts on the 1s,1s schedule.
    let receiver = Receiver::start(&[500, 503]).await;
    let webhook = app_and_webhook(&dev, "app_retry", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();

    let (_, body) = dev.post_event("msg_retry", &event("version_published", "app_retry", 7)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let delivery = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(30)).await;
    let codes: Vec<&Value> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.header("webhook-id") == Some(delivery_id.as_str())), "stable webhook-id");

    // Redeliver: a new series, same webhook-id.
    let (status, redelivered) =
        dev.admin(Method::POST, &format!("/v1/deliveries/{delivery_id}/redeliver"), None).await;
    assert_eq!(status, 202, "{redelivered}");
    let delivery = dev.wait_for_attempts(&delivery_id, 4).await;
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(receiver.seen().len(), 4);
    assert_eq!(receiver.seen()[3].header("webhook-id"), Some(delivery_id.as_str()));

    // Replay of failed deliveries: none failed yet.
    let (status, replay) =
        dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/replay?status=failed"), None).await;
    assert_eq!(status, 202);
    assert_eq!(replay["replayed"], 0);
    // Replay of succeeded ones since the start of the test: exactly ours.
    let since = "2000-01-01T00:00:00Z";
    let (status, replay) = dev
        .admin(
            Method::POST,
            &format!("/v1/webhooks/{webhook_id}/replay?status=succeeded&since={since}"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["replayed"], 1);
    dev.wait_for_attempts(&delivery_id, 5).await;

    // Listing, newest first, filtered.
    let (status, page) =
        dev.admin(Method::GET, &format!("/v1/webhooks/{webhook_id}/deliveries?status=succeeded"), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_delivery_fails_and_test_send_is_recorded() {
    let dev = DevServer::start(&[("PATCHBAY_RETRY_SCHEDULE", "1s"), ("PATCHBAY_DELIVERY_TIMEOUT", "2s")]);
    let receiver = Receiver::start(&[500, 500]).await;
    let webhook = app_and_webhook(&dev, "app_fail", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    let (_, body) = dev.post_event("msg_fail", &event("version_published", "app_fail", 1)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let failed = dev.wait_for_delivery(&delivery_id, "failed", Duration::from_secs(20)).await;
    assert_eq!(failed["attempts"].as_array().unwrap().len(), 2);
    assert!(failed["reason"].as_str().unwrap().contains("gave up"), "{failed}");

    // Replay the failed one: the receiver answers 200 now.
    let (status, replay) = dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/replay"), None).await;
    assert_eq!((status, &replay["replayed"]), (202, &json!(1)));
    let done = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 3);

    // Test send: sample values, recorded, marked as a test.
    let (status, test) = dev.admin(Method::POST, &format!("/v1/webhooks/{webhook_id}/test"), None).await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["status_code"], 200);
    let sent: Value = serde_json::from_str(test["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["text"], "Test App Test Version");
    let (status, recorded) = dev
        .admin(Method::GET, &format!("/v1/deliveries/{}", test["delivery_id"].as_str().unwrap()), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(recorded["test"], true);
    assert_eq!(recorded["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_refuses_bad_requests_with_one_error_shape() {
    let dev = DevServer::start(FAST);
    let receiver = Receiver::start(&[]).await;
    let webhook = app_and_webhook(&dev, "app_4xx", &receiver.url("/hook")).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    let client = dev.http();

    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::POST,
            "/v1/apps".into(),
            Some(json!({"id": "app_4xx", "name": "n", "display_name": "d"})),
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/v1/apps".into(),
            Some(json!({"id": "bad id!", "name": "n", "display_name": "d"})),
            422,
            "invalid_field",
        ),
        (Method::POST, "/v1/apps".into(), Some(json!({"name": "n"})), 422, "invalid_field"),
        (Method::GET, "/v1/webhooks/wh_nope".into(), None, 404, "not_found"),
        (Method::GET, "/v1/deliveries/dlv_nope".into(), None, 404, "not_found"),
        (
            Method::POST,
            "/v1/apps/app_nope/webhooks".into(),
            Some(json!({"events": ["version_published"], "method": "POST", "url": "https://example.com"})),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(
                json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/{{app.nmae}}"}),
            ),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(json!({"events": ["version_published"], "method": "POST", "url": "ftp://example.com"})),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(
                json!({"events": ["version_published"], "method": "POST", "url": "https://example.com", "headers": {"Bad Header": "x"}}),
            ),
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/apps/app_4xx/webhooks".into(),
            Some(json!({"events": ["version_deleted"], "method": "POST", "url": "https://example.com"})),
            422,
            "invalid_field",
        ),
        (
            Method::PATCH,
            format!("/v1/webhooks/{webhook_id}"),
            Some(json!({"payload": {"x": "{{version.nope}}"}})),
            422,
            "invalid_field",
        ),
        (
            Method::GET,
            format!("/v1/webhooks/{webhook_id}/deliveries?status=lost"),
            None,
            422,
            "invalid_field",
        ),
        (Method::GET, format!("/v1/webhooks/{webhook_id}/deliveries?cursor=zz"), None, 400, "bad_request"),
        (
            Method::POST,
            format!("/v1/webhooks/{webhook_id}/replay?since=yesterday"),
            None,
            422,
            "invalid_field",
        ),
        (Method::GET, "/v1/nothing-here".into(), None, 404, "no_route"),
        (Method::GET, "/v1/webhooks/%FF%FE".into(), None, 400, "bad_request"),
        (Method::POST, "/v1/keys/%C3%28/block".into(), None, 400, "bad_request"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = dev.admin(method.clone(), &path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Not JSON at all, declared or not.
    let response = client
        .post(format!("{}/v1/apps", dev.base))
        .bearer_auth(&dev.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = client
        .post(format!("{}/v1/apps", dev.base))
        .bearer_auth(&dev.admin_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    // No token, wrong token.
    for token in [None, Some("wrong-token-wrong-token")] {
        let mut request = client.get(format!("{}/v1/apps/app_4xx/webhooks", dev.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // The template error names the field and the variable.
    let (_, answer) = dev
        .admin(Method::POST, "/v1/apps/app_4xx/webhooks", Some(json!({"events": ["version_published"], "method": "POST", "url": "https://example.com", "payload": {"a": {"b": "{{app.titel}}"}}})))
        .await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("payload.a.b") && message.contains("app.titel"), "{message}");
}

/// What the posters of [`sigkill_mid_batch_loses_nothing`] saw.
#[derive(Default)]
struct Posted {
    /// Delivery ids from every 2xx answer.
    deliveries: Vec<String>,
    /// Events with no 2xx answer, to post again as the pipeline would.
    unanswered: Vec<i64>,
    /// Requests that failed after connecting: cut mid-way by a kill (or sent on a connection the
    /// kill had closed), so the server may have done part of the work.
    cut: usize,
}

fn delivery_ids(ingest_answer: &Value) -> impl Iterator<Item = String> + '_ {
    ingest_answer["deliveries"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned())
}

fn kill_event_id(i: i64) -> String {
    format!("msg_kill_{i}")
}

/// `patchbay dev` SIGKILLed five times while events are posted and deliveries sent: each kill
/// lands with sends in flight at a slow receiver, the first three also with ingest requests in
/// flight. Every event answered 2xx, and every event whose request got no answer once posted
/// again under the same webhook-id, reaches every webhook; duplicates stay within what the kills
/// can explain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    const WEBHOOKS: usize = 5;
    const POSTERS: usize = 4;
    const KILLS_WHILE_POSTING: usize = 3;
    const KILLS: usize = 5;
    /// The local worker keeps at most this many sends in flight (`PATCHBAY_WORKER_CONCURRENCY`):
    /// a kill leaves at most that many unrecorded.
    const WORKER_BATCH: usize = 10;

    let mut dev = DevServer::start(&[
        ("PATCHBAY_DELIVERY_TIMEOUT", "2s"),
        ("PATCHBAY_RETRY_SCHEDULE", "1s,1s,1s"),
        ("PATCHBAY_WORKER_CONCURRENCY", "10"),
    ]);
    // 300 ms per answer against a 2 s timeout: sends are caught in flight, and none times out.
    let receiver = Receiver::start_slow(Duration::from_millis(300)).await;
    app_and_webhook(&dev, "app_kill", &receiver.url("/hook")).await;
    for extra in 1..WEBHOOKS {
        let (status, _) = dev
            .admin(
                Method::POST,
                "/v1/apps/app_kill/webhooks",
                Some(json!({"events": ["version_published"], "method": "POST", "url": receiver.url(&format!("/hook{extra}")), "payload": {"v": "{{version.id}}"}})),
            )
            .await;
        assert_eq!(status, 201);
    }

    // Posters: each posts the next event, a quarter of a second apart, until told to stop.
    let posted = Arc::new(Mutex::new(Posted::default()));
    let next_event = Arc::new(AtomicI64::new(0));
    let ingest_in_flight = Arc::new(AtomicUsize::new(0));
    let stop_posting = Arc::new(AtomicBool::new(false));
    let posters: Vec<_> = (0..POSTERS)
        .map(|_| {
            let (poster, posted, next_event, ingest_in_flight, stop_posting) = (
                dev.event_poster(),
                posted.clone(),
                next_event.clone(),
                ingest_in_flight.clone(),
                stop_posting.clone(),
            );
            tokio::spawn(async move {
                while !stop_posting.load(Ordering::SeqCst) {
                    let i = next_event.fetch_add(1, Ordering::SeqCst);
                    ingest_in_flight.fetch_add(1, Ordering::SeqCst);
                    let result =
                        poster.post(&kill_event_id(i), &event("version_published", "app_kill", i)).await;
                    ingest_in_flight.fetch_sub(1, Ordering::SeqCst);
                    {
                        let mut posted = posted.lock().unwrap();
                        match result {
                            Ok((200 | 202, body)) => posted.deliveries.extend(delivery_ids(&body)),
                            Ok((status, body)) => panic!("event {i}: {status} {body}"),
                            Err(err) => {
                                posted.unanswered.push(i);
                                posted.cut += usize::from(!err.is_connect());
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        })
        .collect();

    // Each kill waits for sends in flight at the receiver (and, while posting, ingest requests
    // in flight), so it always cuts something.
    let mut in_flight_at_kills = Vec::new();
    for kill in 0..KILLS {
        let posting = kill < KILLS_WHILE_POSTING;
        let deadline = Instant::now() + Duration::from_secs(20);
        while receiver.in_flight() == 0 || (posting && ingest_in_flight.load(Ordering::SeqCst) == 0) {
            assert!(Instant::now() < deadline, "kill {kill}: nothing in flight to cut");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        in_flight_at_kills.push(receiver.in_flight());
        dev.kill();
        dev.restart();
        if kill + 1 == KILLS_WHILE_POSTING {
            stop_posting.store(true, Ordering::SeqCst);
            for poster in &posters {
                while !poster.is_finished() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Posted { mut deliveries, unanswered, cut } = std::mem::take(&mut *posted.lock().unwrap());
    let events = usize::try_from(next_event.load(Ordering::SeqCst)).unwrap();

    // The pipeline retries what got no answer under the same webhook-id. An event a cut request
    // had stored stays leased (409) until its lease lapses; then the retry finishes its job.
    let mut pending = unanswered.clone();
    let deadline = Instant::now() + Duration::from_secs(45);
    while !pending.is_empty() {
        assert!(Instant::now() < deadline, "events never accepted on retry: {pending:?}");
        let mut still = Vec::new();
        for i in pending {
            match dev.event_poster().post(&kill_event_id(i), &event("version_published", "app_kill", i)).await
            {
                Ok((200 | 202, body)) => deliveries.extend(delivery_ids(&body)),
                Ok((409 | 503, _)) | Err(_) => still.push(i),
                Ok((status, body)) => panic!("event {i} on retry: {status} {body}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    assert_eq!(deliveries.len(), events * WEBHOOKS, "one delivery per event and webhook");

    let mut failed_attempts = 0;
    for id in &deliveries {
        let done = dev.wait_for_delivery(id, "succeeded", Duration::from_secs(60)).await;
        failed_attempts +=
            done["attempts"].as_array().unwrap().iter().filter(|a| a["status_code"] != 200).count();
    }
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in receiver.seen() {
        *per_id.entry(request.header("webhook-id").unwrap().to_owned()).or_default() += 1;
    }
    for id in &deliveries {
        assert!(per_id.contains_key(id), "{id} never reached the receiver");
    }
    assert_eq!(per_id.len(), deliveries.len(), "the receiver got deliveries nobody created");
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    let abandoned = receiver.seen().len() - receiver.answered();
    eprintln!(
        "sigkill: {events} events, {} deliveries, in flight at each kill {in_flight_at_kills:?}, {} \
         events without an answer ({cut} cut mid-request), {abandoned} sends abandoned, {duplicates} \
         duplicate receipts, {failed_attempts} failed attempts",
        deliveries.len(),
        unanswered.len(),
    );
    assert!(cut > 0, "no ingest request was cut by a kill");
    // A delivery is received twice only if it was sent twice: its send was in flight at a kill
    // (at most the in-flight bound per kill), or a cut ingest request enqueued it and the retry
    // enqueued it again (at most one per webhook of a cut event), or an attempt failed and was
    // retried after the receiver got it.
    let bound = KILLS * WORKER_BATCH + cut * WEBHOOKS + failed_attempts;
    assert!(duplicates <= bound, "{duplicates} duplicate receipts, more than the kills explain ({bound})");
    // And the kills did cut sends: a send in flight at a kill is never recorded, so it is sent again.
    assert!(duplicates > 0, "no send was cut by a kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_outage_then_recovery_delivers_everything_on_schedule() {
    use patchbay_e2e::receiver::HANG;
    // 1 s timeout, five retries a second apart: an outage of 5xx and hangs, then recovery.
    let dev = DevServer::start(&[
        ("PATCHBAY_DELIVERY_TIMEOUT", "1s"),
        ("PATCHBAY_RETRY_SCHEDULE", "1s,1s,1s,1s,1s"),
    ]);
    // Hangs spaced out so that answers always come between them: three timeouts in a row would
    // open the webhook's circuit and defer everything for a minute (circuit_breaker.rs tests that).
    let outage: Vec<u16> = (0..24).map(|i| if i % 6 == 0 { HANG } else { 503 }).collect();
    let receiver = Receiver::start(&outage).await;
    app_and_webhook(&dev, "app_outage", &receiver.url("/hook")).await;
    let mut deliveries = Vec::new();
    for i in 0..8 {
        let (status, body) =
            dev.post_event(&format!("msg_outage_{i}"), &event("version_published", "app_outage", i)).await;
        assert_eq!(status, 202, "{body}");
        deliveries.push(body["deliveries"][0]["id"].as_str().unwrap().to_owned());
    }
    for id in &deliveries {
        let done = dev.wait_for_delivery(id, "succeeded", Duration::from_secs(60)).await;
        let attempts = done["attempts"].as_array().unwrap();
        assert!(attempts.len() <= 6, "more attempts than the schedule allows: {done}");
        for failed in &attempts[..attempts.len() - 1] {
            assert!(failed["status_code"] == 503 || failed["error"] == "timeout", "{failed}");
        }
        // Attempts follow the schedule: about a second apart, never before the delay is up.
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            attempts.iter().map(|a| a["at"].as_str().unwrap().parse().unwrap()).collect();
        for pair in times.windows(2) {
            assert!((pair[1] - pair[0]).num_milliseconds() >= 700, "retried early: {done}");
        }
    }
    assert!(receiver.seen().len() >= 8 + 24, "the outage was not exercised");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_finishes_and_restart_keeps_state() {
    let mut dev = DevServer::start(FAST);
    // Slow enough that the stop lands while the send is in flight.
    let receiver = Receiver::start_slow(Duration::from_secs(1)).await;
    app_and_webhook(&dev, "app_stop", &receiver.url("/hook")).await;
    let (_, body) = dev.post_event("msg_stop", &event("version_published", "app_stop", 3)).await;
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.in_flight() == 0 {
        assert!(std::time::Instant::now() < deadline, "the delivery was never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = dev.stop().unwrap();
    assert!(status.success(), "graceful stop exits 0: {status}");
    // Before any restart: the stop let the in-flight send finish instead of cutting it.
    assert_eq!((receiver.seen().len(), receiver.answered()), (1, 1), "the stop cut the in-flight send");
    dev.restart();
    let delivered = dev.wait_for_delivery(&delivery_id, "succeeded", Duration::from_secs(30)).await;
    // Recorded before the stop: nothing was sent again after the restart.
    assert_eq!(delivered["attempts"].as_array().unwrap().len(), 1, "{delivered}");
    assert_eq!(receiver.seen().len(), 1);
    let (_, again) = dev.post_event("msg_stop", &event("version_published", "app_stop", 3)).await;
    assert_eq!(again, body, "the event survived the restart");
}
