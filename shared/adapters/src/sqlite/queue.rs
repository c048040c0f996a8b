//! A queue with SQS's semantics on SQLite: at-least-once, visibility timeouts, receive counts,
//! delays, and a dead-letter table after `max_receive_count` receives.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use patchbay_core::ports::{OutgoingMessage, Queue, QueueError, QueueResult, ReceivedMessage};
use rand::Rng;
use rusqlite::params;
use tokio::sync::oneshot;

use super::Db;

/// How often a long poll looks again for a visible message.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct SqliteQueue {
    db: Arc<Db>,
    /// Like an SQS redrive policy: a message received this many times without being deleted
    /// goes to `dead_letters` on its next receive. `None` keeps it forever.
    max_receive_count: Option<u32>,
    deletes: Arc<DeleteGroup>,
}

/// Deletes waiting for a commit: whoever holds `turn` deletes every waiting receipt in one
/// transaction (group commit: the worker settles many messages at once).
#[derive(Default)]
struct DeleteGroup {
    waiting: Mutex<Vec<(String, oneshot::Sender<QueueResult<()>>)>>,
    turn: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn queue_err(err: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(err.to_string())
}

fn random_token() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

/// The message id a receipt handle starts with (`<message_id>.<token>`): settling looks the
/// message up through its unique index instead of scanning the queue for the receipt.
fn receipt_message_id(receipt_handle: &str) -> &str {
    receipt_handle.split_once('.').map_or(receipt_handle, |(id, _)| id)
}

impl SqliteQueue {
    #[must_use]
    pub fn new(db: Arc<Db>, max_receive_count: Option<u32>) -> Self {
        SqliteQueue { db, max_receive_count, deletes: Arc::default() }
    }

    fn receive_now(&self, max: usize, visibility: Duration) -> QueueResult<Vec<ReceivedMessage>> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(queue_err)?;
        let now = now_ms();
        let candidates: Vec<(i64, String, String, u32, Option<String>)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, message_id, body, receive_count, correlation_id FROM queue
                     WHERE visible_at_ms <= ?1 ORDER BY visible_at_ms, seq LIMIT ?2",
                )
                .map_err(queue_err)?;
            stmt.query_map(params![now, i64::try_from(max).unwrap_or(10)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(queue_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(queue_err)?
        };
        let mut received = Vec::with_capacity(candidates.len());
        for (seq, message_id, body, count, correlation_id) in candidates {
            if self.max_receive_count.is_some_and(|max| count >= max) {
                tx.execute(
                    "INSERT OR REPLACE INTO dead_letters (message_id, body, receive_count, dead_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![message_id, body, count, Utc::now().to_rfc3339()],
                )
                .map_err(queue_err)?;
                tx.execute("DELETE FROM queue WHERE seq = ?1", [seq]).map_err(queue_err)?;
                tracing::warn!(message_id, receive_count = count, "message moved to dead letters");
                continue;
            }
            let receipt = format!("{message_id}.{}", random_token());
            tx.prepare_cached(
                "UPDATE queue SET visible_at_ms = ?2, receive_count = receive_count + 1, receipt = ?3
                 WHERE seq = ?1",
            )
            .and_then(|mut stmt| stmt.execute(params![seq, now.saturating_add(ms(visibility)), receipt]))
            .map_err(queue_err)?;
            received.push(ReceivedMessage {
                message_id,
                receipt_handle: receipt,
                body,
                receive_count: count + 1,
                correlation_id,
            });
        }
        tx.commit().map_err(queue_err)?;
        Ok(received)
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> QueueResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(queue_err)?;
        let now = now_ms();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO queue (message_id, body, visible_at_ms, correlation_id) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(queue_err)?;
            for m in messages {
                // SQS caps DelaySeconds at 15 minutes.
                let delay = m.delay.min(Duration::from_secs(900));
                insert
                    .execute(params![random_token(), m.body, now.saturating_add(ms(delay)), m.correlation_id])
                    .map_err(queue_err)?;
            }
        }
        tx.commit().map_err(queue_err)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        let max = max.clamp(1, 10);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.receive_now(max, visibility)?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    async fn change_visibility(&self, receipt_handle: &str, visibility: Duration) -> QueueResult<()> {
        let conn = self.db.lock();
        let visibility = visibility.min(patchbay_core::retry::MAX_DELAY);
        let changed = conn
            .prepare_cached("UPDATE queue SET visible_at_ms = ?3 WHERE message_id = ?1 AND receipt = ?2")
            .and_then(|mut stmt| {
                stmt.execute(params![
                    receipt_message_id(receipt_handle),
                    receipt_handle,
                    now_ms().saturating_add(ms(visibility))
                ])
            })
            .map_err(queue_err)?;
        if changed == 0 {
            return Err(QueueError::InvalidReceipt);
        }
        Ok(())
    }

    async fn delete(&self, receipt_handle: &str) -> QueueResult<()> {
        let (tx, mut rx) = oneshot::channel();
        self.lock_waiting().push((receipt_handle.to_owned(), tx));
        let turn = self.deletes.turn.lock().await;
        // A commit before ours may have taken ours along.
        if let Ok(result) = rx.try_recv() {
            return result;
        }
        let batch = std::mem::take(&mut *self.lock_waiting());
        if !batch.is_empty() {
            let result = self.delete_all(batch.iter().map(|(receipt, _)| receipt.as_str()));
            for (_, waiter) in batch {
                let _ =
                    waiter.send(result.as_ref().copied().map_err(|e| QueueError::Unavailable(e.to_string())));
            }
        }
        drop(turn);
        rx.await.unwrap_or_else(|_| Err(QueueError::Unavailable("delete was abandoned".to_owned())))
    }
}

impl SqliteQueue {
    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<(String, oneshot::Sender<QueueResult<()>>)>> {
        self.deletes.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Like SQS, deleting an already-deleted message succeeds: deletes are retried.
    fn delete_all<'a>(&self, receipts: impl Iterator<Item = &'a str>) -> QueueResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(queue_err)?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM queue WHERE message_id = ?1 AND receipt = ?2")
                .map_err(queue_err)?;
            for receipt in receipts {
                stmt.execute([receipt_message_id(receipt), receipt]).map_err(queue_err)?;
            }
        }
        tx.commit().map_err(queue_err)
    }
}
