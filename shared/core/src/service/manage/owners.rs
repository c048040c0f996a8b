//! Which app a record belongs to, for scoping app tokens (`http::Caller`). A record of another
//! app must be answered exactly like a missing one: these errors are the ones the use cases
//! give for a missing record.

use super::{Manage, ManageError};

/// What every webhook route answers for an unknown webhook id.
#[must_use]
pub fn webhook_not_found(id: &str) -> ManageError {
    ManageError::NotFound(format!("webhook {id}"))
}

/// What every delivery route answers for an unknown delivery id.
#[must_use]
pub fn delivery_not_found(id: &str) -> ManageError {
    ManageError::NotFound(format!("delivery {id}"))
}

impl Manage {
    /// The app that owns this webhook.
    ///
    /// # Errors
    /// Unknown webhook, or the store is down.
    pub async fn webhook_owner(&self, id: &str) -> Result<String, ManageError> {
        let webhook = self.store.get_webhook(id).await?.ok_or_else(|| webhook_not_found(id))?;
        Ok(webhook.app_id)
    }

    /// The app that owns this delivery.
    ///
    /// # Errors
    /// Unknown delivery, or the store is down.
    pub async fn delivery_owner(&self, id: &str) -> Result<String, ManageError> {
        let delivery = self.store.get_delivery(id).await?.ok_or_else(|| delivery_not_found(id))?;
        Ok(delivery.app_id)
    }
}
