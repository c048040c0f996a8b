//! When to try a failed delivery again: a pure function of the attempt number, an optional
//! `Retry-After`, and an injected random source (so tests are deterministic).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// SQS cannot hide a message for longer than this, so no step may exceed it.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 60 * 60);
/// SQS counts its 12 h ceiling from the receive, and some time has passed by the time we ask:
/// an actual delay stays five minutes under it so `ChangeMessageVisibility` is never refused.
pub const MAX_VISIBLE_DELAY: Duration = Duration::from_secs(12 * 60 * 60 - 300);
/// ±20 % jitter spreads retries of many deliveries that failed together.
const JITTER: f64 = 0.20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("retry schedule is empty")]
    Empty,
    #[error("{0:?} is not a duration like 30s, 2m, 1h or 1d")]
    BadDuration(String),
    #[error("{0:?} is longer than SQS's 12 h visibility limit")]
    TooLong(String),
}

/// The delays between attempts. After attempt `n` fails (1-based), the delay is `delays[n-1]`;
/// once the list is used up the delivery has failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// About three days in all: 30s, 2m, 10m, 30m, 1h, 2h, 4h, 8h, then 12h steps.
    fn default() -> Self {
        let mut delays: Vec<Duration> = [30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800]
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        // 8 steps sum to ~15.7 h; five 12 h steps bring the total to ~3 days.
        delays.extend(std::iter::repeat_n(MAX_DELAY, 5));
        RetrySchedule { delays }
    }
}

impl RetrySchedule {
    /// # Errors
    /// `Empty` for an empty list, `TooLong` for a step over 12 h.
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if let Some(d) = delays.iter().find(|d| **d > MAX_DELAY) {
            return Err(ScheduleError::TooLong(format!("{}s", d.as_secs())));
        }
        Ok(RetrySchedule { delays })
    }

    /// Parse `30s,2m,10m` (units s, m, h, d).
    ///
    /// # Errors
    /// The first step that is not a duration, or is over 12 h.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let mut delays = Vec::new();
        for step in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let d = parse_duration(step).ok_or_else(|| ScheduleError::BadDuration(step.to_owned()))?;
            if d > MAX_DELAY {
                return Err(ScheduleError::TooLong(step.to_owned()));
            }
            delays.push(d);
        }
        RetrySchedule::new(delays)
    }

    /// How many attempts a delivery gets in all (the first plus one per delay).
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Sum of the nominal delays: how long a delivery keeps being retried.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.delays.iter().sum()
    }

    /// The delay before the next attempt, after `failed_attempts` attempts (≥ 1) have failed,
    /// or `None` when the schedule is used up. A receiver's `Retry-After` wins over the
    /// schedule when it asks for longer, capped at 12 h.
    pub fn next_delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let nominal = *self.delays.get(index)?;
        let factor = rng.random_range((1.0 - JITTER)..=(1.0 + JITTER));
        let jittered = nominal.mul_f64(factor);
        let chosen = match retry_after {
            Some(asked) if asked > jittered => asked,
            _ => jittered,
        };
        Some(chosen.min(MAX_VISIBLE_DELAY))
    }
}

/// `Retry-After` as sent by a receiver: delta-seconds or an HTTP date, relative to `now`.
/// Unparseable values are ignored; dates in the past mean "now".
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_DELAY));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let when: DateTime<Utc> = when.into();
    Some((when - now).to_std().unwrap_or(Duration::ZERO).min(MAX_DELAY))
}

/// `45s`, `2m`, `1h`, `3d`, `500ms` → a duration; `None` for anything else.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3_600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn default_lasts_about_three_days() {
        let s = RetrySchedule::default();
        let hours = s.total().as_secs_f64() / 3_600.0;
        assert!((70.0..=80.0).contains(&hours), "{hours} h");
        assert_eq!(s.delays()[0], Duration::from_secs(30));
        assert_eq!(s.delays()[7], Duration::from_secs(8 * 3_600));
        assert!(s.delays()[8..].iter().all(|d| *d == MAX_DELAY));
        assert_eq!(s.max_attempts(), 14);
    }

    #[test]
    fn every_step_is_within_jitter() {
        let s = RetrySchedule::default();
        let mut r = rng();
        for (i, nominal) in s.delays().iter().enumerate() {
            for _ in 0..50 {
                let d = s.next_delay(u32::try_from(i).unwrap() + 1, None, &mut r).unwrap();
                assert!(
                    d >= nominal.mul_f64(0.8).min(MAX_VISIBLE_DELAY)
                        && d <= nominal.mul_f64(1.2).min(MAX_VISIBLE_DELAY),
                    "{i}: {d:?}"
                );
            }
        }
        assert_eq!(s.next_delay(s.max_attempts(), None, &mut r), None);
        assert_eq!(s.next_delay(0, None, &mut r), None);
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        let s = RetrySchedule::parse("1s,1s").unwrap();
        let mut r = rng();
        assert_eq!(s.next_delay(1, Some(Duration::from_secs(2)), &mut r), Some(Duration::from_secs(2)));
        let short = s.next_delay(1, Some(Duration::from_millis(1)), &mut r).unwrap();
        assert!(short >= Duration::from_millis(800));
        assert_eq!(s.next_delay(1, Some(Duration::from_secs(100_000)), &mut r), Some(MAX_VISIBLE_DELAY));
        assert_eq!(s.next_delay(3, Some(Duration::from_secs(2)), &mut r), None);
    }

    #[test]
    fn parses_schedules() {
        let s = RetrySchedule::parse("30s, 2m,10m,1h,1d").unwrap_err();
        assert_eq!(s, ScheduleError::TooLong("1d".into()));
        let s = RetrySchedule::parse("30s,2m,10m,12h").unwrap();
        assert_eq!(s.delays(), &[30, 120, 600, 43_200].map(Duration::from_secs));
        assert_eq!(RetrySchedule::parse(""), Err(ScheduleError::Empty));
        assert_eq!(RetrySchedule::parse("5x"), Err(ScheduleError::BadDuration("5x".into())));
        assert_eq!(RetrySchedule::parse("s"), Err(ScheduleError::BadDuration("s".into())));
    }

    #[test]
    fn parses_retry_after() {
        let now: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Fri, 20 Nov 2026 10:01:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Fri, 20 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("9999999", now), Some(MAX_DELAY));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }
}
