//! A simulated operator at a hub of virtual keys: takes finished keys out and plugs in
//! fresh blank ones, as a person imaging keys would. Used by the demo, the station
//! benchmark and `keystation --virtual N batch` (which only takes keys out: its N keys
//! are all it has).
//!
//! It sits between the batch runner and the real sink: every event is passed on, and a
//! [`BatchNotice::TakeKeyOut`] makes it unplug that key after `remove_after` and, while
//! users are still waiting for a key and its budget of keys lasts, plug a new one after
//! `plug_after` (like an operator, it does not plug keys nobody needs).
use crate::key::virtual_key::{Touch, VirtualHub, VirtualKey};
use crate::station::batch::{BatchEvent, BatchNotice, BatchObserver, BatchSink, Handover};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Makes the next blank key (the demo: batch attestation, a scripted touch delay).
pub type KeyFactory = Arc<dyn Fn() -> Result<VirtualKey, String> + Send + Sync>;

/// How the simulated operator behaves.
#[derive(Clone)]
pub struct DeskOptions {
    /// Time between "remove the key" and pulling it out.
    pub remove_after: Duration,
    /// Time between pulling a key out and plugging the next one in.
    pub plug_after: Duration,
    /// New keys it may still plug in (besides the ones already on the hub).
    pub spare_keys: usize,
    /// Makes new keys; `None`: never plugs any.
    pub factory: Option<KeyFactory>,
}

impl std::fmt::Debug for DeskOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskOptions")
            .field("remove_after", &self.remove_after)
            .field("plug_after", &self.plug_after)
            .field("spare_keys", &self.spare_keys)
            .field("factory", &self.factory.is_some())
            .finish()
    }
}

/// The simulated operator; wrap the real sink with it.
pub struct VirtualDesk {
    hub: VirtualHub,
    inner: Arc<dyn BatchSink>,
    options: DeskOptions,
    spare: AtomicUsize,
    /// Users that still need a key (to do, minus assigned, plus retries).
    waiting_users: AtomicUsize,
    /// Keys plugged in and not given a user yet.
    fresh_keys: AtomicUsize,
    /// Replace every key taken out, whatever this station's list says (a shared queue:
    /// other stations take users too, so only the queue knows when it is empty).
    keep_plugging: std::sync::atomic::AtomicBool,
    runtime: tokio::runtime::Handle,
}

impl VirtualDesk {
    /// A desk working `hub`, passing events on to `inner`. Must be made inside a tokio
    /// runtime (it schedules the delayed unplug/plug there).
    pub fn new(hub: VirtualHub, inner: Arc<dyn BatchSink>, options: DeskOptions) -> VirtualDesk {
        let spare = AtomicUsize::new(options.spare_keys);
        VirtualDesk {
            hub,
            inner,
            options,
            spare,
            waiting_users: AtomicUsize::new(0),
            fresh_keys: AtomicUsize::new(0),
            keep_plugging: std::sync::atomic::AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Put a fresh blank key in for every key taken out, until the run ends
    /// (`batch --queue` with `--virtual N`).
    pub fn keep_plugging(&self) {
        self.keep_plugging.store(true, Ordering::SeqCst);
    }

    /// Plug `n` new keys in now (the start of a demo).
    pub fn plug_initial(&self, n: usize) -> Result<(), String> {
        let Some(factory) = &self.options.factory else { return Ok(()) };
        for _ in 0..n {
            self.hub.plug(factory()?);
            self.fresh_keys.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn take_out(&self, path: &str) {
        let hub = self.hub.clone();
        let path = path.to_string();
        let (remove_after, plug_after) = (self.options.remove_after, self.options.plug_after);
        let needed = self.keep_plugging.load(Ordering::SeqCst) || self.waiting_users.load(Ordering::SeqCst) > self.fresh_keys.load(Ordering::SeqCst);
        let next = match &self.options.factory {
            Some(f) if needed && self.spare.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() => {
                self.fresh_keys.fetch_add(1, Ordering::SeqCst);
                Some(Arc::clone(f))
            }
            _ => None,
        };
        self.runtime.spawn(async move {
            tokio::time::sleep(remove_after).await;
            // Detach it: a finished key goes on the "done" pile, never back on the hub.
            hub.remove(&path);
            if let Some(factory) = next {
                tokio::time::sleep(plug_after).await;
                match factory() {
                    Ok(key) => {
                        hub.plug(key);
                    }
                    Err(e) => tracing::warn!(error = %e, "the simulated operator could not make a new key"),
                }
            }
        });
    }
}

impl BatchObserver for VirtualDesk {
    fn event(&self, e: &BatchEvent) {
        self.inner.event(e);
        let dec = |a: &AtomicUsize| {
            let _ = a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        };
        match e {
            BatchEvent::Batch(BatchNotice::BatchStarted { to_do, .. }) => self.waiting_users.store(*to_do, Ordering::SeqCst),
            BatchEvent::Batch(BatchNotice::UserAssigned { .. }) => {
                dec(&self.waiting_users);
                dec(&self.fresh_keys);
            }
            BatchEvent::Batch(BatchNotice::UserFinished { will_retry: true, .. }) => {
                self.waiting_users.fetch_add(1, Ordering::SeqCst);
            }
            BatchEvent::Batch(BatchNotice::TakeKeyOut { key, .. }) => self.take_out(key),
            BatchEvent::Batch(BatchNotice::KeyRefused { key, .. }) => {
                dec(&self.fresh_keys);
                self.take_out(key);
            }
            _ => {}
        }
    }
}

impl BatchSink for VirtualDesk {
    fn handover(&self, handover: Handover) {
        self.inner.handover(handover);
    }
}

/// A touch delay that looks like a person: 300–900 ms, different for every key.
pub fn human_touch() -> Touch {
    use rand::Rng;
    Touch::After(Duration::from_millis(rand::thread_rng().gen_range(300..900)))
}
