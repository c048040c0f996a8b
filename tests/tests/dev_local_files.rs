//! What `patchbay dev` writes to its data directory (#14): only the secrets it had to invent,
//! printed once, and every file owner-only. And `/dev/receiver` exists only with `--demo`
//! (answering 413 in the error shape like every other route).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use patchbay_e2e::DevServer;
use patchbay_e2e::dev::patchbay_bin;
use serde_json::Value;

const SECRETS_FILE: &str = "local-secrets.json";

#[cfg(unix)]
fn assert_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}

#[cfg(not(unix))]
fn assert_owner_only(_: &Path) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_the_environment_are_not_generated_printed_or_saved() {
    let dev = DevServer::start(&[]);
    assert!(!dev.data.join(SECRETS_FILE).exists(), "{SECRETS_FILE} written though nothing was generated");
    let logs = dev.logs();
    assert!(!logs.contains("generated local secrets"), "{logs}");
    assert!(!logs.contains(&dev.admin_token), "the admin token was printed:\n{logs}");
    for file in ["patchbay.db", "patchbay.db-wal"] {
        assert_owner_only(&dev.data.join(file));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_missing_secret_is_generated_and_printed_once() {
    // A blank variable counts as unset.
    let mut dev = DevServer::start(&[("PATCHBAY_INGEST_SECRET", "")]);
    let path = dev.data.join(SECRETS_FILE);
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(saved["ingest_secret"].as_str().unwrap().starts_with("whsec_"), "{saved}");
    assert!(saved.get("admin_token").is_none(), "admin token saved though set: {saved}");
    assert!(saved.get("verdict_key").is_none(), "verdict key saved though set: {saved}");
    assert_owner_only(&path);
    let logs = dev.logs();
    assert!(logs.contains("PATCHBAY_INGEST_SECRET=whsec_"), "{logs}");
    assert!(!logs.contains("PATCHBAY_ADMIN_TOKEN="), "{logs}");

    dev.restart();
    assert_eq!(dev.logs().matches("generated local secrets").count(), 1, "printed again on restart");
    let again: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(again, saved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verdict_key_is_generated_once_and_kept() {
    let mut dev = DevServer::start(&[("PATCHBAY_VERDICT_KEY", "")]);
    let path = dev.data.join(SECRETS_FILE);
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let seed = saved["verdict_key"].as_str().unwrap();
    assert!(patchbay_core::verdict::check_verdict_key(seed).is_ok(), "{saved}");
    assert!(dev.logs().contains("PATCHBAY_VERDICT_KEY="));
    let public = |base: String| async move {
        let text = reqwest::get(format!("{base}/v1/verdict-key")).await.unwrap().text().await.unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        answer["public_key"].as_str().unwrap().to_owned()
    };
    let before = public(dev.base.clone()).await;
    dev.restart();
    assert_eq!(public(dev.base.clone()).await, before, "a restart keeps the verdict key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_the_receiver() {
    let data = tempfile_dir();
    let mut child = Command::new(patchbay_bin())
        .args(["dev", "--demo", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("PATCHBAY_ADMIN_TOKEN", "demo-admin-token-0123456789")
        .env("PATCHBAY_INGEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .env_remove("PATCHBAY_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let base = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("listening on ").map(|(_, rest)| rest.split(' ').next().unwrap().to_owned())
        })
        .expect("patchbay dev --demo started");
    let status = reqwest::get(format!("{base}/dev/receiver")).await.unwrap().status();
    let too_large = reqwest::Client::new()
        .post(format!("{base}/dev/receiver"))
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    let too_large = (too_large.status().as_u16(), too_large.text().await.unwrap());
    let _ = child.kill();
    let _ = child.wait();
    // The demo key is remembered in the secrets file, owner-only like the rest.
    assert_owner_only(&data.join(SECRETS_FILE));
    let _ = std::fs::remove_dir_all(&data);
    assert_eq!(status, 200);
    assert_eq!(too_large.0, 413);
    let body: Value = serde_json::from_str(&too_large.1).unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{}", too_large.1);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("patchbay-demo-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
