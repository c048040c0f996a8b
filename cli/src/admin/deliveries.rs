//! `patchbay deliveries …`: `/v1/webhooks/{id}/deliveries` and `/v1/deliveries/{id}`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::GlobalOpts;
use super::error::CliResult;
use super::output::{field, fields, first_line, print_reply, print_text, table};
use super::webhooks::failure;

/// How much of a response body `deliveries show` prints per attempt.
const BODY_PREVIEW_CHARS: usize = 200;

#[derive(Args)]
pub struct DeliveriesCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: DeliveriesCommand,
}

#[derive(Subcommand)]
enum DeliveriesCommand {
    /// List a webhook's deliveries, newest first, one page at a time.
    List {
        /// The webhook's id (`wh_…`).
        #[arg(long, value_name = "WEBHOOK_ID")]
        webhook: String,
        /// Only deliveries in this state.
        #[arg(long, value_enum, value_name = "STATUS")]
        status: Option<Status>,
        /// Continue from the cursor a previous page printed.
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Deliveries per page (1 to 200; the API's default is 50).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
        limit: Option<u16>,
    },
    /// Show a delivery and each of its attempts.
    Show {
        /// The delivery's id (`dlv_…`).
        id: String,
    },
    /// Send a finished delivery again (a new series of attempts, same `webhook-id`).
    Redeliver {
        /// The delivery's id (`dlv_…`).
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Pending,
    Succeeded,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

pub fn run(cmd: DeliveriesCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let json = cmd.global.json;
    let (reply, human): (_, fn(&Value) -> String) = match cmd.command {
        DeliveriesCommand::List { webhook, status, cursor, limit } => {
            let limit = limit.map(|l| l.to_string());
            let url = api.url_with_query(
                &["v1", "webhooks", &webhook, "deliveries"],
                &[
                    ("status", status.map(Status::as_str)),
                    ("cursor", cursor.as_deref()),
                    ("limit", limit.as_deref()),
                ],
            );
            (api.call(reqwest::Method::GET, url, None)?, list_table)
        }
        DeliveriesCommand::Show { id } => (api.get(&["v1", "deliveries", &id])?, describe),
        DeliveriesCommand::Redeliver { id } => {
            (api.post(&["v1", "deliveries", &id, "redeliver"], None)?, redelivered)
        }
    };
    if json { print_reply(&reply) } else { print_text(&human(&reply.body)) }
}

fn list_table(page: &Value) -> String {
    let list = page.get("deliveries").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut text = if list.is_empty() {
        "no deliveries\n".to_owned()
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|d| {
                let mut status = field(d, "status");
                if d.get("test").and_then(Value::as_bool).unwrap_or(false) {
                    status.push_str(" (test)");
                }
                vec![
                    field(d, "id"),
                    status,
                    field(d, "attempt_count"),
                    field(d, "event"),
                    field(d, "created_at"),
                ]
            })
            .collect();
        table(&["ID", "STATUS", "ATTEMPTS", "EVENT", "CREATED_AT"], &rows)
    };
    if let Some(next) = page.get("next_cursor").and_then(Value::as_str) {
        text.push_str(&format!("next cursor: {next}\n"));
    }
    text
}

fn describe(d: &Value) -> String {
    let mut text = format!("delivery {}\n", field(d, "id"));
    let test = d.get("test").and_then(Value::as_bool).unwrap_or(false);
    text.push_str(&fields(&[
        ("  webhook", Some(field(d, "webhook_id"))),
        ("  event", Some(format!("{} {}", field(d, "event"), field(d, "event_id")))),
        ("  status", Some(field(d, "status"))),
        ("  test send", test.then(|| "yes".to_owned())),
        ("  reason", d.get("reason").and_then(Value::as_str).map(str::to_owned)),
        ("  attempts", Some(field(d, "attempt_count"))),
        ("  created at", Some(field(d, "created_at"))),
        ("  updated at", Some(field(d, "updated_at"))),
    ]));
    let attempts = d.get("attempts").and_then(Value::as_array).cloned().unwrap_or_default();
    for a in &attempts {
        let outcome = match a.get("status_code").and_then(Value::as_u64) {
            Some(code) => format!("HTTP {code}"),
            None => failure(a),
        };
        text.push_str(&format!(
            "  #{} {}  {outcome}  {} ms\n",
            field(a, "number"),
            field(a, "at"),
            field(a, "duration_ms")
        ));
        if let Some(body) = a.get("response_body").and_then(Value::as_str).filter(|b| !b.trim().is_empty()) {
            text.push_str(&format!("      {}\n", first_line(body, BODY_PREVIEW_CHARS)));
        }
        if let Some(after) = a.get("retry_after").and_then(Value::as_str) {
            text.push_str(&format!("      retry-after: {after}\n"));
        }
    }
    text
}

fn redelivered(d: &Value) -> String {
    format!("queued delivery {} again (status {})\n", field(d, "id"), field(d, "status"))
}
