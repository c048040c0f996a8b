//! `patchbay keys …`: `/v1/apps/{app}/keys[/import]` in batches, and `/v1/keys/{key}`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::GlobalOpts;
use super::client::{ApiClient, Reply};
use super::error::{CliError, CliResult};
use super::input::read_text;
use super::keyfile::{Format, parse_records};
use super::output::{field, fields, print_json, print_reply, print_text};
use super::progress;

/// The API takes at most this many keys per call, for generation and import alike.
const BATCH: usize = 10_000;
/// How many duplicates the human output lists before summarising the rest.
const DUPLICATES_SHOWN: usize = 20;

#[derive(Args)]
pub struct KeysCmd {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate new random keys, in batches of 10 000; writes them one per line (with --json,
    /// one `{"keys": […]}` document). A summary goes to stderr.
    Generate {
        /// The app the keys unlock.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        /// How many keys to generate.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: u64,
        /// Id of the collection to file the keys under (`patchbay collections create`);
        /// default: the app's first collection, created when it has none.
        #[arg(long, value_name = "COLLECTION_ID")]
        collection: Option<i64>,
        /// Write the keys to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Import existing keys from a file: one key per line; CSV whose header row has `key` and
    /// any of `key_secret`, `collection_id`, `registrations`, `blocked`; or JSON lines (one
    /// such record per line). Sent in batches, each all or nothing; re-runnable (keys already
    /// stored as given are counted unchanged). Reports what was imported.
    Import {
        /// The app the keys unlock.
        #[arg(long, value_name = "APP_ID")]
        app: String,
        /// The file to read (`-` for stdin).
        file: PathBuf,
        /// How the file is laid out; `auto`: `.jsonl` or a first line starting with `{` is JSON
        /// lines, a first line with a comma (or just `key`) is CSV, else one key per line.
        #[arg(long, value_enum, default_value = "auto")]
        format: Format,
        /// Id of the collection to file the keys under; default: the app's first collection.
        #[arg(long, value_name = "COLLECTION_ID")]
        collection: Option<i64>,
    },
    /// Show a key: its app, key secret, registrations and whether it is blocked.
    Show {
        /// The license key.
        key: String,
    },
    /// Block a key: the key check refuses it from now on.
    Block {
        /// The license key.
        key: String,
    },
    /// Unblock a key.
    Unblock {
        /// The license key.
        key: String,
    },
}

pub fn run(cmd: KeysCmd) -> CliResult {
    let api = cmd.global.admin_client()?;
    let json = cmd.global.json;
    match cmd.command {
        KeysCommand::Generate { app, count, collection, out } => {
            generate(&api, json, &app, count, collection, out)
        }
        KeysCommand::Import { app, file, format, collection } => {
            import(&api, json, &app, &file, format, collection)
        }
        KeysCommand::Show { key } => show_key(json, "key", &api.get(&["v1", "keys", &key])?),
        KeysCommand::Block { key } => {
            show_key(json, "blocked key", &api.post(&["v1", "keys", &key, "block"], None)?)
        }
        KeysCommand::Unblock { key } => {
            show_key(json, "unblocked key", &api.post(&["v1", "keys", &key, "unblock"], None)?)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Where generated keys go: stdout, or a file created before the first request.
fn open_out(out: Option<&Path>) -> CliResult<Box<dyn Write>> {
    Ok(match out {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", path.display())))?;
            Box::new(BufWriter::new(file))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

fn write_err(e: &std::io::Error) -> CliError {
    CliError::failed(format!("cannot write the keys: {e}"))
}

fn generate(
    api: &ApiClient,
    json: bool,
    app: &str,
    count: u64,
    collection: Option<i64>,
    out: Option<PathBuf>,
) -> CliResult {
    let mut sink = open_out(out.as_deref())?;
    let total =
        usize::try_from(count).map_err(|_| CliError::usage(format!("--count {count} is too large")))?;
    let bar = progress::bar(count, "generating keys", json);
    // With --json, the batches' `keys` arrays are merged into one document.
    let mut collected: Vec<Value> = Vec::new();
    let mut done = 0usize;
    let result = (|| -> CliResult {
        while done < total {
            let n = (total - done).min(BATCH);
            let body = json!({ "count": n, "collection_id": collection });
            let reply = api.post(&["v1", "apps", app, "keys"], Some(&body))?;
            let keys = reply.body.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
            if keys.len() != n {
                return Err(CliError::failed(format!("asked for {n} keys, the API returned {}", keys.len())));
            }
            if json {
                collected.extend(keys);
            } else {
                for key in &keys {
                    writeln!(sink, "{}", key.as_str().unwrap_or_default()).map_err(|e| write_err(&e))?;
                }
            }
            done += n;
            bar.inc(n as u64);
        }
        Ok(())
    })();
    bar.finish_and_clear();
    if json {
        let doc = serde_json::to_string_pretty(&json!({ "keys": collected }))
            .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
        writeln!(sink, "{doc}").map_err(|e| write_err(&e))?;
    }
    sink.flush().map_err(|e| write_err(&e))?;
    drop(sink);
    if let Err(err) = result {
        let written = out.as_ref().map(|p| format!(" (written to {})", p.display())).unwrap_or_default();
        return Err(err.context(&format!("stopped after {done} of {total} keys were generated{written}")));
    }
    if !json {
        let target = out.as_ref().map(|p| format!(" into {}", p.display())).unwrap_or_default();
        eprintln!("generated {done} key{} for app {app}{target}", plural(done));
    }
    Ok(())
}

/// Keep each request under the API's 1 MiB body limit, whatever the records hold.
const BATCH_BYTES: usize = 900 * 1024;

/// The records cut into requests of at most [`BATCH`] records and about [`BATCH_BYTES`].
fn batches(records: &[Value]) -> Vec<&[Value]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let size = record.to_string().len() + 1;
        if i > start && (i - start >= BATCH || bytes + size > BATCH_BYTES) {
            out.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

fn import(
    api: &ApiClient,
    json: bool,
    app: &str,
    file: &Path,
    format: Format,
    collection: Option<i64>,
) -> CliResult {
    let text = read_text(file)?;
    let jsonl_name = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let records = parse_records(&text, format, jsonl_name)
        .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
    if records.is_empty() {
        return Err(CliError::usage(format!("{} holds no keys", file.display())));
    }
    let bar = progress::bar(records.len() as u64, "importing keys", json);
    let (mut imported, mut unchanged) = (0usize, 0usize);
    let mut duplicates: Vec<Value> = Vec::new();
    let mut sent = 0usize;
    let count = |reply: &Reply, name: &str| {
        reply.body.get(name).and_then(Value::as_u64).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    for batch in batches(&records) {
        let mut body = json!({ "keys": batch });
        if let Some(c) = collection {
            body["collection_id"] = json!(c);
        }
        let reply = match api.post(&["v1", "apps", app, "keys", "import"], Some(&body)) {
            Ok(reply) => reply,
            Err(err) => {
                bar.finish_and_clear();
                let context = format!(
                    "stopped after {sent} of {} keys were sent ({imported} imported, {unchanged} unchanged; \
                     the refused batch wrote nothing, so running the import again resumes it)",
                    records.len()
                );
                return Err(if sent == 0 { err } else { err.context(&context) });
            }
        };
        imported += count(&reply, "imported");
        unchanged += count(&reply, "unchanged");
        duplicates
            .extend(reply.body.get("duplicates").and_then(Value::as_array).cloned().unwrap_or_default());
        sent += batch.len();
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if json {
        return print_json(
            &json!({ "imported": imported, "unchanged": unchanged, "duplicates": duplicates }),
        );
    }
    let mut text = format!("imported {imported} key{} into app {app}\n", plural(imported));
    if unchanged > 0 {
        text.push_str(&format!("{unchanged} already there as given, left unchanged\n"));
    }
    if !duplicates.is_empty() {
        text.push_str(&format!(
            "{} duplicate{} (repeated in the file) imported once:\n",
            duplicates.len(),
            plural(duplicates.len())
        ));
        for d in duplicates.iter().take(DUPLICATES_SHOWN) {
            text.push_str(&format!("  {}\n", d.as_str().unwrap_or_default()));
        }
        if duplicates.len() > DUPLICATES_SHOWN {
            text.push_str(&format!(
                "  … and {} more (--json lists them all)\n",
                duplicates.len() - DUPLICATES_SHOWN
            ));
        }
    }
    print_text(&text)
}

fn show_key(json: bool, heading: &str, reply: &Reply) -> CliResult {
    if json {
        return print_reply(reply);
    }
    let k = &reply.body;
    let blocked = match (k.get("blocked").and_then(Value::as_bool).unwrap_or(false), k.get("blocked_reason"))
    {
        (true, Some(Value::String(reason))) => format!("yes ({reason})"),
        (true, _) => "yes".to_owned(),
        (false, _) => "no".to_owned(),
    };
    let mut text = format!("{heading} {}\n", field(k, "key"));
    text.push_str(&fields(&[
        ("  app", Some(field(k, "app_id"))),
        ("  key secret", Some(field(k, "key_secret"))),
        ("  collection", Some(field(k, "collection_id"))),
        ("  registrations", Some(field(k, "registrations"))),
        ("  blocked", Some(blocked)),
        ("  created at", Some(field(k, "created_at"))),
    ]));
    print_text(&text)
}
