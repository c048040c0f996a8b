//! `patchbay tokens …`: per-app API tokens, `/v1/apps/{app}/tokens` and `/v1/tokens/{id}`.
//! Admin token only.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::GlobalOpts;
use super::error::CliResult;
use super::output::{field, fields, print_reply, print_text, table};

#[derive(Args)]
pub struct TokensCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create an app token (`pbt_…`) for a studio; prints it once: it cannot be shown again.
    Create {
        /// The app the token manages.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        /// What the token is for, e.g. `console` or `ci` (shown in listings).
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// List an app's tokens: ids, names, created and last used (never the token itself).
    List {
        /// The app's id.
        #[arg(long, value_name = "APP_ID")]
        app: String,
    },
    /// Revoke a token at once: the next request that presents it is refused.
    Revoke {
        /// The token's id (`tok_…`).
        token_id: String,
    },
}

pub fn run(cmd: TokensCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let (reply, text): (_, fn(&Value) -> String) = match &cmd.command {
        TokensCommand::Create { app, name } => {
            (api.post(&["v1", "apps", app, "tokens"], Some(&json!({ "name": name })))?, created)
        }
        TokensCommand::List { app } => (api.get(&["v1", "apps", app, "tokens"])?, list_table),
        TokensCommand::Revoke { token_id } => (api.delete(&["v1", "tokens", token_id])?, revoked),
    };
    if cmd.global.json {
        return print_reply(&reply);
    }
    print_text(&text(&reply.body))
}

fn created(t: &Value) -> String {
    let mut text = format!("created token {} for app {}\n", field(t, "id"), field(t, "app_id"));
    text.push_str(&fields(&[("  name", Some(field(t, "name"))), ("  token", Some(field(t, "token")))]));
    text.push_str("Store the token now: it is not shown again (only its hash is kept).\n");
    text
}

fn revoked(t: &Value) -> String {
    format!("revoked token {} ({}) of app {}\n", field(t, "id"), field(t, "name"), field(t, "app_id"))
}

fn list_table(body: &Value) -> String {
    let list = body.get("tokens").and_then(Value::as_array).cloned().unwrap_or_default();
    if list.is_empty() {
        return "no tokens\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| vec![field(t, "id"), field(t, "name"), field(t, "created_at"), field(t, "last_used_at")])
        .collect();
    table(&["ID", "NAME", "CREATED", "LAST USED"], &rows)
}
