//! Deliveries: history with cursor paging, one delivery with its attempts, redelivery of one,
//! replay of many.

use chrono::Utc;

use super::{DeliveryPage, DeliveryQuery, DeliveryView, Manage, ManageError};
use crate::model::{Delivery, DeliveryStatus};
use crate::ports::StoreError;
use crate::service::message::DeliveryMessage;
use crate::validation::FieldError;

const PAGE_DEFAULT: usize = 50;
const PAGE_MAX: usize = 200;

impl Manage {
    /// Newest first; `query.since` ends the listing at the first older delivery.
    ///
    /// # Errors
    /// Unknown webhook, or a cursor this listing did not hand out.
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, ManageError> {
        self.webhook(webhook_id).await?;
        let limit = query.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
        let page = self
            .store
            .list_deliveries(webhook_id, query.status, query.cursor.as_deref(), limit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ManageError::BadCursor,
                other => other.into(),
            })?;
        let mut next_cursor = page.next_cursor;
        let mut deliveries = Vec::with_capacity(page.items.len());
        for delivery in &page.items {
            if query.since.is_some_and(|since| delivery.created_at < since) {
                next_cursor = None;
                break;
            }
            deliveries.push(DeliveryView::of(delivery, None));
        }
        Ok(DeliveryPage { deliveries, next_cursor })
    }

    /// # Errors
    /// Unknown delivery.
    pub async fn get_delivery(&self, id: &str) -> Result<DeliveryView, ManageError> {
        let delivery = self.delivery(id).await?;
        let attempts = self.store.list_attempts(id).await?;
        Ok(DeliveryView::of(&delivery, Some(&attempts)))
    }

    async fn delivery(&self, id: &str) -> Result<Delivery, ManageError> {
        self.store.get_delivery(id).await?.ok_or_else(|| ManageError::NotFound(format!("delivery {id}")))
    }

    /// Start a new attempt series for a finished delivery (same `webhook-id`).
    ///
    /// # Errors
    /// Unknown, still pending, or the queue is down.
    pub async fn redeliver(&self, id: &str) -> Result<DeliveryView, ManageError> {
        let mut delivery = self.delivery(id).await?;
        if delivery.status == DeliveryStatus::Pending {
            return Err(ManageError::StillPending(id.to_owned()));
        }
        self.requeue(&mut delivery).await?;
        Ok(DeliveryView::of(&delivery, None))
    }

    async fn requeue(&self, delivery: &mut Delivery) -> Result<(), ManageError> {
        delivery.status = DeliveryStatus::Pending;
        delivery.series_start = delivery.attempt_count;
        delivery.enqueued = false;
        delivery.reason = None;
        delivery.updated_at = Utc::now();
        self.store.update_delivery(delivery).await?;
        self.queue.send(&[DeliveryMessage::outgoing(delivery)]).await?;
        self.store.mark_enqueued(std::slice::from_ref(&delivery.id)).await?;
        delivery.enqueued = true;
        tracing::info!(delivery_id = %delivery.id, "redelivery queued");
        Ok(())
    }

    /// Re-enqueue every finished delivery of a webhook with `query.status` (default `failed`)
    /// created at or after `query.since`. Returns how many.
    ///
    /// # Errors
    /// Unknown webhook, `status=pending`, the store or queue down.
    pub async fn replay(&self, webhook_id: &str, query: &DeliveryQuery) -> Result<usize, ManageError> {
        self.webhook(webhook_id).await?;
        let status = query.status.unwrap_or(DeliveryStatus::Failed);
        if status == DeliveryStatus::Pending {
            return Err(FieldError::new("status", "pending deliveries are already queued").into());
        }
        let mut cursor: Option<String> = None;
        let mut replayed = 0;
        loop {
            let page =
                self.store.list_deliveries(webhook_id, Some(status), cursor.as_deref(), PAGE_MAX).await?;
            let mut older_than_since = false;
            for mut delivery in page.items {
                if query.since.is_some_and(|s| delivery.created_at < s) {
                    older_than_since = true;
                    break;
                }
                if delivery.status != DeliveryStatus::Pending {
                    self.requeue(&mut delivery).await?;
                    replayed += 1;
                }
            }
            match page.next_cursor {
                Some(next) if !older_than_since => cursor = Some(next),
                _ => break,
            }
        }
        tracing::info!(webhook_id, replayed, "replay queued");
        Ok(replayed)
    }
}
