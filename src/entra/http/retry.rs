//! When and how long to wait before repeating a call to Graph or the token endpoint.
use std::time::Duration;

/// Retry rules for throttling (429), unavailability (503, 504) and connection errors.
///
/// A server-advertised `Retry-After` is honoured exactly; without one the wait grows
/// exponentially from `base_delay`, is capped at `max_delay`, and is jittered so that
/// several stations do not retry in lockstep.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// Wait before the first retry when the server gives no `Retry-After`.
    pub base_delay: Duration,
    /// Upper bound of a computed (not server-advertised) wait.
    pub max_delay: Duration,
    /// Longest `Retry-After` we are willing to sit through; a longer one ends the call
    /// with a throttling error that tells the operator how long to wait.
    pub max_retry_after: Duration,
    /// Wait before the first retry after a connection failure (refused, reset, DNS);
    /// such failures are usually persistent, so they are retried quickly and briefly.
    pub connection_base_delay: Duration,
    /// Randomise computed waits between half and all of their nominal value.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// Graph defaults: 5 attempts, 1 s doubling up to 30 s, Retry-After up to 5 minutes.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            connection_base_delay: Duration::from_millis(500),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Token-endpoint defaults: Microsoft asks clients not to retry 5xx sooner than 5 s,
    /// so the first jittered wait lies between 5 and 10 s.
    pub fn token_endpoint() -> Self {
        RetryPolicy { base_delay: Duration::from_secs(10), max_delay: Duration::from_secs(60), ..RetryPolicy::default() }
    }

    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// Computed wait before retry number `retry` (0 = the first retry) after an
    /// answer without `Retry-After`.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.jittered(self.base_delay, retry)
    }

    /// Computed wait before retry number `retry` after a connection failure.
    pub fn connection_backoff(&self, retry: u32) -> Duration {
        self.jittered(self.connection_base_delay, retry)
    }

    fn jittered(&self, base: Duration, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        let nominal = base.saturating_mul(factor).min(self.max_delay);
        if !self.jitter || nominal.is_zero() {
            return nominal;
        }
        // "Equal jitter": at least half the nominal wait, so back-off still backs off.
        let half = nominal / 2;
        let extra = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=half.as_millis() as u64);
        half + Duration::from_millis(extra)
    }
}

/// Parse a `Retry-After` header: delay-seconds, or an HTTP date (relative to now).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(parse_retry_after(past), Some(Duration::ZERO));
        let future = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy { jitter: false, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(700), ..RetryPolicy::default() };
        let waits: Vec<u128> = (0..5).map(|i| p.backoff(i).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 700, 700]);
        let p = RetryPolicy { jitter: true, ..p };
        for retry in 0..6 {
            let nominal = RetryPolicy { jitter: false, ..p.clone() }.backoff(retry);
            for _ in 0..50 {
                let d = p.backoff(retry);
                assert!(d >= nominal / 2 && d <= nominal, "{d:?} vs {nominal:?}");
            }
        }
        let last = p.backoff(u32::MAX);
        assert!(last >= Duration::from_millis(350) && last <= Duration::from_millis(700));
    }

    #[test]
    fn token_endpoint_waits_at_least_five_seconds_first() {
        let p = RetryPolicy::token_endpoint();
        for _ in 0..50 {
            assert!(p.backoff(0) >= Duration::from_secs(5));
        }
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }
}
