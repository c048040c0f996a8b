//! A bounded set of running tasks, for the local runtime's delivery worker (deliveries) and
//! `patchbay dev`'s server (connections). A slot is taken before the work is (a message
//! received, a connection accepted), so work waiting for a slot stays where it was: in the
//! queue, in the listen backlog.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

pub struct BoundedTasks {
    slots: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl BoundedTasks {
    /// At most `max` tasks at once (at least one).
    #[must_use]
    pub fn new(max: usize) -> Self {
        BoundedTasks { slots: Arc::new(Semaphore::new(max.max(1))), tasks: JoinSet::new() }
    }

    /// Wait for a free slot; `None` once `shutdown` changes (or its sender is gone).
    pub async fn slot(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<OwnedSemaphorePermit> {
        while self.tasks.try_join_next().is_some() {}
        if *shutdown.borrow() {
            return None;
        }
        tokio::select! {
            permit = self.slots.clone().acquire_owned() => permit.ok(),
            _ = shutdown.changed() => None,
        }
    }

    /// A free slot, if there is one now.
    #[must_use]
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Run `task`, holding `slot` until it ends.
    pub fn spawn(&mut self, slot: OwnedSemaphorePermit, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            task.await;
            drop(slot);
        });
    }

    /// Tasks still running (or finished and not yet reaped).
    #[must_use]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Wait for every task to end.
    pub async fn finish(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
