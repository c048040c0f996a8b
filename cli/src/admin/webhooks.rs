//! `patchbay webhooks …`: `/v1/apps/{app}/webhooks` and `/v1/webhooks/{id}/…`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use patchbay_core::model::EventName;
use serde_json::{Map, Value, json};

use super::GlobalOpts;
use super::client::Reply;
use super::error::{CliError, CliResult};
use super::input::{event_parser, parse_header, parse_payload, parse_rfc3339, read_json_object};
use super::output::{field, fields, print_json, print_reply, print_text, show, table};

#[derive(Args)]
pub struct WebhooksCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Create a webhook from flags or a JSON file; prints its id and signing secret.
    Create {
        /// The app whose events fire the webhook.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        #[command(flatten)]
        spec: SpecFlags,
    },
    /// List an app's webhooks.
    List {
        /// The app's id.
        #[arg(long, value_name = "APP_ID")]
        app: String,
    },
    /// Show one webhook (without its secret).
    Show {
        /// The webhook's id (`wh_…`).
        id: String,
    },
    /// Change a webhook: only the fields given are replaced.
    Update {
        /// The webhook's id (`wh_…`).
        id: String,
        #[command(flatten)]
        spec: SpecFlags,
    },
    /// Delete a webhook.
    Delete {
        /// The webhook's id (`wh_…`).
        id: String,
    },
    /// Turn a webhook on (also clears an automatic disable).
    Enable {
        /// The webhook's id (`wh_…`).
        id: String,
    },
    /// Turn a webhook off; events no longer fire it.
    Disable {
        /// The webhook's id (`wh_…`).
        id: String,
    },
    /// New signing secret; the old one keeps signing alongside for 24 hours.
    RotateSecret {
        /// The webhook's id (`wh_…`).
        id: String,
    },
    /// Send one request now with sample values; prints the request and the receiver's answer.
    /// Exits 1 unless the receiver answers 2xx.
    Test {
        /// The webhook's id (`wh_…`).
        id: String,
        /// Sample event to render (default: the webhook's first event).
        #[arg(long, value_name = "EVENT", value_parser = event_parser())]
        event: Option<EventName>,
    },
    /// Queue finished deliveries again; prints how many.
    Replay {
        /// The webhook's id (`wh_…`).
        id: String,
        /// Which deliveries to replay (the API's default: failed).
        #[arg(long, value_enum, value_name = "STATUS")]
        status: Option<ReplayStatus>,
        /// Only deliveries created at or after this RFC 3339 time, e.g. 2024-05-14T09:30:00Z.
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
        since: Option<String>,
    },
}

/// What a webhook sends: flags, or a whole JSON document with `--file`.
#[derive(Args)]
struct SpecFlags {
    /// JSON file with the webhook (`events`, `method`, `url`, `headers`, `format`, `payload`,
    /// `timeout`, `retry_schedule`, `enabled`; `-` for stdin). Read-only fields from
    /// `webhooks show --json` are ignored.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["events", "method", "url", "headers", "format", "payload", "timeout", "retry_schedule"]
    )]
    file: Option<PathBuf>,
    /// Event that fires the webhook; repeat the flag or separate with commas.
    #[arg(long = "event", value_name = "EVENT", value_delimiter = ',', value_parser = event_parser())]
    events: Vec<EventName>,
    /// HTTP method of the request (GET and DELETE carry the payload in the query string).
    #[arg(long, value_enum, ignore_case = true, value_name = "METHOD")]
    method: Option<Method>,
    /// Target URL; may use {{variables}}, e.g. https://example.com/hook?v={{version.id}}.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Request header 'Name: value' (value may use {{variables}}); repeatable. On update, the
    /// headers given replace all existing ones.
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// How the payload is encoded in the body.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
    /// Payload template as JSON (strings may use {{variables}}), or @FILE to read it from a file.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
    /// This webhook's own per-request timeout, e.g. 10s (at most 60s), instead of the deliver
    /// function's; on update, an empty value ("") goes back to the function's.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// This webhook's own delays between attempts, e.g. 30s,2m,10m (each at most 12h, at most
    /// 18 delays), instead of the deliver function's; on update, "" goes back to the function's.
    #[arg(long, value_name = "DELAYS")]
    retry_schedule: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Form => "form",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ReplayStatus {
    Failed,
    Succeeded,
}

impl ReplayStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Failed => "failed",
            ReplayStatus::Succeeded => "succeeded",
        }
    }
}

/// Fields a `webhooks show --json` document has that a create or update does not take.
const READ_ONLY_FIELDS: [&str; 10] = [
    "id",
    "app_id",
    "secret",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "previous_secrets_until",
    "health",
    "created_at",
    "updated_at",
];

