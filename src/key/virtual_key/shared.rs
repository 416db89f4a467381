//! State shared between the host side of a virtual key (its open handles, the test
//! controls) and its firmware thread.
//!
//! One mutex and one condition variable per key: every change (a report written or
//! produced, a plug event, a touch script change) wakes every waiter, and each waiter
//! re-checks what it waits for. Nothing in here calls into OpenSK, so the lock is only
//! ever held for a few instructions.
use super::Touch;
use crate::key::report::{IoError, Report, ReportIo};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many input reports one open handle buffers before the oldest is dropped. Linux
/// hidraw buffers 64 per open file; we are more generous so that a slow test reader
/// never loses part of a maximum-size (129-packet) CTAPHID message.
const HANDLE_QUEUE_CAP: usize = 512;
/// How many output reports the firmware buffers before dropping new ones (a host that
/// floods a busy key loses reports, as it would on USB).
const FIRMWARE_QUEUE_CAP: usize = 1024;

/// CTAPHID KEEPALIVE command byte as it appears in an initialisation packet.
const KEEPALIVE_CMD: u8 = 0x80 | 0x3B;

/// What tests can observe about a virtual key's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtualKeyCounters {
    /// How many times OpenSK asked for a touch (one per user-presence check).
    pub touch_requests: u64,
    /// KEEPALIVE reports the key sent to the host.
    pub keepalives_sent: u64,
    /// Reports the host wrote that reached the firmware.
    pub reports_in: u64,
    /// Reports the firmware produced for the host (counted once, whatever the number of
    /// open handles).
    pub reports_out: u64,
    /// Reports the host wrote while the key was hung (swallowed).
    pub swallowed_while_hung: u64,
    /// Power-ups of the firmware (creation and every replug).
    pub power_ups: u64,
}

/// Everything the host side and the firmware thread agree on.
pub(crate) struct State {
    /// The key is on the bus (handles work, the firmware is powered).
    pub plugged: bool,
    /// Bumped at every unplug and every plug: a handle or a firmware power cycle that was
    /// born in another generation is dead.
    pub generation: u64,
    /// Accept writes, never answer.
    pub hung: bool,
    /// The key object is gone: the firmware thread ends.
    pub shutdown: bool,
    /// The firmware thread died (panic inside OpenSK) or never started.
    pub crashed: Option<String>,
    /// The plug generation the firmware has finished powering up for (0: off).
    pub powered: u64,
    /// Reports on their way to the firmware.
    pub to_key: VecDeque<Report>,
    /// One input queue per open handle (hidraw semantics: every handle sees every report).
    outputs: HashMap<u64, VecDeque<Report>>,
    next_handle: u64,
    pub touch: Touch,
    pub counters: VirtualKeyCounters,
}

/// The power-up clock: real monotonic time since the last plug, plus what tests added.
pub(crate) struct Uptime {
    pub power_on: Instant,
    pub offset: Duration,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    uptime: Mutex<Uptime>,
}

