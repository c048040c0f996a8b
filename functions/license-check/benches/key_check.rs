//! Throughput and latency of `GET /v2/keys/{key}` over real HTTP, against a bare server that
//! answers a fixed `{"ok":true}`: how much of the raw HTTP capacity the key check keeps.
//!
//!     cargo bench -p license-check --bench key_check
//!
//! Both servers run in this process on 127.0.0.1 (random ports) with `axum::serve`: (a) the real
//! license-check router over a SQLite backend holding one app and one key, (b) a bare axum
//! router. A hyper client keeps 64 connections busy for a few seconds per run; the rounds
//! alternate bare / check (with `key_secret`: a read, no registration) / check without
//! `key_secret` (a registration: the write path). The table shows medians over the rounds.
//!
//! Client and server share the machine's cores (and the tokio runtime), so absolute figures
//! understate what a dedicated server would do; the ratio is the figure to watch (goal ≥ 0.6).
//!
//! Environment: `KEY_CHECK_BENCH_SECONDS` (3), `KEY_CHECK_BENCH_ROUNDS` (3),
//! `KEY_CHECK_BENCH_CONNECTIONS` (64).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, clippy::print_stdout)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri, header};
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use patchbay_core::config::{LicenseCheckConfig, StoreConfig};
use patchbay_core::secret::Secret;
use patchbay_testing::backends as testing;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

struct Settings {
    run: Duration,
    rounds: usize,
    connections: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One timed run: every latency of a successful request, in microseconds.
struct Run {
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: u64,
}

impl Run {
    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile in milliseconds (latencies sorted).
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        // A rank within 0..len: rounding a non-negative fraction of len - 1.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[rank]) / 1000.0
    }
}

