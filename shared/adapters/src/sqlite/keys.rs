//! License keys in SQLite. The check and the registration count are one UPDATE … RETURNING,
//! the same single round trip the DynamoDB adapter makes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::LicenseKey;
use patchbay_core::ports::{KeyStore, KeyVerdict, StoreError, StoreResult};
use patchbay_core::secret::Secret;
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
        collection_id: row.get(3)?,
        registrations: row.get::<_, i64>(4)?.try_into().unwrap_or(0),
        blocked: row.get(5)?,
        created_at: created_at.parse::<DateTime<Utc>>().unwrap_or_default(),
    })
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
}
