//! Apps, webhooks, events, deliveries and attempts in SQLite.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::ids::secret_lookup_hash;
use patchbay_core::model::{App, Attempt, Delivery, DeliveryStatus, EventState, StoredEvent, Webhook};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, AttemptContext, AttemptStore, DeliveryStore, EventCreation, EventStore,
    OutcomeRecord, Page, StoreError, StoreResult, WebhookStore,
};
use rusqlite::{OptionalExtension, params};

use super::{Db, db_err, from_doc, is_unique_violation, to_doc, ts};

/// The SQLite implementation of every store port but license keys.
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) db: Arc<Db>,
}

impl SqliteStore {
    #[must_use]
    pub fn new(db: Arc<Db>) -> Self {
        SqliteStore { db }
    }

    fn update_doc(&self, sql: &str, id: &str, doc: &str, what: &str) -> StoreResult<()> {
        let conn = self.db.lock();
        let changed = conn.execute(sql, params![id, doc]).map_err(db_err)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("{what} {id}")));
        }
        Ok(())
    }
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        let conn = self.db.lock();
        conn.execute(
            "INSERT INTO apps (id, secret_hash, doc) VALUES (?1, ?2, ?3)",
            params![app.id, secret_lookup_hash(app.app_secret.expose()), to_doc(app)?],
        )
        .map(|_| ())
        .map_err(|e| {
            if is_unique_violation(&e) && e.to_string().contains("secret_hash") {
                StoreError::AlreadyExists("app_secret".to_owned())
            } else if is_unique_violation(&e) {
                StoreError::AlreadyExists(format!("app {}", app.id))
            } else {
                db_err(e)
            }
        })
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM apps WHERE id = ?1", id)?;
        doc.as_deref().map(from_doc).transpose()
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        let conn = self.db.lock();
        let changed = conn
            .execute(
                "UPDATE apps SET secret_hash = ?2, doc = ?3 WHERE id = ?1",
                params![app.id, secret_lookup_hash(app.app_secret.expose()), to_doc(app)?],
            )
            .map_err(db_err)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("app {}", app.id)));
        }
        Ok(())
    }
}

#[async_trait]
impl AppSecretIndex for SqliteStore {
    async fn app_for_secret(&self, app_secret: &str) -> StoreResult<Option<App>> {
        let conn = self.db.lock();
        let doc: Option<String> = conn
            .query_row("SELECT doc FROM apps WHERE secret_hash = ?1", [secret_lookup_hash(app_secret)], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        doc.as_deref().map(from_doc).transpose()
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let conn = self.db.lock();
        let result = conn.execute(
            "INSERT INTO webhooks (id, app_id, created_at, doc) VALUES (?1, ?2, ?3, ?4)",
            params![webhook.id, webhook.app_id, ts(webhook.created_at), to_doc(webhook)?],
        );
        inserted(result, || format!("webhook {}", webhook.id))
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM webhooks WHERE id = ?1", id)?;
        doc.as_deref().map(from_doc).transpose()
    }

    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>> {
        let conn = self.db.lock();
        docs_where(&conn, "SELECT doc FROM webhooks WHERE app_id = ?1 ORDER BY created_at, id", app_id)
    }

    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        self.update_doc(
            "UPDATE webhooks SET doc = ?2 WHERE id = ?1",
            &webhook.id,
            &to_doc(webhook)?,
            "webhook",
        )
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        let conn = self.db.lock();
        let changed = conn.execute("DELETE FROM webhooks WHERE id = ?1", [id]).map_err(db_err)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        Ok(())
    }
}

/// A record's JSON by primary key, through the statement cache (these reads are the hot path
/// of every delivery).
pub(super) fn doc_by_id(conn: &rusqlite::Connection, sql: &str, id: &str) -> StoreResult<Option<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    stmt.query_row([id], |r| r.get(0)).optional().map_err(db_err)
}

/// Every record `sql` selects (one `doc` column, one parameter), in its order.
pub(super) fn docs_where<T: serde::de::DeserializeOwned>(
    conn: &rusqlite::Connection,
    sql: &str,
    param: &str,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let docs = stmt
        .query_map([param], |r| r.get::<_, String>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    docs.iter().map(|d| from_doc(d)).collect()
}

/// An insert's result: `AlreadyExists(what)` when a unique constraint refused it.
pub(super) fn inserted(result: rusqlite::Result<usize>, what: impl FnOnce() -> String) -> StoreResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(what())),
        Err(e) => Err(db_err(e)),
    }
}

