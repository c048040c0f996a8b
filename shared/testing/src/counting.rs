//! Counting wrappers around the ports: every store, key-store and queue call, with how many
//! items it carried. The cost bench turns a run into DynamoDB and SQS requests with them; the
//! leaked-key tests check that a cached refusal made no store call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::{
    App, AppCollections, AppToken, Attempt, Collection, CollectionId, Delivery, DeliveryStatus, EventState,
    LicenseKey, StoredEvent, Webhook,
};
use patchbay_core::ports::{
    AppSecretIndex, AppStore, AttemptContext, AttemptStore, DeliveryStore, EventCreation, EventStore,
    KeyStore, KeyVerdict, OutcomeRecord, OutgoingMessage, Page, Queue, QueueResult, ReceivedMessage, Store,
    StoreResult, TokenStore, WebhookStore,
};

/// Calls per operation name, and the items they carried.
#[derive(Default, Clone)]
pub struct Counts(Arc<Mutex<BTreeMap<&'static str, (u64, u64)>>>);

impl Counts {
    fn add(&self, name: &'static str, items: usize) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(name).or_default();
        entry.0 += 1;
        entry.1 += items as u64;
    }

    /// Every count so far, leaving none.
    #[must_use]
    pub fn take(&self) -> BTreeMap<&'static str, (u64, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// How many calls were made to any of `names` so far.
    #[must_use]
    pub fn calls_to(&self, names: &[&str]) -> u64 {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.iter().filter_map(|name| map.get(name)).map(|(calls, _)| calls).sum()
    }
}

pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    pub counts: Counts,
}

#[async_trait]
impl AppStore for CountingStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.counts.add("create_app", 1);
        self.inner.create_app(app).await
    }
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        self.counts.add("get_app", 1);
        self.inner.get_app(id).await
    }
    async fn update_app(&self, app: &App) -> StoreResult<()> {
        self.counts.add("update_app", 1);
        self.inner.update_app(app).await
    }
}

#[async_trait]
impl AppSecretIndex for CountingStore {
    async fn app_for_secret(&self, app_secret: &str) -> StoreResult<Option<App>> {
        self.counts.add("app_for_secret", 1);
        self.inner.app_for_secret(app_secret).await
    }
}

#[async_trait]
impl WebhookStore for CountingStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        self.counts.add("create_webhook", 1);
        self.inner.create_webhook(webhook).await
    }
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
        self.counts.add("get_webhook", 1);
        self.inner.get_webhook(id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> StoreResult<Vec<Webhook>> {
        self.counts.add("list_webhooks", 1);
        self.inner.list_webhooks(app_id).await
    }
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        self.counts.add("update_webhook", 1);
        self.inner.update_webhook(webhook).await
    }
    async fn delete_webhook(&self, id: &str) -> StoreResult<()> {
        self.counts.add("delete_webhook", 1);
        self.inner.delete_webhook(id).await
    }
}

#[async_trait]
impl EventStore for CountingStore {
    async fn create_event(&self, event: &StoredEvent, deliveries: &[Delivery]) -> StoreResult<EventCreation> {
        self.counts.add("create_event", deliveries.len());
        self.inner.create_event(event, deliveries).await
    }
    async fn get_event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        self.counts.add("get_event", 1);
        self.inner.get_event(id).await
    }
    async fn renew_event_lease(
        &self,
        id: &str,
        expected_lease: DateTime<Utc>,
        new_lease: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.counts.add("renew_event_lease", 1);
        self.inner.renew_event_lease(id, expected_lease, new_lease).await
    }
    async fn set_event_state(
        &self,
        id: &str,
        state: EventState,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.counts.add("set_event_state", 1);
        self.inner.set_event_state(id, state, lease_until).await
    }
}

#[async_trait]
impl DeliveryStore for CountingStore {
    async fn ensure_deliveries(&self, deliveries: &[Delivery]) -> StoreResult<usize> {
        self.counts.add("ensure_deliveries", deliveries.len());
        self.inner.ensure_deliveries(deliveries).await
    }
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        self.counts.add("get_delivery", 1);
        self.inner.get_delivery(id).await
    }
    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()> {
        self.counts.add("update_delivery", 1);
        self.inner.update_delivery(delivery).await
    }
    async fn mark_enqueued(&self, ids: &[String]) -> StoreResult<()> {
        self.counts.add("mark_enqueued", ids.len());
        self.inner.mark_enqueued(ids).await
    }
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Delivery>> {
        self.counts.add("list_deliveries", 1);
        self.inner.list_deliveries(webhook_id, status, cursor, limit).await
    }
    async fn record_attempt(&self, attempt: &Attempt) -> StoreResult<()> {
        self.counts.add("record_attempt", 1);
        self.inner.record_attempt(attempt).await
    }
    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>> {
        self.counts.add("list_attempts", 1);
        self.inner.list_attempts(delivery_id).await
    }
}

