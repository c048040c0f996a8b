//! Per-app tokens in SQLite: one row each, the value's hash a unique column.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::AppToken;
use patchbay_core::ports::{StoreError, StoreResult, TokenStore};
use rusqlite::params;

use super::store::{SqliteStore, doc_by_id, docs_where, inserted};
use super::{db_err, from_doc, to_doc, ts};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, token: &AppToken) -> StoreResult<()> {
        let conn = self.db.lock();
        let result = conn.execute(
            "INSERT INTO app_tokens (id, app_id, hash, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token.id, token.app_id, token.hash, ts(token.created_at), to_doc(token)?],
        );
        inserted(result, || format!("token {}", token.id))
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<AppToken>> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM app_tokens WHERE hash = ?1", hash)?;
        doc.as_deref().map(from_doc).transpose()
    }

    async fn list_tokens(&self, app_id: &str) -> StoreResult<Vec<AppToken>> {
        let conn = self.db.lock();
        docs_where(&conn, "SELECT doc FROM app_tokens WHERE app_id = ?1 ORDER BY created_at, id", app_id)
    }

    async fn delete_token(&self, id: &str) -> StoreResult<AppToken> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM app_tokens WHERE id = ?1", id)?
            .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
        conn.execute("DELETE FROM app_tokens WHERE id = ?1", [id]).map_err(db_err)?;
        from_doc(&doc)
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        // One connection behind a lock: the read and the write cannot interleave with a delete.
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM app_tokens WHERE id = ?1", id)?
            .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
        let mut token: AppToken = from_doc(&doc)?;
        token.last_used_at = Some(at);
        conn.execute("UPDATE app_tokens SET doc = ?2 WHERE id = ?1", params![id, to_doc(&token)?])
            .map_err(db_err)?;
        Ok(())
    }
}
