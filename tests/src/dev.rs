//! Start and stop `patchbay dev`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_core::secret::Secret;
use patchbay_core::signing::{generate_secret, signature_header};

/// The `patchbay` binary next to the test binaries, built first if this run did not build it.
#[must_use]
pub fn patchbay_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("patchbay{}", std::env::consts::EXE_SUFFIX));
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "-p", "patchbay", "--bin", "patchbay"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building patchbay failed");
    });
    bin
}

/// A data directory no other server of any test process uses: this process's id and a count.
fn fresh_data_dir() -> PathBuf {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("patchbay-e2e-{}-{n}", std::process::id()));
    // Left over from an earlier process that had the same id.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The address in `patchbay dev`'s "listening on http://ADDR (…)" line, if `line` is that line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

pub struct DevServer {
    pub addr: SocketAddr,
    pub base: String,
    pub data: PathBuf,
    pub admin_token: String,
    pub ingest_secret: Secret,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Everything the process wrote to stderr (its logs), for assertions.
    pub logs: Arc<Mutex<String>>,
}

impl DevServer {
    /// Start on a fresh data directory with these extra environment variables.
    #[must_use]
    pub fn start(extra_env: &[(&str, &str)]) -> DevServer {
        let data = fresh_data_dir();
        let admin_token = Secret::random_alphanumeric(32).expose().to_owned();
        let ingest_secret = generate_secret();
        let mut env: Vec<(String, String)> = vec![
            ("PATCHBAY_ADMIN_TOKEN".into(), admin_token.clone()),
            ("PATCHBAY_INGEST_SECRET".into(), ingest_secret.expose().to_owned()),
            (
                "PATCHBAY_VERDICT_KEY".into(),
                patchbay_core::verdict::generate_verdict_key().expose().to_owned(),
            ),
            ("RUST_LOG".into(), "info".into()),
        ];
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        // Port 0: the server binds a free port itself and prints it, so no other process can
        // take the port between our choosing it and the server binding it.
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = DevServer {
            addr,
            base: String::new(),
            data,
            admin_token,
            ingest_secret,
            env,
            child: None,
            logs: Arc::new(Mutex::new(String::new())),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new(patchbay_bin());
        command
            .args(["dev", "--addr", &self.addr.to_string(), "--data"])
            .arg(&self.data)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("PATCHBAY_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn patchbay dev");
        let stderr = child.stderr.take().expect("stderr");
        let logs = self.logs.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line)
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(addr);
                }
                let mut logs = logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(addr) = ready_rx.recv_timeout(Duration::from_millis(100)) {
                // A restart asks for the same port again, so stored URLs and clients stay valid.
                self.addr = addr;
                self.base = format!("http://{addr}");
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("patchbay dev exited early ({status}):\n{}", self.logs());
            }
        }
        panic!("patchbay dev did not start:\n{}", self.logs());
    }

    #[must_use]
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: the graceful path (Ctrl-C does the same).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Start again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A `patchbay` CLI command pointed at this server.
    #[must_use]
    pub fn cli(&self) -> Command {
        let mut command = Command::new(patchbay_bin());
        command
            .env("PATCHBAY_API", &self.base)
            .env("PATCHBAY_ADMIN_TOKEN", &self.admin_token)
            .env("PATCHBAY_INGEST_SECRET", self.ingest_secret.expose());
        command
    }

    /// An HTTP client and helpers for the management API.
    #[must_use]
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request =
            self.http().request(method, format!("{}{path}", self.base)).bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.expect("management API reachable");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Create the "Space Race" app under `app_id` through the management API; asserts the 201.
    ///
    /// # Panics
    /// The API refuses it.
    pub async fn create_app(&self, app_id: &str) {
        let app = serde_json::json!({"id": app_id, "name": "space-race", "display_name": "Space Race"});
        let (status, body) = self.admin(reqwest::Method::POST, "/v1/apps", Some(app)).await;
        assert_eq!(status, 201, "{body}");
    }

    /// Post a signed event; returns status and JSON body.
    pub async fn post_event(&self, id: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.event_poster().post(id, body).await.expect("ingest reachable")
    }

    /// A poster for this server's ingest endpoint, to move into concurrent tasks.
    #[must_use]
    pub fn event_poster(&self) -> EventPoster {
        EventPoster {
            url: format!("{}/v1/events", self.base),
            ingest_secret: self.ingest_secret.clone(),
            client: self.http(),
        }
    }

    /// Poll a delivery until its status is `status` (or panic after `timeout`).
    pub async fn wait_for_delivery(&self, id: &str, status: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, body) = self.admin(reqwest::Method::GET, &format!("/v1/deliveries/{id}"), None).await;
            if code == 200 && body["status"] == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {id} did not reach {status}; last: {body}\nlogs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Posts signed events the way the publishing pipeline does. A request the server never answered
/// (refused, or cut by a kill) is an error here, not a panic, so a test can retry it.
#[derive(Clone)]
pub struct EventPoster {
    url: String,
    ingest_secret: Secret,
    client: reqwest::Client,
}

impl EventPoster {
    /// Post `body` as event `id`, signed now; the status and JSON body of the answer.
    ///
    /// # Errors
    /// No complete answer: the server was down, or went down mid-request.
    pub async fn post(
        &self,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let body = body.to_string();
        let ts = chrono::Utc::now().timestamp();
        let signature = signature_header(&[&self.ingest_secret], id, ts, body.as_bytes()).expect("sign");
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// An event body for app `app_id`.
#[must_use]
pub fn event(name: &str, app_id: &str, version_id: i64) -> serde_json::Value {
    serde_json::json!({
        "event": name,
        "app": {"id": app_id, "name": "space-race", "display_name": "Space Race", "group_name": null,
                "download_url": "https://example.com/d", "direct_download_url": "https://example.com/dd"},
        "version": {"id": version_id, "label": "1.0.3", "published_at": "2026-11-20T10:00:00Z",
                    "content_size": 1_234_567, "diff_size": 2345, "changes": "Fixed \"jump\" bug\nNew map 🚀",
                    "known_issues": "", "processing_errors": [], "processing_started_at": null, "processing_finished_at": null}
    })
}

impl DevServer {
    /// Poll a delivery until it has `count` attempts and is no longer pending.
    pub async fn wait_for_attempts(&self, id: &str, count: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = self.admin(reqwest::Method::GET, &format!("/v1/deliveries/{id}"), None).await;
            if body["attempts"].as_array().is_some_and(|a| a.len() >= count) && body["status"] != "pending" {
                return body;
            }
            assert!(Instant::now() < deadline, "delivery {id} never reached {count} attempts: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