#[async_trait]
impl AttemptStore for CountingStore {
    async fn load_attempt_context(
        &self,
        delivery_id: &str,
        webhook_id: &str,
        event_id: &str,
    ) -> StoreResult<AttemptContext> {
        // One BatchGetItem of three items.
        self.counts.add("load_attempt_context", 3);
        self.inner.load_attempt_context(delivery_id, webhook_id, event_id).await
    }
    async fn record_outcomes(&self, outcomes: &[OutcomeRecord]) -> Vec<StoreResult<()>> {
        // Plain outcomes are puts packed into BatchWriteItem calls; one that changes the
        // webhook's health is a TransactWriteItems of its own.
        let items =
            |o: &OutcomeRecord| usize::from(o.attempt.is_some()) + 1 + usize::from(o.webhook.is_some());
        let (batched, transacted): (Vec<_>, Vec<_>) = outcomes.iter().partition(|o| o.webhook.is_none());
        if !batched.is_empty() {
            let n: usize = batched.iter().map(|o| items(o)).sum();
            self.counts.add("record_outcomes(batch)", n);
        }
        for o in transacted {
            self.counts.add("record_outcomes(transact)", items(o));
        }
        self.inner.record_outcomes(outcomes).await
    }
    async fn claim_probe(
        &self,
        webhook_id: &str,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.counts.add("claim_probe", 1);
        self.inner.claim_probe(webhook_id, seen, until).await
    }
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn create_token(&self, token: &AppToken) -> StoreResult<()> {
        self.counts.add("create_token", 1);
        self.inner.create_token(token).await
    }
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<AppToken>> {
        self.counts.add("token_by_hash", 1);
        self.inner.token_by_hash(hash).await
    }
    async fn list_tokens(&self, app_id: &str) -> StoreResult<Vec<AppToken>> {
        self.counts.add("list_tokens", 1);
        self.inner.list_tokens(app_id).await
    }
    async fn delete_token(&self, id: &str) -> StoreResult<AppToken> {
        self.counts.add("delete_token", 1);
        self.inner.delete_token(id).await
    }
    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.counts.add("touch_token", 1);
        self.inner.touch_token(id, at).await
    }
}

pub struct CountingKeys {
    pub inner: Arc<dyn KeyStore>,
    pub counts: Counts,
}

#[async_trait]
impl KeyStore for CountingKeys {
    async fn create_keys(&self, keys: &[LicenseKey]) -> StoreResult<Vec<String>> {
        self.counts.add("create_keys", keys.len());
        self.inner.create_keys(keys).await
    }
    async fn get_key(&self, key: &str) -> StoreResult<Option<LicenseKey>> {
        self.counts.add("get_key", 1);
        self.inner.get_key(key).await
    }
    async fn check_key(&self, key: &str, app_id: &str, register: bool) -> StoreResult<KeyVerdict> {
        self.counts.add(if register { "check_key(register)" } else { "check_key(read)" }, 1);
        self.inner.check_key(key, app_id, register).await
    }
    async fn register_limited(
        &self,
        key: &str,
        app_id: &str,
        per_hour: u64,
        hour: i64,
    ) -> StoreResult<KeyVerdict> {
        self.counts.add("register_limited", 1);
        self.inner.register_limited(key, app_id, per_hour, hour).await
    }
    async fn set_key_blocked(&self, key: &str, blocked: bool) -> StoreResult<LicenseKey> {
        self.counts.add("set_key_blocked", 1);
        self.inner.set_key_blocked(key, blocked).await
    }
    async fn delete_app_keys(&self, app_id: &str) -> StoreResult<usize> {
        self.counts.add("delete_app_keys", 1);
        self.inner.delete_app_keys(app_id).await
    }
    async fn create_collection(
        &self,
        app_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Collection> {
        self.counts.add("create_collection", 1);
        self.inner.create_collection(app_id, name, now).await
    }
    async fn get_collection(&self, id: CollectionId) -> StoreResult<Option<Collection>> {
        self.counts.add("get_collection", 1);
        self.inner.get_collection(id).await
    }
    async fn list_collections(&self, app_id: &str) -> StoreResult<Vec<Collection>> {
        self.counts.add("list_collections", 1);
        self.inner.list_collections(app_id).await
    }
    async fn set_collection_blocked(&self, id: CollectionId, blocked: bool) -> StoreResult<Collection> {
        self.counts.add("set_collection_blocked", 1);
        self.inner.set_collection_blocked(id, blocked).await
    }
    async fn app_collections(&self, app_id: &str) -> StoreResult<AppCollections> {
        self.counts.add("app_collections", 1);
        self.inner.app_collections(app_id).await
    }
    async fn list_collection_keys(
        &self,
        id: CollectionId,
        offset: usize,
        size: usize,
    ) -> StoreResult<(usize, Vec<LicenseKey>)> {
        self.counts.add("list_collection_keys", 1);
        self.inner.list_collection_keys(id, offset, size).await
    }
}

pub struct CountingQueue {
    pub inner: Arc<dyn Queue>,
    pub counts: Counts,
}

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> QueueResult<()> {
        self.counts.add("send", messages.len());
        self.inner.send(messages).await
    }
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        self.counts.add("receive", 1);
        self.inner.receive(max, visibility, wait).await
    }
    async fn change_visibility(&self, receipt_handle: &str, visibility: Duration) -> QueueResult<()> {
        self.counts.add("change_visibility", 1);
        self.inner.change_visibility(receipt_handle, visibility).await
    }
    async fn delete(&self, receipt_handle: &str) -> QueueResult<()> {
        self.counts.add("delete", 1);
        self.inner.delete(receipt_handle).await
    }
}