fn insert_delivery(conn: &rusqlite::Connection, d: &Delivery) -> StoreResult<bool> {
    let changed = conn
        .execute(
            "INSERT OR IGNORE INTO deliveries (id, webhook_id, status, created_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![d.id, d.webhook_id, d.status.as_str(), ts(d.created_at), to_doc(d)?],
        )
        .map_err(db_err)?;
    Ok(changed == 1)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn create_event(&self, event: &StoredEvent, deliveries: &[Delivery]) -> StoreResult<EventCreation> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO events (id, lease_until, doc) VALUES (?1, ?2, ?3)",
                params![event.id, ts(event.lease_until), to_doc(event)?],
            )
            .map_err(db_err)?;
        if inserted == 0 {
            let doc: String = tx
                .query_row("SELECT doc FROM events WHERE id = ?1", [&event.id], |r| r.get(0))
                .map_err(db_err)?;
            return Ok(EventCreation::Exists(from_doc(&doc)?));
        }
        for d in deliveries {
            insert_delivery(&tx, d)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(EventCreation::Created)
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM events WHERE id = ?1", id)?;
        doc.as_deref().map(from_doc).transpose()
    }

    async fn renew_event_lease(
        &self,
        id: &str,
        expected_lease: DateTime<Utc>,
        new_lease: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let doc: Option<String> = tx
            .query_row(
                "SELECT doc FROM events WHERE id = ?1 AND lease_until = ?2",
                params![id, ts(expected_lease)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        let Some(doc) = doc else {
            return Err(StoreError::Conflict(format!("event {id}")));
        };
        let mut event: StoredEvent = from_doc(&doc)?;
        event.lease_until = new_lease;
        tx.execute(
            "UPDATE events SET lease_until = ?2, doc = ?3 WHERE id = ?1",
            params![id, ts(new_lease), to_doc(&event)?],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    async fn set_event_state(
        &self,
        id: &str,
        state: EventState,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let doc = doc_by_id(&tx, "SELECT doc FROM events WHERE id = ?1", id)?;
        let Some(doc) = doc else {
            return Err(StoreError::NotFound(format!("event {id}")));
        };
        let mut event: StoredEvent = from_doc(&doc)?;
        event.state = state;
        event.lease_until = lease_until;
        tx.execute(
            "UPDATE events SET lease_until = ?2, doc = ?3 WHERE id = ?1",
            params![id, ts(lease_until), to_doc(&event)?],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }
}

/// Cursor = the (created_at, id) of the last item returned, hex-encoded to stay opaque.
fn encode_cursor(created_at: &str, id: &str) -> String {
    hex::encode(format!("{created_at}|{id}"))
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let (created_at, id) = raw.split_once('|')?;
    Some((created_at.to_owned(), id.to_owned()))
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn ensure_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<usize> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let mut created = 0;
        for d in deliveries {
            if insert_delivery(&tx, d)? {
                created += 1;
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(created)
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        let conn = self.db.lock();
        let doc = doc_by_id(&conn, "SELECT doc FROM deliveries WHERE id = ?1", id)?;
        doc.as_deref().map(from_doc).transpose()
    }

    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        let conn = self.db.lock();
        let doc = to_doc(delivery)?;
        let changed = conn
            .prepare_cached("UPDATE deliveries SET status = ?2, doc = ?3 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![delivery.id, delivery.status.as_str(), doc]))
            .map_err(db_err)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("delivery {}", delivery.id)));
        }
        Ok(())
    }

    async fn mark_enqueued(&self, ids: &[String]) -> StoreResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        for id in ids {
            let doc = doc_by_id(&tx, "SELECT doc FROM deliveries WHERE id = ?1", id)?;
            let Some(doc) = doc else { continue };
            let mut delivery: Delivery = from_doc(&doc)?;
            delivery.enqueued = true;
            tx.execute("UPDATE deliveries SET doc = ?2 WHERE id = ?1", params![id, to_doc(&delivery)?])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Delivery>> {
        let limit = limit.clamp(1, 1_000);
        let (after_created, after_id) = match cursor {
            Some(c) => decode_cursor(c).ok_or_else(|| StoreError::NotFound("cursor".to_owned()))?,
            // Sorts after every real timestamp, so the first page starts at the newest.
            None => ("~".to_owned(), String::new()),
        };
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT created_at, id, doc FROM deliveries
                 WHERE webhook_id = ?1 AND (?2 IS NULL OR status = ?2)
                   AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
                 ORDER BY created_at DESC, id DESC LIMIT ?5",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![
                    webhook_id,
                    status.map(DeliveryStatus::as_str),
                    after_created,
                    after_id,
                    i64::try_from(limit + 1).unwrap_or(i64::MAX)
                ],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
            )
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let has_more = rows.len() > limit;
        let rows = &rows[..rows.len().min(limit)];
        let next_cursor = if has_more {
            rows.last().map(|(created_at, id, _)| encode_cursor(created_at, id))
        } else {
            None
        };
        let items = rows.iter().map(|(_, _, doc)| from_doc(doc)).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn record_attempt(&self, attempt: &Attempt) -> StoreResult<()> {
        let conn = self.db.lock();
        let doc = to_doc(attempt)?;
        let result = conn
            .prepare_cached(
                "INSERT INTO attempts (delivery_id, number, expires_at, doc) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    attempt.delivery_id,
                    attempt.number,
                    attempt.expires_at.timestamp(),
                    doc
                ])
            });
        inserted(result, || format!("attempt {} of {}", attempt.number, attempt.delivery_id))
    }

    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>> {
        let conn = self.db.lock();
        // Expired records are invisible, as they would be once DynamoDB's TTL sweeps them.
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM attempts WHERE delivery_id = ?1 AND expires_at > ?2 ORDER BY number",
            )
            .map_err(db_err)?;
        let docs = stmt
            .query_map(params![delivery_id, Utc::now().timestamp()], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        docs.iter().map(|d| from_doc(d)).collect()
    }
}

