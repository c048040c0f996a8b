//! The admin subcommands end to end: the real `patchbay` binary against a real server.
//!
//! By default the server is `patchbay dev` (a child process on a free port with its own data
//! directory). `PATCHBAY_ADMIN_TEST_SERVER=in-process` runs every test against the core routers
//! served in this process instead (the same routers, built through `patchbay_adapters::assemble`),
//! which separates a CLI failure from a `patchbay dev` one; one test always uses it.

// Test helpers outside `#[test]` functions panic on setup failures on purpose.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use patchbay_adapters::backends::Backends;
use patchbay_adapters::wiring;
use patchbay_core::config::{ALLOW_CIDRS, Env, IngestConfig, LicenseCheckConfig, SendConfig, StoreConfig};
use patchbay_core::secret::Secret;
use serde_json::{Value, json};
use tempfile::TempDir;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
const VERDICT_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const INGEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RECEIVER_BODY: &str = "thanks\nsecond line";

// ---------- servers ----------

struct Server {
    base: String,
    dir: TempDir,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn server() -> Server {
    match std::env::var("PATCHBAY_ADMIN_TEST_SERVER").as_deref() {
        Ok("in-process") => in_process_server(),
        Ok("dev") | Err(_) => dev_server(),
        Ok(other) => panic!("PATCHBAY_ADMIN_TEST_SERVER={other:?}: expected dev or in-process"),
    }
}

/// `patchbay dev --addr 127.0.0.1:0`, ready once it prints `listening on http://ADDR`.
fn dev_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["dev", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PATCHBAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PATCHBAY_INGEST_SECRET", INGEST_SECRET)
        .env("PATCHBAY_VERDICT_KEY", VERDICT_KEY)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    // Read both streams to the end (so the server never blocks on a full pipe) and report lines.
    let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [stdout, stderr] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut seen = Vec::new();
    let base = loop {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break format!("http://{addr}");
            }
            seen.push(line);
        } else {
            let _ = child.kill();
            panic!("patchbay dev did not say it was listening; it printed:\n{}", seen.join("\n"));
        }
    };
    Server { base, dir, child: Some(child) }
}

/// The ingest and key routers over SQLite, served on a background runtime in this process.
fn in_process_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("patchbay.db").display().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (listener, router) = runtime.block_on(async {
        let backends = Backends::sqlite(&db).unwrap();
        // Test sends go to a receiver on loopback, which the SSRF guard refuses by default.
        let send =
            SendConfig::from_env(&Env::new(|name| (name == ALLOW_CIDRS).then(|| "127.0.0.0/8".to_owned())))
                .unwrap();
        let ingest_config = IngestConfig {
            store: StoreConfig::Sqlite(db.clone()),
            ingest_secret: Secret::new(INGEST_SECRET).into(),
            admin_token: Secret::new(ADMIN_TOKEN).into(),
            send,
        };
        let keys_config = LicenseCheckConfig {
            store: StoreConfig::Sqlite(db),
            admin_token: Secret::new(ADMIN_TOKEN).into(),
            verdict_key: Some(Secret::new(VERDICT_KEY).into()),
            key_registrations_per_hour: None,
        };
        let (ingest, keys) =
            wiring::ingest_and_keys_apis(&ingest_config, &keys_config, &backends).await.unwrap();
        let router = patchbay_core::http::ingest_routes(Arc::new(ingest))
            .merge(patchbay_core::http::keys_routes(Arc::new(keys)))
            .fallback(patchbay_core::http::not_found);
        (tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), router)
    });
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || runtime.block_on(async move { axum::serve(listener, router).await }));
    Server { base: format!("http://{addr}"), dir, child: None }
}

/// A webhook receiver on loopback answering 200 with [`RECEIVER_BODY`].
fn receiver() -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/hook", axum::routing::any(|| async { RECEIVER_BODY }));
    std::thread::spawn(move || runtime.block_on(async move { axum::serve(listener, router).await }));
    format!("http://{addr}/hook")
}

