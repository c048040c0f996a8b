//! `patchbay sign`, `verify` and `render`: the real binary, no server.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: &str = "1614265330";
const BODY: &str = r#"{"test": 2432232314}"#;
const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn patchbay(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[test]
fn sign_prints_the_standard_webhooks_vector() {
    let out = patchbay(&["sign", "--secret", SECRET, "--id", ID, "--timestamp", TS], BODY);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), SIGNATURE);
}

#[test]
fn verify_exits_zero_when_valid_and_one_with_the_reason() {
    let ok = patchbay(
        &["verify", "--secret", SECRET, "--id", ID, "--timestamp", TS, "--signature", SIGNATURE, "--now", TS],
        BODY,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));

    let tampered = patchbay(
        &["verify", "--secret", SECRET, "--id", ID, "--timestamp", TS, "--signature", SIGNATURE, "--now", TS],
        r#"{"test": 2432232315}"#,
    );
    assert_eq!(tampered.status.code(), Some(1));
    assert!(text(&tampered.stderr).contains("no signature"), "{}", text(&tampered.stderr));

    let stale = patchbay(
        &["verify", "--secret", SECRET, "--id", ID, "--timestamp", TS, "--signature", SIGNATURE],
        BODY,
    );
    assert_eq!(stale.status.code(), Some(1));
    assert!(text(&stale.stderr).contains("tolerance"), "{}", text(&stale.stderr));
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn render_prints_the_exact_request() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = write(
        dir.path(),
        "w.json",
        r#"{"events":["version_published"],"method":"POST","url":"https://example.com/hooks/{{app.name}}?v={{version.label}}",
            "headers":{"X-Token":"abc"},"format":"json","payload":{"text":"{{app.display_name}}: {{version.changes}}"},
            "secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#,
    );
    let event = write(
        dir.path(),
        "e.json",
        r#"{"event":"version_published","app":{"id":"app_7","name":"space race","display_name":"Space Race"},
            "version":{"id":42,"label":"1.0 beta","changes":"Fixed \"jump\"\nNew map"}}"#,
    );
    let out = patchbay(&["render", "--webhook", &webhook, "--event", &event], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let request: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(request["method"], "POST");
    assert_eq!(request["url"], "https://example.com/hooks/space%20race?v=1.0%20beta");
    assert_eq!(request["headers"]["X-Token"], "abc");
    assert_eq!(request["headers"]["content-type"], "application/json");
    assert!(request["headers"]["webhook-signature"].as_str().unwrap().starts_with("v1,"));
    let body: serde_json::Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["text"], "Space Race: Fixed \"jump\"\nNew map");

    // Without a secret the request is shown unsigned; --sample uses the test-send values.
    let unsigned = write(
        dir.path(),
        "u.json",
        r#"{"events":["version_published"],"method":"GET","url":"https://example.com/x","payload":{"app":"{{app.name}}"}}"#,
    );
    let out = patchbay(&["render", "--webhook", &unsigned, "--sample"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let request: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(request["url"], "https://example.com/x?app=Test+App");
    assert!(request["headers"].get("webhook-signature").is_none());
    assert!(request["body"].is_null());
}

#[test]
fn render_exits_two_on_a_template_error() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = write(
        dir.path(),
        "w.json",
        r#"{"events":["version_published"],"method":"POST","url":"https://example.com","payload":{"a":"{{app.nmae}}"}}"#,
    );
    let out = patchbay(&["render", "--webhook", &webhook, "--sample"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("payload.a") && text(&out.stderr).contains("app.nmae"),
        "{}",
        text(&out.stderr)
    );
}
