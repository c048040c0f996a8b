//! When a wrapped adapter fails, and what it was asked to do: the bookkeeping [`FaultyStore`]
//! and [`FaultyQueue`] share.
//!
//! [`FaultyStore`]: crate::FaultyStore
//! [`FaultyQueue`]: crate::FaultyQueue

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct State {
    /// Every call by method name, in order.
    log: Vec<&'static str>,
    /// The index in `log` of the call that fails next (once).
    fail_at: Option<usize>,
    /// Methods that fail on every call until healed.
    failing: BTreeSet<&'static str>,
}

/// Counts and names every call; fails the N-th one from some point on, or every call of a
/// method, until told otherwise. Passes everything through by default.
#[derive(Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep the log usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many calls were made so far.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.state().log.len()
    }

    /// The method names of the calls made since call number `from`.
    #[must_use]
    pub fn calls_since(&self, from: usize) -> Vec<&'static str> {
        self.state().log.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// How many calls of `method` were made, failed ones included.
    #[must_use]
    pub fn count(&self, method: &str) -> usize {
        self.state().log.iter().filter(|name| **name == method).count()
    }

    /// Fail the n-th call from now (0-based, whatever its method), once.
    pub fn fail_in(&self, n: usize) {
        let mut state = self.state();
        state.fail_at = Some(state.log.len() + n);
    }

    /// Fail every call of `method` until [`Faults::heal`].
    pub fn fail_calls_to(&self, method: &'static str) {
        self.state().failing.insert(method);
    }

    /// Pass everything through again.
    pub fn heal(&self) {
        let mut state = self.state();
        state.fail_at = None;
        state.failing.clear();
    }

    /// Whether a fault armed with [`Faults::fail_in`] has not fired yet.
    #[must_use]
    pub fn armed(&self) -> bool {
        self.state().fail_at.is_some()
    }

    /// Records a call of `method`; `Err` with a description when this call must fail.
    pub(crate) fn enter(&self, method: &'static str) -> Result<(), String> {
        let mut state = self.state();
        let n = state.log.len();
        state.log.push(method);
        if state.fail_at == Some(n) {
            state.fail_at = None;
            return Err(format!("injected fault at call {n} ({method})"));
        }
        if state.failing.contains(method) {
            return Err(format!("injected fault: every {method} fails"));
        }
        Ok(())
    }
}
