//! `patchbay`: the local runtime, administration over the management API, and offline tools
//! (sign, verify, render).

mod admin;
mod dev;
mod offline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "patchbay", version, about = "Webhooks and Secure Running for a game-publishing platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run all of Patchbay locally: ingest, key check, management API and a delivery worker,
    /// on an embedded SQLite store and queue.
    Dev(dev::DevArgs),
    /// Print the `webhook-signature` value for a message (body from --file or stdin).
    Sign(offline::SignArgs),
    /// Check a signature; exit 0 when valid, 1 with the reason otherwise.
    Verify(offline::VerifyArgs),
    /// Print, as JSON, the exact request a webhook would send for an event.
    Render(offline::RenderArgs),
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Sign(args) => offline::sign(&args),
        Command::Verify(args) => offline::verify(&args),
        Command::Render(args) => offline::render(&args),
        Command::Admin(cmd) => admin::run(cmd),
    }
}