/// A loopback address nothing listens on.
fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

// ---------- running the CLI ----------

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    fn fails(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl Server {
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PATCHBAY_API", &self.base)
            .env("PATCHBAY_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PATCHBAY_INGEST_SECRET", INGEST_SECRET)
            .envs(env.iter().copied())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn create_app(&self, id: &str) -> Value {
        self.run(&["apps", "create", "--id", id, "--name", id, "--display-name", "Test Game", "--json"])
            .ok()
            .json()
    }

    fn create_webhook(&self, app: &str, url: &str) -> Value {
        self.run(&[
            "webhooks",
            "create",
            "--app",
            app,
            "--event",
            "version_published",
            "--method",
            "POST",
            "--url",
            url,
            "--json",
        ])
        .ok()
        .json()
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

// ---------- apps ----------

#[test]
fn apps_create_show_rotate() {
    let srv = server();
    let created =
        srv.run(&["apps", "create", "--id", "game", "--name", "game", "--display-name", "The Game"]).ok();
    assert!(created.stdout.starts_with("created app game\n"), "{}", created.stdout);
    assert!(created.stdout.contains("app secret"), "{}", created.stdout);

    let shown = srv.run(&["apps", "show", "game", "--json"]).ok().json();
    assert_eq!(shown["id"], "game");
    assert_eq!(shown["display_name"], "The Game");
    let secret = shown["app_secret"].as_str().unwrap().to_owned();
    assert!(created.stdout.contains(&secret), "the human output shows the app secret");
    // The API's field order is kept: id first.
    assert!(srv.run(&["apps", "show", "game", "--json"]).stdout.starts_with("{\n  \"id\": \"game\""));

    // Global options also go before the subcommand name.
    let rotated = srv.run(&["apps", "--json", "rotate-secret", "game"]).ok().json();
    assert_ne!(rotated["app_secret"], secret);

    let dup = srv.run(&["apps", "create", "--id", "game", "--name", "g", "--display-name", "G"]).fails(1);
    assert!(dup.stderr.contains("already exists") && dup.stderr.contains("409"), "{}", dup.stderr);
    let missing = srv.run(&["apps", "show", "nope"]).fails(1);
    assert!(missing.stderr.contains("app nope not found (HTTP 404, not_found)"), "{}", missing.stderr);
}

// ---------- verdict key ----------

#[test]
fn verdict_key_prints_the_public_key_without_a_token() {
    let srv = server();
    let expected = patchbay_core::verdict::VerdictSigner::new(Secret::new(VERDICT_KEY)).public_key().unwrap();
    let printed = srv.run_with(&["verdict-key"], &[("PATCHBAY_ADMIN_TOKEN", "")], None).ok();
    assert_eq!(printed.stdout, format!("{expected}\n"));
    let json = srv.run(&["verdict-key", "--json"]).ok().json();
    assert_eq!(json, serde_json::json!({"alg": "ed25519", "public_key": expected}));
}

// ---------- webhooks ----------

#[test]
fn webhooks_from_flags_and_file_list_disable_enable_update_delete() {
    let srv = server();
    srv.create_app("game");
    let made = srv
        .run(&[
            "webhooks",
            "create",
            "--app",
            "game",
            "--event",
            "version_published,version_processed",
            "--event",
            "version_process_failed",
            "--method",
            "post",
            "--url",
            "https://example.com/hook?v={{version.id}}",
            "--header",
            "X-Game: {{app.name}}",
            "--format",
            "json",
            "--payload",
            r#"{"text":"{{app.display_name}} {{version.label}}"}"#,
        ])
        .ok();
    assert!(made.stdout.starts_with("created webhook wh_"), "{}", made.stdout);
    assert!(made.stdout.contains("secret      whsec_"), "{}", made.stdout);
    let first_id = made.stdout.split_whitespace().nth(2).unwrap().to_owned();

    let shown = srv.run(&["webhooks", "show", &first_id, "--json"]).ok();
    let doc = shown.json();
    assert_eq!(doc["events"].as_array().unwrap().len(), 3);
    assert_eq!(doc["method"], "POST");
    assert_eq!(doc["headers"]["X-Game"], "{{app.name}}");
    assert_eq!(doc["payload"]["text"], "{{app.display_name}} {{version.label}}");
    assert!(doc.get("secret").is_none(), "show does not reveal the secret");

    // `show --json` output is a valid --file for create (read-only fields are dropped).
    let file = srv.file("w.json", &shown.stdout);
    let copy = srv.run(&["webhooks", "create", "--app", "game", "--file", s(&file), "--json"]).ok().json();
    let second_id = copy["id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    assert!(copy["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(copy["url"], doc["url"]);

    let listed = srv.run(&["webhooks", "list", "--app", "game", "--json"]).ok().json();
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 2);
    let table = srv.run(&["webhooks", "list", "--app", "game"]).ok().stdout;
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&first_id) && table.contains(&second_id), "{table}");

    let off = srv.run(&["webhooks", "disable", &first_id, "--json"]).ok().json();
    assert_eq!(off["enabled"], false);
    assert!(
        srv.run(&["webhooks", "show", &first_id])
            .ok()
            .stdout
            .contains("enabled     no (disabled by an operator")
    );
    let on = srv.run(&["webhooks", "enable", &first_id, "--json"]).ok().json();
    assert_eq!(on["enabled"], true);

    let updated =
        srv.run(&["webhooks", "update", &first_id, "--url", "https://example.org/x", "--json"]).ok().json();
    assert_eq!(updated["url"], "https://example.org/x");
    assert_eq!(updated["events"].as_array().unwrap().len(), 3, "fields not given are kept");
    let args = ["webhooks", "update", &first_id, "--timeout", "10s", "--retry-schedule", "30s,2m", "--json"];
    let updated = srv.run(&args).ok().json();
    assert_eq!((&updated["timeout"], &updated["retry_schedule"]), (&json!("10s"), &json!("30s,2m")));
    let shown = srv.run(&["webhooks", "show", &first_id]).ok().stdout;
    assert!(shown.contains("10s") && shown.contains("30s,2m"), "{shown}");
    let updated = srv.run(&["webhooks", "update", &first_id, "--timeout", "", "--json"]).ok().json();
    assert!(updated.get("timeout").is_none(), "a blank override resets it: {updated}");
    assert_eq!(updated["retry_schedule"], "30s,2m");
    let patch = srv.file("patch.json", r#"{"method":"PUT","format":"form"}"#);
    let updated = srv.run(&["webhooks", "update", &first_id, "--file", s(&patch), "--json"]).ok().json();
    assert_eq!(updated["method"], "PUT");
    assert_eq!(updated["format"], "form");

    let rotated = srv.run(&["webhooks", "rotate-secret", &first_id, "--json"]).ok().json();
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));

    let deleted = srv.run(&["webhooks", "delete", &second_id, "--json"]).ok().json();
    assert_eq!(deleted["deleted"], true);
    srv.run(&["webhooks", "show", &second_id]).fails(1);
}

