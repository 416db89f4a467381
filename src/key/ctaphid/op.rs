//! The budget of one key operation: a deadline, a cancel flag and the "touch the key"
//! prompt. Every layer below the worker polls it between short reads, which is what
//! makes cancel and deadlines take effect within ~100 ms.
use crate::key::KeyError;
use std::cell::Cell;
use std::time::{Duration, Instant};

pub use crate::CancelToken;

/// Deadline, cancel flag and touch prompt for one operation (which may span several
/// CTAPHID transactions, e.g. getKeyAgreement + setPIN).
///
/// The deadline starts at `op_timeout`. When the key first reports that it waits for a
/// touch (KEEPALIVE UPNEEDED), the operator prompt fires once and the deadline becomes
/// `touch_timeout` from then: a silent key fails fast, a person gets exactly the time
/// configured for a touch. Once the key answers after that wait, at least `op_timeout`
/// is left for the rest of the operation.
pub struct Op<'a> {
    started: Instant,
    deadline: Cell<Instant>,
    op_timeout: Duration,
    touch_timeout: Duration,
    cancel: CancelToken,
    on_touch: Option<&'a dyn Fn()>,
    touch_prompted: Cell<bool>,
}

/// Longest single blocking read, so cancel and deadline are checked this often.
pub const POLL_SLICE: Duration = Duration::from_millis(100);

impl<'a> Op<'a> {
    /// Start an operation now.
    pub fn new(op_timeout: Duration, touch_timeout: Duration, cancel: CancelToken, on_touch: Option<&'a dyn Fn()>) -> Op<'a> {
        let started = Instant::now();
        Op { started, deadline: Cell::new(started + op_timeout), op_timeout, touch_timeout, cancel, on_touch, touch_prompted: Cell::new(false) }
    }

    /// Time since the operation started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.get().saturating_duration_since(Instant::now())
    }

    /// The next read's timeout: at most [`POLL_SLICE`], never past the deadline.
    pub fn slice(&self) -> Duration {
        self.remaining().min(POLL_SLICE)
    }

    /// Whether the operation was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether the deadline passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline.get()
    }

    /// The error for a passed deadline: the person did not touch the key, or the key
    /// did not answer.
    pub fn expired_error(&self) -> KeyError {
        if self.touch_prompted.get() {
            return KeyError::UserActionTimeout;
        }
        // Whole milliseconds read better in the operator message ("5s", not "5.000434343s").
        let waited = self.started.elapsed().max(self.op_timeout);
        KeyError::Timeout(Duration::from_millis(waited.as_millis().try_into().unwrap_or(u64::MAX) / 100 * 100))
    }

    /// `Err` when cancelled or past the deadline.
    pub fn check(&self) -> Result<(), KeyError> {
        if self.is_cancelled() {
            return Err(KeyError::Cancelled);
        }
        if self.is_expired() {
            return Err(self.expired_error());
        }
        Ok(())
    }

    /// The key waits for a touch: prompt once, and give the person `touch_timeout`.
    pub fn user_presence_needed(&self) {
        if self.touch_prompted.replace(true) {
            return;
        }
        self.deadline.set(Instant::now() + self.touch_timeout);
        if let Some(f) = self.on_touch {
            f();
        }
    }

    /// The key answered (after a touch wait, perhaps): leave at least `op_timeout` for
    /// the remaining commands of the operation.
    pub fn key_answered(&self) {
        if self.touch_prompted.get() {
            let floor = Instant::now() + self.op_timeout;
            if floor > self.deadline.get() {
                self.deadline.set(floor);
            }
        }
    }

    /// Whether the touch prompt fired during this operation.
    pub fn touch_prompted(&self) -> bool {
        self.touch_prompted.get()
    }

    /// Sleep `d` (capped by the deadline) in short slices, waking early on cancel.
    pub fn sleep(&self, d: Duration) -> Result<(), KeyError> {
        let until = Instant::now() + d;
        loop {
            self.check()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(self.slice()).min(Duration::from_millis(20)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_prompt_fires_once_and_extends_the_deadline() {
        let count = Cell::new(0);
        let cb = || count.set(count.get() + 1);
        let op = Op::new(Duration::from_millis(50), Duration::from_secs(30), CancelToken::new(), Some(&cb));
        assert!(op.remaining() <= Duration::from_millis(50));
        op.user_presence_needed();
        op.user_presence_needed();
        assert_eq!(count.get(), 1);
        assert!(op.remaining() > Duration::from_secs(29));
        // A short touch window replaces a longer operation deadline.
        let op = Op::new(Duration::from_secs(30), Duration::from_millis(50), CancelToken::new(), None);
        op.user_presence_needed();
        assert!(op.remaining() <= Duration::from_millis(50));
        op.key_answered();
        assert!(op.remaining() > Duration::from_secs(29));
    }

    #[test]
    fn cancel_and_expiry_are_reported() {
        let t = CancelToken::new();
        let op = Op::new(Duration::from_millis(0), Duration::from_secs(1), t.clone(), None);
        assert!(matches!(op.check(), Err(KeyError::Timeout(_))));
        t.cancel();
        assert_eq!(op.check(), Err(KeyError::Cancelled));
    }
}
