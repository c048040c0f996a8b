//! `sign`, `verify`, `render`: the signing and template code, usable without a server.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use patchbay_core::model::{EventName, EventPayload, WebhookSpec};
use patchbay_core::secret::Secret;
use patchbay_core::service::outgoing::{describe, finalize};
use patchbay_core::signing::{DEFAULT_TOLERANCE_SECS, SigningKey, verify as verify_signature};
use patchbay_core::template::{self, Values};

#[derive(Args)]
pub struct SignArgs {
    /// The `whsec_…` secret.
    #[arg(long)]
    secret: String,
    /// The message id (`webhook-id`).
    #[arg(long)]
    id: String,
    /// Unix seconds (`webhook-timestamp`).
    #[arg(long)]
    timestamp: i64,
    /// Read the body from this file instead of stdin (raw bytes, signed as they are).
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[arg(long)]
    secret: String,
    #[arg(long)]
    id: String,
    #[arg(long)]
    timestamp: String,
    /// The `webhook-signature` header value (one or more space-separated `v1,` entries).
    #[arg(long)]
    signature: String,
    /// Check the timestamp against this unix time instead of the clock.
    #[arg(long)]
    now: Option<i64>,
    /// Allowed clock difference in seconds, either way.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE_SECS)]
    tolerance: i64,
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Args)]
pub struct RenderArgs {
    /// A webhook in the management API's shape (`events`, `method`, `url`, `headers`, `format`,
    /// `payload`, optional `secret`).
    #[arg(long)]
    webhook: PathBuf,
    /// An event in the ingest body's shape.
    #[arg(long, conflicts_with = "sample", required_unless_present = "sample")]
    event: Option<PathBuf>,
    /// Use the test-send sample values instead of an event.
    #[arg(long)]
    sample: bool,
    /// Which event the sample is (with --sample).
    #[arg(long, default_value = "version_published")]
    sample_event: String,
}

fn read_body(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    if let Some(path) = file {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body).map_err(|e| format!("stdin: {e}"))?;
        Ok(body)
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(code)
}

pub fn sign(args: &SignArgs) -> ExitCode {
    let key = match SigningKey::from_secret(&Secret::new(args.secret.clone())) {
        Ok(k) => k,
        Err(e) => return fail(2, format!("--secret: {e}")),
    };
    match read_body(args.file.as_ref()) {
        Ok(body) => {
            println!("{}", key.sign(&args.id, args.timestamp, &body));
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, e),
    }
}

pub fn verify(args: &VerifyArgs) -> ExitCode {
    let body = match read_body(args.file.as_ref()) {
        Ok(b) => b,
        Err(e) => return fail(2, e),
    };
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let secret = Secret::new(args.secret.clone());
    match verify_signature(&secret, &args.id, &args.timestamp, &args.signature, &body, now, args.tolerance) {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("invalid: {e}")),
    }
}

#[derive(serde::Deserialize)]
struct WebhookFile {
    #[serde(flatten)]
    spec: WebhookSpec,
    #[serde(default)]
    secret: Option<String>,
}

fn load<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    patchbay_core::validation::parse_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn render(args: &RenderArgs) -> ExitCode {
    let webhook: WebhookFile = match load(&args.webhook) {
        Ok(w) => w,
        Err(e) => return fail(2, e),
    };
    let event: EventPayload = if args.sample {
        match EventName::parse(&args.sample_event) {
            Some(name) => template::sample_payload(name),
            None => return fail(2, format!("--sample-event: unknown event {:?}", args.sample_event)),
        }
    } else {
        let Some(path) = args.event.as_ref() else { return fail(2, "--event or --sample is required") };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return fail(2, format!("{}: {e}", path.display())),
        };
        match patchbay_core::service::ingest::parse_event(&bytes) {
            Ok(e) => EventPayload::Pipeline(e),
            Err(e) => return fail(2, format!("{}: {e}", path.display())),
        }
    };
    let rendered =
        match template::compile(&webhook.spec).and_then(|c| c.render(&Values::from_payload(&event))) {
            Ok(r) => r,
            Err(e) => return fail(2, e),
        };
    let secret = webhook.secret.map(Secret::new);
    let secrets: Vec<&Secret> = secret.iter().collect();
    match finalize(rendered, &secrets, "msg_render", chrono::Utc::now()) {
        Ok(request) => {
            println!("{}", serde_json::to_string_pretty(&describe(&request)).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, format!("secret: {e}")),
    }
}