/// Lock a mutex, ignoring poisoning: the data behind our locks is always consistent
/// between statements (no invariant spans a panic point).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(touch: Touch) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                plugged: true,
                generation: 1,
                hung: false,
                shutdown: false,
                crashed: None,
                powered: 0,
                to_key: VecDeque::new(),
                outputs: HashMap::new(),
                next_handle: 1,
                touch,
                counters: VirtualKeyCounters::default(),
            }),
            changed: Condvar::new(),
            uptime: Mutex::new(Uptime { power_on: Instant::now(), offset: Duration::ZERO }),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wait for a change, at most until `deadline` (or forever when `None`).
    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>, deadline: Option<Instant>) -> MutexGuard<'a, State> {
        match deadline {
            None => self.changed.wait(guard).unwrap_or_else(|p| p.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.changed.wait_timeout(guard, left).unwrap_or_else(|p| p.into_inner()).0
            }
        }
    }

    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Change the state and wake everybody.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.notify();
        r
    }

    /// Milliseconds since power-up as OpenSK's clock sees them.
    pub fn uptime(&self) -> Duration {
        let u = lock(&self.uptime);
        u.power_on.elapsed() + u.offset
    }

    pub fn advance_uptime(&self, by: Duration) {
        lock(&self.uptime).offset += by;
        self.notify();
    }

    pub fn restart_uptime(&self) {
        let mut u = lock(&self.uptime);
        u.power_on = Instant::now();
        u.offset = Duration::ZERO;
    }

    /// Take the key off the bus: every handle is dead, queued reports are lost.
    pub fn unplug(&self) {
        self.update(|s| {
            if s.plugged {
                s.plugged = false;
                s.generation += 1;
                s.to_key.clear();
                s.outputs.clear();
            }
        });
    }

    /// Put the key on the bus again; the firmware thread powers it up.
    pub fn plug(&self) {
        self.restart_uptime();
        self.update(|s| {
            if !s.plugged {
                s.plugged = true;
                s.generation += 1;
            }
        });
    }

    /// Wait (at most `timeout`) until the firmware has powered up for the current plug
    /// generation, so that its clock-based windows start from the plug, not from whenever
    /// the firmware thread got to run.
    pub fn wait_powered(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while s.plugged && !s.shutdown && s.crashed.is_none() && s.powered != s.generation && Instant::now() < deadline {
            s = self.wait(s, Some(deadline));
        }
    }

    /// A report from the firmware, produced during power cycle `generation`. Returns
    /// false when that power cycle is over (the key was unplugged meanwhile).
    pub fn deliver(&self, generation: u64, report: &Report) -> bool {
        let mut s = self.lock();
        if s.shutdown || !s.plugged || s.generation != generation {
            return false;
        }
        if s.hung {
            return true;
        }
        s.counters.reports_out += 1;
        if report[4] == KEEPALIVE_CMD {
            s.counters.keepalives_sent += 1;
        }
        for queue in s.outputs.values_mut() {
            if queue.len() >= HANDLE_QUEUE_CAP {
                queue.pop_front();
            }
            queue.push_back(*report);
        }
        drop(s);
        self.notify();
        true
    }

    /// Open a new handle on the key as it is now.
    pub fn open(self: &Arc<Self>) -> Result<VirtualHandle, IoError> {
        let mut s = self.lock();
        if let Some(why) = &s.crashed {
            return Err(IoError::Transport(format!("the virtual key's firmware is not running: {why}")));
        }
        if s.shutdown || !s.plugged {
            return Err(IoError::Removed);
        }
        let id = s.next_handle;
        s.next_handle += 1;
        s.outputs.insert(id, VecDeque::new());
        Ok(VirtualHandle { shared: Arc::clone(self), id, generation: s.generation })
    }
}

/// One open handle on a virtual key: what `VirtualKey::open` hands out.
pub(crate) struct VirtualHandle {
    shared: Arc<Shared>,
    id: u64,
    generation: u64,
}

impl VirtualHandle {
    fn is_dead(&self, s: &State) -> bool {
        s.shutdown || !s.plugged || s.generation != self.generation
    }
}

impl ReportIo for VirtualHandle {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        let mut s = self.shared.lock();
        if self.is_dead(&s) {
            return Err(IoError::Removed);
        }
        if s.hung {
            s.counters.swallowed_while_hung += 1;
            return Ok(());
        }
        if s.to_key.len() < FIRMWARE_QUEUE_CAP {
            s.to_key.push_back(*report);
            s.counters.reports_in += 1;
        }
        drop(s);
        self.shared.notify();
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        loop {
            if self.is_dead(&s) {
                return Err(IoError::Removed);
            }
            if let Some(report) = s.outputs.get_mut(&self.id).and_then(VecDeque::pop_front) {
                return Ok(Some(report));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            s = self.shared.wait(s, Some(deadline));
        }
    }
}

impl Drop for VirtualHandle {
    fn drop(&mut self) {
        self.shared.lock().outputs.remove(&self.id);
    }
}
