//! `patchbay dev`: the whole system on one machine. The same routers the Lambda functions
//! serve, under hyper, over the embedded SQLite store and queue, with a delivery worker.

mod demo;
mod receiver;
mod server;
mod settings;
mod wire_errors;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Args;
use clap::builder::TypedValueParser;

use patchbay_adapters::backends::Backends;
use patchbay_adapters::wiring;
use patchbay_core::config::StoreConfig;
use patchbay_core::service::worker;
use tokio::sync::watch;

#[derive(Args, Clone)]
pub struct DevArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where the SQLite database and generated local secrets live.
    #[arg(long, default_value = ".patchbay")]
    pub data: PathBuf,
    /// Seed a demo app, license key and webhook (pointed at the built-in receiver
    /// `/dev/receiver`, served only with this flag) and print the commands to try them.
    #[arg(long)]
    pub demo: bool,
    /// Deliveries in flight at once; a free slot takes the next message at once, so slow
    /// receivers hold at most this many.
    #[arg(long, env = "PATCHBAY_WORKER_CONCURRENCY", value_parser = count(),
          default_value_t = worker::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Time for a request's headers to arrive, from when the server starts waiting for them;
    /// it also closes a keep-alive connection left idle this long.
    #[arg(long, env = "PATCHBAY_DEV_HEADER_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub header_timeout: Duration,
    /// Time for a request's body to arrive once its headers have; later gets 408.
    #[arg(long, env = "PATCHBAY_DEV_BODY_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub body_timeout: Duration,
    /// Open connections at once; more wait in the listen backlog until one closes.
    #[arg(long, env = "PATCHBAY_DEV_MAX_CONNECTIONS", value_parser = count(), default_value_t = 256)]
    pub max_connections: usize,
}

/// A count from 1 to 65535.
fn count() -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u16).range(1..).map(usize::from)
}

fn duration(text: &str) -> Result<Duration, String> {
    patchbay_core::retry::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a duration like 500ms, 5s or 1m"))
}

pub fn run(args: DevArgs) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchbay dev: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Human-readable logs locally (`RUST_LOG` to tune); the Lambda functions log JSON.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
}

async fn serve(args: DevArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let settings = settings::Settings::load(&args.data).map_err(|e| e.to_string())?;
    // Refuse before building anything: an `aws` store here would load the SDK for nothing.
    let StoreConfig::Sqlite(path) = &settings.store else {
        return Err(
            "patchbay dev runs on the embedded store: set PATCHBAY_STORE=sqlite:PATH or leave it unset"
                .into(),
        );
    };
    // One database for everything; each part is built exactly as its Lambda function builds it.
    let backends = Backends::sqlite(path).map_err(|e| e.to_string())?;
    let (ingest, keys) =
        wiring::ingest_and_keys_apis(&settings.ingest(), &settings.license_check(path), &backends)
            .await
            .map_err(|e| e.to_string())?;
    let deliver =
        Arc::new(wiring::deliver(&settings.deliver(), &backends.events()).map_err(|e| e.to_string())?);
    let received = receiver::Received::new(backends.store.clone());
    let router: Router = patchbay_core::http::ingest_routes(Arc::new(ingest))
        .merge(patchbay_core::http::keys_routes(Arc::new(keys)))
        .merge(receiver::routes(received, args.demo))
        .fallback(patchbay_core::http::not_found);

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    if args.demo {
        let seeded = demo::seed(&backends, addr, &settings).await.map_err(|e| e.to_string())?;
        demo::print_instructions(&seeded, &settings, addr);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let queue = backends.queue.clone();
    // A message stays hidden long enough for one send to time out, then comes back: a killed
    // worker's in-flight deliveries return to the queue on their own. (The worker hides a
    // message again when a webhook's own, longer timeout keeps its send running.)
    let visibility = settings.send.timeout + Duration::from_secs(5);
    let options = worker::WorkerOptions { visibility, max_in_flight: args.max_in_flight };
    let worker = tokio::spawn(worker::run(deliver, queue, options, stop_rx.clone()));

    eprintln!("patchbay dev listening on http://{addr} (data in {})", args.data.display());
    let limits = server::Limits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        max_connections: args.max_connections,
    };
    let server = tokio::spawn(server::serve(listener, router, limits, stop_rx));

    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and deliveries");
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = server.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