#[async_trait]
impl AttemptStore for SqliteStore {
    async fn load_attempt_context(
        &self,
        delivery_id: &str,
        webhook_id: &str,
        event_id: &str,
    ) -> StoreResult<AttemptContext> {
        let conn = self.db.lock();
        let delivery = doc_by_id(&conn, "SELECT doc FROM deliveries WHERE id = ?1", delivery_id)?;
        let webhook = doc_by_id(&conn, "SELECT doc FROM webhooks WHERE id = ?1", webhook_id)?;
        let event = doc_by_id(&conn, "SELECT doc FROM events WHERE id = ?1", event_id)?;
        Ok(AttemptContext {
            delivery: delivery.as_deref().map(from_doc).transpose()?,
            webhook: webhook.as_deref().map(from_doc).transpose()?,
            event: event.as_deref().map(from_doc).transpose()?,
        })
    }

    async fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Vec<StoreResult<()>> {
        let mut conn = self.db.lock();
        let written = (|| {
            let tx = conn.transaction().map_err(db_err)?;
            for outcome in outcomes {
                write_outcome(&tx, outcome)?;
            }
            tx.commit().map_err(db_err)
        })();
        match written {
            Ok(()) => outcomes.iter().map(|_| Ok(())).collect(),
            Err(err) => outcomes.iter().map(|_| Err(StoreError::Unavailable(err.to_string()))).collect(),
        }
    }

    async fn claim_probe(
        &self,
        webhook_id: &str,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db_err)?;
        let Some(doc) = doc_by_id(&tx, "SELECT doc FROM webhooks WHERE id = ?1", webhook_id)? else {
            return Ok(false);
        };
        let mut webhook: Webhook = from_doc(&doc)?;
        if webhook.circuit.open_until != Some(seen) {
            return Ok(false);
        }
        webhook.circuit.open_until = Some(until);
        tx.execute("UPDATE webhooks SET doc = ?2 WHERE id = ?1", params![webhook_id, to_doc(&webhook)?])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(true)
    }
}

/// One outcome inside the caller's transaction: an attempt number already recorded stays as it
/// was; a delivery or webhook that is gone is not brought back.
fn write_outcome(conn: &rusqlite::Connection, outcome: &OutcomeRecord) -> StoreResult<()> {
    if let Some(attempt) = &outcome.attempt {
        let doc = to_doc(attempt)?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO attempts (delivery_id, number, expires_at, doc) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![attempt.delivery_id, attempt.number, attempt.expires_at.timestamp(), doc])
        })
        .map_err(db_err)?;
    }
    let delivery = &outcome.delivery;
    let doc = to_doc(delivery)?;
    conn.prepare_cached("UPDATE deliveries SET status = ?2, doc = ?3 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![delivery.id, delivery.status.as_str(), doc]))
        .map_err(db_err)?;
    if let Some(webhook) = &outcome.webhook {
        let doc = to_doc(webhook)?;
        conn.prepare_cached("UPDATE webhooks SET doc = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![webhook.id, doc]))
            .map_err(db_err)?;
    }
    Ok(())
}