#[test]
fn bad_template_shows_the_api_message_and_exits_1() {
    let srv = server();
    srv.create_app("game");
    let run = srv
        .run(&[
            "webhooks",
            "create",
            "--app",
            "game",
            "--event",
            "version_published",
            "--method",
            "POST",
            "--url",
            "https://x/{{nope}}",
        ])
        .fails(1);
    assert!(run.stderr.contains("url: unknown variable"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 422, invalid_field"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2_before_sending() {
    let srv = server();
    let run = srv.run(&["webhooks", "create", "--app", "game", "--event", "version_published"]).fails(2);
    assert!(run.stderr.contains("--method, --url"), "{}", run.stderr);
    let run = srv
        .run(&[
            "webhooks",
            "create",
            "--app",
            "game",
            "--event",
            "version_published",
            "--method",
            "POST",
            "--url",
            "https://x",
            "--header",
            "no colon",
        ])
        .fails(2);
    assert!(run.stderr.contains("'Name: value'"), "{}", run.stderr);
    let run = srv
        .run(&[
            "webhooks",
            "create",
            "--app",
            "game",
            "--event",
            "version_published",
            "--method",
            "POST",
            "--url",
            "https://x",
            "--payload",
            "{oops",
        ])
        .fails(2);
    assert!(run.stderr.contains("--payload is not JSON"), "{}", run.stderr);
    srv.run(&["webhooks", "create", "--app", "game", "--file", "/no/such/file.json"]).fails(2);
    srv.run(&["webhooks", "update", "wh_x"]).fails(2);
    srv.run(&[
        "webhooks",
        "create",
        "--app",
        "game",
        "--event",
        "nope",
        "--method",
        "POST",
        "--url",
        "https://x",
    ])
    .fails(2);
    srv.run(&["webhooks", "replay", "wh_x", "--since", "yesterday"]).fails(2);
    let run = srv.run_with(&["apps", "show", "game"], &[("PATCHBAY_ADMIN_TOKEN", "")], None).fails(2);
    assert!(run.stderr.contains("PATCHBAY_ADMIN_TOKEN"), "{}", run.stderr);
    srv.run(&["apps", "show", "game", "--api", "not a url"]).fails(2);
}

#[test]
fn wrong_token_is_401_and_exit_1() {
    let srv = server();
    let run = srv.run(&["apps", "show", "game", "--token", "wrong-token-wrong-token"]).fails(1);
    assert!(run.stderr.contains("admin token is not valid (HTTP 401, unauthorized)"), "{}", run.stderr);
    let run = srv
        .run_with(&["keys", "show", "K"], &[("PATCHBAY_ADMIN_TOKEN", "also-wrong-also-wrong")], None)
        .fails(1);
    assert!(run.stderr.contains("HTTP 401"), "{}", run.stderr);
}

#[test]
fn unreachable_server_names_the_url() {
    let srv = server();
    let api = format!("http://{}", closed_addr());
    let run = srv.run(&["apps", "show", "game", "--api", &api]).fails(1);
    assert!(run.stderr.contains(&format!("could not reach {api}/v1/apps/game")), "{}", run.stderr);
}

#[test]
fn webhook_test_and_deliveries() {
    let srv = server();
    srv.create_app("game");
    let hook = receiver();
    let webhook = srv.create_webhook("game", &format!("{hook}?e={{{{event.name}}}}"));
    let id = webhook["id"].as_str().unwrap();

    let run = srv.run(&["webhooks", "test", id, "--event", "version_published"]).ok();
    assert!(run.stdout.contains(&format!("POST {hook}?e=version_published")), "{}", run.stdout);
    assert!(run.stdout.contains("webhook-signature: v1,"), "{}", run.stdout);
    assert!(run.stdout.contains("status 200 in"), "{}", run.stdout);
    assert!(run.stdout.contains("thanks"), "{}", run.stdout);
    let result = srv.run(&["webhooks", "test", id, "--json"]).ok().json();
    assert_eq!(result["status_code"], 200);

    let page = srv.run(&["deliveries", "list", "--webhook", id, "--json"]).ok().json();
    let deliveries = page["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    let delivery = deliveries[0]["id"].as_str().unwrap().to_owned();
    let table = srv.run(&["deliveries", "list", "--webhook", id, "--limit", "1"]).ok().stdout;
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("succeeded (test)"), "{table}");
    let cursor =
        table.lines().find_map(|l| l.strip_prefix("next cursor: ")).expect("a next cursor").to_owned();
    let next = srv
        .run(&["deliveries", "list", "--webhook", id, "--limit", "1", "--cursor", &cursor, "--json"])
        .ok()
        .json();
    assert_eq!(next["deliveries"].as_array().unwrap().len(), 1);
    assert_ne!(next["deliveries"][0]["id"], deliveries[0]["id"]);

    let shown = srv.run(&["deliveries", "show", &delivery]).ok().stdout;
    assert!(shown.contains("#1 "), "{shown}");
    assert!(shown.contains("HTTP 200"), "{shown}");
    assert!(shown.contains("thanks…"), "first line of the body only: {shown}");
    assert!(!shown.contains("second line"), "{shown}");
    let doc = srv.run(&["deliveries", "show", &delivery, "--json"]).ok().json();
    assert_eq!(doc["attempts"][0]["status_code"], 200);

    let again = srv.run(&["deliveries", "redeliver", &delivery, "--json"]).ok().json();
    assert_eq!(again["status"], "pending");
    let replay = srv.run(&["webhooks", "replay", id, "--status", "failed"]).ok().stdout;
    assert!(replay.starts_with("queued 0 deliveries"), "{replay}");

    // A receiver that is not there: the test send fails, and so does the command.
    let dead = srv.create_webhook("game", &format!("http://{}/hook", closed_addr()));
    let run = srv.run(&["webhooks", "test", dead["id"].as_str().unwrap()]).fails(1);
    assert!(run.stdout.contains("no answer after"), "{}", run.stdout);
    assert!(run.stderr.contains("the request failed: connect"), "{}", run.stderr);
}

// ---------- keys ----------

#[test]
fn keys_generate_in_two_batches_then_show_block_unblock() {
    let srv = server();
    srv.create_app("game");
    let launch = srv.run(&["collections", "create", "--app", "game", "launch", "--json"]).ok().json();
    let launch_id = launch["id"].as_i64().unwrap().to_string();
    assert_eq!(launch["name"], "launch");
    let out = srv.dir.path().join("keys.txt");
    let run = srv
        .run(&[
            "keys",
            "generate",
            "--app",
            "game",
            "--count",
            "25000",
            "--collection",
            &launch_id,
            "--out",
            s(&out),
        ])
        .ok();
    assert!(run.stderr.contains("generated 25000 keys for app game"), "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let keys = lines(&text);
    assert_eq!(keys.len(), 25_000);
    assert_eq!(keys.iter().collect::<std::collections::HashSet<_>>().len(), 25_000);
    let key = keys[24_999];

    let shown = srv.run(&["keys", "show", key, "--json"]).ok().json();
    assert_eq!(shown["app_id"], "game");
    assert_eq!(shown["collection_id"].to_string(), launch_id);
    assert_eq!(shown["blocked"], false);
    assert_eq!(srv.run(&["keys", "block", key, "--json"]).ok().json()["blocked"], true);
    assert!(srv.run(&["keys", "show", key]).ok().stdout.contains("blocked        yes"));
    assert_eq!(srv.run(&["keys", "unblock", key, "--json"]).ok().json()["blocked"], false);

    // To stdout, and as one JSON document.
    let run = srv.run(&["keys", "generate", "--app", "game", "--count", "3"]).ok();
    assert_eq!(lines(&run.stdout).len(), 3);
    let doc = srv.run(&["keys", "generate", "--app", "game", "--count", "2", "--json"]).ok().json();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);

    // The key is one path segment, whatever it holds.
    let run = srv.run(&["keys", "show", "A/B?c=d"]).fails(1);
    assert!(run.stderr.contains("key not found (HTTP 404, not_found)"), "{}", run.stderr);
    srv.run(&["keys", "generate", "--app", "nope", "--count", "1"]).fails(1);
}

#[test]
fn keys_import_lines_and_csv_with_duplicates() {
    let srv = server();
    srv.create_app("game");
    let plain = srv.file("keys.txt", "IMP-1\nIMP-2\n\nIMP-1\n");
    let doc = srv.run(&["keys", "import", "--app", "game", s(&plain), "--json"]).ok().json();
    assert_eq!(doc["imported"], 2);
    assert_eq!(doc["duplicates"], serde_json::json!(["IMP-1"]));

    let csv = srv.file("keys.csv", "email,key,note\na@x.org,IMP-2,\"hi, there\"\nb@x.org,IMP-3,\n");
    let resellers = srv.run(&["collections", "create", "--app", "game", "resellers", "--json"]).ok().json();
    let resellers = resellers["id"].to_string();
    // IMP-2 is already in the app's first collection: asking for another refuses the batch.
    let run = srv.run(&["keys", "import", "--app", "game", s(&csv), "--collection", &resellers]).fails(1);
    assert!(run.stderr.contains("IMP-2 (stored in another collection)"), "{}", run.stderr);
    srv.run(&["keys", "show", "IMP-3"]).fails(1);
    let run = srv.run(&["keys", "import", "--app", "game", s(&csv)]).ok();
    assert!(run.stdout.contains("imported 1 key into app game"), "{}", run.stdout);
    assert!(run.stdout.contains("1 already there as given, left unchanged"), "{}", run.stdout);

    // A lone `key` header is CSV too; stdin works with `-`.
    let doc = srv
        .run_with(&["keys", "import", "--app", "game", "-", "--json"], &[], Some("key\nIMP-4\nIMP-1\n"))
        .ok()
        .json();
    assert_eq!(doc["imported"], 1);
    assert_eq!(doc["unchanged"], 1);
    assert_eq!(doc["duplicates"], serde_json::json!([]));

    let bad = srv.file("bad.csv", "email,code\na,b\n");
    let run = srv.run(&["keys", "import", "--app", "game", s(&bad)]).fails(2);
    assert!(run.stderr.contains("no `key` column"), "{}", run.stderr);
    let invalid = srv.file("invalid.txt", "good-key\nbad key!\n");
    let run = srv.run(&["keys", "import", "--app", "game", s(&invalid)]).fails(1);
    assert!(run.stderr.contains("keys[1]"), "{}", run.stderr);
}

#[test]
fn keys_import_more_than_one_batch() {
    let srv = server();
    srv.create_app("game");
    let mut text: String = (0..12_000).map(|i| format!("BULK-{i}\n")).collect();
    text.push_str("BULK-5\n");
    let file = srv.file("bulk.txt", &text);
    let doc = srv.run(&["keys", "import", "--app", "game", s(&file), "--json"]).ok().json();
    assert_eq!(doc["imported"], 12_000);
    // Repeated across batches, the later one is unchanged; within one, a duplicate.
    assert_eq!(doc["unchanged"], 1);
    assert_eq!(doc["duplicates"], serde_json::json!([]));
}

#[test]
fn keys_import_patchkit_records_from_csv_and_json_lines() {
    let srv = server();
    let secret = "PatchKitAppSecret0123456789abcdef";
    let created = srv
        .run(&[
            "apps",
            "create",
            "--id",
            "moved",
            "--name",
            "moved",
            "--display-name",
            "Moved",
            "--app-secret",
            secret,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(created["app_secret"], secret);
    let retail =
        srv.run(&["collections", "create", "--app", "moved", "retail", "--json"]).ok().json()["id"].clone();
    let csv = srv.file(
        "keys.csv",
        &format!("key,key_secret,collection_id,registrations,blocked\nPK-1,sec1,{retail},4,false\nPK-2,sec2,,0,true\n"),
    );
    let doc = srv.run(&["keys", "import", "--app", "moved", s(&csv), "--json"]).ok().json();
    assert_eq!(doc["imported"], 2);
    let shown = srv.run(&["keys", "show", "PK-1", "--json"]).ok().json();
    assert_eq!((shown["key_secret"].as_str(), shown["registrations"].as_u64()), (Some("sec1"), Some(4)));
    assert_eq!(shown["collection_id"], retail);
    assert_eq!(srv.run(&["keys", "show", "PK-2", "--json"]).ok().json()["blocked"], true);

    let lines = srv.file(
        "keys.jsonl",
        "{\"key\":\"PK-1\",\"key_secret\":\"sec1\"}\n{\"key\":\"PK-3\",\"key_secret\":\"sec3\",\"registrations\":2}\n",
    );
    let doc = srv.run(&["keys", "import", "--app", "moved", s(&lines), "--json"]).ok().json();
    assert_eq!((doc["imported"].as_u64(), doc["unchanged"].as_u64()), (Some(1), Some(1)));
    // --format picks JSON lines whatever the name.
    let renamed = srv.file("keys.txt", "{\"key\":\"PK-4\"}\n");
    let doc = srv
        .run(&["keys", "import", "--app", "moved", s(&renamed), "--format", "jsonl", "--json"])
        .ok()
        .json();
    assert_eq!(doc["imported"], 1);
    // A conflicting secret: the whole file is refused, naming the key.
    let conflict =
        srv.file("conflict.jsonl", "{\"key\":\"PK-5\"}\n{\"key\":\"PK-1\",\"key_secret\":\"other\"}\n");
    let run = srv.run(&["keys", "import", "--app", "moved", s(&conflict)]).fails(1);
    assert!(run.stderr.contains("PK-1 (stored with another key_secret)"), "{}", run.stderr);
    srv.run(&["keys", "show", "PK-5"]).fails(1);
}

// ---------- events ----------

#[test]
fn events_send_demo_is_202_then_200_for_the_same_id() {
    let srv = server();
    srv.create_app("game");
    let webhook = srv.create_webhook("game", &receiver());
    let first = srv.run(&["events", "send", "--demo", "--app", "game", "--id", "msg_cli_1"]).ok();
    assert!(first.stdout.starts_with("HTTP 202: event msg_cli_1 accepted; 1 delivery"), "{}", first.stdout);
    assert!(first.stdout.contains(webhook["id"].as_str().unwrap()), "{}", first.stdout);
    let again = srv.run(&["events", "send", "--demo", "--app", "game", "--id", "msg_cli_1"]).ok();
    assert!(again.stdout.starts_with("HTTP 200: event msg_cli_1 was received before"), "{}", again.stdout);

    // --json: the API's answer; a random id; another sample event; the default demo app.
    let doc =
        srv.run(&["events", "send", "--demo", "--event", "version_process_failed", "--json"]).ok().json();
    assert!(doc["event_id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(doc["deliveries"], serde_json::json!([]));

    // A file, sent byte for byte, to an explicit --url.
    let event =
        srv.file("event.json", r#"{"event":"version_published","app":{"id":"game"},"version":{"id":7}}"#);
    let url = format!("{}/v1/events", srv.base);
    let doc = srv
        .run(&["events", "send", "--file", s(&event), "--url", &url, "--api", "http://127.0.0.1:1", "--json"])
        .ok()
        .json();
    assert_eq!(doc["deliveries"].as_array().unwrap().len(), 1);

    let run = srv
        .run(&["events", "send", "--demo", "--secret", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="])
        .fails(1);
    assert!(run.stderr.contains("HTTP 401"), "{}", run.stderr);
    srv.run(&["events", "send", "--demo", "--secret", "not-a-secret"]).fails(2);
    srv.run(&["events", "send"]).fails(2);
    srv.run(&["events", "send", "--demo", "--file", s(&event)]).fails(2);
}

// ---------- the in-process server, always ----------

#[test]
fn in_process_server_serves_the_same_commands() {
    let srv = in_process_server();
    srv.create_app("game");
    let hook = receiver();
    let webhook = srv.create_webhook("game", &hook);
    srv.run(&["webhooks", "test", webhook["id"].as_str().unwrap()]).ok();
    let keys = srv.run(&["keys", "generate", "--app", "game", "--count", "2"]).ok();
    let key = lines(&keys.stdout)[0].to_owned();
    assert_eq!(srv.run(&["keys", "block", &key, "--json"]).ok().json()["blocked"], true);
    let sent = srv.run(&["events", "send", "--demo", "--app", "game", "--json"]).ok().json();
    assert_eq!(sent["deliveries"].as_array().unwrap().len(), 1);
}
