//! License keys in SQLite. The check and the registration count are one UPDATE … RETURNING,
//! the same single round trip the DynamoDB adapter makes.
//!
//! Registrations are group-committed: one writer thread takes every registration waiting at
//! that moment (up to [`MAX_GROUP`]) and runs them in one transaction, in arrival order, so
//! each caller still gets its own exact count while concurrent games share one commit instead
//! of queueing for one each.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::{AppCollections, Collection, CollectionId, LicenseKey};
use patchbay_core::ports::{KeyStore, KeyVerdict, StoreError, StoreResult};
use patchbay_core::secret::Secret;
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row, params};
use tokio::sync::{mpsc, oneshot};

use super::{Db, db_err, ts};

/// The most registrations one transaction takes.
pub const MAX_GROUP: usize = 256;
/// `off`: one autocommit transaction per registration, as before group commit. Only for
/// `scripts/bench`, which measures both in the same run.
pub const GROUP_COMMIT_VARIABLE: &str = "PATCHBAY_SQLITE_GROUP_COMMIT";

#[derive(Clone)]
pub struct SqliteKeyStore {
    db: Arc<Db>,
    /// `None`: registrations commit one by one on the caller's thread.
    registrations: Option<mpsc::UnboundedSender<Registration>>,
}

/// One registering check waiting for the writer.
struct Registration {
    key: String,
    app_id: String,
    /// `(per_hour, hour)` for [`KeyStore::register_limited`].
    limit: Option<(u64, i64)>,
    answer: oneshot::Sender<StoreResult<KeyVerdict>>,
}

impl SqliteKeyStore {
    /// The store, and its registration writer (a thread that ends with the last clone).
    #[must_use]
    pub fn new(db: Arc<Db>) -> Self {
        if std::env::var(GROUP_COMMIT_VARIABLE).is_ok_and(|v| v.trim() == "off") {
            return SqliteKeyStore { db, registrations: None };
        }
        let (registrations, waiting) = mpsc::unbounded_channel();
        let writer_db = db.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-registrations".into())
            .spawn(move || write_registrations(&writer_db, waiting));
        if let Err(err) = spawned {
            // Without the thread every registration answers "unavailable" (its sender fails).
            tracing::error!(error = %err, "cannot start the SQLite registration writer");
        }
        SqliteKeyStore { db, registrations: Some(registrations) }
    }
}

