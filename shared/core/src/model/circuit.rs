//! A webhook's circuit breaker: after a few timeouts or connection failures in a row, stop
//! sending to it for a cool-down that doubles on every reopening (1 min up to 1 h); deliveries
//! wait without a request and without using up attempts; then one probe decides.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Timeouts or connection failures in a row that open the circuit.
pub const OPEN_AFTER: u32 = 3;
/// The first cool-down; each reopening doubles it.
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest cool-down.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(3_600);

/// Stored on the webhook record (absent while closed and clean).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Circuit {
    /// Timeouts or connection failures in a row; any answer from the receiver resets it.
    #[serde(default)]
    pub failures: u32,
    /// Open until then: deliveries are deferred. Once passed, one probe is let through (it
    /// moves this forward by the probe's own window, so others keep waiting).
    #[serde(default)]
    pub open_until: Option<DateTime<Utc>>,
    /// The cool-down of the last opening, in seconds (0: never opened since the last close).
    #[serde(default)]
    pub cooldown_s: u64,
}

/// Where the circuit stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    /// Deferring until then.
    Open(DateTime<Utc>),
    /// The cool-down is over: the next attempt is the probe.
    HalfOpen,
}

/// How an attempt changed the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitChange {
    Unchanged,
    /// The failure count moved (written, no state change).
    Counted,
    Opened {
        until: DateTime<Utc>,
    },
    Closed,
}

impl Circuit {
    #[must_use]
    pub fn is_clean(&self) -> bool {
        *self == Circuit::default()
    }

    #[must_use]
    pub fn state(&self, now: DateTime<Utc>) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if until > now => CircuitState::Open(until),
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Record an attempt made at `at`: `unreachable` for a timeout or connection failure,
    /// `false` for any answer (whatever its status) or other error; `probe` when it was the
    /// one attempt let through after the cool-down (its failure reopens the circuit for twice
    /// as long; the failure of an attempt sent before the circuit opened only counts).
    pub fn record(&mut self, unreachable: bool, probe: bool, at: DateTime<Utc>) -> CircuitChange {
        if !unreachable {
            if self.is_clean() {
                return CircuitChange::Unchanged;
            }
            let was_open = self.open_until.is_some();
            *self = Circuit::default();
            return if was_open { CircuitChange::Closed } else { CircuitChange::Counted };
        }
        self.failures = self.failures.saturating_add(1);
        // A failed probe reopens at once; a closed circuit opens at the threshold.
        if probe || (self.open_until.is_none() && self.failures >= OPEN_AFTER) {
            let cooldown = if self.cooldown_s == 0 {
                FIRST_COOLDOWN
            } else {
                (Duration::from_secs(self.cooldown_s) * 2).min(MAX_COOLDOWN)
            };
            self.cooldown_s = cooldown.as_secs();
            let until = at + TimeDelta::from_std(cooldown).unwrap_or(TimeDelta::hours(1));
            self.open_until = Some(until);
            return CircuitChange::Opened { until };
        }
        CircuitChange::Counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn opens_after_a_few_unreachable_attempts_and_the_cooldown_doubles_to_an_hour() {
        let mut c = Circuit::default();
        assert_eq!(c.record(true, false, at(0)), CircuitChange::Counted);
        assert_eq!(c.record(false, false, at(1)), CircuitChange::Counted, "an answer resets the count");
        assert!(c.is_clean());
        for _ in 1..OPEN_AFTER {
            assert_eq!(c.record(true, false, at(2)), CircuitChange::Counted);
        }
        assert_eq!(c.record(true, false, at(2)), CircuitChange::Opened { until: at(62) });
        assert_eq!(c.state(at(61)), CircuitState::Open(at(62)));
        // Attempts sent before it opened, failing late, only count.
        assert_eq!(c.record(true, false, at(3)), CircuitChange::Counted);
        assert_eq!(c.open_until, Some(at(62)));
        assert_eq!(c.state(at(62)), CircuitState::HalfOpen);
        let mut cooldowns = Vec::new();
        for _ in 0..8 {
            // Each failed probe reopens with twice the cool-down.
            c.record(true, true, at(100));
            cooldowns.push(c.cooldown_s);
        }
        assert_eq!(cooldowns, [120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(
            c.record(false, true, at(200)),
            CircuitChange::Closed,
            "a probe that got an answer closes it"
        );
        assert_eq!(c.state(at(200)), CircuitState::Closed);
        assert!(c.is_clean());
    }
}