/// `connections` tasks, each sending requests back to back until the time is up.
async fn load(client: &HttpClient, uri: &Uri, settings: &Settings, run: Duration) -> Run {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections {
        let client = client.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16 * 1024);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = match client.get(uri.clone()).await {
                    Ok(response) => {
                        let status = response.status();
                        response.into_body().collect().await.is_ok() && status == StatusCode::OK
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.expect("load task");
        all.extend(latencies);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Run { elapsed, latencies_us: all, errors }
}

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

async fn fetch(client: &HttpClient, uri: &Uri) -> (StatusCode, String) {
    let response = client.get(uri.clone()).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Scenario {
    name: &'static str,
    uri: Uri,
    runs: Vec<Run>,
}

impl Scenario {
    fn medians(&self) -> (f64, f64, f64, u64) {
        (
            median(self.runs.iter().map(Run::rps).collect()),
            median(self.runs.iter().map(|r| r.percentile_ms(50.0)).collect()),
            median(self.runs.iter().map(|r| r.percentile_ms(99.0)).collect()),
            self.runs.iter().map(|r| r.errors).sum(),
        )
    }
}

async fn bench() {
    let settings = Settings {
        run: Duration::from_secs_f64(env_or("KEY_CHECK_BENCH_SECONDS", 3.0)),
        rounds: env_or("KEY_CHECK_BENCH_ROUNDS", 3),
        connections: env_or("KEY_CHECK_BENCH_CONNECTIONS", 64),
    };

    // (a) The license-check router over SQLite, with one app and one key.
    let backends = testing::sqlite().await;
    let app = patchbay_testing::samples::sample_app();
    backends.store.create_app(&app).await.expect("create app");
    let key = patchbay_testing::samples::sample_key(&app.id);
    let keys = backends.keys.clone();
    assert!(keys.create_keys(std::slice::from_ref(&key)).await.expect("create key").is_empty());
    let config = LicenseCheckConfig {
        store: StoreConfig::Sqlite("(testing::sqlite)".into()),
        admin_token: Secret::new("bench-admin-token-0123456789").into(),
        verdict_key: Some(patchbay_core::verdict::generate_verdict_key().into()),
        key_registrations_per_hour: None,
    };
    let check_addr =
        serve(license_check::router_with(&backends.key_backends(), &config).await.expect("router")).await;

    // (b) A bare router with a fixed answer.
    let bare = Router::new()
        .route("/ok", get(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"ok":true}"#) }));
    let bare_addr = serve(bare).await;

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(settings.connections).build(connector);

    let secret = app.app_secret.expose();
    let read_uri: Uri = format!(
        "http://{check_addr}/v2/keys/{}?app_secret={secret}&key_secret={}",
        key.key,
        key.key_secret.expose()
    )
    .parse()
    .expect("uri");
    let write_uri: Uri =
        format!("http://{check_addr}/v2/keys/{}?app_secret={secret}", key.key).parse().expect("uri");
    let bare_uri: Uri = format!("http://{bare_addr}/ok").parse().expect("uri");

    // Each target answers what it should before it is timed.
    let (status, body) = fetch(&client, &bare_uri).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"ok":true}"#));
    let (status, body) = fetch(&client, &read_uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""registrations":0"#), "{body}");
    let (status, body) = fetch(&client, &write_uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""registrations":1"#), "{body}");

    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!();
    println!(
        "key_check: GET /v2/keys/{{key}} over HTTP/1.1 on 127.0.0.1, SQLite backend, one app and one key"
    );
    println!(
        "{} connections, {:.1} s per run, {} rounds (bare / check / check+register each round), medians over rounds",
        settings.connections,
        settings.run.as_secs_f64(),
        settings.rounds
    );
    println!(
        "NOTE: load generator and both servers share this process, one tokio runtime and {cpus} CPU(s); \
         absolute req/s understate a dedicated server, the ratio is what to compare"
    );

    // Warm up: connections opened, caches (the app lookup) filled, the CPU clocked up.
    for uri in [&bare_uri, &read_uri] {
        load(&client, uri, &settings, Duration::from_millis(500)).await;
    }

    let mut scenarios = [
        Scenario { name: "bare axum {\"ok\":true}", uri: bare_uri, runs: Vec::new() },
        Scenario { name: "check, with key_secret (read)", uri: read_uri.clone(), runs: Vec::new() },
        Scenario { name: "check, registering (write)", uri: write_uri, runs: Vec::new() },
    ];
    for round in 1..=settings.rounds {
        for scenario in &mut scenarios {
            let run = load(&client, &scenario.uri, &settings, settings.run).await;
            println!(
                "  round {round}: {:<32} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
                scenario.name,
                run.rps(),
                run.percentile_ms(50.0),
                run.percentile_ms(99.0),
                run.errors
            );
            scenario.runs.push(run);
        }
    }

    println!();
    println!("{:<34} {:>10} {:>9} {:>9} {:>7}", "scenario", "req/s", "p50 ms", "p99 ms", "errors");
    for scenario in &scenarios {
        let (rps, p50, p99, errors) = scenario.medians();
        println!("{:<34} {:>10.0} {:>9.2} {:>9.2} {:>7}", scenario.name, rps, p50, p99, errors);
    }
    let bare_rps = scenarios[0].medians().0;
    let read_ratio = scenarios[1].medians().0 / bare_rps;
    let write_ratio = scenarios[2].medians().0 / bare_rps;
    println!();
    println!(
        "ratio check/bare (read):  {read_ratio:.2}  (goal >= 0.60: {})",
        if read_ratio >= 0.6 { "met" } else { "NOT met" }
    );
    println!("ratio check/bare (write): {write_ratio:.2}  (registration path, for reference)");
    // Neighbouring runs share the machine's load of the moment, so the ratio within a round is
    // steadier than the ratio of medians when something else runs on the machine.
    let per_round: Vec<f64> =
        (0..settings.rounds).map(|i| scenarios[1].runs[i].rps() / scenarios[0].runs[i].rps()).collect();
    let shown: Vec<String> = per_round.iter().map(|r| format!("{r:.2}")).collect();
    println!("read ratio per round: {} (median {:.2})", shown.join(", "), median(per_round.clone()));

    // The registrations really were counted, once per successful registering call (+1 above).
    let registered: usize = scenarios[2].runs.iter().map(|r| r.latencies_us.len()).sum();
    let stored = keys.get_key(&key.key).await.expect("get key").expect("key exists").registrations;
    println!("registrations stored: {stored} (successful registering calls: {})", registered + 1);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(bench());
}
