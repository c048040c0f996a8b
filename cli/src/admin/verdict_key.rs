//! `patchbay verdict-key`: `GET /v1/verdict-key`, the public key a game embeds to check signed
//! verdicts (`x-patchbay-verdict`). Public: no admin token needed.

use clap::Args;
use serde_json::Value;

use super::GlobalOpts;
use super::client::ApiClient;
use super::error::{CliError, CliResult};
use super::output::{print_reply, print_text};

#[derive(Args)]
pub struct VerdictKeyCmd {
    #[command(flatten)]
    global: GlobalOpts,
}

pub fn run(cmd: &VerdictKeyCmd) -> CliResult {
    let api = ApiClient::new(&cmd.global.api, None)?;
    let reply = api.get(&["v1", "verdict-key"])?;
    if cmd.global.json {
        return print_reply(&reply);
    }
    let key = reply
        .body
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::failed("the API answered no public_key"))?;
    // The bare key on stdout, to paste into the game (or pipe into a build step).
    print_text(&format!("{key}\n"))
}