impl SpecFlags {
    /// The request body: the file (minus read-only fields), or the flags that were given.
    fn body(&self) -> CliResult<Map<String, Value>> {
        if let Some(path) = &self.file {
            let mut doc = read_json_object(path)?;
            for name in READ_ONLY_FIELDS {
                doc.remove(name);
            }
            return Ok(doc);
        }
        let mut body = Map::new();
        if !self.events.is_empty() {
            body.insert("events".into(), json!(self.events));
        }
        if let Some(method) = self.method {
            body.insert("method".into(), json!(method.as_str()));
        }
        if let Some(url) = &self.url {
            body.insert("url".into(), json!(url));
        }
        if !self.headers.is_empty() {
            let mut headers = Map::new();
            for text in &self.headers {
                let (name, value) = parse_header(text)?;
                headers.insert(name, Value::String(value));
            }
            body.insert("headers".into(), Value::Object(headers));
        }
        if let Some(format) = self.format {
            body.insert("format".into(), json!(format.as_str()));
        }
        if let Some(payload) = &self.payload {
            body.insert("payload".into(), parse_payload(payload)?);
        }
        // A blank override is a reset (`null`), as a blank variable means unset.
        let override_value = |text: &str| if text.trim().is_empty() { Value::Null } else { json!(text) };
        if let Some(timeout) = &self.timeout {
            body.insert("timeout".into(), override_value(timeout));
        }
        if let Some(schedule) = &self.retry_schedule {
            body.insert("retry_schedule".into(), override_value(schedule));
        }
        Ok(body)
    }
}

pub fn run(cmd: WebhooksCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let json = cmd.global.json;
    match cmd.command {
        WebhooksCommand::Create { app, spec } => {
            let body = spec.body()?;
            if spec.file.is_none() {
                let missing: Vec<&str> = [("--event", "events"), ("--method", "method"), ("--url", "url")]
                    .into_iter()
                    .filter(|(_, key)| !body.contains_key(*key))
                    .map(|(flag, _)| flag)
                    .collect();
                if !missing.is_empty() {
                    return Err(CliError::usage(format!(
                        "webhooks create needs --file, or {}",
                        missing.join(", ")
                    )));
                }
            }
            let reply = api.post(&["v1", "apps", &app, "webhooks"], Some(&Value::Object(body)))?;
            emit(json, &reply, || describe("created webhook", &reply.body))
        }
        WebhooksCommand::List { app } => {
            let reply = api.get(&["v1", "apps", &app, "webhooks"])?;
            emit(json, &reply, || list_table(&reply.body))
        }
        WebhooksCommand::Show { id } => {
            let reply = api.get(&["v1", "webhooks", &id])?;
            emit(json, &reply, || describe("webhook", &reply.body))
        }
        WebhooksCommand::Update { id, spec } => {
            let body = spec.body()?;
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to update: give --file or at least one of --event, --method, --url, --header, --format, --payload, --timeout, --retry-schedule",
                ));
            }
            let reply = api.patch(&["v1", "webhooks", &id], &Value::Object(body))?;
            emit(json, &reply, || describe("updated webhook", &reply.body))
        }
        WebhooksCommand::Delete { id } => {
            api.delete(&["v1", "webhooks", &id])?;
            // 204 has no body; --json still prints a document so scripts can parse the output.
            if json {
                print_json(&json!({ "id": id, "deleted": true }))
            } else {
                print_text(&format!("deleted webhook {id}\n"))
            }
        }
        WebhooksCommand::Enable { id } => {
            let reply = api.post(&["v1", "webhooks", &id, "enable"], None)?;
            emit(json, &reply, || describe("enabled webhook", &reply.body))
        }
        WebhooksCommand::Disable { id } => {
            let reply = api.post(&["v1", "webhooks", &id, "disable"], None)?;
            emit(json, &reply, || describe("disabled webhook", &reply.body))
        }
        WebhooksCommand::RotateSecret { id } => {
            let reply = api.post(&["v1", "webhooks", &id, "rotate-secret"], None)?;
            emit(json, &reply, || {
                let mut text = describe("rotated the secret of webhook", &reply.body);
                text.push_str("the previous secret keeps signing alongside the new one for 24 hours\n");
                text
            })
        }
        WebhooksCommand::Test { id, event } => {
            let body = match event {
                Some(event) => json!({ "event": event }),
                None => json!({}),
            };
            let reply = api.post(&["v1", "webhooks", &id, "test"], Some(&body))?;
            emit(json, &reply, || describe_test(&reply.body))?;
            match reply.body.get("status_code").and_then(Value::as_u64) {
                Some(code) if (200..300).contains(&code) => Ok(()),
                Some(code) => Err(CliError::failed(format!("the receiver answered HTTP {code}"))),
                None => Err(CliError::failed(format!("the request failed: {}", failure(&reply.body)))),
            }
        }
        WebhooksCommand::Replay { id, status, since } => {
            let url = api.url_with_query(
                &["v1", "webhooks", &id, "replay"],
                &[("status", status.map(ReplayStatus::as_str)), ("since", since.as_deref())],
            );
            let reply = api.call(reqwest::Method::POST, url, None)?;
            emit(json, &reply, || {
                let n = reply.body.get("replayed").and_then(Value::as_u64).unwrap_or(0);
                format!(
                    "queued {n} {} of webhook {id} again\n",
                    if n == 1 { "delivery" } else { "deliveries" }
                )
            })
        }
    }
}

