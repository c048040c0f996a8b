//! The embedded default: one SQLite file holds the store, the license keys and a queue with SQS
//! semantics, so `patchbay dev` needs no AWS account and no Docker.
//!
//! Each record is kept as its domain struct in JSON (`doc`) beside the columns that queries and
//! conditional writes need. One connection behind a mutex: SQLite serialises writers anyway,
//! and each statement here takes microseconds.

mod keys;
mod queue;
mod store;
mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use patchbay_core::ports::StoreError;
use rusqlite::Connection;

pub use keys::SqliteKeyStore;
pub use queue::SqliteQueue;
pub use store::SqliteStore;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_app ON webhooks(app_id, created_at, id);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    lease_until TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON deliveries(webhook_id, created_at, id);
CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE TABLE IF NOT EXISTS app_tokens (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS app_tokens_by_app ON app_tokens(app_id, created_at, id);
CREATE TABLE IF NOT EXISTS license_keys (
    key TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    key_secret TEXT NOT NULL,
    collection_id INTEGER,
    registrations INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS license_keys_by_collection ON license_keys(collection_id, key);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    blocked INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS collections_by_app ON collections(app_id, id);
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    correlation_id TEXT
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue(visible_at_ms, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    message_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at TEXT NOT NULL
);
";

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// A shared SQLite database; clone the `Arc` into each adapter.
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Open (creating if needed) a database file, or `:memory:`.
    ///
    /// # Errors
    /// The file cannot be opened or the schema cannot be created.
    pub fn open(path: &str) -> Result<Arc<Db>, StoreError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()
        } else {
            if let Some(dir) = Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(StoreError::unavailable)?;
            }
            private_file(Path::new(path))?;
            Connection::open(path)
        }
        .map_err(StoreError::unavailable)?;
        // WAL + NORMAL: durable across a process kill (the WAL is in the file system, not in
        // the process), and fast enough for a local worker. One process owns the file, so an
        // exclusive lock taken once saves two fcntl calls per transaction (a third of the
        // local pipeline's kernel time before this).
        let locking = if path == ":memory:" { "NORMAL" } else { "EXCLUSIVE" };
        conn.execute_batch(&format!(
            "PRAGMA locking_mode = {locking}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 5000;"
        ))
        .map_err(StoreError::unavailable)?;
        // Every hot statement stays prepared: the store, queue and key statements together are
        // more than rusqlite's default 16, and a statement pushed out is parsed again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(SCHEMA).map_err(StoreError::unavailable)?;
        keys::migrate(&conn).map_err(StoreError::unavailable)?;
        migrate(&conn).map_err(StoreError::unavailable)?;
        if path != ":memory:" {
            // A database from before files were created private: tighten it and its WAL files.
            for companion in ["", "-wal", "-shm"] {
                restrict_to_owner(Path::new(&format!("{path}{companion}")))?;
            }
        }
        Ok(Arc::new(Db { conn: Mutex::new(conn) }))
    }

    /// A private in-memory database (tests).
    ///
    /// # Errors
    /// Never in practice; kept fallible for symmetry with [`Db::open`].
    pub fn memory() -> Result<Arc<Db>, StoreError> {
        Db::open(":memory:")
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (statements are
        // atomic), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Bring a database made by an earlier version up to [`SCHEMA`] (`CREATE … IF NOT EXISTS`
/// leaves existing tables as they were).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_correlation: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('queue') WHERE name = 'correlation_id'",
        [],
        |r| r.get(0),
    )?;
    if !has_correlation {
        conn.execute_batch("ALTER TABLE queue ADD COLUMN correlation_id TEXT")?;
    }
    Ok(())
}

/// Create the database file readable by its owner only (it holds webhook signing secrets and
/// license keys). SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
fn private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::unavailable(e)),
    }
}

fn restrict_to_owner(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(StoreError::unavailable(e)),
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Timestamps as fixed-width RFC 3339 so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn db_err(err: rusqlite::Error) -> StoreError {
    StoreError::unavailable(err)
}

fn to_doc<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::unavailable)
}

fn from_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Unavailable(format!("corrupt record: {e}")))
}

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation
    )
}
