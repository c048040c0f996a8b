//! `patchbay events send`: post an event to `POST /v1/events` signed the way the publishing
//! pipeline signs it (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use patchbay_core::ids::random_id;
use patchbay_core::model::EventName;
use patchbay_core::secret::Secret;
use patchbay_core::signing::signature_header;
use patchbay_core::template::sample_event;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::GlobalOpts;
use super::client::{ApiClient, parse_base_url};
use super::error::{CliError, CliResult};
use super::input::{pipeline_event_parser, read_bytes};
use super::output::{field, print_reply, print_text};

const DEMO_APP: &str = "demo";

#[derive(Args)]
pub struct EventsCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Post a signed event to ingest; prints the status and the answer. Exits 0 on 2xx
    /// (202: accepted and fanned out; 200: this id was seen before, nothing new was created).
    Send(SendArgs),
}

#[derive(Args)]
struct SendArgs {
    /// Ingest endpoint [default: {--api}/v1/events].
    #[arg(long, value_name = "INGEST_URL")]
    url: Option<String>,
    /// Ingest signing secret (`whsec_…`), the one the pipeline signs with.
    #[arg(long, env = "PATCHBAY_INGEST_SECRET", hide_env_values = true, value_name = "SECRET")]
    secret: Option<String>,
    /// Event id sent as `webhook-id` [default: a random msg_…]; resend an id to see it deduplicated.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// JSON file with the event body, sent byte for byte (`-` for stdin).
    #[arg(long, value_name = "FILE", required_unless_present = "demo", conflicts_with = "demo")]
    file: Option<PathBuf>,
    /// Send a sample event instead of a file.
    #[arg(long)]
    demo: bool,
    /// Which sample event --demo sends [default: version_published].
    #[arg(long, value_name = "EVENT", requires = "demo", value_parser = pipeline_event_parser())]
    event: Option<EventName>,
    /// `app.id` of the sample event [default: demo]; webhooks of this app fire.
    #[arg(long, value_name = "APP_ID", requires = "demo")]
    app: Option<String>,
}

pub fn run(cmd: EventsCmd) -> CliResult {
    let EventsCommand::Send(args) = cmd.command;
    send(&cmd.global, args)
}

fn send(global: &GlobalOpts, args: SendArgs) -> CliResult {
    let secret =
        args.secret.filter(|s| !s.trim().is_empty()).map(|s| Secret::new(s.trim())).ok_or_else(|| {
            CliError::usage("no ingest secret: set PATCHBAY_INGEST_SECRET or pass --secret")
        })?;
    let client = ApiClient::new(&global.api, None)?;
    let url = match &args.url {
        Some(url) => parse_base_url("--url", url)?,
        None => client.url(&["v1", "events"]),
    };
    let body = match &args.file {
        Some(path) => read_bytes(path)?,
        None => demo_body(
            args.event.unwrap_or(EventName::VersionPublished),
            args.app.as_deref().unwrap_or(DEMO_APP),
        )?,
    };
    let id = args.id.unwrap_or_else(|| random_id("msg"));
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CliError::failed("the system clock is before 1970"))?
        .as_secs();
    let timestamp =
        i64::try_from(timestamp).map_err(|_| CliError::failed("the system clock is out of range"))?;
    let signature = signature_header(&[&secret], &id, timestamp, &body)
        .map_err(|e| CliError::usage(format!("ingest secret: {e}")))?;

    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ] {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| CliError::usage(format!("{name} {value:?} cannot be sent as a header")))?;
        headers.insert(HeaderName::from_static(name), value);
    }

    let reply = client.post_raw(url, headers, body)?;
    if global.json {
        return print_reply(&reply);
    }
    let mut text = match reply.status {
        202 => format!("HTTP 202: event {id} accepted; {}\n", fan_out(&reply.body)),
        200 => format!(
            "HTTP 200: event {id} was received before; nothing new was created ({})\n",
            fan_out(&reply.body)
        ),
        status => format!("HTTP {status}\n"),
    };
    text.push_str(&serde_json::to_string_pretty(&reply.body).unwrap_or_default());
    text.push('\n');
    print_text(&text)
}

fn demo_body(event: EventName, app: &str) -> CliResult<Vec<u8>> {
    let mut body = sample_event(event);
    app.clone_into(&mut body.app.id);
    serde_json::to_vec(&body).map_err(|e| CliError::failed(format!("cannot encode the sample event: {e}")))
}

fn fan_out(answer: &Value) -> String {
    let deliveries = answer.get("deliveries").and_then(Value::as_array).cloned().unwrap_or_default();
    match deliveries.as_slice() {
        [] => "no webhook fires on it".to_owned(),
        [one] => format!("1 delivery: {} to {}", field(one, "id"), field(one, "webhook_id")),
        many => format!("{} deliveries", many.len()),
    }
}
