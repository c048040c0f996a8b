//! `patchbay apps …`: `/v1/apps`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::GlobalOpts;
use super::error::CliResult;
use super::output::{field, fields, print_reply, print_text};

#[derive(Args)]
pub struct AppsCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: AppsCommand,
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Register an application; prints it with its app secret.
    Create {
        /// The app's id: 1 to 64 letters, digits, '_' or '-' (events name it as `app.id`).
        #[arg(long, value_name = "ID")]
        id: String,
        /// Short name, e.g. `my-game`.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Name shown to players, e.g. `My Game`.
        #[arg(long, value_name = "NAME")]
        display_name: String,
        /// Keep an existing app secret (the one shipped games embed, e.g. from PatchKit)
        /// instead of generating one.
        #[arg(long, value_name = "SECRET")]
        app_secret: Option<String>,
    },
    /// Show an application, with its app secret.
    Show {
        /// The app's id.
        id: String,
    },
    /// Replace the app secret (launchers using the old one stop passing the key check).
    RotateSecret {
        /// The app's id.
        id: String,
    },
}

pub fn run(cmd: AppsCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let (reply, heading) = match &cmd.command {
        AppsCommand::Create { id, name, display_name, app_secret } => {
            let mut body = json!({ "id": id, "name": name, "display_name": display_name });
            if let Some(secret) = app_secret {
                body["app_secret"] = json!(secret);
            }
            (api.post(&["v1", "apps"], Some(&body))?, "created app")
        }
        AppsCommand::Show { id } => (api.get(&["v1", "apps", id])?, "app"),
        AppsCommand::RotateSecret { id } => {
            (api.post(&["v1", "apps", id, "rotate-secret"], None)?, "rotated the secret of app")
        }
    };
    if cmd.global.json {
        return print_reply(&reply);
    }
    print_text(&describe(heading, &reply.body))
}

fn describe(heading: &str, app: &Value) -> String {
    let mut text = format!("{heading} {}\n", field(app, "id"));
    text.push_str(&fields(&[
        ("  name", Some(field(app, "name"))),
        ("  display name", Some(field(app, "display_name"))),
        ("  app secret", Some(field(app, "app_secret"))),
        ("  created at", Some(field(app, "created_at"))),
    ]));
    text
}
