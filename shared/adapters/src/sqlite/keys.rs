//! License keys in SQLite. The check and the registration count are one UPDATE … RETURNING,
//! the same single round trip the DynamoDB adapter makes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::{AppCollections, Collection, CollectionId, LicenseKey};
use patchbay_core::ports::{KeyStore, KeyVerdict, StoreError, StoreResult};
use patchbay_core::secret::Secret;
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row, params};

use super::{Db, db_err, ts};

#[derive(Clone)]
pub struct SqliteKeyStore {
    db: Arc<Db>,
}

impl SqliteKeyStore {
    #[must_use]
    pub fn new(db: Arc<Db>) -> Self {
        SqliteKeyStore { db }
    }
}

const COLUMNS: &str = "key, app_id, key_secret, collection_id, registrations, blocked, created_at";

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
        conn.query_row(&format!("SELECT {COLUMNS} FROM license_keys WHERE key = ?1"), [key], read_key)
            .optional()
            .map_err(db_err)
    }

    async fn check_key(&self, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict> {
        let conn = self.db.lock();
        // A verification (no registration) only reads: it must not take SQLite's write lock or
        // append to the WAL. Both statements are prepared once per connection.
        let sql = if register {
            "UPDATE license_keys SET registrations = registrations + 1
             WHERE key = ?1 AND app_id = ?2 AND blocked = 0
             RETURNING key, app_id, key_secret, collection_id, registrations, blocked, created_at"
        } else {
            "SELECT key, app_id, key_secret, collection_id, registrations, blocked, created_at
             FROM license_keys WHERE key = ?1 AND app_id = ?2 AND blocked = 0"
        };
        let valid = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params![key, app_id], read_key).optional())
            .map_err(db_err)?;
        if let Some(k) = valid {
            return Ok(KeyVerdict::Valid(k));
        }
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

    async fn set_key_blocked(&self, key: &str, blocked: bool) -> StoreResult<LicenseKey> {
        let conn = self.db.lock();
        conn.query_row(
            &format!("UPDATE license_keys SET blocked = ?2 WHERE key = ?1 RETURNING {COLUMNS}"),
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
