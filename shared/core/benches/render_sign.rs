//! The per-delivery CPU cost: render a realistic webhook, then sign its body. The goal is to stay
//! well under 5 µs for both together, so rendering never matters next to the network.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use patchbay_core::model::{EventName, PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
use patchbay_core::signing::{SigningKey, generate_secret};
use patchbay_core::template::{TemplateCache, Values, Variable, compile};
use patchbay_core::verdict::{VerdictSigner, generate_verdict_key};
use serde_json::json;

const MESSAGE_ID: &str = "msg_2xKq8vJ3nWb7Rz1cTg5Yh0Lp";
const TIMESTAMP: i64 = 1_715_681_000;

/// A Discord-style announcement: eight variables including a multi-line changelog, two headers,
/// a path and a query variable in the URL.
fn realistic_spec() -> WebhookSpec {
    let headers = BTreeMap::from([
        ("Authorization".to_owned(), "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0".to_owned()),
        ("X-Patch-Version".to_owned(), "{{version.id}}".to_owned()),
    ]);
    WebhookSpec {
        events: vec![EventName::VersionPublished],
        method: WebhookMethod::Post,
        url: "https://hooks.example.com/patchkit/{{app.name}}/notify?version={{version.label}}".to_owned(),
        headers,
        format: PayloadFormat::Json,
        payload: json!({
            "username": "PatchKit",
            "content": "**{{app.display_name}}** {{version.label}} is out!",
            "embeds": [{
                "title": "What's new in {{version.label}}",
                "description": "{{version.changes}}",
                "url": "{{app.download_url}}",
                "fields": [
                    {"name": "Download size", "value": "{{version.humanized_diff_size}}", "inline": true},
                    {"name": "Published", "value": "{{version.published_at}}", "inline": true},
                ],
                "color": 5_814_783,
            }],
        }),
        timeout: None,
        retry_schedule: None,
    }
}

fn realistic_values() -> Values {
    Values::sample(EventName::VersionPublished).with(
        Variable::VersionChanges,
        "- New \"Frozen Peaks\" map with 12 missions\n\
         - Controller remapping for all actions\n\
         - Fixed a crash on start when the save folder is read-only\n\
         - Fixed shadows flickering on AMD GPUs\n\
         - Faster loading: textures stream in the background (~30% faster)\n\
         - Updated translations: Deutsch, Español, 日本語",
    )
}

fn benches(c: &mut Criterion) {
    let compiled = compile(&realistic_spec()).expect("the realistic spec compiles");
    let values = realistic_values();
    let key = SigningKey::from_secret(&generate_secret()).expect("generated secrets parse");

    c.bench_function("render_sign/realistic_json", |b| {
        b.iter(|| {
            let request = compiled.render(black_box(&values)).expect("renders");
            let body = request.body.as_deref().unwrap_or_default();
            black_box(key.sign(MESSAGE_ID, TIMESTAMP, body.as_bytes()))
        });
    });

    c.bench_function("render/realistic_json", |b| {
        b.iter(|| compiled.render(black_box(&values)).expect("renders"));
    });

    // The deliver path: with the per-revision cache (a lookup, then render + sign), and without
    // it (compile every time, as before the cache).
    let webhook = Webhook::new("app_bench", realistic_spec(), chrono::Utc::now());
    let cache = TemplateCache::default();
    c.bench_function("cached_render_sign/realistic_json", |b| {
        b.iter(|| {
            let compiled = cache.get(black_box(&webhook)).expect("compiles");
            let request = compiled.render(black_box(&values)).expect("renders");
            let body = request.body.as_deref().unwrap_or_default();
            black_box(key.sign(MESSAGE_ID, TIMESTAMP, body.as_bytes()))
        });
    });
    c.bench_function("compile_render_sign/realistic_json", |b| {
        b.iter(|| {
            let compiled = compile(black_box(&webhook.spec)).expect("compiles");
            let request = compiled.render(black_box(&values)).expect("renders");
            let body = request.body.as_deref().unwrap_or_default();
            black_box(key.sign(MESSAGE_ID, TIMESTAMP, body.as_bytes()))
        });
    });

    let kib = vec![b'x'; 1024];
    c.bench_function("sign/1KiB", |b| {
        b.iter(|| key.sign(MESSAGE_ID, TIMESTAMP, black_box(&kib)));
    });

    // The key check's signed verdict (`x-patchbay-verdict`) over a PatchKit 200 body.
    let signer = VerdictSigner::new(generate_verdict_key());
    let body = br#"{"key":"2HSK9-2VEBX-MSD53-VCJ4W","app_secret":"vpn9qRl1EGI6Pnoenqh7nE7GR2hlwhYYSXTV4s9o","key_secret":"Jb2k3m4n5p6q7r8s9t0uvwxyzABCDEFG","collection_id":null,"registrations":1,"blocked":false}"#;
    c.bench_function("verdict/sign_200", |b| {
        b.iter(|| signer.header(black_box("n0nce_for-a-check-0123456789"), TIMESTAMP, 200, black_box(body)));
    });
}

criterion_group!(render_sign, benches);
criterion_main!(render_sign);