/// The writer: waits for a registration, takes every other one already waiting, commits them
/// together, answers each.
fn write_registrations(db: &Db, mut waiting: mpsc::UnboundedReceiver<Registration>) {
    let mut group: Vec<Registration> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = waiting.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match waiting.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut conn = db.lock();
        let answers = register_group(&mut conn, &group);
        drop(conn);
        match answers {
            Ok(answers) => {
                for (registration, answer) in group.drain(..).zip(answers) {
                    let _ = registration.answer.send(answer);
                }
            }
            Err(err) => {
                for registration in group.drain(..) {
                    let _ = registration.answer.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
    }
}

/// Every registration of `group` in one transaction, in order. A failed statement fails only
/// its own registration (it changed nothing); a failed commit fails them all.
fn register_group(
    conn: &mut rusqlite::Connection,
    group: &[Registration],
) -> rusqlite::Result<Vec<StoreResult<KeyVerdict>>> {
    let tx = conn.transaction()?;
    let answers = group
        .iter()
        .map(|r| match r.limit {
            Some((per_hour, hour)) => check_limited(&tx, &r.key, &r.app_id, per_hour, hour),
            None => check(&tx, &r.key, &r.app_id, true),
        })
        .collect();
    tx.commit()?;
    Ok(answers)
}

/// The check on `conn`: registering (an UPDATE) or reading.
fn check(conn: &rusqlite::Connection, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict> {
    // A verification (no registration) only reads: it must not take SQLite's write lock or
    // append to the WAL. Both statements are prepared once per connection.
    let sql = if register {
        "UPDATE license_keys SET registrations = registrations + 1
         WHERE key = ?1 AND app_id = ?2 AND blocked = 0
         RETURNING key, app_id, key_secret, collection_id, registrations, blocked, created_at, blocked_reason"
    } else {
        "SELECT key, app_id, key_secret, collection_id, registrations, blocked, created_at, blocked_reason
         FROM license_keys WHERE key = ?1 AND app_id = ?2 AND blocked = 0"
    };
    let valid = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params![key, app_id], read_key).optional())
        .map_err(db_err)?;
    if let Some(k) = valid {
        return Ok(KeyVerdict::Valid(k));
    }
    why_not(conn, key, app_id)
}

/// A registration counted in the key's window for `hour` by the same UPDATE; the one that
/// would take the window past `per_hour` blocks the key instead (and counts no registration).
fn check_limited(
    conn: &rusqlite::Connection,
    key: &str,
    app_id: &str,
    per_hour: u64,
    hour: i64,
) -> StoreResult<KeyVerdict> {
    // SQLite evaluates every SET expression on the row as it was: `next` is the window count
    // after this registration.
    const NEXT: &str = "(CASE WHEN reg_hour IS ?3 THEN reg_hour_count + 1 ELSE 1 END)";
    let sql = format!(
        "UPDATE license_keys SET
             registrations = registrations + (CASE WHEN {NEXT} > ?4 THEN 0 ELSE 1 END),
             reg_hour_count = {NEXT},
             reg_hour = ?3,
             blocked = (CASE WHEN {NEXT} > ?4 THEN 1 ELSE 0 END),
             blocked_reason = (CASE WHEN {NEXT} > ?4
                 THEN 'auto-blocked: ' || {NEXT} || ' registrations in the last hour'
                 ELSE blocked_reason END)
         WHERE key = ?1 AND app_id = ?2 AND blocked = 0
         RETURNING {CHECKED}"
    );
    let per_hour = i64::try_from(per_hour).unwrap_or(i64::MAX);
    let updated = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(params![key, app_id, hour, per_hour], read_key).optional())
        .map_err(db_err)?;
    match updated {
        Some(k) if k.blocked => {
            tracing::warn!(key = %patchbay_core::ids::key_fingerprint(key), reason = ?k.blocked_reason, "key blocked automatically");
            Ok(KeyVerdict::Blocked)
        }
        Some(k) => Ok(KeyVerdict::Valid(k)),
        None => why_not(conn, key, app_id),
    }
}

/// Why a check found no usable key.
fn why_not(conn: &rusqlite::Connection, key: &str, app_id: &str) -> StoreResult<KeyVerdict> {
    // Only the failure path needs a second look, to say why.
    let found = conn
        .prepare_cached("SELECT app_id, blocked FROM license_keys WHERE key = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))).optional()
        })
        .map_err(db_err)?;
    Ok(match found {
        None => KeyVerdict::NotFound,
        Some((owner, _)) if owner != app_id => KeyVerdict::OtherApp,
        Some(_) => KeyVerdict::Blocked,
    })
}

const COLUMNS: &str = "key, app_id, key_secret, collection_id, registrations, blocked, created_at";
/// What a check reads back: [`COLUMNS`] and the block reason.
const CHECKED: &str =
    "key, app_id, key_secret, collection_id, registrations, blocked, created_at, blocked_reason";

/// Columns added after the table was first shipped (`ALTER TABLE … ADD COLUMN` when missing):
/// why the service blocked a key, and the key's registrations in the current clock hour.
pub(super) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let existing: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('license_keys')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, definition) in [
        ("blocked_reason", "TEXT"),
        ("reg_hour", "INTEGER"),
        ("reg_hour_count", "INTEGER NOT NULL DEFAULT 0"),
    ] {
        if !existing.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE license_keys ADD COLUMN {name} {definition}"))?;
        }
    }
    Ok(())
}

fn read_key(row: &Row<'_>) -> rusqlite::Result<LicenseKey> {
    let created_at: String = row.get(6)?;
    Ok(LicenseKey {
        key: row.get(0)?,
        app_id: row.get(1)?,
        key_secret: Secret::new(row.get::<_, String>(2)?),
        collection_id: collection_of(row.get_ref(3)?),
        registrations: row.get::<_, i64>(4)?.try_into().unwrap_or(0),
        blocked: row.get(5)?,
        created_at: created_at.parse::<DateTime<Utc>>().unwrap_or_default(),
        // Only the check's statements read it (`CHECKED`); `COLUMNS` stops before.
        blocked_reason: row.get(7).ok().flatten(),
    })
}

