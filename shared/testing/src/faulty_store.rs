//! Any [`Store`], with faults injected and calls recorded by [`Faults`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::{
    App, AppToken, Attempt, Delivery, DeliveryStatus, EventState, StoredEvent, Webhook,
};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, AttemptContext, AttemptStore, DeliveryStore, EventCreation, EventStore,
    OutcomeRecord, Page, Store, StoreError, StoreResult, TokenStore, WebhookStore,
};

use crate::Faults;

/// Delegates every method to `inner`, except the calls its [`Faults`] say must fail: those
/// fail with `StoreError::Unavailable` without reaching `inner`.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl FaultyStore {
    #[must_use]
    pub fn new(inner: Arc<dyn Store>) -> Arc<FaultyStore> {
        Arc::new(FaultyStore { inner, faults: Faults::default() })
    }

    /// Arm faults here; read the calls made.
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn enter(&self, method: &'static str) -> StoreResult<()> {
        self.faults.enter(method).map_err(StoreError::Unavailable)
    }
}

#[async_trait]
impl AppStore for FaultyStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.enter("create_app")?;
        self.inner.create_app(app).await
    }
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        self.enter("get_app")?;
        self.inner.get_app(id).await
    }
    async fn update_app(&self, app: &App) -> StoreResult<()> {
        self.enter("update_app")?;
        self.inner.update_app(app).await
    }
}

#[async_trait]
impl TokenStore for FaultyStore {
    async fn create_token(&self, token: &AppToken) -> StoreResult<()> {
        self.enter("create_token")?;
        self.inner.create_token(token).await
    }
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<AppToken>> {
        self.enter("token_by_hash")?;
        self.inner.token_by_hash(hash).await
    }
    async fn list_tokens(&self, app_id: &str) -> StoreResult<Vec<AppToken>> {
        self.enter("list_tokens")?;
        self.inner.list_tokens(app_id).await
    }
    async fn delete_token(&self, id: &str) -> StoreResult<AppToken> {
        self.enter("delete_token")?;
        self.inner.delete_token(id).await
    }
    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.enter("touch_token")?;
        self.inner.touch_token(id, at).await
    }
}

#[async_trait]
impl AppSecretIndex for FaultyStore {
    async fn app_for_secret(&self, app_secret: &str) -> StoreResult<Option<App>> {
        self.enter("app_for_secret")?;
        self.inner.app_for_secret(app_secret).await
    }
}

#[async_trait]
impl WebhookStore for FaultyStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        self.enter("create_webhook")?;
        self.inner.create_webhook(webhook).await
    }
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        self.enter("get_webhook")?;
        self.inner.get_webhook(id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>> {
        self.enter("list_webhooks")?;
        self.inner.list_webhooks(app_id).await
    }
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        self.enter("update_webhook")?;
        self.inner.update_webhook(webhook).await
    }
    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        self.enter("delete_webhook")?;
        self.inner.delete_webhook(id).await
    }
}

#[async_trait]
impl EventStore for FaultyStore {
    async fn create_event(&self, event: &StoredEvent, deliveries: &[Delivery]) -> StoreResult<EventCreation> {
        self.enter("create_event")?;
        self.inner.create_event(event, deliveries).await
    }
    async fn get_event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        self.enter("get_event")?;
        self.inner.get_event(id).await
    }
    async fn renew_event_lease(
        &self,
        id: &str,
        expected_lease: DateTime<Utc>,
        new_lease: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.enter("renew_event_lease")?;
        self.inner.renew_event_lease(id, expected_lease, new_lease).await
    }
    async fn set_event_state(
        &self,
        id: &str,
        state: EventState,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.enter("set_event_state")?;
        self.inner.set_event_state(id, state, lease_until).await
    }
}

#[async_trait]
impl DeliveryStore for FaultyStore {
    async fn ensure_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<usize> {
        self.enter("ensure_deliveries")?;
        self.inner.ensure_deliveries(deliveries).await
    }
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        self.enter("get_delivery")?;
        self.inner.get_delivery(id).await
    }
    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        self.enter("update_delivery")?;
        self.inner.update_delivery(delivery).await
    }
    async fn mark_enqueued(&self, ids: &[String]) -> StoreResult<()> {
        self.enter("mark_enqueued")?;
        self.inner.mark_enqueued(ids).await
    }
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Delivery>> {
        self.enter("list_deliveries")?;
        self.inner.list_deliveries(webhook_id, status, cursor, limit).await
    }
    async fn record_attempt(&self, attempt: &Attempt) -> StoreResult<()> {
        self.enter("record_attempt")?;
        self.inner.record_attempt(attempt).await
    }
    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>> {
        self.enter("list_attempts")?;
        self.inner.list_attempts(delivery_id).await
    }
}

#[async_trait]
impl AttemptStore for FaultyStore {
    async fn load_attempt_context(
        &self,
        delivery_id: &str,
        webhook_id: &str,
        event_id: &str,
    ) -> StoreResult<AttemptContext> {
        self.enter("load_attempt_context")?;
        self.inner.load_attempt_context(delivery_id, webhook_id, event_id).await
    }
    async fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Vec<StoreResult<()>> {
        if let Err(err) = self.enter("record_outcomes") {
            return outcomes.iter().map(|_| Err(StoreError::Unavailable(err.to_string()))).collect();
        }
        self.inner.record_outcomes(outcomes).await
    }
    async fn claim_probe(
        &self,
        webhook_id: &str,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.enter("claim_probe")?;
        self.inner.claim_probe(webhook_id, seen, until).await
    }
}