/// `--json`: the API's document; otherwise the human text.
fn emit(json: bool, reply: &Reply, human: impl FnOnce() -> String) -> CliResult {
    if json { print_reply(reply) } else { print_text(&human()) }
}

fn describe(heading: &str, w: &Value) -> String {
    let mut text = format!("{heading} {}\n", field(w, "id"));
    let headers = w
        .get("headers")
        .and_then(Value::as_object)
        .filter(|h| !h.is_empty())
        .map(|h| h.iter().map(|(k, v)| format!("{k}: {}", show(v))).collect::<Vec<_>>().join("\n"));
    let enabled = if w.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        "yes".to_owned()
    } else {
        match (w.get("disabled_reason").and_then(Value::as_str), w.get("disabled_at").and_then(Value::as_str))
        {
            (Some(reason), Some(at)) => format!("no ({reason}, since {at})"),
            (Some(reason), None) => format!("no ({reason})"),
            (None, Some(at)) => format!("no (since {at})"),
            (None, None) => "no".to_owned(),
        }
    };
    text.push_str(&fields(&[
        ("  app", Some(field(w, "app_id"))),
        ("  events", Some(field(w, "events"))),
        ("  request", Some(format!("{} {}", field(w, "method"), field(w, "url")))),
        ("  format", Some(field(w, "format"))),
        ("  headers", headers),
        ("  payload", Some(field(w, "payload"))),
        ("  timeout", w.get("timeout").and_then(Value::as_str).map(str::to_owned)),
        ("  retry schedule", w.get("retry_schedule").and_then(Value::as_str).map(str::to_owned)),
        ("  enabled", Some(enabled)),
        ("  secret", w.get("secret").and_then(Value::as_str).map(str::to_owned)),
        ("  created at", Some(field(w, "created_at"))),
        ("  updated at", Some(field(w, "updated_at"))),
    ]));
    text
}

fn list_table(body: &Value) -> String {
    let list = body.get("webhooks").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() {
        return "no webhooks\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            let enabled =
                if w.get("enabled").and_then(Value::as_bool).unwrap_or(false) { "yes" } else { "no" };
            vec![field(w, "id"), enabled.to_owned(), field(w, "events"), field(w, "method"), field(w, "url")]
        })
        .collect();
    table(&["ID", "ENABLED", "EVENTS", "METHOD", "URL"], &rows)
}

fn describe_test(result: &Value) -> String {
    let request = result.get("request").cloned().unwrap_or(Value::Null);
    let mut text = format!("request\n  {} {}\n", field(&request, "method"), field(&request, "url"));
    if let Some(headers) = request.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            text.push_str(&format!("  {name}: {}\n", show(value)));
        }
    }
    if let Some(body) = request.get("body").and_then(Value::as_str) {
        text.push_str(&format!("\n  {}\n", body.replace('\n', "\n  ")));
    }
    text.push_str("response\n");
    let ms = field(result, "duration_ms");
    match result.get("status_code").and_then(Value::as_u64) {
        Some(code) => text.push_str(&format!("  status {code} in {ms} ms\n")),
        None => text.push_str(&format!("  no answer after {ms} ms: {}\n", failure(result))),
    }
    if let Some(body) = result.get("response_body").and_then(Value::as_str).filter(|b| !b.is_empty()) {
        text.push_str(&format!("\n  {}\n", body.replace('\n', "\n  ")));
    }
    text.push_str(&format!("delivery {} (patchbay deliveries show {0})\n", field(result, "delivery_id")));
    text
}

/// `error` of a test result or attempt, with its detail when there is one: `connect: refused`.
pub fn failure(result: &Value) -> String {
    match result.get("error_detail").and_then(Value::as_str) {
        Some(detail) => format!("{}: {detail}", field(result, "error")),
        None => field(result, "error"),
    }
}
