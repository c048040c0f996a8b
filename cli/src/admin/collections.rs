//! `patchbay collections …`: `/v1/apps/{app}/collections` and `/v1/collections/{id}/…`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::GlobalOpts;
use super::client::Reply;
use super::error::CliResult;
use super::output::{field, print_reply, print_text, table};

#[derive(Args)]
pub struct CollectionsCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: CollectionsCommand,
}

#[derive(Subcommand)]
enum CollectionsCommand {
    /// Create a collection of an app's keys; prints its id (an integer).
    Create {
        /// The app the collection belongs to.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        /// A name for people (e.g. a sale or a batch).
        name: String,
    },
    /// List an app's collections (the first is where keys go by default).
    List {
        /// The app.
        #[arg(long, value_name = "APP_ID")]
        app: String,
    },
    /// Block every key of a collection: the key check answers 410 for them.
    Block {
        /// The collection id.
        id: i64,
    },
    /// Unblock a collection (keys blocked one by one stay blocked).
    Unblock {
        /// The collection id.
        id: i64,
    },
}

pub fn run(cmd: CollectionsCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let json = cmd.global.json;
    match cmd.command {
        CollectionsCommand::Create { app, name } => {
            let reply = api.post(&["v1", "apps", &app, "collections"], Some(&json!({ "name": name })))?;
            show(json, "created collection", &reply)
        }
        CollectionsCommand::List { app } => {
            let reply = api.get(&["v1", "apps", &app, "collections"])?;
            if json {
                return print_reply(&reply);
            }
            let rows: Vec<Vec<String>> = reply
                .body
                .get("collections")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| vec![field(c, "id"), field(c, "name"), blocked(c).to_owned()])
                .collect();
            if rows.is_empty() {
                return print_text(&format!("app {app} has no collections yet\n"));
            }
            print_text(&table(&["ID", "NAME", "BLOCKED"], &rows))
        }
        CollectionsCommand::Block { id } => {
            let reply = api.post(&["v1", "collections", &id.to_string(), "block"], None)?;
            show(json, "blocked collection", &reply)
        }
        CollectionsCommand::Unblock { id } => {
            let reply = api.post(&["v1", "collections", &id.to_string(), "unblock"], None)?;
            show(json, "unblocked collection", &reply)
        }
    }
}

fn blocked(c: &Value) -> &'static str {
    if c.get("blocked").and_then(Value::as_bool).unwrap_or(false) { "yes" } else { "no" }
}

fn show(json: bool, heading: &str, reply: &Reply) -> CliResult {
    if json {
        return print_reply(reply);
    }
    let c = &reply.body;
    print_text(&format!("{heading} {} ({}), blocked: {}\n", field(c, "id"), field(c, "name"), blocked(c)))
}
