//! Any [`Queue`], with faults injected and calls recorded by [`Faults`], plus the visibility
//! changes and deletes it was asked for (what a Lambda handler decides about its batch).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use patchbay_core::ports::{OutgoingMessage, Queue, QueueError, QueueResult, ReceivedMessage};

use crate::Faults;

/// A visibility change asked of the queue, and whether the real queue accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityChange {
    pub receipt_handle: String,
    pub visibility: Duration,
    pub accepted: bool,
}

#[derive(Default)]
struct Settlements {
    visibility_changes: Vec<VisibilityChange>,
    deletes: Vec<String>,
}

/// Delegates every method to `inner`, except the calls its [`Faults`] say must fail: those
/// fail with `QueueError::Unavailable` without reaching `inner`.
pub struct FaultyQueue {
    inner: Arc<dyn Queue>,
    faults: Faults,
    settlements: Mutex<Settlements>,
}

impl FaultyQueue {
    #[must_use]
    pub fn new(inner: Arc<dyn Queue>) -> Arc<FaultyQueue> {
        Arc::new(FaultyQueue { inner, faults: Faults::default(), settlements: Mutex::default() })
    }

    /// Every `change_visibility` that reached the real queue, in order.
    #[must_use]
    pub fn visibility_changes(&self) -> Vec<VisibilityChange> {
        self.settlements().visibility_changes.clone()
    }

    /// The receipt handle of every `delete` that reached the real queue, in order.
    #[must_use]
    pub fn deletes(&self) -> Vec<String> {
        self.settlements().deletes.clone()
    }

    fn settlements(&self) -> std::sync::MutexGuard<'_, Settlements> {
        self.settlements.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arm faults here; read the calls made.
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn enter(&self, method: &'static str) -> QueueResult<()> {
        self.faults.enter(method).map_err(QueueError::Unavailable)
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> QueueResult<()> {
        self.enter("send")?;
        self.inner.send(messages).await
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> QueueResult<Vec<ReceivedMessage>> {
        self.enter("receive")?;
        self.inner.receive(max, visibility, wait).await
    }

    async fn change_visibility(&self, receipt_handle: &str, visibility: Duration) -> QueueResult<()> {
        self.enter("change_visibility")?;
        let result = self.inner.change_visibility(receipt_handle, visibility).await;
        self.settlements().visibility_changes.push(VisibilityChange {
            receipt_handle: receipt_handle.to_owned(),
            visibility,
            accepted: result.is_ok(),
        });
        result
    }

    async fn delete(&self, receipt_handle: &str) -> QueueResult<()> {
        self.enter("delete")?;
        self.settlements().deletes.push(receipt_handle.to_owned());
        self.inner.delete(receipt_handle).await
    }
}
