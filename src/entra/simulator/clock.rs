//! The simulator's clock: wall-clock time plus an offset that tests can push forward, so
//! TAP lifetimes, challenge timeouts, device codes and tokens can expire without waiting.
use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// Wall-clock time shifted by an adjustable, never negative, offset.
#[derive(Debug, Default)]
pub struct SimClock {
    offset: Mutex<Duration>,
}

impl SimClock {
    /// The simulator's "now".
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }

    /// How far the clock has been advanced in total.
    pub fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Move the clock forward by `by` (negative values are ignored: time never goes back).
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        if by > Duration::zero() {
            let mut off = self.offset.lock().unwrap_or_else(|p| p.into_inner());
            *off += by;
        }
        self.now()
    }
}

/// Graph's timestamp format: RFC 3339, UTC, `Z`, whole seconds.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The identity platform's error timestamp format (`2024-05-01 10:00:00Z`).
pub fn sts_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_and_never_back() {
        let c = SimClock::default();
        let before = c.now();
        c.advance(Duration::minutes(30));
        assert!(c.now() - before >= Duration::minutes(30));
        c.advance(Duration::minutes(-60));
        assert!(c.offset() == Duration::minutes(30));
    }
}