/// A key's collection. Databases from before collections hold the column as TEXT with free-form
/// names: those, like no collection, read as `None` (the app's default collection).
fn collection_of(value: ValueRef<'_>) -> Option<CollectionId> {
    match value {
        ValueRef::Integer(id) => Some(id),
        ValueRef::Text(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        _ => None,
    }
}

const COLLECTION_COLUMNS: &str = "id, app_id, name, blocked, created_at";

fn read_collection(row: &Row<'_>) -> rusqlite::Result<Collection> {
    let created_at: String = row.get(4)?;
    Ok(Collection {
        id: row.get(0)?,
        app_id: row.get(1)?,
        name: row.get(2)?,
        blocked: row.get(3)?,
        created_at: created_at.parse::<DateTime<Utc>>().unwrap_or_default(),
    })
}

impl SqliteKeyStore {
    fn collections_of(&self, app_id: &str) -> StoreResult<Vec<Collection>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLLECTION_COLUMNS} FROM collections WHERE app_id = ?1 ORDER BY id"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map([app_id], read_collection).map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

#[async_trait]
impl KeyStore for SqliteKeyStore {
    async fn create_keys(&self, keys: &[LicenseKey]) -> StoreResult<Vec<String>> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let mut duplicates = Vec::new();
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO license_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))
                .map_err(db_err)?;
            for k in keys {
                let inserted = insert
                    .execute(params![
                        k.key,
                        k.app_id,
                        k.key_secret.expose(),
                        k.collection_id,
                        i64::try_from(k.registrations).unwrap_or(i64::MAX),
                        k.blocked,
                        ts(k.created_at)
                    ])
                    .map_err(db_err)?;
                if inserted == 0 {
                    duplicates.push(k.key.clone());
                }
            }
        }
        if duplicates.is_empty() {
            tx.commit().map_err(db_err)?;
        } else {
            // All or nothing: dropping the transaction rolls every insert back.
            drop(tx);
        }
        Ok(duplicates)
    }

    async fn get_key(&self, key: &str) -> StoreResult<Option<LicenseKey>> {
        let conn = self.db.lock();
        conn.query_row(&format!("SELECT {CHECKED} FROM license_keys WHERE key = ?1"), [key], read_key)
            .optional()
            .map_err(db_err)
    }

    async fn check_key(&self, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict> {
        self.register(key, app_id, register, None).await
    }

    async fn register_limited(
        &self,
        key: &str,
        app_id: &str,
        per_hour: u64,
        hour: i64,
    ) -> StoreResult<KeyVerdict> {
        self.register(key, app_id, true, Some((per_hour, hour))).await
    }

    async fn set_key_blocked(&self, key: &str, blocked: bool) -> StoreResult<LicenseKey> {
        let conn = self.db.lock();
        // By hand: no reason, and an unblocked key starts a fresh window (or the next
        // registration would block it again).
        conn.query_row(
            &format!(
                "UPDATE license_keys SET blocked = ?2, blocked_reason = NULL,
                     reg_hour_count = CASE WHEN ?2 THEN reg_hour_count ELSE 0 END
                 WHERE key = ?1 RETURNING {CHECKED}"
            ),
            params![key, blocked],
            read_key,
        )
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("key {}", patchbay_core::ids::key_fingerprint(key))))
    }

    async fn delete_app_keys(&self, app_id: &str) -> StoreResult<usize> {
        let conn = self.db.lock();
        conn.execute("DELETE FROM license_keys WHERE app_id = ?1", [app_id]).map_err(db_err)
    }

    async fn create_collection(
        &self,
        app_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Collection> {
        let conn = self.db.lock();
        conn.query_row(
            &format!(
                "INSERT INTO collections (app_id, name, blocked, created_at) VALUES (?1, ?2, 0, ?3) \
                 RETURNING {COLLECTION_COLUMNS}"
            ),
            params![app_id, name, ts(now)],
            read_collection,
        )
        .map_err(db_err)
    }

    async fn get_collection(&self, id: CollectionId) -> StoreResult<Option<Collection>> {
        let conn = self.db.lock();
        conn.query_row(
            &format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE id = ?1"),
            [id],
            read_collection,
        )
        .optional()
        .map_err(db_err)
    }

    async fn list_collections(&self, app_id: &str) -> StoreResult<Vec<Collection>> {
        self.collections_of(app_id)
    }

    async fn set_collection_blocked(&self, id: CollectionId, blocked: bool) -> StoreResult<Collection> {
        let conn = self.db.lock();
        conn.query_row(
            &format!("UPDATE collections SET blocked = ?2 WHERE id = ?1 RETURNING {COLLECTION_COLUMNS}"),
            params![id, blocked],
            read_collection,
        )
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))
    }

    async fn app_collections(&self, app_id: &str) -> StoreResult<AppCollections> {
        Ok(AppCollections::of(&self.collections_of(app_id)?))
    }

    async fn list_collection_keys(
        &self,
        id: CollectionId,
        offset: usize,
        size: usize,
    ) -> StoreResult<(usize, Vec<LicenseKey>)> {
        let conn = self.db.lock();
        let total: i64 = conn
            .query_row("SELECT COUNT(*) FROM license_keys WHERE collection_id = ?1", [id], |r| r.get(0))
            .map_err(db_err)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM license_keys WHERE collection_id = ?1 ORDER BY key LIMIT ?2 OFFSET ?3"
            ))
            .map_err(db_err)?;
        let limit = i64::try_from(size).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let keys = stmt
            .query_map(params![id, limit, offset], read_key)
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok((usize::try_from(total).unwrap_or(0), keys))
    }
}

