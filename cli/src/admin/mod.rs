//! Subcommands over the management API: apps, webhooks, deliveries, license keys, app tokens,
//! and sending a signed test event to ingest. Each group takes the global options in [`GlobalOpts`].
//!
//! Exit codes: 0 success, 1 the API refused (its `message` and `code` on stderr) or could not be
//! reached, 2 a usage or input error (clap's own parse errors are 2 as well).

mod apps;
mod client;
mod collections;
mod deliveries;
mod error;
mod events;
mod input;
mod keyfile;
mod keys;
mod output;
mod progress;
mod tokens;
mod verdict_key;
mod webhooks;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use client::ApiClient;
use error::{CliError, CliResult};

/// The local runtime (`patchbay dev`) listens here by default.
pub const DEFAULT_API: &str = "http://127.0.0.1:8080";

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create applications, show them, rotate their app secret.
    Apps(apps::AppsCmd),
    /// Create, list, change, test and replay webhooks.
    Webhooks(webhooks::WebhooksCmd),
    /// Inspect deliveries and their attempts; redeliver one.
    Deliveries(deliveries::DeliveriesCmd),
    /// Generate, import, show, block and unblock license keys.
    Keys(keys::KeysCmd),
    /// Create and list collections of keys; block or unblock a whole collection.
    Collections(collections::CollectionsCmd),
    /// Send a signed event to the ingest endpoint, as the publishing pipeline does.
    Events(events::EventsCmd),
    /// Create, list and revoke per-app tokens (a studio's own access to its app).
    Tokens(tokens::TokensCmd),
    /// Print the public key that signs key-check verdicts (base64 Ed25519), for embedding in a
    /// game that checks `x-patchbay-verdict`.
    VerdictKey(verdict_key::VerdictKeyCmd),
}

/// Options every admin subcommand accepts (before or after the subcommand name).
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Base URL of the Patchbay API (`patchbay dev` listens on the default).
    #[arg(long, global = true, help_heading = "Global options", env = "PATCHBAY_API", default_value = DEFAULT_API, value_name = "URL")]
    pub api: String,
    /// Admin bearer token for the management API.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "PATCHBAY_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the API's JSON answer as-is (pretty-printed) instead of tables and lines.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

impl GlobalOpts {
    /// A client for the management API, which needs the admin token.
    ///
    /// # Errors
    /// No token, or a bad `--api`.
    pub fn admin_client(&self) -> CliResult<ApiClient> {
        let token = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CliError::usage("no admin token: set PATCHBAY_ADMIN_TOKEN or pass --token"))?;
        ApiClient::new(&self.api, Some(token.to_owned()))
    }
}

/// Run one admin subcommand; failures are reported on stderr and become the exit code.
pub fn run(cmd: AdminCommand) -> ExitCode {
    let result = match cmd {
        AdminCommand::Apps(cmd) => apps::run(cmd),
        AdminCommand::Webhooks(cmd) => webhooks::run(cmd),
        AdminCommand::Deliveries(cmd) => deliveries::run(cmd),
        AdminCommand::Keys(cmd) => keys::run(cmd),
        AdminCommand::Collections(cmd) => collections::run(cmd),
        AdminCommand::Events(cmd) => events::run(cmd),
        AdminCommand::Tokens(cmd) => tokens::run(cmd),
        AdminCommand::VerdictKey(cmd) => verdict_key::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}