impl SqliteKeyStore {
    /// A check; a registering one goes through the group-commit writer when there is one.
    async fn register(
        &self,
        key: &str,
        app_id: &str,
        register: bool,
        limit: Option<(u64, i64)>,
    ) -> StoreResult<KeyVerdict> {
        let Some(registrations) = self.registrations.as_ref().filter(|_| register) else {
            let conn = self.db.lock();
            return match limit.filter(|_| register) {
                Some((per_hour, hour)) => check_limited(&conn, key, app_id, per_hour, hour),
                None => check(&conn, key, app_id, register),
            };
        };
        let (answer, answered) = oneshot::channel();
        let registration = Registration { key: key.to_owned(), app_id: app_id.to_owned(), limit, answer };
        let gone = || StoreError::Unavailable("the SQLite registration writer has stopped".into());
        registrations.send(registration).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Concurrent registrations share commits, yet each caller gets its own exact count: the
    /// answers are exactly 1..=N, once each, and the key ends at N.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_registrations_each_get_their_own_count() {
        let store = SqliteKeyStore::new(Db::memory().unwrap());
        let key = LicenseKey::new("AAAAA-BBBBB".into(), "app_1", 1, Utc::now());
        assert!(store.create_keys(std::slice::from_ref(&key)).await.unwrap().is_empty());
        const N: u64 = 500;
        let calls: Vec<_> = (0..N)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.check_key("AAAAA-BBBBB", "app_1", true).await })
            })
            .collect();
        let mut counts = BTreeSet::new();
        for call in calls {
            match call.await.unwrap().unwrap() {
                KeyVerdict::Valid(k) => {
                    assert!(counts.insert(k.registrations), "count {} twice", k.registrations);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(counts, (1..=N).collect::<BTreeSet<_>>());
        assert_eq!(store.get_key("AAAAA-BBBBB").await.unwrap().unwrap().registrations, N);
        // Refusals in a group answer as before and count nothing.
        assert_eq!(store.check_key("AAAAA-BBBBB", "app_2", true).await.unwrap(), KeyVerdict::OtherApp);
        assert_eq!(store.check_key("NOPE", "app_1", true).await.unwrap(), KeyVerdict::NotFound);
        store.set_key_blocked("AAAAA-BBBBB", true).await.unwrap();
        assert_eq!(store.check_key("AAAAA-BBBBB", "app_1", true).await.unwrap(), KeyVerdict::Blocked);
        assert_eq!(store.get_key("AAAAA-BBBBB").await.unwrap().unwrap().registrations, N);
    }
}
